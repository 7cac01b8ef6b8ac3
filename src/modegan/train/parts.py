"""The pieces of a run, built from config: networks, optimisers, loss, weighting, update scheme, RNG.

A run is data + networks + a loss + Lipschitz constraints + sample weighting + an update scheme.
`Parts` holds them side by side so the update functions in `steps.py` compose them without a class
per GAN. Optional pieces are None when a run does not use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from modegan.config import OptimConfig, RunConfig
from modegan.data.images import ImageDataset
from modegan.device import Placement
from modegan.errors import ModeganError
from modegan.losses.acgan import AuxiliaryClassifier
from modegan.losses.adversarial import AdversarialLoss, get_loss
from modegan.nets.conditional import (
    ACGANDiscriminator,
    ConcatDiscriminator,
    ConditionalGenerator,
    ProjectionDiscriminator,
)
from modegan.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from modegan.nets.mlp import MLPDiscriminator, MLPGenerator
from modegan.nets.packing import PackedDiscriminator
from modegan.nets.veegan import ConvJointDiscriminator, ConvReconstructor, JointDiscriminator, Reconstructor
from modegan.train.averaging import ema_copy
from modegan.weighting import DualImportanceLoss, SampleWeighting, build_diwgan


@dataclass
class Parts:
    G: MLPGenerator | DCGANGenerator
    D: nn.Module  # MLPDiscriminator, PackedDiscriminator, or VEEGAN's JointDiscriminator
    g_opt: torch.optim.Optimizer
    d_opt: torch.optim.Optimizer
    loss: AdversarialLoss
    cfg: RunConfig
    rng: torch.Generator  # every random draw of training: z, data batches, GP interpolation (on the device)
    weighting: SampleWeighting | None = None
    diwgan: DualImportanceLoss | None = None
    F: Reconstructor | ConvReconstructor | None = None  # VEEGAN's reconstructor x -> z
    f_opt: torch.optim.Optimizer | None = None
    step: int = 0  # generator steps taken (schedules such as top-k and the learning rates read it)
    G_ema: MLPGenerator | DCGANGenerator | None = None  # train.ema > 0: the moving average of G's weights
    placement: Placement = Placement(torch.device("cpu"))  # the run's device and precision
    terms: tuple = ()  # extra loss terms of both updates (losses.acgan.AuxiliaryClassifier); none for a plain run

    def modules(self) -> dict[str, nn.Module]:
        """Everything with state to checkpoint (DIWGAN's buffers: history, targets; not its frozen encoder)."""
        mods = {"G": self.G, "D": self.D, "F": self.F, "diwgan": self.diwgan, "G_ema": self.G_ema}
        return {k: m for k, m in mods.items() if m is not None}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        opts = {"G": self.g_opt, "D": self.d_opt, "F": self.f_opt}
        return {k: o for k, o in opts.items() if o is not None}


def build_optimizer(params, cfg: OptimConfig) -> torch.optim.Optimizer:
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=cfg.lr, alpha=cfg.alpha, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def image_shape(cfg: RunConfig) -> tuple[int, int]:
    """(channels, size) of an image run's data, as its resolved config fixes them."""
    return cfg.data.channels, cfg.data.image_size


def build_generator(cfg: RunConfig, data_dim: int, n_classes: int | None = None,
                    class_probs: torch.Tensor | None = None) -> MLPGenerator | DCGANGenerator | ConditionalGenerator:
    """The benchmark MLP for toy data (`data_dim` inputs), DCGAN for images (`data_dim` unused); with
    model.conditioning, that MLP on [z, embed(y)] inside a `ConditionalGenerator` over `n_classes` classes."""
    m = cfg.model
    if m.conditioning != "none":
        if n_classes is None:
            raise ModeganError(f"model.conditioning={m.conditioning} needs labelled data (data.classes)")
        if m.arch == "dcgan":
            c, size = image_shape(cfg)
            base = DCGANGenerator(size, c, m.z_dim + m.embed_dim, width=m.g_width)
        else:
            base = MLPGenerator(m.z_dim + m.embed_dim, data_dim, width=m.g_width, depth=m.g_depth,
                                activation=m.activation, norm=m.g_norm)
        return ConditionalGenerator(base, m.z_dim, n_classes, m.embed_dim, class_probs)
    if m.arch == "dcgan":
        c, size = image_shape(cfg)
        return DCGANGenerator(size, c, m.z_dim, width=m.g_width, norm=m.g_norm or "batch")  # None: DCGAN's own
    return MLPGenerator(
        m.z_dim, data_dim, width=m.g_width, depth=m.g_depth, activation=m.activation, norm=m.g_norm
    )


def dcgan_d_norm(cfg: RunConfig) -> str:
    """model.d_norm when set; unset, DCGAN's own: batch norm, except under a gradient penalty (Gulrajani et al.
    2017, §4): model.gp_d_norm; with spectral norm and no penalty: none, as Miyato et al. 2018's spectrally
    normalised CNN critics."""
    if cfg.model.d_norm is not None:
        return cfg.model.d_norm
    if cfg.loss.gp_weight > 0:
        return cfg.model.gp_d_norm
    return "none" if cfg.model.spectral_norm else "batch"


def build_discriminator(cfg: RunConfig, data_dim: int, n_classes: int | None = None) -> nn.Module:
    """The benchmark MLP or DCGAN; PacGAN feeds it m samples at once (images: m·C channels), VEEGAN a (z, x) pair;
    model.conditioning wraps the MLP (`nets.conditional`)."""
    m, s = cfg.model, cfg.scheme
    if m.conditioning != "none":
        return build_conditional_discriminator(cfg, data_dim, n_classes)
    if m.arch == "dcgan":
        c, size = image_shape(cfg)
        if s.veegan:
            return ConvJointDiscriminator(size, c, m.z_dim, width=m.d_width)
        D = DCGANDiscriminator(size, c * s.pack, width=m.d_width, norm=dcgan_d_norm(cfg),
                               spectral_norm=m.spectral_norm)
        return PackedDiscriminator(D, s.pack) if s.pack > 1 else D
    kw = dict(width=m.d_width, depth=m.d_depth, activation=m.activation, norm=m.d_norm,
              spectral_norm=m.spectral_norm)
    if s.veegan:
        return JointDiscriminator(m.z_dim, data_dim, **kw)
    if s.pack > 1:
        return PackedDiscriminator(MLPDiscriminator(data_dim * s.pack, **kw), s.pack)
    return MLPDiscriminator(data_dim, **kw)


def build_conditional_discriminator(cfg: RunConfig, data_dim: int, n_classes: int | None) -> nn.Module:
    """concat: the MLP on [x, embed(y)] (per pack member with PacGAN); projection and acgan: the MLP on x, with
    the projection or the classifier on its last hidden layer (as wide as d_width, or x itself without one)."""
    m, s = cfg.model, cfg.scheme
    if n_classes is None:
        raise ModeganError(f"model.conditioning={m.conditioning} needs labelled data (data.classes)")
    if m.arch == "dcgan":  # concat: the embedding as extra input channels; the others on the 4x4 map
        c, size = image_shape(cfg)

        def dcgan(channels: int) -> nn.Module:
            return DCGANDiscriminator(size, channels, width=m.d_width, norm=dcgan_d_norm(cfg),
                                      spectral_norm=m.spectral_norm)

        if m.conditioning == "concat":
            return ConcatDiscriminator(dcgan((c + m.embed_dim) * s.pack), n_classes, m.embed_dim, s.pack)
        wrapper = ProjectionDiscriminator if m.conditioning == "projection" else ACGANDiscriminator
        return wrapper(dcgan(c), n_classes, 4 * m.d_width * 16, spectral_norm=m.spectral_norm)
    kw = dict(width=m.d_width, depth=m.d_depth, activation=m.activation, norm=m.d_norm,
              spectral_norm=m.spectral_norm)
    if m.conditioning == "concat":
        base = MLPDiscriminator((data_dim + m.embed_dim) * s.pack, **kw)
        return ConcatDiscriminator(base, n_classes, m.embed_dim, s.pack)
    features = m.d_width if m.d_depth > 0 else data_dim
    wrapper = ProjectionDiscriminator if m.conditioning == "projection" else ACGANDiscriminator
    return wrapper(MLPDiscriminator(data_dim, **kw), n_classes, features, spectral_norm=m.spectral_norm)


def build_terms(cfg: RunConfig) -> tuple:
    """The extra terms of both updates: AC-GAN's classifier cross-entropy; none otherwise."""
    return (AuxiliaryClassifier(cfg.loss.ac_weight),) if cfg.model.conditioning == "acgan" else ()


def build_reconstructor(cfg: RunConfig, data_dim: int) -> nn.Module:
    m = cfg.model
    if m.arch == "dcgan":
        c, size = image_shape(cfg)
        return ConvReconstructor(size, c, m.z_dim, width=m.d_width)
    return Reconstructor(data_dim, m.z_dim, width=m.d_width, depth=m.d_depth)


def build_weighting(cfg: RunConfig) -> SampleWeighting | None:
    w = cfg.weighting
    if not (w.gen or w.disc_fake or w.disc_real):
        return None  # unweighted runs pay nothing
    return SampleWeighting(
        w.gen, w.disc_fake, w.disc_real, temperature=w.temperature, detach=w.detach,
        topk={"start": w.topk_start, "decay": w.topk_decay, "min_rate": w.topk_min, "every": w.topk_every},
    )


def build_parts(cfg: RunConfig, data_dim: int, placement: Placement | None = None, n_classes: int | None = None,
                class_probs: torch.Tensor | None = None) -> Parts:
    """Networks are initialised from `train.seed` inside a forked RNG, so the global RNG is untouched, on the
    CPU (the same initial weights on every device), then moved to the run's device. A conditional run
    (model.conditioning) takes the data's number of classes and their probabilities (G's label prior)."""
    placement = placement or Placement.of(cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.train.seed)
        G = build_generator(cfg, data_dim, n_classes, class_probs).to(placement.device)
        D = build_discriminator(cfg, data_dim, n_classes).to(placement.device)
        F = build_reconstructor(cfg, data_dim).to(placement.device) if cfg.scheme.veegan else None
    return Parts(
        G=G,
        D=D,
        g_opt=build_optimizer(G.parameters(), cfg.g_optim),
        d_opt=build_optimizer(D.parameters(), cfg.d_optim),
        loss=get_loss(cfg.loss.type),
        cfg=cfg,
        rng=placement.generator(cfg.train.seed + 1),
        weighting=build_weighting(cfg),
        F=F,
        f_opt=build_optimizer(F.parameters(), cfg.g_optim) if F is not None else None,
        placement=placement,
        G_ema=ema_copy(G) if cfg.train.ema > 0 else None,
        terms=build_terms(cfg),
    )


DIWGAN_IMAGE_ROWS = 10_000


def diwgan_data(train: torch.Tensor | ImageDataset, seed: int) -> torch.Tensor:
    """What DIWGAN's autoencoder and targets see: the toy training set, or up to 10,000 training images
    (a subset drawn with `seed`) as flat rows, which the conv autoencoder takes; 128,000 stacked digits as
    floats would be 1.2 GB."""
    if isinstance(train, torch.Tensor):
        return train
    n = min(train.n, DIWGAN_IMAGE_ROWS)
    idx = torch.randperm(train.n, generator=torch.Generator().manual_seed(seed))[:n]
    return train.batch(idx).reshape(n, -1)


def _on(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    return x if x.device == device else x.to(device)


def attach_diwgan(parts: Parts, train: torch.Tensor | ImageDataset, cache_dir: Path | None,
                  encoder: torch.nn.Module | None = None, row_shape: tuple[int, int, int] | None = None) -> None:
    """DIWGAN's phase 0: pretrain (or load the cached) autoencoder, freeze it, choose the targets; a given
    `encoder` (`modegan.fit`) replaces the autoencoder. `row_shape`: the (C, H, W) of flat image rows
    (`modegan.fit`'s images; an ImageDataset knows its own).

    It draws from its own generator (seed + 2), so enabling DIWGAN does not shift the training draws.
    """
    cfg, d = parts.cfg, parts.cfg.diwgan
    bw = d.bandwidth if d.bandwidth in ("scott", "silverman") else float(d.bandwidth)
    image = row_shape or (None if isinstance(train, torch.Tensor) else train.shape)
    parts.diwgan = build_diwgan(
        _on(diwgan_data(train, cfg.train.seed + 3), parts.placement.device), latent=d.encoder, image_shape=image,
        latent_dim=d.latent_dim,
        ae_steps=d.ae_steps, ae_lr=d.ae_lr,
        batch_size=cfg.train.batch_size, n_targets=d.n_targets or cfg.train.batch_size, targets=d.targets,
        cache_dir=cache_dir, generator=torch.Generator().manual_seed(cfg.train.seed + 2),
        alpha=d.alpha, n_history=d.n_history, bw_method=bw, target_stat=d.target_stat, ema=d.ema, encoder=encoder,
    )
