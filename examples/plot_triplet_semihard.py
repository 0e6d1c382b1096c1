"""
Triplet loss with semi-hard mining (FaceNet)
============================================

Schroff, Kalenichenko and Philbin (2015) train with triplets ``(anchor,
positive, negative)`` and pick, inside each batch, the *semi-hard*
negatives: farther from the anchor than the positive, but within the
margin. Here the same recipe learns an embedding of scikit-learn's digits,
compared with all in-batch triplets and with random triplets as
hand-written code draws them.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sklearn_siamese import SiameseEmbedder
from sklearn_siamese.metrics import mean_average_precision_at_r, precision_at_1
from sklearn_siamese.plotting import plot_embedding

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)

# %%
# Three ways to choose triplets, everything else equal. MAP@R rewards
# embeddings where *all* samples of a class come first, not only the
# nearest one.
models = {}
for mining in ["semihard", "all", "random_pairs"]:
    # A small MLP on the flat rows keeps the three trainings quick.
    model = SiameseEmbedder(
        encoder="mlp", loss="triplet", mining=mining, margin=0.5, max_epochs=10, random_state=0
    )
    models[mining] = model.fit(X_train, y_train)
    print(
        f"{mining:>12}: P@1 {precision_at_1(model, X_test, y_test):.3f}   "
        f"MAP@R {mean_average_precision_at_r(model, X_test, y_test):.3f}"
    )
print(f"{'raw pixels':>12}: P@1 {precision_at_1(None, X_test, y_test):.3f}   "
      f"MAP@R {mean_average_precision_at_r(None, X_test, y_test):.3f}")

# %%
# Raw pixels are a strong nearest-neighbour baseline on these digits (their
# P@1 is hard to beat), but they rank whole classes poorly: the learned
# embeddings gain on MAP@R, which needs every sample of a class close.
#
# The semi-hard embedding of the test digits (32 dimensions, drawn on its
# first two principal components), with the digits' thumbnails.
fig, ax = plt.subplots(figsize=(7, 6))
plot_embedding(
    models["semihard"], X_test, y_test, thumbnails=True, image_shape=(8, 8), ax=ax
)
ax.set_title("Triplet loss, semi-hard mining: test digits")
plt.show()
