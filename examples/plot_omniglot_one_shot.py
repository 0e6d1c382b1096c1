"""
20-way 1-shot Omniglot: the Koch verifier and the embedder
==========================================================

Koch, Zemel and Salakhutdinov (2015) train a siamese network to say whether
two handwritten characters are the same, then classify a character of an
alphabet never seen in training by comparing it with **one** drawing of
each of 20 candidate characters of that alphabet.

This example reads the reduced Omniglot background sets when
``../shared/data/omniglot`` (next to the repository) holds them; otherwise
it makes a synthetic stand-in of stroke-like "characters", so it always
runs. Training uses 6 alphabets; the 20-way episodes are drawn within each
of the 2 held-out alphabets (``groups=``). It compares

* :class:`~sklearn_siamese.SiameseVerifier` with Koch's head (weighted L1
  distance, sigmoid, binary cross-entropy), and
* :class:`~sklearn_siamese.SiameseEmbedder` (contrastive loss and the
  instance term),

both on a small convolutional encoder at 28x28 and a few epochs, so the
example runs in under a minute on a CPU. The paper's encoder,
:class:`~sklearn_siamese.KochEncoder`, needs 105x105 images and hours of
GPU training; the Omniglot benchmark page has the longer runs.
"""

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sklearn_siamese import ConvEncoder, SiameseEmbedder, SiameseVerifier
from sklearn_siamese.augmentation import RandomAffine
from sklearn_siamese.datasets import load_image_folder
from sklearn_siamese.metrics import one_shot_accuracy


def find_omniglot():
    """The folder of the two reduced background zips, next to the repository, or None."""
    here = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
    for root in (here.parent.parent, here.parent, Path.cwd().parent):
        folder = root / "shared" / "data" / "omniglot"
        if (folder / "images_background_small1.zip").exists():
            return folder
    return None


def synthetic_characters(n_alphabets=8, n_characters=20, n_drawings=20, size=28, seed=0):
    """Stroke-like characters: each a few random line segments, redrawn with jitter."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    X, y, groups = [], [], []
    for a in range(n_alphabets):
        style = rng.uniform(0.2, 0.8, (3, 2))  # an alphabet's strokes share anchor points
        for c in range(n_characters):
            starts = style[rng.randint(3, size=3)] + rng.normal(0, 0.15, (3, 2))
            strokes = list(zip(starts, rng.uniform(0.15, 0.8, (3, 2))))
            for _ in range(n_drawings):
                img = np.zeros((size, size))
                for start, end in strokes:
                    s, e = start + rng.normal(0, 0.03, 2), end + rng.normal(0, 0.03, 2)
                    t = np.linspace(0, 1, 30)[:, None]
                    for px, py in s + t * (e - s):
                        ink = np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / 0.0015)
                        img = np.maximum(img, ink)
                X.append(img.ravel())
                y.append(f"alphabet{a}/character{c:02d}")
                groups.append(f"alphabet{a}")
    return np.asarray(X, dtype=np.float32), np.array(y), np.array(groups)


folder = find_omniglot()
if folder is not None:
    data = load_image_folder(
        [folder / f"images_background_small{i}.zip" for i in (1, 2)], image_size=28, invert=True, flatten=True
    )
    X, y, groups = data.data, data.target, data.groups
    held_out = ["Balinese", "Early_Aramaic"]
    print(f"Omniglot from {folder}")
else:
    X, y, groups = synthetic_characters()
    held_out = ["alphabet6", "alphabet7"]
    print("Omniglot not found: synthetic stand-in")
test = np.isin(groups, held_out)
print(f"{len(np.unique(y[~test]))} training characters, "
      f"{len(np.unique(y[test]))} held-out characters")

# %%
# Both models share the encoder, the augmentation and the training budget.
common = dict(
    encoder=ConvEncoder(input_shape=(28, 28), channels=(16, 32)),
    augmentation=RandomAffine(image_shape=(28, 28), translate=1.0),
    batch_size=128,
    max_epochs=4,
    validation_fraction=None,
    random_state=0,
)
models = {
    "raw pixels": None,
    "Koch verifier (L1 head, BCE)": SiameseVerifier(loss="bce", **common),
    "SiameseEmbedder": SiameseEmbedder(**common),
}
errors = {}
for name, model in models.items():
    if model is not None:
        model.fit(X[~test], y[~test])
    acc = one_shot_accuracy(model, X[test], y[test], n_way=20, k_shot=1, n_episodes=200,
                            groups=groups[test], random_state=0)
    errors[name] = 100 * (1 - acc)
    print(f"{name:>30}: 20-way 1-shot error {errors[name]:.1f}% (chance: 95%)")

# %%
fig, ax = plt.subplots(figsize=(6, 3))
ax.barh(list(errors), list(errors.values()), color=["grey", "tab:orange", "tab:blue"])
ax.invert_yaxis()
ax.set_xlabel("20-way 1-shot error on held-out alphabets (%)")
ax.set_xlim(0, 100)
fig.tight_layout()
plt.show()
