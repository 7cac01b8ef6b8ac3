"""Run configuration: typed dataclasses, strict YAML loading and `key=value` overrides.

Unknown keys and bad values are rejected before anything runs, with the key's dotted path and
what is allowed. The resolved config is what a run directory records and what resume reloads.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from modegan import limits as lim
from modegan.errors import ModeganError


@dataclass
class DataConfig:
    # A built-in toy mixture, a .yaml mixture spec / .npy / .csv point cloud; or images: mnist, stacked-mnist,
    # cifar10, or a folder of PNG/JPEG images (docs/images.md).
    name: str = "grid25"
    seed: int = 0  # draws the fixed training set (benchmarks.md §1); Stacked MNIST's stacking seed (§4)
    n_train: int | None = None  # toy: 100,000; stacked-mnist: 128,000 stacks; other images: every image
    # Draw the training set with these component probabilities instead of the mixture's own; every example
    # then carries its known importance weight pi_k / q_k, used by weighting.disc_real: [data] (IWGN).
    mode_probs: list[float] = field(default_factory=list)
    # Images only (left out of toy configs, so their hashes do not change):
    dir: str | None = None  # the data directory (MNIST IDX files, CIFAR-10 batches); default $MODEGAN_DATA
    image_size: int | None = None  # 28 or 32; fixed by mnist/stacked-mnist (28) and cifar10 (32); folders: 32
    channels: int | None = None  # 1 or 3; fixed by the named datasets; folders: 3
    verify: bool = True  # check the MNIST / CIFAR-10 files' checksums
    # Labels (docs/methods.md §10): toy mixtures' classes: components (the component index), rows, columns (the
    # components grouped by their second / first coordinate, e.g. grid25's 5 rows of 5 modes), or a number N
    # (N blocks of consecutive components). Unset: no labels, or components when model.conditioning is set.
    classes: str | None = None
    label_column: str | None = None  # a .csv point cloud's label column: its header name or 0-based index
    labels: str | None = None  # a .npy point cloud's labels: a second .npy of one integer class per row


@dataclass
class ModelConfig:
    """benchmarks.md §3: G 3x128, D 2x128, ReLU, no normalisation, z of dimension 2.

    Images use DCGAN networks (`arch` dcgan): z of dimension 100 and base widths 64, where g_width/d_width are
    the DCGAN base widths (d_width = g_width / 4 is Stacked MNIST's "Unrolled setting"); depth and activation
    then do not apply (DCGAN fixes them). g_norm/d_norm unset (None) mean the architecture's own: none for the
    MLP (resolved to "none", as configs have always said); DCGAN's batch norm in G, and in D batch norm, or
    gp_d_norm under a gradient penalty, or none with spectral norm (kept None: the config says "DCGAN's own").
    Unset values are resolved by `validate` from the data.
    """

    arch: Literal["auto", "mlp", "dcgan"] = "auto"  # auto: mlp for toy data, dcgan for images
    z_dim: int | None = None  # mlp: 2; dcgan: 100
    g_width: int | None = None  # mlp: 128; dcgan: 64
    g_depth: int = 3
    d_width: int | None = None  # mlp: 128; dcgan: 64
    d_depth: int = 2
    activation: Literal["relu", "leaky_relu", "tanh", "elu"] = "relu"
    g_norm: Literal["none", "batch", "layer"] | None = None  # None: the architecture's own (above)
    d_norm: Literal["none", "batch", "layer"] | None = None
    spectral_norm: bool = False  # on the discriminator
    # The DCGAN discriminator's normalisation when loss.gp_weight > 0, in place of its batch norm (Gulrajani
    # et al. 2017, §4): layer (their code's layer norm over C, H, W) or none
    gp_d_norm: Literal["layer", "none"] = "layer"
    # Conditional networks (docs/methods.md §10): concat (a label embedding concatenated to z in G and to D's
    # input; Mirza & Osindero 2014), projection (D's output plus <embed(y), phi(x)>; Miyato & Koyama 2018) or
    # acgan (D with an auxiliary classifier head, its cross-entropy in both losses; Odena et al. 2017)
    conditioning: Literal["none", "concat", "projection", "acgan"] = "none"
    embed_dim: int = 16  # the learned label embedding concatenated to z (G) and to D's input (concat)


@dataclass
class LossConfig:
    """The adversarial loss plus Lipschitz constraints; any combination is allowed."""

    type: Literal["minimax", "nonsaturating", "wasserstein", "hinge", "least_squares"] = "nonsaturating"
    clip: float | None = None  # clip every D parameter to [-clip, clip] after each D step
    gp_weight: float = 0.0  # λ of the two-sided gradient penalty at random interpolates
    gp_center: float = 1.0
    n_critic: int = 1  # D steps per G step
    constraints: list[str] = field(default_factory=list)  # registered constraints (modegan.register_constraint)
    ac_weight: float = 1.0  # model.conditioning=acgan: weight of the auxiliary classifier's cross-entropy


@dataclass
class WeightingConfig:
    """Per-sample importance weights on each loss term (methods.md §1.6); empty lists weight nothing.

    gen: density_ratio (IWGAN), hard, topk, distance; disc_fake: density_ratio, hard, topk, distance;
    disc_real: hard, data (per-example weights the dataset carries, Diesendruck et al.), data_sn
    (the same, self-normalised over the batch). Several names on one term multiply. distance: each
    generated sample by (distance to its nearest real sample in the batch)^(1/T).
    """

    gen: list[str] = field(default_factory=list)
    disc_fake: list[str] = field(default_factory=list)
    disc_real: list[str] = field(default_factory=list)
    temperature: float = 1.0  # density ratio exp(score / T); hard weights exp(loss / T); distance d^(1/T)
    detach: bool = True  # False keeps density-ratio weights differentiable (KL-WGAN)
    topk_start: float = 1.0  # top-k kept fraction: max(min, start * decay ** (step // every))
    topk_decay: float = 0.99
    topk_min: float = 0.5
    topk_every: int = 390  # generator steps per decay; 390 x 256 is about one pass over 100,000 points


@dataclass
class DIWGANConfig:
    """Dual Importance Weight GAN (methods.md §3.2); defaults resolve the ambiguities of §3.3."""

    enabled: bool = False
    alpha: float = 1.0  # A10
    n_history: int = 10  # A3: N past generated batches in the generator KDE / distance window
    bandwidth: str = "scott"  # A2: scott, silverman, or a positive number (scipy's bw_method)
    targets: Literal["kde_resample", "kmeans", "subsample"] = "kde_resample"  # A1
    n_targets: int = 0  # A9: M; 0 means the batch size
    target_stat: Literal["paired", "nearest"] = "paired"  # A6
    ema: bool = False  # A6: exponential average of distances instead of a window
    encoder: Literal["mlp", "identity", "conv"] | None = None  # A11/A12: mlp for toy data, conv for images
    latent_dim: int | None = None  # A11/A12: toy 2; mnist 16; other images 32
    ae_steps: int = 2_000
    ae_lr: float = 1e-3


@dataclass
class SchemeConfig:
    """How the two networks are updated beyond n_critic: unrolling, packing, VEEGAN (methods.md §4)."""

    unroll: int = 0  # K differentiable discriminator steps in the generator loss (Unrolled GAN)
    # full: Metz et al.'s f_K, both terms of the value function at θ_D^K; fake_only: the generated term alone
    unroll_objective: Literal["full", "fake_only"] = "full"
    pack: int = 1  # samples per discriminator input (PacGAN): D sees batch_size packs, m x batch_size samples
    veegan: bool = False  # reconstructor F: x -> z and a joint discriminator D(z, x)


@dataclass
class OptimConfig:
    name: Literal["adam", "rmsprop", "sgd"] = "adam"
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)  # Adam only
    alpha: float = 0.99  # RMSProp smoothing constant (PyTorch default)
    momentum: float = 0.0  # SGD / RMSProp
    weight_decay: float = 0.0
    schedule: Literal["constant", "linear", "cosine"] = "constant"  # the rate over train.steps (train.schedules)


@dataclass
class TrainConfig:
    steps: int = 20_000  # generator steps
    batch_size: int | None = None  # toy: 256; images: 64 (benchmarks.md §4)
    seed: int = 0  # network initialisation and every training draw
    eval_every: int = 1_000
    ckpt_every: int = 0  # 0: checkpoint at every evaluation
    eval_samples: int | None = None  # toy: 2,500 (benchmarks.md §2); stacked-mnist 26,000; other images 10,000
    eval_seed: int = 2_500
    hq_threshold: float = 3.0
    threads: int = 1  # torch CPU threads while training; tiny MLPs gain nothing from more, and lose under load
    plots: bool = True  # a PNG of samples over the real data at each evaluation
    tensorboard: bool = False  # the older spelling of tracker: tensorboard (kept; train.trackers)
    # Also log losses, metrics and samples to an experiment tracker (modegan.train.trackers; pip install
    # 'modegan[NAME]'): none | tensorboard | wandb (offline, RUN/wandb) | mlflow (file store RUN/mlruns)
    tracker: Literal["none", "tensorboard", "wandb", "mlflow"] = "none"
    tracker_uri: str | None = None  # mlflow only: the tracking URI (a directory, sqlite:///..., http://...)
    log_every: int = 100  # steps between the tracker's loss/* points (means over those steps)
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps (modegan.device); auto: cuda if available, else cpu
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: autocast of image networks' forward passes (modegan.device)
    ema: float = 0.0  # decay β of a moving average of G's weights, evaluated and saved beside G; 0: none
    # Images only (left out of toy configs):
    feature_samples: int | None = None  # FD/KID/PRDC sample count; default min(10,000, eval_samples)
    classifier: str | None = None  # MNIST classifier file; default modegan.metrics.classifier.default_classifier_path()


@dataclass
class RunConfig:
    preset: str | None = None
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    g_optim: OptimConfig = field(default_factory=OptimConfig)
    d_optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    weighting: WeightingConfig = field(default_factory=WeightingConfig)
    diwgan: DIWGANConfig = field(default_factory=DIWGANConfig)
    scheme: SchemeConfig = field(default_factory=SchemeConfig)

    def __post_init__(self):
        resolve_defaults(self)  # so RunConfig() itself is the toy benchmark setting (z 2, widths 128, batch 256)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict; image-only keys at their toy value are left out, so toy configs (and their
        hashes) are exactly what they were before image support."""
        out = _plain(dataclasses.asdict(self))
        for key, toy_value in TOY_OMITTED.items():
            section, name = key.split(".")
            if out[section][name] == toy_value:
                del out[section][name]
        for key, (applies, default) in UNUSED_OMITTED.items():
            section, name = key.split(".")
            if out[section][name] == default and not applies(self):
                del out[section][name]
        return out


# Image-only keys and the value at which `to_dict` leaves them out.
# data.name of a modegan.fit run on the user's own rows (fit materialises them; no built-in loader)
USER_DATA = "<user data>"

TOY_OMITTED = {
    "data.dir": None, "data.verify": True, "data.image_size": None, "data.channels": None, "model.arch": "mlp",
    "train.feature_samples": None, "train.classifier": None,
}


# Keys added after runs were recorded: left out (at their default) where they do not apply, so the configs
# and hashes of runs they cannot change stay what they were.
UNUSED_OMITTED = {
    "scheme.unroll_objective": (lambda cfg: cfg.scheme.unroll > 0, "full"),
    "model.gp_d_norm": (lambda cfg: cfg.model.arch == "dcgan" and cfg.loss.gp_weight > 0, "layer"),
    "train.device": (lambda cfg: False, "auto"),
    "train.precision": (lambda cfg: False, "fp32"),
    "loss.constraints": (lambda cfg: False, []),
    "train.ema": (lambda cfg: False, 0.0),
    "g_optim.schedule": (lambda cfg: False, "constant"),
    "d_optim.schedule": (lambda cfg: False, "constant"),
    "train.tracker": (lambda cfg: False, "none"),
    "train.tracker_uri": (lambda cfg: False, None),
    "train.log_every": (lambda cfg: False, 100),
    "data.classes": (lambda cfg: False, None),
    "data.label_column": (lambda cfg: False, None),
    "data.labels": (lambda cfg: False, None),
    "model.conditioning": (lambda cfg: False, "none"),
    "model.embed_dim": (lambda cfg: cfg.model.conditioning != "none", 16),
    "loss.ac_weight": (lambda cfg: cfg.model.conditioning == "acgan", 1.0),
}


POSITIVE_INTS = {
    "data.n_train", "model.z_dim", "model.g_width", "model.d_width", "loss.n_critic", "train.steps",
    "train.batch_size", "train.eval_every", "train.eval_samples", "train.threads", "weighting.topk_every",
    "diwgan.n_history", "diwgan.latent_dim", "diwgan.ae_steps", "scheme.pack", "train.feature_samples",
    "train.log_every",
    "model.embed_dim",
}
NON_NEGATIVE = {
    "model.g_depth", "model.d_depth", "loss.gp_weight", "train.ckpt_every", "g_optim.weight_decay",
    "d_optim.weight_decay", "g_optim.momentum", "d_optim.momentum", "diwgan.n_targets", "scheme.unroll",
}
POSITIVE_FLOATS = {
    "loss.clip", "g_optim.lr", "d_optim.lr", "train.hq_threshold", "weighting.temperature", "weighting.topk_start",
    "weighting.topk_decay", "weighting.topk_min", "diwgan.alpha", "diwgan.ae_lr",
}


def _plain(x: Any) -> Any:
    """Tuples to lists, recursively, so the config dumps as plain YAML/JSON."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


# Names registered for a Literal key (`modegan.register_loss` adds to loss.type): allowed like the built-in ones.
EXTRA_CHOICES: dict[str, tuple[str, ...]] = {}


def add_choice(key: str, name: str) -> None:
    EXTRA_CHOICES[key] = tuple(n for n in EXTRA_CHOICES.get(key, ()) if n != name) + (name,)


def remove_choice(key: str, name: str) -> None:
    EXTRA_CHOICES[key] = tuple(n for n in EXTRA_CHOICES.get(key, ()) if n != name)


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(tp)))
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, path: str) -> Any:
    """Convert `value` to the annotated type `tp` or raise a ModeganError naming `path`."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        literal = any(typing.get_origin(a) is Literal and value in typing.get_args(a) for a in args)
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null") and not literal):
            if type(None) in args:
                return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, path)
            except ModeganError as e:
                errors.append(str(e))
        raise ModeganError(errors[0] if errors else f"{path}: bad value {value!r}")
    if origin is Literal:
        allowed = typing.get_args(tp) + EXTRA_CHOICES.get(path, ())
        if value not in allowed:
            raise ModeganError(f"{path}: {value!r} is not allowed; allowed: {', '.join(map(str, allowed))}")
        return value
    if origin is list:
        (item,) = typing.get_args(tp)
        if isinstance(value, str):
            value = [] if not value.strip() else [v.strip() for v in value.split(",")]
        if not isinstance(value, (list, tuple)):
            raise ModeganError(f"{path}: expected a list, got {value!r}")
        return [_coerce(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        args = typing.get_args(tp)
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ModeganError(f"{path}: expected a list of {len(args)} numbers, got {value!r}")
        return tuple(_coerce(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ModeganError(f"{path}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ModeganError(f"{path}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ModeganError(f"{path}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, bool):
            raise ModeganError(f"{path}: expected a number, got {value!r}")
        try:
            out = float(value)
        except (TypeError, ValueError):
            raise ModeganError(f"{path}: expected a number, got {value!r}") from None
        if not math.isfinite(out):
            raise ModeganError(f"{path}: expected a finite number, got {value!r}")
        return out
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ModeganError(f"{path}: expected a string, got {value!r}")
        return str(value)
    raise ModeganError(f"{path}: unsupported config type {_type_name(tp)}")  # pragma: no cover


def _coerced_fields(cls: type, data: Any, path: str) -> dict:
    """The fields of dataclass `cls` in a (possibly partial) mapping, each coerced to its type; unknown keys
    and values of the wrong type are errors naming the dotted key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ModeganError(f"{path or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        full = f"{path}.{key}" if path else str(key)
        if key not in names:
            raise ModeganError(f"unknown config key {full!r}; allowed: {', '.join(names)}")
        kwargs[key] = _coerce(value, hints[key], full)
    return kwargs


def from_dict(cls: type, data: Any, path: str = "") -> Any:
    """Build dataclass `cls` from a (possibly partial) mapping, rejecting unknown keys."""
    return cls(**_coerced_fields(cls, data, path))


def merge(base: dict, update: dict) -> dict:
    """Deep-merge `update` into a copy of `base`."""
    out = dict(base)
    for k, v in update.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def parse_overrides(items: list[str]) -> dict:
    """`a.b=value` strings to a nested dict; values are parsed as YAML scalars or lists."""
    out: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ModeganError(f"bad override {item!r}; expected key=value, e.g. loss.gp_weight=10")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ModeganError(f"override {item!r} conflicts with an earlier override of {p!r}")
        node[parts[-1]] = value
    return out


def load_yaml(path: str | Path) -> dict:
    """A config file's mapping of sections; an empty file, one of only comments, a scalar or a list at the top,
    binary or non-UTF-8 content are each one line, never "the defaults"."""
    p = Path(path)
    if not p.is_file():
        raise ModeganError(f"config file not found: {p}")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ModeganError(f"config file {p} is not UTF-8 text (a binary file?)") from None
    except OSError as e:
        raise ModeganError(f"config file {p} cannot be read ({e.strerror or type(e).__name__})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ModeganError(f"config file {p} is not valid YAML: {str(e).splitlines()[0]}") from None
    if data is None:
        raise ModeganError(f"config file {p} holds no settings (empty or only comments); give at least one "
                           "section, e.g. `train: {steps: 1000}`")
    if not isinstance(data, dict):
        raise ModeganError(f"config file {p} must hold a mapping of sections, got {type(data).__name__}")
    return data


def check_types(data: Any) -> None:
    """Check every key and value of a (partial) nested config dict, without building the RunConfig (whose
    data-dependent defaults need the whole config): a bad override fails even where a CLI flag later sets the
    same key."""
    _coerced_fields(RunConfig, data, "")


def validate(cfg: RunConfig) -> RunConfig:
    """Resolve data-dependent defaults (`resolve_defaults`), then range checks that types alone cannot express."""
    resolve_defaults(cfg)
    flat = flatten(dataclasses.asdict(cfg))
    for key in POSITIVE_INTS:
        if flat[key] is not None and flat[key] < 1:
            raise ModeganError(f"{key}: must be a positive integer, got {flat[key]}")
    for key in NON_NEGATIVE:
        if flat[key] < 0:
            raise ModeganError(f"{key}: must be >= 0, got {flat[key]}")
    for key in POSITIVE_FLOATS:
        if flat[key] is not None and flat[key] <= 0:
            raise ModeganError(f"{key}: must be > 0, got {flat[key]}")
    for opt in ("g_optim", "d_optim"):
        b1, b2 = flat[f"{opt}.betas"]
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ModeganError(f"{opt}.betas: each must be in [0, 1), got {[b1, b2]}")
    if cfg.train.batch_size < 2 and cfg.model.g_norm == "batch":
        raise ModeganError("model.g_norm: batch norm needs train.batch_size >= 2")
    from modegan.device import check_device_name

    check_device_name(cfg.train.device)
    _validate_limits(cfg, flat)
    _validate_weighting(cfg.weighting)
    _validate_constraints(cfg)
    _validate_combination(cfg)
    return cfg


def _validate_constraints(cfg: RunConfig) -> None:
    from modegan.registry import check_constraints

    check_constraints(cfg.loss.constraints)
    if cfg.loss.constraints and (cfg.scheme.veegan or cfg.scheme.unroll):
        raise ModeganError("loss.constraints apply to the plain critic update; scheme.veegan and scheme.unroll "
                           "do not combine with them")


SEEDS = ("data.seed", "train.seed", "train.eval_seed")
COUNT_RANGES = {  # key: (smallest, largest) allowed
    "train.steps": (1, lim.MAX_STEPS), "train.eval_every": (1, lim.MAX_STEPS), "train.ckpt_every": (0, lim.MAX_STEPS),
    "train.log_every": (1, lim.MAX_STEPS),
    "diwgan.ae_steps": (1, lim.MAX_STEPS), "weighting.topk_every": (1, lim.MAX_STEPS),
    "model.g_depth": (0, lim.MAX_DEPTH), "model.d_depth": (0, lim.MAX_DEPTH), "loss.n_critic": (1, lim.MAX_N_CRITIC),
    "scheme.unroll": (0, lim.MAX_UNROLL), "train.threads": (1, lim.MAX_THREADS),
    "model.embed_dim": (1, lim.MAX_EMBED_DIM),
}
LEARNING_RATES = ("g_optim.lr", "d_optim.lr", "diwgan.ae_lr")
SCALES = ("loss.clip", "loss.gp_weight", "loss.gp_center", "train.hq_threshold", "weighting.temperature",
          "diwgan.alpha", "loss.ac_weight")
UNIT_INTERVAL = {"g_optim.momentum": "[0, 1)", "d_optim.momentum": "[0, 1)", "g_optim.alpha": "[0, 1]",
                 "d_optim.alpha": "[0, 1]", "g_optim.weight_decay": "[0, 1]", "d_optim.weight_decay": "[0, 1]",
                 "train.ema": "[0, 1)"}
BUILTIN_DIMS = {"cube27": 3}  # the other built-in toy datasets are 2-D


def _validate_limits(cfg: RunConfig, flat: dict) -> None:
    """The fixed limits of `modegan.limits`: seeds, step counts, learning rates and scales, and the sizes of the
    largest tensors the config asks for (checked before anything is allocated)."""
    from modegan.data.datasets import DATASETS

    for key in SEEDS:
        lim.check_seed(flat[key], key)
    for key, (lo, hi) in COUNT_RANGES.items():
        lim.check_int(flat[key], key, lo, hi)
    for key in LEARNING_RATES:
        if not 0 < flat[key] <= lim.MAX_LR:
            raise ModeganError(f"{key}: must be in (0, {lim.MAX_LR:g}], got {flat[key]}")
    for key in SCALES:
        if flat[key] is not None and not 0 <= flat[key] <= lim.MAX_SCALE:
            raise ModeganError(f"{key}: must be in [0, {lim.MAX_SCALE:g}], got {flat[key]}")
    for key, allowed in UNIT_INTERVAL.items():
        v, closed = flat[key], allowed.endswith("]")
        if not (0 <= v <= 1 if closed else 0 <= v < 1):
            raise ModeganError(f"{key}: must be in {allowed}, got {v}")
    d, m, t, dw = cfg.data, cfg.model, cfg.train, cfg.diwgan
    dcgan = m.arch == "dcgan"
    if dcgan:
        dim, size = d.channels * d.image_size**2, d.image_size
    else:
        dim, size = (BUILTIN_DIMS.get(d.name, 2) if d.name in DATASETS else 1), None
    width = max(m.g_width, m.d_width)
    for key, w in (("model.g_width", m.g_width), ("model.d_width", m.d_width)):
        params = 200 * w * w if dcgan else w * w  # a DCGAN's widest layer is 4w x 2w x 4 x 4; an MLP's w x w
        lim.check_elements(f"{key}={w:,}", params, "a network layer's weights")
    lim.check_elements(f"model.z_dim={m.z_dim:,}", m.z_dim * max(m.g_width, 4 * m.g_width * 16 if dcgan else 0),
                       "the generator's first layer")
    per = lim.per_sample_elements(m.arch, width, m.z_dim, dim, size)
    lim.check_elements(f"train.batch_size={t.batch_size:,} (x scheme.pack={cfg.scheme.pack})",
                       t.batch_size * cfg.scheme.pack * per, "one training batch through the networks")
    per_g = lim.per_sample_elements(m.arch, m.g_width, m.z_dim, dim, size)
    if dcgan:
        lim.check_elements(f"train.eval_samples={t.eval_samples:,}", t.eval_samples * dim, "the evaluation samples")
        if t.feature_samples is not None and t.feature_samples > t.eval_samples:
            raise ModeganError(f"train.feature_samples ({t.feature_samples:,}) must be at most train.eval_samples "
                               f"({t.eval_samples:,})")
    else:
        from modegan.metrics.toy import MAX_W1_SAMPLES

        if t.eval_samples > MAX_W1_SAMPLES:
            raise ModeganError(f"train.eval_samples: at most {MAX_W1_SAMPLES:,} for toy data (the exact w1 needs an "
                               f"n x n cost matrix), got {t.eval_samples:,}")
        lim.check_elements(f"train.eval_samples={t.eval_samples:,}", t.eval_samples * per_g,
                           "the evaluation samples through the generator")
    if d.n_train is not None:
        per_example = 3 if d.name == "stacked-mnist" else dim  # stacked-mnist keeps 3 digit indices a stack
        lim.check_elements(f"data.n_train={d.n_train:,}", d.n_train * per_example, "the training set")
    if dw.enabled:
        n_targets = dw.n_targets or t.batch_size
        lim.check_elements(f"diwgan.n_history={dw.n_history:,} x train.batch_size x diwgan.n_targets",
                           dw.n_history * t.batch_size * n_targets, "DIWGAN's distance window")


IMAGE_SHAPES = {"mnist": (1, 28), "stacked-mnist": (3, 28), "cifar10": (3, 32)}  # (channels, size)
FOLDER_DEFAULTS = (3, 32)
DCGAN_SIZES = (28, 32)


def resolve_defaults(cfg: RunConfig) -> RunConfig:
    """Fill the unset (None / auto) values from the data: toy data get exactly the values they had before
    image support (z 2, widths 128, batch 256, 2,500 eval samples, MLP autoencoder with latent 2), images
    the DCGAN protocol's (benchmarks.md §4). Idempotent, so a saved config resolves to itself."""
    from modegan.data.datasets import DATASETS, TOY_SUFFIXES, is_image_data

    d, m, t, dw = cfg.data, cfg.model, cfg.train, cfg.diwgan
    if m.arch == "dcgan" and (d.name in DATASETS or Path(d.name).suffix.lower() in TOY_SUFFIXES):
        raise ModeganError(f"model.arch: dcgan takes images (mnist, stacked-mnist, cifar10, a folder); {d.name} is "
                           "toy data; allowed for toy data: auto, mlp")
    image = is_image_data(d.name) or m.arch == "dcgan"  # a saved image config still resolves without its folder
    if not image:
        for key in ("image_size", "channels"):
            if getattr(d, key) is not None:
                raise ModeganError(f"data.{key} applies to image data only (mnist, stacked-mnist, cifar10, a folder)")
        if t.feature_samples is not None:
            raise ModeganError("train.feature_samples applies to image data only")
        if d.dir is not None:
            raise ModeganError(f"data.dir (--data-dir) applies to image data only; {d.name} is toy data")
        if t.classifier is not None:
            raise ModeganError("train.classifier applies to mnist and stacked-mnist only")
    arch = m.arch if m.arch != "auto" else ("dcgan" if image else "mlp")
    if image and arch != "dcgan":
        raise ModeganError(f"model.arch: {arch!r} does not take images ({d.name}); allowed: auto, dcgan")
    m.arch = arch
    if image:
        _resolve_image_shape(d)
        if d.n_train is not None and d.name != "stacked-mnist":
            raise ModeganError(f"data.n_train applies to toy data and stacked-mnist; {d.name} trains on every image")
    dcgan = arch == "dcgan"
    if not dcgan:  # the MLP's own normalisation is none, what every toy config has recorded
        m.g_norm = m.g_norm if m.g_norm is not None else "none"
        m.d_norm = m.d_norm if m.d_norm is not None else "none"
    m.z_dim = m.z_dim if m.z_dim is not None else (100 if dcgan else 2)
    m.g_width = m.g_width if m.g_width is not None else (64 if dcgan else 128)
    m.d_width = m.d_width if m.d_width is not None else (64 if dcgan else 128)
    if d.n_train is None and not image:
        d.n_train = 100_000
    elif d.n_train is None and d.name == "stacked-mnist":
        d.n_train = 128_000
    t.batch_size = t.batch_size if t.batch_size is not None else (64 if image else 256)
    if t.eval_samples is None:
        t.eval_samples = (26_000 if d.name == "stacked-mnist" else 10_000) if image else 2_500
    if image and t.feature_samples is None:
        t.feature_samples = min(10_000, t.eval_samples)
    encoder = dw.encoder if dw.encoder is not None else ("conv" if image else "mlp")
    if image and encoder != "conv":
        raise ModeganError(f"diwgan.encoder: {encoder} does not take images; allowed for images: conv")
    if not image and encoder == "conv" and d.name != USER_DATA:  # modegan.fit checks its rows' shape
        raise ModeganError("diwgan.encoder: conv needs image data; allowed for toy data: mlp, identity")
    dw.encoder = encoder
    if m.conditioning != "none" and d.classes is None and not image and d.name != USER_DATA and Path(
            d.name).suffix.lower() not in (".npy", ".csv"):
        d.classes = "components"  # a mixture's labels: the component index
    if dw.latent_dim is None:
        dw.latent_dim = (16 if d.name == "mnist" else 32) if image else 2
    return cfg


def _resolve_image_shape(d: DataConfig) -> None:
    channels, size = IMAGE_SHAPES.get(d.name, FOLDER_DEFAULTS)
    fixed = d.name in IMAGE_SHAPES
    for key, value in (("channels", channels), ("image_size", size)):
        given = getattr(d, key)
        if fixed and given is not None and given != value:
            raise ModeganError(f"data.{key}: {d.name} images have {key} {value}, got {given}")
        setattr(d, key, value if given is None else given)
    if d.image_size not in DCGAN_SIZES:
        raise ModeganError(f"data.image_size: {d.image_size} is not allowed; allowed: 28, 32 (the DCGAN sizes)")
    if d.channels not in (1, 3):
        raise ModeganError(f"data.channels: {d.channels} is not allowed; allowed: 1, 3")


def _validate_weighting(w: WeightingConfig) -> None:
    from modegan.weighting import SampleWeighting

    SampleWeighting(w.gen, w.disc_fake, w.disc_real)  # names per role; raises with the allowed list
    for key in ("topk_start", "topk_decay", "topk_min"):
        if getattr(w, key) > 1:
            raise ModeganError(f"weighting.{key}: must be in (0, 1], got {getattr(w, key)}")


def _validate_combination(cfg: RunConfig) -> None:
    """Reject combinations that have no meaning, before anything runs (one line, naming both parts)."""
    s, lc, w, dw, m = cfg.scheme, cfg.loss, cfg.weighting, cfg.diwgan, cfg.model
    bw = dw.bandwidth
    if bw not in ("scott", "silverman"):
        try:
            ok = float(bw) > 0
        except ValueError:
            ok = False
        if not ok:
            raise ModeganError(f"diwgan.bandwidth: {bw!r} is not allowed; allowed: scott, silverman, a positive number")
    if s.pack > 1 and any(n.startswith("data") for n in w.disc_real):
        raise ModeganError("weighting.disc_real data weights are per example; with scheme.pack > 1 the "
                           "discriminator scores packs, so the two do not combine")
    if s.unroll and lc.gp_weight > 0:
        raise ModeganError("scheme.unroll with loss.gp_weight > 0 is not supported (the penalty would need "
                           "third-order derivatives through the unrolled steps)")
    if s.unroll and s.veegan:
        raise ModeganError("scheme.unroll and scheme.veegan do not combine: VEEGAN's joint discriminator "
                           "has its own generator loss")
    if s.veegan:
        if s.pack > 1:
            raise ModeganError("scheme.veegan and scheme.pack > 1 do not combine: the joint discriminator "
                               "scores (z, x) pairs")
        if lc.type in SCORE_LOSSES or lc.gp_weight > 0 or lc.clip is not None:
            raise ModeganError(f"scheme.veegan uses its own logistic losses; loss.type={lc.type}, "
                               "loss.gp_weight and loss.clip do not apply")
        if m.spectral_norm and m.arch == "dcgan":
            raise ModeganError("model.spectral_norm with scheme.veegan on images: the convolutional joint "
                               "discriminator has no spectral norm; allowed: model.spectral_norm=false")
        if w.gen or w.disc_fake or w.disc_real:
            raise ModeganError("scheme.veegan does not take sample weights (its generator loss is a logit "
                               "plus a reconstruction, not a per-sample adversarial term)")
        if dw.enabled:
            raise ModeganError("scheme.veegan and diwgan.enabled do not combine")
    _validate_meaning(cfg)
    _validate_conditioning(cfg)


CLASS_GROUPINGS = ("components", "rows", "columns")
STACKED_CLASSES = ("triple", "digit0", "digit1", "digit2")  # Stacked MNIST: the 1000 triples, or one channel's digit


def _validate_conditioning(cfg: RunConfig) -> None:
    """Labels and conditional networks: what composes with them, or one line saying why not (docs/methods.md §10)."""
    d, m, s, lc, w = cfg.data, cfg.model, cfg.scheme, cfg.loss, cfg.weighting
    if d.classes is not None:
        c = d.classes
        if d.name == "stacked-mnist":
            if c not in STACKED_CLASSES:
                raise ModeganError(f"data.classes: {c!r} is not allowed for stacked-mnist; allowed: "
                                   f"{', '.join(STACKED_CLASSES)}")
        elif m.arch == "dcgan":
            raise ModeganError("data.classes groups a toy mixture's components (or picks Stacked MNIST's labels); "
                               f"{d.name} images carry their own labels (leave data.classes unset)")
        elif c not in CLASS_GROUPINGS and not (c.isdigit() and int(c) >= 1):
            raise ModeganError(f"data.classes: {c!r} is not allowed; allowed: components, rows, columns, "
                               "a positive integer N")
    suffix = Path(d.name).suffix.lower()
    if d.label_column is not None and suffix != ".csv":
        raise ModeganError(f"data.label_column (--label-column) applies to .csv point clouds; {d.name} is not one "
                           "(a .npy point cloud takes data.labels, a second .npy)")
    if d.labels is not None and suffix != ".npy":
        raise ModeganError(f"data.labels (a .npy of classes) applies to .npy point clouds; {d.name} is not one "
                           "(a .csv takes data.label_column)")
    cond = m.conditioning
    if cond != "acgan" and lc.ac_weight != 1.0:
        raise ModeganError("loss.ac_weight applies only with model.conditioning=acgan")
    if cond == "none":
        if m.embed_dim != 16:
            raise ModeganError("model.embed_dim applies only with model.conditioning concat, projection or acgan")
        return
    if s.veegan:
        raise ModeganError("model.conditioning and scheme.veegan do not combine: VEEGAN's joint discriminator "
                           "D(z, x) and its reconstructor take no label")
    if cfg.diwgan.enabled:
        raise ModeganError("model.conditioning and diwgan.enabled do not combine: DIWGAN's KDEs and targets are "
                           "of the unlabelled data (per-class KDEs and targets are not built)")
    if s.pack > 1 and cond != "concat":
        raise ModeganError(f"model.conditioning={cond} with scheme.pack > 1: a pack carries m labels and "
                           f"{'the projection' if cond == 'projection' else 'the auxiliary classifier'} takes one "
                           "per input; allowed with packing: model.conditioning=concat")
    if s.unroll and cond == "acgan":
        raise ModeganError("model.conditioning=acgan with scheme.unroll: the unrolled discriminator steps take the "
                           "adversarial loss alone, not the classifier's cross-entropy; allowed: concat, projection")
    if "distance" in (*w.gen, *w.disc_fake):
        raise ModeganError("weighting 'distance' with model.conditioning: the nearest real sample in the batch may be "
                           "of another class, so the distance mixes classes")
    if lc.constraints:
        raise ModeganError("loss.constraints (registered) with model.conditioning: registered penalties take "
                           "unlabelled batches")


# Losses on an unbounded score rather than a sigmoid's logit.
SCORE_LOSSES = ("wasserstein", "hinge", "least_squares")


def _validate_meaning(cfg: RunConfig) -> None:
    """Combinations no paper defines and whose parts contradict each other (issue 14); one line each."""
    s, lc, m, w = cfg.scheme, cfg.loss, cfg.model, cfg.weighting
    if lc.type == "wasserstein" and lc.clip is None and lc.gp_weight == 0 and not m.spectral_norm \
            and not lc.constraints:
        raise ModeganError("loss.type=wasserstein needs a Lipschitz constraint (loss.clip, loss.gp_weight > 0 or "
                           "model.spectral_norm): an unconstrained critic's W-loss measures nothing")
    if lc.type in SCORE_LOSSES and "hard" in (*w.gen, *w.disc_fake, *w.disc_real):
        raise ModeganError(f"weighting 'hard' with loss.type={lc.type}: exp(loss) is 1/D only for a sigmoid "
                           "discriminator's log-loss, not for an unbounded score's loss")
    if s.unroll and lc.clip is not None:
        raise ModeganError("scheme.unroll with loss.clip: the unrolled discriminator steps are not clipped, so "
                           "the generator would answer a critic that the run never has")
    if not s.unroll and s.unroll_objective != "full":
        raise ModeganError("scheme.unroll_objective applies only with scheme.unroll > 0")
    if lc.gp_weight > 0 and m.d_norm == "batch":
        raise ModeganError("loss.gp_weight > 0 with model.d_norm=batch: the per-sample penalty is wrong through "
                           "batch statistics (Gulrajani et al. 2017, §4); allowed: model.d_norm=layer or none")
    if m.gp_d_norm != "layer" and not (m.arch == "dcgan" and lc.gp_weight > 0):
        raise ModeganError("model.gp_d_norm applies only to DCGAN discriminators with loss.gp_weight > 0")
    if m.gp_d_norm != "layer" and m.d_norm is not None:
        raise ModeganError(f"model.gp_d_norm={m.gp_d_norm} with model.d_norm={m.d_norm}: gp_d_norm replaces "
                           "DCGAN's own batch norm only when model.d_norm is unset; set one of them")
    if m.arch == "dcgan" and s.veegan and m.d_norm is not None:
        raise ModeganError("model.d_norm with scheme.veegan on images: the convolutional joint discriminator "
                           "has its own normalisation; leave model.d_norm unset")
    t = cfg.train
    if t.tensorboard and t.tracker not in ("none", "tensorboard"):
        raise ModeganError(f"train.tensorboard=true is the older spelling of train.tracker=tensorboard and "
                           f"contradicts train.tracker={t.tracker}; drop train.tensorboard")
    if t.tracker_uri is not None and t.tracker != "mlflow":
        raise ModeganError(f"train.tracker_uri applies to train.tracker=mlflow only (got train.tracker={t.tracker})")
    if cfg.train.precision != "fp32" and m.arch != "dcgan":
        raise ModeganError(f"train.precision={cfg.train.precision} applies to image runs (model.arch dcgan); toy MLPs "
                           "are bound by latency, not arithmetic, and train in fp32")
    if "distance" in (*w.gen, *w.disc_fake) and s.pack > 1:
        raise ModeganError("weighting 'distance' is per generated sample; with scheme.pack > 1 the discriminator "
                           "scores packs, so the two do not combine")


def flatten(d: dict, prefix: str = "") -> dict:
    """Nested sections to dotted keys, as overrides name them: {"loss": {"clip": 0.01}} -> {"loss.clip": 0.01}."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def build_config(
    *,
    preset: str | None = None,
    file: str | Path | None = None,
    overrides: dict | list[str] | None = None,
) -> RunConfig:
    """Defaults <- preset <- YAML file <- overrides, then strict validation.

    A YAML file may name its own `preset:`; an explicit `preset` argument wins.
    """
    from modegan.presets import get_preset

    file_data = load_yaml(file) if file is not None else {}
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    overrides = overrides or {}
    name = preset or overrides.get("preset") or file_data.get("preset")
    data: dict = {}
    if name is not None:
        data = merge(data, get_preset(str(name)).settings)
    data = merge(data, file_data)
    data = merge(data, overrides)
    data["preset"] = name
    return validate(from_dict(RunConfig, data))


def config_from_any(config: RunConfig | dict | str | Path) -> RunConfig:
    """Accept what `modegan.train` accepts: a RunConfig, a nested dict, or a YAML path."""
    if isinstance(config, RunConfig):
        return validate(from_dict(RunConfig, config.to_dict()))
    if isinstance(config, (str, Path)):
        return build_config(file=config)
    if isinstance(config, dict):
        return build_config(overrides=config)
    raise ModeganError(f"config must be a RunConfig, a dict or a YAML path, got {type(config).__name__}")
