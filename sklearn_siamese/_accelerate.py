"""skorch net trained through Hugging Face Accelerate (imported only when used)."""

from skorch import NeuralNet
from skorch.hf import AccelerateMixin


class AcceleratedNet(AccelerateMixin, NeuralNet):
    """``NeuralNet`` with skorch's ``AccelerateMixin``; module-level so it pickles."""
