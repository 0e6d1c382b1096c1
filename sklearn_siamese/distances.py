"""Distances between embeddings, shared by the losses, mining and inference.

A distance is an object with one method to write, :meth:`Distance.pairwise`
(every row of ``a`` against every row of ``b``). The estimators' and the
losses' ``distance`` parameter takes one, or a name that resolves to a
built-in one (:func:`check_distance`):

``"euclidean"``
    :class:`EuclideanDistance`, the L2 distance.
``"cosine"``
    :class:`CosineDistance`, ``1 - cos(a, b)``, in ``[0, 2]``.

A distance of your own (a subclass of :class:`Distance`) trains and
scores exactly as the built-in ones do::

    class ManhattanDistance(Distance):
        def pairwise(self, a, b):
            return torch.cdist(a, b, p=1)

    SiameseEmbedder(distance=ManhattanDistance())
"""

import torch
import torch.nn.functional as F
from sklearn.utils._param_validation import StrOptions, validate_params

__all__ = [
    "Distance",
    "EuclideanDistance",
    "CosineDistance",
    "check_distance",
    "pairwise_distance",
    "paired_distance",
    "cross_distance",
]

# Floor under squared distances (its square root under distances): keeps the gradient
# finite for identical embeddings.
_EPS = 1e-12
# Rows compared at once by the default paired form of a distance of the user's.
_PAIRED_BLOCK = 256


class Distance:
    """Base class of a distance between embeddings: subclass it and write :meth:`pairwise`.

    The losses call :meth:`pairwise` on a batch (with gradients), the
    estimators call :meth:`paired` on matching rows and :meth:`cross` at
    inference. Only :meth:`pairwise` must be written; the other two
    default to it. A distance must be 0 for identical embeddings and grow
    as they move apart (a similarity negated, ``-a @ b.T``, does not
    work with a margin loss).
    """

    def pairwise(self, a, b):
        """Distances between every row of ``a`` and every row of ``b``.

        Parameters
        ----------
        a : torch.Tensor of shape (n_a, embedding_dim)
            Embeddings.
        b : torch.Tensor of shape (n_b, embedding_dim)
            Embeddings.

        Returns
        -------
        distances : torch.Tensor of shape (n_a, n_b)
            Differentiable in ``a`` and ``b``.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement pairwise(a, b).")

    def paired(self, a, b):
        """Distances between matching rows of ``a`` and ``b``, shape ``(n,)``.

        By default the diagonal of :meth:`pairwise`, computed a block of
        rows at a time.
        """
        return torch.cat(
            [
                self.pairwise(a[i : i + _PAIRED_BLOCK], b[i : i + _PAIRED_BLOCK]).diagonal()
                for i in range(0, len(a), _PAIRED_BLOCK)
            ]
        )

    def cross(self, a, b):
        """Distances at inference, ``(n_a, n_b)``: by default :meth:`pairwise` without gradients.

        A built-in distance sums each entry in the same order whatever
        the other rows, so a query's scores do not depend on what else is
        scored with it.
        """
        with torch.no_grad():
            return self.pairwise(a, b)

    def __repr__(self):
        return f"{type(self).__name__}()"


class EuclideanDistance(Distance):
    """The L2 distance ``|a - b|``."""

    def pairwise(self, a, b):
        # cdist has an analytic backward, several times cheaper per training
        # step than autograd through the matrix-product form; the floor
        # keeps the gradient finite (zero) for identical embeddings.
        return torch.cdist(a, b).clamp_min(_EPS**0.5)

    def paired(self, a, b):
        return ((a - b) ** 2).sum(dim=1).clamp_min(_EPS).sqrt()

    def cross(self, a, b):
        return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


class CosineDistance(Distance):
    """``1 - cos(a, b)``, in ``[0, 2]``."""

    def pairwise(self, a, b):
        return (1.0 - F.normalize(a, dim=1) @ F.normalize(b, dim=1).T).clamp_min(0.0)

    def paired(self, a, b):
        return (1.0 - F.cosine_similarity(a, b, dim=1)).clamp_min(0.0)

    def cross(self, a, b):
        # 1 - cos(a, b) = |a/|a| - b/|b||^2 / 2, summed directly.
        a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
        return (torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist") ** 2 / 2).clamp(0.0, 2.0)


DISTANCES = {"euclidean": EuclideanDistance, "cosine": CosineDistance}


def check_distance(distance):
    """The :class:`Distance` that ``distance`` names, or ``distance`` itself.

    Parameters
    ----------
    distance : {"euclidean", "cosine"} or Distance
        A name of a built-in distance, or a distance object.

    Returns
    -------
    distance : Distance
    """
    if isinstance(distance, Distance):
        return distance
    if isinstance(distance, str) and distance in DISTANCES:
        return DISTANCES[distance]()
    raise ValueError(
        f"distance must be one of {sorted(DISTANCES)} or a sklearn_siamese.distances.Distance, got {distance!r}."
    )


_DISTANCE = [StrOptions(set(DISTANCES)), Distance]


@validate_params({"embeddings": [torch.Tensor], "distance": _DISTANCE, "squared": ["boolean"]}, prefer_skip_nested_validation=True)
def pairwise_distance(embeddings, distance="euclidean", squared=False):
    """All distances between the rows of ``embeddings``, as the losses compute them.

    Parameters
    ----------
    embeddings : torch.Tensor of shape (n, embedding_dim)
        Embeddings.
    distance : {"euclidean", "cosine"} or Distance, default="euclidean"
        The distance.
    squared : bool, default=False
        Return the distances squared; the Euclidean distance then comes
        from the matrix-product form, with exact zeros on the diagonal
        and no square root.

    Returns
    -------
    distances : torch.Tensor of shape (n, n)
    """
    distance = check_distance(distance)
    if squared and type(distance) is EuclideanDistance:
        sq_norms = (embeddings * embeddings).sum(dim=1)
        sq = (sq_norms[:, None] + sq_norms[None, :] - 2.0 * embeddings @ embeddings.T).clamp_min(0.0)
        return sq.fill_diagonal_(0.0)
    dist = distance.pairwise(embeddings, embeddings)
    return dist * dist if squared else dist


@validate_params({"a": [torch.Tensor], "b": [torch.Tensor], "distance": _DISTANCE}, prefer_skip_nested_validation=True)
def paired_distance(a, b, distance="euclidean"):
    """Distances between matching rows of ``a`` and ``b``.

    Parameters
    ----------
    a, b : torch.Tensor of shape (n, embedding_dim)
        Embeddings.
    distance : {"euclidean", "cosine"} or Distance, default="euclidean"
        The distance.

    Returns
    -------
    distances : torch.Tensor of shape (n,)
    """
    return check_distance(distance).paired(a, b)


@validate_params(
    {"a": [torch.Tensor], "b": [torch.Tensor], "distance": _DISTANCE, "batch_invariant": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def cross_distance(a, b, distance="euclidean", *, batch_invariant=False):
    """Distances between every row of ``a`` and every row of ``b``, ``(n_a, n_b)``.

    ``a`` and ``b`` are tensors of embeddings and ``distance`` as in
    :func:`paired_distance`.

    Parameters
    ----------
    batch_invariant : bool, default=False
        Use :meth:`Distance.cross`, whose built-in forms sum each distance
        over the embedding's dimensions directly, in the same order
        whatever the other rows (slower than the matrix-product form,
        whose kernels, chosen by the block shape, round a pair's distance
        differently in different blocks): inference uses it, so that a
        query's scores do not depend on what else is scored with it.
    """
    distance = check_distance(distance)
    if batch_invariant:
        return distance.cross(a, b)
    if type(distance) is EuclideanDistance:
        return torch.cdist(a, b)
    return distance.pairwise(a, b)
