"""Saving the whole estimator during training, to resume a fit later."""

import os
import tempfile

import joblib

from .base import EstimatorCallback

__all__ = ["EstimatorCheckpoint"]


def _atomic_write(write, path):
    """Write through a temporary file and rename, so a crash never leaves half a file."""
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


class EstimatorCheckpoint(EstimatorCallback):
    """Pickle the whole estimator at the end of every epoch, to resume a fit later.

    Pass it in the estimator's ``callbacks``. The file (written atomically
    with ``joblib.dump``) holds everything needed to continue exactly where
    the epoch ended: weights, optimiser state, history and random states.
    To resume after a crash, load it and fit again on the same data with
    ``warm_start=True``; the result equals an uninterrupted run::

        est = joblib.load("ckpt.joblib")
        est.set_params(warm_start=True).fit(X, y)

    The training data is not stored. skorch's own
    :class:`skorch.callbacks.Checkpoint` also works in ``callbacks`` for
    saving weights, but not the random states needed for an exact resume.
    Unpickling runs code: load only checkpoints you wrote.

    Parameters
    ----------
    path : str or path-like
        File to write (overwritten every epoch).
    every : int, default=1
        Save every ``every`` epochs.
    """

    def __init__(self, path, every=1):
        self.path = path
        self.every = every

    def on_epoch_end(self, net, **kwargs):
        estimator = self.estimator_
        if estimator is None or len(net.history) % self.every:
            return
        # The estimator's fitted attributes are current: its net brings them up to date at each epoch's end
        # before this callback runs (sklearn_siamese._assembly.RecordTraining).
        split, net.train_split = net.train_split, None  # keep the data out of the file
        try:
            _atomic_write(lambda f: joblib.dump(estimator, f), self.path)
        finally:
            net.train_split = split
