"""The benchmark scripts' --quick modes, so they never rot.

Each runs its script on small data and checks what it prints: the tables,
numbers in their ranges, and ratios computed from two measured runs of the
same work. The quick runs train too little to beat raw pixels, so they make
no learning claim; the tests marked ``learns`` do (and fail under
``tests/sabotage``).
"""

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

# The tests that run a benchmark script are marked slow (deselect with -m "not slow"); the
# unit tests of the scripts' helpers are not.

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name):
    """Import benchmarks/NAME.py as ``python benchmarks/NAME.py`` would, its folder first on the path."""
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


def _table_rows(text):
    """``{method: [numbers]}`` of the markdown table rows in ``text``."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] != "method":
            rows[cells[0]] = [float(c) for c in cells[1:]]
    return rows


@pytest.fixture(scope="module")
def speed_run():
    import io
    from contextlib import redirect_stdout

    import torch

    speed = _load("speed")
    measured = []  # what each call of the timer returned: the runs every ratio must come from
    real_alternate = speed.alternate

    def recorded_alternate(funcs, repeats, cpu_times=None):
        times = real_alternate(funcs, repeats, cpu_times)
        measured.append(times)
        return times

    speed.alternate = recorded_alternate
    threads = torch.get_num_threads()
    out = io.StringIO()
    try:
        with redirect_stdout(out):
            results = speed.main(["--quick", "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    return out.getvalue(), results, measured


@pytest.mark.slow
def test_speed_quick(speed_run):
    text, results, measured = speed_run
    for heading in ("Training overhead", "Training precision", "Time to a held-out", "Comparisons per second", "Inference", "Peak memory", "Growth with n"):
        assert f"## {heading}" in text
    assert "Machine: CPU:" in text and "torch threads: 1" in text
    separators = [line for line in text.splitlines() if line.startswith("|---|")]
    assert len(separators) == 7  # one markdown table per section
    # Every ratio is the median of two measured runs' times, as the timer returned them (the first
    # two calls: fit against the hand-written loop, MLP then conv; the third: the precision rows).
    for encoder, (t_fit, t_plain) in zip(("mlp", "conv"), measured[:2]):
        overhead = results["overhead"][encoder]
        assert len(t_fit) == len(t_plain) >= 1 and (t_fit > 0).all() and (t_plain > 0).all()
        assert overhead["ratio"] == pytest.approx(float(np.median(t_fit / t_plain)))
        assert f"**{overhead['ratio']:.3f}**" in text
        # The hand-written loop shares no code with the package; it must
        # at least take as many optimiser steps, so both do the same work.
        assert overhead["steps_plain"] == overhead["steps_fit"]
    precision = results["precision"]
    runs = dict(zip(precision, measured[2]))
    for name, ratio in precision.items():
        assert ratio == pytest.approx(float(np.median(runs[name] / runs["plain float32"]))), name
    assert precision["plain float32"] == 1.0
    # Neither fit nor transform copies X (README: 0.03 and 0.08 copies on
    # 60,000 images). The quick run's X is 90 MiB, of which fit's peak
    # grew by 0.24 to 0.50 in runs on 2 cores (fit keeps freed heap memory
    # for reuse while it trains: a few MiB more at its peak); one more copy
    # of X would pass 1.2.
    # (A few pages freed during the call can make the growth a hair below 0.)
    for call in ("fit", "transform"):
        assert -0.05 < results["memory"][call] < 0.9, results["memory"]


def test_speed_reads_fashion_mnist_with_the_package_loader(tmp_path):
    """The script reads IDX files through ``sklearn_siamese.datasets.load_idx`` (same bytes, same scaling)."""
    import gzip

    speed = _load("speed")
    images = np.arange(5 * 28 * 28, dtype=np.uint64).reshape(5, 28, 28) % 256
    header = bytes([0, 0, 8, 3]) + np.array([5, 28, 28], ">u4").tobytes()
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(header + images.astype(np.uint8).tobytes())
    with gzip.open(tmp_path / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + np.array([5], ">u4").tobytes() + bytes([3, 1, 4, 1, 5]))
    X, y, source = speed.load_data(tmp_path, 7)  # more rows than the file: tiled
    assert source.startswith("Fashion-MNIST")
    assert X.dtype == np.float32 and X.shape == (7, 784)
    np.testing.assert_array_equal(X[:5], images.reshape(5, -1).astype(np.float32) / 255.0)
    np.testing.assert_array_equal(X[5:], X[:2])
    assert y.tolist() == [3, 1, 4, 1, 5, 3, 1]


CLASSIC_ROWS = ["classic: Fisherfaces (PCA -> LDA)", "classic: NCA (on PCA 64)", "classic: HOG", "classic: LBP (chi-square)"]


def _assert_margins(text, results, measures, package, lower_is_better=False):
    """The printed strongest baseline of each measure is the best baseline row; each package row's margin is its difference."""
    baselines = [name for name in results if name not in package]
    strongest_line = next(line for line in text.splitlines() if line.startswith("Strongest baseline: "))
    for key, label in measures:
        values = {name: results[name][key] for name in baselines}
        best = (min if lower_is_better else max)(values, key=values.get)
        assert f"{label} {values[best]:.3f} ({best})" in strongest_line, (label, strongest_line)
        for row in package:
            margin = 100 * (results[row][key] - values[best]) * (-1 if lower_is_better else 1)
            line = next(li for li in text.splitlines() if li.startswith(f"- {row}: "))
            assert f"{label} {margin:+.1f}" in line, (row, line)


@pytest.mark.slow
def test_unseen_classes_quick(capsys):
    results = _load("unseen_classes").main(["--quick"])["digits"]
    text = capsys.readouterr().out
    rows = _table_rows(text)
    package = ["SiameseEmbedder() default", "Embedder MLP contrastive/all"]
    assert list(rows) == list(results) == ["raw pixels", "PCA (32)", *CLASSIC_ROWS, *package]
    for method, (seen, unseen, mixed, one_shot, _) in rows.items():
        if method in CLASSIC_ROWS:
            # Texture features on 8x8 digits: measured 0.55 to 0.97 (LBP the weakest, 1-shot 0.58
            # over 500 episodes); chance is 0.5 for pairs and 0.25 for 4-way episodes.
            assert min(seen, unseen, mixed) > 0.5 and one_shot > 0.3, method
            continue
        # Verification pairs are half same, half different; episodes 4-way.
        # Measured with --quick: seen >= 0.89, unseen >= 0.67, 1-shot >= 0.55.
        assert seen > 0.8 and mixed > 0.7, method
        assert unseen > 0.6 and one_shot > 0.45, method
    measures = [("seen", "seen verif."), ("unseen", "unseen verif."), ("mixed", "mixed verif."), ("one_shot", "unseen 1-shot")]
    _assert_margins(text, results, measures, package)


@pytest.mark.slow
def test_open_set_quick(capsys):
    # The rows as they were before the proxy-anchor row (the same RadiusEmbedder with another loss).
    rows = ["raw", "PCA", "classic", "SiameseEmbedder() +", "SiameseVerifier"]
    results = _load("open_set").main(["--quick", "--threads", "1", "--methods", *rows])["digits"]
    text = capsys.readouterr().out
    assert "| SiameseVerifier(outlier_label=-1) | 5 |" in text and "measured FAR % (target 1%): mean ± std (min-max)" in text
    package = ["SiameseEmbedder() + calibrate_radius", "SiameseVerifier(outlier_label=-1)"]
    classic = ["classic: Fisherfaces (PCA -> LDA)", "classic: NCA (on PCA 64)", "classic: HOG", "classic: LBP (chi-square)"]
    assert list(results) == ["raw pixels", "PCA (32)", *classic, *package]
    assert "Calibration rule: conformal; FAR over 6 stranger splits." in text
    for method, (rates, _) in results.items():
        for (n_references, far), r in rates.items():
            assert r["n_splits"] == 6, method
            # On the strangers it was calibrated on, the conformal rule accepts less than the target.
            assert r["far_calibration_max"] < far, method
            assert r["far_min"] <= r["far_mean"] <= r["far_max"] and r["far_std"] <= r["far_max"] - r["far_min"], method
            # On strangers of other classes it moves with how alike those classes are to the enrolled
            # ones, which no count of strangers bounds (tests/_far.py bounds it within one population,
            # in test_neighbors.py): here only a calibration that accepts most strangers fails.
            assert 0 < r["dir"] <= 1 and 0 < r["best"] <= 1, method
            assert abs(r["dir"] - r["best"]) < 0.15 and r["far_mean"] < 0.5, method
    for method in ["raw pixels", *package]:
        rates = results[method][0]
        # Five references identify better than one.
        assert rates[(5, 0.1)]["best"] > rates[(1, 0.1)]["best"], method
    # The strongest baseline is named with each package row's margin, the difference of the rows' DIRs.
    for n_references in (1, 5):
        baselines = {name: res[(n_references, 0.1)]["dir"] for name, (res, _) in results.items() if name not in package}
        name = max(baselines, key=baselines.get)
        line = next(li for li in text.splitlines() if li.startswith(f"Strongest baseline, {n_references} ref(s)"))
        assert f": {name} ({baselines[name]:.3f}); margin over it:" in line
        for row in package:
            margin = 100 * (results[row][0][(n_references, 0.1)]["dir"] - baselines[name])
            assert f"{row}: {margin:+.1f} points" in line
    # The embedder and the verifier train the same encoder and both take the nearest reference
    # with 1 reference per class (the radius classifier votes among several with 5).
    embedder, verifier = (results[row][0] for row in package)
    assert embedder[(1, 0.1)]["best"] == pytest.approx(verifier[(1, 0.1)]["best"])


@pytest.mark.slow
def test_tune_defaults_small_run(capsys):
    """One-change rows over the defaults: each runs with its own setting (max_epochs included)."""
    module = _load("tune_defaults")
    module.main(
        ["--variants", "raw", "default, max_epochs=15", "default, lr=", "--max-epochs", "1", "--episodes", "20", "--pairs", "200",
         "--samples-per-epoch", "512"]
    )
    rows = _table_rows(capsys.readouterr().out)
    assert list(rows) == ["raw pixels", "default, max_epochs=15", "default, lr=3e-4"]
    # The row's own max_epochs wins over --max-epochs: 15 epochs take longer than 1.
    assert rows["default, max_epochs=15"][-1] > rows["default, lr=3e-4"][-1]
    for method, (seen, unseen, mixed, one_shot, _) in rows.items():
        assert 0.5 < seen <= 1 and 0.25 < one_shot <= 1, method


def test_tune_defaults_resamples_images():
    module = _load("tune_defaults")
    X = np.arange(2 * 28 * 28, dtype=np.float32).reshape(2, -1)
    small = module.resample(X, (28, 28), 14)
    assert small.shape == (2, 196)
    # Area resampling: each 14x14 pixel is the mean of a 2x2 block.
    assert small[0, 0] == X[0].reshape(28, 28)[:2, :2].mean()


@pytest.mark.slow
def test_tune_defaults_snapshot_average_and_temperature_rows():
    """SnapshotAverage leaves the mean of the last epochs' weights; InstanceTemperature reaches the net."""
    import torch
    from skorch.callbacks import Callback

    from sklearn_siamese import MLPEncoder, SiameseEmbedder

    module = _load("tune_defaults")

    class Record(Callback):
        def on_train_begin(self, net, **kwargs):
            self.states, self.temperature = [], net.instance_temperature

        def on_epoch_end(self, net, **kwargs):
            self.states.append({k: v.detach().clone() for k, v in net.module_.state_dict().items()})

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 5)).astype(np.float32), np.repeat(np.arange(6), 10)
    embedder = SiameseEmbedder(
        encoder=MLPEncoder(hidden_sizes=(8,)), embedding_dim=3, max_epochs=3, batch_size=20, random_state=0,
        callbacks=[module.InstanceTemperature(0.1), Record(), module.SnapshotAverage(fraction=2 / 3)],
    ).fit(X, y)
    # The estimator trains with copies of its callbacks.
    record = next(cb for _, cb in embedder.net_.callbacks_ if isinstance(cb, Record))
    assert record.temperature == 0.1
    final = embedder.net_.module_.state_dict()
    for key, value in final.items():
        if value.is_floating_point():
            expected = (record.states[1][key] + record.states[2][key]) / 2
            torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-6)
    # The average is not simply the last epoch's weights.
    assert any(not torch.equal(final[k], record.states[2][k]) for k in final if final[k].is_floating_point())


@pytest.mark.slow
def test_verifier_scale_quick(capsys):
    _load("verifier_scale").main(["--quick"])
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ") and "|" in line[2:]}
    assert {"predict", "predict_proba", "decision_function"} <= set(rows)
    for label in ("1-shot", "5-shot"):
        row = next(line for name, line in rows.items() if label in name)
        every, proto = (float(c) for c in row.strip().strip("|").split("|")[1:])
        # 4-way episodes on unseen digits after 2 epochs: measured 0.69-0.81.
        assert every > 0.5 and proto > 0.5
        if label == "1-shot":
            assert every == proto  # one reference per class is its own prototype


@pytest.mark.slow
def test_omniglot_quick_on_a_tiny_fake_archive(tmp_path, capsys):
    """The script reads two zips of ALPHABET/characterNN/*.png, as the real data, and cross-validates."""
    import zipfile

    from PIL import Image

    rng = np.random.RandomState(0)
    for part, alphabets in ((1, ["Alpha", "Beta", "Gamma"]), (2, ["Delta", "Epsilon"])):
        with zipfile.ZipFile(tmp_path / f"images_background_small{part}.zip", "w") as zf:
            for alphabet in alphabets:
                for c in range(4):
                    base = rng.rand(16, 16) > 0.7
                    for k in range(4):
                        noisy = base ^ (rng.rand(16, 16) > 0.95)
                        img = Image.fromarray(np.where(noisy, 0, 255).astype(np.uint8))
                        path = tmp_path / "img.png"
                        img.save(path)
                        zf.write(path, f"images_background_small{part}/{alphabet}/character{c:02d}/{k}.png")
    omniglot = _load("omniglot")
    # 5 alphabets sorted make 2 folds: the first holds out Alpha, Delta and Gamma.
    assert omniglot.make_folds(np.array(["Gamma", "Alpha", "Epsilon", "Beta", "Delta"])) == [
        ["Alpha", "Delta", "Gamma"], ["Beta", "Epsilon"]
    ]
    rows = ["raw", "classic", "hand", "SiameseEmbedder image recipe", "SiameseVerifier"]
    results = omniglot.main(["--data", str(tmp_path), "--quick", "--n-way", "3", "--size", "16", "--models", *rows])
    out = capsys.readouterr().out
    assert "| fold 0 error % | mean error % (95% CI) |" in out
    # The classic rows, one hand-written row per baseline loss, the triplet loop's strongest
    # configuration (margin 0.2) and the triplet loop with a cosine schedule (margin 1 and 0.2),
    # each sharing no code with the package; the recipe at precision="auto" and "float32".
    methods = [r["method"] for r in results]
    assert methods[1:5] == CLASSIC_ROWS
    assert [m.split(" ")[0] for m in methods] == [
        "raw", *["classic:"] * 4, *["hand-written"] * 7, "SiameseEmbedder", "SiameseEmbedder", "SiameseVerifier"
    ]
    assert {m.split(": ")[-1] for m in methods[5:9]} == set(omniglot.BASELINE_LOSSES)
    assert methods[9].endswith("batch-all triplet, margin 0.2") and methods[10].endswith("batch-all triplet, cosine")
    assert methods[11].endswith("batch-all triplet, margin 0.2, cosine")
    assert methods[12:14] == ["SiameseEmbedder image recipe", "SiameseEmbedder image recipe, precision='float32'"]
    errors = {r["method"]: r["error"] for r in results}
    # Each fake character is one random pattern with 5% of pixels flipped:
    # raw pixels tell them apart almost always; chance error is 2/3 (3-way).
    # Trained rows must beat chance (2/3) clearly even after their 2 s budget on a loaded machine.
    assert errors["raw pixels"] < 0.1
    assert all(error < 0.4 for error in errors.values()), errors
    for r in results[5:]:
        assert r["epochs"][0] > 0 and r["train_s"][0] < 30, r
    # The strongest baseline is the lowest error of raw pixels, the classic and the hand-written
    # rows; each package row's margin is its error's difference to it (positive: fewer errors).
    _assert_margins(out, {r["method"]: r for r in results}, [("error", "mean error")], methods[12:], lower_is_better=True)


@pytest.mark.slow
def test_search_small_run_finds_the_true_neighbours(capsys):
    pytest.importorskip("faiss")
    results = _load("search").main(["--n-references", "5000", "--n-queries", "300", "--exact-queries", "100"])
    text = capsys.readouterr().out
    assert "| scikit-learn NearestNeighbors(algorithm='brute') |" in text
    hnsw = [r for r in results if "recall" in r]
    assert len(hnsw) == 2 and all(r["recall"] > 0.9 for r in hnsw)
    assert hnsw[1]["recall"] >= hnsw[0]["recall"]  # a wider search never finds fewer


@pytest.mark.slow
def test_out_of_core_small_run_reports_peak_memory(capsys):
    kinds = ["uint8 memmap", "hand-written PyTorch, uint8 memmap"]
    results = _load("out_of_core").main(["--n-samples", "3000", "--kinds", *kinds])
    out = capsys.readouterr().out
    assert "peak memory added by fit + transform (MiB)" in out and "of it, anonymous (MiB)" in out
    # No bound here: on a machine short of memory, pages swapped out before fit come back during it.
    for kind in kinds:
        r = results[kind]
        assert r["shape"] == [3000, 32] and r["added_mb"] > 0 and r["added_anon_mb"] >= 0


@pytest.mark.slow
def test_out_of_core_sparse_small_run(capsys):
    results = _load("out_of_core").main(["--sparse", "--n-samples", "2000"])
    out = capsys.readouterr().out
    assert "2,000 x 50,000 TF-IDF rows" in out and "one dense training batch" in out
    (r,) = results.values()
    assert r["shape"] == [2000, 32] and r["added_mb"] > 0


@pytest.mark.slow
def test_speed_backbone_quick(capsys):
    pytest.importorskip("torchvision")
    import torch

    threads = torch.get_num_threads()
    try:
        results = _load("speed").main(["--quick", "--backbone", "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    text = capsys.readouterr().out
    assert "## Fit time per image" in text and text.count("| fit trainable=") == 4
    assert all(math.isfinite(t) and t > 0 for t in results["backbone"].values())


@pytest.mark.slow
def test_write_docs_saves_the_report_with_its_command(capsys, monkeypatch, tmp_path):
    # The quickest script with a report (unseen_classes: a few seconds).
    script = _load("unseen_classes")
    monkeypatch.setattr(sys.modules["_common"], "DOCS_TABLES", tmp_path)
    script.main(["--quick", "--write-docs"])
    printed = capsys.readouterr().out
    saved = (tmp_path / "unseen_classes.md").read_text()
    assert saved.startswith("Written by `python benchmarks/unseen_classes.py --quick --write-docs`.")
    # The report as printed, its headings moved down to nest under a page's section.
    assert "### Unseen-class protocol" in saved and "\n# Unseen-class protocol" in "\n" + printed
    assert printed.count("| raw pixels |") == saved.count("| raw pixels |") >= 1


def test_every_generated_table_a_page_includes_exists_and_has_a_writer():
    import re

    pages = (BENCHMARKS.parent / "docs" / "benchmarks").glob("*.md")
    included = {m for page in pages for m in re.findall(r"\{include\} _generated/(\w+)\.md", page.read_text())}
    writers = {m for script in BENCHMARKS.glob("*.py") for m in re.findall(r'docs_report\(\s*"(\w+)"', script.read_text())}
    assert {"omniglot", "speed", "unseen_classes", "verifier_scale", "search", "out_of_core"} <= included
    for name in included:
        assert (BENCHMARKS.parent / "docs" / "benchmarks" / "_generated" / f"{name}.md").is_file(), name
        assert name in writers, f"no benchmark script writes _generated/{name}.md"


@pytest.fixture(scope="module")
def fake_people(tmp_path_factory):
    """15 fake people x 4 photos, each person a random 16x16 pattern with 5% of
    pixels flipped; two photos named like the side-light shots."""
    Image = pytest.importorskip("PIL.Image")
    folder = tmp_path_factory.mktemp("fake_people")
    rng = np.random.RandomState(0)
    for person in range(15):
        base = rng.rand(16, 16) > 0.5
        (folder / f"subject{person:02d}").mkdir()
        for stem in ("normal", "happy", "leftlight", "rightlight"):
            noisy = base ^ (rng.rand(16, 16) > 0.95)
            Image.fromarray(np.where(noisy, 255, 0).astype(np.uint8)).save(folder / f"subject{person:02d}" / f"{stem}.png")
    return folder


@pytest.mark.slow
def test_faces_quick_on_a_folder_of_fake_people(fake_people, capsys):
    faces = _load("faces")
    results = faces.main(["--data", str(fake_people), "--size", "16", "--quick", "--methods", "raw", "PCA", "classic", "SiameseEmbedder"])
    out = capsys.readouterr().out
    assert "## every photo" in out and "## without side light" in out
    # What load_image_folder(return_X_y=True) returns trains the same model as the images.
    loader, images = results[("every photo", faces.LOADER_ROW)][0], results[("every photo", "SiameseEmbedder() default")][0]
    assert (loader["one_shot"], loader["auc"]) == (images["one_shot"], images["auc"])
    package = ["SiameseEmbedder() default", faces.LOADER_ROW, "SiameseEmbedder(validation_fraction='auto')",
               "SiameseEmbedder(validation_fraction='auto', refit=False)",
               *(f"SiameseEmbedder(loss='{name}')" for name in faces.FACE_LOSSES)]
    assert [name for condition, name in results if condition == "every photo"] == ["raw pixels", "PCA (32)", *CLASSIC_ROWS, *package]
    # Each condition's section names its own strongest baseline (one split: its runs are the means).
    for condition, section in zip(("every photo", "without side light"), out.split("## without side light")):
        means = {name: runs[0] for (cond, name), runs in results.items() if cond == condition}
        _assert_margins(section, means, [("one_shot", "1-shot"), ("auc", "ROC AUC")], package)
    # Raw pixels tell the fake people apart; chance 1-shot accuracy is 1/5.
    assert results[("every photo", "raw pixels")][0]["one_shot"] > 0.9
    # Fisherfaces keeps the 9 directions that part the 10 training people, which random patterns
    # of other people do not share: measured 0.37 and 0.69, above chance.
    fisher = CLASSIC_ROWS[0]
    assert all(r[0]["one_shot"] > 0.25 for (_, name), r in results.items() if name == fisher), results
    assert all(r[0]["one_shot"] > 0.4 and 0 <= r[0]["auc"] <= 1 for (_, name), r in results.items() if name != fisher), results


@pytest.mark.slow
def test_tune_defaults_on_the_face_protocol(fake_people, capsys):
    """--dataset faces-no-side-light: the face split and metrics, without the side-light shots."""
    module = _load("tune_defaults")
    results = module.main(
        ["--dataset", "faces-no-side-light", "--faces-data", str(fake_people), "--variants", "raw", "PCA", "classic: HOG",
         "default, validation_fraction='auto', refit", "--max-epochs", "1", "--episodes", "20", "--samples-per-epoch", "512",
         "--random-state", "1"]
    )
    out = capsys.readouterr().out
    assert "faces-no-side-light, split 1" in out
    first_run = "default, validation_fraction='auto', refit=False"
    assert list(results) == ["raw pixels", "PCA (32)", "classic: HOG", first_run]
    _assert_margins(out, results, [("one_shot", "1-shot"), ("auc", "ROC AUC")], [first_run])
    assert results["raw pixels"]["one_shot"] > 0.9 and results[first_run]["fit_s"] > 0
    assert all(0 <= r["auc"] <= 1 for r in results.values())


def test_margin_lines_name_the_strongest_baseline_and_each_rows_margin_in_points():
    classic = _load("_classic")
    results = {
        "raw pixels": {"acc": 0.80, "error": 0.30},
        "PCA (32)": {"acc": 0.70, "error": 0.25},
        "classic: HOG": {"acc": 0.85, "error": 0.28},
        "model": {"acc": 0.871, "error": 0.263},
    }
    lines = classic.margin_lines(results, [("acc", "1-shot"), ("error", "error", True)])
    # The best baseline per measure: the highest accuracy, the lowest error.
    assert lines[0] == "Strongest baseline: 1-shot 0.850 (classic: HOG); error 0.250 (PCA (32))"
    # Positive: better than it (2.1 points more accurate; 1.3 points more errors).
    assert lines[-1] == "- model: 1-shot +2.1, error -1.3"
    assert classic.strongest(results, "acc") == ("classic: HOG", 0.85)
    # No baseline row ran: nothing to name.
    assert classic.margin_lines({"model": results["model"]}, [("acc", "1-shot")]) == []


def test_classic_features_follow_the_image_size():
    classic = _load("_classic")
    rng = np.random.default_rng(0)
    X28, X8 = rng.random((3, 28 * 28)), rng.random((3, 8, 8))
    # LBP: 59 u2 patterns per cell, cells of at least 7 pixels: 4 x 4 on 28x28, one on 8x8.
    lbp = classic.LBPHistograms((28, 28)).fit(X28)
    H = lbp.transform(X28)
    assert H.shape == (3, 16 * 59)
    np.testing.assert_allclose(H.reshape(3, 16, 59).sum(-1), 1.0)
    assert classic.LBPHistograms((8, 8)).transform(X8).shape == (3, 59)
    # Its similarity is the negated chi-square distance.
    a, b = H[0], H[1]
    s = a + b
    expected = -np.sum(np.where(s > 0, (a - b) ** 2 / np.where(s > 0, s, 1), 0))
    assert lbp.embedding_similarity(H[:1], H[1:2])[0, 0] == pytest.approx(expected)
    assert lbp.embedding_similarity(H, H).diagonal() == pytest.approx(0.0)
    # HOG: 4-pixel cells on 28x28 (7 x 7 cells), blocks of 3 x 3: 5 x 5 blocks of 81 numbers;
    # 2-pixel cells on 8x8 (4 x 4), 2 x 2 blocks of 3 x 3 cells.
    assert classic.HOG((28, 28)).transform(X28).shape == (3, 5 * 5 * 81)
    assert classic.HOG((8, 8)).transform(X8).shape == (3, 2 * 2 * 81)


def test_row_selection_by_prefix_or_exact_name():
    common = _load("_common")
    rows = ["loop: triplet", "loop: triplet, cosine", "recipe"]
    assert [r for r in rows if common.selected(r, ["loop: triplet"])] == rows[:2]
    assert [r for r in rows if common.selected(r, ["loop: triplet$"])] == rows[:1]
    assert [r for r in rows if common.selected(r, [])] == rows


@pytest.mark.slow
def test_speed_defaults_quick_puts_the_previous_and_new_default_side_by_side(capsys):
    import torch

    threads = torch.get_num_threads()
    try:
        results = _load("speed").main(["--quick", "--defaults", "--datasets", "digits", "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    text = capsys.readouterr().out
    assert set(results) == {("digits", "float32"), ("digits", "auto")}
    for fits in results.values():
        assert set(fits) == {"previous", "new"}
        assert all(seconds > 0 and 0 <= accuracy <= 1 for seconds, accuracy, _ in fits.values())
    # Each printed ratio is the new fit's time over the previous one's, as measured.
    for (name, precision), fits in results.items():
        ratio = fits["new"][0] / fits["previous"][0]
        assert f"| {name} | `{precision}` |" in text and f"| {ratio:.2f} |" in text


def test_speed_previous_channels_are_the_previous_rule():
    speed = _load("speed")
    assert speed.previous_channels(8) == (112, 224) and speed.previous_channels(14) == (64, 128)
    assert speed.previous_channels(28) == speed.previous_channels(100) == (32, 64)


@pytest.mark.slow
def test_default_levers_runs_the_rows_asked_for(capsys):
    results = _load("default_levers").main(["--seeds", "0", "--episodes", "20", "--max-epochs", "1", "--threads", "1",
                                            "--rows", "(32, 64)$", "(64, 128), instance_weight=1.0, half views$"])
    assert set(results) == {"(32, 64)", "(64, 128), instance_weight=1.0, half views"}
    assert all(0 <= accuracy <= 1 and cpu > 0 for accuracy, cpu in results.values())
    from sklearn_siamese import _assembly

    assert _assembly.INSTANCE_FRACTION == 1.0  # put back after the half-views row


def test_block_order_trains_the_same_model_either_way(capsys):
    rows = _load("block_order").main(["--quick", "--threads", "1", "--precision", "float32", "--cases", "digits", "105"])
    assert [row[0] for row in rows] == ["digits 8x8, default (64, 128)", "105x105, KochEncoder"]
    assert all(row[-1] == "yes" for row in rows)  # equal embeddings: pooling first is the same function


def test_convergence_records_the_curve_and_applies_the_mlp_rule(capsys):
    convergence = _load("convergence")
    # scikit-learn's rule: stop once the loss has not fallen by tol below its best for n epochs.
    assert convergence.stopping_epoch([1.0, 0.9, 0.8, 0.7], tol=1e-3, patience=2) is None
    assert convergence.stopping_epoch([1.0, 0.9, 0.8995, 0.8992, 0.5], tol=1e-3, patience=2) == 4
    histories, stops = convergence.main(["--seeds", "0", "--max-epochs", "2", "--every", "1", "--episodes", "20",
                                         "--threads", "1"])
    history = histories[0]
    assert len(history) == 2 and all(0 <= accuracy <= 1 for accuracy in history[:, "unseen_1shot"])
    assert set(stops) == {1e-4, 1e-3} and "stops at epoch" in capsys.readouterr().out


def test_small_data_fits_both_training_lengths(capsys):
    rows = _load("small_data").main(["--datasets", "digits", "--per-class", "20", "--seeds", "0", "--max-epochs", "1",
                                     "--episodes", "20", "--threads", "1", "--rows", "previous", "auto ("])
    assert [row[1] for row in rows] == ["previous (samples_per_epoch=4096)", "auto (at most 20 passes)"]
    assert rows[0][0] == "digits (120 rows, auto = 2400 samples per epoch)"
    assert all(0 <= float(row[2]) <= 1 and float(row[-1]) > 0 for row in rows)


@pytest.mark.slow
def test_allocator_compares_fresh_processes_with_equal_embeddings(capsys):
    rows = _load("allocator").main(["--quick", "--threads", "1", "--cases", "digits"])
    assert len(rows) == 1 and rows[0][-1] == "yes"
    assert float(rows[0][2]) > 0 and float(rows[0][3]) > 0


@pytest.mark.slow
def test_loss_auto_digits_rows_name_what_auto_chose(capsys):
    results = _load("loss_auto").main(
        ["--digits", "--seeds", "0", "--max-epochs", "1", "--candidates", "contrastive", "auto", "--threads", "1"]
    )
    assert [r["candidate"] for r in results] == ["contrastive", "auto (contrastive)"]
    # 6 training classes: "auto" is the contrastive recipe, the same fit.
    assert results[0]["accuracy"] == results[1]["accuracy"]
    assert "| auto (contrastive) |" in capsys.readouterr().out
