"""How far a false-accept rate measured on new strangers may stray from its target."""

import numpy as np


def far_tolerance(far, n_calibration, n_measured, z=3.0):
    """Largest deviation above ``far`` that sampling alone explains, at ``z`` standard deviations.

    A threshold set for ``far`` on ``n_calibration`` strangers and a rate
    measured on ``n_measured`` others drawn from the same population differ
    by two binomial errors, each of variance ``far * (1 - far) / n``: the
    difference has standard deviation ``sqrt(far (1 - far) (1 / n_calibration
    + 1 / n_measured))``. At ``z=3`` a correct calibration fails the check
    about once in 700 runs (one-sided). Strangers of classes other than the
    calibration ones add a shift that no count bounds, so the tests that use
    this draw both sets from the same classes.
    """
    return z * np.sqrt(far * (1 - far) * (1 / n_calibration + 1 / n_measured))
