"""Saving fitted estimators: a weights-only format, skops files without pickle, checkpoints during fit.

* ``pickle``/``joblib`` keep everything (including the optimiser and random
  states needed to continue training) but **unpickling runs arbitrary code**:
  load only files you trust.
* :func:`save_weights` / :func:`load_weights` write and read a file that
  ``torch.load(..., weights_only=True)`` opens: tensors, plain numbers,
  strings and lists only, so loading it runs no code from the file. The
  code (the encoder) comes from the estimator you pass to
  :func:`load_weights`.
* skops (``pip install 'sklearn-siamese[skops]'``) saves whole pipelines
  and searches without pickle: ``skops.io.dump(model, "model.skops")``,
  then ``skops.io.load("model.skops", trusted=TRUSTED_TYPES)``. The
  estimators give skops their portable state (weights as numpy arrays,
  parameters and fitted attributes as plain values) and rebuild their net
  from it, on their ``device``, or on the CPU (with a ``DeviceWarning``)
  where this machine lacks it.
  ``TRUSTED_TYPES`` names the package's own types such a file may hold
  (the estimators, the encoder specifications, distances, miners, the
  class-weight losses, callbacks, ``RandomAffine`` and
  ``ApproximateKNeighborsTransformer``):
  pass it rather than what ``skops.io.get_untrusted_types`` reports, so
  that a file edited to name any other type is refused (skops's
  ``UntrustedTypesFoundException`` names it). Loading them runs only this
  package's code: the estimators' ``__setstate__`` checks the format
  version and the arrays, builds the network from the parameters and
  copies the weights in.
* :class:`~sklearn_siamese.callbacks.EstimatorCheckpoint` (in
  :mod:`sklearn_siamese.callbacks`, importable from here too) pickles the
  whole estimator at the end of every epoch, so a long fit killed half-way
  can be resumed with ``warm_start=True``.

The user guide's "Reliability and persistence" page compares the three
(what each stores, what loading can run, size and speed).

Examples
--------
>>> import skops.io as sio
>>> from sklearn.datasets import load_digits
>>> from sklearn.neighbors import KNeighborsClassifier
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn_siamese import MLPEncoder, SiameseEmbedder
>>> from sklearn_siamese.persistence import TRUSTED_TYPES
>>> X, y = load_digits(return_X_y=True)
>>> emb = SiameseEmbedder(MLPEncoder(hidden_sizes=(16,)), max_epochs=1, random_state=0)
>>> model = make_pipeline(emb, KNeighborsClassifier(1)).fit(X / 16, y)
>>> data = sio.dumps(model)
>>> sio.get_untrusted_types(data=data)
['sklearn_siamese._embedder.SiameseEmbedder', 'sklearn_siamese.encoders.MLPEncoder']
>>> loaded = sio.loads(data, trusted=TRUSTED_TYPES)
>>> bool((loaded.predict(X / 16) == model.predict(X / 16)).all())
True
"""

import json
import os
import pickle
import zipfile

import numpy as np
import torch
from sklearn.utils._param_validation import HasMethods, validate_params
from sklearn.utils.validation import check_is_fitted

from . import augmentation, callbacks, distances, encoders, losses, mining
from ._embedder import SiameseEmbedder
from ._portable import REBUILT, check_versions, history_from_json, json_default, restore_net, versions
from ._training.checks import resolve_device
from ._verifier import SiameseVerifier
from .callbacks.checkpoint import EstimatorCheckpoint, _atomic_write
from .neighbors import ApproximateKNeighborsTransformer

__all__ = ["save_weights", "load_weights", "EstimatorCheckpoint", "TRUSTED_TYPES"]


def _qualified_names(classes):
    return tuple(sorted(f"{cls.__module__}.{cls.__qualname__}" for cls in classes))


# The package's own types that a skops file of its objects may name (module
# docstring): every built-in class a parameter or a fitted attribute holds.
# Base classes stay out: a subclass of the user's is the user's to trust.
TRUSTED_TYPES = _qualified_names(
    [
        SiameseEmbedder,
        SiameseVerifier,
        ApproximateKNeighborsTransformer,
        augmentation.RandomAffine,
        *encoders.BUILT_IN_ENCODERS,
        *distances.DISTANCES.values(),
        *mining.MINERS.values(),
        *losses.CLASS_WEIGHT_LOSSES.values(),
        *(getattr(callbacks, name) for name in callbacks.__all__ if name != "EstimatorCallback"),
    ]
)

_FORMAT = "sklearn_siamese.weights"
# 2: the file records the package's and torch's versions, tuples and numpy
# scalars keep their types, and tuple-valued parameters (image_shape) are
# checked. Version 1 files still load.
_VERSION = 2

def _is_free(estimator, param):
    """Whether ``param`` may differ from the saved model's: the estimators declare their training-only parameters."""
    return param in type(estimator)._training_only_params or param.startswith("optimizer__")


def _encode(value, name):
    """``value`` in JSON, tagged where JSON would change its type (arrays, tuples, numpy scalars)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufUO":
            raise TypeError(f"Fitted attribute {name} has dtype {value.dtype}, which save_weights cannot store.")
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.str if value.dtype.kind != "O" else "O"}
    if isinstance(value, np.generic):
        return {"__scalar__": value.item(), "dtype": value.dtype.str}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, name) for v in value]}
    if isinstance(value, list):
        return [_encode(v, name) for v in value]
    raise TypeError(
        f"Fitted attribute {name} is a {type(value).__name__}, which save_weights cannot "
        "store; pickle the estimator instead (trusted files only)."
    )


def _decode(value):
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.asarray(value["__ndarray__"], dtype=object if value["dtype"] == "O" else value["dtype"])
        if "__scalar__" in value:
            return np.dtype(value["dtype"]).type(value["__scalar__"])
        if "__tuple__" in value:
            return tuple(_decode(v) for v in value["__tuple__"])
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _is_plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    return isinstance(value, (list, tuple)) and all(_is_plain(v) for v in value)


def _simple_params(estimator):
    """Constructor parameters that are plain values, or tuples and lists of them (the rest is code).

    As JSON gives them back, so that a saved ``(8, 8)`` compares equal to
    the estimator's.
    """
    params = estimator.get_params(deep=False)
    return {key: json.loads(json.dumps(value)) for key, value in params.items() if _is_plain(value)}


@validate_params(
    {"estimator": [HasMethods(["fit", "embed"])], "path": [str, os.PathLike]}, prefer_skip_nested_validation=True
)
def save_weights(estimator, path):
    """Save a fitted estimator's weights and fitted attributes, without pickle.

    The file holds the encoder's ``state_dict``, the fitted attributes
    (``classes_``, ``embedding_dim_``, thresholds, ...), the plain-valued
    constructor parameters, the training history, and the versions of the
    format, of sklearn_siamese and of torch that wrote it, in a form that
    ``torch.load(path, weights_only=True)`` reads: opening it runs no code.
    For a whole pipeline, use skops (see the module's description).

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
        if name.endswith("_") and not name.startswith("_") and name not in REBUILT
    }
    meta = {
        **versions(_FORMAT, _VERSION),
        "version": _VERSION,  # what version 1 readers check
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
        "meta": json.dumps(meta, default=json_default),
        "state_dict": state,
        "criterion_state_dict": criterion_state,
    }
    _atomic_write(lambda f: torch.save(payload, f), path)


def _read_weights_file(path):
    """The payload and the metadata of a weights file, or a ValueError that says what is wrong with it."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, FileNotFoundError, PermissionError, IsADirectoryError):
        raise  # torch's message names the type the file asked for; the others name the path
    except (OSError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as exc:
        raise ValueError(f"{path} could not be read as a weights file (truncated or damaged?): {exc}") from exc
    if not isinstance(payload, dict) or "meta" not in payload or "state_dict" not in payload:
        raise ValueError(f"{path} is not a file written by sklearn_siamese.persistence.save_weights.")
    try:
        meta = json.loads(payload["meta"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path} is not a file written by sklearn_siamese.persistence.save_weights: {exc}") from exc
    if isinstance(meta, dict) and "format_version" not in meta and isinstance(meta.get("version"), int):
        meta["format_version"] = meta["version"]  # written by version 1, which recorded no other versions
    check_versions(meta, _FORMAT, _VERSION, str(path))
    if not isinstance(payload["state_dict"], dict) or not isinstance(payload.get("criterion_state_dict", {}), dict):
        raise ValueError(f"{path} holds no state_dict of tensors: the file is damaged.")
    return payload, meta


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
    training-only parameters. When loading fails, ``estimator`` is left as
    it was.

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
        If the file is not a weights file, is truncated or damaged, was
        written by a newer format version, or the estimator's class or
        parameters differ from the saved ones, or its network does not fit
        the saved weights.
    pickle.UnpicklingError
        If the file asks for anything but tensors and plain values (torch's
        message names it).
    """
    payload, meta = _read_weights_file(path)
    name = type(estimator).__name__
    if meta.get("class") != name:
        raise ValueError(f"{path} holds a {meta.get('class')}, but the estimator passed is a {name}.")
    current = _simple_params(estimator)
    differ = {
        key: (saved, current.get(key, "<not a plain value>"))
        for key, saved in meta["params"].items()
        if not _is_free(estimator, key) and current.get(key, "<not a plain value>") != saved
    }
    if differ:
        detail = ", ".join(f"{k}={_shown(c)} (saved {_shown(s)})" for k, (s, c) in sorted(differ.items()))
        raise ValueError(f"The estimator's parameters differ from those saved in {path}: {detail}.")

    device = resolve_device(estimator.device)
    before = dict(vars(estimator))
    try:
        for key, value in meta["fitted"].items():
            setattr(estimator, key, _decode(value))
        weights = {
            "module_state": payload["state_dict"],
            "criterion_state": payload.get("criterion_state_dict", {}),
            "history": history_from_json(json.dumps(meta["history"]), str(path)),
            "validation_history": history_from_json(
                None if meta.get("validation_history") is None else json.dumps(meta["validation_history"]), str(path)
            ),
        }
        restore_net(estimator, weights, str(path), device=device)
    except BaseException:
        # Never a half-loaded estimator: back to what was passed.
        vars(estimator).clear()
        vars(estimator).update(before)
        raise
    return estimator


def _shown(value):
    """A parameter value as the user wrote it: JSON gave tuples back as lists."""
    return repr(tuple(value)) if isinstance(value, list) else repr(value)
