"""Learning-rate schedules (`g_optim.schedule`, `d_optim.schedule`) over the run's generator steps.

The rate is a function of the generator step k alone, lr·factor(k / train.steps), set once per generator
step for both optimisers (the critic's n_critic steps share it) and again when a checkpoint is restored.
A resume restores k, so it continues on the same schedule exactly; a resume to a larger --steps stretches
what is left of it over the new train.steps.
  constant  1
  linear    1 − k/T                     (to 0 at the last step, as in Gulrajani et al. 2017's WGAN-GP code)
  cosine    (1 + cos(π k/T)) / 2        (Loshchilov & Hutter 2017, SGDR without restarts)
"""

from __future__ import annotations

import math

import torch

SCHEDULES = ("constant", "linear", "cosine")


def lr_factor(schedule: str, step: int, total: int) -> float:
    """The multiple of the base learning rate at generator step `step` of `total`."""
    t = min(step, total) / total
    if schedule == "linear":
        return 1.0 - t
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t))
    return 1.0


def set_lr_(opt: torch.optim.Optimizer, base_lr: float, schedule: str, step: int, total: int) -> None:
    """Every parameter group of `opt` at the schedule's rate for `step`."""
    lr = base_lr * lr_factor(schedule, step, total)
    for group in opt.param_groups:
        group["lr"] = lr


def set_rates_(p) -> None:
    """The run's optimisers (`Parts`) at their schedules' rates for generator step p.step (VEEGAN's
    reconstructor follows g_optim, as it is built from it)."""
    cfg = p.cfg
    for opt, oc in ((p.g_opt, cfg.g_optim), (p.d_opt, cfg.d_optim), (p.f_opt, cfg.g_optim)):
        if opt is not None and oc.schedule != "constant":
            set_lr_(opt, oc.lr, oc.schedule, p.step, cfg.train.steps)
