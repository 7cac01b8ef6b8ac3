"""Named, paper-faithful presets. Each is a partial config plus the source it follows.

A preset only sets what its paper fixes; the shared network and budget (benchmarks.md §3) come
from the defaults, so methods are compared on identical architectures.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from modegan.errors import choice_error


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    source: str
    settings: dict = field(default_factory=dict)
    notes: str = ""
    theory: str = ""  # the section of docs/theory.md that explains why the method works (and the lesson showing it)


PRESETS: dict[str, Preset] = {}

_THEORY = {  # preset -> where docs/theory.md explains it
    "gan": "docs/theory.md §1 (lessons divergences, vanishing-gradients, collapse)",
    "wgan": "docs/theory.md §2-4, clipping in §4 (lesson lipschitz)",
    "wgan-gp": "docs/theory.md §2-4, the penalty in §4 (lesson lipschitz)",
    "iwgan": "docs/theory.md §5",
    "iwgan-gp": "docs/theory.md §5 (the critic's ratio) and §4",
    "gan-hard": "docs/theory.md §5",
    "topk": "docs/theory.md §5",
    "diwgan": "docs/theory.md §6",
    "unrolled": "docs/theory.md §1 (the minimax loss and the chase of lesson collapse)",
}
_THEORY["wgan-gp-toy"] = _THEORY["wgan-gp-paper"] = _THEORY["wgan-gp"]


def register(preset: Preset) -> Preset:
    if not preset.theory and preset.name in _THEORY:
        preset = replace(preset, theory=_THEORY[preset.name])
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


# --- importance weighting (methods.md §1) ---------------------------------------------------------------

_GAN = PRESETS["gan"].settings

register(Preset(
    name="iwgan",
    summary="importance-weighted GAN: generator samples weighted by D/(1-D), normalised over the batch",
    source="Hu, Yang, Salakhutdinov, Xing 2018, 'On Unifying Deep Generative Models', §4.1, Eq. 16 "
    "(weights detached, D trained as usual); base GAN settings as preset gan",
    settings={**_GAN, "weighting": {"gen": ["density_ratio"]}},
))

register(Preset(
    name="iwgan-gp",
    summary="WGAN-GP with generator weights exp(f/T) from the unbounded critic",
    source="the density-ratio weights of Hu et al. 2018 carried to a critic as in KL-WGAN (Song & Ermon 2020, "
    "detached here); base settings as preset wgan-gp",
    settings={**_WGAN_GP, "weighting": {"gen": ["density_ratio"]}},
))

register(Preset(
    name="gan-hard",
    summary="GAN whose discriminator focuses on hard samples: weights 1/D(x) (real), 1/(1-D(G(z))) (fake)",
    source="the project's IWGAN description (seed 000; methods.md §7): weights from the inverse of the "
    "discriminator's output; exp(per-sample loss) with temperature 1",
    settings={**_GAN, "weighting": {"disc_real": ["hard"], "disc_fake": ["hard"]}},
    notes="Not Hu et al.'s IWGAN: Hu et al. weight the generator update by D/(1-D) and train D normally.",
))

register(Preset(
    name="topk",
    summary="top-k GAN: the generator learns only from the samples the discriminator scores highest",
    source="Sinha, Zhao, Goyal, Raffel, Odena 2020, 'Top-k Training of GANs': k = max(0.5, 0.99^epoch) x batch",
    settings={**_GAN, "weighting": {"gen": ["topk"]}},
))

register(Preset(
    name="diwgan",
    summary="Dual Importance Weight GAN: NS-GAN plus alpha x the dual-weighted paired latent distance",
    source="'Dual Importance Weight GAN', anonymous ICLR 2019 submission (seed 002); the defaults resolve its "
    "ambiguities as in methods.md §3.3 (alpha 1, N 10, Scott KDE, M = batch, MLP autoencoder, latent 2)",
    settings={**_GAN, "diwgan": {"enabled": True}},
))

# --- mode-coverage baselines (methods.md §4) ------------------------------------------------------------

register(Preset(
    name="unrolled",
    summary="Unrolled GAN: the value function (real and generated terms) after K = 5 differentiable D updates",
    source="Metz, Poole, Pfau, Sohl-Dickstein 2017; settings of the authors' notebook poolio/unrolled_gan: "
    "5 unrolling steps, D Adam 1e-4, G Adam 1e-3, beta1 0.5, saddle (minimax) objective",
    settings={
        "loss": {"type": "minimax", "n_critic": 1},
        "scheme": {"unroll": 5},
        "g_optim": {"name": "adam", "lr": 1e-3, "betas": [0.5, 0.999]},
        "d_optim": {"name": "adam", "lr": 1e-4, "betas": [0.5, 0.999]},
    },
    notes="The notebook's tanh networks, z-dim 256 and batch 512 are not used: every method shares the "
    "benchmark networks (benchmarks.md §3).",
))

register(Preset(
    name="veegan",
    summary="VEEGAN: reconstructor F: x -> z and a joint discriminator D(z, x)",
    source="Srivastava, Valkov, Russell, Gutmann, Sutton 2017, Algorithm 1 (generator loss: D logit + "
    "||z - F(G(z))||^2); optimiser as preset gan, which the paper does not fix for the toys",
    settings={**_GAN, "scheme": {"veegan": True}},
    notes="F has the discriminator's width and depth and uses the generator's optimiser settings.",
))

for _m in (2, 3, 4):
    register(Preset(
        name=f"pacgan{_m}",
        summary=f"PacGAN: the discriminator sees packs of {_m} samples",
        source=f"Lin, Khetan, Fanti, Oh 2018, packing m = {_m}; 2-D experiments: Adam 1e-4, beta1 0.8",
        settings={
            "loss": {"type": "nonsaturating", "n_critic": 1},
            "scheme": {"pack": _m},
            "g_optim": {"name": "adam", "lr": 1e-4, "betas": [0.8, 0.999]},
            "d_optim": {"name": "adam", "lr": 1e-4, "betas": [0.8, 0.999]},
        },
        notes=f"As in PacGAN's code the discriminator gets batch_size packs, so {_m} x batch_size samples a step.",
    ))

# --- conditional generation (docs/methods.md §10) ----------------------------------------------------------
# Labels come from the data (data.classes for the toy mixtures: components unless set).

register(Preset(
    name="cgan",
    summary="conditional GAN: a learned label embedding concatenated to z in G and to D's input",
    source="Mirza & Osindero 2014, 'Conditional Generative Adversarial Nets', §3.2 (y fed to both networks as an "
    "additional input layer); non-saturating loss and Adam 2e-4, beta1 0.5 as preset gan",
    settings={**_GAN, "model": {"conditioning": "concat"}},
    notes="The paper's SGD with momentum, dropout and maxout layers are not used: every method shares the benchmark "
    "networks (benchmarks.md §3) and preset gan's optimiser; y enters through a learned embedding "
    "(model.embed_dim 16) rather than a one-hot vector.",
))

register(Preset(
    name="cwgan-gp",
    summary="conditional WGAN-GP: concat conditioning, the penalty at interpolates of real and generated points "
    "of the same label",
    source="Gulrajani et al. 2017, Algorithm 1 (lambda 10, n_critic 5, Adam 1e-4, betas (0.5, 0.9) as preset "
    "wgan-gp) with the label input of Mirza & Osindero 2014",
    settings={**_WGAN_GP, "model": {"conditioning": "concat"}},
    notes="Each critic step generates its batch for the real batch's labels, so every interpolate keeps one label. "
    "For the toy mixtures the authors' toy script uses lambda 0.1 (preset wgan-gp-toy): loss.gp_weight=0.1.",
))

register(Preset(
    name="acgan",
    summary="AC-GAN: D with an auxiliary classifier head; its cross-entropy on real and generated labels is added "
    "to both losses",
    source="Odena, Olah, Shlens 2017, 'Conditional Image Synthesis with Auxiliary Classifier GANs', §3 (D: L_S + L_C, "
    "G: L_C - L_S) and appendix (Adam 2e-4, beta1 0.5); G takes the label with z",
    settings={**_GAN, "model": {"conditioning": "acgan"}, "loss": {**_GAN["loss"], "ac_weight": 1.0}},
    notes="L_S is the non-saturating loss here; the classifier is a linear head on D's last hidden layer, and D does "
    "not see the label.",
))

register(Preset(
    name="projection",
    summary="projection discriminator: D(x, y) = psi(phi(x)) + <embed(y), phi(x)>, hinge loss, spectral norm "
    "(SNGAN-projection)",
    source="Miyato & Koyama 2018, 'cGANs with Projection Discriminator', Eq. 3 and §5 (hinge loss, spectral norm on "
    "every D layer and on the embedding, Adam 2e-4, betas (0, 0.9), n_dis 5)",
    settings={
        "loss": {"type": "hinge", "n_critic": 5},
        "model": {"conditioning": "projection", "spectral_norm": True},
        "g_optim": {"name": "adam", "lr": 2e-4, "betas": [0.0, 0.9]},
        "d_optim": {"name": "adam", "lr": 2e-4, "betas": [0.0, 0.9]},
    },
    notes="Their ResNet networks and conditional batch norm in G are not used: G concatenates the label embedding "
    "to z, on the shared benchmark networks.",
))

register(Preset(
    name="iwcgan",
    summary="importance-weighted conditional GAN: preset cgan with IWGAN's generator weights D/(1-D)",
    source="Hu, Yang, Salakhutdinov, Xing 2018, §4.1, Eq. 16 (detached, batch-normalised density-ratio weights, as "
    "preset iwgan) on the conditional GAN of Mirza & Osindero 2014 (preset cgan): D(x, y) gives the ratio "
    "p(x, y) / q(x, y)",
    settings={**_GAN, "model": {"conditioning": "concat"}, "weighting": {"gen": ["density_ratio"]}},
))
