"""Conditional networks as parts that wrap the unconditional ones (docs/methods.md §10).

A conditional GAN matches the joint distribution of (x, y). Inside training a labelled batch is one tensor, the
points with their label as a last column (`join`, `split`), so every part written for batches composes unchanged:
the data batches are rows of the labelled training set, the generator's latent is (z, y) and its output (G(z, y),
y), the gradient penalty's interpolates of a real and a generated batch with the same labels keep those labels
(εy + (1 − ε)y = y), and a label's column carries no gradient (labels are looked up, not multiplied), so the
penalty's norm is that of ∇ₓD(x, y). Packing concatenates labelled rows: a pack carries its m labels.

- `ConditionalGenerator`: z and a learned label embedding concatenated at G's input (Mirza & Osindero 2014; the
  generator of all three discriminators below).
- `ConcatDiscriminator`: a learned label embedding concatenated to D's input (Mirza & Osindero 2014).
- `ProjectionDiscriminator`: ψ(φ(x)) + ⟨embed(y), φ(x)⟩, φ the discriminator's last hidden layer (Miyato &
  Koyama 2018, Eq. 3).
- `ACGANDiscriminator`: the plain D on x plus a classifier head on the same hidden layer (Odena et al. 2017);
  its cross-entropy is `losses.acgan.AuxiliaryClassifier`'s term.

Plain nn.Modules: `base` is the unconditional MLP or DCGAN generator or discriminator built for the widened
input (images: the label as a constant extra channel of the batch, the embedding broadcast over the pixels as
extra input channels of a concat D).
"""

from __future__ import annotations

import numbers

import torch
from torch import Tensor, nn

from modegan.errors import ModeganError
from modegan.nets.packing import pack


def join(x: Tensor, y: Tensor) -> Tensor:
    """Points (B, d) and labels (B,) -> one labelled batch (B, d + 1), the label in the last column; images
    (B, C, H, W) -> (B, C + 1, H, W), the label as a last, constant channel."""
    y = y.to(device=x.device, dtype=x.dtype).reshape(-1, *([1] * (x.dim() - 1)))
    return torch.cat([x, y.expand(x.shape[0], 1, *x.shape[2:])], dim=1)


def split(batch: Tensor) -> tuple[Tensor, Tensor]:
    """A labelled batch (`join`) -> the points and the labels (long; never differentiable)."""
    y = batch[:, -1].reshape(batch.shape[0], -1)[:, 0]
    return batch[:, :-1], y.detach().round().long()


def _with_embedding(x: Tensor, e: Tensor) -> Tensor:
    """[x, e]: concatenated features, or for images e broadcast over the pixels as extra channels."""
    if x.dim() == 2:
        return torch.cat([x, e], dim=1)
    return torch.cat([x, e[:, :, None, None].expand(-1, -1, *x.shape[2:])], dim=1)


def strip(batch: Tensor) -> Tensor:
    """The points of a labelled batch."""
    return batch[:, :-1]


def check_labels(labels, n_classes: int, n: int | None = None) -> Tensor:
    """Labels as a long tensor of class indices in [0, n_classes); one line for anything else."""
    if isinstance(labels, numbers.Integral) and not isinstance(labels, bool):
        labels = [int(labels)] * (1 if n is None else n)
    try:
        t = torch.as_tensor(labels)
    except (TypeError, ValueError, RuntimeError):
        raise ModeganError("labels must be integers (class indices)") from None
    if t.dim() != 1:
        raise ModeganError(f"labels must be one class index per sample, a 1-D sequence; got shape {tuple(t.shape)}")
    if t.is_floating_point():
        if not torch.isfinite(t).all() or not torch.equal(t, t.round()):
            raise ModeganError("labels must be integers (class indices); got non-integer values")
        t = t.long()
    elif t.dtype == torch.bool or t.is_complex():
        raise ModeganError(f"labels must be integers (class indices); got {t.dtype}")
    t = t.long()
    if n is not None and len(t) != n:
        raise ModeganError(f"{len(t)} labels for {n} samples; give one label per sample")
    if len(t) and (int(t.min()) < 0 or int(t.max()) >= n_classes):
        bad = int(t.min()) if int(t.min()) < 0 else int(t.max())
        raise ModeganError(f"label {bad} is not a class of this run; allowed: 0..{n_classes - 1}")
    return t


class ConditionalGenerator(nn.Module):
    """(z, y) -> x: `base` maps [z, embed(y)] (z_dim + embed_dim inputs) to a point.

    `class_probs` (a buffer, saved with the weights) is the label prior the generator is trained and evaluated
    with: each class's probability in the data. `sample(n, rng, labels=...)` draws points of the given classes.
    """

    def __init__(self, base: nn.Module, z_dim: int, n_classes: int, embed_dim: int | None,
                 class_probs: Tensor | None = None):
        super().__init__()
        if n_classes < 1:
            raise ModeganError(f"a conditional generator needs at least one class, got {n_classes}")
        self.base, self.z_dim, self.n_classes = base, z_dim, n_classes
        self.out_dim = getattr(base, "out_dim", None)
        # embed_dim None: `base` takes the labels itself (modegan.fit's G(z, labels), which overrides `generate`)
        self.embed = nn.Embedding(n_classes, embed_dim) if embed_dim is not None else None
        probs = torch.full((n_classes,), 1.0 / n_classes) if class_probs is None else class_probs.float()
        self.register_buffer("class_probs", probs / probs.sum())

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def sample_labels(self, n: int, generator: torch.Generator) -> Tensor:
        """n labels from the class prior, drawn on the generator's device."""
        probs = self.class_probs.to(generator.device)
        return torch.multinomial(probs, n, replacement=True, generator=generator)

    def _z(self, n: int, generator: torch.Generator) -> Tensor:
        return torch.randn(n, self.z_dim, generator=generator, device=generator.device)

    def sample_z(self, n: int, generator: torch.Generator) -> Tensor:
        """The latent (z, y), shape (n, z_dim + 1): z ~ N(0, I), then y from the class prior."""
        z = self._z(n, generator)
        return join(z, self.sample_labels(n, generator)).to(self._device())

    def latent_like(self, real: Tensor, generator: torch.Generator) -> Tensor:
        """Fresh z with the labels of the labelled batch `real`: the discriminator's generated batch, so that the
        gradient penalty's interpolates pair a real and a generated point of the same class."""
        z = self._z(real.shape[0], generator).to(self._device())
        return join(z, split(real)[1])

    def generate(self, z: Tensor, labels: Tensor) -> Tensor:
        """Points for latent z of the given classes (no label column)."""
        return self.base(torch.cat([z, self.embed(labels.to(z.device))], dim=1))

    def forward(self, latent: Tensor) -> Tensor:
        """(z, y) -> the labelled point (G(z, y), y)."""
        z, y = split(latent)
        return join(self.generate(z, y), y)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, labels=None) -> Tensor:
        """n points (no label column): z ~ N(0, I) drawn first, then the labels from the class prior unless given
        (an int: every sample of that class, or one class index per sample)."""
        z = self._z(n, generator)
        y = self.sample_labels(n, generator) if labels is None else check_labels(labels, self.n_classes, n)
        device = self._device()
        return self.generate(z.to(device), y.to(device))


class ConcatDiscriminator(nn.Module):
    """(x, y) -> a score: `base` scores [x, embed(y)]. With `pack` m > 1 (PacGAN) it scores packs of m labelled
    points, each with its own label's embedding: `base` is built for m·(d + embed_dim) inputs."""

    def __init__(self, base: nn.Module, n_classes: int, embed_dim: int, pack_size: int = 1):
        super().__init__()
        self.base, self.pack = base, pack_size
        self.embed = nn.Embedding(n_classes, embed_dim)

    def forward(self, batch: Tensor) -> Tensor:
        x, y = split(batch)
        return self.base(pack(_with_embedding(x, self.embed(y)), self.pack))


def _trunk_and_head(base: nn.Module) -> tuple[nn.Module, nn.Module]:
    """A discriminator's hidden layers φ and its output layer ψ: an MLP's last Linear (`nets.mlp.build_mlp`), a
    DCGAN's last 4x4 convolution over the 4x4 map (a linear map of φ's flattened features)."""
    net = base.net
    return net[:-1], net[-1]


class ProjectionDiscriminator(nn.Module):
    """ψ(φ(x)) + ⟨embed(y), φ(x)⟩ (Miyato & Koyama 2018, Eq. 3): φ the last hidden layer of `base` (its input when
    it has none), the embedding as wide as φ and, with spectral norm, spectrally normalised as in their code."""

    def __init__(self, base: nn.Module, n_classes: int, feature_dim: int, spectral_norm: bool = False):
        super().__init__()
        self.base = base
        self.embed = nn.Embedding(n_classes, feature_dim)
        nn.init.xavier_uniform_(self.embed.weight)
        if spectral_norm:
            nn.utils.parametrizations.spectral_norm(self.embed)

    def forward(self, batch: Tensor) -> Tensor:
        x, y = split(batch)
        trunk, head = _trunk_and_head(self.base)
        h = trunk(x)
        return head(h).reshape(x.shape[0]) + (self.embed(y) * h.flatten(1)).sum(-1)


class ACGANDiscriminator(nn.Module):
    """The plain `base` score of x (the label is not an input) and, on its last hidden layer, a linear classifier
    over the classes (Odena et al. 2017, §3): `class_logits`."""

    def __init__(self, base: nn.Module, n_classes: int, feature_dim: int, spectral_norm: bool = False):
        super().__init__()
        self.base = base
        head = nn.Linear(feature_dim, n_classes)
        self.classifier = nn.utils.parametrizations.spectral_norm(head) if spectral_norm else head

    def forward(self, batch: Tensor) -> Tensor:
        return self.base(strip(batch))

    def class_logits(self, batch: Tensor) -> Tensor:
        trunk, _ = _trunk_and_head(self.base)
        return self.classifier(trunk(strip(batch)).flatten(1))
