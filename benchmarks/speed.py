"""Speed of sklearn-siamese against plain PyTorch, measured side by side.

Run from the repository root::

    python benchmarks/speed.py                 # full run, a few minutes
    python benchmarks/speed.py --quick         # smoke run, well under a minute
    python benchmarks/speed.py --threads 1 --data /usr/share/datasets/fashion-mnist

Every figure is a ratio of two things timed in the same process, in
alternating order, and the median over repeats is reported: single timings
on a shared machine are too noisy to compare across runs.

1. Training overhead: ``SiameseEmbedder.fit`` (skorch, float32) against
   a loop written by hand with no code from the package: its own numpy
   P x K sampler, contrastive loss over all in-batch pairs, encoder and
   Adam, the same batch size and number of steps. Then training precision:
   images/s of fit in float32 and bfloat16 against the hand-written loop
   in float32 and with bfloat16 autocast + channels_last, and the time to
   reach a held-out 1-NN accuracy.
2. Comparisons per second: pairs or triplets entering the loss per second
   for each mining mode, against ``mining="random_pairs"`` at the same batch
   size.
3. Inference: ``transform`` against a bare ``torch.no_grad()`` forward of
   the fitted module on the same tensor, in the same chunks.
4. Peak memory of ``fit`` and ``transform`` on 60,000 28x28 images, in a
   fresh subprocess, as copies of X.
5. Growth: time per epoch of ``fit`` and time of ``transform`` at several n.
6. Pretrained backbone (``--backbone``, only this section): fit time per
   image of a ResNet-18 (``BackboneEncoder``) on 112x112 colour images, all
   of it or the head alone trainable, in float32 and bfloat16, against the
   same torchvision model trained by a hand-written loop. Needs the extra
   ``backbones``; the weights are random (``weights=None``: no download),
   which does not change the time.
7. The default fit (``--defaults``, only this section): wall time and
   unseen-class 1-shot accuracy of ``SiameseEmbedder()`` with no arguments
   on digits, MNIST-5k and Yale faces, at ``precision="float32"`` and
   ``"auto"``, beside the previous release's defaults (``PREVIOUS_DEFAULTS``,
   spelled out as parameters), fitted alternately in the same run.

The data is Fashion-MNIST (Debian package ``dataset-fashion-mnist``) when
found at ``--data``, random pixels of the same shape otherwise.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from _common import FASHION_DIR, add_write_docs_argument, alternate, docs_report, load_fashion, machine_info, table
from skorch.callbacks import Callback
from torch import nn

from sklearn_siamese import ConvEncoder, MLPEncoder, SiameseEmbedder
from sklearn_siamese.mining import mine_pairs, mine_triplets
from sklearn_siamese.sampling import PKSampler, RandomPairSampler, RandomTripletSampler

SEED = 0

# Each setting as (full run, --quick); --quick only checks that the script works.
SETTINGS = {
    "repeats": (5, 2),
    "overhead_n": ({"mlp": 10000, "conv": 2560}, {"mlp": 640, "conv": 256}),
    "overhead_epochs": ({"mlp": 10, "conv": 1}, {"mlp": 1, "conv": 1}),
    "tta_n": (2000, 256),
    "tta_epochs": (3, 1),
    "tta_target": (0.70, 0.0),
    "mining_n": (6400, 256),
    "inference_n": ({"mlp": 20000, "conv": 4096}, {"mlp": 1000, "conv": 128}),
    "memory_n": (60000, 30000),
    "growth_n": ((1000, 10000, 60000), (200, 400, 800)),
    "growth_epochs": (2, 1),
    "backbone_n": (256, 32),
    # Side of the colour images of the backbone section; --quick keeps ResNet-18
    # cheap where bfloat16 is emulated (CPUs without bfloat16 units).
    "backbone_side": (112, 32),
}
FULL = {name: full for name, (full, _) in SETTINGS.items()}
QUICK = {name: quick for name, (_, quick) in SETTINGS.items()}
BATCH_SIZE = 64
SAMPLES_PER_CLASS = 4
# Batch of the training-speed sections (overhead, precision, time to accuracy, backbone).
TRAIN_BATCH = 128


# ----------------------------------------------------------------------- data
def load_data(path, n):
    """First ``n`` Fashion-MNIST training images as float32 in [0, 1], and labels.

    Falls back to random pixels and 10 random classes when the files are missing.
    """
    images = Path(path) / "train-images-idx3-ubyte.gz"
    labels = Path(path) / "train-labels-idx1-ubyte.gz"
    if images.exists() and labels.exists():
        X, y = load_fashion(path)
        # A copy, so the rows not used do not stay alive behind a view.
        X, y = X[:n].copy(), y[:n]
        source = f"Fashion-MNIST ({images.parent})"
    else:
        rng = np.random.default_rng(SEED)
        X = rng.random((n, 784), dtype=np.float32)
        y = rng.integers(0, 10, n)
        source = "random pixels (Fashion-MNIST not found)"
    if len(X) < n:  # fewer images than asked for: tile them
        reps = int(np.ceil(n / len(X)))
        X, y = np.tile(X, (reps, 1))[:n], np.tile(y, reps)[:n]
    return X, y, source


# ------------------------------------------------------ 1. training overhead
def _training_embedder(name, n, epochs, precision):
    """The estimator of the training sections: the plain loop's batch and exactly its steps.

    ``samples_per_epoch=n``: by default an epoch is at least 4,096 samples,
    which on small ``n`` would be more steps than the plain loop takes.
    """
    return _embedder(ENCODER_SPECS[name](), max_epochs=epochs, batch_size=TRAIN_BATCH, precision=precision, samples_per_epoch=n)


def _embedder(encoder, **kwargs):
    # The plain loop trains the pair loss alone: no validation, no instance term.
    params = dict(
        validation_fraction=None,
        instance_weight=0.0,
        batch_size=BATCH_SIZE,
        samples_per_class=SAMPLES_PER_CLASS,
        random_state=SEED,
    )
    params.update(kwargs)
    return SiameseEmbedder(encoder, **params)


# The plain loop is what a user writes by hand: its own P x K sampler, loss
# and encoders, nothing from sklearn_siamese.
def plain_pk_batches(y, batch_size, k, rng, n_batches):
    """P classes x K samples per batch, P = batch_size // K (K grows when classes are few)."""
    classes = np.unique(y)
    members = [np.flatnonzero(y == c) for c in classes]
    p = min(batch_size // k, len(classes))
    k = batch_size // p
    for _ in range(n_batches):
        chosen = rng.choice(len(classes), size=p, replace=False)
        yield np.concatenate([rng.choice(members[c], size=min(k, len(members[c])), replace=False) for c in chosen])


def plain_contrastive_loss(z, labels, margin=1.0):
    """Contrastive loss over all in-batch pairs: mean over positives plus mean over negatives."""
    d = torch.cdist(z, z)
    same = labels[:, None] == labels[None, :]
    upper = torch.ones_like(same).triu(1)
    return ((d[same & upper] ** 2).mean() + (F.relu(margin - d[~same & upper]) ** 2).mean()) / 2


class _PlainNormalize(nn.Module):
    """Rows to normalised colour images, as a user does before a torchvision model."""

    def __init__(self, side):
        super().__init__()
        self.side = side
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1))

    def forward(self, x):
        return (x.reshape(len(x), 3, self.side, self.side) - self.mean) / self.std


def plain_encoder(name, embedding_dim=32, side=None):
    if name == "resnet18":
        import torchvision

        # The classifier becomes the projection to the embedding, as BackboneEncoder's head.
        return nn.Sequential(_PlainNormalize(side), torchvision.models.resnet18(num_classes=embedding_dim))
    if name == "mlp":
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, embedding_dim))
    blocks = []
    for c_in in (1, 64, 64, 64):
        blocks += [nn.Conv2d(c_in, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(nn.Unflatten(1, (1, 28, 28)), *blocks, nn.Flatten(), nn.Linear(64, embedding_dim))


def plain_pytorch_fit(name, X, y, max_epochs, fast=False, on_epoch=None):
    """Train by hand; ``fast``: bfloat16 autocast and channels_last, as a user would add them."""
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    model = plain_encoder(name, side=round((X.shape[1] / 3) ** 0.5))
    if fast:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    n_batches = -(-len(X) // TRAIN_BATCH)
    model.train()
    for epoch in range(max_epochs):
        for idx in plain_pk_batches(y, TRAIN_BATCH, SAMPLES_PER_CLASS, rng, n_batches):
            idx = torch.from_numpy(idx)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast):
                z = model(X_t[idx])
            loss = plain_contrastive_loss(F.normalize(z.float(), dim=1), y_t[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if on_epoch is not None:
            on_epoch(epoch, model)
    return model, max_epochs * n_batches


ENCODER_SPECS = {"mlp": lambda: MLPEncoder(hidden_sizes=(256, 256)), "conv": lambda: ConvEncoder(channels=(64,) * 4)}
LABELS = {"mlp": "MLP 784-256-256-32", "conv": "conv-4 (64 ch, 28x28)"}


def bench_overhead(X, y, cfg):
    """Same work on both sides: fit with float32, no validation, no instance term, no augmentation."""
    rows, results = [], {}
    for name in ("mlp", "conv"):
        n, epochs = cfg["overhead_n"][name], cfg["overhead_epochs"][name]
        Xn, yn = X[:n], y[:n]
        est = _training_embedder(name, n, epochs, "float32")
        cpu = []
        t_fit, t_plain = alternate([lambda: est.fit(Xn, yn), lambda: plain_pytorch_fit(name, Xn, yn, epochs)], cfg["repeats"], cpu)
        steps = sum(len(h["batches"]) for h in est.history_)
        ratio, cpu_ratio = np.median(t_fit / t_plain), np.median(cpu[0] / cpu[1])
        steps_plain = -(-n // TRAIN_BATCH) * epochs
        results[name] = {"ratio": float(ratio), "cpu_ratio": float(cpu_ratio), "steps_fit": steps, "steps_plain": steps_plain}
        rows.append([LABELS[name], n, epochs, steps, f"{np.median(t_fit):.2f}", f"{np.median(t_plain):.2f}", f"**{ratio:.3f}**", f"{cpu_ratio:.3f}"])
    header = ["encoder", "n", "epochs", "steps", "fit s", "plain s", "median time ratio", "median CPU-time ratio"]
    return table(header, rows), results


def bench_precision(X, y, cfg):
    """Images/s of fit in float32 and bfloat16 against the hand-written loop in both."""
    n, epochs = cfg["overhead_n"]["conv"], cfg["overhead_epochs"]["conv"]
    Xn, yn = X[:n], y[:n]
    runs = {
        "plain float32": lambda: plain_pytorch_fit("conv", Xn, yn, epochs),
        "plain bf16 autocast + channels_last": lambda: plain_pytorch_fit("conv", Xn, yn, epochs, fast=True),
        'fit precision="float32"': lambda: _training_embedder("conv", n, epochs, "float32").fit(Xn, yn),
        'fit precision="bfloat16"': lambda: _training_embedder("conv", n, epochs, "bfloat16").fit(Xn, yn),
    }
    times = dict(zip(runs, alternate(list(runs.values()), cfg["repeats"])))
    images = -(-n // TRAIN_BATCH) * epochs * TRAIN_BATCH
    base = times["plain float32"]
    rows = [[name, f"{images / np.median(t):,.0f}", f"**{np.median(t / base):.3f}**"] for name, t in times.items()]
    ratios = {name: float(np.median(t / base)) for name, t in times.items()}
    return table(["conv-4 training, batch 128", "images/s", "time / plain float32"], rows), ratios


def _one_nn_accuracy(E_train, y_train, E_test, y_test):
    d = (E_test**2).sum(1)[:, None] - 2 * E_test @ E_train.T + (E_train**2).sum(1)[None, :]
    return float((y_train[d.argmin(1)] == y_test).mean())


def bench_time_to_accuracy(X, y, cfg):
    """Wall time until held-out 1-NN accuracy first reaches the target (evaluation time excluded)."""
    name, epochs, target = "conv", cfg["tta_epochs"], cfg["tta_target"]
    n = cfg["tta_n"]
    Xtr, ytr, Xte, yte = X[:n], y[:n], X[n : n + n // 4], y[n : n + n // 4]
    rows = []

    def tracker():
        state = {"start": time.perf_counter(), "paused": 0.0, "reached": None, "acc": []}

        def on_epoch(epoch, embed):
            t = time.perf_counter() - state["start"] - state["paused"]
            pause = time.perf_counter()
            acc = _one_nn_accuracy(embed(Xtr), ytr, embed(Xte), yte)
            state["acc"].append(acc)
            if state["reached"] is None and acc >= target:
                state["reached"] = (epoch + 1, t)
            state["paused"] += time.perf_counter() - pause

        return state, on_epoch

    def plain_embed(model):
        def embed(A):
            model.eval()
            with torch.no_grad():
                out = F.normalize(model(torch.from_numpy(A)), dim=1).numpy()
            model.train()
            return out

        return embed

    for label, fast in (("plain float32", False), ("plain bf16 + channels_last", True)):
        state, on_epoch = tracker()
        plain_pytorch_fit(name, Xtr, ytr, epochs, fast=fast, on_epoch=lambda e, m, f=on_epoch: f(e, plain_embed(m)))
        rows.append((label, state))
    for precision in ("float32", "bfloat16"):
        state, on_epoch = tracker()
        est = _training_embedder(name, n, epochs, precision)
        est.set_params(callbacks=[EpochCall(lambda net, f=on_epoch: f(len(net.history) - 1, lambda A: _embed_net(net, A)))])
        est.fit(Xtr, ytr)
        rows.append((f'fit precision="{precision}"', state))
    out = [[label, f"{max(s['acc']):.3f}", f"{s['reached'][1]:.1f} s (epoch {s['reached'][0]})" if s["reached"] else "not reached"] for label, s in rows]
    return table(["conv-4", "best held-out 1-NN accuracy", f"time to {target:.2f}"], out)


class EpochCall(Callback):
    """Call ``func(net)`` at the end of every epoch."""

    def __init__(self, func):
        self.func = func

    def on_epoch_end(self, net, **kwargs):
        self.func(net)


def _embed_net(net, A):
    module = net.module_
    module.eval()
    with torch.no_grad():
        out = module(torch.from_numpy(A)).numpy()
    module.train()
    return out


# -------------------------------------------------- 2. comparisons per second
def _count_per_batch(loss, mining, y, n_batches=20):
    """Mean pairs (contrastive) or triplets (triplet) the loss uses per batch.

    For "all" and "random_pairs" the count does not depend on the
    embeddings; for semihard/hard it is one per positive pair / anchor.
    """
    rng = np.random.default_rng(SEED)
    if mining == "random_pairs":
        sampler = (RandomTripletSampler if loss == "triplet" else RandomPairSampler)(y, BATCH_SIZE, rng, n_batches)
    else:
        sampler = PKSampler(y, BATCH_SIZE, SAMPLES_PER_CLASS, rng, n_batches)
    counts = []
    for idx in sampler:
        labels = torch.from_numpy(y[idx])
        dist = torch.rand(len(idx), len(idx))
        dist = dist + dist.T
        mined = (mine_triplets if loss == "triplet" else mine_pairs)(dist, labels, mining)
        counts.append(len(mined[0]))
    return float(np.mean(counts))


def bench_mining(X, y, cfg):
    n = cfg["mining_n"]
    Xn, yn = X[:n], y[:n]
    rows = []
    for loss in ("contrastive", "triplet"):
        modes = ("random_pairs", "all", "semihard", "hard")
        fits = [lambda m=m: _embedder("mlp", loss=loss, mining=m, max_epochs=1).fit(Xn, yn) for m in modes]
        times = alternate(fits, cfg["repeats"])
        n_batches = int(np.ceil(n / BATCH_SIZE))
        rates = {}
        for mode, t in zip(modes, times):
            per_batch = _count_per_batch(loss, mode, yn)
            rates[mode] = (per_batch, n_batches * per_batch / np.median(t), np.median(t))
        base = rates["random_pairs"][1]
        unit = "triplets" if loss == "triplet" else "pairs"
        for mode in modes:
            per_batch, rate, t = rates[mode]
            rows.append([loss, mode, f"{per_batch:.0f} {unit}", f"{t:.2f}", f"{rate:,.0f}", f"{rate / base:.1f}x"])
    header = ["loss", "mining", "in loss per batch", "fit s", "per second", "vs random_pairs"]
    return table(header, rows)


# ------------------------------------------------------------- 3. inference
def bench_inference(X, y, cfg):
    rows = []
    for name, encoder in (("mlp", MLPEncoder()), ("conv", ConvEncoder())):
        n = cfg["inference_n"][name]
        Xn = X[:n]
        est = _embedder(encoder, max_epochs=1).fit(X[:256], y[:256])
        module = est.net_.module_
        X_t = torch.from_numpy(Xn)

        def bare():
            module.eval()
            with torch.no_grad():
                return torch.cat([module(X_t[s : s + 4096]) for s in range(0, n, 4096)])

        def transform():
            return est.transform(Xn)

        t_transform, t_bare = alternate([transform, bare], cfg["repeats"])
        ratio = np.median(t_transform / t_bare)
        rows.append([
            name, n, f"{n / np.median(t_transform):,.0f}", f"{n / np.median(t_bare):,.0f}", f"**{ratio:.3f}**",
        ])  # fmt: skip
    header = ["encoder", "n", "transform samples/s", "bare forward samples/s", "time ratio"]
    return table(header, rows)


# ------------------------------------------------------------------ 4. memory
def _rss_kib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(field)


def _reset_peak():
    """Reset the peak RSS (VmHWM) to the current RSS; Linux only."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def memory_child(data, n, what):
    """Run in a fresh process: peak RSS increase of fit or transform, in bytes."""
    X, y, source = load_data(data, n)
    est = _embedder("mlp", max_epochs=1, validation_fraction=0.2)
    est.fit(X[:512], y[:512])  # warm up lazily loaded code paths
    est.transform(X[:8])
    if not _reset_peak():
        import resource

        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        (est.fit if what == "fit" else lambda X, y: est.transform(X))(X, y)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {"increase": (after - before) * 1024, "x_bytes": X.nbytes, "source": source, "method": "ru_maxrss"}
    before = _rss_kib("VmRSS")
    start = time.perf_counter()
    if what == "fit":
        est.fit(X, y)
    else:
        est.transform(X)
    elapsed = time.perf_counter() - start
    peak = _rss_kib("VmHWM")
    return {"increase": (peak - before) * 1024, "x_bytes": X.nbytes, "source": source, "method": "VmHWM", "seconds": elapsed}


def bench_memory(data, cfg, threads):
    n = cfg["memory_n"]
    rows, copies_of_x = [], {}
    for what in ("fit", "transform"):
        cmd = [sys.executable, __file__, "--memory-child", what, "--n", str(n), "--data", data]
        if threads:
            cmd += ["--threads", str(threads)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        res = json.loads(out.strip().splitlines()[-1])
        copies = copies_of_x[what] = res["increase"] / res["x_bytes"]
        rows.append([
            f"`{what}`", n, f"{res['x_bytes'] / 2**20:.0f}", f"{res['increase'] / 2**20:.0f}", f"**{copies:.2f}**",
            f"{res['seconds']:.1f}" if "seconds" in res else "",
        ])  # fmt: skip
    header = ["call", "n", "X MiB", "peak RSS increase MiB", "copies of X", "s"]
    return table(header, rows) + f"\n\n(peak measured with {res['method']} in a fresh process; fit: 1 epoch, MLP, validation_fraction=0.2)", copies_of_x


# ------------------------------------------------------------------ 5. growth
def bench_growth(X, y, cfg):
    rows, per_sample = [], []
    for n in cfg["growth_n"]:
        Xn, yn = X[:n], y[:n]
        est = _embedder("mlp", max_epochs=cfg["growth_epochs"]).fit(Xn, yn)
        epoch_s = float(np.median(est.history_[:, "dur"]))
        transform_s = min(alternate([lambda: est.transform(Xn)], 3)[0])
        per_sample.append((epoch_s / n, transform_s / n))
        rows.append([n, f"{epoch_s:.3f}", f"{1e6 * epoch_s / n:.1f}", f"{transform_s:.4f}", f"{1e6 * transform_s / n:.2f}"])
    header = ["n", "fit s / epoch", "fit us / sample", "transform s", "transform us / sample"]
    fit_growth = per_sample[-1][0] / per_sample[0][0]
    tr_growth = per_sample[-1][1] / per_sample[0][1]
    note = (
        f"\n\nPer-sample cost at n={cfg['growth_n'][-1]} relative to n={cfg['growth_n'][0]}: "
        f"fit {fit_growth:.2f}x, transform {tr_growth:.2f}x (1.0 = exactly linear)."
    )
    return table(header, rows) + note


# -------------------------------------------------------- 6. backbone
def backbone_images(n, side):
    """``n`` random colour images of ``side`` pixels in [0, 1], 4 per class (the P x K batches' K)."""
    rng = np.random.default_rng(SEED)
    X = rng.random((n, 3, side, side), dtype=np.float32)
    return X, np.arange(n) // SAMPLES_PER_CLASS


def bench_backbone(cfg):
    """Fit time per image of a ResNet-18 (images of ``backbone_side``): BackboneEncoder in float32 and bfloat16, and a plain loop."""
    from sklearn_siamese import BackboneEncoder

    n = cfg["backbone_n"]
    side = cfg["backbone_side"]
    X, y = backbone_images(n, side)
    rows = X.reshape(n, -1)

    def fit(trainable, precision):
        encoder = BackboneEncoder("resnet18", weights=None, trainable=trainable)
        return lambda: _embedder(
            encoder, max_epochs=1, batch_size=TRAIN_BATCH, precision=precision, samples_per_epoch=n
        ).fit(X, y)

    runs = {
        "plain float32": lambda: plain_pytorch_fit("resnet18", rows, y, 1),
        "plain bf16 autocast + channels_last": lambda: plain_pytorch_fit("resnet18", rows, y, 1, fast=True),
        'fit trainable="all", precision="float32"': fit("all", "float32"),
        'fit trainable="all", precision="bfloat16"': fit("all", "bfloat16"),
        'fit trainable="head", precision="float32"': fit("head", "float32"),
        'fit trainable="head", precision="bfloat16"': fit("head", "bfloat16"),
    }
    cpu = []
    times = dict(zip(runs, alternate(list(runs.values()), cfg["repeats"], cpu)))
    # Batches of min(n, TRAIN_BATCH) images: 4 of each class, as many classes as fit.
    images = -(-n // TRAIN_BATCH) * min(n, TRAIN_BATCH)
    base = times["plain float32"]
    table_rows, per_image = [], {}
    for (name, t), cpu_t in zip(times.items(), cpu):
        per_image[name] = float(np.median(t) / images)
        table_rows.append([
            name, f"**{1e3 * per_image[name]:.1f}**", f"{1e3 * np.median(cpu_t) / images:.1f}",
            f"{images / np.median(t):.1f}", f"{np.median(t / base):.3f}",
        ])  # fmt: skip
    header = [
        f"ResNet-18, {side}x{side} colour, batch {TRAIN_BATCH}", "ms / image", "CPU ms / image",
        "images/s", "time / plain float32",
    ]
    return table(header, table_rows), per_image


# -------------------------------------------------------------------- main
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, only checks the script runs")
    parser.add_argument("--data", default=FASHION_DIR, help="folder with Fashion-MNIST's IDX .gz files")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    parser.add_argument("--repeats", type=int, default=None, help="alternating repeats per ratio")
    parser.add_argument("--skip-memory", action="store_true", help="skip the subprocess memory measurement")
    parser.add_argument("--training-only", action="store_true", help="only the training speed and precision sections")
    parser.add_argument("--backbone", action="store_true", help="only the pretrained-backbone section (extra backbones)")
    parser.add_argument("--defaults", action="store_true", help="only the default-fit section (time to unseen accuracy)")
    parser.add_argument("--datasets", nargs="+", default=list(DEFAULT_FIT_DATASETS), choices=list(DEFAULT_FIT_DATASETS),
                        help="data sets of --defaults")
    parser.add_argument("--memory-child", choices=("fit", "transform"), help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    add_write_docs_argument(parser)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        print(json.dumps(memory_child(args.data, args.n, args.memory_child)))
        return None
    cfg = dict(QUICK if args.quick else FULL)
    if args.repeats:
        cfg["repeats"] = args.repeats
    if args.backbone:
        with docs_report("speed_backbone", "speed.py", argv, args.write_docs):
            return _backbone_report(argv, cfg)
    if args.defaults:
        with docs_report("speed_defaults", "speed.py", argv, args.write_docs):
            return _defaults_report(argv, args)
    n_max = max(max(cfg["overhead_n"].values()), cfg["mining_n"], max(cfg["inference_n"].values()), max(cfg["growth_n"]), cfg["tta_n"] * 5 // 4)
    X, y, source = load_data(args.data, n_max)

    with docs_report("speed", "speed.py", argv, args.write_docs):
        return _report(args, argv, cfg, X, y, source)


def _backbone_report(argv, cfg):
    command = "python benchmarks/speed.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"# Speed benchmark: a pretrained backbone\n\nCommand: `{command.strip()}`\n")
    print(f"Machine: {machine_info()}\n")
    n = cfg["backbone_n"]
    print(
        f"Settings: {n} random {cfg['backbone_side']}x{cfg['backbone_side']} colour images, 4 per class, one epoch of "
        f"{-(-n // TRAIN_BATCH)} steps of {TRAIN_BATCH} (P x K, K={SAMPLES_PER_CLASS}), Adam lr=1e-3, contrastive "
        "loss, embedding_dim=32, no validation; `BackboneEncoder(\"resnet18\", weights=None)` (the time does not "
        "depend on the weights' values), whose `fit` includes building the network; the plain loop trains "
        "torchvision's resnet18 with its classifier as the projection. "
        f"{cfg['repeats']} alternating repeats after one warm-up, median reported; CPU time is the "
        "process's (all threads), which waits for a busy core do not inflate.\n"
    )
    print("## Fit time per image (median of alternating runs)\n")
    backbone_table, per_image = bench_backbone(cfg)
    print(backbone_table + "\n", flush=True)
    return {"backbone": per_image}


# ------------------------------------------------------- the default fit
# The defaults of the previous release (0.x before issue 40), spelled out:
# ConvEncoder's channels="auto" then widened small images up to 4x
# ((112, 224) on 8x8), and the instance term weighed 0.5.
PREVIOUS_DEFAULTS = dict(augmentation="affine", instance_weight=0.5, max_epochs=30)


def previous_channels(side):
    """ConvEncoder(channels="auto") of the previous release, for images whose smaller side is ``side``."""
    if side >= 28:
        return (32, 64)
    factor = min(28 / side, 4.0)
    return tuple(int(max(8, round(c * factor / 8) * 8)) for c in (32, 64))


DEFAULT_FIT_DATASETS = {"digits": "4-way", "mnist5k": "4-way", "faces": "5-way"}
FACES_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "yalefaces"


def default_fit_data(name, random_state=0):
    """``(X_train, y_train, X_unseen, y_unseen, n_way)`` of the unseen-class task on ``name``, X as images."""
    from _common import load, split

    if name == "faces":
        from sklearn_siamese.datasets import load_image_folder

        bunch = load_image_folder(FACES_DIR, image_size=(32, 32))
        X, y = bunch.data.astype(np.float32), np.asarray(bunch.target)
        people = np.random.default_rng([random_state, 0]).permutation(np.unique(y))
        train, test = np.isin(y, people[:10]), np.isin(y, people[10:])
        return X[train], y[train], X[test], y[test], 5
    X, y, shape = load(name)
    parts = split(X.reshape(len(X), *shape), y, random_state)
    return (*parts["train"], *parts["unseen"], 4)


def bench_defaults(datasets, quick=False, n_episodes=500):
    """Rows: per data set and precision, the previous and the new default fit, alternately."""
    from sklearn_siamese.metrics import one_shot_accuracy

    rows, results = [], {}
    # Warm up (first calls into torch's kernels, lazy imports) outside the timings.
    X, y, *_ = default_fit_data("digits")
    SiameseEmbedder(max_epochs=1, samples_per_epoch=128, random_state=SEED).fit(X[:200], y[:200])
    for name in datasets:
        if name == "faces" and not FACES_DIR.is_dir():
            print(f"(no faces at {FACES_DIR}: row skipped)")
            continue
        X, y, X_unseen, y_unseen, n_way = default_fit_data(name)
        side = min(X.shape[-2:])
        # The previous release's samples_per_epoch="auto": one pass over the
        # rows, at least 4,096 samples (no 20-pass cap below 205 rows).
        previous = dict(PREVIOUS_DEFAULTS, encoder=ConvEncoder(channels=previous_channels(side)),
                        samples_per_epoch=max(len(X), 4096))  # fmt: skip
        short = dict(max_epochs=1, samples_per_epoch=128) if quick else {}
        for precision in ("float32", "auto"):
            fits = {}
            for label, params in (("previous", {**previous, **short}), ("new", short)):
                model = SiameseEmbedder(precision=precision, random_state=SEED, **params)
                start = time.perf_counter()
                model.fit(X, y)
                seconds = time.perf_counter() - start
                accuracy = one_shot_accuracy(model, X_unseen, y_unseen, n_way=n_way, k_shot=1,
                                             n_episodes=20 if quick else n_episodes, random_state=SEED)
                fits[label] = (seconds, accuracy, model.n_epochs_)
            (t_old, a_old, e_old), (t_new, a_new, e_new) = fits["previous"], fits["new"]
            results[(name, precision)] = fits
            rows.append([
                name, f"`{precision}`", f"{t_old:.1f} ({e_old})", f"{t_new:.1f} ({e_new})", f"{t_new / t_old:.2f}",
                f"{a_old:.3f}", f"{a_new:.3f}", f"{100 * (a_new - a_old):+.1f}",
            ])  # fmt: skip
            print(f"  {name} {precision}: {fits}", file=sys.stderr, flush=True)
    header = ["data", "precision", "previous fit s (epochs)", "new fit s (epochs)", "time ratio",
              "previous unseen 1-shot", "new unseen 1-shot", "difference (points)"]  # fmt: skip
    return table(header, rows), results


def _defaults_report(argv, args):
    command = "python benchmarks/speed.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"# Speed benchmark: the default fit\n\nCommand: `{command.strip()}`\n")
    print(f"Machine: {machine_info()}\n")
    print(
        "Settings: `SiameseEmbedder(precision=..., random_state=0)` with no other argument (\"new\") beside the "
        f"previous release's defaults spelled out (\"previous\": {PREVIOUS_DEFAULTS} and ConvEncoder channels "
        "(112, 224) on 8x8, (32, 64) from 28 pixels; samples_per_epoch the larger of the training rows and 4,096), fitted one after the other in this process on the same "
        "data. Unseen-class task: digits and MNIST-5k train on 70% of classes 2-7 and answer 4-way 1-shot "
        "episodes of 0, 1, 8, 9; Yale faces (32x32) train on 10 people and answer 5-way 1-shot episodes of "
        "the other 5; 500 episodes. One fit each: wall times on an idle machine.\n"
    )
    text, results = bench_defaults(args.datasets, quick=args.quick)
    print(text + "\n", flush=True)
    return results


def _report(args, argv, cfg, X, y, source):
    """Print every section; return the numbers the tests check."""
    command = "python benchmarks/speed.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"# Speed benchmark\n\nCommand: `{command.strip()}`\n")
    print(f"Machine: {machine_info()}\n")
    print(
        f"Settings: data {source}; batch_size={TRAIN_BATCH} in the training sections, {BATCH_SIZE} elsewhere "
        f"(P x K with K={SAMPLES_PER_CLASS}), "
        f"Adam lr=1e-3, contrastive loss, embedding_dim=32, validation off unless stated, "
        f"{cfg['repeats']} alternating repeats after one warm-up, median reported; CPU time is the "
        "process's (all threads), which waits for a busy core do not inflate.\n"
    )
    results = {}
    print("## Training overhead: `SiameseEmbedder.fit` / plain PyTorch loop (time ratio)\n")
    overhead_table, results["overhead"] = bench_overhead(X, y, cfg)
    print(overhead_table + "\n", flush=True)
    print("## Training precision: images/s of a conv-4 step (median of alternating runs)\n")
    precision_table, results["precision"] = bench_precision(X, y, cfg)
    print(precision_table + "\n", flush=True)
    print(f"## Time to a held-out 1-NN accuracy of {cfg['tta_target']:.2f} (conv-4, one run each)\n")
    print(bench_time_to_accuracy(X, y, cfg) + "\n", flush=True)
    if args.training_only:
        return results
    print("## Comparisons per second: in-batch mining vs random_pairs (MLP, same batch size)\n")
    print(bench_mining(X, y, cfg) + "\n", flush=True)
    print("## Inference: `transform` / bare `torch.no_grad()` forward (chunks of 4096)\n")
    print(bench_inference(X, y, cfg) + "\n", flush=True)
    if not args.skip_memory:
        print("## Peak memory, in copies of X (float32)\n")
        memory_table, results["memory"] = bench_memory(args.data, cfg, args.threads)
        print(memory_table + "\n", flush=True)
    print("## Growth with n (MLP; time per epoch from skorch's history)\n")
    print(bench_growth(X, y, cfg) + "\n", flush=True)
    return results


if __name__ == "__main__":
    main()
