"""The estimators' portable state: weights as numpy arrays, everything else plain values.

``pickle`` keeps an estimator whole, its skorch net included (the optimiser
and random states are what ``warm_start`` continues from), and loading a
pickle runs whatever code the file names. The portable state keeps what
inference needs and nothing that is code: the parameters, the fitted
attributes, the encoder's and the loss's ``state_dict`` as numpy arrays, the
training history as JSON, and the versions that wrote it. The estimators'
``__getstate__`` returns it, which is what skops stores; their
``__setstate__`` rebuilds the net from it, as
:func:`~sklearn_siamese.persistence.load_weights` does from a weights file
(:func:`restore_net` serves both).

This module sits between the estimators and the training machinery: it
calls the estimator's ``_restore_net``, and nothing in ``_training`` calls it.
"""

import json
import warnings

import numpy as np
import torch
from skorch.exceptions import DeviceWarning
from skorch.history import History

from ._training.checks import resolve_device

# The key under which a portable state holds the versions and the arrays.
PORTABLE_KEY = "_sklearn_siamese_portable"
PORTABLE_FORMAT = "sklearn_siamese.portable"
# Raise when the portable state changes in a way older versions cannot read.
PORTABLE_VERSION = 1

# Fitted attributes rebuilt rather than stored: the net from the weights, the
# training augmentation from the estimator's parameters (it may be code, e.g.
# a RandomAffine), the histories from their JSON.
REBUILT = frozenset({"net_", "history_", "augment_", "validation_history_"})

# Private attributes that hold the training data's labels and split, which
# only warm_start reads; a portable state cannot continue training anyway.
_TRAINING_ONLY_PREFIX = "_fit_"


def package_version():
    # Imported here: this module is imported while the package's __init__ runs, before __version__ is set.
    import sklearn_siamese

    return sklearn_siamese.__version__


def versions(format_name, format_version):
    """What a file records about what wrote it: the format and its version, the package's and torch's."""
    return {
        "format": format_name,
        "format_version": format_version,
        "sklearn_siamese": package_version(),
        "torch": torch.__version__,
    }


def check_versions(meta, format_name, supported_version, source):
    """Refuse ``meta`` (from :func:`versions`) of another format or of a newer version than ours.

    ``source`` names what is read, for the messages (a path, or "this skops file").
    """
    if not isinstance(meta, dict) or meta.get("format") != format_name:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ValueError(f"{source} is not in the {format_name} format (found {found!r}).")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"{source} has no valid {format_name} format version (found {version!r}).")
    if version > supported_version:
        raise ValueError(
            f"{source} was written in {format_name} format version {version} by sklearn_siamese "
            f"{meta.get('sklearn_siamese', '?')}; this sklearn_siamese ({package_version()}) reads "
            f"versions up to {supported_version}: upgrade sklearn-siamese to load it."
        )


# ------------------------------------------------------------ history as JSON
def json_default(obj):
    """A JSON form of what skorch histories may hold beyond plain values (numpy numbers, arrays)."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return repr(obj)


def history_to_json(history):
    return None if history is None else json.dumps(list(history), default=json_default)


def history_from_json(text, source):
    if text is None:
        return None
    try:
        rows = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{source} holds a training history that is not valid JSON: {exc}") from exc
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ValueError(f"{source} holds a training history that is not a list of epoch records.")
    return History(rows)


# --------------------------------------------------------- tensors as arrays
# numpy has no bfloat16 or float8: those tensors are stored bit for bit as
# unsigned integers of their width, and their torch dtype is recorded.
_BITS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def tensors_to_arrays(state_dict):
    """``(arrays, dtypes)``: each tensor as a numpy array, and the torch dtypes numpy lacks."""
    arrays, dtypes = {}, {}
    for name, tensor in state_dict.items():
        if not torch.is_tensor(tensor):
            raise TypeError(
                f"The state_dict entry {name!r} is a {type(tensor).__name__}, not a tensor: "
                "it cannot be stored as an array."
            )
        tensor = tensor.detach().cpu()
        try:
            array = tensor.numpy()
        except TypeError:
            array = tensor.view(_BITS[tensor.element_size()]).numpy()
            dtypes[name] = str(tensor.dtype).removeprefix("torch.")
        # A copy: the arrays must not change when training goes on (warm_start).
        arrays[name] = np.array(array, copy=True, order="C")
    return arrays, dtypes


def arrays_to_tensors(arrays, dtypes, source, what):
    """The inverse of :func:`tensors_to_arrays`, checking that the file holds what it should."""
    if not isinstance(arrays, dict) or not isinstance(dtypes, dict):
        raise ValueError(f"{source} holds no {what} as a mapping of arrays.")
    tensors = {}
    for name, array in arrays.items():
        if not isinstance(name, str) or not isinstance(array, np.ndarray) or array.dtype.kind not in "biufc":
            raise ValueError(f"{source}: the {what} entry {name!r} is a {type(array).__name__}, not a numeric array.")
        # Arrays read from a file may be read-only, which torch.from_numpy warns about.
        tensor = torch.from_numpy(array if array.flags.writeable else array.copy())
        if name in dtypes:
            dtype = getattr(torch, str(dtypes[name]), None)
            if not isinstance(dtype, torch.dtype):
                raise ValueError(f"{source}: the {what} entry {name!r} has the unknown dtype {dtypes[name]!r}.")
            tensor = tensor.view(dtype)
        tensors[name] = tensor
    return tensors


# ------------------------------------------------------------ the state itself
def to_portable_state(state):
    """The portable form of an estimator's ``state`` (its ``__dict__``).

    Raises ``TypeError`` for a parameter that is a torch module or tensor
    (an ``encoder`` of the user's): code and tensors, which no file without
    pickle can hold.
    """
    for key, value in state.items():
        if not key.endswith("_") and isinstance(value, (torch.nn.Module, torch.Tensor)):
            raise TypeError(
                f"The {key} parameter is a {type(value).__name__}, which can only be saved with pickle "
                "(trusted files only). Without pickle, save the weights with "
                "sklearn_siamese.persistence.save_weights and pass an estimator holding the module to load_weights."
            )
    net = state.get("net_")
    portable = {
        key: value
        for key, value in state.items()
        if key not in REBUILT and not key.startswith(_TRAINING_ONLY_PREFIX)
    }
    saved = versions(PORTABLE_FORMAT, PORTABLE_VERSION)
    if net is not None:
        module_arrays, module_dtypes = tensors_to_arrays(net.module_.state_dict())
        criterion_arrays, criterion_dtypes = tensors_to_arrays(net.criterion_.state_dict())
        saved.update(
            module_state=module_arrays,
            module_dtypes=module_dtypes,
            criterion_state=criterion_arrays,
            criterion_dtypes=criterion_dtypes,
            history=history_to_json(net.history),
            # A refitted model's first run (refit=True).
            validation_history=history_to_json(state.get("validation_history_")),
        )
    portable[PORTABLE_KEY] = saved
    return portable


def from_portable_state(state, class_name):
    """``(attributes, weights)`` of a state given to ``__setstate__``.

    A pickle's state is returned as it is, with ``weights`` None. A portable
    state is checked (format, version, arrays) before anything is set, and
    ``weights`` holds what :func:`restore_net` needs (None when unfitted).
    """
    source = f"This saved {class_name}"
    if PORTABLE_KEY not in state:
        if "n_features_in_" in state and "net_" not in state:
            raise ValueError(
                f"{source} has fitted attributes but neither a network nor its weights; the file is damaged."
            )
        return state, None
    state = dict(state)
    saved = state.pop(PORTABLE_KEY)
    check_versions(saved, PORTABLE_FORMAT, PORTABLE_VERSION, source)
    if "module_state" not in saved:
        if "n_features_in_" in state:
            raise ValueError(f"{source} has fitted attributes but no weights; the file is damaged.")
        return state, None
    weights = {
        "module_state": arrays_to_tensors(
            saved["module_state"], saved.get("module_dtypes", {}), source, "encoder weights"
        ),
        "criterion_state": arrays_to_tensors(
            saved.get("criterion_state", {}), saved.get("criterion_dtypes", {}), source, "loss weights"
        ),
        "history": history_from_json(saved.get("history"), source) or History(),
        "validation_history": history_from_json(saved.get("validation_history"), source),
    }
    return state, weights


def restore_net(estimator, weights, source, device=None):
    """Give ``estimator`` (its other fitted attributes set) its net, from ``weights``.

    ``device`` None: the estimator's ``device`` when this machine has it, else
    the CPU with a ``DeviceWarning``, as skorch does for a pickle. Raises
    ``ValueError`` when the weights do not fit the network the estimator's
    parameters build.
    """
    if device is None:
        try:
            device = resolve_device(estimator.device)
        except ValueError:
            warnings.warn(
                f"{source} was saved with device={estimator.device!r}, which this machine does not have; "
                "it is loaded on the CPU.",
                DeviceWarning,
                stacklevel=3,
            )
            device = torch.device("cpu")
    # _record_training (in _restore_net) counts epochs from the history; the saved values win.
    kept = {key: vars(estimator)[key] for key in ("n_epochs_", "interrupted_") if key in vars(estimator)}
    try:
        estimator._restore_net(device, weights["module_state"], weights["criterion_state"], weights["history"])
    except RuntimeError as exc:
        raise ValueError(
            f"The network built from the estimator's parameters does not match the weights of {source} "
            f"(a different encoder, embedding_dim or image shape?): {exc}"
        ) from exc
    vars(estimator).update(kept)
    if weights.get("validation_history") is not None:
        estimator.validation_history_ = weights["validation_history"]
