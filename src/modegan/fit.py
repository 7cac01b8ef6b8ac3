"""`modegan.fit`: train any method on your own generator, discriminator and data.

The user's networks are wrapped (`UserGenerator` adds z sampling, `UserDiscriminator` flattens the score to
one per sample; packing and VEEGAN wrap D further), then the built-in loop (`run._train`) trains them, so run
directories, metrics, checkpoints and resume are those of a built-in run.

Data: a tensor, a `Dataset`, a `DataLoader` or any iterable of batches is *materialised* once into one float32
tensor of N rows of any shape, (N, d) or (N, C, H, W) (a batch that is a tuple or list contributes its first
element, e.g. (x, y) -> x), and batches are then drawn from it with replacement, as for the toy data; the
loader's own batching and shuffling are not used (its `batch_size` becomes train.batch_size unless given).
One fifth of the rows (at most 2,500) is held out: w1 against them is the metric for rows of up to 4,096
values; a user `features=` network adds FD, KID and precision/recall/density/coverage in its feature space,
a `classifier=` the classes hit and the total-variation distance of the predicted-class histograms (what
image users compare with); the summary's dataset.metrics says which apply. A built-in toy name ("ring8") or
a ToyDataset of one trains with the full toy metrics.

Rows of any shape train every method: DIWGAN's default autoencoder is A12's conv one for (C, 28|32, 28|32)
images and the MLP on flattened rows otherwise (or the user's `encoder=`); VEEGAN's default reconstructor
takes the rows flattened (or the user's `reconstructor=`).

The run directory also holds `data.pt` (the materialised rows) and `parts.json` (the networks' classes by
import path), so `modegan.train(resume=out)` and `modegan.load(out)` can rebuild the run without the caller.
"""

from __future__ import annotations

import contextlib
import importlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from modegan.config import USER_DATA, RunConfig, config_from_any
from modegan.data import ToyDataset
from modegan.data.datasets import DATASETS
from modegan.device import Placement
from modegan.errors import ModeganError
from modegan.limits import MAX_ELEMENTS
from modegan.losses.adversarial import get_loss
from modegan.metrics import evaluate_toy
from modegan.metrics.images import feature_metrics
from modegan.metrics.toy import Metric
from modegan.nets.conditional import ConditionalGenerator, check_labels, join, split, strip
from modegan.nets.conv_autoencoder import SIZES as CONV_SIZES
from modegan.nets.packing import PackedDiscriminator
from modegan.nets.prior import GaussianPrior
from modegan.train.checkpoint import atomic_save, read_checkpoint, restore, save_checkpoint
from modegan.train.files import atomic_write, run_lock
from modegan.train.parts import Parts, attach_diwgan, build_optimizer, build_reconstructor, build_weighting
from modegan.train.run import restoring_torch_threads
from modegan.train.rundir import FIT_FILES, RunDir

PARTS_FILE, DATA_FILE, LABELS_FILE = FIT_FILES[0], FIT_FILES[1], FIT_FILES[5]
MAX_HELD_OUT = 2_500
ROLES = ("generator", "discriminator", "reconstructor", "encoder", "features", "classifier")
FROZEN = {"encoder": FIT_FILES[2], "features": FIT_FILES[3], "classifier": FIT_FILES[4]}  # weights kept beside
METRIC_CHUNK = 1024  # rows a metric network sees at once


class UserGenerator(GaussianPrior, nn.Module):
    """The user's G (z -> x) with the `sample_z`/`sample` the trainer and the metrics call; z ~ N(0, I)."""

    def __init__(self, net: nn.Module, z_dim: int):
        super().__init__()
        self.net, self.z_dim = net, z_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)



def one_score(out: torch.Tensor, n: int) -> torch.Tensor:
    """(n,) or (n, 1) scores as (n,); any other shape is a one-line error (checked once before training)."""
    if out.dim() == 2 and out.shape[1] == 1:
        out = out.squeeze(1)
    if out.shape != (n,):
        raise ModeganError(f"the discriminator must return one score per input, shape ({n},) or ({n}, 1); "
                           f"got {tuple(out.shape)}")
    return out


class UserDiscriminator(nn.Module):
    """The user's D with its score flattened to one per input."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        out = self.net(*inputs)
        return out.squeeze(-1) if out.dim() == 2 else out


class UserJointDiscriminator(UserDiscriminator):
    """VEEGAN's D(z, x) from the user's D, which takes the concatenation [z, x] (z_dim + d inputs; x flattened)."""

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return super().forward(torch.cat([z, x.flatten(1)], dim=1))


class UserConditionalGenerator(ConditionalGenerator):
    """The user's G(z, labels) -> x as a conditional generator: z ~ N(0, I), the labels drawn from the data's
    class shares (`class_probs`) unless given; inside training its latent and output carry the label as a last
    column (`nets.conditional.join`), as the built-in conditional generator's do."""

    def __init__(self, net: nn.Module, z_dim: int, n_classes: int, class_probs: torch.Tensor | None = None):
        super().__init__(net, z_dim, n_classes, None, class_probs)

    def generate(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.base(z, labels.to(z.device))


class UserConditionalDiscriminator(UserDiscriminator):
    """The user's D(x, labels) on a labelled batch (the label as a last column), one score per input."""

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return super().forward(*split(batch))


class MnistDigits(nn.Module):
    """The project's shipped MNIST classifier (checksum-verified, >= 99.2 % test accuracy) as a fit metric
    network, `classifier="mnist"`: rows of 784 values or (1, 28, 28) images, scaled as modegan's MNIST
    ([-1, 1]), -> the 10 digits' logits."""

    def __init__(self):
        super().__init__()
        from modegan.metrics.classifier import load_classifier

        self.net = load_classifier().net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(len(x), 1, 28, 28))


class MnistFeatures(MnistDigits):
    """`features="mnist"`: the shipped classifier's 128 penultimate features, those of modegan's MNIST FD."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x.reshape(len(x), 1, 28, 28))


NAMED_METRIC_NETS = {"features": {"mnist": MnistFeatures}, "classifier": {"mnist": MnistDigits}}


def named_metric_net(role: str, value):
    """A metric network given by name ("mnist") as its module; modules and None pass through."""
    if not isinstance(value, str):
        return value
    if value not in NAMED_METRIC_NETS[role]:
        raise ModeganError(f"{role}={value!r}: allowed: a torch.nn.Module, or {', '.join(NAMED_METRIC_NETS[role])}")
    return NAMED_METRIC_NETS[role][value]()


# --- data -------------------------------------------------------------------------------------------------


def first_tensor(batch, i: int) -> torch.Tensor:
    if isinstance(batch, (tuple, list)) and batch:
        batch = batch[0]
    if not isinstance(batch, torch.Tensor):
        raise ModeganError(f"data: batch {i} is a {type(batch).__name__}, not a tensor (or a tuple led by one)")
    return batch


def batch_labels(batch, i: int) -> torch.Tensor:
    """The labels of an (x, y) batch: what a conditional method trains on."""
    if not (isinstance(batch, (tuple, list)) and len(batch) >= 2):
        raise ModeganError(f"data: batch {i} carries no labels; a conditional method takes (x, y) batches, or a "
                           "tensor with labels=")
    return torch.as_tensor(batch[1]).detach().cpu()


def materialise(data, labelled: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """All rows of a tensor, Dataset, DataLoader or iterable of batches as one float32 tensor (N, ...), and with
    `labelled` (a conditional method) the labels of (x, y) batches (None for a tensor: see labels=)."""
    labels = None
    if isinstance(data, torch.Tensor):
        rows = data
    elif isinstance(data, torch.utils.data.Dataset) and hasattr(data, "__len__"):
        return materialise(torch.utils.data.DataLoader(data, batch_size=1024), labelled)
    elif hasattr(data, "__iter__") and not isinstance(data, (str, bytes, dict)):
        batches, ys, total = [], [], 0
        for i, batch in enumerate(data):
            x = first_tensor(batch, i)
            total += x.numel()
            if total > MAX_ELEMENTS:
                raise ModeganError(f"data: more than {MAX_ELEMENTS:,} values; fit materialises the data, pass less")
            batches.append(x.detach().cpu())
            if labelled:
                ys.append(batch_labels(batch, i).reshape(-1))
        if not batches:
            raise ModeganError("data: the iterable yielded no batches")
        rows = torch.cat(batches)
        labels = torch.cat(ys) if labelled else None
    else:
        raise ModeganError(f"data must be a tensor, a Dataset, a DataLoader, an iterable of batches or a toy "
                           f"dataset name ({', '.join(DATASETS)}); got {type(data).__name__}")
    return check_rows(rows), labels


def check_row_labels(labels, n: int) -> torch.Tensor:
    """One class index 0..K-1 per row, every class with an example: one line for anything else."""
    try:
        t = check_labels(labels, 2**62, n)
    except ModeganError as e:
        if "is not a class" in str(e):  # the only bound here is 0
            raise ModeganError(f"labels: class indices must be 0 or more; {str(e).split(' is not')[0]}") from None
        raise ModeganError(f"labels: {e}") from None
    counts = torch.bincount(t)
    if (counts == 0).any():
        missing = int((counts == 0).nonzero()[0])
        raise ModeganError(f"labels: class {missing} has no example; the classes must be 0..K-1, each with a row")
    return t


def check_rows(rows: torch.Tensor) -> torch.Tensor:
    if rows.dim() == 1:
        rows = rows[:, None]
    if rows.shape[0] < 10 or rows[0].numel() < 1:
        raise ModeganError(f"data: fit takes N >= 10 rows of any shape, (N, d) or (N, C, H, W); got shape "
                           f"{tuple(rows.shape)}")
    if not (rows.is_floating_point() or rows.dtype in (torch.int32, torch.int64, torch.uint8)):
        raise ModeganError(f"data: expected numbers, got dtype {rows.dtype}")
    rows = rows.detach().cpu().to(torch.float32)
    if not torch.isfinite(rows).all():
        bad = int((~torch.isfinite(rows)).any(1).sum())
        raise ModeganError(f"data: {bad} rows hold NaN or Inf")
    return rows.contiguous()


MAX_W1_DIM = 4_096  # values per row up to which w1 against the held-out rows is computed (exact, n x n)
MAX_FEATURE_DIM = 4_096  # a feature extractor's width up to which fd's k x k matrix square root is affordable


@dataclass(eq=False)
class UserRows:
    """The user's rows, of any shape: what the loop draws batches from (`train`), fresh 'real' rows drawn from
    the held-out ones (`sample_real`), and the metrics possible without known modes (`evaluate_samples`):
    w1 on the flattened rows up to MAX_W1_DIM values a row, else none, which `describe` notes."""

    train: torch.Tensor
    held: torch.Tensor
    seed: int
    name: str = USER_DATA
    mixture: None = None
    weights: None = None
    features: nn.Module | None = None  # the user's feature extractor: rows -> (n, k), for fd, kid, prdc
    classifier: nn.Module | None = None  # the user's classifier: rows -> (n, K) logits, for classes, class_tv
    labels: torch.Tensor | None = None  # a conditional run's class of each training row
    held_labels: torch.Tensor | None = None
    classes: str | None = None

    @property
    def n_classes(self) -> int | None:
        return None if self.labels is None else int(max(self.labels.max(), self.held_labels.max())) + 1

    def class_probs(self) -> torch.Tensor:
        """Each class's share of the training rows: the conditional generator's label prior."""
        counts = torch.bincount(self.labels, minlength=self.n_classes).float()
        return counts / counts.sum()

    def sample_real_labelled(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(len(self.held), (n,), generator=generator)
        return self.held[idx], self.held_labels[idx]

    @property
    def dim(self) -> int:
        return self.train[0].numel()

    @property
    def flat(self) -> bool:
        return self.train.dim() == 2

    def sample_real(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.held[torch.randint(len(self.held), (n,), generator=generator)]

    def metrics_note(self) -> str:
        parts = []
        if self.dim <= MAX_W1_DIM:
            parts.append(f"w1 against fresh draws of {len(self.held)} held-out rows (flattened)")
        if self.features is not None:
            parts.append(f"fd, kid, precision, recall, density, coverage in the features of "
                         f"{import_path(type(self.features))} against the {len(self.held)} held-out rows")
        if self.classifier is not None:
            parts.append(f"classes and class_tv from the predictions of {import_path(type(self.classifier))}")
        if parts:
            return "; ".join(parts) + "; no known modes"
        return (f"no metrics: rows of {self.dim:,} values are past w1's {MAX_W1_DIM:,} and have no known modes "
                "(pass features= or classifier= to modegan.fit)")

    def describe(self) -> dict:
        return {"name": self.name, "dim": self.dim, "shape": list(self.train.shape[1:]), "n_modes": None,
                "n_train": len(self.train), "n_held_out": len(self.held), "seed": self.seed, "source": "fit",
                "weighted": False, "metrics": self.metrics_note(),
                **({"n_classes": self.n_classes} if self.labels is not None else {})}

    def evaluate_samples(self, samples: torch.Tensor, generator: torch.Generator, cfg: RunConfig,
                         labels: torch.Tensor | None = None) -> dict:
        out = {}
        if self.dim <= MAX_W1_DIM:
            flat = ToyDataset(self.name, self.train.flatten(1), None, self.seed, "fit",
                              lambda n, g: self.sample_real(n, g).flatten(1))
            out.update(evaluate_toy(samples.flatten(1), flat, generator, threshold=cfg.train.hq_threshold))
        if self.features is not None:
            proto = {"features": import_path(type(self.features)), "real": "held-out rows"}
            out.update(feature_metrics(run_metric_net(self.features, self.held, "features"),
                                       run_metric_net(self.features, samples, "features"), protocol=proto))
        if self.classifier is not None:
            out.update(class_metrics(self.classifier, self.held, samples, labels))
        return out

    def check_metric_nets(self) -> None:
        """The feature extractor and the classifier on two rows: one line if either does not fit, before training."""
        for role, net in (("features", self.features), ("classifier", self.classifier)):
            if net is not None:
                k = run_metric_net(net, self.held[:2], role).shape[1]
                if role == "features" and k > MAX_FEATURE_DIM:
                    raise ModeganError(f"the features network returns {k:,} values a row; fd takes the square root "
                                       f"of a {k:,} x {k:,} matrix at every evaluation: at most {MAX_FEATURE_DIM:,} "
                                       "(Inception's are 2,048); pool or project the features")


def run_metric_net(net: nn.Module, rows: torch.Tensor, role: str) -> torch.Tensor:
    """`net` on `rows` in chunks, in eval mode and without gradients, on the net's device: (n, k) on the CPU."""
    device = next((t.device for t in net.parameters()), torch.device("cpu"))
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            out = torch.cat([net(chunk.to(device)).detach().cpu() for chunk in rows.split(METRIC_CHUNK)])
    except (RuntimeError, ValueError, TypeError) as e:
        raise ModeganError(f"the {role} network does not take the data's rows ({tuple(rows.shape[1:])}): "
                           f"{str(e).splitlines()[0]}") from None
    finally:
        net.train(was_training)
    if out.dim() != 2 or (role == "classifier" and out.shape[1] < 2):
        want = "(n, K) logits over K >= 2 classes" if role == "classifier" else "(n, k) features"
        raise ModeganError(f"the {role} network must return {want}; got {tuple(out.shape)} for {len(rows)} rows")
    if not torch.isfinite(out).all():
        raise ModeganError(f"the {role} network returned NaN or Inf")
    return out.to(torch.float64)


def class_metrics(classifier: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                  labels: torch.Tensor | None = None) -> dict[str, Metric]:
    """`classes`: how many of the classifier's K classes the generated rows are predicted as (the analogue of
    Stacked MNIST's modes); `class_tv`: the total-variation distance, 1/2 sum_k |p_fake(k) - p_real(k)|, between
    the predicted-class histograms of the generated and the held-out rows (0: the same shares, 1: disjoint).
    With `labels` (the classes a conditional generator was asked for), `cond_acc`: the share of generated rows
    the classifier predicts as the class asked for."""
    logits = [run_metric_net(classifier, x, "classifier") for x in (real, fake)]
    k = logits[0].shape[1]
    predicted = [lg.argmax(1) for lg in logits]
    hist = [torch.bincount(p, minlength=k).double() for p in predicted]
    p_real, p_fake = (h / h.sum() for h in hist)
    proto = {"classifier": import_path(type(classifier)), "n_classes": k, "n_real": len(real), "n_fake": len(fake),
             "real": "held-out rows", "real_classes": int((hist[0] > 0).sum())}
    out = {"classes": Metric("classes", float((hist[1] > 0).sum()), proto),
           "class_tv": Metric("class_tv", float(0.5 * (p_fake - p_real).abs().sum()), proto)}
    if labels is not None:
        acc = float((predicted[1] == labels.to(predicted[1].device)).double().mean())
        out["cond_acc"] = Metric("cond_acc", acc, {**proto, "definition": "share of generated rows predicted as "
                                                   "the class the generator was given"})
    return out


def user_dataset(rows: torch.Tensor, seed: int, metric_nets: dict | None = None,
                 labels: torch.Tensor | None = None) -> UserRows:
    """Train on 4/5 of the user's rows (and their labels); hold out the rest (at most 2,500 rows) for the
    metrics."""
    perm = torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed))
    n_out = min(MAX_HELD_OUT, max(1, len(rows) // 5))
    nets = metric_nets or {}
    by_class = {} if labels is None else {"labels": labels[perm[n_out:]], "held_labels": labels[perm[:n_out]],
                                          "classes": "the user's labels"}
    data = UserRows(rows[perm[n_out:]], rows[perm[:n_out]], seed, features=nets.get("features"),
                    classifier=nets.get("classifier"), **by_class)
    data.check_metric_nets()
    return data


def toy_name(data) -> str | None:
    """The built-in toy dataset `data` names or is (its full metrics apply), else None."""
    if isinstance(data, str) and data in DATASETS:
        return data
    if isinstance(data, ToyDataset) and data.name in DATASETS and data.seed is not None:
        return data.name
    return None


def resolve_data(data, cfg: RunConfig, metric_nets: dict | None = None, labels=None
                 ) -> tuple[ToyDataset | UserRows, torch.Tensor | None, torch.Tensor | None]:
    """The dataset to train on and the rows and labels to store with the run (None for a built-in toy dataset,
    which data.name, data.seed and data.n_train rebuild). `metric_nets`: the user's features / classifier;
    `labels`: a conditional method's labels of a tensor `data` (other data carries them in (x, y) batches)."""
    from modegan.train.run import run_dataset

    labelled = cfg.model.conditioning != "none"
    if toy_name(data) and any(v is not None for v in (metric_nets or {}).values()):
        raise ModeganError("features= and classifier= are for your own rows; built-in toy data has its toy metrics")
    if toy_name(data) and (labelled or labels is not None):
        raise ModeganError("a conditional method on a built-in toy dataset: train its preset with modegan.train "
                           "(data.classes labels the mixture), or pass your own rows and labels")
    if isinstance(data, ToyDataset) and toy_name(data):
        return data, None, None
    if toy_name(data):
        return run_dataset(cfg), None, None
    if labels is not None and not labelled:
        raise ModeganError("labels= is for a conditional method (model.conditioning concat or projection)")
    source = data.train if isinstance(data, ToyDataset) else data
    rows, found = materialise(source, labelled and not isinstance(source, torch.Tensor))
    if labelled:
        if labels is None and found is None:
            raise ModeganError("a conditional method needs labels: (x, y) batches, or a tensor with labels=")
        if labels is not None and found is not None:
            raise ModeganError("labels twice: the batches carry (x, y); drop labels=")
        labels = check_row_labels(found if found is not None else labels, len(rows))
    return user_dataset(rows, cfg.data.seed, metric_nets, labels), rows, labels


# --- config -----------------------------------------------------------------------------------------------


def method_config(method, data, *, z_dim: int, steps, device, batch_size) -> RunConfig:
    """The run's config: a preset name, a dict of overrides or a RunConfig, with the user's z_dim and data
    (a built-in toy name keeps the method's data.seed and data.n_train; a given ToyDataset sets them)."""
    if isinstance(method, str):
        d = {"preset": method}
    elif isinstance(method, dict):
        d = dict(method)
    elif isinstance(method, RunConfig):
        d = method.to_dict()
    else:
        raise ModeganError(f"method must be a preset name, a dict or a RunConfig; got {type(method).__name__}")
    if isinstance(d.get("data", {}), dict):  # resolved as the user's rows from the start (diwgan.encoder=conv)
        d["data"] = {**d.get("data", {}), "name": toy_name(data) or USER_DATA}
    cfg = config_from_any(d)
    cfg.model.z_dim = z_dim
    cfg.data.name = toy_name(data) or USER_DATA
    if isinstance(data, ToyDataset) and toy_name(data):
        cfg.data.seed, cfg.data.n_train = data.seed, len(data.train)
    for value, section, key in ((steps, "train", "steps"), (device, "train", "device"),
                                (batch_size, "train", "batch_size")):
        if value is not None:
            setattr(getattr(cfg, section), key, value if key != "device" else str(value))
    return config_from_any(cfg)


def fit_config(method, data, *, z_dim: int, steps, device, batch_size, nets: dict, labels=None):
    """The new run's config, its dataset and the rows to store with it (None for built-in toy data)."""
    batch_size = batch_size or getattr(data, "batch_size", None)  # a DataLoader's
    cfg = method_config(method, data, z_dim=z_dim, steps=steps, device=device, batch_size=batch_size)
    dataset, rows, labels = resolve_data(data, cfg, {k: nets.get(k) for k in ("features", "classifier")}, labels)
    cfg.data.n_train = len(dataset.train)
    cfg.train.plots = cfg.train.plots and dataset.train.dim() == 2  # the scatter plots need flat rows
    cond = cfg.model.conditioning
    if cond == "acgan":
        raise ModeganError("model.conditioning=acgan with modegan.fit: AC-GAN's classifier head is part of the "
                           "built-in discriminator, and your D(x, labels) returns one score; allowed: concat, "
                           "projection")
    if cond != "none" and cfg.scheme.pack > 1:
        raise ModeganError("scheme.pack > 1 with a conditional method in modegan.fit: a pack would hand your "
                           "D(x, labels) m points and m labels at once; train without packing")
    if cfg.diwgan.enabled and nets.get("encoder") is None:
        shaped_autoencoder(cfg, method, tuple(dataset.train.shape[1:]))
    return config_from_any(cfg), dataset, rows, labels


def given_key(method, section: str, key: str) -> bool:
    """Whether the caller's method sets `section.key` itself (a RunConfig counts as setting everything)."""
    if isinstance(method, RunConfig):
        return True
    section = method.get(section) if isinstance(method, dict) else None
    return isinstance(section, dict) and key in section


def shaped_autoencoder(cfg: RunConfig, method, shape: tuple[int, ...]) -> None:
    """DIWGAN's default autoencoder for rows of `shape`, unless the method names one: images (C, 28, 28) or
    (C, 32, 32) get methods.md A12's conv autoencoder, other shapes the MLP on the flattened rows; the latent
    is A12's (16 for one channel, 32 for more) where the method leaves it at the toy default. A conv
    autoencoder asked for rows of another shape is one line."""
    if len(shape) == 1:
        if cfg.diwgan.encoder == "conv":
            raise ModeganError(f"diwgan.encoder: conv needs image rows (C, 28, 28) or (C, 32, 32); the data's rows "
                               f"are {shape}; allowed: mlp, identity")
        return
    image = len(shape) == 3 and shape[1] == shape[2] and shape[1] in CONV_SIZES
    if not given_key(method, "diwgan", "encoder") and image:
        cfg.diwgan.encoder = "conv"
    if cfg.diwgan.encoder == "conv" and not image:
        raise ModeganError(f"diwgan.encoder: conv needs image rows (C, 28, 28) or (C, 32, 32); the data's rows are "
                           f"{shape}: use diwgan.encoder=mlp (flattened rows) or pass encoder=")
    if not given_key(method, "diwgan", "latent_dim"):
        cfg.diwgan.latent_dim = 16 if shape[0] == 1 else 32


def find_z_dim(G: nn.Module, z_dim: int | None) -> int:
    z = z_dim if z_dim is not None else getattr(G, "z_dim", None)
    if z is None:
        raise ModeganError("the generator's latent dimension is unknown: give G a z_dim attribute or pass z_dim=")
    if isinstance(z, bool) or not isinstance(z, int) or z < 1:
        raise ModeganError(f"z_dim must be a positive integer, got {z!r}")
    return z


# --- parts ------------------------------------------------------------------------------------------------


def wrap_discriminator(D: nn.Module, cfg: RunConfig) -> nn.Module:
    s = cfg.scheme
    if s.veegan:
        return UserJointDiscriminator(D)
    return PackedDiscriminator(UserDiscriminator(D), s.pack) if s.pack > 1 else UserDiscriminator(D)


def check_networks(parts: Parts, dataset: ToyDataset | UserRows) -> None:
    """G's output must look like the data, D's one score per input: one line each, before the run starts."""
    cfg, n = parts.cfg, 2 * parts.cfg.scheme.pack
    rng = torch.Generator(device=parts.placement.device).manual_seed(0)
    real = dataset.train[:n].to(parts.placement.device)
    labelled = isinstance(parts.G, ConditionalGenerator)
    saved = {k: b.clone() for m in (parts.G, parts.D) for k, b in m.named_buffers(prefix=type(m).__name__)}
    with torch.no_grad(), restoring(saved, parts):
        try:
            z = parts.G.sample_z(n, rng)
            x = strip(parts.G(z)) if labelled else parts.G(z)
            if labelled:
                out = parts.D(join(real, dataset.labels[:n]))
            else:
                out = parts.D(z, real) if cfg.scheme.veegan else parts.D(real)
        except (RuntimeError, ValueError, TypeError) as e:
            raise ModeganError(f"the networks do not fit the data ({tuple(real.shape[1:])} per row, z_dim "
                               f"{parts.G.z_dim}): {str(e).splitlines()[0]}") from None
    if x.shape != real.shape:
        raise ModeganError(f"the generator returns {tuple(x.shape)} for {n} z; the data rows are {tuple(real.shape)}")
    one_score(out, n // cfg.scheme.pack)


@contextlib.contextmanager
def restoring(saved: dict, parts: Parts):
    """Put G's and D's buffers (batch-norm statistics) back after the probe, so checking changes nothing."""
    try:
        yield
    finally:
        for m in (parts.G, parts.D):
            for k, b in m.named_buffers(prefix=type(m).__name__):
                b.copy_(saved[k])


def user_parts(cfg: RunConfig, nets: dict[str, nn.Module | None], dataset, placement: Placement) -> Parts:
    """Parts holding the user's networks (as given, not re-initialised) on the run's device; VEEGAN's default
    reconstructor takes rows of any shape as flat vectors."""
    dev = placement.device
    if cfg.model.conditioning != "none":  # the user's G(z, labels) and D(x, labels)
        G = UserConditionalGenerator(nets["generator"], cfg.model.z_dim, dataset.n_classes,
                                     dataset.class_probs()).to(dev)
        D = UserConditionalDiscriminator(nets["discriminator"]).to(dev)
    else:
        G = UserGenerator(nets["generator"], cfg.model.z_dim).to(dev)
        D = wrap_discriminator(nets["discriminator"], cfg).to(dev)
    F = None
    if cfg.scheme.veegan:
        F = nets.get("reconstructor")
        if F is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(cfg.train.seed)
                F = build_reconstructor(cfg, dataset.dim)
        F = F.to(dev)
    parts = Parts(G=G, D=D, g_opt=build_optimizer(G.parameters(), cfg.g_optim),
                  d_opt=build_optimizer(D.parameters(), cfg.d_optim), loss=get_loss(cfg.loss.type), cfg=cfg,
                  rng=placement.generator(cfg.train.seed + 1), weighting=build_weighting(cfg), F=F,
                  f_opt=build_optimizer(F.parameters(), cfg.g_optim) if F is not None else None,
                  placement=placement)
    check_networks(parts, dataset)
    return parts


def opener(nets: dict[str, nn.Module | None]):
    """`run.open_parts` for the user's networks: what `_train` calls to get the parts of a new or resumed run."""

    def open_parts(cfg, dataset, run, state, overwrite, placement):
        parts = user_parts(cfg, nets, dataset, placement)
        if cfg.diwgan.enabled:
            attach_user_diwgan(parts, dataset, run, nets.get("encoder"))
        if state is None:
            save_checkpoint(run.checkpoint, parts, 0, 0.0)
        else:
            restore(parts, state, run.checkpoint)
            run.truncate_metrics(state["step"])
            run.write_config(cfg)
        return parts

    return open_parts


def attach_user_diwgan(parts: Parts, dataset: ToyDataset | UserRows, run: RunDir, encoder: nn.Module | None) -> None:
    """DIWGAN's phase 0 on the training rows: the default autoencoder (cached in the run), or the user's
    frozen encoder in its place."""
    if encoder is None:  # the default autoencoder (shaped_autoencoder chose it), cached in the run
        shape = tuple(dataset.train.shape[1:]) if parts.cfg.diwgan.encoder == "conv" else None
        attach_diwgan(parts, dataset.train.flatten(1), run.path, row_shape=shape)
        return
    encoder = encoder.to(parts.placement.device)
    if dataset.train.dim() > 2:  # DIWGAN keeps its training set as flat rows; the encoder sees them as shaped
        encoder = ShapedRows(encoder, tuple(dataset.train.shape[1:]))
    attach_diwgan(parts, dataset.train.flatten(1), None, encoder=encoder)


class ShapedRows(nn.Module):
    """The user's encoder of shaped rows (e.g. images), taking DIWGAN's flat copies of the training rows as
    well as the generator's shaped samples."""

    def __init__(self, net: nn.Module, shape: tuple[int, ...]):
        super().__init__()
        self.net, self.shape = net, shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(len(x), *self.shape) if x.dim() == 2 else x)


# --- recording the parts ----------------------------------------------------------------------------------


def import_path(obj) -> str:
    return f"{obj.__module__}:{obj.__qualname__}"


def describe_net(net: nn.Module, factory) -> dict:
    """How `load` rebuilds a network: `factory()` if given, else its class called with `net.modegan_args`
    (a dict of constructor arguments the class may set), else its class with no arguments."""
    args = getattr(net, "modegan_args", None)
    if args is not None and not isinstance(args, dict):
        raise ModeganError(f"{type(net).__name__}.modegan_args must be a dict of constructor arguments")
    entry = {"class": import_path(type(net)), "args": args}
    if factory is not None:
        entry["factory"] = import_path(factory)
    try:
        json.dumps(entry)
    except TypeError:
        raise ModeganError(f"{type(net).__name__}.modegan_args must hold plain JSON values") from None
    return entry


def write_parts(run: RunDir, nets: dict, factories: dict, rows: torch.Tensor | None, z_dim: int,
                labels: torch.Tensor | None = None) -> None:
    record = {"z_dim": z_dim, "data": DATA_FILE if rows is not None else None,
              **({"labels": LABELS_FILE, "n_classes": int(labels.max()) + 1} if labels is not None else {}),
              **{role: describe_net(net, factories.get(role)) for role, net in nets.items() if net is not None}}
    atomic_write(run.path / PARTS_FILE, json.dumps(record, indent=1).encode())
    if rows is not None:
        atomic_save(rows, run.path / DATA_FILE)
    if labels is not None:
        atomic_save(labels, run.path / LABELS_FILE)
    for role, name in FROZEN.items():  # frozen networks: not in the checkpoint, needed to resume and evaluate
        if nets.get(role) is not None:
            atomic_save(nets[role].state_dict(), run.path / name)


def read_parts(run: RunDir) -> dict:
    path = run.path / PARTS_FILE
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ModeganError(f"cannot read {path}: {e}") from None
    if not isinstance(record, dict) or "generator" not in record:
        raise ModeganError(f"{path} is malformed (no generator entry)")
    return record


def is_fit_run(path: str | Path) -> bool:
    return (Path(path) / PARTS_FILE).is_file()


def rebuild(entry: dict, role: str) -> nn.Module:
    """The network an entry of parts.json describes, or one line saying to pass it."""
    where = "to modegan.load, or the networks to" if role == "generator" else "to"
    hint = f"pass {role}= {where} modegan.fit(..., resume=True)"
    target = entry.get("factory") or entry["class"]
    module, _, qual = target.partition(":")
    try:
        obj = importlib.import_module(module)
        for name in qual.split("."):
            obj = getattr(obj, name)
    except (ImportError, AttributeError):
        raise ModeganError(f"cannot rebuild the {role}: {target} is not importable; {hint}") from None
    try:
        net = obj() if "factory" in entry else obj(**(entry.get("args") or {}))
    except TypeError as e:
        raise ModeganError(f"cannot rebuild the {role} with {target}({entry.get('args') or ''}): {e}; give it "
                           f"modegan_args, or give fit {role}_factory=, or {hint}") from None
    if not isinstance(net, nn.Module) or not any(True for _ in net.parameters()):
        raise ModeganError(f"cannot rebuild the {role}: {target}({entry.get('args') or ''}) builds no network "
                           f"with parameters (give fit {role}_factory= or the class modegan_args); {hint}")
    return net


def recorded_nets(run: RunDir, given: dict, roles: tuple[str, ...] = ROLES) -> dict[str, nn.Module | None]:
    """The run's networks in `roles`: as given, else rebuilt from parts.json (frozen ones with their weights)."""
    record = read_parts(run)
    nets = {role: given.get(role) if given.get(role) is not None
            else (rebuild(record[role], role) if role in record else None) for role in roles}
    for role, name in FROZEN.items():
        if role in roles and given.get(role) is None and nets[role] is not None:
            path = run.path / name
            try:
                nets[role].load_state_dict(torch.load(path, weights_only=True))
            except (OSError, RuntimeError, KeyError, ValueError, TypeError) as e:
                raise ModeganError(f"cannot restore the {role} network from {path} ({str(e).splitlines()[0]}); "
                                   f"pass {role}= to modegan.fit(..., resume=True)") from None
    return nets


def eval_dataset(run_dir: str | Path, cfg: RunConfig) -> ToyDataset | UserRows:
    """What `modegan eval` scores a fit run against: its stored rows, with its feature extractor and classifier
    rebuilt from parts.json."""
    run = RunDir(run_dir)
    return stored_dataset(run, cfg, None, recorded_nets(run, {}, ("features", "classifier")))


def stored_dataset(run: RunDir, cfg: RunConfig, data, nets: dict | None = None) -> ToyDataset | UserRows:
    """The resumed run's data: as given, else the rows stored with it, else its built-in toy name; with the
    run's feature extractor and classifier (in `nets`) for the metrics."""
    metric_nets = {k: (nets or {}).get(k) for k in ("features", "classifier")}
    if data is not None:
        return resolve_data(data, cfg, metric_nets)[0]
    if cfg.data.name != USER_DATA:
        from modegan.train.run import run_dataset

        return run_dataset(cfg)
    rows = load_stored(run.path / DATA_FILE, "data")
    labels = None
    if cfg.model.conditioning != "none":
        labels = check_row_labels(load_stored(run.path / LABELS_FILE, "labels"), len(rows))
    return user_dataset(check_rows(rows), cfg.data.seed, metric_nets, labels)


def load_stored(path: Path, what: str) -> torch.Tensor:
    try:
        value = torch.load(path, weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError) as e:
        raise ModeganError(f"cannot read the run's {what} {path}: {str(e).splitlines()[0]}") from None
    if not isinstance(value, torch.Tensor):
        raise ModeganError(f"the run's {what} {path} is not a tensor")
    return value


# --- entry points -----------------------------------------------------------------------------------------


@restoring_torch_threads
def fit(generator: nn.Module | None = None, discriminator: nn.Module | None = None, data=None, method="gan", *,
        out: str | Path, steps: int | None = None, device: str | torch.device | None = None,
        z_dim: int | None = None, reconstructor: nn.Module | None = None, encoder: nn.Module | None = None,
        features: nn.Module | None = None, classifier: nn.Module | None = None, labels=None,
        batch_size: int | None = None, resume: bool = False, overwrite: bool = False, progress: bool = False,
        generator_factory=None, discriminator_factory=None, reconstructor_factory=None, encoder_factory=None,
        features_factory=None, classifier_factory=None) -> dict:
    """Train `method` (a preset name, a dict of config overrides, or a RunConfig) on the user's G and D and
    `data`, into the run directory `out`; returns the summary. `resume=True` continues the run in `out`
    (the networks may then be omitted when parts.json can rebuild them). `features` (rows -> (n, k)) and
    `classifier` (rows -> (n, K) logits), each a module or "mnist" (the shipped MNIST classifier): frozen
    networks for the metrics (fd, kid, prdc; classes, class_tv) against the held-out rows. A conditional
    method (model.conditioning concat or projection: cgan, cwgan-gp, projection, iwcgan) trains the user's
    G(z, labels) and D(x, labels) on (x, y) batches, or on a tensor `data` with `labels=` (one class index
    0..K-1 per row). `*_factory`: importable zero-argument callables
    that `modegan.load` and a resume use to rebuild the networks (see `describe_net`)."""
    from modegan.train import run as run_mod

    nets = {"generator": generator, "discriminator": discriminator, "reconstructor": reconstructor,
            "encoder": encoder, "features": named_metric_net("features", features),
            "classifier": named_metric_net("classifier", classifier)}
    if resume:
        return resume_fit(out, steps=steps, device=device, nets=nets, data=data, progress=progress)
    for role in ROLES:
        if (role in ("generator", "discriminator") or nets[role] is not None) and not isinstance(nets[role],
                                                                                                 nn.Module):
            raise ModeganError(f"{role} must be a torch.nn.Module, got {type(nets[role]).__name__}")
    z = find_z_dim(generator, z_dim)
    cfg, dataset, rows, labels = fit_config(method, data, z_dim=z, steps=steps, device=device,
                                            batch_size=batch_size, nets=nets, labels=labels)
    placement = Placement.of(cfg)
    run = RunDir(out)
    run_mod.check_config(cfg)
    run.check_new(overwrite)
    with run_lock(run.path):
        run.create(cfg, overwrite)
        factories = {"generator": generator_factory, "discriminator": discriminator_factory,
                     "reconstructor": reconstructor_factory, "encoder": encoder_factory,
                     "features": features_factory, "classifier": classifier_factory}
        write_parts(run, nets, factories, rows, z, labels)
        return run_mod._train(cfg, run, None, overwrite=True, progress=progress, dataset=dataset,
                              placement=placement, open_parts=opener(nets))


def resume_fit(out: str | Path, *, steps: int | None = None, device=None, nets: dict | None = None, data=None,
               progress: bool = False) -> dict:
    """Continue a `fit` run from its checkpoint, with the given networks or those parts.json rebuilds."""
    from modegan.train import run as run_mod

    run = RunDir(out)
    if not is_fit_run(run.path):
        raise ModeganError(f"{run.path} was not started by modegan.fit (no {PARTS_FILE}); use modegan.train(resume=)")
    with run_lock(run.path):
        cfg, state = run_mod.resume_state(run, steps)
        placement = run_mod.resume_placement(cfg, state, device)
        nets = recorded_nets(run, nets or {})
        dataset = stored_dataset(run, cfg, data, nets)
        run_mod.check_config(cfg)
        return run_mod._train(cfg, run, state, overwrite=state is None, progress=progress, dataset=dataset,
                              placement=placement, open_parts=opener(nets))


def load_fit(run_dir: str | Path, device: torch.device, generator: nn.Module | None = None) -> UserGenerator:
    """A fit run's generator in eval mode on `device`: the given G or the one parts.json rebuilds."""
    from modegan.safetensors_file import read_safetensors
    from modegan.train.checkpoint import state_dict_error

    run = RunDir(run_dir)
    record = read_parts(run)
    net = generator if generator is not None else rebuild(record["generator"], "generator")
    if record.get("n_classes"):  # a conditional run: G(z, labels), its class shares in the weights
        G = UserConditionalGenerator(net, int(record["z_dim"]), int(record["n_classes"]))
    else:
        G = UserGenerator(net, int(record["z_dim"]))
    if run.generator.exists():
        weights = read_safetensors(run.generator, "generator weights")[1]
    else:
        weights = read_checkpoint(run.checkpoint)["modules"]["G"]
    try:
        G.load_state_dict(weights)
    except (RuntimeError, KeyError, ValueError, TypeError) as e:
        raise ModeganError(f"the run's weights do not fit this generator ({state_dict_error(e)}); pass the "
                           "generator it trained as generator= to modegan.load") from None
    return G.eval().to(device)
