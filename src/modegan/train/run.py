"""The training loop: evaluate, log, plot and checkpoint around the composable `train_step`."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import time
from pathlib import Path

import torch
from safetensors.torch import save as safetensors_bytes

import modegan
from modegan.config import RunConfig, config_from_any
from modegan.data import ImageDataset, ToyDataset, load_dataset
from modegan.data.datasets import image_class_labels
from modegan.data.images import ImagesOn
from modegan.device import Placement, resolve_device
from modegan.errors import ModeganError
from modegan.limits import MAX_STEPS, check_int
from modegan.losses.constraints import input_gradient_norms
from modegan.metrics import evaluate_toy
from modegan.metrics.classifier import Classifier, load_classifier
from modegan.metrics.images import conditional_image_metrics, dataset_kind, evaluate_images
from modegan.nets.conditional import ConditionalGenerator, join
from modegan.report.grids import image_grid_png
from modegan.report.plots import scatter_png
from modegan.train.checkpoint import read_checkpoint, restore, save_checkpoint
from modegan.train.files import atomic_write, atomic_write_with, run_lock, tmp_path, writing
from modegan.train.parts import Parts, attach_diwgan, build_parts
from modegan.train.rundir import RunDir
from modegan.train.steps import grad_norm, train_step
from modegan.train.trackers import check_tracker, open_tracker, scalars


class TrainingDiverged(ModeganError):
    """A loss, parameter or sample became NaN or Inf."""


LOCATION_KEYS = (("data", "dir"), ("train", "classifier"), ("train", "device"))
TRACKING_KEYS = (("train", "tracker"), ("train", "tracker_uri"), ("train", "log_every"))  # what is logged where
SAMPLE_CHUNK = 1_000
GRID_IMAGES = 64


def config_hash(cfg: RunConfig) -> str:
    """Hash of the resolved config, without where files live (data.dir, train.classifier), where it trains
    (train.device) and which tracker it logs to (train.tracker, tracker_uri, log_every): the data and the
    classifier are identified by the checksums that the summary and every metric's protocol record, and the
    device by the summary."""
    d = cfg.to_dict()
    for section, key in LOCATION_KEYS + TRACKING_KEYS:
        d[section].pop(key, None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


def setting_hash(cfg: RunConfig) -> str:
    """`config_hash` without train.seed: the runs of one setting that differ only by seed share it."""
    seedless = copy.deepcopy(cfg)
    seedless.train.seed = 0
    return config_hash(seedless)


def evaluate(
    G: torch.nn.Module, dataset: ToyDataset | ImageDataset, cfg: RunConfig, classifier: Classifier | None = None
) -> tuple[dict, torch.Tensor]:
    """Metrics on `eval_samples` samples drawn with the fixed evaluation seed (benchmarks.md §2, §4–5).

    Images: `evaluate_images` (modes/kl or digit metrics with the MNIST classifier, FD/KID/PRDC on the first
    `feature_samples`); the classifier is loaded (`run_classifier`) when not given. G may be on any device:
    its z are drawn on the CPU with the evaluation seed, and the metrics are computed on the host."""
    metrics, samples, _ = evaluate_labelled(G, dataset, cfg, classifier)
    return metrics, samples


def evaluate_labelled(
    G: torch.nn.Module, dataset: ToyDataset | ImageDataset, cfg: RunConfig, classifier: Classifier | None = None
) -> tuple[dict, torch.Tensor, torch.Tensor | None]:
    """`evaluate`, also returning the labels a conditional generator drew the samples for (None otherwise): drawn
    from its class prior with the evaluation seed, before the z."""
    rng = torch.Generator().manual_seed(cfg.train.eval_seed)
    was_training = G.training
    G.eval()
    labels = None
    if isinstance(G, ConditionalGenerator):
        n = cfg.train.eval_samples
        labels = G.sample_labels(n, rng)
        samples = torch.cat([G.sample(min(SAMPLE_CHUNK, n - i), rng, labels=labels[i:i + SAMPLE_CHUNK]).cpu()
                             for i in range(0, n, SAMPLE_CHUNK)])
    elif isinstance(dataset, ImageDataset):
        n = cfg.train.eval_samples
        samples = torch.cat([G.sample(min(SAMPLE_CHUNK, n - i), rng).cpu() for i in range(0, n, SAMPLE_CHUNK)])
    else:
        samples = G.sample(cfg.train.eval_samples, rng).cpu()
    G.train(was_training)
    if not torch.isfinite(samples).all():
        raise TrainingDiverged("the generator produced NaN or Inf samples")
    if hasattr(dataset, "evaluate_samples"):  # modegan.fit's rows of any shape (fit.UserRows)
        return dataset.evaluate_samples(samples, rng, cfg, labels=labels), samples, labels
    if isinstance(dataset, ImageDataset):
        classifier = classifier or run_classifier(cfg, dataset)
        n_feat = cfg.train.feature_samples
        metrics = evaluate_images(samples, dataset, classifier, generator=rng, n_feature_samples=n_feat)
        if labels is not None:
            class_labels, n_classes = image_class_labels(dataset, cfg.data.classes)
            metrics.update(conditional_image_metrics(samples, labels, dataset, class_labels, n_classes,
                                                     cfg.data.classes, classifier, generator=rng,
                                                     n_feature_samples=n_feat))
        return metrics, samples, labels
    return evaluate_toy(samples, dataset, rng, threshold=cfg.train.hq_threshold, labels=labels), samples, labels


def run_classifier(cfg: RunConfig, dataset: ToyDataset | ImageDataset) -> Classifier | None:
    """The MNIST classifier that MNIST and Stacked MNIST runs are evaluated with (None for other data)."""
    if not isinstance(dataset, ImageDataset) or dataset_kind(dataset) not in ("mnist", "stacked-mnist"):
        return None
    return load_classifier(cfg.train.classifier)  # unset: the shipped classifier, verified


INPUT_GRAD_POINTS = 512


def critic_gradients(parts: Parts, dataset, samples: torch.Tensor, tc) -> dict:
    """‖∇ₓD‖ (mean, max) at real, generated and interpolated points (`constraints.input_gradient_norms`):
    the first 512 evaluation samples (a whole number of packs), as many fresh real ones and ε drawn with
    their own seed (eval_seed + 2), so the run's training draws are untouched. VEEGAN's joint D(z, x) has no
    such gradient and is skipped. Under torchrun, D's batch norm takes this batch's statistics on rank 0 alone,
    as one process does."""
    pack = parts.cfg.scheme.pack
    n = max(pack, min(INPUT_GRAD_POINTS, len(samples)) // pack * pack)
    rng = torch.Generator().manual_seed(tc.eval_seed + 2)
    device = parts.placement.device
    if isinstance(parts.G, ConditionalGenerator):  # labelled batches, the generated ones for the real labels
        real = join(*labelled_real(parts.cfg, dataset, n, rng)).to(device)
        with torch.no_grad():
            samples = parts.G(parts.G.latent_like(real, rng))
    else:
        real = dataset.sample_real(n, rng)
    from modegan.train.distributed import locally_normalised  # under torchrun only rank 0 measures

    with locally_normalised(parts.D) as D:
        return input_gradient_norms(D, real.to(device), samples[:n].to(device), rng, pack)


def labelled_real(cfg: RunConfig, dataset: ToyDataset | ImageDataset, n: int, rng: torch.Generator):
    """n fresh real points and their classes (images: rows drawn as `sample_real` draws them)."""
    if isinstance(dataset, ImageDataset):
        idx = torch.randint(dataset.n, (n,), generator=rng)
        return dataset.batch(idx), image_class_labels(dataset, cfg.data.classes)[0][idx]
    return dataset.sample_real_labelled(n, rng)


def metric_values(metrics: dict) -> dict:
    """Metric values for JSON: an undefined value (NaN, e.g. rkl_modes with no HQ sample) becomes null."""
    return {k: (m.value if math.isfinite(m.value) else None) for k, m in metrics.items()}


def _finite_params(parts: Parts) -> bool:
    return all(torch.isfinite(q).all() for m in parts.modules().values() for q in m.parameters())


class ProgressBar:
    """A rich progress bar with steps/s and the latest metrics; silent when disabled."""

    def __init__(self, enabled: bool, total: int, start: int, label: str):
        self.enabled = enabled
        if not enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>7.1f} steps/s"), TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
        )
        self.task = self.bar.add_task(label, total=total, completed=start, rate=0.0, info="")
        self.t0, self.s0 = time.perf_counter(), start

    def __enter__(self):
        if self.enabled:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self.bar.__exit__(*exc)

    def update(self, step: int, info: str | None = None) -> None:
        if not self.enabled:
            return
        rate = (step - self.s0) / max(time.perf_counter() - self.t0, 1e-9)
        fields = {"rate": rate} if info is None else {"rate": rate, "info": info}
        self.bar.update(self.task, completed=step, **fields)


def short_metrics(metrics: dict) -> str:
    keys = ("modes", "hqs", "rkl_modes", "jsd_grid", "w1", "kl", "digit_kl", "fd")
    return " ".join(f"{k}={metrics[k].value:.3g}" for k in keys if k in metrics)


def restoring_torch_threads(fn):
    """Runs set `train.threads`; put the caller's thread count back afterwards."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        threads = torch.get_num_threads()
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)

    return wrapper


class Recorder:
    """What one run directory records around the updates: the losses averaged since the last evaluation,
    one metrics line an evaluation (with plots), the last checkpoint, the summary; and the one caller of the
    run's tracker (`trackers`): `log_step` every train.log_every steps, the record and samples at evaluations.

    Shared by `train` and the batched `train_seeds`, so a seed trained in a batch leaves the same files.
    """

    def __init__(self, run: RunDir, cfg: RunConfig, dataset: ToyDataset | ImageDataset, parts: Parts, start: int,
                 elapsed0: float):
        self.run, self.cfg, self.dataset = run, cfg, dataset
        self.classifier = run_classifier(cfg, dataset)  # before training, so a missing one fails fast
        if self.classifier is not None:
            self.classifier.to(parts.placement.device)
        described = dataset.describe()
        if isinstance(parts.G, ConditionalGenerator):  # what `load` rebuilds the generator with
            described = {**described, "n_classes": parts.G.n_classes}
        self.base = {
            "preset": cfg.preset, "dataset": described, "config_hash": config_hash(cfg),
            "device": parts.placement.name, "precision": parts.placement.precision,
            "versions": {"modegan": modegan.__version__, "torch": torch.__version__},
        }
        if parts.diwgan is not None:
            self.base["diwgan"] = {"autoencoder_mse": parts.diwgan.ae_mse,
                                   "n_targets": int(parts.diwgan.targets.shape[0])}
        self.label = f"{cfg.preset or 'custom'} on {cfg.data.name}"
        self.last_ckpt, self.last_record = start, None
        self.t0 = time.perf_counter() - elapsed0
        self.step_sums, self.status, self.tracker = LossSums(), "failed", None
        run.write_summary({**self.base, "status": "running", "step": start, "steps": cfg.train.steps})
        try:
            self.tracker = open_tracker(run.path, cfg, start)
        except ModeganError as e:
            self.failed(start, e)
            raise

    def log_step(self, step: int, losses: dict[str, torch.Tensor], seed: int | None = None) -> None:
        """Add a step's losses (seed `seed` of stacked ones); every train.log_every steps, log their means."""
        if self.tracker is None:
            return
        self.step_sums.add(losses if seed is None else {k: v[seed] for k, v in losses.items()})
        if step % self.cfg.train.log_every == 0:
            self.tracker.log_scalars({f"loss/{k}": v for k, v in self.step_sums.means().items()}, step)
            self.step_sums = LossSums()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def evaluate(self, step: int, parts: Parts, losses: dict[str, float], weights: dict | None) -> dict:
        """Evaluate `parts.G` (and its EMA: `metrics_ema`), append the metrics line, plot; checkpoint when due.
        Returns G's metrics."""
        tc, run = self.cfg.train, self.run
        if not _finite_params(parts):
            raise TrainingDiverged("a network parameter became non-finite")
        if isinstance(parts.G, ConditionalGenerator):  # the labels too, for the plots
            metrics, samples, labels = evaluate_labelled(parts.G, self.dataset, self.cfg, self.classifier)
        else:
            (metrics, samples), labels = evaluate(parts.G, self.dataset, self.cfg, self.classifier), None
        elapsed = self.elapsed()
        record = {
            "step": step,
            "elapsed_s": round(elapsed, 3),
            **losses,
            "grad_norm_g": grad_norm(parts.G),
            "grad_norm_d": grad_norm(parts.D),
            **({"grad_norm_f": grad_norm(parts.F)} if parts.F is not None else {}),
            **({"d_input_grad": critic_gradients(parts, self.dataset, samples, tc)} if parts.F is None else {}),
            **({"weights": weights} if weights is not None else {}),
            "metrics": metric_values(metrics),
            **self.ema_metrics(parts),
            "protocol": {k: m.protocol for k, m in metrics.items()},
        }
        plot = run.sample_plot(step) if tc.plots else None
        if tc.plots and isinstance(self.dataset, ImageDataset):
            grid, nrow = (samples[:GRID_IMAGES], 8) if labels is None else class_grid(samples, labels)
            atomic_write_with(run.sample_plot(step), lambda p: image_grid_png(p, grid, nrow=nrow))
        elif tc.plots:
            real = self.dataset.sample_real(len(samples), torch.Generator().manual_seed(tc.eval_seed + 1))
            means = self.dataset.mixture.means if self.dataset.mixture is not None else None
            classes = None if labels is None else (labels, self.dataset.n_classes)
            atomic_write_with(run.sample_plot(step), lambda p: scatter_png(p, samples, real, means,
                                                                           f"{self.label}, step {step}", classes))
        run.append_metrics(record)
        if self.tracker is not None:
            self.tracker.log_scalars(scalars(record), step)
            if plot is not None:
                self.tracker.log_image("samples", plot, step)
        if step % (tc.ckpt_every or tc.eval_every) == 0 or step == tc.steps:
            save_checkpoint(run.checkpoint, parts, step, elapsed)
            self.last_ckpt = step
        self.last_record = record
        return metrics

    def ema_metrics(self, parts: Parts) -> dict:
        """`metrics_ema`: the EMA generator's metrics, on the same evaluation draws as G's (none without EMA)."""
        if parts.G_ema is None:
            return {}
        metrics, _ = evaluate(parts.G_ema, self.dataset, self.cfg, self.classifier)
        return {"metrics_ema": metric_values(metrics)}

    def diverged(self, step: int, error: Exception) -> str:
        self.status = "diverged"
        msg = (f"training diverged at step {step}: {error}; the last good checkpoint "
               f"(step {self.last_ckpt}) is kept in {self.run.checkpoint}")
        self.run.write_summary({**self.base, "status": "diverged", "step": step, "error": msg,
                                "last_checkpoint_step": self.last_ckpt})
        return msg

    def failed(self, step: int, error: Exception) -> None:
        """A run stopped by an error (e.g. a full disk): say so in the summary if it can still be written."""
        try:
            self.run.write_summary({**self.base, "status": "failed", "step": step, "error": str(error),
                                    "last_checkpoint_step": self.last_ckpt})
        except ModeganError:
            pass  # the disk is full: the summary keeps saying 'running', the checkpoint is intact

    def interrupted(self, step: int) -> None:
        self.status = "interrupted"
        self.run.write_summary({**self.base, "status": "interrupted", "step": step,
                                "last_checkpoint_step": self.last_ckpt})

    def close(self) -> None:
        """End the tracker run (as finished, diverged, failed or interrupted); the Recorder logs no more."""
        if self.tracker is not None:
            tracker, self.tracker = self.tracker, None
            tracker.close(self.status)

    def finish(self, G: torch.nn.Module, G_ema: torch.nn.Module | None = None) -> dict:
        """Write the final generator (and its EMA, if the run keeps one) and the summary."""
        cfg, run = self.cfg, self.run
        for path, net in ((run.generator, G), (run.generator_ema, G_ema)):
            if net is not None:
                atomic_write(path, generator_bytes(net, cfg))
        last_record = self.last_record or (run.read_metrics() or [None])[-1]
        summary = {
            **self.base, "status": "finished", "step": cfg.train.steps,
            "elapsed_s": round(self.elapsed(), 3),
            "metrics": last_record["metrics"] if last_record else {},
            **({"metrics_ema": last_record["metrics_ema"]} if last_record and "metrics_ema" in last_record else {}),
            "protocol": last_record["protocol"] if last_record else {},
        }
        run.write_summary(summary)
        self.status = "finished"
        return summary


GRID_CLASSES = 10


def class_grid(samples: torch.Tensor, labels: torch.Tensor, per_class: int = 8) -> tuple[torch.Tensor, int]:
    """A class x samples grid of a conditional image run: a row per class (the first 10 classes with samples),
    its first `per_class` samples, blank where a class has fewer."""
    rows = []
    for k in torch.unique(labels)[:GRID_CLASSES].tolist():
        mine = samples[labels == k][:per_class]
        blank = torch.full((per_class - len(mine), *samples.shape[1:]), -1.0)
        rows.append(torch.cat([mine, blank]))
    return torch.cat(rows), per_class


def generator_bytes(G: torch.nn.Module, cfg: RunConfig) -> bytes:
    """A generator's weights as safetensors, the config and final step in the metadata."""
    return safetensors_bytes({k: v.cpu().contiguous() for k, v in G.state_dict().items()},
                             metadata={"config": json.dumps(cfg.to_dict()), "step": str(cfg.train.steps)})


class LossSums:
    """Running sums of the step losses since the last evaluation (tensors of any shape: (S,) when batched)."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.n = 0

    def add(self, out: dict[str, torch.Tensor]) -> None:
        for k, v in out.items():
            self.sums[k] = self.sums[k] + v if k in self.sums else v
        self.n += 1

    def means(self, seed: int | None = None) -> dict[str, float]:
        return {k: float(v if seed is None else v[seed]) / self.n for k, v in self.sums.items()}


def check_config(cfg: RunConfig) -> None:
    """What a run needs beyond the config's own validation; also sets the training threads."""
    tc = cfg.train
    check_int(tc.steps, "train.steps", 1, MAX_STEPS)  # `steps=` of train() bypasses validate
    torch.set_num_threads(tc.threads)
    ckpt_every = tc.ckpt_every or tc.eval_every
    if ckpt_every % tc.eval_every:
        raise ModeganError(f"train.ckpt_every ({ckpt_every}) must be a multiple of train.eval_every ({tc.eval_every})")
    check_tracker(tc)  # a missing extra fails here, before the run directory is written


def run_dataset(cfg: RunConfig) -> ToyDataset | ImageDataset:
    d = cfg.data
    dataset = load_dataset(d.name, seed=d.seed, n_train=d.n_train, mode_probs=d.mode_probs, root=d.dir,
                           image_size=d.image_size, channels=d.channels, verify=d.verify, classes=d.classes,
                           label_column=d.label_column, labels=d.labels)
    if any(n.startswith("data") for n in cfg.weighting.disc_real) and dataset.weights is None:
        raise ModeganError("weighting.disc_real: data weights need a dataset that carries them "
                           "(set data.mode_probs to draw a biased training set with known weights)")
    return dataset


def training_set(dataset: ToyDataset | ImageDataset) -> torch.Tensor | ImageDataset:
    """The training data on the host: the toy tensor itself, or the image dataset."""
    return dataset if isinstance(dataset, ImageDataset) else dataset.train


def training_data(dataset: ToyDataset | ImageDataset, placement: Placement, labelled: bool = False,
                  classes: str | None = None) -> tuple[torch.Tensor | ImagesOn, torch.Tensor | None]:
    """What `train_step` draws batches from, on the run's device: the toy tensor (and its importance weights,
    if any), or the image rows (`ImagesOn`). `labelled` (a conditional run): the toy rows with their labels as
    a last column (`nets.conditional.join`)."""
    device = placement.device
    if isinstance(dataset, ImageDataset):
        if labelled:
            return LabelledImagesOn(ImagesOn(dataset, device), image_class_labels(dataset, classes)[0]), None
        return ImagesOn(dataset, device), None
    weights = dataset.weights.to(device) if dataset.weights is not None else None
    train = join(dataset.train, dataset.labels) if labelled else dataset.train
    return train.to(device), weights


class LabelledImagesOn:
    """An image dataset's rows on the device (`ImagesOn`) with their classes: `batch(idx)` is the labelled batch
    (`nets.conditional.join`: the label as a constant last channel)."""

    def __init__(self, images: ImagesOn, labels: torch.Tensor):
        self.images, self.labels, self.n = images, labels.to(images.device), images.n

    def __len__(self) -> int:
        return self.n

    def batch(self, idx: torch.Tensor) -> torch.Tensor:
        return join(self.images.batch(idx), self.labels[idx])


def dataset_classes(cfg: RunConfig, dataset: ToyDataset | ImageDataset) -> dict:
    """build_parts' n_classes and class_probs for a conditional run (none for others)."""
    if cfg.model.conditioning == "none":
        return {}
    if isinstance(dataset, ImageDataset):
        labels, n = image_class_labels(dataset, cfg.data.classes)
        counts = torch.bincount(labels, minlength=n).float()
        return {"n_classes": n, "class_probs": counts / counts.sum()}
    if getattr(dataset, "labels", None) is None:
        raise ModeganError(f"model.conditioning={cfg.model.conditioning} needs labelled data; {cfg.data.name} "
                           "carries no labels")
    return {"n_classes": dataset.n_classes, "class_probs": dataset.class_probs()}


def data_dim(dataset: ToyDataset | ImageDataset) -> int:
    return math.prod(dataset.shape) if isinstance(dataset, ImageDataset) else dataset.dim


def open_parts(cfg: RunConfig, dataset: ToyDataset | ImageDataset, run: RunDir, state: dict | None,
               overwrite: bool, placement: Placement | None = None) -> Parts:
    """The parts of a new run (run directory created, step-0 checkpoint written) or of a resumed one."""
    parts = build_parts(cfg, data_dim(dataset), placement, **dataset_classes(cfg, dataset))
    if state is None:
        run.create(cfg, overwrite)
    if cfg.diwgan.enabled:
        with writing(run.autoencoder, cleanup=tmp_path(run.autoencoder)):
            attach_diwgan(parts, training_set(dataset), run.path)
    if state is None:
        save_checkpoint(run.checkpoint, parts, 0, 0.0)  # so there is always a last good checkpoint
    else:
        restore(parts, state, run.checkpoint)
        run.truncate_metrics(state["step"])
        run.write_config(cfg)
    return parts


def check_finite(losses: dict[str, torch.Tensor], every: int) -> None:
    """Raise TrainingDiverged if a loss is NaN or Inf: this step's (on the CPU, every step) or, on an
    accelerator, any step's since the last check (their running sums), which costs one sync per check."""
    if all(math.isfinite(v.item()) for v in (losses["d_loss"], losses["g_loss"])):
        return
    bad = [k for k, v in losses.items() if not math.isfinite(v.item())]
    when = "" if every == 1 else f" (checked every {every} steps off the CPU)"
    raise TrainingDiverged(f"{', '.join(bad)} became non-finite{when}")


def eval_due(step: int, tc) -> bool:
    return step % tc.eval_every == 0 or step == tc.steps


@restoring_torch_threads
def train(
    config: RunConfig | dict | str | Path | None = None,
    *,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    steps: int | None = None,
    overwrite: bool = False,
    progress: bool = False,
    device: str | torch.device | None = None,
    backend: str = "auto",
) -> dict:
    """Train a run and return its summary (also written to `summary.json`).

    `config` is a RunConfig, a nested dict of overrides on the defaults (may name a `preset`), or a
    YAML path. `resume` continues the run in that directory from its checkpoint, optionally to a
    larger `steps` budget; a resumed run ends with the same metrics as an uninterrupted one. A run killed
    before its first checkpoint (a config, no checkpoint, no evaluation) has nothing to lose: resuming it
    starts it again from step 0.

    `device` overrides train.device (auto, cpu, cuda, cuda:N, mps: `modegan.device`). A resumed run continues
    on the device its checkpoint was written on unless `device` names another.

    The process holds the run directory's lock (`files.run_lock`) while it trains: a second `train` into
    the same directory is one ModeganError line naming this process's PID.

    Under torchrun with several processes (RANK, WORLD_SIZE, LOCAL_RANK set) the run trains on all of them,
    the global batch split over the ranks (`distributed.py`; `backend`: auto, gloo or nccl); rank 0 writes.
    """
    from modegan.train import distributed

    world = distributed.world_from_env(backend)  # None outside torchrun or with one process
    if world is not None:
        return distributed.train_distributed(world, config, out=out, resume=resume, steps=steps,
                                             overwrite=overwrite, progress=progress)
    if resume is not None and _is_fit_run(resume):
        from modegan.fit import resume_fit

        return resume_fit(resume, steps=steps, device=device, progress=progress)
    if resume is not None:
        run = RunDir(resume)
        cfg, state = resume_state(run, steps, clean=False)  # every refusal comes before the lock file is created
        placement = resume_placement(cfg, state, device)
        with run_lock(run.path):
            cfg, state = resume_state(run, steps)
            fresh = state is None  # never checkpointed: start again in place
            return _train(cfg, run, state, overwrite=fresh, progress=progress, placement=placement)
    if out is None:
        raise ModeganError("an output directory is needed (--out DIR)")
    cfg = config_from_any(config if config is not None else {})
    if steps is not None:
        cfg.train.steps = steps
    if device is not None:
        cfg.train.device = str(device)
        cfg = config_from_any(cfg)
    placement = Placement.of(cfg)
    run = RunDir(out)
    check_config(cfg)
    dataset = run_dataset(cfg)
    run_classifier(cfg, dataset)  # a missing classifier fails before the run directory or DIWGAN's phase 0
    run.check_new(overwrite)  # an existing run is refused before the lock file is created
    with run_lock(run.path):
        return _train(cfg, run, None, overwrite=overwrite, progress=progress, dataset=dataset, placement=placement)


def _is_fit_run(path: str | Path) -> bool:
    from modegan.fit import is_fit_run

    return is_fit_run(path)


def resume_placement(cfg: RunConfig, state: dict | None, device: str | torch.device | None) -> Placement:
    """Where a resumed run continues: `device` if given, else the config's train.device unless it is auto,
    else where its checkpoint was written; a device this machine lacks is one line saying what to pass."""
    if device is not None or cfg.train.device != "auto" or state is None or "device" not in state:
        return Placement.of(cfg, device)
    try:
        return Placement(resolve_device(state["device"], "the checkpoint's device"), cfg.train.precision)
    except ModeganError as e:
        raise ModeganError(f"{e}; the run trained on {state['device']}: pass --device (device=) to continue it "
                           "on another device (it then no longer matches an uninterrupted run bit for bit)") from None


def resume_state(run: RunDir, steps: int | None, clean: bool = True) -> tuple[RunConfig, dict | None]:
    """The config and checkpoint a resume continues from (`steps` extends the budget); the checkpoint is None
    for a run that never wrote one. With `clean` it removes stale temporary files, so call it so only
    holding the run's lock; without, it writes nothing."""
    cfg = run.read_config()
    if clean:
        run.remove_stale_tmp()
    if run.never_checkpointed():
        state = None
    else:
        state = read_checkpoint(run.checkpoint)
    at = 0 if state is None else state["step"]
    if steps is not None:
        if steps < at:
            raise ModeganError(f"--steps {steps} is below the checkpoint's step {at}")
        cfg.train.steps = steps
    elif at > cfg.train.steps:
        raise ModeganError(f"checkpoint {run.checkpoint} is at step {at}, past train.steps {cfg.train.steps} "
                           f"in {run.config}")
    return cfg, state


ACCELERATOR_CHECK_EVERY = 25  # steps between finiteness checks off the CPU (each check waits for the device)


def _train(cfg: RunConfig, run: RunDir, state: dict | None, *, overwrite: bool, progress: bool,
           dataset: ToyDataset | ImageDataset | None = None, placement: Placement | None = None,
           open_parts=open_parts) -> dict:
    """The loop of `train`, holding the run's lock. `open_parts` builds the parts (`modegan.fit` passes its own)."""
    tc = cfg.train
    placement = placement or Placement.of(cfg)
    if dataset is None:
        check_config(cfg)
        dataset = run_dataset(cfg)
        run_classifier(cfg, dataset)
    parts = open_parts(cfg, dataset, run, state, overwrite, placement)
    start = 0 if state is None else state["step"]
    rec = Recorder(run, cfg, dataset, parts, start, 0.0 if state is None else state["elapsed_s"])
    labelled = cfg.model.conditioning != "none"
    (train_set, train_weights), bs = training_data(dataset, placement, labelled, cfg.data.classes), tc.batch_size
    check_every = 1 if placement.syncs_cheaply else ACCELERATOR_CHECK_EVERY
    sums = LossSums()
    step = start
    try:
        with ProgressBar(progress, tc.steps, start, rec.label) as bar:
            for step in range(start + 1, tc.steps + 1):
                with placement.autocast():
                    out_t = train_step(parts, train_set, bs, train_weights)
                sums.add(out_t)
                rec.log_step(step, out_t)
                if step % check_every == 0 or eval_due(step, tc):
                    check_finite(out_t if check_every == 1 else sums.sums, check_every)
                if step % 25 == 0:
                    bar.update(step)
                if not eval_due(step, tc):
                    continue
                weights = parts.weighting.last_diagnostics() if parts.weighting is not None else None
                metrics = rec.evaluate(step, parts, sums.means(), weights)
                sums = LossSums()
                bar.update(step, short_metrics(metrics))
        return rec.finish(parts.G, parts.G_ema)
    except TrainingDiverged as e:
        raise TrainingDiverged(rec.diverged(step, e)) from None
    except ModeganError as e:  # e.g. a full disk: the last good checkpoint is kept
        rec.failed(step, e)
        raise
    except KeyboardInterrupt:
        rec.interrupted(step)
        raise
    finally:
        rec.close()
