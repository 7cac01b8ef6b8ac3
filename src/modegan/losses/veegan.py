"""VEEGAN losses (Srivastava, Valkov, Russell, Gutmann, Sutton, NeurIPS 2017, Algorithm 1; methods.md §4.2).

Three networks: generator G: z -> x, reconstructor F: x -> z, joint discriminator D(z, x) -> logit.
Signs follow Algorithm 1 exactly as written in methods.md §4.2: D labels generator pairs (z, G(z)) as 1
and reconstructor pairs (F(x), x) as 0, and G minimises the raw logit D(z, G(z)) (an estimate of the KL
term log[q_γ(x|z)p0(z) / p_θ(z|x)p(x)]), so lowering it makes generator pairs look like reconstructor pairs.

Per-sample terms (shape (B,)) end in `_terms` / `_error`; the `*_loss` functions are their batch means.
Detach rules (applied by the caller, as in the training step):
* D loss: d_gen_logits = D(z, G(z).detach()), d_real_logits = D(F(x).detach(), x); only ω gets gradients.
* F loss: z_rec = F(G(z).detach()); only θ gets gradients (methods.md §4.2 step 4).
* G loss: d_gen_logits = D(z, G(z)) and z_rec = F(G(z)), neither detached, so G gets gradients through
  both terms; step only γ (backward with inputs=G's parameters), as `generator_step` does.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def reconstruction_error(z: Tensor, z_rec: Tensor) -> Tensor:
    """Per-sample squared ℓ2 distance ‖z − F(G(z))‖², summed over the noise dimension (not averaged):
    z (B, z_dim) -> (B,), or stacked seeds' (S, B, z_dim) -> (S, B)."""
    return (z - z_rec).pow(2).sum(dim=-1)


def veegan_d_terms(d_gen_logits: Tensor, d_real_logits: Tensor) -> tuple[Tensor, Tensor]:
    """Per-sample −log σ(D(z, G(z))) and −log(1 − σ(D(F(x), x))), as stable softplus forms."""
    return F.softplus(-d_gen_logits), F.softplus(d_real_logits)


def veegan_d_loss(d_gen_logits: Tensor, d_real_logits: Tensor) -> Tensor:
    """−mean log σ(D(z, G(z))) − mean log(1 − σ(D(F(x), x))): generator pairs are class 1 (Algorithm 1)."""
    gen, real = veegan_d_terms(d_gen_logits, d_real_logits)
    return gen.mean() + real.mean()


def veegan_reconstruction(z: Tensor, z_rec: Tensor) -> Tensor:
    """Batch mean of ‖z − F(G(z))‖² (squared ℓ2 summed over noise dimensions), methods.md §8."""
    return reconstruction_error(z, z_rec).mean()


def veegan_f_loss(z: Tensor, z_rec: Tensor) -> Tensor:
    """Reconstructor loss: the reconstruction term alone; z_rec = F(G(z).detach()) so only F learns."""
    return veegan_reconstruction(z, z_rec)


def veegan_g_terms(d_gen_logits: Tensor, z: Tensor, z_rec: Tensor) -> Tensor:
    """Per-sample generator loss: the raw logit D(z, G(z)) (not a log-sigmoid) + ‖z − F(G(z))‖²."""
    return d_gen_logits + reconstruction_error(z, z_rec)


def veegan_g_loss(d_gen_logits: Tensor, z: Tensor, z_rec: Tensor) -> Tensor:
    """mean D(z, G(z)) + mean ‖z − F(G(z))‖² (Algorithm 1, step 5)."""
    return veegan_g_terms(d_gen_logits, z, z_rec).mean()
