"""Fit time with and without the allocator setting of CPU fits, side by side (issue 40).

``fit`` on the CPU keeps freed heap memory for reuse while it trains
(``sklearn_siamese/_training/allocator.py``); ``SKLEARN_SIAMESE_TUNE_MALLOC=0``
turns that off. The setting lasts for the life of a process, so each fit
runs in a fresh process, the two settings alternating, and only the fit is
timed (not the imports). The allocator cannot change a computed value: each
row also checks that the two settings give the same embeddings.

    python benchmarks/allocator.py --threads 1
    python benchmarks/allocator.py --quick          # smoke run

Timing depends on the shapes, not the values, so random images stand in
for MNIST-5k (28x28), the faces (32x32) and Omniglot (28x28, the recipe's
conv-4); digits are the demo's task (8x8, 70% of digits 2-7).
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time

import numpy as np
from _common import machine_info, selected, table

CASES = {
    # name -> (image side, rows, classes, parameters, epochs of a full run)
    "digits 8x8, default": (8, None, None, {}, 5),
    "28x28 (MNIST-5k's shape), default": (28, 1024, 8, {}, 1),
    "32x32 (the faces' shape), default": (32, 165, 15, {}, 1),
    "28x28, Omniglot recipe (conv-4, triplet)": (28, 1024, 64, {"omniglot": True}, 1),
}


def child(spec):
    """Fit one case in this process; print its fit seconds and a digest of its embeddings."""
    import torch
    from _common import demo_task

    from sklearn_siamese import ConvEncoder, SiameseEmbedder

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    side, n, n_classes, params, epochs = CASES[spec["case"]]
    if n is None:
        X, y, _, _ = demo_task(random_state=0)
        X = X.reshape(-1, 8, 8)
    else:
        rng = np.random.default_rng(0)
        X, y = rng.random((n, side, side), dtype=np.float32), np.arange(n) % n_classes
    kwargs = dict(precision=spec["precision"], random_state=0, max_epochs=spec["epochs"] or epochs)
    if params.get("omniglot"):
        kwargs.update(encoder=ConvEncoder(channels=(64, 64, 64, 64)), embedding_dim=64, batch_size=128,
                      augmentation="affine", loss="triplet", normalize=False, instance_weight=0.0)
    model = SiameseEmbedder(**kwargs)
    start = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - start
    digest = hashlib.sha256(model.transform(X[:64]).tobytes()).hexdigest()[:16]
    print(json.dumps({"seconds": seconds, "digest": digest}))


def run(case, precision, tuned, threads, epochs):
    env = dict(os.environ, SKLEARN_SIAMESE_TUNE_MALLOC="1" if tuned else "0")
    spec = json.dumps({"case": case, "precision": precision, "threads": threads, "epochs": epochs})
    out = subprocess.run([sys.executable, __file__, "--child", spec], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precision", nargs="+", default=["float32", "auto"])
    parser.add_argument("--cases", nargs="*", help="name prefixes of the cases to run")
    parser.add_argument("--quick", action="store_true", help="one repeat, one epoch, float32: a smoke run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(json.loads(args.child))
    repeats, epochs = (1, 1) if args.quick else (args.repeats, None)
    precisions = ["float32"] if args.quick else args.precision
    print(f"machine: {machine_info()}\n")
    rows = []
    for case in CASES:
        if not selected(case, args.cases):
            continue
        for precision in precisions:
            times, digests = {True: [], False: []}, set()
            for r in range(repeats):
                for tuned in ((False, True) if r % 2 == 0 else (True, False)):
                    result = run(case, precision, tuned, args.threads, epochs)
                    times[tuned].append(result["seconds"])
                    digests.add(result["digest"])
            off, on = np.array(times[False]), np.array(times[True])
            rows.append([case, f"`{precision}`", f"{np.median(off):.2f}", f"{np.median(on):.2f}",
                         f"{np.median(on) / np.median(off):.2f}", "yes" if len(digests) == 1 else "no"])
            print(f"  {rows[-1]}  off {np.round(off, 2).tolist()} on {np.round(on, 2).tolist()}", flush=True)
    print()
    print(table(["fit", "precision", "glibc defaults: fit s (median)", "freed memory kept: fit s (median)",
                 "time ratio", "equal embeddings"], rows))
    return rows


if __name__ == "__main__":
    main()
