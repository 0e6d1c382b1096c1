"""ONNX export of a fitted estimator, for serving without scikit-learn, skorch or torch.

:func:`export_encoder` writes the trained encoder (with the unit-length
normalisation the estimator applies), so that ``onnxruntime`` returns what
``transform``/``embed`` returns; :func:`export_pair_scorer` writes the two
encoder branches and the pair score (the verifier's trained head or
distance map, the embedder's negated distance), so that it returns ``pair_score``.
Both have a dynamic batch axis. Needs the extra ``onnx`` (onnx,
onnxruntime to run the file, onnxscript for torch's exporter).
"""

import copy
import logging
import re
import warnings
from contextlib import contextmanager

from numbers import Integral
from os import PathLike

import torch
from sklearn.utils._param_validation import HasMethods, Interval, validate_params
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .distances import paired_distance
from .losses import DistanceSimilarityHead

__all__ = ["export_encoder", "export_pair_scorer"]


class _PairScore(nn.Module):
    """``pair_score`` of two batches of rows, as a torch module."""

    def __init__(self, estimator):
        super().__init__()
        self.embed = copy.deepcopy(estimator.net_.module_).cpu().float().eval()
        self.distance = estimator.distance
        self.head = None
        if type(estimator).__name__ == "SiameseVerifier":
            head = getattr(estimator.net_.criterion_, "head", None)
            if head is None:
                # loss="contrastive": the fixed map, which is where a distance head starts.
                head = DistanceSimilarityHead(estimator.distance, estimator.margin)
            self.head = copy.deepcopy(head).cpu().float().eval()

    def forward(self, x1, x2):
        e1, e2 = self.embed(x1), self.embed(x2)
        if self.head is not None:
            return torch.sigmoid(self.head(e1, e2))
        return -paired_distance(e1, e2, self.distance)


def _fitted_module(estimator):
    check_is_fitted(estimator)
    if not hasattr(estimator, "net_"):
        raise TypeError(
            f"{type(estimator).__name__} is not a SiameseEmbedder or SiameseVerifier; "
            "pass the fitted estimator itself (e.g. pipeline[-1]), not a pipeline."
        )
    return copy.deepcopy(estimator.net_.module_).cpu().float().eval()


_TORCH_ONNX_REGISTRATION_LOGGER = "torch.onnx._internal.exporter._registration"


@contextmanager
def _quiet_logger(name):
    """Let the logger ``name`` pass errors only, for the duration of the block."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _export(module, n_features, input_names, output_name, path, opset_version):
    try:
        import onnxscript  # noqa: F401  (torch's exporter needs it; say so before torch does)
    except ImportError as exc:
        raise ImportError(
            "ONNX export needs the extra 'onnx': pip install 'sklearn-siamese[onnx]' (onnx, onnxscript, onnxruntime)."
        ) from exc
    example = tuple(torch.zeros(2, n_features) for _ in input_names)
    batch = torch.export.Dim("batch")
    with warnings.catch_warnings(), _quiet_logger(_TORCH_ONNX_REGISTRATION_LOGGER):
        # torch.export's own deprecation notices are no concern of the caller's,
        # nor is its log line per torchvision operator it cannot register
        # ("torchvision is not installed"): an encoder exported here uses none.
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module,
            example,
            None,
            input_names=list(input_names),
            output_names=[output_name],
            dynamic_shapes=tuple({0: batch} for _ in input_names),
            opset_version=opset_version,
            external_data=False,
            dynamo=True,
            verbose=False,
        )
    model = program.model_proto
    if path is not None:
        import onnx

        onnx.save_model(model, path)
    return model


# Parameters and Returns of both exporters, written once ("what" names what is exported).
_PARAMETERS = """\
    Parameters
    ----------
    estimator : fitted SiameseEmbedder or SiameseVerifier
        The estimator whose {what} to export.
    path : str or path-like, default=None
        File to write; None writes nothing.
    opset_version : int, default=None
        ONNX opset; None lets torch choose.

    Returns
    -------
    model : onnx.ModelProto
        The exported model.
"""


# The estimator is checked in the body, whose messages say what to pass instead.
_EXPORT_PARAMETERS = {
    "estimator": [HasMethods(["fit"])],
    "path": [str, PathLike, None],
    "opset_version": [Interval(Integral, 1, None, closed="left"), None],
}


def _fill_parameters(func):
    """Replace the line ``.. export-parameters:: WHAT`` by :data:`_PARAMETERS`."""
    func.__doc__ = re.sub(
        r"    \.\. export-parameters:: (.+)\n", lambda m: _PARAMETERS.format(what=m.group(1)), func.__doc__
    )
    return func


@validate_params(_EXPORT_PARAMETERS, prefer_skip_nested_validation=True)
@_fill_parameters
def export_encoder(estimator, path=None, *, opset_version=None):
    """Export the trained encoder to ONNX: input ``"X"``, output ``"embedding"``.

    Run with ``onnxruntime``, the model maps float32 rows of shape
    ``(batch, n_features_in_)`` to the embeddings that ``transform`` (or
    the verifier's ``embed``) returns, for any batch size. Scale the rows
    as for ``transform``; uint8 images are passed as float32 values 0-255
    if the estimator was fitted on them so.

    .. export-parameters:: encoder

    Notes
    -----
    README, "Serving with ONNX", has a serving snippet.
    """
    module = _fitted_module(estimator)
    return _export(module, estimator.n_features_in_, ["X"], "embedding", path, opset_version)


@validate_params(_EXPORT_PARAMETERS, prefer_skip_nested_validation=True)
@_fill_parameters
def export_pair_scorer(estimator, path=None, *, opset_version=None):
    """Export the pair score to ONNX: inputs ``"X1"``, ``"X2"``, output ``"score"``.

    ``score[i]`` scores the pair ``(X1[i], X2[i])`` as the estimator's
    ``pair_score`` does: for :class:`~sklearn_siamese.SiameseVerifier` the
    probability of "same" (its trained head, or the distance map with
    ``loss="contrastive"``), for :class:`~sklearn_siamese.SiameseEmbedder`
    the negated embedding distance. Compare with the verifier's
    ``threshold_`` to decide same/different.

    .. export-parameters:: pair score
    """
    _fitted_module(estimator)
    return _export(_PairScore(estimator), estimator.n_features_in_, ["X1", "X2"], "score", path, opset_version)
