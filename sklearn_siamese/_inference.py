"""Embedding rows with a trained module, in chunks, refusing non-finite results."""

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call

from ._encoder_build import EmbeddingModule
from ._training import as_tensor

# Input bytes (as float32) per forward pass at inference, and the bounds on
# its rows. The encoder's activations are a multiple of the input (64x for
# a conv-4 net's first block), so the chunk is sized by bytes, not rows:
# 4 MiB is 1,337 rows of 28x28 images (a conv-4 peak of about 270 MiB) and
# 4,096 rows of 64 features.
INFERENCE_CHUNK_BYTES = 4 * 2**20
INFERENCE_CHUNK_ROWS = (16, 4096)


def inference_chunk_rows(n_features):
    """Rows per forward pass for rows of ``n_features`` values."""
    low, high = INFERENCE_CHUNK_ROWS
    return int(np.clip(INFERENCE_CHUNK_BYTES // (4 * n_features), low, high))


def _checked_forward(encoder, normalize, state, x):
    """Embeddings of x and a mask of the rows whose embedding is trustworthy.

    A row is not when the encoder output is NaN/inf or, with normalisation,
    its norm overflows (``F.normalize`` then silently returns zeros).
    ``state`` replaces the encoder's parameters and buffers when not None.
    """
    z = encoder(x) if state is None else functional_call(encoder, state, (x,))
    ok = torch.isfinite(z).all(dim=1)
    if normalize:
        ok &= torch.isfinite(torch.linalg.vector_norm(z, dim=1))
        z = F.normalize(z, dim=1)
    return z, ok


def embed_rows(module, X, embedding_dim, dtype=np.float32):
    """Embeddings of the validated rows X, as an ndarray of ``dtype``.

    For a ``dtype`` other than float32 the encoder runs with its weights
    cast to it, without copying the module (``torch.func.functional_call``).
    """
    if isinstance(module, EmbeddingModule):
        encoder, normalize = module.encoder, module.normalize
    else:
        encoder, normalize = module, False
    # The module's own device: net_.device is None when an accelerator placed it.
    device = next(module.parameters(), torch.empty(0)).device
    torch_dtype = torch.from_numpy(np.zeros(0, dtype)).dtype
    state = None
    if torch_dtype != torch.float32:
        named = {**dict(encoder.named_parameters()), **dict(encoder.named_buffers())}
        state = {k: v.to(torch_dtype) if v.is_floating_point() else v for k, v in named.items()}
    was_training = module.training
    module.eval()
    out = np.empty((len(X), embedding_dim), dtype=dtype)
    good = np.ones(len(X), dtype=bool)
    rows = inference_chunk_rows(X.shape[1])
    try:
        with torch.no_grad():
            for start in range(0, len(X), rows):
                # Converted a chunk at a time: X may be a uint8 memmap larger than memory as float.
                chunk = as_tensor(np.asarray(X[start : start + rows], dtype=dtype)).to(device)
                z, ok = _checked_forward(encoder, normalize, state, chunk)
                good[start : start + len(chunk)] = ok.cpu().numpy()
                out[start : start + len(chunk)] = z.cpu().numpy()
    finally:
        module.train(was_training)
    bad = ~(good & np.isfinite(out).all(axis=1))
    if bad.any():
        raise ValueError(
            f"The encoder returned NaN or infinite embeddings for {int(bad.sum())} of {len(X)} "
            f"rows (first: row {int(np.flatnonzero(bad)[0])}); their values are probably far "
            "larger than in the training data. Scale the input as X was scaled for fit."
        )
    return out
