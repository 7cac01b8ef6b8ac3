"""One update of each network, composed from the parts of a run.

The plain path is the loss's per-sample terms, reduced with the sample weighting (a plain mean when
there is none), plus the constraints of `loss` (gradient penalty, clipping). The update scheme adds:
unrolling (the value function after K differentiable D steps), packing (inside the discriminator
module), VEEGAN (a reconstructor and a joint discriminator), DIWGAN (an extra generator term), and the
parts' extra terms (`Parts.terms`: AC-GAN's classifier). Conditional runs need nothing more: their batches
are labelled rows (`nets.conditional`) and their generator draws for the real batch's labels (`latent_like`).
These are the hot path: no logging, no host syncs; they return detached loss tensors.

The batched trainer (`train.batched`) calls the same functions on stacked seeds: its parts have the same
fields, `p.rng` is then the seeds' generators (what the stacked `G.sample_z` takes), every loss is one
per seed, (S,), and a loss is summed before its backward (a no-op on a separate run's scalar).
"""

from __future__ import annotations

import torch
from torch import Tensor

from modegan.data.images import ImagesOn
from modegan.losses.adversarial import reduce
from modegan.losses.constraints import clip_weights_, gradient_penalty
from modegan.losses.unrolled import unrolled_generator_loss
from modegan.losses.veegan import reconstruction_error, veegan_d_terms
from modegan.registry import constraint_penalties, constraints_after_step
from modegan.train.averaging import ema_update_
from modegan.train.parts import Parts
from modegan.train.schedules import set_rates_
from modegan.weighting.diwgan import PendingPairing


def term_weights(p: Parts, role: str, scores: Tensor, per_sample_loss: Tensor, data_weights: Tensor | None = None,
                 samples: Tensor | None = None, real: Tensor | None = None):
    """The role's sample weights, or None when it is unweighted (also for the batched parts: same fields).
    `samples` and `real` (the generated and real batches) feed the distance weights."""
    if p.weighting is None or not p.weighting.active(role):
        return None
    return p.weighting.weights(role, scores=scores, per_sample_loss=per_sample_loss, step=p.step,
                               data_weights=data_weights, samples=samples, real=real)


def discriminator_step(p: Parts, real: Tensor, real_weights: Tensor | None = None) -> dict[str, Tensor]:
    """Minimise the weighted d_real + d_fake (+ λ·GP), then clip if the run clips."""
    if p.F is not None:
        return veegan_discriminator_step(p, real, p.G.sample_z(real.shape[0], p.rng))
    cfg = p.cfg.loss
    with torch.no_grad():  # a conditional G draws for the real batch's labels (`latent_like`)
        fake = p.G(p.G.latent_like(real, p.rng))
    loss = critic_loss(p, real, fake, real_weights)
    out = {"d_loss": loss.detach()}
    if cfg.gp_weight > 0:
        gp = gradient_penalty(p.D, real, fake, p.rng, center=cfg.gp_center, group=p.cfg.scheme.pack).mean()
        loss = loss + cfg.gp_weight * gp
        out["gp"] = gp.detach()
    for term in p.terms:  # extra terms of the parts (AC-GAN's classifier); none for a plain run
        t = term.d_term(p, real, fake)
        loss = loss + t
        out[f"{term.name}_d"] = t.detach()
    if cfg.constraints:  # registered ones (modegan.register_constraint); none adds nothing to the step
        loss = loss + constraint_penalties(p, real, fake, out)
    update_critic(p, loss)
    return out


def critic_loss(p, real: Tensor, fake: Tensor, real_weights: Tensor | None) -> Tensor:
    """The weighted d_real + d_fake: a scalar, or one loss per seed on the batched trainer's stacked parts."""
    s_real, s_fake = p.D(real), p.D(fake)
    l_real, l_fake = p.loss.d_real(s_real), p.loss.d_fake(s_fake)
    return (reduce(l_real, term_weights(p, "disc_real", s_real, l_real, real_weights))
            + reduce(l_fake, term_weights(p, "disc_fake", s_fake, l_fake, samples=fake, real=real)))


def update_critic(p, loss: Tensor) -> None:
    """One optimiser step on the discriminator's scalar loss, then clip if the run clips."""
    p.d_opt.zero_grad(set_to_none=True)
    loss.backward()
    p.d_opt.step()
    if p.cfg.loss.clip is not None:
        clip_weights_(p.D, p.cfg.loss.clip)
    constraints_after_step(p)


def diwgan_head_start(p: Parts, batch_size: int) -> tuple[Tensor, PendingPairing] | None:
    """DIWGAN's generated batch and its pairing, started before the critic steps (None without DIWGAN).

    G does not change until the generator step, so this is the batch (and graph) that step would draw;
    only the order of the random draws differs. The B×B assignment, the costliest part of DIWGAN, then
    runs in a background thread while the critic trains.
    """
    if p.diwgan is None or p.F is not None:
        return None
    fake = p.G(p.G.sample_z(batch_size, p.rng))
    return fake, p.diwgan.begin(fake)


def generator_step(
    p: Parts, batch_size: int, real: Tensor, early: tuple[Tensor, PendingPairing] | None = None
) -> dict[str, Tensor]:
    """Minimise the (weighted, possibly unrolled) generator term, plus DIWGAN's α·D_a when enabled.

    `real` is this iteration's last real batch: the unrolled discriminator steps train on it, and the full
    surrogate's real term is taken on it. `early` is
    `diwgan_head_start`'s batch and pending pairing, if the trainer made them.
    """
    if p.F is not None:
        return veegan_generator_step(p, batch_size)
    fake, pending = early if early is not None else (p.G(p.G.sample_z(batch_size, p.rng)), None)

    def g_term(scores: Tensor) -> Tensor:
        per_sample = p.loss.g(scores)
        return reduce(per_sample, term_weights(p, "gen", scores, per_sample, samples=fake, real=real))

    k = p.cfg.scheme.unroll
    if k:
        loss = unrolled_generator_loss(p.D, p.d_opt, p.loss, fake, [real] * k, [fake] * k, k, g_term=g_term,
                                       objective=p.cfg.scheme.unroll_objective)
    else:
        loss = g_term(p.D(fake))
    out = {"g_loss": loss.detach()}
    for term in p.terms:
        t = term.g_term(p, fake)
        loss = loss + t
        out[f"{term.name}_g"] = t.detach()
    p.g_opt.zero_grad(set_to_none=True)
    if p.diwgan is None:
        loss.sum().backward(inputs=list(p.G.parameters()))
    else:
        # The adversarial term's gradient at the batch first, while the pairing may still run; then one backward
        # through G of both terms (the same work as backpropagating their sum).
        (grad_fake,) = torch.autograd.grad(loss.sum(), fake)
        extra, diag = p.diwgan(fake, pending)
        torch.autograd.backward([fake, extra], [grad_fake, None], inputs=list(p.G.parameters()))
        out.update({f"diwgan_{name}": v for name, v in diag.items()})
    p.g_opt.step()
    return out


def veegan_discriminator_step(p: Parts, real: Tensor, z: Tensor) -> dict[str, Tensor]:
    """VEEGAN (Srivastava et al. 2017, Algorithm 1): tell (z, G(z)) from (F(x), x); z is drawn by the caller."""
    with torch.no_grad():
        x_gen, z_real = p.G(z), p.F(real)
    l_gen, l_real = veegan_d_terms(p.D(z, x_gen), p.D(z_real, real))
    loss = l_gen.mean(-1) + l_real.mean(-1)
    p.d_opt.zero_grad(set_to_none=True)
    loss.sum().backward()
    p.d_opt.step()
    return {"d_loss": loss.detach()}


def veegan_generator_step(p: Parts, batch_size: int) -> dict[str, Tensor]:
    """G minimises mean D(z, G(z)) + ‖z − F(G(z))‖²; F minimises the reconstruction alone."""
    z = p.G.sample_z(batch_size, p.rng)
    x_gen = p.G(z)
    recon = reconstruction_error(z, p.F(x_gen)).mean(-1)
    g_loss = p.D(z, x_gen).mean(-1) + recon
    p.g_opt.zero_grad(set_to_none=True)
    p.f_opt.zero_grad(set_to_none=True)
    g_loss.sum().backward(inputs=list(p.G.parameters()), retain_graph=True)
    recon.sum().backward(inputs=list(p.F.parameters()))
    p.g_opt.step()
    p.f_opt.step()
    return {"g_loss": g_loss.detach(), "reconstruction": recon.detach()}


def batch_indices(n_train: int, batch_size: int, rng: torch.Generator) -> Tensor:
    """Indices of a batch drawn uniformly with replacement from the fixed training set (on the rng's device)."""
    return torch.randint(n_train, (batch_size,), generator=rng, device=rng.device)


def train_step(
    p: Parts, train: Tensor | ImagesOn, batch_size: int, weights: Tensor | None = None
) -> dict[str, Tensor]:
    """n_critic discriminator steps on fresh real batches, then one generator step (with DIWGAN, whose
    generated batch is drawn first so that its pairing runs during the critic steps).

    `train` is the toy training set (indexed directly) or an image dataset's rows on the device (`ImagesOn`:
    uint8, converted per batch); both live on the run's device, as do `weights` and `p.rng`.

    `weights` are the training set's per-example importance weights, if it carries any. With packing
    (PacGAN) the discriminator sees `batch_size` packs of m samples, so m x batch_size samples are drawn.
    """
    batch_size *= p.cfg.scheme.pack
    early = diwgan_head_start(p, batch_size)
    for _ in range(p.cfg.loss.n_critic):
        idx = batch_indices(len(train), batch_size, p.rng)
        real = train[idx] if isinstance(train, Tensor) else train.batch(idx)
        out = discriminator_step(p, real, None if weights is None else weights[idx])
    out.update(generator_step(p, batch_size, real, early))
    after_generator_step(p)
    return out


def after_generator_step(p: Parts) -> None:
    """Count the generator step, then average G into its EMA and set both rates for the next step."""
    p.step += 1
    if p.G_ema is not None:
        ema_update_(p.G_ema, p.G, p.cfg.train.ema)
    set_rates_(p)


def grad_norm(module: torch.nn.Module | None) -> float:
    """L2 norm of the gradients left by the last update (0 if none)."""
    grads = [] if module is None else [q.grad for q in module.parameters() if q.grad is not None]
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
