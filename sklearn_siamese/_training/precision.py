"""Training precision: bfloat16 autocast of the encoder, and channels_last for convolutions.

``precision="bfloat16"`` runs the encoder's forward pass under
``torch.autocast`` (its backward follows); the weights, the optimiser
state, the loss and the distances stay float32. Inference
(``transform``, ``embed``) always runs in float32, so its output does not
depend on the training precision.
"""

from pathlib import Path

import torch
from torch import nn

PRECISIONS = ("auto", "float32", "bfloat16")

# CPU flags (Linux /proc/cpuinfo) of native bfloat16 matrix units. Without
# them oneDNN emulates bfloat16 and autocast only adds casts.
_CPU_BF16_FLAGS = {"avx512_bf16", "amx_bf16"}


def _cpu_flags():
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def fast_bfloat16(device):
    """Whether ``device`` computes bfloat16 matrix products natively (faster than float32)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return torch.backends.mkldnn.is_available() and bool(_cpu_flags() & _CPU_BF16_FLAGS)
    return False


def resolve_precision(precision, device):
    """The training precision that ``precision`` means on ``device``: "float32" or "bfloat16".

    ``"auto"`` is bfloat16 where the hardware has bfloat16 units (measured
    in README: as accurate at equal epochs, and faster), float32 elsewhere.
    An explicit ``"bfloat16"`` is honoured everywhere autocast supports it.
    """
    if precision == "auto":
        return "bfloat16" if fast_bfloat16(device) else "float32"
    return precision


def has_convolutions(module):
    return any(isinstance(m, nn.Conv2d) for m in module.modules())


def prepare_for_precision(module, precision, built_in):
    """Set the module's training autocast dtype; built-in convolutional encoders go channels_last.

    channels_last (NHWC) is the layout oneDNN and cuDNN convolutions run
    fastest in, in float32 and more so in bfloat16; it changes the memory
    layout only, not the values of the weights. A user's module is left in
    its layout: code such as ``x.view(len(x), -1)`` after a convolution
    fails on channels_last activations.
    """
    module.autocast_dtype = torch.bfloat16 if precision == "bfloat16" else None
    if built_in and has_convolutions(module):
        module.to(memory_format=torch.channels_last)
    return module
