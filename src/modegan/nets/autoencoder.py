"""The auto-encoder whose frozen encoder E* gives DIWGAN its latent codes (methods.md §3.2 step 1, A11, A13)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from modegan.data.mixtures import _check_count, _check_generator
from modegan.errors import ModeganError
from modegan.nets.mlp import build_mlp


class MLPAutoencoder(nn.Module):
    """in → hidden → hidden → latent (ReLU), decoder mirrored: A11's toy-data AE (the paper gives only
    "a dimension of encoded space that properly reproduces original data"; 2-D latent for 2-D mixtures)."""

    def __init__(self, in_dim: int, latent_dim: int = 2, hidden: int = 128):
        super().__init__()
        self.in_dim = _check_count(in_dim, "autoencoder input dimension")
        self.latent_dim = _check_count(latent_dim, "autoencoder latent dimension")
        self.hidden = _check_count(hidden, "autoencoder hidden width")
        self.encoder = build_mlp(self.in_dim, self.latent_dim, self.hidden, depth=2)
        self.decoder = build_mlp(self.latent_dim, self.in_dim, self.hidden, depth=2)

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def decode(self, s: Tensor) -> Tensor:
        return self.decoder(s)

    def forward(self, x: Tensor) -> Tensor:
        """The reconstruction decode(encode(x))."""
        return self.decoder(self.encoder(x))


class IdentityEncoder(nn.Module):
    """Codes = the data themselves: A11's ablation for low-dimensional data. No parameters, nothing to train."""

    def __init__(self, in_dim: int):
        super().__init__()
        self.in_dim = self.latent_dim = _check_count(in_dim, "input dimension")

    def encode(self, x: Tensor) -> Tensor:
        return x

    def decode(self, s: Tensor) -> Tensor:
        return s

    def forward(self, x: Tensor) -> Tensor:
        return x


def _check_data(data: object, in_dim: int) -> Tensor:
    if not isinstance(data, Tensor) or data.dim() != 2 or data.shape[0] < 1 or data.shape[1] != in_dim:
        shape = tuple(data.shape) if isinstance(data, Tensor) else type(data).__name__
        raise ModeganError(f"autoencoder data must have shape (n, {in_dim}), got {shape}")
    return data


@torch.no_grad()
def reconstruction_mse(ae: nn.Module, data: Tensor, max_points: int = 20_000) -> float:
    """MSE on a fixed, evenly spaced subset of at most `max_points` rows (no random draw, so it is repeatable)."""
    n = data.shape[0]
    rows = data if n <= max_points else data[torch.linspace(0, n - 1, max_points, device=data.device).long()]
    was_training = ae.training
    ae.eval()
    mse = float(torch.mean((ae(rows) - rows) ** 2))
    ae.train(was_training)
    return mse


def pretrain_autoencoder(
    ae: nn.Module,
    data: Tensor,
    *,
    steps: int = 2000,
    lr: float = 1e-3,
    batch_size: int = 256,
    generator: torch.Generator,
) -> float:
    """Adam on the MSE reconstruction loss, batches drawn with `generator` (§3.2 step 1: "train the AE on real
    data until it converges"). Returns the final MSE on (a fixed subset of) the whole data set."""
    steps = _check_count(steps, "autoencoder steps")
    batch_size = _check_count(batch_size, "autoencoder batch size")
    generator = _check_generator(generator)
    if not lr > 0:
        raise ModeganError(f"autoencoder learning rate must be positive, got {lr!r}")
    data = _check_data(data, getattr(ae, "in_dim", data.shape[-1])).detach()
    params = [p for p in ae.parameters() if p.requires_grad]
    if not params:
        return reconstruction_mse(ae, data)
    opt = torch.optim.Adam(params, lr=lr)
    ae.train()
    n = data.shape[0]
    for _ in range(steps):
        batch = data[torch.randint(n, (batch_size,), generator=generator, device=generator.device).to(data.device)]
        loss = torch.mean((ae(batch) - batch) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    ae.eval()
    return reconstruction_mse(ae, data)


def freeze(module: nn.Module) -> nn.Module:
    """Fix the parameters (requires_grad False) and switch to eval mode. Gradients still flow *through* the
    module to its inputs, which is how the generator gets DIWGAN's signal through E* (A13)."""
    for p in module.parameters():
        p.requires_grad_(False)
    return module.eval()
