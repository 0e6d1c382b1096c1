"""The instance-discrimination term of the training step (``instance_weight``), below the public losses."""

import torch
import torch.nn.functional as F


def instance_loss(first, second, temperature):
    """NT-Xent of two views, unvalidated: the training step's instance term (:func:`~sklearn_siamese.losses.nt_xent` checks its inputs)."""
    z = F.normalize(torch.cat([first, second]), dim=1)
    n = len(first)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, partner)
