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
- **HOG** (Dalal and Triggs 2005): ``skimage.feature.hog`` of each image
  after their square-root gamma compression, 9 orientations, square cells
  of an eighth of the image's smaller side (at least 2 pixels: 4 on 28 and
  32, 2 on 8), blocks of 3 x 3 cells (L2-Hys), euclidean distance.
- **LBP** (Ahonen, Hadid and Pietikainen 2006): their LBP u2 (8,2), the
  59 uniform patterns of 8 neighbours at radius 2 (scikit-image's
  ``"nri_uniform"``), histogrammed over a grid of cells of at least 7
  pixels a side (4 x 4 on 28 and 32 pixels, one cell on 8) and compared by
  the chi-square distance.

How the cells were chosen: a baseline should be the strongest a user would
reasonably set up, with its parameters set by the image size, not by the
test results of one data set. The obvious variants (HOG cells of a half to
an eighth of the side, blocks of 1 to 3 cells, with and without the gamma
compression; LBP grids of 3 x 3 to 8 x 8, radius 1 or 2, rotation-invariant
``"uniform"`` patterns or Ahonen's u2) were compared by 1-shot accuracy
(6-way on digits and MNIST-5k, 10-way on faces, 20-way on Omniglot) on
data no benchmark tests on: the seen-class validation split of digits and
MNIST-5k, the 10 training people of the first Yale split (32 x 32), and
the training alphabets of Omniglot's first fold. The cell sizes above are
the best on average over the 28 and 32 pixel sets. HOG's cells and blocks
are within 2 points of the best variant on each, and the gamma compression
then added 0 to 4 points on every set: 0.69 / 0.83 / 0.49 on MNIST-5k /
Yale / Omniglot, against 0.66 / 0.72 / 0.51 with the first guess (cells
of a sixth, blocks of 2, no compression). LBP's best grid differs by data set
(4 x 4 on MNIST-5k, 8 x 8 on Yale, 3 x 3 on Omniglot, up to 5 points
better there than 4 x 4); the rule gives 0.58 / 0.64 / 0.41, against
0.49 / 0.58 / 0.33 with the rotation-invariant patterns at radius 1 on a
6 x 6 grid. Ahonen's u2 patterns at radius 2 were better than the
rotation-invariant ones on every set and grid, or tied (Omniglot at 7 x 7
and 8 x 8). On 8 x 8 digits neither
beats raw pixels (HOG 0.71, LBP 0.42 against 0.84): texture
features need larger images.

Each baseline is a scikit-learn transformer; LBP also has ``embed`` and
``embedding_similarity`` (the negated chi-square distance), the two methods
through which the package's metrics read a model's own similarity
(``sklearn_siamese.metrics.embed_with``). Each takes flat rows or images and
reads them as images of ``image_shape``.

``strongest(results, key)`` names the best baseline row of a result table,
and ``margin_lines(results, measures)`` prints it for each measure with
every other row's margin over it, in points.
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


class HOG(BaseEstimator, TransformerMixin):
    """Histograms of oriented gradients of each image (``skimage.feature.hog``), 9 orientations.

    The images are square-root compressed first (``transform_sqrt``, Dalal
    and Triggs' gamma compression; values must not be negative). Square cells of ``1 / cells`` of the smaller side (at least 2 pixels),
    blocks of ``block`` x ``block`` cells (fewer where the image holds fewer).
    """

    def __init__(self, image_shape, cells=8, block=3):
        self.image_shape = image_shape
        self.cells = cells
        self.block = block

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        from skimage.feature import hog

        side = min(self.image_shape[-2:])
        cell = max(2, int(round(side / self.cells)))
        block = max(1, min(self.block, side // cell))
        return np.stack([
            hog(im, orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(block, block), block_norm="L2-Hys",
                transform_sqrt=True)
            for im in _images(X, self.image_shape)
        ])  # fmt: skip


class LBPHistograms(BaseEstimator, TransformerMixin):
    """Ahonen's LBP u2 (8 neighbours, ``radius`` 2): histograms of the 59 uniform patterns over a grid of cells.

    The grid has ``side // cell_side`` cells a side (at least one), so cells
    hold at least ``cell_side`` pixels; compared by the chi-square distance.
    """

    n_patterns = 59  # the 58 uniform patterns of 8 neighbours, and one bin for the others

    def __init__(self, image_shape, cell_side=7, radius=2):
        self.image_shape = image_shape
        self.cell_side = cell_side
        self.radius = radius

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        from skimage.feature import local_binary_pattern

        out = []
        for im in _images(X, self.image_shape):
            # local_binary_pattern wants integer images; 8 bits hold the grey levels.
            grey = np.round(im * 255 / max(im.max(), 1e-12)).astype(np.uint8)
            codes = local_binary_pattern(grey, 8, self.radius, "nri_uniform").astype(int)
            H, W = codes.shape
            g = max(1, min(H, W) // self.cell_side)
            hist = []
            for rows in np.array_split(np.arange(H), g):
                for cols in np.array_split(np.arange(W), g):
                    h = np.bincount(codes[np.ix_(rows, cols)].ravel(), minlength=self.n_patterns).astype(np.float64)
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


def classic_methods(image_shape=None, random_state=0, quick=False):
    """Rows of the classic baselines: name -> unfitted transformer.

    ``image_shape`` None (rows that are not images) gives Fisherfaces and
    NCA only. ``quick`` (a smoke run) stops NCA after 5 iterations instead
    of 100: on Omniglot's 3,600 training drawings each takes a second or so.
    """
    rows = {
        CLASSIC_PREFIX + "Fisherfaces (PCA -> LDA)": Fisherfaces(),
        CLASSIC_PREFIX + "NCA (on PCA 64)": NCAOnPCA(max_iter=5 if quick else 100, random_state=random_state),
    }
    if image_shape is not None:
        rows[CLASSIC_PREFIX + "HOG"] = HOG(image_shape)
        rows[CLASSIC_PREFIX + "LBP (chi-square)"] = LBPHistograms(image_shape)
    return rows


def is_classic(name):
    """Whether a row is a baseline: a classic row, raw pixels or PCA."""
    return name.startswith(CLASSIC_PREFIX) or name == "raw pixels" or name.startswith("PCA")


def strongest(results, key, lower_is_better=False, is_baseline=is_classic):
    """``(name, value)`` of the best baseline row of ``results[name][key]``; ``(None, None)`` if none ran."""
    candidates = {name: r[key] for name, r in results.items() if is_baseline(name)}
    if not candidates:
        return None, None
    name = (min if lower_is_better else max)(candidates, key=candidates.get)
    return name, candidates[name]


def margin_lines(results, measures, is_baseline=is_classic):
    """The strongest baseline of each measure, and every other row's margin over it, as printed lines.

    ``results`` maps a row's name to its measures (fractions: accuracies,
    ROC AUCs, error rates); ``measures`` is a list of ``(key, label)`` or
    ``(key, label, lower_is_better)``. A margin is in points (hundredths),
    positive when the row is better than the strongest baseline of that
    measure (more accurate, or fewer errors), e.g. ``+2.1`` or ``-0.7``.
    """
    measures = [(m[0], m[1], m[2] if len(m) > 2 else False) for m in measures]
    best = {key: strongest(results, key, lower, is_baseline) for key, _, lower in measures}
    if all(name is None for name, _ in best.values()):
        return []
    lines = ["Strongest baseline: " + "; ".join(
        f"{label} {best[key][1]:.3f} ({best[key][0]})" for key, label, _ in measures
    )]  # fmt: skip
    others = [name for name in results if not is_baseline(name)]
    if others:
        lines += ["", "Margin over it, in points (+: better than the strongest baseline):"]
        for name in others:
            cells = []
            for key, label, lower in measures:
                diff = 100 * (results[name][key] - best[key][1]) * (-1 if lower else 1)
                cells.append(f"{label} {diff:+.1f}")
            lines.append(f"- {name}: " + ", ".join(cells))
    return lines
