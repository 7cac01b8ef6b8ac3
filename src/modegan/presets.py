"""Named, paper-faithful presets. Each is a partial config plus the source it follows.

A preset only sets what its paper fixes; the shared network and budget (benchmarks.md §3) come
from the defaults, so methods are compared on identical architectures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modegan.errors import choice_error


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    source: str
    settings: dict = field(default_factory=dict)
    notes: str = ""


PRESETS: dict[str, Preset] = {}


def register(preset: Preset) -> Preset:
    PRESETS[preset.name] = preset
    return preset


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise choice_error("preset", name, PRESETS)
    return PRESETS[name]


register(Preset(
    name="gan",
    summary="non-saturating GAN",
    source="Goodfellow et al. 2014 (non-saturating G loss, §3); Adam 2e-4, beta1 0.5 from DCGAN, "
    "Radford et al. 2016, as in igul222/improved_wgan_training gan_mnist.py 'dcgan' mode",
    settings={
        "loss": {"type": "nonsaturating", "n_critic": 1},
        "g_optim": {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]},
        "d_optim": {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]},
    },
))

register(Preset(
    name="wgan",
    summary="Wasserstein GAN with weight clipping",
    source="Arjovsky, Chintala, Bottou 2017, Algorithm 1: RMSProp 5e-5, clip c = 0.01, n_critic 5",
    settings={
        "loss": {"type": "wasserstein", "clip": 0.01, "n_critic": 5},
        "g_optim": {"name": "rmsprop", "lr": 5e-5},
        "d_optim": {"name": "rmsprop", "lr": 5e-5},
    },
    notes="The reference code's extra warm-up (100 critic steps for the first 25 generator steps) is "
    "not part of Algorithm 1 and is not applied.",
))

_WGAN_GP = {
    "loss": {"type": "wasserstein", "gp_weight": 10.0, "gp_center": 1.0, "n_critic": 5},
    "g_optim": {"name": "adam", "lr": 1e-4, "betas": [0.5, 0.9]},
    "d_optim": {"name": "adam", "lr": 1e-4, "betas": [0.5, 0.9]},
}

register(Preset(
    name="wgan-gp",
    summary="WGAN with the two-sided gradient penalty",
    source="Gulrajani et al. 2017, Algorithm 1 (lambda 10, n_critic 5, Adam 1e-4); betas (0.5, 0.9) as in "
    "the authors' code igul222/improved_wgan_training",
    settings=_WGAN_GP,
    notes="The paper's Algorithm 1 uses beta1 = 0: preset wgan-gp-paper, or g_optim.betas=[0,0.9] "
    "d_optim.betas=[0,0.9]. The authors' toy script uses lambda 0.1; set loss.gp_weight=0.1 for it.",
))

register(Preset(
    name="wgan-gp-toy",
    summary="WGAN-GP with the authors' toy-data penalty weight (lambda 0.1)",
    source="igul222/improved_wgan_training gan_toy.py: LAMBDA 0.1 ('smaller lambda makes things faster for toy "
    "tasks'), CRITIC_ITERS 5, Adam 1e-4, betas (0.5, 0.9), batch 256, 2-d noise",
    settings={**_WGAN_GP, "loss": {**_WGAN_GP["loss"], "gp_weight": 0.1}},
    notes="The script's 512-wide networks are not used: every method shares the benchmark networks "
    "(benchmarks.md §3). On the toy mixtures, whose modes have std 0.01-0.05, lambda 10 makes the generator "
    "oscillate far from the data early in training; lambda 0.1 covers ring8 within a few hundred steps.",
))

register(Preset(
    name="wgan-gp-paper",
    summary="WGAN-GP exactly as the paper's Algorithm 1 (beta1 = 0)",
    source="Gulrajani et al. 2017, Algorithm 1: lambda 10, n_critic 5, Adam 1e-4, betas (0, 0.9)",
    settings={
        **_WGAN_GP,
        "g_optim": {"name": "adam", "lr": 1e-4, "betas": [0.0, 0.9]},
        "d_optim": {"name": "adam", "lr": 1e-4, "betas": [0.0, 0.9]},
    },
))
