"""Networks: plain torch.nn.Modules, no optimisation inside."""

from modegan.nets.mlp import MLPDiscriminator, MLPGenerator, build_mlp

__all__ = ["MLPGenerator", "MLPDiscriminator", "build_mlp"]
