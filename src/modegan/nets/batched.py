"""S independent copies of one network, stacked so that a layer is one batched matrix product.

The benchmark MLPs are so small that per-op overhead dominates on a CPU; stacking S seeds turns S small
products into one `torch.baddbmm`. A stacked net is built from S already-initialised nets (so its weights
are exactly theirs) and hands each seed's weights back under the original parameter names, so checkpoints
and generators stay in the format of a separate run. Inputs and outputs carry a leading seed axis S.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from modegan.errors import ModeganError
from modegan.nets.mlp import MLPGenerator
from modegan.nets.packing import PackedDiscriminator, pack
from modegan.nets.veegan import JointDiscriminator, Reconstructor

STATELESS = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.ELU)


class BatchedLinear(nn.Module):
    """S linear maps: weight (S, out, in), bias (S, out); x (S, B, in) -> (S, B, out)."""

    def __init__(self, weight: Tensor, bias: Tensor):
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(bias)

    @classmethod
    def stack(cls, layers: list[nn.Linear]) -> BatchedLinear:
        with torch.no_grad():
            return cls(torch.stack([m.weight for m in layers]), torch.stack([m.bias for m in layers]))

    def forward(self, x: Tensor) -> Tensor:
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.transpose(1, 2))


def stack_mlp(nets: list[nn.Sequential]) -> nn.Sequential:
    """Stack S `build_mlp` networks layer by layer; positions (and so parameter names) are kept."""
    layers = []
    for i, layer in enumerate(nets[0]):
        if isinstance(layer, nn.Linear):
            layers.append(BatchedLinear.stack([net[i] for net in nets]))
        elif isinstance(layer, STATELESS):
            act = copy.deepcopy(layer)
            if hasattr(act, "inplace"):  # on the fresh output of a linear layer: same values, no new S·B·width buffer
                act.inplace = True
            layers.append(act)
        else:
            raise ModeganError(f"cannot stack a {type(layer).__name__} layer (only linear layers and activations)")
    return nn.Sequential(*layers)


class _Stacked(nn.Module):
    """Common to the stacked nets: per-seed weights under the names of the original module."""

    def _remember(self, originals: list[nn.Module]) -> None:
        self.seeds = len(originals)
        self.names = [name for name, _ in originals[0].named_parameters()]
        if list(originals[0].state_dict()) != self.names:
            raise ModeganError("only networks whose state is their parameters can be stacked")

    def seed_state_dict(self, i: int) -> dict[str, Tensor]:
        """Seed i's weights, named and shaped as in the unstacked network."""
        return {n: p.detach()[i].clone() for n, p in zip(self.names, self.parameters(), strict=True)}

    @torch.no_grad()
    def unstack_into(self, i: int, module: nn.Module) -> None:
        """Copy seed i's weights and gradients into an unstacked copy of the network."""
        for p, q in zip(self.parameters(), module.parameters(), strict=True):
            q.copy_(p[i])
            q.grad = None if p.grad is None else p.grad[i].clone()


class BatchedGenerator(_Stacked):
    """S MLPGenerators: z (S, B, z_dim) -> (S, B, out_dim)."""

    def __init__(self, generators: list[nn.Module]):
        super().__init__()
        self._remember(generators)
        self.z_dim, self.out_dim = generators[0].z_dim, generators[0].out_dim
        self.net = stack_mlp([g.net for g in generators])

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)

    def sample_z(self, n: int, generators: list[torch.Generator]) -> Tensor:
        """Each seed's z drawn from its own generator, exactly as `MLPGenerator.sample_z` draws it."""
        return torch.stack([torch.randn(n, self.z_dim, generator=g, device=g.device) for g in generators])


class BatchedDiscriminator(_Stacked):
    """S MLPDiscriminators (or PacGAN-packed ones): x (S, B, d) -> scores (S, B // pack)."""

    def __init__(self, discriminators: list[nn.Module]):
        super().__init__()
        self._remember(discriminators)
        first = discriminators[0]
        self.pack = first.pack if isinstance(first, PackedDiscriminator) else 1
        inner = [d.D if isinstance(d, PackedDiscriminator) else d for d in discriminators]
        self.net = stack_mlp([d.net for d in inner])

    def forward(self, x: Tensor) -> Tensor:
        if self.pack > 1:  # packs never straddle seeds: B is a multiple of the pack size
            s, b = x.shape[:2]
            x = pack(x.reshape(s * b, *x.shape[2:]), self.pack).reshape(s, b // self.pack, -1)
        return self.net(x).squeeze(-1)


class BatchedReconstructor(_Stacked):
    """S VEEGAN Reconstructors: x (S, B, x_dim) -> z (S, B, z_dim)."""

    def __init__(self, reconstructors: list[nn.Module]):
        super().__init__()
        self._remember(reconstructors)
        self.x_dim, self.z_dim = reconstructors[0].x_dim, reconstructors[0].z_dim
        self.net = stack_mlp([f.net for f in reconstructors])

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class BatchedJointDiscriminator(_Stacked):
    """S VEEGAN JointDiscriminators: z (S, B, z_dim), x (S, B, x_dim) -> logits (S, B)."""

    def __init__(self, discriminators: list[nn.Module]):
        super().__init__()
        self._remember(discriminators)
        self.z_dim, self.x_dim = discriminators[0].z_dim, discriminators[0].x_dim
        self.net = stack_mlp([d.net for d in discriminators])

    def forward(self, z: Tensor, x: Tensor) -> Tensor:
        if z.shape[:2] != x.shape[:2]:
            raise ModeganError(f"joint discriminator needs as many z as x; got {tuple(z.shape)} and {tuple(x.shape)}")
        return self.net(torch.cat([z, x], dim=-1)).squeeze(-1)


def stack_nets(nets: list[nn.Module]) -> _Stacked:
    """The stacked module for S copies of one toy network (generator, discriminator, VEEGAN's F or D)."""
    kinds = {MLPGenerator: BatchedGenerator, Reconstructor: BatchedReconstructor,
             JointDiscriminator: BatchedJointDiscriminator}
    return kinds.get(type(nets[0]), BatchedDiscriminator)(nets)
