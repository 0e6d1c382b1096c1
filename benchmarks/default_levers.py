"""The levers of the default fit's time, measured on the demo's task (issue 40).

Digits 2-7 (70% of their samples, split per seed) train
``SiameseEmbedder(image_shape=(8, 8), precision="float32", ...)`` (``--precision``) with the
parameters of each row; the unseen digits 0, 1, 8, 9 answer 4-way 1-shot
episodes. Reports the mean unseen accuracy over ``--seeds`` (each seeds the
split, the model and the episodes) and the process's CPU seconds per fit,
which waits for a core shared with other jobs do not inflate. Rows named
``half views`` / ``quarter views`` make the instance term's second view of
that part of each batch (``_assembly.INSTANCE_FRACTION``).

    python benchmarks/default_levers.py --threads 1                 # every row, 3 seeds
    python benchmarks/default_levers.py --rows "previous" "(64, 128)$"
"""

import argparse
import time

import numpy as np
import torch
from _common import demo_task, machine_info, selected, table
from torch import nn

from sklearn_siamese import ConvEncoder, SiameseEmbedder, _assembly
from sklearn_siamese.encoders import _Reshape
from sklearn_siamese.metrics import one_shot_accuracy


def conv(channels):
    return dict(encoder=ConvEncoder(channels=channels), augmentation="affine")


class SeparableConvEncoder(ConvEncoder):
    """The default's two blocks with the second convolution depthwise-separable or grouped.

    ``groups=None``: a depthwise 3x3 convolution, batch norm and ReLU, then a
    1x1 convolution to the block's channels (MobileNet); an integer: one 3x3
    convolution in that many groups. Channels-last like the built-in encoders.
    """

    def __init__(self, input_shape=None, channels="auto", dropout=0.0, groups=None):
        super().__init__(input_shape, channels, dropout)
        self.groups = groups

    def _build(self, n_features, embedding_dim):
        first, second = self.channels
        if self.groups is None:
            mix = [nn.Conv2d(first, first, 3, padding=1, groups=first), nn.BatchNorm2d(first), nn.ReLU(),
                   nn.Conv2d(first, second, 1)]
        else:
            mix = [nn.Conv2d(first, second, 3, padding=1, groups=self.groups)]
        features = nn.Sequential(
            nn.Conv2d(1, first, 3, padding=1), nn.BatchNorm2d(first), nn.MaxPool2d(2), nn.ReLU(),
            *mix, nn.BatchNorm2d(second), nn.MaxPool2d(2), nn.ReLU(),
        )
        module = nn.Sequential(_Reshape((1, 8, 8)), features, nn.Flatten(), nn.Linear(second * 4, embedding_dim))
        return module.to(memory_format=torch.channels_last)


def separable(channels, groups=None):
    return dict(encoder=SeparableConvEncoder(channels=channels, groups=groups), augmentation="affine")


# name -> (parameters, fraction of the batch with a second view)
ROWS = {
    "previous default: (112, 224), instance_weight=0.5, 30 epochs": (conv((112, 224)), 1.0),
    "(64, 128)": (conv((64, 128)), 1.0),
    "(32, 64)": (conv((32, 64)), 1.0),
    "(112, 112)": (conv((112, 112)), 1.0),
    "(64, 128), batch_size=128": (dict(conv((64, 128)), batch_size=128), 1.0),
    "(64, 128), instance_weight=1.0": (dict(conv((64, 128)), instance_weight=1.0), 1.0),
    "(64, 128), instance_weight=2.0": (dict(conv((64, 128)), instance_weight=2.0), 1.0),
    "(48, 96), instance_weight=1.0": (dict(conv((48, 96)), instance_weight=1.0), 1.0),
    "(64, 128), instance_weight=1.0, 20 epochs": (dict(conv((64, 128)), instance_weight=1.0, max_epochs=20), 1.0),
    "(64, 128), instance_weight=1.0, half views": (dict(conv((64, 128)), instance_weight=1.0), 0.5),
    "(64, 128), instance_weight=1.0, half views, 20 epochs": (dict(conv((64, 128)), instance_weight=1.0, max_epochs=20), 0.5),
    "(64, 128), instance_weight=0.5, half views": (conv((64, 128)), 0.5),
    "(64, 128), instance_weight=1.0, quarter views": (dict(conv((64, 128)), instance_weight=1.0), 0.25),
    "(112, 224), 15 epochs": (dict(conv((112, 224)), max_epochs=15), 1.0),
    "(112, 224), 10 epochs": (dict(conv((112, 224)), max_epochs=10), 1.0),
    "(112, 224), 10 epochs, lr=3e-3": (dict(conv((112, 224)), max_epochs=10, lr=3e-3), 1.0),
    "(112, 224), 10 epochs, instance_weight=1.0": (dict(conv((112, 224)), max_epochs=10, instance_weight=1.0), 1.0),
    "(112, 224), instance_weight=0": (dict(conv((112, 224)), instance_weight=0.0), 1.0),
    "(64, 128), cosine": (dict(conv((64, 128)), lr_schedule="cosine"), 1.0),
    "(64, 128), cosine, 20 epochs": (dict(conv((64, 128)), lr_schedule="cosine", max_epochs=20), 1.0),
    "(64, 128), cosine, 15 epochs": (dict(conv((64, 128)), lr_schedule="cosine", max_epochs=15), 1.0),
    "(64, 128), cosine, 15 epochs, lr=2e-3": (dict(conv((64, 128)), lr_schedule="cosine", max_epochs=15, lr=2e-3), 1.0),
    "(64, 128), cosine, 10 epochs": (dict(conv((64, 128)), lr_schedule="cosine", max_epochs=10), 1.0),
    "(64, 128), cosine, 10 epochs, lr=3e-3": (dict(conv((64, 128)), lr_schedule="cosine", max_epochs=10, lr=3e-3), 1.0),
    "(64, 128), depthwise-separable second block": (separable((64, 128)), 1.0),
    "(64, 256), depthwise-separable second block": (separable((64, 256)), 1.0),
    "(64, 128), second block in 4 groups": (separable((64, 128), groups=4), 1.0),
    "SiameseEmbedder() today": ({}, None),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--precision", default="float32", choices=["float32", "auto", "bfloat16"])
    parser.add_argument("--max-epochs", type=int, default=None, help="override every row's epochs (smoke runs)")
    parser.add_argument("--rows", nargs="*", help="name prefixes of the rows to run; end one with $ for an exact name")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {machine_info()}\n")
    rows, results = [], {}
    default_fraction = _assembly.INSTANCE_FRACTION
    for name, (params, fraction) in ROWS.items():
        if not selected(name, args.rows):
            continue
        _assembly.INSTANCE_FRACTION = default_fraction if fraction is None else fraction
        accuracies, cpu = [], []
        for seed in args.seeds:
            X_train, y_train, X_unseen, y_unseen = demo_task(seed)
            extra = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
            model = SiameseEmbedder(image_shape=(8, 8), precision=args.precision, random_state=seed, **{**params, **extra})
            start = time.process_time()
            model.fit(X_train, y_train)
            cpu.append(time.process_time() - start)
            accuracies.append(one_shot_accuracy(model, X_unseen, y_unseen, n_way=4, k_shot=1,
                                                n_episodes=args.episodes, random_state=seed))
        _assembly.INSTANCE_FRACTION = default_fraction
        results[name] = (float(np.mean(accuracies)), float(np.mean(cpu)))
        rows.append([name, f"{np.mean(accuracies):.3f} ({' '.join(f'{a:.3f}' for a in accuracies)})", f"{np.mean(cpu):.1f}"])
        print(f"  {rows[-1]}", flush=True)
    print()
    print(table(["configuration", "unseen 4-way 1-shot, mean (per seed)", "CPU s per fit"], rows))
    return results


if __name__ == "__main__":
    main()
