"""Losses with one learned weight vector per training class: NormFace, CosFace, ArcFace, Proxy-Anchor.

A loss of this family is given to the estimators as a specification
(:class:`ClassWeightLoss`, plain parameters, like an encoder
specification); ``fit`` builds from it a :class:`ClassWeightCriterion`,
the ``torch.nn.Module`` that holds a weight vector (a proxy) for each
class that trains, and that the optimiser trains with the encoder. The
weights score nothing after training: ``transform`` and every query use
the encoder alone.
"""

import math
from numbers import Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, clone
from sklearn.utils._param_validation import Interval, validate_parameter_constraints
from torch import nn


class ClassWeightLoss(BaseEstimator):
    """Base class of the losses that learn one weight vector per training class.

    A specification: its parameters are plain values (it pickles, clones
    and saves with skops like a distance or a miner), and :meth:`build`
    returns the module that trains. A subclass declares
    ``_parameter_constraints``, names the parameter that ``margin`` of the
    estimators scales (``_margin_parameter``, None when it has no margin)
    and writes :meth:`class_loss`.

    Attributes
    ----------
    weight_lr_factor : float
        The class weights train at this multiple of the estimator's ``lr``.
    """

    _parameter_constraints: dict = {}
    _margin_parameter = None
    weight_lr_factor = 1.0

    def build(self, class_codes, embedding_dim, margin_scale=1.0):
        """Validate the parameters and return a freshly initialised :class:`ClassWeightCriterion`.

        Parameters
        ----------
        class_codes : array-like of int
            The integer labels of the classes that train; one weight vector
            each (the labels of a batch must be among them).
        embedding_dim : int
            Size of the embeddings, and of each weight vector.
        margin_scale : float, default=1.0
            Multiplies the loss's margin (the estimators pass their
            ``margin``); ignored by a loss without one.

        Returns
        -------
        criterion : ClassWeightCriterion
        """
        validate_parameter_constraints(
            self._parameter_constraints, self.get_params(deep=False), caller_name=type(self).__name__
        )
        loss = clone(self)
        if self._margin_parameter is not None and margin_scale != 1.0:
            loss.set_params(**{self._margin_parameter: getattr(self, self._margin_parameter) * margin_scale})
        return ClassWeightCriterion(loss, class_codes, embedding_dim)

    def class_loss(self, cos, rows):
        """The loss of a batch from its cosine similarities to the class weights.

        Parameters
        ----------
        cos : torch.Tensor of shape (B, n_classes)
            Cosine similarity of each embedding to each class's weight
            vector, float32.
        rows : torch.Tensor of shape (B,)
            The column of each sample's own class.

        Returns
        -------
        loss : torch.Tensor
            A scalar.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement class_loss(cos, rows).")


class _NormalizedSoftmaxLoss(ClassWeightLoss):
    """Softmax cross-entropy over ``scale`` times the cosines, the own class's changed by :meth:`_target_cosine`."""

    def class_loss(self, cos, rows):
        own = F.one_hot(rows, cos.shape[1]).bool()
        logits = torch.where(own, self._target_cosine(cos), cos) * self.scale
        return F.cross_entropy(logits, rows)

    def _target_cosine(self, cos):
        return cos


_SCALE = Interval(Real, 0, None, closed="neither")


class NormFaceLoss(_NormalizedSoftmaxLoss):
    """Normalised softmax (NormFace, Wang et al. 2017): cross-entropy on ``scale * cos(e, w_c)``.

    The embeddings and the class weights are normalised to unit length,
    so the logits are cosines, times ``scale``. No margin: the estimators'
    ``margin`` is unused.

    Parameters
    ----------
    scale : float, default=16.0
        Multiplies the cosines (the inverse of a softmax temperature).
        The papers use 30 to 64 for thousands of identities; few classes
        need less (Wang et al.'s bound grows with the log of their
        number), and 16 transferred better than 30 to unseen digits
        after training on six (the user guide, "Losses and mining").

    References
    ----------
    .. [1] F. Wang, X. Xiang, J. Cheng and A. L. Yuille, "NormFace: L2
       Hypersphere Embedding for Face Verification", ACM Multimedia 2017.
    """

    _parameter_constraints = {"scale": [_SCALE]}

    def __init__(self, scale=16.0):
        self.scale = scale


class CosFaceLoss(_NormalizedSoftmaxLoss):
    """Additive cosine margin (CosFace, Wang et al. 2018): the own class's logit is ``scale * (cos - margin)``.

    Parameters
    ----------
    margin : float, default=0.35
        Subtracted from the cosine of the own class (the paper's value);
        the estimators' ``margin`` multiplies it.
    scale : float, default=16.0
        Multiplies the cosines, as in :class:`NormFaceLoss`.

    References
    ----------
    .. [1] H. Wang, Y. Wang, Z. Zhou, X. Ji, D. Gong, J. Zhou, Z. Li and
       W. Liu, "CosFace: Large Margin Cosine Loss for Deep Face
       Recognition", CVPR 2018.
    """

    _parameter_constraints = {"margin": [Interval(Real, 0, None, closed="left")], "scale": [_SCALE]}
    _margin_parameter = "margin"

    def __init__(self, margin=0.35, scale=16.0):
        self.margin = margin
        self.scale = scale

    def _target_cosine(self, cos):
        return cos - self.margin


class ArcFaceLoss(_NormalizedSoftmaxLoss):
    """Additive angular margin (ArcFace, Deng et al. 2019): the own class's logit is ``scale * cos(theta + margin)``.

    ``theta`` is the angle between the embedding and its class's weight
    vector. Past ``theta + margin = pi``, where ``cos(theta + margin)``
    would rise again, the logit goes on falling as ``cos(theta) - margin *
    sin(margin)``, as in the authors' code.

    Parameters
    ----------
    margin : float, default=0.5
        Added to the angle, in radians (the paper's value, about 29
        degrees); the estimators' ``margin`` multiplies it.
    scale : float, default=16.0
        Multiplies the cosines, as in :class:`NormFaceLoss`.

    References
    ----------
    .. [1] J. Deng, J. Guo, N. Xue and S. Zafeiriou, "ArcFace: Additive
       Angular Margin Loss for Deep Face Recognition", CVPR 2019.
    """

    _parameter_constraints = {"margin": [Interval(Real, 0, math.pi, closed="left")], "scale": [_SCALE]}
    _margin_parameter = "margin"

    def __init__(self, margin=0.5, scale=16.0):
        self.margin = margin
        self.scale = scale

    def _target_cosine(self, cos):
        m = self.margin
        # The floor keeps the gradient of the square root finite at cos = +-1.
        sin = (1.0 - cos * cos).clamp_min(1e-7).sqrt()
        shifted = cos * math.cos(m) - sin * math.sin(m)
        return torch.where(cos > math.cos(math.pi - m), shifted, cos - m * math.sin(m))


class ProxyAnchorLoss(ClassWeightLoss):
    """Proxy-Anchor loss (Kim et al. 2020): each class's proxy is an anchor for the batch.

    With ``s(x, p)`` the cosine between an embedding and a proxy, ``P+``
    the proxies of the classes present in the batch and ``X+_p``/``X-_p``
    the samples of ``p``'s class and of other classes::

        mean over p in P+ of log(1 + sum over x in X+_p of exp(-alpha * (s(x, p) - delta)))
        + mean over every p of log(1 + sum over x in X-_p of exp(alpha * (s(x, p) + delta)))

    Every sample of the batch pulls or pushes every proxy, weighted by how
    hard it is. The proxies train at ``weight_lr_factor = 100`` times the
    estimator's ``lr``, as in the paper.

    Parameters
    ----------
    alpha : float, default=32.0
        Scale of the similarities (the paper's value).
    delta : float, default=0.1
        Margin, in cosine (the paper's value); the estimators' ``margin``
        multiplies it.

    References
    ----------
    .. [1] S. Kim, D. Kim, M. Cho and S. Kwak, "Proxy Anchor Loss for Deep
       Metric Learning", CVPR 2020.
    """

    _parameter_constraints = {
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "delta": [Interval(Real, 0, None, closed="left")],
    }
    _margin_parameter = "delta"
    weight_lr_factor = 100.0

    def __init__(self, alpha=32.0, delta=0.1):
        self.alpha = alpha
        self.delta = delta

    def class_loss(self, cos, rows):
        own = F.one_hot(rows, cos.shape[1]).bool()
        present = own.any(dim=0)
        positive = _log1p_sum_exp(-self.alpha * (cos - self.delta), own)
        negative = _log1p_sum_exp(self.alpha * (cos + self.delta), ~own)
        return (positive * present).sum() / present.sum().clamp_min(1) + negative.mean()


def _log1p_sum_exp(z, mask):
    """``log(1 + sum(exp(z)))`` down each column over the rows of ``mask``; 0 for a column with none.

    A column of zeros stands for the 1: the log-sum-exp then stays finite,
    and so does its gradient, where a column has no entry.
    """
    z = z.masked_fill(~mask, -math.inf)
    return torch.logsumexp(torch.cat([z.new_zeros(1, z.shape[1]), z]), dim=0)


class ClassWeightCriterion(nn.Module):
    """The module that trains a :class:`ClassWeightLoss`: the class weights and the loss on them.

    Called as ``criterion(embeddings, labels)`` like the other losses. The
    weights are a parameter, ``weight`` (one unit-length row per class at
    initialisation), which the estimators' optimiser trains with the
    encoder; ``class_codes`` (a buffer, sorted) says which label each row
    is for. Both are in the ``state_dict``, and loading a ``state_dict``
    takes its number of classes, so a criterion built for no class (as
    when a saved model is restored) accepts the saved weights.

    A batch with labels that have no weight (validation batches, of classes
    held out of training) is scored with the normalised mean embedding of
    each of its classes in place of the weights, so ``valid_loss`` is still
    defined.

    Parameters
    ----------
    loss : ClassWeightLoss
        The loss, its margin already scaled.
    class_codes : array-like of int
        The labels of the classes that train.
    embedding_dim : int
        Size of the embeddings.
    """

    def __init__(self, loss, class_codes, embedding_dim):
        super().__init__()
        self.loss = loss
        codes = torch.as_tensor(np.unique(np.asarray(class_codes, dtype=np.int64)))
        self.register_buffer("class_codes", codes)
        self.weight = nn.Parameter(F.normalize(torch.randn(len(codes), embedding_dim), dim=1))

    def optimizer_param_groups(self, lr):
        """skorch ``optimizer__param_groups``: the weights at ``loss.weight_lr_factor * lr``."""
        factor = self.loss.weight_lr_factor
        return [] if factor == 1.0 else [("weight", {"lr": factor * lr})]

    def forward(self, embeddings, labels):
        # Outside any autocast: the logits (cosines times a scale of 30 or
        # more) and their softmax need float32.
        with torch.autocast(embeddings.device.type, enabled=False):
            embeddings = embeddings.float()
            rows, weight = self._rows(labels), self.weight.float()
            if rows is None:
                classes, rows = torch.unique(labels, return_inverse=True)
                weight = embeddings.new_zeros(len(classes), embeddings.shape[1])
                weight = weight.index_add(0, rows, F.normalize(embeddings, dim=1))
            cos = F.normalize(embeddings, dim=1) @ F.normalize(weight, dim=1).T
            return self.loss.class_loss(cos, rows)

    def _rows(self, labels):
        """The weight row of each label, or None when some label has none."""
        if not len(self.class_codes):
            return None
        rows = torch.searchsorted(self.class_codes, labels).clamp_max(len(self.class_codes) - 1)
        return rows if bool((self.class_codes[rows] == labels).all()) else None

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Take the saved number of classes: the criterion of a restored model
        # is built before the classes it trained on are known.
        codes, weight = state_dict.get(prefix + "class_codes"), state_dict.get(prefix + "weight")
        if torch.is_tensor(codes) and torch.is_tensor(weight) and weight.ndim == 2 and len(codes) == len(weight):
            self.class_codes = torch.empty_like(codes, device=self.class_codes.device)
            self.weight = nn.Parameter(self.weight.new_empty(weight.shape))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self):
        return f"{self.loss!r}, n_classes={len(self.class_codes)}"


CLASS_WEIGHT_LOSSES = {
    "normface": NormFaceLoss,
    "cosface": CosFaceLoss,
    "arcface": ArcFaceLoss,
    "proxy_anchor": ProxyAnchorLoss,
}


def check_class_weight_loss(loss):
    """The :class:`ClassWeightLoss` that ``loss`` names, or ``loss`` itself."""
    if isinstance(loss, ClassWeightLoss):
        return loss
    if isinstance(loss, str) and loss in CLASS_WEIGHT_LOSSES:
        return CLASS_WEIGHT_LOSSES[loss]()
    raise ValueError(
        f"loss must be one of {sorted(CLASS_WEIGHT_LOSSES)} or a sklearn_siamese.losses.ClassWeightLoss, got {loss!r}."
    )
