"""Machinery shared by :class:`SiameseEmbedder` and :class:`SiameseVerifier`.

``_BaseSiamese.fit`` validates the data, encodes the labels, holds out
validation classes, builds the encoder, and trains it through a skorch
``NeuralNet`` kept as the fitted attribute ``net_``. Subclasses choose the
loss (``_make_criterion``) and add what they need after training.
"""

import copy
import inspect
import warnings
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from skorch.callbacks import EarlyStopping, ProgressBar
from skorch.helper import predefined_split
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from .distances import DISTANCES, cross_distance, paired_distance
from .augmentation import RandomAffine
from .encoders import ENCODERS, EncoderSpec
from .mining import MINING
from .sampling import PKSampler, RandomPairSampler, RandomTripletSampler
from ._training import (
    BatchIterator,
    EpochSnapshot,
    FirstBatches,
    FixedBatches,
    NonFiniteLossGuard,
    SiameseNet,
    SubsetSampler,
    TensorDataset,
    ValidationPrecisionAt1,
    as_tensor,
    finished_epochs,
    set_torch_rng_state,
)

_OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}

_DEFAULT_EMBEDDING_DIM = 32

# validation_fraction="auto": hold out this fraction of the classes, but only
# when at least _MIN_TRAINING_CLASSES classes remain for training.
_AUTO_VALIDATION_FRACTION = 0.2
# Validation rows scored by leave-one-out 1-NN each epoch (a sample of them if more).
_MAX_RETRIEVAL_ROWS = 2000
_MIN_TRAINING_CLASSES = 8

# Messages of numpy/Python conversion errors that check_array lets through.
_CONVERSION_ERRORS = ("could not convert", "argument must be", "inhomogeneous", "setting an array element")

# Rows per forward pass at inference.
_INFERENCE_CHUNK = 4096


class _EmbeddingModule(nn.Module):
    """The user's encoder, optionally followed by L2 normalisation."""

    def __init__(self, encoder, normalize):
        super().__init__()
        self.encoder = encoder
        self.normalize = normalize

    def forward(self, x):
        z = self.encoder(x)
        return F.normalize(z, dim=1) if self.normalize else z

    def embed_checked(self, x):
        """``forward(x)`` and a mask of the rows whose embedding is trustworthy.

        A row is not when the encoder output is NaN/inf or, with
        normalisation, its norm overflows (``F.normalize`` then silently
        returns zeros).
        """
        z = self.encoder(x)
        ok = torch.isfinite(z).all(dim=1)
        if self.normalize:
            ok &= torch.isfinite(torch.linalg.vector_norm(z, dim=1))
            z = F.normalize(z, dim=1)
        return z, ok


def _resolve_device(device):
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a torch device, e.g. 'cpu' or 'cuda'.") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available on this machine; use device='cpu'.")
    return resolved


def _call_builder(builder, n_features, embedding_dim):
    """Call a class or function that builds an encoder, passing the sizes it accepts."""
    try:
        accepted = inspect.signature(builder).parameters
    except (TypeError, ValueError):
        accepted = {}
    offered = {"n_features": n_features, "embedding_dim": embedding_dim}
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    kwargs = {k: v for k, v in offered.items() if takes_kwargs or k in accepted}
    if kwargs.get("embedding_dim", 0) is None:
        kwargs["embedding_dim"] = _DEFAULT_EMBEDDING_DIM
    return builder(**kwargs)


class _BaseSiamese(BaseEstimator):
    """Shared parameters and training loop; not for direct use."""

    _parameter_constraints: dict = {
        "encoder": [StrOptions(set(ENCODERS)), EncoderSpec, nn.Module, callable],
        "embedding_dim": [Interval(Integral, 1, None, closed="left"), None],
        "margin": [Interval(Real, 0, None, closed="neither")],
        "mining": [StrOptions(set(MINING))],
        "distance": [StrOptions(set(DISTANCES))],
        "normalize": ["boolean"],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 4, None, closed="left")],
        "samples_per_class": [Interval(Integral, 2, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions(set(_OPTIMIZERS)), callable],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left"), StrOptions({"auto"}), None],
        "early_stopping": ["boolean"],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "augmentation": [StrOptions({"affine"}), callable, None],
        "instance_weight": [Interval(Real, 0, None, closed="left")],
        "device": [str, torch.device],
        "accelerator": [None, object],
        "callbacks": [list, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    # ----------------------------------------------------------- validation
    def _validate_input(self, X, y="no_validation", *, name="X", **kwargs):
        """``validate_data`` to float32, with messages that name the argument.

        Complex and non-numeric input get our own message instead of
        numpy's conversion error; sparse input keeps scikit-learn's
        ``TypeError`` telling to densify with ``.toarray()``.
        """
        cls = type(self).__name__
        try:
            is_complex = np.iscomplexobj(X)
        except (ValueError, TypeError):  # ragged input: check_array reports it below
            is_complex = False
        if is_complex:
            raise ValueError(
                f"Complex data not supported: {name} has complex values; {cls} needs real numbers. Pass "
                f"{name}.real, np.abs({name}), or the real and imaginary parts as separate features."
            )
        try:
            # Values beyond float32 become inf and are reported by validate_data: no overflow warning first.
            with np.errstate(over="ignore"), warnings.catch_warnings():
                if name == "pairs":  # a 3-D pairs array cannot carry column names
                    warnings.filterwarnings("ignore", message="X does not have valid feature names")
                return validate_data(self, X, y, dtype=np.float32, **kwargs)
        except (ValueError, TypeError) as exc:
            msg = str(exc)
            if any(s in msg for s in _CONVERSION_ERRORS):
                raise type(exc)(
                    f"{name} must hold numbers only; {cls} could not convert it to float32: {msg}"
                ) from exc
            if name != "X" and ("Input X" in msg or "X has " in msg):
                raise type(exc)(msg.replace("Input X", f"Input {name}").replace("X has ", f"{name} has ")) from exc
            raise

    # ------------------------------------------------------------------ fit
    def _fit(self, X, y):
        """Validate, then train the encoder. Returns the integer label codes."""
        if getattr(self, "warm_start", False) and hasattr(self, "net_"):
            return self._continue_fit(X, y)
        self._clear_fitted()
        try:
            return self._fit_fresh(X, y)
        except BaseException:
            # Never leave a half-trained estimator that looks fitted.
            self._clear_fitted()
            raise

    def _clear_fitted(self):
        for key in list(vars(self)):
            if (key.endswith("_") and not key.startswith("__")) or key.startswith("_fit_"):
                delattr(self, key)

    def _fit_fresh(self, X, y):
        X, y = self._validate_input(X, y, y_numeric=False)
        with warnings.catch_warnings():
            # Many classes with few samples each is the normal case here, not a regression target.
            warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%")
            check_classification_targets(y)
        self.classes_, y_codes = np.unique(y, return_inverse=True)
        self._check_labels(y_codes)
        if self.batch_size < 2 * self.samples_per_class:
            raise ValueError(
                f"batch_size={self.batch_size} must hold at least 2 classes of "
                f"samples_per_class={self.samples_per_class} samples, i.e. be "
                f">= {2 * self.samples_per_class}."
            )
        device = self._training_device()

        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        rng = np.random.default_rng(seed)
        train_idx, valid_idx = self._split_validation(y_codes, rng)
        self.validation_classes_ = self.classes_[np.unique(y_codes[valid_idx])] if len(valid_idx) else self.classes_[:0]

        fork_devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=fork_devices):
            torch.manual_seed(seed)
            module = self._build_module(X, device)
            self.augment_ = self._make_augment(X[:2], device)
            criterion = self._make_criterion(self.embedding_dim_)
            dataset = TensorDataset(as_tensor(X), torch.as_tensor(y_codes))
            net = self._make_net(module, criterion, device, dataset, train_idx, valid_idx, rng)
            # Set before training so that an EstimatorCheckpoint can save the estimator.
            self.net_ = net
            self._fit_y_codes = y_codes
            self._fit_split = (train_idx, valid_idx)
            net.fit(dataset, y=None)
        self._record_training(net, done=True)
        return X, y_codes, train_idx, valid_idx

    def _record_training(self, net, done=False):
        """Set the fitted attributes that describe training; ``done`` drops data references."""
        self.net_ = net
        self.history_ = net.history
        self.n_epochs_ = finished_epochs(net.history)
        snapshot = dict(net.callbacks_).get("epoch_snapshot")
        self.interrupted_ = bool(snapshot is not None and snapshot.interrupted_)
        if done:
            # The validation split keeps the training data alive; a fitted
            # estimator does not need it (warm_start rebuilds it) and should
            # not carry the data into its pickle.
            net.train_split = None
            if snapshot is not None:
                snapshot.compact()

    def _continue_fit(self, X, y):
        """``warm_start=True``: train on from the last finished epoch up to ``max_epochs`` epochs."""
        snapshot = dict(getattr(self.net_, "callbacks_", [])).get("epoch_snapshot")
        if snapshot is None or snapshot.state_ is None or not hasattr(self, "_fit_y_codes"):
            raise ValueError(
                "warm_start=True cannot continue this estimator: it holds no training state "
                "(it was loaded with load_weights, or fitted by an older version). "
                "Set warm_start=False to train afresh."
            )
        X, y = self._validate_input(X, y, y_numeric=False, reset=False)
        classes = np.unique(y)
        if not np.array_equal(classes, self.classes_):
            raise ValueError(
                "With warm_start=True, fit continues training on the data of the first fit, "
                f"but y has classes {classes[:10].tolist()} and the estimator was fitted on "
                f"{self.classes_[:10].tolist()}. Set warm_start=False to train afresh."
            )
        y_codes = np.searchsorted(self.classes_, y)
        if not np.array_equal(y_codes, self._fit_y_codes):
            raise ValueError(
                "With warm_start=True, fit continues training on the data of the first fit: "
                f"X and y must be the same {len(self._fit_y_codes)} samples in the same order "
                f"(got {len(y_codes)}). Set warm_start=False to train afresh."
            )
        net = self.net_
        while len(net.history) and net.history[-1].get("interrupted", False):
            net.history.pop()
        done = finished_epochs(net.history)
        if self.max_epochs < done:
            raise ValueError(
                f"max_epochs={self.max_epochs} must be >= the {done} epochs already run "
                "when warm_start=True (max_epochs counts all epochs, as n_estimators "
                "does in GradientBoostingClassifier)."
            )
        dataset = TensorDataset(as_tensor(X), torch.as_tensor(y_codes))
        if net.iterator_valid__sampler is not None:
            net.train_split = predefined_split(dataset)
        for _, cb in net.callbacks_:
            if hasattr(cb, "_bind_estimator"):
                cb._bind_estimator(self)
        device = torch.device(net.device) if net.device is not None else self._training_device()
        fork_devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=fork_devices):
            set_torch_rng_state(snapshot.state_["torch_rng"])
            try:
                net.partial_fit(dataset, y=None, epochs=self.max_epochs - done)
            except BaseException:
                # Keep the model of the last finished epoch, as an interruption does.
                snapshot.in_epoch_ = True
                snapshot.on_train_end(net)
                self._record_training(net, done=True)
                raise
        self._record_training(net, done=True)
        return (X, y_codes, *self._fit_split)

    def _training_device(self):
        """The device to train on: the accelerator's when one is given."""
        if self.accelerator is not None and getattr(self.accelerator, "device_placement", False):
            return torch.device(self.accelerator.device)
        return _resolve_device(self.device)

    def _make_train_sampler(self, y_codes, rng):
        """This process's sampler of training batches.

        Under data parallelism (an accelerator with ``num_processes > 1``)
        every process runs ``fit`` on the same data with the same seed, so
        all start from the same weights and validation split. Each process
        then draws its own training batches, from a random stream seeded by
        the shared seed and its rank, and ``1/num_processes`` of an epoch's
        batches, so an epoch is still about one pass over the data. With one
        process this is ``_make_sampler(y_codes, rng)``.
        """
        n_processes = getattr(self.accelerator, "num_processes", 1)
        if n_processes <= 1:
            return self._make_sampler(y_codes, rng)
        rank = self.accelerator.process_index
        process_rng = np.random.default_rng([int(rng.integers(2**31)), rank])
        sampler = self._make_sampler(y_codes, process_rng)
        return FirstBatches(sampler, -(-len(sampler) // n_processes))

    def _check_labels(self, y_codes):
        name = type(self).__name__
        counts = np.bincount(y_codes)
        if len(counts) < 2:
            raise ValueError(
                f"{name} needs samples of at least 2 classes to form different-class "
                f"pairs; y has {len(counts)} class."
            )
        if counts.max() < 2:
            raise ValueError(
                f"{name} needs at least one class with 2 or more samples to form a "
                "same-class pair; every class in y has a single sample."
            )

    def _split_validation(self, y_codes, rng):
        """Hold out whole classes for validation (the real use is unseen classes).

        ``validation_fraction="auto"`` holds out 20% of the classes only when
        there is enough data: at least ``_MIN_TRAINING_CLASSES`` classes
        remain for training (with fewer, every class is worth more for
        training than for early stopping; see README, "Defaults and the
        evidence behind them"). A number is used whenever at least 2 classes
        with 2+ samples can be held out and 2 classes remain.
        """
        all_idx = np.arange(len(y_codes))
        if not self.validation_fraction:
            return all_idx, all_idx[:0]
        auto = self.validation_fraction == "auto"
        fraction = _AUTO_VALIDATION_FRACTION if auto else self.validation_fraction
        min_training = _MIN_TRAINING_CLASSES if auto else 2
        counts = np.bincount(y_codes)
        paired = np.flatnonzero(counts >= 2)
        n_valid = max(2, int(round(fraction * len(counts))))
        if len(paired) < n_valid + 1 or len(counts) - n_valid < min_training:
            return all_idx, all_idx[:0]
        valid_classes = rng.choice(paired, size=n_valid, replace=False)
        is_valid = np.isin(y_codes, valid_classes)
        return all_idx[~is_valid], all_idx[is_valid]

    def _build_module(self, X, device):
        n_features = X.shape[1]
        encoder = self.encoder
        if isinstance(encoder, str):
            encoder = ENCODERS[encoder]()
        embedding_dim = self.embedding_dim
        if isinstance(encoder, EncoderSpec):
            module = encoder.build(n_features, embedding_dim or _DEFAULT_EMBEDDING_DIM)
        elif isinstance(encoder, nn.Module):
            module = copy.deepcopy(encoder)
        else:
            module = _call_builder(encoder, n_features, embedding_dim)
            if not isinstance(module, nn.Module):
                raise TypeError(
                    f"encoder={self.encoder!r} returned {type(module).__name__}, not a torch.nn.Module."
                )
        module = module.to(device)
        self.embedding_dim_ = self._probe_encoder(module, X[:2], device, embedding_dim)
        return _EmbeddingModule(module, self.normalize)

    def _make_augment(self, X_probe, device):
        """The training-batch augmentation, checked once on a probe batch."""
        augment = self.augmentation
        if augment is None:
            return None
        if isinstance(augment, str):
            augment = RandomAffine()
        elif isinstance(augment, RandomAffine):
            augment = clone(augment)  # never mutate the parameter
        if isinstance(augment, RandomAffine) and augment.image_shape is None:
            encoder = ENCODERS[self.encoder]() if isinstance(self.encoder, str) else self.encoder
            image_shape = getattr(encoder, "input_shape", None)
            if image_shape is not None:
                augment.set_params(image_shape=image_shape)
        probe = torch.from_numpy(np.ascontiguousarray(X_probe)).to(device)
        try:
            out = augment(probe)
        except Exception as exc:
            raise ValueError(f"augmentation={self.augmentation!r} failed on a batch of shape {tuple(probe.shape)}: {exc}") from exc
        if not isinstance(out, torch.Tensor) or out.shape != probe.shape:
            raise ValueError(
                f"augmentation={self.augmentation!r} must return a tensor of the batch's shape "
                f"{tuple(probe.shape)}, got {getattr(out, 'shape', type(out).__name__)}."
            )
        return augment

    def _probe_encoder(self, module, X_probe, device, embedding_dim):
        """Run the encoder once so a bad encoder fails here, clearly."""
        name = type(module).__name__
        was_training = module.training
        module.eval()
        try:
            with torch.no_grad():
                out = module(torch.from_numpy(np.ascontiguousarray(X_probe)).to(device))
        except Exception as exc:
            raise ValueError(
                f"The encoder {name} failed on a batch of shape {tuple(X_probe.shape)} "
                f"(n_samples, n_features): {exc}"
            ) from exc
        finally:
            module.train(was_training)
        if not isinstance(out, torch.Tensor) or out.ndim != 2 or len(out) != len(X_probe):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(
                f"The encoder {name} must return a 2-D tensor (n_samples, embedding_dim); "
                f"for input of shape {tuple(X_probe.shape)} it returned {shape}."
            )
        if not torch.isfinite(out).all():
            raise ValueError(
                f"The encoder {name} returned NaN or infinite values for the first rows of X "
                f"(absolute values up to {float(np.abs(X_probe).max()):.3g}); scale X, e.g. with StandardScaler."
            )
        if embedding_dim is not None and out.shape[1] != embedding_dim:
            raise ValueError(
                f"The encoder {name} outputs {out.shape[1]} features but "
                f"embedding_dim={embedding_dim}; set embedding_dim=None to use the encoder's size."
            )
        return int(out.shape[1])

    def _make_sampler(self, y_codes, rng):
        if self.mining == "random_pairs":
            triplets = self.loss == "triplet"
            cls = RandomTripletSampler if triplets else RandomPairSampler
            return cls(y_codes, self.batch_size, rng)
        return PKSampler(y_codes, self.batch_size, self.samples_per_class, rng)

    def _make_callbacks(self, valid_idx, rng):
        # The snapshot comes first: an epoch counts as finished before any later
        # on_epoch_end (early stopping, a user callback) may stop training.
        callbacks = [("epoch_snapshot", EpochSnapshot()), ("nonfinite_loss", NonFiniteLossGuard())]
        if len(valid_idx):
            rows = valid_idx
            if len(rows) > _MAX_RETRIEVAL_ROWS:
                rows = np.sort(rng.choice(rows, size=_MAX_RETRIEVAL_ROWS, replace=False))
            callbacks.append(("valid_precision_at_1", ValidationPrecisionAt1(rows, self.distance)))
        if len(valid_idx) and self.early_stopping:
            # Stop on how well held-out classes are recognised, not on their
            # pair loss: the loss of unseen classes rises from the first epochs
            # while their nearest-neighbour accuracy still improves.
            stop = EarlyStopping(
                monitor="valid_precision_at_1", lower_is_better=False, patience=self.n_iter_no_change, load_best=True
            )
            callbacks.append(("early_stopping", stop))
        if self.verbose and self.verbose > 1:
            callbacks.append(("progress_bar", ProgressBar()))
        for i, cb in enumerate(copy.deepcopy(self.callbacks or [])):
            named = cb if isinstance(cb, tuple) else (f"user_{i}_{type(cb).__name__}", cb)
            if hasattr(named[1], "_bind_estimator"):  # e.g. EstimatorCheckpoint saves the estimator
                named[1]._bind_estimator(self)
            callbacks.append(named)
        return callbacks

    def _make_net(self, module, criterion, device, dataset, train_idx, valid_idx, rng):
        """A skorch net over the whole dataset; samplers pick the train or valid rows."""
        optimizer = _OPTIMIZERS.get(self.optimizer, self.optimizer)
        y_codes = dataset.y.numpy()
        has_validation = len(valid_idx) > 0
        train_split, valid_sampler = None, None
        if has_validation:
            valid_rng = np.random.default_rng(rng.integers(2**31))
            valid_sampler = FixedBatches(self._make_sampler(y_codes[valid_idx], valid_rng), valid_idx)
            train_split = predefined_split(dataset)
        train_sampler = self._make_train_sampler(y_codes[train_idx], rng)
        net_kwargs = {}
        net_class = SiameseNet
        net_device = device
        if self.accelerator is not None:
            from ._accelerate import AcceleratedNet as net_class

            net_kwargs["accelerator"] = self.accelerator
            if getattr(self.accelerator, "device_placement", False):
                net_device = None  # the accelerator places the module
        return net_class(
            module,
            criterion=criterion,
            optimizer=optimizer,
            optimizer__weight_decay=self.weight_decay,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train=BatchIterator,
            iterator_train__sampler=SubsetSampler(train_sampler, train_idx),
            iterator_train__device=device,
            iterator_train__augment=self.augment_,
            iterator_train__views=2 if self.instance_weight else 1,
            instance_weight=self.instance_weight,
            iterator_valid=BatchIterator,
            iterator_valid__sampler=valid_sampler,
            iterator_valid__device=device,
            train_split=train_split,
            callbacks=self._make_callbacks(valid_idx, rng),
            device=net_device,
            verbose=int(bool(self.verbose)),
            **net_kwargs,
        )

    # ------------------------------------------------------------ inference
    # Float type of the embeddings at inference; the verifier uses float64.
    _inference_dtype = np.float32

    def _embed(self, X, validate=True):
        """Embeddings of X as an array ``(n_samples, embedding_dim_)`` of ``_inference_dtype``."""
        check_is_fitted(self)
        if validate:
            X = self._validate_input(X, reset=False)
        module = self.net_.module_
        # The module's own device: net_.device is None when an accelerator placed it.
        device = next(module.parameters(), torch.empty(0)).device
        dtype = self._inference_dtype
        if dtype != np.float32:
            module = copy.deepcopy(module).to(torch.from_numpy(np.zeros(0, dtype)).dtype)
        was_training = module.training
        module.eval()
        out = np.empty((len(X), self.embedding_dim_), dtype=dtype)
        good = np.ones(len(X), dtype=bool)
        X_t = as_tensor(np.asarray(X, dtype=dtype))
        try:
            with torch.no_grad():
                for start in range(0, len(X), _INFERENCE_CHUNK):
                    chunk = X_t[start : start + _INFERENCE_CHUNK].to(device)
                    if hasattr(module, "embed_checked"):
                        z, ok = module.embed_checked(chunk)
                        good[start : start + len(chunk)] = ok.cpu().numpy()
                    else:
                        z = module(chunk)
                    out[start : start + len(chunk)] = z.cpu().numpy()
        finally:
            module.train(was_training)
        bad = ~(good & np.isfinite(out).all(axis=1))
        if bad.any():
            raise ValueError(
                f"The encoder returned NaN or infinite embeddings for {int(bad.sum())} of {len(X)} "
                f"rows (first: row {int(np.flatnonzero(bad)[0])}); their values are probably far "
                "larger than in the training data. Scale the input as X was scaled for fit."
            )
        return out

    def _check_pairs(self, pairs):
        """Validate ``pairs`` of shape ``(n_pairs, 2, n_features)``; return the two sides."""
        check_is_fitted(self)
        try:
            pairs = np.asarray(pairs)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"pairs must be an array-like of shape (n_pairs, 2, n_features): {exc}") from exc
        if pairs.ndim != 3 or pairs.shape[1] != 2:
            raise ValueError(
                "pairs must have shape (n_pairs, 2, n_features), got shape "
                f"{pairs.shape}. Stack the two sides with np.stack([X1, X2], axis=1)."
            )
        if pairs.shape[0] == 0:
            raise ValueError("pairs is empty: at least one pair is required.")
        n_pairs, _, n_features = pairs.shape
        flat = self._validate_input(pairs.reshape(2 * n_pairs, n_features), name="pairs", reset=False)
        flat = flat.reshape(n_pairs, 2, n_features)
        return flat[:, 0], flat[:, 1]

    def _pair_embeddings(self, pairs):
        a, b = self._check_pairs(pairs)
        return self._embed(a, validate=False), self._embed(b, validate=False)

    def _pairwise_distance(self, A, B):
        """Distances between two sets of embeddings, as a numpy array."""
        return cross_distance(torch.from_numpy(A), torch.from_numpy(B), self.distance).numpy()

    def _similarity_from_embeddings(self, A, B):
        """Similarity (higher = more alike) of every row of A to every row of B.

        The hook that one-shot evaluation and reference-based prediction use;
        the embedder's similarity is the negated distance.
        """
        return -self._pairwise_distance(A, B)

    def embed(self, X):
        """Embed the rows of X with the trained encoder.

        The public "embed these rows" entry point that evaluation
        (:mod:`sklearn_siamese.metrics`), plotting, persistence and users'
        own code use.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, scaled as the training data was.

        Returns
        -------
        embeddings : ndarray of shape (n_samples, embedding_dim_)
            One embedding per row.
        """
        return self._embed(X)

    def embedding_similarity(self, A, B):
        """Similarity of every embedding in A to every embedding in B.

        Higher means more alike. For :class:`SiameseEmbedder` it is the
        negated distance (``distance`` parameter); for
        :class:`SiameseVerifier` the probability that the two samples share
        a class. Use it with embeddings from :meth:`embed` to score many
        comparisons without embedding a sample twice.

        Parameters
        ----------
        A : ndarray of shape (n_a, embedding_dim_)
            Embeddings returned by :meth:`embed`.
        B : ndarray of shape (n_b, embedding_dim_)
            Embeddings returned by :meth:`embed`.

        Returns
        -------
        similarity : ndarray of shape (n_a, n_b)
        """
        check_is_fitted(self)
        return self._similarity_from_embeddings(A, B)

    def similarity(self, X, Y=None):
        """Similarity of every row of X to every row of Y (higher = more alike).

        Parameters
        ----------
        X : array-like of shape (n_samples_X, n_features)
            Samples.
        Y : array-like of shape (n_samples_Y, n_features), default=None
            Samples to compare with; ``None`` compares X with itself.

        Returns
        -------
        similarity : ndarray of shape (n_samples_X, n_samples_Y)
            See :meth:`embedding_similarity`.
        """
        A = self.embed(X)
        B = A if Y is None else self.embed(Y)
        return self.embedding_similarity(A, B)

    def pair_distance(self, pairs):
        """Distance between the two samples of each pair, in the embedding space.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features)
            The pairs; ``pairs[:, 0]`` and ``pairs[:, 1]`` are the two sides.

        Returns
        -------
        distances : ndarray of shape (n_pairs,)
            Distance (``distance`` parameter) between the embeddings.
        """
        a, b = self._pair_embeddings(pairs)
        return paired_distance(torch.from_numpy(a), torch.from_numpy(b), self.distance).numpy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.sparse = False
        return tags
