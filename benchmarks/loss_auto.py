"""Which loss wins as the number of training classes grows: the evidence for ``loss="auto"`` (issue 39).

Omniglot (the reduced background sets, 28x28, leave-2-alphabets-out fold
``--folds``) trains on a random subset of ``--characters`` characters of
the 6 training alphabets (every drawing of each; with rotation classes each
character is 4 training classes) for ``--budget`` seconds, and is scored by
20-way 1-shot episodes within the held-out alphabets (``omniglot.py``'s
evaluation). Digits (6 training classes, 4-way 1-shot on the unseen 0, 1,
8, 9) is the other end of the range. The candidates are the choices
``loss="auto"`` picks between:

- ``contrastive``: the contrastive loss on unit-length embeddings with the
  instance term (the default for few classes);
- ``triplet``: batch-all triplet on un-normalised embeddings with the
  instance term;
- ``triplet, plain``: batch-all triplet on un-normalised embeddings without
  the instance term (the hand-written loop's loss), and the same without
  the affine distortions (the hand-written loop);
- ``normface``: NormFace (a weight vector per class, softmax over cosines)
  on unit-length embeddings without the instance term, a loss the candidates
  could grow to;
- ``proxy_anchor``: Proxy-Anchor on unit-length embeddings with the
  instance term (the contrastive default's companions);
- ``auto``: what ``loss="auto"`` chooses (the same fit as one of the above).

    python benchmarks/loss_auto.py --characters 15 30 60 180 --folds 0 --threads 1   # and --folds 2, beside it
    python benchmarks/loss_auto.py --digits --threads 1
"""

import argparse
import os
import time

import numpy as np
import torch
from _common import demo_task, load_omniglot, machine_info, selected
from omniglot import episode_errors, make_folds, recipe_params

from sklearn_siamese import SiameseEmbedder
from sklearn_siamese.metrics import one_shot_accuracy

CANDIDATES = {
    "contrastive": dict(loss="contrastive", normalize=True, instance_weight=0.5),
    "triplet": dict(loss="triplet", normalize=False, instance_weight=0.5),
    "triplet, plain": dict(loss="triplet", normalize=False, instance_weight=0.0),
    "triplet, plain, augmentation=None": dict(loss="triplet", normalize=False, instance_weight=0.0, augmentation=None),
    # A class-weight loss of face recognition (cosine softmax), without the instance term.
    "normface": dict(loss="normface", normalize=True, instance_weight=0.0),
    # Proxy-Anchor with the contrastive default's companions (unit length,
    # instance term 0.5): the loss that wins on the Yale faces' 10 people.
    "proxy_anchor": dict(loss="proxy_anchor", normalize=True, instance_weight=0.5),
    "auto": dict(loss="auto", normalize="auto", instance_weight="auto"),
}


def omniglot_error(X, y, groups, fold, n_characters, params, budget, seed, episodes):
    folds = make_folds(groups)
    held = np.isin(groups, folds[fold])
    rng = np.random.default_rng([seed, fold, n_characters])
    train_chars = np.unique(y[~held])
    chosen = rng.choice(train_chars, min(n_characters, len(train_chars)), replace=False)
    train = np.isin(y, chosen)
    # margin=1.0: the estimator's default, which loss="auto" trains with (the
    # Omniglot recipe sets 0.2 for its triplet loss).
    est = SiameseEmbedder(**{**recipe_params(28, budget, seed), "precision": "float32", "margin": 1.0, **params})
    est.fit(X[train], y[train])
    errors = []
    for alphabet in folds[fold]:
        rows = groups == alphabet
        E = est.transform(X[rows])
        errors.append(episode_errors(E, y[rows], 20, episodes, np.random.default_rng([seed, fold])))
    return 100 * np.concatenate(errors).mean(), est


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "omniglot"))
    parser.add_argument("--characters", type=int, nargs="*", default=[15, 30, 60, 180])
    parser.add_argument("--folds", type=int, nargs="+", default=[0])
    parser.add_argument("--budget", type=float, default=120)
    parser.add_argument("--episodes", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--digits", action="store_true", help="the digits rows (6 training classes) instead")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="digits: splits and models")
    parser.add_argument("--candidates", nargs="*", help="name prefixes of the candidates (default: all)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--max-epochs", type=int, default=None, help="digits: fewer epochs (smoke runs)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {machine_info()}; settings: {vars(args)}\n")
    names = [n for n in CANDIDATES if selected(n, args.candidates)]
    if args.digits:
        print("| digits (6 classes) | " + " | ".join(f"seed {s}" for s in args.seeds) + " | mean unseen 4-way 1-shot | fit s |")
        print("|---|" + "---|" * (len(args.seeds) + 2))
        results = []
        epochs = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
        for name in names:
            accs, secs = [], []
            for seed in args.seeds:
                X_train, y_train, X_unseen, y_unseen = demo_task(seed)
                start = time.process_time()
                params = {**CANDIDATES[name], **epochs}
                est = SiameseEmbedder(image_shape=(8, 8), precision="float32", random_state=seed, **params)
                est.fit(X_train, y_train)
                secs.append(time.process_time() - start)
                accs.append(one_shot_accuracy(est, X_unseen, y_unseen, n_way=4, n_episodes=1000, random_state=seed))
            label = f"{name} ({est.loss_})" if name == "auto" else name
            print(f"| {label} | " + " | ".join(f"{a:.3f}" for a in accs) + f" | {np.mean(accs):.3f} | {np.mean(secs):.0f} |", flush=True)
            results.append({"candidate": label, "accuracy": accs})
        return results
    X, y, groups = load_omniglot(args.data, 28)
    print("| characters (classes with rotations) | candidate | " + " | ".join(f"fold {f} error %" for f in args.folds) + " | mean | epochs |")
    print("|---|---|" + "---|" * (len(args.folds) + 2))
    results = []
    for n_characters in args.characters:
        for name in names:
            errors, epochs, chosen = [], [], ""
            for fold in args.folds:
                error, est = omniglot_error(
                    X, y, groups, fold, n_characters, CANDIDATES[name], args.budget, args.seed, args.episodes
                )
                errors.append(error)
                epochs.append(est.n_epochs_)
                if name == "auto":
                    chosen = f" ({est.loss_})"
            print(
                f"| {n_characters} ({4 * n_characters}) | {name}{chosen} | " + " | ".join(f"{e:.1f}" for e in errors)
                + f" | {np.mean(errors):.1f} | {' / '.join(map(str, epochs))} |",
                flush=True,
            )
            results.append({"characters": n_characters, "candidate": name + chosen, "error": errors})
    return results


if __name__ == "__main__":
    main()
