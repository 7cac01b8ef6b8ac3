"""The pieces of a run, built from config: networks, optimisers, loss, and the training RNG.

A run is data + networks + a loss + Lipschitz constraints + an update scheme. `Parts` holds them
side by side so the update functions in `steps.py` can compose them without a class per GAN.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from modegan.config import LossConfig, OptimConfig, RunConfig
from modegan.losses.adversarial import AdversarialLoss, get_loss
from modegan.nets.mlp import MLPDiscriminator, MLPGenerator


@dataclass
class Parts:
    G: MLPGenerator
    D: MLPDiscriminator
    g_opt: torch.optim.Optimizer
    d_opt: torch.optim.Optimizer
    loss: AdversarialLoss
    loss_cfg: LossConfig
    rng: torch.Generator  # every random draw of training: z, data batches, GP interpolation

    def modules(self) -> dict[str, nn.Module]:
        return {"G": self.G, "D": self.D}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.g_opt, "D": self.d_opt}


def build_optimizer(params, cfg: OptimConfig) -> torch.optim.Optimizer:
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=cfg.lr, alpha=cfg.alpha, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def build_generator(cfg: RunConfig, data_dim: int) -> MLPGenerator:
    m = cfg.model
    return MLPGenerator(
        m.z_dim, data_dim, width=m.g_width, depth=m.g_depth, activation=m.activation, norm=m.g_norm
    )


def build_parts(cfg: RunConfig, data_dim: int) -> Parts:
    """Networks are initialised from `train.seed` inside a forked RNG, so the global RNG is untouched."""
    m = cfg.model
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.train.seed)
        G = build_generator(cfg, data_dim)
        D = MLPDiscriminator(
            data_dim, width=m.d_width, depth=m.d_depth, activation=m.activation, norm=m.d_norm,
            spectral_norm=m.spectral_norm,
        )
    return Parts(
        G=G,
        D=D,
        g_opt=build_optimizer(G.parameters(), cfg.g_optim),
        d_opt=build_optimizer(D.parameters(), cfg.d_optim),
        loss=get_loss(cfg.loss.type),
        loss_cfg=cfg.loss,
        rng=torch.Generator().manual_seed(cfg.train.seed + 1),
    )
