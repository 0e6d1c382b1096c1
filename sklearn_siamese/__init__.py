"""Siamese networks as scikit-learn estimators."""

from ._embedder import SiameseEmbedder
from ._verifier import SiameseVerifier
from .encoders import ConvEncoder, KochEncoder, MLPEncoder

__version__ = "0.1.0"

__all__ = ["SiameseEmbedder", "SiameseVerifier", "MLPEncoder", "ConvEncoder", "KochEncoder", "__version__"]
