"""Siamese networks as scikit-learn estimators."""

from ._embedder import SiameseEmbedder
from .encoders import ConvEncoder, KochEncoder, MLPEncoder
from .persistence import EstimatorCheckpoint, load_weights, save_weights

__version__ = "0.1.0"

__all__ = ["SiameseEmbedder", "MLPEncoder", "ConvEncoder", "KochEncoder", "__version__"]
__all__ += ["EstimatorCheckpoint", "save_weights", "load_weights"]
