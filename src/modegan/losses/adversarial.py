"""Adversarial losses, each as three per-sample terms.

Every term returns one value per sample (shape (B,)) so that a sample weighting can reduce it as
`(w * term).mean()`; with no weighting the reduction is a plain mean. Scores are the
discriminator's raw outputs: a logit ℓ for the GAN losses (D = sigmoid(ℓ)), f(x) for a critic, an
unbounded score for hinge and least squares.
All GAN terms use softplus, the numerically stable form of -log sigmoid:
-log D = softplus(-ℓ) and -log(1 - D) = softplus(ℓ).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from modegan.errors import choice_error

Term = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class AdversarialLoss:
    """The discriminator minimises d_real + d_fake, the generator minimises g (all per sample)."""

    name: str
    d_real: Term
    d_fake: Term
    g: Term
    source: str


def _neg(x: Tensor) -> Tensor:
    return -x


# Goodfellow et al. 2014: D maximises log D(x) + log(1 - D(G(z))); G minimises log(1 - D(G(z))).
MINIMAX = AdversarialLoss(
    name="minimax",
    d_real=lambda s: F.softplus(-s),
    d_fake=F.softplus,
    g=lambda s: -F.softplus(s),
    source="Goodfellow et al. 2014, Eq. 1 (saturating generator loss)",
)

# Same D; G maximises log D(G(z)) instead, which does not saturate early in training.
NONSATURATING = AdversarialLoss(
    name="nonsaturating",
    d_real=lambda s: F.softplus(-s),
    d_fake=F.softplus,
    g=lambda s: F.softplus(-s),
    source="Goodfellow et al. 2014, §3 (non-saturating generator loss)",
)

# Arjovsky et al. 2017: the critic maximises E f(x) - E f(G(z)); as losses to minimise:
# critic f(fake) - f(real), generator -f(fake).
WASSERSTEIN = AdversarialLoss(
    name="wasserstein",
    d_real=_neg,
    d_fake=lambda s: s,
    g=_neg,
    source="Arjovsky, Chintala, Bottou 2017, Algorithm 1",
)

# Lim & Ye 2017 (Geometric GAN), the hinge loss Miyato et al. 2018 (SN-GAN) train with: D minimises
# max(0, 1 - D(x)) + max(0, 1 + D(G(z))); G minimises -D(G(z)). D's score is unbounded, not a logit.
HINGE = AdversarialLoss(
    name="hinge",
    d_real=lambda s: F.relu(1 - s),
    d_fake=lambda s: F.relu(1 + s),
    g=_neg,
    source="Lim & Ye 2017 (Geometric GAN); Miyato et al. 2018 (hinge loss)",
)

# Mao et al. 2017 (LSGAN) with their 0-1 binary coding a=0 (fake), b=1 (real), c=1 (G's target):
# D minimises ½(D(x) - 1)² + ½D(G(z))²; G minimises ½(D(G(z)) - 1)². D's score is unbounded.
LEAST_SQUARES = AdversarialLoss(
    name="least_squares",
    d_real=lambda s: 0.5 * (s - 1) ** 2,
    d_fake=lambda s: 0.5 * s**2,
    g=lambda s: 0.5 * (s - 1) ** 2,
    source="Mao et al. 2017 (LSGAN), the 0-1 coding a=0, b=1, c=1",
)

LOSSES = {loss.name: loss for loss in (MINIMAX, NONSATURATING, WASSERSTEIN, HINGE, LEAST_SQUARES)}
BUILTIN_LOSSES = frozenset(LOSSES)  # `modegan.register_loss` adds to LOSSES, never over these


def get_loss(name: str) -> AdversarialLoss:
    if name not in LOSSES:
        raise choice_error("loss", name, LOSSES)
    return LOSSES[name]


def reduce(term: Tensor, weights: Tensor | None = None) -> Tensor:
    """Mean over the batch (the last axis), or the weighted mean with mean-1 weights; stacked seeds'
    terms (S, B) reduce to one loss per seed."""
    return term.mean(-1) if weights is None else (weights * term).mean(-1)


