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


def conformal_accepted(far, n_calibration):
    """How many of ``n_calibration`` strangers the conformal rule accepts: the largest k with (k + 1) / (n + 1) <= far, or 0."""
    return max(int(np.floor(far * (n_calibration + 1) + 1e-9)) - 1, 0)


def conformal_far(far, n_calibration):
    """Bracket of the mean FAR on new strangers of a conformal calibration on ``n_calibration`` exchangeable ones.

    With continuous scores, a threshold just above the (k + 1)-th highest
    of n calibration strangers accepts a new one with a probability
    distributed as Beta(k + 1, n - k) over calibration draws (mean
    ``(k + 1) / (n + 1)``); one at the k-th highest as Beta(k, n - k + 1)
    (mean ``k / (n + 1)``). The calibration's threshold lies between the
    two, so its mean rate does too. Returns ``(low, high, spread)``, the
    spread being the larger standard deviation of the two.
    """
    n = n_calibration
    k = conformal_accepted(far, n)

    def beta_std(a, b):
        return np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))) if a > 0 else 0.0

    return k / (n + 1), (k + 1) / (n + 1), max(beta_std(k, n - k + 1), beta_std(k + 1, n - k))


def split_mean_tolerance(far_spread, mean_rate, n_measured, n_splits, z=3.0):
    """Deviation of a mean over ``n_splits`` of the FAR measured on ``n_measured`` new strangers each.

    Each split's rate is its threshold's true rate (spread ``far_spread``)
    plus binomial noise of ``n_measured`` strangers at ``mean_rate``; the
    mean over independent splits divides the variance by ``n_splits``.
    """
    per_split = far_spread**2 + mean_rate * (1 - mean_rate) / n_measured
    return z * np.sqrt(per_split / n_splits)
