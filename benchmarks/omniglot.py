"""Omniglot: leave-2-alphabets-out cross-validation, 20-way 1-shot, equal time budgets.

Reads the reduced background sets (``images_background_small1.zip`` and
``images_background_small2.zip``: 8 alphabets, 242 characters, 20 drawings
each), downsampled to 28x28 and inverted (strokes = 1). The 8 alphabets,
sorted by name, make 4 folds: fold ``i`` holds out alphabets ``i`` and
``i + 4`` and trains on the other 6. Every trained row gets the same
wall-clock budget (``--budget`` seconds) per fold. Evaluation, the same code
for every row: 20-way 1-shot episodes within each held-out alphabet (Lake et
al.'s within-alphabet task): 20 characters, one support and one query
drawing each; a query takes the character of its nearest support (Euclidean
distance between embeddings). Per-fold and mean error, with a 95% interval
over all episodes, training seconds and epochs.

The "hand-written" row is plain PyTorch written here, calling nothing of the
package: conv-4 (4 blocks of 3x3 conv with 64 channels, batch norm, ReLU,
2x2 max-pool; then a linear layer to 64), the training characters plus their
90/180/270-degree rotations as new classes, batches of P=32 classes x K=4,
contrastive loss with margin 1 over all in-batch pairs on un-normalised
Euclidean distances, Adam with lr 1e-3, no augmentation, no validation.

    python benchmarks/omniglot.py --data ../shared/data/omniglot --budget 600
    python benchmarks/omniglot.py --data ../shared/data/omniglot --budget 120 --folds 0 1
    python benchmarks/omniglot.py --data DIR --quick
"""

import argparse
import os
import time

import numpy as np
import torch
from _common import add_write_docs_argument, docs_report, load_omniglot, machine_info, selected
from torch import nn

from sklearn_siamese import ConvEncoder, SiameseEmbedder, SiameseVerifier


# ------------------------------------------------------ hand-written baseline
def conv4(embedding_dim=64, size=28):
    blocks, channels = [], 1
    for _ in range(4):
        blocks += [nn.Conv2d(channels, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2)]
        channels = 64
    return nn.Sequential(*blocks, nn.Flatten(), nn.Linear(64 * (size // 16) ** 2, embedding_dim))


def contrastive(z, labels, margin=1.0):
    d = torch.cdist(z, z)
    same = labels[:, None] == labels[None, :]
    upper = torch.triu(torch.ones_like(same), diagonal=1)
    pos, neg = same & upper, ~same & upper
    return (d[pos] ** 2).mean() / 2 + (torch.relu(margin - d[neg]) ** 2).mean() / 2


class HandWritten:
    """Plain PyTorch training for ``budget`` seconds; ``transform`` embeds rows."""

    def __init__(self, budget, size, random_state=0, P=32, K=4):
        self.budget, self.size, self.random_state, self.P, self.K = budget, size, random_state, P, K

    def fit(self, X, y):
        start = time.perf_counter()
        torch.manual_seed(self.random_state)
        rng = np.random.default_rng(self.random_state)
        images = torch.from_numpy(X).reshape(-1, 1, self.size, self.size)
        codes = np.unique(y, return_inverse=True)[1]
        n_classes = codes.max() + 1
        images = torch.cat([torch.rot90(images, k, dims=(2, 3)) for k in range(4)])
        labels = np.concatenate([codes + k * n_classes for k in range(4)])
        members = [np.flatnonzero(labels == c) for c in range(4 * n_classes)]
        self.model = conv4(size=self.size)
        optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.model.train()
        self.steps_ = 0
        while self.steps_ == 0 or time.perf_counter() - start < self.budget:
            classes = rng.choice(len(members), min(self.P, len(members)), replace=False)
            idx = np.concatenate([rng.choice(members[c], self.K, replace=len(members[c]) < self.K) for c in classes])
            loss = contrastive(self.model(images[idx]), torch.from_numpy(labels[idx]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            self.steps_ += 1
        self.n_epochs_ = self.steps_ * self.P * self.K / len(images)
        return self

    def transform(self, X):
        self.model.eval()
        with torch.no_grad():
            images = torch.from_numpy(X).reshape(-1, 1, self.size, self.size)
            return torch.cat([self.model(images[i : i + 1024]) for i in range(0, len(images), 1024)]).numpy()


# ---------------------------------------------------------------- the rows
def models(size, budget, random_state):
    """Rows of the table: ``None`` is raw pixels, ``HandWritten``, or the package's estimators."""
    # The README image recipe: what a user writes for small grayscale images.
    recipe = dict(
        encoder=ConvEncoder(input_shape=(size, size), channels=(64, 64, 64, 64)),
        embedding_dim=64,
        batch_size=128,
        augmentation="affine",
        rotation_classes=True,
        max_epochs=10_000,
        max_time=budget,
        random_state=random_state,
    )
    half = dict(recipe, max_time=budget / 2)
    return {
        "raw pixels": None,
        "hand-written PyTorch (conv-4, contrastive, rotations)": HandWritten(budget, size, random_state),
        "SiameseEmbedder image recipe": SiameseEmbedder(**recipe),
        # The second target: the recipe in half the time.
        f"half budget: SiameseEmbedder image recipe, max_time={budget / 2:g}": SiameseEmbedder(**half),
        "ablation: SiameseEmbedder image recipe, instance_weight=0": SiameseEmbedder(**recipe, instance_weight=0.0),
        # No held-out classes, so no early stopping: every class trains for the whole budget.
        "no validation: SiameseEmbedder image recipe, validation_fraction=None": SiameseEmbedder(
            **recipe, validation_fraction=None
        ),
        # Same recipe; the verifier scores a query against each support with
        # its head (the probability of "same" from the embedding distance),
        # fitted by binary cross-entropy beside the contrastive term (its
        # default loss, head="auto").
        "SiameseVerifier image recipe": SiameseVerifier(**recipe),
    }


# -------------------------------------------------------------- evaluation
def episode_errors(E, y, n_way, n_episodes, rng, similarity=None):
    """Error of each ``n_way``-way 1-shot episode on embeddings ``E`` of one alphabet.

    A query takes the character of its most similar support: ``similarity``
    (the estimators' ``embedding_similarity``: the verifier's pair score, the
    embedder's negated distance) or, when ``None``, the negated squared
    Euclidean distance.
    """
    characters = np.unique(y)
    n_way = min(n_way, len(characters))
    errors = np.empty(n_episodes)
    for e in range(n_episodes):
        chosen = rng.choice(characters, n_way, replace=False)
        pairs = np.array([rng.choice(np.flatnonzero(y == c), 2, replace=False) for c in chosen])
        support, query = E[pairs[:, 0]], E[pairs[:, 1]]
        if similarity is None:
            scores = -((query[:, None, :] - support[None, :, :]) ** 2).sum(-1)
        else:
            scores = similarity(query, support)
        errors[e] = np.mean(scores.argmax(1) != np.arange(n_way))
    return errors


def make_folds(groups):
    """Alphabets sorted by name; fold ``i`` holds out alphabets ``i, i + k, ...`` for ``k = n // 2`` folds."""
    alphabets = sorted(set(groups))
    k = len(alphabets) // 2
    return [alphabets[i::k] for i in range(k)]


def interval(errors):
    return 1.96 * errors.std(ddof=1) / np.sqrt(len(errors))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "omniglot"))
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--budget", type=float, default=600, help="training seconds per row and fold")
    parser.add_argument("--n-way", type=int, default=20)
    parser.add_argument("--episodes", type=int, default=400, help="episodes per held-out alphabet")
    parser.add_argument("--folds", type=int, nargs="*", help="fold numbers to run (default: all)")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--models", dest="rows", nargs="*", help="name prefixes of the rows to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="2 s budget, 20 episodes, the first fold: a smoke test")
    add_write_docs_argument(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.budget, args.episodes, args.folds = min(args.budget, 2.0), 20, args.folds or [0]
    X, y, groups = load_omniglot(args.data, args.size)
    folds = make_folds(groups)
    fold_ids = args.folds if args.folds is not None else list(range(len(folds)))
    with docs_report("omniglot", "omniglot.py", argv, args.write_docs):
        print(f"# Omniglot, {args.n_way}-way 1-shot within held-out alphabets, leave-2-alphabets-out")
        print(f"machine: {machine_info()}")
        print(f"folds (held out): {[folds[i] for i in fold_ids]}; settings: {vars(args)}\n")
        print("| method | " + " | ".join(f"fold {i} error %" for i in fold_ids) + " | mean error % (95% CI) | train (s) | epochs |")
        print("|---|" + "---|" * (len(fold_ids) + 3))
        results = []
        for name in models(args.size, args.budget, args.random_state):
            if not selected(name, args.rows):
                continue
            fold_errors, seconds, epochs = [], [], []
            for i in fold_ids:
                model = models(args.size, args.budget, args.random_state)[name]
                held = np.isin(groups, folds[i])
                start = time.perf_counter()
                if model is not None:
                    model.fit(X[~held], y[~held])
                seconds.append(time.perf_counter() - start)
                epochs.append(getattr(model, "n_epochs_", 0))
                rng = np.random.default_rng([args.random_state, i])
                errors = []
                for alphabet in folds[i]:
                    rows = groups == alphabet
                    if model is None:
                        E = X[rows]
                    else:  # the verifier has no transform; the hand-written row has no embed
                        E = model.embed(X[rows]) if hasattr(model, "embed") else model.transform(X[rows])
                    similarity = getattr(model, "embedding_similarity", None)
                    errors.append(episode_errors(E, y[rows], args.n_way, args.episodes, rng, similarity))
                fold_errors.append(np.concatenate(errors))
            err = np.concatenate(fold_errors)
            cells = [f"{100 * e.mean():.1f}" for e in fold_errors]
            print(
                f"| {name} | " + " | ".join(cells) + f" | {100 * err.mean():.1f} (+-{100 * interval(err):.1f}) "
                f"| {np.mean(seconds):.0f} | {np.mean(epochs):.2g} |",
                flush=True,
            )
            results.append({"method": name, "error": float(err.mean()), "fold_errors": [float(e.mean()) for e in fold_errors],
                            "train_s": seconds, "epochs": epochs})
    return results


if __name__ == "__main__":
    main()
