"""Embedding rows with a trained module, in fixed blocks, refusing non-finite results."""

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call

from .encoder import EmbeddingModule
from .out_of_core import MappedPages, as_tensor, dense_rows

# Memory that one forward pass at inference may hold in the encoder's
# activations, and the bounds on its rows. The block is sized by what the
# encoder computes per row (measured on a two-row probe), not by the input
# alone: a conv net's first block holds many times its input. The upper
# bound keeps the padding of the last block small for cheap encoders
# (benchmarks/inference_blocks.py times both bounds' effect).
INFERENCE_BLOCK_BYTES = 16 * 2**20
INFERENCE_BLOCK_ROWS = (16, 1024)
# Rows are a multiple of this, so matrix-product kernels see whole tiles.
_ROW_MULTIPLE = 16


def _activation_bytes_per_row(encoder, state, probe):
    """Bytes of every leaf module's outputs for one row, from a forward pass on ``probe``."""
    total = [probe[0].numel() * probe.element_size()]

    def count(module, inputs, output):
        for out in output if isinstance(output, (tuple, list)) else (output,):
            if torch.is_tensor(out):
                total[0] += out.numel() * out.element_size() // len(probe)

    leaves = [m for m in encoder.modules() if next(m.children(), None) is None] or [encoder]
    handles = [m.register_forward_hook(count) for m in leaves]
    try:
        encoder(probe) if state is None else functional_call(encoder, state, (probe,))
    finally:
        for handle in handles:
            handle.remove()
    return total[0]


def inference_block_rows(bytes_per_row):
    """Rows per forward pass for an encoder holding ``bytes_per_row`` per row."""
    low, high = INFERENCE_BLOCK_ROWS
    rows = int(np.clip(INFERENCE_BLOCK_BYTES // max(bytes_per_row, 1), low, high))
    return rows // _ROW_MULTIPLE * _ROW_MULTIPLE


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


def embed_rows(module, X, embedding_dim=None, dtype=np.float32):
    """Embeddings of the validated rows X (an array or a sparse matrix), as an ndarray of ``dtype``.

    Every forward pass has the same shape: X is cut into blocks of a fixed
    number of rows (set by the encoder's activation memory per row) and the
    last block is padded with copies of its last row. So a row's embedding
    is the same whatever other rows are embedded with it: matrix-product
    kernels, chosen by the batch size, would otherwise round differently
    for a row embedded alone and within a larger X.

    ``embedding_dim`` None takes the width of the encoder's output. For a
    ``dtype`` other than float32 the encoder runs with its weights
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
    n_rows = X.shape[0]
    out = None if embedding_dim is None else np.empty((n_rows, embedding_dim), dtype=dtype)
    good = np.ones(n_rows, dtype=bool)
    try:
        with torch.no_grad():
            # A sparse X has no pages to release (and no nbytes).
            rows, pages, row_bytes = 1, MappedPages(X), getattr(X[:1], "nbytes", 0)
            if n_rows:
                probe = as_tensor(dense_rows(X[:2], dtype)).to(device)
                rows = inference_block_rows(_activation_bytes_per_row(encoder, state, probe))
            for start in range(0, n_rows, rows):
                # Converted a block at a time: X may be a uint8 memmap larger
                # than memory as float, or a sparse matrix as wide as a vocabulary.
                block = as_tensor(dense_rows(X[start : start + rows], dtype)).to(device)
                pages.read(len(block) * row_bytes)
                n = len(block)
                if n < rows:
                    block = torch.cat([block, block[-1:].expand(rows - n, *block.shape[1:])])
                z, ok = _checked_forward(encoder, normalize, state, block)
                if out is None:
                    out = np.empty((n_rows, z.shape[1]), dtype=dtype)
                good[start : start + n] = ok[:n].cpu().numpy()
                out[start : start + n] = z[:n].cpu().numpy()
    finally:
        module.train(was_training)
    bad = ~(good & np.isfinite(out).all(axis=1))
    if bad.any():
        raise ValueError(
            f"The encoder returned NaN or infinite embeddings for {int(bad.sum())} of {n_rows} "
            f"rows (first: row {int(np.flatnonzero(bad)[0])}); their values are probably far "
            "larger than in the training data. Scale the input as X was scaled for fit."
        )
    return out
