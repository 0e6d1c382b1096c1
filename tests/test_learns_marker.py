"""The ``learns`` marker: the tests that say a model learned, which the sabotage check runs."""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent

# Tests that once passed with an untrained model (issue 37), each now compared with a baseline:
# they must keep the marker, so that .ci/run's sabotage check keeps running them.
MUST_BE_MARKED = {
    "test_embedder.py::test_every_loss_and_mining_trains",
    "test_embedder.py::test_one_shot_unseen_classes_with_frozen_embedder",
    "test_embedder.py::test_pipeline_cross_val_score",
    "test_embedder.py::test_grid_search_over_margin_on_pipeline_and_alone",
    "test_verifier.py::test_each_loss_fits_and_scores",
    "test_verifier.py::test_one_shot_on_unseen_digit_classes_beats_raw_pixels",
    "test_verifier.py::test_pipeline_cross_val_and_grid_search",
    "test_metrics.py::test_dir_scorer_on_a_fitted_embedder",
    "test_metrics.py::test_scorers_on_the_one_shot_pipeline_with_class_disjoint_folds",
    "test_metrics.py::test_scorers_in_grid_search_and_cross_validation",
    "test_images.py::test_verifier_pairs_and_references_as_images",
    "_training/test_data.py::test_verifier_with_rotation_classes_predicts_the_users_classes",
    "test_distances.py::test_a_users_distance_and_miner_in_a_grid_search",
    "test_demo.py::test_demo_table_and_scores",
    "test_scaling.py::test_data_parallel_training_learns",
}


def _is_learns_mark(decorator):
    """``@pytest.mark.learns``, with or without arguments."""
    node = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(node, ast.Attribute) and node.attr == "learns" and ast.unparse(node) == "pytest.mark.learns"


def marked_tests():
    """``file::test`` of every test function decorated with ``@pytest.mark.learns``."""
    found = set()
    for path in TESTS.rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and any(_is_learns_mark(d) for d in node.decorator_list):
                found.add(f"{path.relative_to(TESTS).as_posix()}::{node.name}")
    return found


def test_the_learns_marker_set_is_not_empty_and_keeps_the_rewritten_tests():
    marked = marked_tests()
    assert len(marked) >= len(MUST_BE_MARKED)
    assert MUST_BE_MARKED <= marked, sorted(MUST_BE_MARKED - marked)


def test_the_marker_is_registered_and_the_check_runs_it():
    setup = (TESTS.parent / "setup.cfg").read_text()
    assert "\n    learns:" in setup  # an unregistered marker would only warn, and select nothing by typo
    ci = (TESTS.parent / ".ci" / "run").read_text()
    assert "python tests/sabotage/check_learns.py" in ci
