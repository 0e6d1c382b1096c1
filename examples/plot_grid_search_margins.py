"""
Choosing the margin with a class-disjoint cross-validation
==========================================================

A siamese model is meant for classes it was not trained on, so its
hyperparameters should be chosen on held-out *classes*, not on new samples
of the training classes. :class:`~sklearn.model_selection.GroupKFold` with
the labels as groups does that: every validation fold holds classes the
fold's model never saw. The score is 1-shot accuracy on those classes
(:func:`~sklearn_siamese.metrics.make_one_shot_scorer`).
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, GroupKFold

from sklearn_siamese import MLPEncoder, SiameseEmbedder
from sklearn_siamese.metrics import make_one_shot_scorer

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)

# %%
# Three folds of three or four digits: train on the other digits, score
# 3-way one-shot episodes on the fold's digits. ``groups=y`` is what makes
# the folds class-disjoint.
search = GridSearchCV(
    SiameseEmbedder(
        MLPEncoder(hidden_sizes=(32,)), batch_size=128, max_epochs=3,
        samples_per_epoch=1024, random_state=0,
    ),
    {"margin": [0.1, 0.25, 0.5, 1.0, 2.0]},
    cv=GroupKFold(n_splits=3),
    scoring=make_one_shot_scorer(n_way=3, n_episodes=200),
    refit=False,  # only the comparison is wanted here
)
search.fit(X, y, groups=y)
print("best:", search.best_params_, f"one-shot accuracy {search.best_score_:.3f}")

# %%
# Mean and spread over the three folds.
results = search.cv_results_
margins = np.asarray(results["param_margin"], dtype=float)
fig, ax = plt.subplots(figsize=(6, 4))
mean, std = results["mean_test_score"], results["std_test_score"]
ax.errorbar(margins, mean, yerr=std, marker="o", capsize=3)
ax.set_xscale("log")
ax.set_xlabel("margin of the contrastive loss")
ax.set_ylabel("3-way 1-shot accuracy on unseen digits")
ax.set_title("GridSearchCV with GroupKFold over the labels")
plt.show()
