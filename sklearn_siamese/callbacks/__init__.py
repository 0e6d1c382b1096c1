"""skorch callbacks of the package, by theme.

- :mod:`~sklearn_siamese.callbacks.base`: :class:`EstimatorCallback`, the
  base class of callbacks that need the estimator being fitted.
- :mod:`~sklearn_siamese.callbacks.training`: :class:`TimeBudget` (the
  ``max_time`` parameter), :class:`RemainingTime` (the expected time
  left, printed with ``verbose``), :class:`CosineLR` (``lr_schedule="cosine"``),
  :class:`EpochSnapshot` and
  :class:`NonFiniteLossGuard` (in every estimator's net).
- :mod:`~sklearn_siamese.callbacks.scoring`: :class:`ValidationPrecisionAt1`,
  what early stopping monitors.
- :mod:`~sklearn_siamese.callbacks.checkpoint`: :class:`EstimatorCheckpoint`.

Which ones an estimator's net starts with is said by the estimators'
``_default_callbacks``; pass your own (any skorch callback) in
``callbacks``.
"""

from .base import EstimatorCallback
from .checkpoint import EstimatorCheckpoint
from .scoring import ValidationPrecisionAt1
from .training import CosineLR, EpochSnapshot, NonFiniteLossGuard, RemainingTime, TimeBudget

__all__ = [
    "EstimatorCallback",
    "TimeBudget",
    "RemainingTime",
    "CosineLR",
    "EpochSnapshot",
    "NonFiniteLossGuard",
    "ValidationPrecisionAt1",
    "EstimatorCheckpoint",
]
