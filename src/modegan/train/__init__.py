"""Training: the parts of a run, the composable update steps, checkpoints and the loop."""

from modegan.train.load import load, sample
from modegan.train.run import TrainingDiverged, evaluate, train

__all__ = ["train", "load", "sample", "evaluate", "TrainingDiverged"]
