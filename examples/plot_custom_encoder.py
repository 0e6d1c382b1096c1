"""
Your own PyTorch encoder
========================

Any :class:`torch.nn.Module` can be the ``encoder``. When the estimator
knows that X holds images (X given as ``(n, H, W)`` or ``(n, C, H, W)``, or
the ``image_shape`` parameter set), the module receives its batches as
``(batch, C, H, W)`` images, so a plain convolutional network written for
PyTorch works unchanged; on tabular X it receives rows
``(batch, n_features)``.

Train a small convolutional network of our own on the digits 2-7 and
recognise the digits 0, 1, 8 and 9, never seen in training, from one
example each.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

from sklearn_siamese import SiameseEmbedder
from sklearn_siamese.metrics import one_shot_accuracy
from sklearn_siamese.plotting import plot_embedding

X, y = load_digits(return_X_y=True)
images = (X / 16.0).astype(np.float32).reshape(-1, 8, 8)  # (n, 8, 8): images
seen = np.isin(y, [2, 3, 4, 5, 6, 7])


# %%
# The module: two convolution blocks and a linear head. ``forward`` gets
# ``(batch, 1, 8, 8)``; it returns one embedding per image.
class SmallConvNet(nn.Module):
    def __init__(self, embedding_dim=32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.head = nn.Linear(64, embedding_dim)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


torch.manual_seed(0)  # the module's initial weights are ours to seed
embedder = SiameseEmbedder(
    SmallConvNet(),
    augmentation="affine",  # random shifts of +-1 pixel, on the images' shape
    max_epochs=8,
    samples_per_epoch=2048,  # short epochs: a quick example
    optimizer="adamw",
    optimizer__betas=(0.9, 0.99),  # any argument of the optimizer, as in skorch
    random_state=0,
).fit(images[seen], y[seen])
print(f"image_shape_={embedder.image_shape_}, {embedder.n_epochs_} epochs")

# %%
# 4-way 1-shot episodes on the unseen digits, against the raw pixels with
# the same episodes. ``transform`` and the metrics take the images or their
# flattened rows alike. This small network, trained briefly to keep the
# example fast, does not beat the pixels of these tiny images; the built-in
# default for images (``SiameseEmbedder(image_shape=(8, 8))``: a wider
# ``ConvEncoder``, up to 30 epochs) does, as the README's table shows.
flat = images.reshape(len(images), -1)
for name, model in [("SmallConvNet", embedder), ("raw pixels", None)]:
    accuracy = one_shot_accuracy(model, flat[~seen], y[~seen], n_way=4, n_episodes=300, random_state=0)
    print(f"{name:13s} 4-way 1-shot accuracy on unseen digits: {accuracy:.3f}")

# %%
# The unseen digits in the learned embedding (PCA to two dimensions).
ax = plot_embedding(embedder, flat[~seen], y[~seen], thumbnails=True, max_thumbnails=30)
ax.set_title("Unseen digits 0, 1, 8, 9 in the embedding of SmallConvNet")
plt.show()
