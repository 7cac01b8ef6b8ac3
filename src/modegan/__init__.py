"""modegan: train, evaluate and compare GANs for training stability and mode coverage."""

__version__ = "0.1.0"

from modegan import train  # noqa: E402  (the package, callable: modegan.train(...) and modegan.train.batched)
from modegan.config import RunConfig, build_config  # noqa: E402
from modegan.errors import ModeganError  # noqa: E402
from modegan.fit import fit  # noqa: E402
from modegan.presets import PRESETS, get_preset  # noqa: E402
from modegan.registry import Constraint, register_constraint, register_loss, register_weighting  # noqa: E402
from modegan.train import evaluate, load, sample  # noqa: E402

__all__ = [
    "Constraint", "ModeganError", "PRESETS", "RunConfig", "build_config", "evaluate", "fit", "get_preset", "load",
    "register_constraint", "register_loss", "register_weighting", "sample", "train", "__version__",
]
