"""Which rows train the network, which validate it, which calibrate the verifier."""

import numpy as np

# validation_fraction="auto": hold out this fraction of the classes, but only
# when at least MIN_TRAINING_CLASSES classes remain for training.
AUTO_VALIDATION_FRACTION = 0.2
MIN_TRAINING_CLASSES = 8


def split_validation_classes(y_codes, validation_fraction, rng):
    """Hold out whole classes for validation (the real use is unseen classes).

    ``validation_fraction="auto"`` holds out 20% of the classes only when
    there is enough data: at least ``MIN_TRAINING_CLASSES`` classes remain
    for training (with fewer, every class is worth more for training than
    for early stopping; see README, "Defaults and the evidence behind
    them"). A number is used whenever at least 2 classes with 2+ samples can
    be held out and 2 classes remain. Returns ``(train_idx, valid_idx)``.
    """
    all_idx = np.arange(len(y_codes))
    if not validation_fraction:
        return all_idx, all_idx[:0]
    auto = validation_fraction == "auto"
    fraction = AUTO_VALIDATION_FRACTION if auto else validation_fraction
    min_training = MIN_TRAINING_CLASSES if auto else 2
    counts = np.bincount(y_codes)
    paired = np.flatnonzero(counts >= 2)
    n_valid = max(2, int(round(fraction * len(counts))))
    if len(paired) < n_valid + 1 or len(counts) - n_valid < min_training:
        return all_idx, all_idx[:0]
    valid_classes = rng.choice(paired, size=n_valid, replace=False)
    is_valid = np.isin(y_codes, valid_classes)
    return all_idx[~is_valid], all_idx[is_valid]


def choose_references(y_codes, cap, rng):
    """Rows kept as the verifier's references: at most ``cap`` of each class (None: all)."""
    chosen = []
    for c in np.unique(y_codes):
        members = np.flatnonzero(y_codes == c)
        if cap is not None and len(members) > cap:
            members = np.sort(rng.choice(members, size=cap, replace=False))
        chosen.append(members)
    return np.concatenate(chosen)
