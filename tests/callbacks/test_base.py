"""EstimatorCallback: a callback given the estimator it trains for."""

import pickle

import numpy as np
from sklearn.datasets import load_digits

from sklearn_siamese import SiameseEmbedder
from sklearn_siamese.callbacks import EstimatorCallback


class RecordsEpochs(EstimatorCallback):
    def on_epoch_end(self, net, **kwargs):
        self.seen = getattr(self, "seen", []) + [(type(self.estimator_).__name__, self.estimator_.margin)]


def test_the_estimator_hands_itself_to_its_copy_of_the_callback():
    X, y = load_digits(return_X_y=True)
    given = RecordsEpochs()
    emb = SiameseEmbedder(
        image_shape=None, embedding_dim=4, max_epochs=2, samples_per_epoch=200, margin=0.7, callbacks=[given], validation_fraction=None, random_state=0
    ).fit(X[:200] / 16, y[:200])
    assert given.estimator_ is None  # the parameter is not touched: fit works on a copy
    used = dict(emb.net_.callbacks_)["user_0_RecordsEpochs"]
    assert used.estimator_ is emb
    assert used.seen == [("SiameseEmbedder", 0.7)] * 2
    # The reference is not pickled with the callback: the estimator holds itself once.
    restored = pickle.loads(pickle.dumps(emb))
    assert dict(restored.net_.callbacks_)["user_0_RecordsEpochs"].estimator_ is None
    np.testing.assert_array_equal(restored.transform(X[:5] / 16), emb.transform(X[:5] / 16))
