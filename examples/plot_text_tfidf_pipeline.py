"""
Text: TF-IDF, a siamese embedding and a nearest neighbour
=========================================================

Sparse rows go straight into :class:`~sklearn_siamese.SiameseEmbedder`: a
:class:`~sklearn.feature_extraction.text.TfidfVectorizer` hands it a scipy
sparse matrix, which it densifies one batch at a time (the MLP encoder,
which ``encoder="auto"`` chooses for sparse rows), so a vocabulary of any
size fits in memory. The pipeline is
``TfidfVectorizer() -> SiameseEmbedder() -> KNeighborsClassifier(1)``.

The text needs no download: it is SciPy's own documentation, the summary
of every documented function in 14 of its submodules (``scipy.stats``,
``scipy.signal``, ``scipy.sparse.linalg``, ...), each labelled with its
submodule. Which submodule does a function belong to, from its
description alone? (The numbers depend on the SciPy version installed.)
"""

# %%
import importlib
import inspect
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from sklearn_siamese import SiameseEmbedder

SUBMODULES = [
    "special", "stats", "signal", "optimize", "linalg", "sparse", "ndimage", "interpolate",
    "integrate", "spatial", "fft", "sparse.linalg", "sparse.csgraph", "spatial.distance",
]  # fmt: skip


def summaries(submodule):
    """The description part of each documented function's docstring (before Parameters, Returns, Examples)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated names
        module = importlib.import_module(f"scipy.{submodule}")
        for name in sorted(getattr(module, "__all__", [])):
            obj = getattr(module, name, None)
            doc = inspect.getdoc(obj) if callable(obj) else None
            if doc:
                for section in ("\nParameters\n", "\nReturns\n", "\nExamples\n"):
                    doc = doc.split(section)[0]
                if len(doc.split()) >= 8:
                    yield doc


texts, labels, seen = [], [], set()
for submodule in SUBMODULES:
    for text in summaries(submodule):
        if text not in seen:  # a function exported by two submodules counts once
            seen.add(text)
            texts.append(text)
            labels.append(submodule)
labels = np.array(labels)
example = labels.tolist().index("stats")
print(f"{len(texts)} descriptions of {len(SUBMODULES)} submodules, e.g. from scipy.stats:\n")
print(texts[example][:400])

texts_train, texts_test, y_train, y_test = train_test_split(
    texts, labels, test_size=0.3, stratify=labels, random_state=0
)

# %%
# The pipeline. ``validation_fraction=None``: the nearest neighbour
# classifies the training submodules themselves, so every one of them
# trains (by default a fifth of the classes is held out, to stop training
# when classes never seen stop improving).
pipe = Pipeline(
    [
        ("tfidf", TfidfVectorizer(sublinear_tf=True)),
        ("embed", SiameseEmbedder(max_epochs=10, validation_fraction=None, random_state=0)),
        ("knn", KNeighborsClassifier(n_neighbors=1)),
    ]
)
pipe.fit(texts_train, y_train)
X_train = pipe["tfidf"].transform(texts_train)
print(f"TF-IDF rows: a {type(X_train).__name__} of shape {X_train.shape}, {X_train.nnz:,} non-zeros")
print(f"encoder chosen by encoder='auto': {pipe['embed'].net_.module_.encoder}")

# %%
# Against the same nearest neighbour on the TF-IDF rows themselves.
baseline = Pipeline([("tfidf", TfidfVectorizer(sublinear_tf=True)), ("knn", KNeighborsClassifier(n_neighbors=1))])
baseline.fit(texts_train, y_train)
results = {"TF-IDF + 1-NN": baseline, "TF-IDF + SiameseEmbedder + 1-NN": pipe}
for name, model in results.items():
    print(f"{name:>32}: accuracy {model.score(texts_test, y_test):.3f} on {len(y_test)} held-out functions")

# %%
# Per submodule: the embedding pulls together the descriptions of a
# submodule that share few words.
fig, ax = plt.subplots(figsize=(8, 4))
width = 0.4
for i, (name, model) in enumerate(results.items()):
    correct = model.predict(texts_test) == y_test
    per_class = [correct[y_test == s].mean() for s in SUBMODULES]
    ax.bar(np.arange(len(SUBMODULES)) + (i - 0.5) * width, per_class, width, label=name)
ax.set_xticks(np.arange(len(SUBMODULES)), SUBMODULES, rotation=45, ha="right")
ax.set_ylabel("1-NN accuracy")
ax.set_title("Which scipy submodule is this function from?")
ax.legend(loc="lower left")
fig.tight_layout()
plt.show()

# %%
# The user guide's page "Your own backbone, your own features" has the
# text recipe, and says when a frozen feature extractor (TF-IDF here, or
# embeddings from another library) in front of ``encoder="mlp"`` is
# enough.
