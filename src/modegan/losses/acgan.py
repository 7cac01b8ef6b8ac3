"""AC-GAN's auxiliary classifier term (Odena, Olah, Shlens 2017, §3), as an extra term of both updates.

D maximises L_S + L_C and G maximises L_C − L_S, L_C the log-likelihood of the correct class. With the run's
adversarial loss standing for L_S, as losses to minimise: the discriminator adds w·(CE(real) + CE(generated)) and
the generator adds w·CE(generated), CE the cross-entropy of `ACGANDiscriminator.class_logits` against the batch's
labels (the real data's labels, and the labels the generated points were drawn for). Unweighted means: the sample
weightings act on the adversarial terms only.

An extra term is any object with `d_term(p, real, fake)` and `g_term(p, fake)` returning a loss (0-d); the step
adds every one in `Parts.terms` (empty for a plain run, which then pays nothing).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from modegan.nets.conditional import split


class AuxiliaryClassifier:
    name = "acgan"

    def __init__(self, weight: float = 1.0):
        self.weight = weight

    @staticmethod
    def cross_entropy(D, batch: Tensor) -> Tensor:
        """Per-sample cross-entropy of D's classifier on a labelled batch, shape (B,)."""
        return F.cross_entropy(D.class_logits(batch), split(batch)[1], reduction="none")

    def d_term(self, p, real: Tensor, fake: Tensor) -> Tensor:
        return self.weight * (self.cross_entropy(p.D, real).mean(-1) + self.cross_entropy(p.D, fake).mean(-1))

    def g_term(self, p, fake: Tensor) -> Tensor:
        return self.weight * self.cross_entropy(p.D, fake).mean(-1)
