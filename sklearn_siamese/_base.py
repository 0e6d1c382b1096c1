"""Machinery shared by :class:`SiameseEmbedder` and :class:`SiameseVerifier`.

``_BaseSiamese.fit`` validates the data, encodes the labels, holds out
validation classes, builds the encoder, and trains it through a skorch
``NeuralNet`` kept as the fitted attribute ``net_``. Subclasses choose the
loss (``_make_criterion``) and add what they need after training.
"""

import copy
import inspect
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from skorch.callbacks import EarlyStopping, ProgressBar
from skorch.helper import predefined_split
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from .distances import DISTANCES, cross_distance, paired_distance
from .encoders import ENCODERS, EncoderSpec
from .mining import MINING
from .sampling import PKSampler, RandomPairSampler, RandomTripletSampler
from ._training import BatchIterator, FixedBatches, NonFiniteLossGuard, SiameseNet, SubsetSampler, TensorDataset, as_tensor

_OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}

_DEFAULT_EMBEDDING_DIM = 32

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
        "validation_fraction": [Interval(Real, 0, 1, closed="left"), None],
        "early_stopping": ["boolean"],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "augmentation": [callable, None],
        "device": [str, torch.device],
        "accelerator": [None, object],
        "callbacks": [list, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # ------------------------------------------------------------------ fit
    def _fit(self, X, y):
        """Validate, then train the encoder. Returns the integer label codes."""
        X, y = validate_data(self, X, y, dtype=np.float32, y_numeric=False)
        check_classification_targets(y)
        self.classes_, y_codes = np.unique(y, return_inverse=True)
        self._check_labels(y_codes)
        if self.batch_size < 2 * self.samples_per_class:
            raise ValueError(
                f"batch_size={self.batch_size} must hold at least 2 classes of "
                f"samples_per_class={self.samples_per_class} samples, i.e. be "
                f">= {2 * self.samples_per_class}."
            )
        device = _resolve_device(self.device)

        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        rng = np.random.default_rng(seed)
        train_idx, valid_idx = self._split_validation(y_codes, rng)
        self.validation_classes_ = self.classes_[np.unique(y_codes[valid_idx])] if len(valid_idx) else self.classes_[:0]

        fork_devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=fork_devices):
            torch.manual_seed(seed)
            module = self._build_module(X, device)
            criterion = self._make_criterion(self.embedding_dim_)
            dataset = TensorDataset(as_tensor(X), torch.as_tensor(y_codes))
            net = self._make_net(module, criterion, device, dataset, train_idx, valid_idx, rng)
            net.fit(dataset, y=None)
        self.net_ = net
        self.history_ = net.history
        self.n_epochs_ = len(net.history)
        return X, y_codes, train_idx, valid_idx

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

        Used only when at least 2 classes with 2+ samples can be held out and
        at least 2 classes, one of them with 2+ samples, remain for training.
        """
        all_idx = np.arange(len(y_codes))
        if not self.validation_fraction:
            return all_idx, all_idx[:0]
        counts = np.bincount(y_codes)
        paired = np.flatnonzero(counts >= 2)
        n_valid = max(2, int(round(self.validation_fraction * len(counts))))
        if len(paired) < n_valid + 1 or len(counts) - n_valid < 2:
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

    def _make_callbacks(self, has_validation):
        callbacks = [("nonfinite_loss", NonFiniteLossGuard())]
        if has_validation and self.early_stopping:
            callbacks.append(
                ("early_stopping", EarlyStopping(monitor="valid_loss", patience=self.n_iter_no_change, load_best=True))
            )
        if self.verbose and self.verbose > 1:
            callbacks.append(("progress_bar", ProgressBar()))
        for i, cb in enumerate(copy.deepcopy(self.callbacks or [])):
            callbacks.append(cb if isinstance(cb, tuple) else (f"user_{i}_{type(cb).__name__}", cb))
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
        net_kwargs = {}
        net_class = SiameseNet
        if self.accelerator is not None:
            from ._accelerate import AcceleratedNet as net_class
            net_kwargs["accelerator"] = self.accelerator
        return net_class(
            module,
            criterion=criterion,
            optimizer=optimizer,
            optimizer__weight_decay=self.weight_decay,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train=BatchIterator,
            iterator_train__sampler=SubsetSampler(self._make_sampler(y_codes[train_idx], rng), train_idx),
            iterator_train__device=device,
            iterator_train__augment=self.augmentation,
            iterator_valid=BatchIterator,
            iterator_valid__sampler=valid_sampler,
            iterator_valid__device=device,
            train_split=train_split,
            callbacks=self._make_callbacks(has_validation),
            device=device,
            verbose=int(bool(self.verbose)),
            **net_kwargs,
        )

    # ------------------------------------------------------------ inference
    def _embed(self, X, validate=True):
        """Embeddings of X as a float32 array ``(n_samples, embedding_dim_)``."""
        check_is_fitted(self)
        if validate:
            X = validate_data(self, X, dtype=np.float32, reset=False)
        module = self.net_.module_
        device = self.net_.device
        was_training = module.training
        module.eval()
        out = np.empty((len(X), self.embedding_dim_), dtype=np.float32)
        X_t = as_tensor(X)
        try:
            with torch.no_grad():
                for start in range(0, len(X), _INFERENCE_CHUNK):
                    chunk = X_t[start : start + _INFERENCE_CHUNK].to(device)
                    out[start : start + len(chunk)] = module(chunk).cpu().numpy()
        finally:
            module.train(was_training)
        return out

    def _check_pairs(self, pairs):
        """Validate ``pairs`` of shape ``(n_pairs, 2, n_features)``; return the two sides."""
        check_is_fitted(self)
        pairs = np.asarray(pairs)
        if pairs.ndim != 3 or pairs.shape[1] != 2:
            raise ValueError(
                "pairs must have shape (n_pairs, 2, n_features), got shape "
                f"{pairs.shape}. Stack the two sides with np.stack([X1, X2], axis=1)."
            )
        if pairs.shape[0] == 0:
            raise ValueError("pairs is empty: at least one pair is required.")
        n_pairs, _, n_features = pairs.shape
        flat = validate_data(self, pairs.reshape(2 * n_pairs, n_features), dtype=np.float32, reset=False)
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
