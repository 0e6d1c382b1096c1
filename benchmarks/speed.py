"""Speed of sklearn-siamese against plain PyTorch, measured side by side.

Run from the repository root::

    python benchmarks/speed.py                 # full run, a few minutes
    python benchmarks/speed.py --quick         # smoke run, well under a minute
    python benchmarks/speed.py --threads 1 --data /usr/share/datasets/fashion-mnist

Every figure is a ratio of two things timed in the same process, in
alternating order, and the median over repeats is reported: single timings
on a shared machine are too noisy to compare across runs.

1. Training overhead: ``SiameseEmbedder.fit`` (skorch) against a plain
   PyTorch loop over the same P x K batches (the same sampler with the same
   seed), the same encoder initialisation, loss, optimiser and number of
   steps. Both timings include building the module.
2. Comparisons per second: pairs or triplets entering the loss per second
   for each mining mode, against ``mining="random_pairs"`` at the same batch
   size.
3. Inference: ``transform`` against a bare ``torch.no_grad()`` forward of
   the fitted module on the same tensor, in the same chunks.
4. Peak memory of ``fit`` and ``transform`` on 60,000 28x28 images, in a
   fresh subprocess, as copies of X.
5. Growth: time per epoch of ``fit`` and time of ``transform`` at several n.

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
from _common import FASHION_DIR, alternate, load_fashion, machine_info, table
from sklearn.utils import check_random_state

from sklearn_siamese import ConvEncoder, MLPEncoder, SiameseEmbedder
from sklearn_siamese.losses import ContrastiveLoss
from sklearn_siamese.mining import mine_pairs, mine_triplets
from sklearn_siamese.sampling import PKSampler, RandomPairSampler, RandomTripletSampler

SEED = 0

# Each setting as (full run, --quick); --quick only checks that the script works.
SETTINGS = {
    "repeats": (5, 2),
    "overhead_n": ({"mlp": 12800, "conv": 1280}, {"mlp": 640, "conv": 128}),
    "overhead_epochs": (1, 1),
    "mining_n": (6400, 256),
    "inference_n": ({"mlp": 20000, "conv": 4096}, {"mlp": 1000, "conv": 128}),
    "memory_n": (60000, 3000),
    "growth_n": ((1000, 10000, 60000), (200, 400, 800)),
    "growth_epochs": (2, 1),
}
FULL = {name: full for name, (full, _) in SETTINGS.items()}
QUICK = {name: quick for name, (_, quick) in SETTINGS.items()}
BATCH_SIZE = 64
SAMPLES_PER_CLASS = 4


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


def plain_pytorch_fit(encoder, X, y, max_epochs):
    """What a user would write by hand: same init, sampler, loss and optimiser.

    The seed is derived as ``SiameseEmbedder`` does, so both see the same
    initial weights and the same batches; returns the module and step count.
    """
    seed = check_random_state(SEED).randint(np.iinfo(np.int32).max)
    rng = np.random.default_rng(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder_module = encoder.build(X.shape[1], 32)
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    criterion = ContrastiveLoss(margin=1.0, mining="all")
    optimizer = torch.optim.Adam(encoder_module.parameters(), lr=1e-3)
    sampler = PKSampler(y, BATCH_SIZE, SAMPLES_PER_CLASS, rng)
    encoder_module.train()
    steps = 0
    for _ in range(max_epochs):
        for idx in sampler:
            # index_select: the fastest way to gather a batch of rows on CPU.
            idx = torch.from_numpy(idx)
            optimizer.zero_grad()
            embeddings = F.normalize(encoder_module(X_t.index_select(0, idx)), dim=1)
            criterion(embeddings, y_t.index_select(0, idx)).backward()
            optimizer.step()
            steps += 1
    return encoder_module, steps


def bench_overhead(X, y, cfg):
    rows, results = [], {}
    for name, encoder in (("mlp", MLPEncoder()), ("conv", ConvEncoder())):
        n = cfg["overhead_n"][name]
        Xn, yn = X[:n], y[:n]
        epochs = cfg["overhead_epochs"]
        result = {}

        def with_skorch():
            result["skorch"] = _embedder(encoder, max_epochs=epochs).fit(Xn, yn)

        def plain():
            result["plain"] = plain_pytorch_fit(encoder, Xn, yn, epochs)

        cpu = []
        t_skorch, t_plain = alternate([with_skorch, plain], cfg["repeats"], cpu)
        cpu_ratio = np.median(cpu[0] / cpu[1])
        est, (module, steps) = result["skorch"], result["plain"]
        skorch_steps = sum(len(h["batches"]) for h in est.history_)
        with torch.no_grad():
            module.eval()
            probe = torch.from_numpy(Xn[:256])
            diff = (F.normalize(module(probe), dim=1) - torch.from_numpy(est.transform(Xn[:256]))).abs().max().item()
        ratio = np.median(t_skorch / t_plain)
        results[name] = {
            "ratio": float(ratio), "cpu_ratio": float(cpu_ratio), "steps_plain": steps, "steps_fit": skorch_steps, "max_abs_diff": diff,
        }  # fmt: skip
        label = "MLP (784 -> 128 -> 128 -> 32)" if name == "mlp" else "ConvEncoder (28x28, 32-64 ch)"
        rows.append([
            label, n, f"{steps} / {skorch_steps}",
            f"{np.median(t_skorch):.2f}", f"{np.median(t_plain):.2f}",
            f"**{ratio:.3f}**", f"{t_skorch.min() / t_plain.min():.3f}", f"{cpu_ratio:.3f}", f"{diff:.1e}",
        ])  # fmt: skip
    header = ["encoder", "n", "steps plain / fit", "fit s", "plain s", "median ratio", "ratio of minima", "median CPU-time ratio", "max abs diff of embeddings"]
    return table(header, rows), results


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


# -------------------------------------------------------------------- main
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, only checks the script runs")
    parser.add_argument("--data", default=FASHION_DIR, help="folder with Fashion-MNIST's IDX .gz files")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    parser.add_argument("--repeats", type=int, default=None, help="alternating repeats per ratio")
    parser.add_argument("--skip-memory", action="store_true", help="skip the subprocess memory measurement")
    parser.add_argument("--memory-child", choices=("fit", "transform"), help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        print(json.dumps(memory_child(args.data, args.n, args.memory_child)))
        return None
    cfg = dict(QUICK if args.quick else FULL)
    if args.repeats:
        cfg["repeats"] = args.repeats
    n_max = max(max(cfg["overhead_n"].values()), cfg["mining_n"], max(cfg["inference_n"].values()), max(cfg["growth_n"]))
    X, y, source = load_data(args.data, n_max)

    command = "python benchmarks/speed.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"# Speed benchmark\n\nCommand: `{command.strip()}`\n")
    print(f"Machine: {machine_info()}\n")
    print(
        f"Settings: data {source}; batch_size={BATCH_SIZE} (P x K with K={SAMPLES_PER_CLASS}), "
        f"Adam lr=1e-3, contrastive loss, embedding_dim=32, validation off unless stated, "
        f"{cfg['repeats']} alternating repeats after one warm-up, median reported.\n"
    )
    results = {}
    print("## Training overhead: `SiameseEmbedder.fit` / plain PyTorch loop (time ratio)\n")
    overhead_table, results["overhead"] = bench_overhead(X, y, cfg)
    print(overhead_table + "\n", flush=True)
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
