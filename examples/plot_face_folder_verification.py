"""
Face verification from a folder of images per person
====================================================

The AT&T (ORL) faces come as one folder per person, ``s1/1.pgm`` ...
``s40/10.pgm``. This example writes a folder in that layout with made-up,
face-like images (each "person" has their own face shape, eye spacing and
mouth; each image moves, lights and blurs them differently), reads it with
:func:`~sklearn_siamese.datasets.load_image_folder`, trains a
:class:`~sklearn_siamese.SiameseVerifier` on some people and verifies pairs
of people it never saw. Point ``load_image_folder`` at the real
``att_faces`` folder to run the same code on real faces.
"""

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from sklearn_siamese import ConvEncoder, SiameseVerifier
from sklearn_siamese.augmentation import RandomAffine
from sklearn_siamese.datasets import load_image_folder
from sklearn_siamese.metrics import verification_accuracy, verification_roc_auc
from sklearn_siamese.pairs import make_pairs
from sklearn_siamese.plotting import plot_pairs

SIZE = 32
rng = np.random.RandomState(0)
yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE


def blob(cx, cy, rx, ry):
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1


def face(person, rng):
    """One image of ``person`` (a dict of face features), lit and placed at random."""
    dx, dy = rng.normal(0, 0.03, 2)
    img = 0.25 + 0.5 * blob(0.5 + dx, 0.52 + dy, person["width"], person["height"])
    for side in (-1, 1):
        eye_x = 0.5 + dx + side * person["eyes"]
        eye = blob(eye_x, 0.42 + dy, person["eye_size"], person["eye_size"] * 0.7)
        img[eye] = 0.1
    smile = 0.025 + rng.uniform(0, 0.02)
    img[blob(0.5 + dx, 0.72 + dy + person["mouth_y"], person["mouth"], smile)] = 0.15
    img[blob(0.5 + dx, 0.57 + dy, 0.025, person["nose"])] -= 0.15
    img = img * rng.uniform(0.7, 1.2) + rng.normal(0, 0.06, img.shape)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


# %%
# Write 40 people x 10 images as ``s1/1.pgm`` ... ``s40/10.pgm``.
folder = Path(tempfile.mkdtemp()) / "att_faces_like"
for p in range(1, 41):
    person = dict(
        width=rng.uniform(0.28, 0.4),
        height=rng.uniform(0.36, 0.46),
        eyes=rng.uniform(0.09, 0.17),
        eye_size=rng.uniform(0.035, 0.07),
        mouth=rng.uniform(0.07, 0.16),
        mouth_y=rng.uniform(-0.03, 0.04),
        nose=rng.uniform(0.03, 0.09),
    )
    (folder / f"s{p}").mkdir(parents=True)
    for k in range(1, 11):
        Image.fromarray(face(person, rng)).save(folder / f"s{p}" / f"{k}.pgm")

faces = load_image_folder(folder)
X, y = faces.data, faces.target
print(f"{len(X)} images of {len(faces.target_names)} people, {faces.image_shape} pixels")

# %%
# Train on 30 people; the other 10 are never seen in training.
train_people = np.isin(y, [f"s{p}" for p in range(1, 31)])
verifier = SiameseVerifier(
    encoder=ConvEncoder(input_shape=faces.image_shape, channels=(8, 16)),
    loss="contrastive",  # a distance-based verifier transfers to new people
    augmentation=RandomAffine(image_shape=faces.image_shape, translate=2),
    max_epochs=10,
    samples_per_epoch=600,  # two passes over the 300 training images
    random_state=0,
).fit(X[train_people], y[train_people])

pairs, same = make_pairs(X[~train_people], y[~train_people], n_pairs=1000, random_state=0)
accuracy = verification_accuracy(verifier, pairs, same)
auc = verification_roc_auc(verifier, pairs, same)
print(f"unseen people: verification accuracy {accuracy:.3f}, ROC AUC {auc:.3f}")
print(f"raw pixels:    ROC AUC {verification_roc_auc(None, pairs, same):.3f}")

# %%
# Pairs of unseen people with the verifier's probability of "same"; green
# titles are right decisions at the calibrated ``threshold_``, red wrong.
plot_pairs(verifier, pairs[:8], same[:8], threshold=verifier.threshold_)
plt.show()
