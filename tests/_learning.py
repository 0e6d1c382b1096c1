"""What a test that says "the model learned" compares the model with."""

from sklearn.base import clone


# Margin by which a trained model's held-out accuracy must beat its untrained
# twin's. The twin runs the same batches with weights that never move, which
# is what a training bug (or ``tests/sabotage``) gives: the difference is then
# exactly 0. Float rounding on another CPU moves a query or two of a few
# hundred (under 0.01); training for the tests' few epochs gains 0.05 to 0.10.
LEARNED_MARGIN = 0.03


def untrained_twin(estimator):
    """``estimator`` unfitted, with a learning rate too small to move any float32 weight.

    Its fit draws the same batches as ``estimator``'s (same ``random_state``)
    and updates the batch-norm statistics as they do, but every weight stays
    at its initial value: the model a fit that learned nothing gives, which
    a test that says "it learned" must beat by ``LEARNED_MARGIN``. A
    pipeline gets the small rate on each step that has one.
    """
    twin = clone(estimator)
    params = twin.get_params()
    names = [name for name in params if name == "lr" or name.endswith("__lr")]
    assert names, f"{type(estimator).__name__} has no learning rate to turn off"
    return twin.set_params(**{name: 1e-12 for name in names})
