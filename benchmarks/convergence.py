"""Would a stopping rule on the training loss end the default fit early? (issue 40)

Trains ``SiameseEmbedder(precision=...)`` on the demo's task (digits 2-7,
70% of their samples, split per seed) for ``--max-epochs`` epochs, records
the training loss after every epoch and the unseen digits' 4-way 1-shot
accuracy every ``--every`` epochs, and reports the epoch at which
scikit-learn's rule for ``MLPClassifier`` without early stopping (stop once
the loss has not fallen by ``tol`` below its best for ``n_iter_no_change``
epochs) would have stopped, for each ``tol``.

    python benchmarks/convergence.py --threads 1 --seeds 0 1
    python benchmarks/convergence.py --max-epochs 2 --every 1 --episodes 20   # smoke run
"""

import argparse

import numpy as np
import torch
from _common import demo_task, machine_info, table
from skorch.callbacks import Callback

from sklearn_siamese import SiameseEmbedder
from sklearn_siamese.metrics import one_shot_accuracy

# The estimator each callback measures, by seed: not an attribute of the callback,
# which the estimator's parameters hold (fit copies them).
_MODELS = {}


class UnseenAccuracy(Callback):
    """Record the unseen classes' 1-shot accuracy in the history every ``every`` epochs."""

    def __init__(self, X, y, every, episodes, seed):
        self.X, self.y = X, y
        self.every, self.episodes, self.seed = every, episodes, seed

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) % self.every == 0:
            # net_ is set before training starts; transform leaves the module in train mode.
            accuracy = one_shot_accuracy(_MODELS[self.seed], self.X, self.y, n_way=4, k_shot=1,
                                         n_episodes=self.episodes, random_state=self.seed)
            net.history.record("unseen_1shot", accuracy)


def stopping_epoch(losses, tol, patience):
    """The epoch scikit-learn's MLP rule (``tol``, ``n_iter_no_change``) stops at, or None."""
    best, stale = np.inf, 0
    for epoch, loss in enumerate(losses, start=1):
        stale = stale + 1 if loss > best - tol else 0
        best = min(best, loss)
        if stale >= patience:
            return epoch
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--max-epochs", type=int, default=60)
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--precision", default="float32", choices=["float32", "auto", "bfloat16"])
    parser.add_argument("--tol", type=float, nargs="+", default=[1e-4, 1e-3])
    parser.add_argument("--n-iter-no-change", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {machine_info()}\n")
    histories = {}
    for seed in args.seeds:
        X_train, y_train, X_unseen, y_unseen = demo_task(seed)
        callback = UnseenAccuracy(X_unseen, y_unseen, args.every, args.episodes, seed)
        model = _MODELS[seed] = SiameseEmbedder(image_shape=(8, 8), precision=args.precision,
                                                max_epochs=args.max_epochs, random_state=seed, callbacks=[callback])
        model.fit(X_train, y_train)
        histories[seed] = model.history_
    header = ["epoch"] + [f"train loss (seed {s})" for s in args.seeds] + [f"unseen 1-shot (seed {s})" for s in args.seeds]
    rows = []
    for epoch in range(args.every, args.max_epochs + 1, args.every):
        rows.append([epoch] + [f"{histories[s][epoch - 1, 'train_loss']:.4f}" for s in args.seeds]
                    + [f"{histories[s][epoch - 1].get('unseen_1shot', float('nan')):.3f}" for s in args.seeds])
    print(table(header, rows))
    stops = {}
    for tol in args.tol:
        stops[tol] = [stopping_epoch(histories[s][:, "train_loss"], tol, args.n_iter_no_change) for s in args.seeds]
        print(f"\ntol={tol:g}, n_iter_no_change={args.n_iter_no_change}: stops at epoch "
              + ", ".join(f"{e if e else f'never (of {args.max_epochs})'} (seed {s})" for s, e in zip(args.seeds, stops[tol])))
    return histories, stops


if __name__ == "__main__":
    main()
