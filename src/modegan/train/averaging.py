"""An exponential moving average of the generator's weights (`train.ema`), evaluated and saved beside G.

Averaging G's iterates smooths the oscillation of adversarial training (Yazıcı et al. 2019, "The unusual
effectiveness of averaging in GAN training"; Karras et al. 2018 use it for their results). After every
generator step θ_ema ← β·θ_ema + (1 − β)·θ_G; buffers (batch-norm statistics) are copied from G, so the
average is evaluated with the statistics G has now.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def ema_copy(G: nn.Module) -> nn.Module:
    """The average's starting point: a frozen copy of G at initialisation."""
    ema = copy.deepcopy(G)
    for q in ema.parameters():
        q.requires_grad_(False)
    return ema


@torch.no_grad()
def ema_update_(ema: nn.Module, G: nn.Module, decay: float) -> None:
    """θ_ema ← decay·θ_ema + (1 − decay)·θ_G for every parameter; buffers copied."""
    for q_ema, q in zip(ema.parameters(), G.parameters(), strict=True):
        q_ema.lerp_(q, 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), G.buffers(), strict=True):
        b_ema.copy_(b)
