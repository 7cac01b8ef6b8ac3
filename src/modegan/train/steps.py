"""One update of each network, composed from the loss, constraints and update scheme in `Parts`.

These are the hot path: no logging, no host syncs; they return detached loss tensors.
"""

from __future__ import annotations

import torch
from torch import Tensor

from modegan.losses.adversarial import reduce
from modegan.losses.constraints import clip_weights_, gradient_penalty
from modegan.train.parts import Parts


def discriminator_step(p: Parts, real: Tensor) -> dict[str, Tensor]:
    """Minimise d_real + d_fake (+ λ·GP), then clip if the run clips."""
    cfg = p.loss_cfg
    with torch.no_grad():
        fake = p.G(p.G.sample_z(real.shape[0], p.rng))
    loss = reduce(p.loss.d_real(p.D(real))) + reduce(p.loss.d_fake(p.D(fake)))
    out = {"d_loss": loss.detach()}
    if cfg.gp_weight > 0:
        gp = gradient_penalty(p.D, real, fake, p.rng, center=cfg.gp_center).mean()
        loss = loss + cfg.gp_weight * gp
        out["gp"] = gp.detach()
    p.d_opt.zero_grad(set_to_none=True)
    loss.backward()
    p.d_opt.step()
    if cfg.clip is not None:
        clip_weights_(p.D, cfg.clip)
    return out


def generator_step(p: Parts, batch_size: int) -> dict[str, Tensor]:
    """Minimise the generator term; gradients are accumulated for G's parameters only."""
    fake = p.G(p.G.sample_z(batch_size, p.rng))
    loss = reduce(p.loss.g(p.D(fake)))
    p.g_opt.zero_grad(set_to_none=True)
    loss.backward(inputs=list(p.G.parameters()))
    p.g_opt.step()
    return {"g_loss": loss.detach()}


def sample_batch(train: Tensor, batch_size: int, rng: torch.Generator) -> Tensor:
    """A batch drawn uniformly with replacement from the fixed training set."""
    return train[torch.randint(train.shape[0], (batch_size,), generator=rng)]


def train_step(p: Parts, train: Tensor, batch_size: int) -> dict[str, Tensor]:
    """n_critic discriminator steps on fresh real batches, then one generator step."""
    for _ in range(p.loss_cfg.n_critic):
        out = discriminator_step(p, sample_batch(train, batch_size, p.rng))
    out.update(generator_step(p, batch_size))
    return out


def grad_norm(module: torch.nn.Module) -> float:
    """L2 norm of the gradients left by the last update (0 if none)."""
    grads = [q.grad for q in module.parameters() if q.grad is not None]
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
