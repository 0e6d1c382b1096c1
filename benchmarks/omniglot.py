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

The "hand-written" rows are plain PyTorch written here, calling nothing of
the package, one per loss a skeptic would try: conv-4 (4 blocks of 3x3 conv
with 64 channels, batch norm, ReLU, 2x2 max-pool; then a linear layer to
64), the training characters plus their 90/180/270-degree rotations as new
classes, batches of P=32 classes x K=4, Adam with lr 1e-3, no augmentation,
no validation; the loss on un-normalised Euclidean distances is contrastive
(margin 1) with one mean over all off-diagonal pairs, contrastive with the
positive and negative pairs averaged separately, batch-all triplet (margin
1), or prototypical (Snell et al. 2017). One more triplet row is that
loop's strongest configuration: 64-d embeddings not normalised, margin
0.2, the mean over the active triplets, float32. The classic rows of
``_classic.py`` (Fisherfaces, NCA on PCA, HOG, LBP) need no training
budget. The rows alternate within each fold, and the script names the
strongest baseline (raw pixels, classic or hand-written) and each package
row's margin over it, in points of mean error. The documented recipe runs
twice: at ``precision="auto"`` (bfloat16 where the CPU has bfloat16 units)
and at ``precision="float32"``, as the hand-written loops train. The
recipe leaves ``loss``, ``normalize`` and ``instance_weight`` at
``"auto"``: with Omniglot's hundreds of training classes that is the
batch-all triplet loss on un-normalised embeddings without the instance
term. The ``loss:`` rows change the recipe's loss and ``normalize`` one at a
time (``loss='contrastive'`` is the recipe before ``loss="auto"``);
the ``plain:`` rows build the triplet loop from the estimator's parameters
(no augmentation, no instance term, un-normalised), which tells the
package's training loop from its choices.
The recipe anneals the learning rate to zero along a half cosine over the
time budget (``lr_schedule="cosine"``); the ``schedule:`` rows are the
recipe at a constant rate, as it was before. The hand-written rows with
"cosine" do the same in their own loop (``lr = 1e-3 * (1 + cos(pi * t /
budget)) / 2`` before every step), the obvious variant a skeptic tries.

    python benchmarks/omniglot.py --data ../shared/data/omniglot --budget 600
    python benchmarks/omniglot.py --data ../shared/data/omniglot --budget 120 --folds 0 1
    python benchmarks/omniglot.py --data DIR --quick
"""

import argparse
import math
import os
import sys
import time

import numpy as np
import torch
from _classic import classic_methods, is_classic, margin_lines
from _common import ROWS_HELP, add_write_docs_argument, docs_report, load_omniglot, machine_info, selected
from torch import nn

from sklearn_siamese import ConvEncoder, SiameseEmbedder, SiameseVerifier
from sklearn_siamese.losses import CLASS_WEIGHT_LOSSES


# ------------------------------------------------------ hand-written baseline
def conv4(embedding_dim=64, size=28):
    blocks, channels = [], 1
    for _ in range(4):
        blocks += [nn.Conv2d(channels, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2)]
        channels = 64
    return nn.Sequential(*blocks, nn.Flatten(), nn.Linear(64 * (size // 16) ** 2, embedding_dim))


# The losses a skeptic writes by hand, each the simplest version of a known
# method, on un-normalised embeddings of a P x K batch.
def contrastive_one_mean(z, labels, margin=1.0):
    """Hadsell et al. 2006, one mean over all off-diagonal pairs of the batch."""
    d = torch.cdist(z, z)
    same = (labels[:, None] == labels[None, :]).float()
    off = 1 - torch.eye(len(z))
    per_pair = same * d**2 + (1 - same) * torch.relu(margin - d) ** 2
    return (per_pair * off).sum() / off.sum()


def contrastive_balanced(z, labels, margin=1.0):
    """The same pairs, the positive and the negative pairs averaged separately and added."""
    d = torch.cdist(z, z)
    same = labels[:, None] == labels[None, :]
    upper = torch.triu(torch.ones_like(same), diagonal=1)
    pos, neg = same & upper, ~same & upper
    return (d[pos] ** 2).mean() / 2 + (torch.relu(margin - d[neg]) ** 2).mean() / 2


def triplet_batch_all(z, labels, margin=1.0):
    """Batch-all triplet loss (Hermans et al. 2017): the mean over the triplets that violate the margin."""
    d = torch.cdist(z, z)
    same = labels[:, None] == labels[None, :]
    positive = same & ~torch.eye(len(z), dtype=torch.bool)
    valid = positive[:, :, None] & ~same[:, None, :]  # (anchor, positive, negative)
    losses = torch.relu(d[:, :, None] - d[:, None, :] + margin)[valid]
    active = losses > 1e-12
    return losses[active].mean() if active.any() else losses.sum()


def prototypical(z, labels):
    """Prototypical networks (Snell et al. 2017): half of each class's K samples make its prototype,
    the other half are queries, classified by softmax over negative squared distances."""
    classes, codes = torch.unique(labels, return_inverse=True)
    order = torch.argsort(codes, stable=True)
    z, codes = z[order], codes[order]
    k = len(z) // len(classes)
    per_class = z.reshape(len(classes), k, -1)
    prototypes = per_class[:, : k // 2].mean(1)
    queries = per_class[:, k // 2 :].reshape(-1, z.shape[1])
    targets = torch.arange(len(classes)).repeat_interleave(k - k // 2)
    return nn.functional.cross_entropy(-torch.cdist(queries, prototypes) ** 2, targets)


BASELINE_LOSSES = {
    "contrastive, one mean": contrastive_one_mean,
    "contrastive, balanced means": contrastive_balanced,
    "batch-all triplet": triplet_batch_all,
    "prototypical": prototypical,
}


class HandWritten:
    """Plain PyTorch training for ``budget`` seconds; ``transform`` embeds rows.

    ``loss`` names one of ``BASELINE_LOSSES``; ``margin`` is its margin (the
    prototypical loss has none); ``cosine`` anneals the learning rate to
    zero over the budget. Weights and images are float32.
    """

    def __init__(self, budget, size, random_state=0, P=32, K=4, loss="contrastive, one mean", margin=1.0, cosine=False):
        self.budget, self.size, self.random_state, self.P, self.K, self.loss = budget, size, random_state, P, K, loss
        self.margin, self.cosine = margin, cosine

    def fit(self, X, y):
        start = time.perf_counter()
        torch.manual_seed(self.random_state)
        rng = np.random.default_rng(self.random_state)
        images = torch.from_numpy(np.asarray(X, dtype=np.float32)).reshape(-1, 1, self.size, self.size)
        codes = np.unique(y, return_inverse=True)[1]
        n_classes = codes.max() + 1
        images = torch.cat([torch.rot90(images, k, dims=(2, 3)) for k in range(4)])
        labels = np.concatenate([codes + k * n_classes for k in range(4)])
        members = [np.flatnonzero(labels == c) for c in range(4 * n_classes)]
        self.model = conv4(size=self.size)
        lr = 1e-3
        optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        loss_fn = BASELINE_LOSSES[self.loss]
        options = {} if self.loss == "prototypical" else {"margin": self.margin}
        self.model.train()
        self.steps_ = 0
        while self.steps_ == 0 or time.perf_counter() - start < self.budget:
            if self.cosine:  # anneal to zero over the budget
                spent = min(1.0, (time.perf_counter() - start) / self.budget)
                for group in optimizer.param_groups:
                    group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * spent))
            classes = rng.choice(len(members), min(self.P, len(members)), replace=False)
            idx = np.concatenate([rng.choice(members[c], self.K, replace=len(members[c]) < self.K) for c in classes])
            loss = loss_fn(self.model(images[idx]), torch.from_numpy(labels[idx]), **options)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            self.steps_ += 1
        self.n_epochs_ = self.steps_ * self.P * self.K / len(images)
        return self

    def transform(self, X):
        self.model.eval()
        with torch.no_grad():
            images = torch.from_numpy(np.asarray(X, dtype=np.float32)).reshape(-1, 1, self.size, self.size)
            return torch.cat([self.model(images[i : i + 1024]) for i in range(0, len(images), 1024)]).numpy()


# ---------------------------------------------------------------- the rows
def recipe_params(size, budget, random_state):
    """The documented image recipe's parameters: what a user writes for small grayscale images."""
    return dict(
        encoder=ConvEncoder(input_shape=(size, size), channels=(64, 64, 64, 64)),
        embedding_dim=64,
        batch_size=128,
        augmentation="affine",
        rotation_classes=True,
        max_epochs=10_000,
        max_time=budget,
        lr_schedule="cosine",  # the rate falls to zero over the budget
        margin=0.2,  # the triplet loss that loss="auto" chooses, on un-normalised embeddings
        random_state=random_state,
    )


def models(size, budget, random_state, quick=False):
    """Rows of the table: ``None`` is raw pixels, a classic transformer, ``HandWritten``, or the package's estimators.

    ``quick`` cuts NCA's iterations (a smoke run).
    """
    recipe = recipe_params(size, budget, random_state)
    half = dict(recipe, max_time=budget / 2)
    recipe_constant = dict(recipe, lr_schedule="constant")
    # Rows that train another loss take the default margin: 0.2 is the recipe's
    # triplet margin, and a face loss's margin scales the paper's.
    recipe_margin_1 = dict(recipe, margin=1.0)
    # The hand-written triplet loop's settings: no augmentation, no instance term.
    loop = dict(recipe, augmentation=None, loss="triplet", instance_weight=0.0, lr_schedule="constant")
    return {
        "raw pixels": None,
        # Fisherfaces, NCA on PCA, HOG, LBP: no training budget.
        **classic_methods((size, size), random_state, quick),
        **{
            f"hand-written PyTorch (conv-4, rotations): {loss}": HandWritten(budget, size, random_state, loss=loss)
            for loss in BASELINE_LOSSES
        },
        # The triplet loop's strongest configuration (issue 39): 64-d, not
        # normalised, margin 0.2, mean over the active triplets, float32.
        "hand-written PyTorch (conv-4, rotations): batch-all triplet, margin 0.2": HandWritten(
            budget, size, random_state, loss="batch-all triplet", margin=0.2
        ),
        "hand-written PyTorch (conv-4, rotations): batch-all triplet, cosine": HandWritten(
            budget, size, random_state, loss="batch-all triplet", cosine=True
        ),
        # The bar with the recipe's schedule: annealed to zero over the budget.
        "hand-written PyTorch (conv-4, rotations): batch-all triplet, margin 0.2, cosine": HandWritten(
            budget, size, random_state, loss="batch-all triplet", margin=0.2, cosine=True
        ),
        "SiameseEmbedder image recipe": SiameseEmbedder(**recipe),
        # The same in float32, as the hand-written loops train (precision="auto"
        # trains in bfloat16 where the CPU has bfloat16 units).
        "SiameseEmbedder image recipe, precision='float32'": SiameseEmbedder(**recipe, precision="float32"),
        # The second target: the recipe in half the time.
        f"half budget: SiameseEmbedder image recipe, max_time={budget / 2:g}": SiameseEmbedder(**half),
        # loss="auto" trains Omniglot's hundreds of classes with the batch-all
        # triplet loss, un-normalised, without the instance term: the term back.
        "ablation: SiameseEmbedder image recipe, instance_weight=0.5": SiameseEmbedder(**recipe, instance_weight=0.5),
        # What each part of the recipe costs or brings, loss by loss: the
        # triplet loss is batch all (mining="all"); normalize=False leaves the
        # embeddings un-normalised, as the hand-written loops do.
        # The recipe before loss="auto": contrastive, unit length, instance term 0.5,
        # margin 1.0 (the default; the recipe's 0.2 is for its triplet loss).
        "loss: recipe with loss='contrastive' (the recipe before loss='auto')": SiameseEmbedder(**recipe_margin_1, loss="contrastive"),
        "loss: recipe with loss='triplet', normalize=True": SiameseEmbedder(**recipe, loss="triplet"),
        "loss: recipe with loss='triplet', normalize=False": SiameseEmbedder(**recipe, loss="triplet", normalize=False),
        "loss: recipe with loss='triplet', instance_weight=0": SiameseEmbedder(**recipe, loss="triplet", instance_weight=0.0),
        "loss: recipe with loss='contrastive', normalize=False": SiameseEmbedder(**recipe_margin_1, loss="contrastive", normalize=False),
        # The losses of face recognition (a weight vector per training class,
        # cosine logits; issue 39), on unit-length embeddings and, like the
        # recipe's triplet loss, without the instance term; margin=1.0 keeps
        # each paper's own margin.
        **{
            f"loss: recipe with loss='{name}', instance_weight=0": SiameseEmbedder(
                **recipe_margin_1, loss=name, instance_weight=0.0
            )
            for name in CLASS_WEIGHT_LOSSES
        },
        # The triplet loss's margin: the recipe's 0.2 (where the hand-written
        # loop is strongest too) against 0.5 and the default 1.0, the recipe's
        # margin before.
        **{
            f"margin: recipe with margin={margin}": SiameseEmbedder(**dict(recipe, margin=margin))
            for margin in (0.5, 1.0)
        },
        # The recipe before it annealed the learning rate over the budget.
        "schedule: recipe with lr_schedule='constant'": SiameseEmbedder(**recipe_constant),
        "schedule: recipe with lr_schedule='constant', precision='float32'": SiameseEmbedder(
            **recipe_constant, precision="float32"
        ),
        # The hand-written triplet loop, built from the package's parameters.
        "plain: SiameseEmbedder as the triplet loop (loss='triplet', normalize=False, instance_weight=0, augmentation=None)":
            SiameseEmbedder(**loop, normalize=False),
        "plain: the same with normalize=True": SiameseEmbedder(**loop),
        # 20% of the characters held out: early stopping chooses the epochs, then
        # every class trains that many in what is left of the budget (refit=True).
        "refit: SiameseEmbedder image recipe, validation_fraction='auto'": SiameseEmbedder(
            **recipe, validation_fraction="auto"
        ),
        # The first run's model: the held-out characters never train.
        "early stopping only: SiameseEmbedder image recipe, validation_fraction='auto', refit=False": SiameseEmbedder(
            **recipe, validation_fraction="auto", refit=False
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


def is_baseline(name):
    """Raw pixels, the classic rows and the hand-written loops: what the package's rows are measured against."""
    return is_classic(name) or name.startswith("hand-written")


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
    parser.add_argument("--models", dest="rows", nargs="*", help=ROWS_HELP)
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
        names = [name for name in models(args.size, args.budget, args.random_state, args.quick) if selected(name, args.rows)]
        runs = {name: {"errors": [], "seconds": [], "epochs": []} for name in names}
        # Rows alternate within each fold, so a slower or busier stretch of the
        # machine falls on every row alike.
        for i in fold_ids:
            held = np.isin(groups, folds[i])
            for name in names:
                model = models(args.size, args.budget, args.random_state, args.quick)[name]
                start = time.perf_counter()
                if model is not None:
                    model.fit(X[~held], y[~held])
                runs[name]["seconds"].append(time.perf_counter() - start)
                runs[name]["epochs"].append(getattr(model, "n_epochs_", 0))
                rng = np.random.default_rng([args.random_state, i])
                errors = []
                for alphabet in folds[i]:
                    rows = groups == alphabet
                    if model is None:
                        E = X[rows]
                    else:  # the verifier has no transform; the hand-written rows have no embed
                        E = model.embed(X[rows]) if hasattr(model, "embed") else model.transform(X[rows])
                    similarity = getattr(model, "embedding_similarity", None)
                    errors.append(episode_errors(E, y[rows], args.n_way, args.episodes, rng, similarity))
                runs[name]["errors"].append(np.concatenate(errors))
                # Progress on stderr (the table prints at the end): a long run
                # that is cut short still leaves its finished folds.
                print(f"fold {i} | {name} | error {100 * runs[name]['errors'][-1].mean():.1f}% | "
                      f"{runs[name]['seconds'][-1]:.0f} s | {runs[name]['epochs'][-1]:.3g} epochs", file=sys.stderr, flush=True)
        results = []
        for name, run in runs.items():
            fold_errors, seconds, epochs = run["errors"], run["seconds"], run["epochs"]
            err = np.concatenate(fold_errors)
            cells = [f"{100 * e.mean():.1f}" for e in fold_errors]
            print(
                f"| {name} | " + " | ".join(cells) + f" | {100 * err.mean():.1f} (+-{100 * interval(err):.1f}) "
                f"| {np.mean(seconds):.0f} | {np.mean(epochs):.2g} |",
                flush=True,
            )
            results.append({"method": name, "error": float(err.mean()), "fold_errors": [float(e.mean()) for e in fold_errors],
                            "train_s": seconds, "epochs": epochs})
        print()
        print("\n".join(margin_lines({r["method"]: r for r in results}, [("error", "mean error", True)], is_baseline)))
    return results


if __name__ == "__main__":
    main()
