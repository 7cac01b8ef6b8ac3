"""The latent prior every generator shares: z ~ N(0, I) of dimension `self.z_dim`."""

from __future__ import annotations

import torch


class GaussianPrior:
    """`sample_z` and `sample` for an nn.Module generator with a `z_dim`: z is drawn on the random generator's
    device (the training draws on the run's device, evaluation draws on the CPU), then moved to the network's."""

    z_dim: int

    def sample_z(self, n: int, generator: torch.Generator) -> torch.Tensor:
        device = next(self.parameters()).device
        return torch.randn(n, self.z_dim, generator=generator, device=generator.device).to(device)

    def latent_like(self, real: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The latent of the discriminator step's generated batch for the real batch `real`: as many z (a
        conditional generator also takes the batch's labels, `nets.conditional`)."""
        return self.sample_z(real.shape[0], generator)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, labels=None) -> torch.Tensor:
        if labels is not None:  # the signature of nets.conditional.ConditionalGenerator.sample
            from modegan.errors import ModeganError

            raise ModeganError("labels need a conditional generator (model.conditioning concat, projection or acgan); "
                               "this one takes no label")
        return self(self.sample_z(n, generator))
