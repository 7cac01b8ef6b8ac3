"""Training: the parts of a run, the composable update steps, checkpoints and the loop.

The package is callable: `modegan.train(config, out=...)` trains a run (`run.train`), and its modules stay
reachable as attributes (`modegan.train.batched.train_seeds`, `modegan.train.run`), which a function of the
same name would hide.
"""

import importlib
import sys
import types

from modegan.train.load import load, sample
from modegan.train.run import TrainingDiverged, evaluate, train

__all__ = ["train", "load", "sample", "evaluate", "TrainingDiverged"]


SUBMODULES = ("batched", "checkpoint", "control", "distributed", "files", "flops", "load", "parts", "run", "rundir",
              "steps")


def __getattr__(name: str):
    """`modegan.train.batched` and the other modules, imported when first named (batched and distributed
    are not needed by a plain run)."""
    if name in SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return train(*args, **kwargs)

    @property
    def __signature__(self):
        import inspect

        return inspect.signature(train)


sys.modules[__name__].__class__ = _CallablePackage
