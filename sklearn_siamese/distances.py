"""Distances between embeddings, shared by the losses, mining and inference."""

import torch
import torch.nn.functional as F

DISTANCES = ("euclidean", "cosine")

# Floor under squared distances (its square root under distances): keeps the gradient
# finite for identical embeddings.
_EPS = 1e-12


def pairwise_distance(embeddings, distance="euclidean", squared=False):
    """All distances between the rows of ``embeddings``, shape ``(B, B)``.

    ``"euclidean"`` is the L2 distance; ``"cosine"`` is ``1 - cos(a, b)``,
    in ``[0, 2]``. With ``squared=True`` the euclidean distance is returned
    squared (exact zeros on the diagonal, no square root).
    """
    if distance == "cosine":
        unit = F.normalize(embeddings, dim=1)
        dist = (1.0 - unit @ unit.T).clamp_min(0.0)
        return dist * dist if squared else dist
    if not squared:
        # cdist has an analytic backward, several times cheaper per training
        # step than autograd through the expanded formula below; the floor
        # keeps the gradient finite (zero) for identical embeddings.
        return torch.cdist(embeddings, embeddings).clamp_min(_EPS**0.5)
    sq_norms = (embeddings * embeddings).sum(dim=1)
    sq = (sq_norms[:, None] + sq_norms[None, :] - 2.0 * embeddings @ embeddings.T).clamp_min(0.0)
    return sq.fill_diagonal_(0.0)


def paired_distance(a, b, distance="euclidean"):
    """Distances between matching rows of ``a`` and ``b``, shape ``(n,)``."""
    if distance == "cosine":
        return (1.0 - F.cosine_similarity(a, b, dim=1)).clamp_min(0.0)
    return ((a - b) ** 2).sum(dim=1).clamp_min(_EPS).sqrt()


def cross_distance(a, b, distance="euclidean", *, batch_invariant=False):
    """Distances between every row of ``a`` and every row of ``b``, ``(n_a, n_b)``.

    With ``batch_invariant=True`` each distance is summed over the
    embedding's dimensions directly, in the same order whatever the other
    rows (slower than the matrix-product form, whose kernels, chosen by the
    block shape, round a pair's distance differently in different blocks):
    inference uses it, so that a query's scores do not depend on what else
    is scored with it.
    """
    if batch_invariant:
        if distance == "cosine":
            # 1 - cos(a, b) = |a/|a| - b/|b||^2 / 2
            a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
            return (torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist") ** 2 / 2).clamp(0.0, 2.0)
        return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")
    if distance == "cosine":
        return (1.0 - F.normalize(a, dim=1) @ F.normalize(b, dim=1).T).clamp_min(0.0)
    return torch.cdist(a, b)
