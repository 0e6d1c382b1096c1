"""The classic baselines every benchmark measures the package against.

Written with scikit-learn, scikit-image and numpy only, sharing no code with
the package, as a face or metric-learning engineer would try them first:

- **Fisherfaces** (Belhumeur, Hespanha and Kriegman 1997): PCA to
  ``n_samples - n_classes`` components, then LDA to ``n_classes - 1``,
  both fitted on the training classes; samples are compared by euclidean
  distance in the LDA space.
- **NCA** (Goldberger et al. 2005): scikit-learn's
  ``NeighborhoodComponentsAnalysis`` on a PCA of at most 64 components
  (NCA's cost grows with the square of the input size).
- **HOG** (Dalal and Triggs 2005): ``skimage.feature.hog`` of each image,
  cells of about a sixth of the image's smaller side, euclidean distance.
- **LBP** (Ahonen, Hadid and Pietikainen 2006): uniform local binary
  patterns (8 neighbours, radius 1) histogrammed over a grid of cells and
  compared by the chi-square distance.

Each baseline is a scikit-learn transformer; LBP also has ``embed`` and
``embedding_similarity`` (the negated chi-square distance), the two methods
through which the package's metrics read a model's own similarity
(``sklearn_siamese.metrics.embed_with``). Each takes flat rows or images and
reads them as images of ``image_shape``.

``strongest(results, key)`` names the best baseline row of a result table.
"""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.neighbors import NeighborhoodComponentsAnalysis
from sklearn.pipeline import make_pipeline

CLASSIC_PREFIX = "classic: "


def _images(X, image_shape):
    """X as ``(n, H, W)`` grey images (colour images are averaged over their channels)."""
    X = np.asarray(X, dtype=np.float64)
    shape = tuple(image_shape)
    X = X.reshape((len(X),) + shape)
    if X.ndim == 4:  # (n, C, H, W)
        X = X.mean(axis=1)
    return X


def _rows(X):
    X = np.asarray(X, dtype=np.float64)
    return X.reshape(len(X), -1)


class Fisherfaces(BaseEstimator, TransformerMixin):
    """PCA to ``n - c`` components, then LDA to ``c - 1``, fitted on the training classes."""

    def fit(self, X, y):
        X, y = _rows(X), np.asarray(y)
        n_classes = len(np.unique(y))
        n_pca = max(1, min(len(X) - n_classes, X.shape[1]))
        self.pipeline_ = make_pipeline(PCA(n_components=n_pca, random_state=0), LinearDiscriminantAnalysis())
        self.pipeline_.fit(X, y)
        return self

    def transform(self, X):
        return self.pipeline_.transform(_rows(X))


class NCAOnPCA(BaseEstimator, TransformerMixin):
    """scikit-learn's NCA on a PCA of at most ``n_pca`` components."""

    def __init__(self, n_components=32, n_pca=64, max_iter=100, random_state=0):
        self.n_components = n_components
        self.n_pca = n_pca
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, X, y):
        X = _rows(X)
        n_pca = min(self.n_pca, X.shape[1], len(X) - 1)
        self.pipeline_ = make_pipeline(
            PCA(n_components=n_pca, random_state=self.random_state),
            NeighborhoodComponentsAnalysis(
                n_components=min(self.n_components, n_pca), max_iter=self.max_iter, random_state=self.random_state
            ),
        )
        self.pipeline_.fit(X, y)
        return self

    def transform(self, X):
        return self.pipeline_.transform(_rows(X))


def _cell(image_shape, fraction=6):
    side = min(image_shape[-2:])
    return max(2, int(round(side / fraction)))


class HOG(BaseEstimator, TransformerMixin):
    """Histograms of oriented gradients of each image (``skimage.feature.hog``), 9 orientations."""

    def __init__(self, image_shape, cells=6):
        self.image_shape = image_shape
        self.cells = cells

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        from skimage.feature import hog

        cell = _cell(self.image_shape, self.cells)
        return np.stack([
            hog(im, orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(2, 2), block_norm="L2-Hys")
            for im in _images(X, self.image_shape)
        ])  # fmt: skip


class LBPHistograms(BaseEstimator, TransformerMixin):
    """Uniform LBP (8 neighbours, radius 1) histograms over a ``grid x grid`` of cells, chi-square distance."""

    def __init__(self, image_shape, grid=6):
        self.image_shape = image_shape
        self.grid = grid

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        from skimage.feature import local_binary_pattern

        P = 8
        out = []
        for im in _images(X, self.image_shape):
            # local_binary_pattern wants integer images; 8 bits hold the grey levels.
            codes = local_binary_pattern(np.round(im * 255 / max(im.max(), 1e-12)).astype(np.uint8), P, 1, "uniform")
            H, W = codes.shape
            g = min(self.grid, H // 3, W // 3) or 1
            hist = []
            for rows in np.array_split(np.arange(H), g):
                for cols in np.array_split(np.arange(W), g):
                    cell = codes[np.ix_(rows, cols)]
                    h = np.bincount(cell.astype(int).ravel(), minlength=P + 2).astype(np.float64)
                    hist.append(h / max(h.sum(), 1.0))
            out.append(np.concatenate(hist))
        return np.stack(out)

    # The package's metrics compare a model's embeddings by its own similarity.
    def embed(self, X):
        return self.transform(X)

    @staticmethod
    def embedding_similarity(A, B):
        """Negated chi-square distance, ``sum((a - b)**2 / (a + b))`` over the bins."""
        A, B = np.asarray(A, dtype=np.float64), np.asarray(B, dtype=np.float64)
        out = np.empty((len(A), len(B)))
        for start in range(0, len(A), 256):
            a = A[start:start + 256, None, :]
            s = a + B[None]
            d = np.where(s > 0, (a - B[None]) ** 2 / np.where(s > 0, s, 1.0), 0.0)
            out[start:start + 256] = -d.sum(axis=-1)
        return out


def classic_methods(image_shape=None, random_state=0):
    """Rows of the classic baselines: name -> unfitted transformer.

    ``image_shape`` None (rows that are not images) gives Fisherfaces and
    NCA only.
    """
    rows = {
        CLASSIC_PREFIX + "Fisherfaces (PCA -> LDA)": Fisherfaces(),
        CLASSIC_PREFIX + "NCA (on PCA 64)": NCAOnPCA(random_state=random_state),
    }
    if image_shape is not None:
        rows[CLASSIC_PREFIX + "HOG"] = HOG(image_shape)
        rows[CLASSIC_PREFIX + "LBP (chi-square)"] = LBPHistograms(image_shape)
    return rows


def is_classic(name):
    return name.startswith(CLASSIC_PREFIX) or name in ("raw pixels",) or name.startswith("PCA")


def strongest(results, key):
    """``(name, value)`` of the best baseline row (classic, raw pixels, PCA) of ``results[name][key]``."""
    candidates = {name: r[key] for name, r in results.items() if is_classic(name)}
    if not candidates:
        return None, None
    name = max(candidates, key=candidates.get)
    return name, candidates[name]
