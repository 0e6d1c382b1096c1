"""The base class of callbacks that need the estimator being fitted."""

from skorch.callbacks import Callback

__all__ = ["EstimatorCallback"]


class EstimatorCallback(Callback):
    """A skorch callback that is given the estimator it trains for.

    skorch hands a callback the net; some callbacks need the
    :class:`~sklearn_siamese.SiameseEmbedder` or
    :class:`~sklearn_siamese.SiameseVerifier` around it (to save it, as
    :class:`~sklearn_siamese.callbacks.EstimatorCheckpoint` does, or to read
    its parameters). Subclass this one: before training starts (and before
    a ``warm_start`` fit continues), the estimator calls
    :meth:`set_estimator` on its own copy of every such callback in its
    ``callbacks``. The reference is not pickled with the callback, so a
    pickled estimator holds itself once.

    Attributes
    ----------
    estimator_ : SiameseEmbedder or SiameseVerifier or None
        The estimator being fitted; None until :meth:`set_estimator`.
    """

    estimator_ = None

    def set_estimator(self, estimator):
        """Called by the estimator with itself before training.

        Parameters
        ----------
        estimator : SiameseEmbedder or SiameseVerifier
            The estimator whose ``fit`` runs this callback.

        Returns
        -------
        self : EstimatorCallback
        """
        self.estimator_ = estimator
        return self

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("estimator_", None)
        return state
