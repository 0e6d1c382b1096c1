"""Saving fitted estimators: a weights-only format, and checkpoints during fit.

* ``pickle``/``joblib`` keep everything (including the optimiser and random
  states needed to continue training) but **unpickling runs arbitrary code**:
  load only files you trust.
* :func:`save_weights` / :func:`load_weights` write and read a file that
  ``torch.load(..., weights_only=True)`` opens: tensors, plain numbers,
  strings and lists only, so loading it runs no code from the file. The
  code (the encoder) comes from the estimator you pass to
  :func:`load_weights`.
* :class:`~sklearn_siamese.callbacks.EstimatorCheckpoint` (in
  :mod:`sklearn_siamese.callbacks`, importable from here too) pickles the
  whole estimator at the end of every epoch, so a long fit killed half-way
  can be resumed with ``warm_start=True``.
"""

import json
import os

import numpy as np
import torch
from skorch.history import History
from sklearn.utils._param_validation import HasMethods, validate_params
from sklearn.utils.validation import check_is_fitted

from ._training.checks import resolve_device
from .callbacks.checkpoint import EstimatorCheckpoint, _atomic_write

__all__ = ["save_weights", "load_weights", "EstimatorCheckpoint"]

_FORMAT = "sklearn_siamese.weights"
_VERSION = 1

# Fitted attributes that are rebuilt rather than stored (by the estimator's ``_restore_net``): the
# net from the weights, and the training augmentation from the estimator's
# parameters (it may be code, e.g. a callable or a RandomAffine).
_REBUILT = {"net_", "history_", "augment_", "validation_history_"}

# Parameters that do not change what a fitted model computes: where and how
# it runs, and how long and on what it was trained. load_weights accepts them
# different from the saved ones (optimizer__* arguments too).
_FREE_PARAMS = {
    "device", "precision", "verbose", "callbacks", "accelerator", "warm_start",
    "max_epochs", "max_time", "samples_per_epoch", "batch_size", "samples_per_class",
    "lr", "lr_schedule", "optimizer", "weight_decay", "validation_fraction", "early_stopping",
    "n_iter_no_change", "refit", "augmentation", "rotation_classes", "instance_weight", "random_state",
}


def _is_free(param):
    return param in _FREE_PARAMS or param.startswith("optimizer__")


def _encode(value, name):
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufUO":
            raise TypeError(f"Fitted attribute {name} has dtype {value.dtype}, which save_weights cannot store.")
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.str if value.dtype.kind != "O" else "O"}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_encode(v, name) for v in value]
    raise TypeError(
        f"Fitted attribute {name} is a {type(value).__name__}, which save_weights cannot "
        "store; pickle the estimator instead (trusted files only)."
    )


def _decode(value):
    if isinstance(value, dict) and "__ndarray__" in value:
        return np.asarray(value["__ndarray__"], dtype=object if value["dtype"] == "O" else value["dtype"])
    return value


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return repr(obj)


def _simple_params(estimator):
    """Constructor parameters that are plain values (the rest is code)."""
    out = {}
    for key, value in estimator.get_params(deep=False).items():
        if value is None or isinstance(value, (bool, int, float, str)):
            out[key] = value
    return out


@validate_params(
    {"estimator": [HasMethods(["fit", "embed"])], "path": [str, os.PathLike]}, prefer_skip_nested_validation=True
)
def save_weights(estimator, path):
    """Save a fitted estimator's weights and fitted attributes, without pickle.

    The file holds the encoder's ``state_dict``, the fitted attributes
    (``classes_``, ``embedding_dim_``, thresholds, ...), the plain-valued
    constructor parameters and the training history, in a form that
    ``torch.load(path, weights_only=True)`` reads: opening it runs no code.

    Parameters
    ----------
    estimator : SiameseEmbedder or SiameseVerifier
        A fitted estimator.
    path : str or path-like
        Where to write (conventionally ``*.pt``).

    See Also
    --------
    load_weights : The inverse.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from sklearn_siamese import MLPEncoder, SiameseEmbedder
    >>> from sklearn_siamese.persistence import save_weights, load_weights
    >>> X = np.random.RandomState(0).rand(40, 5)
    >>> y = np.repeat([0, 1, 2, 3], 10)
    >>> params = dict(encoder=MLPEncoder(hidden_sizes=(8,)), max_epochs=1, batch_size=8, random_state=0)
    >>> emb = SiameseEmbedder(**params).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "emb.pt")
    >>> save_weights(emb, path)
    >>> loaded = load_weights(SiameseEmbedder(**params), path)
    >>> bool(np.array_equal(loaded.transform(X), emb.transform(X)))
    True
    """
    check_is_fitted(estimator)
    fitted = {
        name: _encode(value, name)
        for name, value in vars(estimator).items()
        if name.endswith("_") and not name.startswith("_") and name not in _REBUILT
    }
    meta = {
        "format": _FORMAT,
        "version": _VERSION,
        "class": type(estimator).__name__,
        "params": _simple_params(estimator),
        "fitted": fitted,
        "history": list(estimator.history_),
        # A refitted model's first run (refit=True), a skorch History as well.
        "validation_history": list(getattr(estimator, "validation_history_", None) or []) or None,
    }
    state = {k: v.detach().cpu() for k, v in estimator.net_.module_.state_dict().items()}
    # A loss with learnable parameters (the verifier's head) is part of the model.
    criterion_state = {k: v.detach().cpu() for k, v in estimator.net_.criterion_.state_dict().items()}
    payload = {
        "meta": json.dumps(meta, default=_json_default),
        "state_dict": state,
        "criterion_state_dict": criterion_state,
    }
    _atomic_write(lambda f: torch.save(payload, f), path)


@validate_params(
    {"estimator": [HasMethods(["fit", "embed"])], "path": [str, os.PathLike]}, prefer_skip_nested_validation=True
)
def load_weights(estimator, path):
    """Load weights saved by :func:`save_weights` into an unfitted estimator.

    The file is read with ``torch.load(..., weights_only=True)``, which
    refuses anything but tensors and plain values, so it is safe for files
    from untrusted sources. The architecture comes from ``estimator``: it
    must be of the saved class, with the same parameters that shape the
    model (an encoder given as a module or callable cannot be stored in the
    file, which is why it is passed here). Parameters that only say how it
    ran or was trained may differ: ``device`` (the weights are loaded onto
    ``estimator.device``), ``precision``, ``verbose``, ``max_epochs``,
    ``max_time``, ``random_state``, ``samples_per_epoch``, ``batch_size``,
    ``lr``, the optimizer and its ``optimizer__*`` arguments, the
    validation and early-stopping settings, ``augmentation`` and the other
    training-only parameters.

    Parameters
    ----------
    estimator : SiameseEmbedder or SiameseVerifier
        An estimator constructed with the parameters of the saved one.
    path : str or path-like
        A file written by :func:`save_weights`.

    Returns
    -------
    estimator : SiameseEmbedder or SiameseVerifier
        ``estimator``, now fitted with the saved weights and attributes.

    Raises
    ------
    ValueError
        If the file is not a weights file, or the estimator's class or
        parameters differ from the saved ones.
    """
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or "meta" not in payload or "state_dict" not in payload:
        raise ValueError(f"{path} is not a file written by sklearn_siamese.persistence.save_weights.")
    meta = json.loads(payload["meta"])
    if meta.get("format") != _FORMAT or meta.get("version", 0) > _VERSION:
        raise ValueError(f"{path} is not a weights file of a supported version (got {meta.get('format')!r}).")
    name = type(estimator).__name__
    if meta["class"] != name:
        raise ValueError(f"{path} holds a {meta['class']}, but the estimator passed is a {name}.")
    current = _simple_params(estimator)
    differ = {
        key: (saved, current.get(key, "<not a plain value>"))
        for key, saved in meta["params"].items()
        if not _is_free(key) and current.get(key, "<not a plain value>") != saved
    }
    if differ:
        detail = ", ".join(f"{k}={c!r} (saved {s!r})" for k, (s, c) in sorted(differ.items()))
        raise ValueError(f"The estimator's parameters differ from those saved in {path}: {detail}.")

    for key, value in meta["fitted"].items():
        setattr(estimator, key, _decode(value))
    device = resolve_device(estimator.device)
    try:
        criterion_state = payload.get("criterion_state_dict", {})
        estimator._restore_net(device, payload["state_dict"], criterion_state, History(meta["history"]))
    except RuntimeError as exc:
        raise ValueError(f"The encoder built from the estimator's parameters does not match {path}: {exc}") from exc
    for key in ("n_epochs_", "interrupted_"):
        if key in meta["fitted"]:
            setattr(estimator, key, _decode(meta["fitted"][key]))
    if meta.get("validation_history") is not None:
        estimator.validation_history_ = History(meta["validation_history"])
    return estimator
