"""Data-parallel training of a SiameseEmbedder with Hugging Face Accelerate.

Launch one process per device (here: 2 CPU processes, gloo backend)::

    OMP_NUM_THREADS=1 torchrun --nproc-per-node=2 --master-addr=127.0.0.1 \
        --master-port=29500 examples/data_parallel.py --out results/

Every process runs this same script on the same data. The accelerator wraps
the encoder in ``DistributedDataParallel``; each process draws its own P x K
batches and forms pairs inside its own batch (no gathering of embeddings);
gradients are averaged across processes after every backward pass, so all
processes hold the same weights. Each process writes ``rank<i>.npz`` to
``--out`` (weights, losses, what its loss saw, one-shot accuracy) so that
``tests/test_scaling.py`` can compare them.
"""

import argparse
import os

import numpy as np
import torch
from accelerate import Accelerator
from skorch.callbacks import Callback
from sklearn.datasets import load_digits

from sklearn_siamese import SiameseEmbedder
from sklearn_siamese.encoders import MLPEncoder
from sklearn_siamese.metrics import one_shot_accuracy


class RecordBatches(Callback):
    """Record, per training batch, how many embeddings the loss saw and their labels."""

    def initialize(self):
        self.rows, self.labels = [], []
        return self

    def on_batch_end(self, net, batch=None, training=None, y_pred=None, **kwargs):
        if training:
            self.rows.append(len(y_pred))
            self.labels.append(batch[1].numpy().copy())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for rank<i>.npz")
    parser.add_argument("--max-epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    seen = y < 6  # train on digits 0-5, evaluate one-shot on unseen 6-9

    accelerator = Accelerator(cpu=True)  # gloo on CPU; drop cpu=True for GPUs
    recorder = RecordBatches()
    emb = SiameseEmbedder(
        MLPEncoder(hidden_sizes=(32,)),
        embedding_dim=16,
        batch_size=args.batch_size,
        max_epochs=args.max_epochs,
        samples_per_epoch=512,  # short epochs, so the validation loss is seen falling over several
        validation_fraction=0.34,
        refit=False,  # the run whose validation loss every process records is the final one
        instance_weight=0.0,  # the pair loss alone: one row per sample in each batch
        n_iter_no_change=2,
        accelerator=accelerator,
        callbacks=[("record", recorder)],
        random_state=0,
    ).fit(X[seen], y[seen])

    acc = one_shot_accuracy(emb, X[~seen], y[~seen], n_way=4, n_episodes=300, random_state=0)
    record = dict(emb.net_.callbacks_)["record"]
    weights = torch.cat([p.detach().flatten() for p in emb.net_.module_.parameters()]).numpy()
    os.makedirs(args.out, exist_ok=True)
    np.savez(
        os.path.join(args.out, f"rank{accelerator.process_index}.npz"),
        world_size=accelerator.num_processes,
        weights=weights,
        train_loss=np.array(emb.history_[:, "train_loss"]),
        valid_loss=np.array(emb.history_[:, "valid_loss"]),
        rows=np.array(record.rows),
        labels=np.concatenate(record.labels),
        n_train=(~np.isin(y[seen], emb.validation_classes_)).sum(),
        one_shot_accuracy=acc,
    )
    accelerator.print(f"{accelerator.num_processes} processes, {emb.n_epochs_} epochs, one-shot 4-way accuracy {acc:.3f}")


if __name__ == "__main__":
    main()
