"""skorch net trained through Hugging Face Accelerate (imported only when used)."""

from skorch.hf import AccelerateMixin

from ._training import SiameseNet


class AcceleratedNet(AccelerateMixin, SiameseNet):
    """``NeuralNet`` with skorch's ``AccelerateMixin``; module-level so it pickles."""
