"""
One-shot classification with a Pipeline and k-nearest neighbours
================================================================

A siamese embedding is useful for classes it never saw: keep the trained
embedder frozen and fit only a nearest-neighbour classifier on **one**
example of each new class. In scikit-learn terms that is a
:class:`~sklearn.pipeline.Pipeline` of a
:class:`~sklearn.frozen.FrozenEstimator` and a
:class:`~sklearn.neighbors.KNeighborsClassifier`.

Train on the digits 2-7; recognise 0, 1, 8 and 9 from one image each.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.frozen import FrozenEstimator
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

from sklearn_siamese import ConvEncoder, SiameseEmbedder
from sklearn_siamese.augmentation import RandomAffine

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)
seen = np.isin(y, [2, 3, 4, 5, 6, 7])
X_new, y_new = X[~seen], y[~seen]

# %%
# The image recipe: a small convolutional encoder and affine distortions
# (see "Defaults and the evidence for them" in the user guide).
embedder = SiameseEmbedder(
    encoder=ConvEncoder(input_shape=(8, 8)),
    augmentation=RandomAffine(image_shape=(8, 8), translate=1),
    max_epochs=8,
    random_state=0,
).fit(X[seen], y[seen])

# %%
# One support image per new digit; every other image of those digits is a
# query. Repeat over 20 draws of the support set, against raw pixels.
rng = np.random.RandomState(0)
scores = {"SiameseEmbedder": [], "raw pixels": []}
for _ in range(20):
    support = np.array([rng.choice(np.flatnonzero(y_new == c)) for c in (0, 1, 8, 9)])
    queries = np.setdiff1d(np.arange(len(y_new)), support)
    one_shot = make_pipeline(FrozenEstimator(embedder), KNeighborsClassifier(n_neighbors=1))
    one_shot.fit(X_new[support], y_new[support])
    scores["SiameseEmbedder"].append(one_shot.score(X_new[queries], y_new[queries]))
    raw = KNeighborsClassifier(n_neighbors=1).fit(X_new[support], y_new[support])
    scores["raw pixels"].append(raw.score(X_new[queries], y_new[queries]))
for name, s in scores.items():
    print(f"{name:>16}: 4-way one-shot accuracy {np.mean(s):.3f} "
          f"(+- {np.std(s):.3f} over support draws)")

# %%
# Read the two lines together: on 8x8 digits, after a short training,
# the embedding is at best a little above raw pixels, and one support draw
# moves the score more than the model does. The longer runs on the
# benchmark pages (30 epochs, 500 episodes) put the image recipe at 0.748
# against 0.681 for raw pixels on these digits, and at 0.843 against 0.637
# on 28x28 MNIST digits.

# %%
# The support images and a few queries with the pipeline's predictions.
fig, axes = plt.subplots(2, 8, figsize=(9, 2.8))
for ax, i in zip(axes[0, :4], support):
    ax.imshow(X_new[i].reshape(8, 8), cmap="gray_r")
    ax.set_title(f"support {y_new[i]}", fontsize=9)
picked = rng.choice(queries, 12, replace=False)
predicted = one_shot.predict(X_new[picked])
for ax, i, p in zip(np.r_[axes[0, 4:], axes[1]], picked, predicted):
    ax.imshow(X_new[i].reshape(8, 8), cmap="gray_r")
    ax.set_title(f"pred {p}", fontsize=9, color="green" if p == y_new[i] else "red")
for ax in axes.ravel():
    ax.axis("off")
fig.tight_layout()
plt.show()
