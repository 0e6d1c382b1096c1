"""``loss="auto"``: the embedder's loss chosen from the number of training classes.

Measured (``benchmarks/loss_auto.py``, the user guide's "Defaults"): the
batch-all triplet loss on un-normalised embeddings memorises a few training
classes (digits, 6 classes: unseen 1-shot 0.61 against the contrastive
loss's 0.80) and generalises better than the contrastive loss on unit-length
embeddings from about a hundred classes on (Omniglot characters with their
rotations as classes).
"""

__all__ = ["AUTO_INSTANCE_WEIGHT", "AUTO_TRIPLET_MIN_CLASSES", "resolve_loss"]

# instance_weight="auto" with the contrastive loss; with the triplet loss
# that "auto" chose it is 0: with hundreds of classes the instance term
# costs half the epochs a budget allows and lost on Omniglot.
AUTO_INSTANCE_WEIGHT = 0.5

# Training classes (rotation classes counted) from which loss="auto" is the
# triplet loss: between 60 classes, where both losses tie on Omniglot, and
# 240, where the triplet loss is ahead on both folds measured.
AUTO_TRIPLET_MIN_CLASSES = 120


def resolve_loss(loss, n_classes):
    """The name of the loss that trains on ``n_classes`` training classes.

    ``"auto"`` becomes ``"triplet"`` from ``AUTO_TRIPLET_MIN_CLASSES``
    classes on and ``"contrastive"`` below; another name stays as it is,
    and a loss object gives its class name.
    """
    if not isinstance(loss, str):
        return type(loss).__name__
    if loss != "auto":
        return loss
    return "triplet" if n_classes >= AUTO_TRIPLET_MIN_CLASSES else "contrastive"
