"""Siamese networks as scikit-learn estimators."""

from ._embedder import SiameseEmbedder
from ._verifier import SiameseVerifier
from .encoders import BackboneEncoder, ConvEncoder, KochEncoder, MLPEncoder
from .persistence import EstimatorCheckpoint, load_weights, save_weights

__version__ = "0.1.0"

__all__ = [
    "SiameseEmbedder",
    "SiameseVerifier",
    "MLPEncoder",
    "ConvEncoder",
    "KochEncoder",
    "BackboneEncoder",
    "EstimatorCheckpoint",
    "save_weights",
    "load_weights",
    "__version__",
]
