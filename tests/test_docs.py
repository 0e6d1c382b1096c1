"""The API reference covers every public name (docs/api_pages.py writes it at every docs build)."""

import importlib.util
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _api_pages():
    spec = importlib.util.spec_from_file_location("api_pages", DOCS / "api_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_public_name_is_on_an_api_page():
    assert _api_pages().undocumented_names() == []


def test_api_listing_reaches_the_estimators_and_the_metrics_once():
    listing = _api_pages().api_listing()
    assert listing["sklearn_siamese"][:2] == ["SiameseEmbedder", "SiameseVerifier"]
    assert "one_shot_accuracy" in listing["sklearn_siamese.metrics"]
    # Re-exported at the top level, so not listed again under its home module.
    assert "ConvEncoder" not in listing["sklearn_siamese.encoders"]
    assert "EncoderSpec" in listing["sklearn_siamese.encoders"]
    assert "sklearn_siamese.demo" not in listing  # a program, documented in the guide


def test_a_public_name_left_out_of_all_is_reported(monkeypatch):
    import sklearn_siamese.pairs as pairs

    api_pages = _api_pages()
    monkeypatch.setattr(pairs, "__all__", ["make_pairs"], raising=False)
    missing = api_pages.undocumented_names()
    assert "sklearn_siamese.pairs.best_threshold" in missing
    assert {name.rsplit(".", 1)[1] for name in missing} == {"best_threshold", "check_pair_labels"}


def test_write_api_pages(tmp_path):
    _api_pages().write_api_pages(tmp_path)
    index = (tmp_path / "index.rst").read_text()
    assert "   sklearn_siamese.metrics" in index
    page = (tmp_path / "sklearn_siamese.metrics.rst").read_text()
    assert ".. autosummary::" in page and "   one_shot_accuracy" in page


def test_readme_is_at_most_150_lines():
    readme = DOCS.parent / "README.md"
    assert len(readme.read_text().splitlines()) <= 150


def test_guide_numbers_come_from_the_script_that_measures_them():
    # The pages include the reports of benchmarks/guide_numbers.py rather than quoting stale numbers.
    generated = DOCS / "benchmarks" / "_generated"
    for page, report in [("evaluation.md", "guide_worked_example.md"), ("reliability.md", "guide_sizes.md")]:
        assert f"_generated/{report}" in (DOCS / "user_guide" / page).read_text()
        assert (generated / report).read_text().startswith("Written by `python benchmarks/guide_numbers.py")
    assert "546 kB" not in (DOCS / "user_guide" / "reliability.md").read_text()
