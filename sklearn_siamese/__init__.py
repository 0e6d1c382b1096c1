"""Siamese networks as scikit-learn estimators."""

from ._embedder import SiameseEmbedder
from .encoders import ConvEncoder, KochEncoder, MLPEncoder

__version__ = "0.1.0"

__all__ = ["SiameseEmbedder", "MLPEncoder", "ConvEncoder", "KochEncoder", "__version__"]
