"""The training loop: evaluate, log, plot and checkpoint around the composable `train_step`."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

import modegan
from modegan.config import RunConfig, config_from_any
from modegan.data import ToyDataset, load_dataset
from modegan.errors import ModeganError
from modegan.metrics import evaluate_toy
from modegan.report.plots import scatter_png
from modegan.train.checkpoint import read_checkpoint, restore, save_checkpoint
from modegan.train.parts import Parts, attach_diwgan, build_parts
from modegan.train.rundir import RunDir
from modegan.train.steps import grad_norm, train_step


class TrainingDiverged(ModeganError):
    """A loss, parameter or sample became NaN or Inf."""


def config_hash(cfg: RunConfig) -> str:
    return hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


def evaluate(G: torch.nn.Module, dataset: ToyDataset, cfg: RunConfig) -> tuple[dict, torch.Tensor]:
    """Metrics on `eval_samples` samples drawn with the fixed evaluation seed (benchmarks.md §2)."""
    rng = torch.Generator().manual_seed(cfg.train.eval_seed)
    was_training = G.training
    G.eval()
    samples = G.sample(cfg.train.eval_samples, rng)
    G.train(was_training)
    if not torch.isfinite(samples).all():
        raise TrainingDiverged("the generator produced NaN or Inf samples")
    return evaluate_toy(samples, dataset, rng, threshold=cfg.train.hq_threshold), samples


def metric_values(metrics: dict) -> dict:
    """Metric values for JSON: an undefined value (NaN, e.g. rkl_modes with no HQ sample) becomes null."""
    return {k: (m.value if math.isfinite(m.value) else None) for k, m in metrics.items()}


def _finite_params(parts: Parts) -> bool:
    return all(torch.isfinite(q).all() for m in parts.modules().values() for q in m.parameters())


class _Progress:
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


def _short(metrics: dict) -> str:
    keys = ("modes", "hqs", "rkl_modes", "jsd_grid", "w1")
    return " ".join(f"{k}={metrics[k].value:.3g}" for k in keys if k in metrics)


def _restoring_torch_threads(fn):
    """Runs set `train.threads`; put the caller's thread count back afterwards."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        threads = torch.get_num_threads()
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)

    return wrapper


@_restoring_torch_threads
def train(
    config: RunConfig | dict | str | Path | None = None,
    *,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    steps: int | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> dict:
    """Train a run and return its summary (also written to `summary.json`).

    `config` is a RunConfig, a nested dict of overrides on the defaults (may name a `preset`), or a
    YAML path. `resume` continues the run in that directory from its checkpoint, optionally to a
    larger `steps` budget; a resumed run ends with the same metrics as an uninterrupted one.
    """
    if resume is not None:
        run = RunDir(resume)
        cfg = run.read_config()
        state = read_checkpoint(run.checkpoint)
        if steps is not None:
            if steps < state["step"]:
                raise ModeganError(f"--steps {steps} is below the checkpoint's step {state['step']}")
            cfg.train.steps = steps
    else:
        if out is None:
            raise ModeganError("an output directory is needed (--out DIR)")
        cfg = config_from_any(config if config is not None else {})
        if steps is not None:
            cfg.train.steps = steps
        run, state = RunDir(out), None
    tc = cfg.train
    if tc.steps < 1:
        raise ModeganError(f"train.steps: must be a positive integer, got {tc.steps}")
    torch.set_num_threads(tc.threads)
    ckpt_every = tc.ckpt_every or tc.eval_every
    if ckpt_every % tc.eval_every:
        raise ModeganError(f"train.ckpt_every ({ckpt_every}) must be a multiple of train.eval_every ({tc.eval_every})")

    dataset = load_dataset(cfg.data.name, seed=cfg.data.seed, n_train=cfg.data.n_train,
                           mode_probs=cfg.data.mode_probs)
    if any(n.startswith("data") for n in cfg.weighting.disc_real) and dataset.weights is None:
        raise ModeganError("weighting.disc_real: data weights need a dataset that carries them "
                           "(set data.mode_probs to draw a biased training set with known weights)")
    parts = build_parts(cfg, dataset.dim)
    tb = _tensorboard(run.path) if tc.tensorboard else None
    start, elapsed0 = 0, 0.0
    if state is None:
        run.create(cfg, overwrite)
    if cfg.diwgan.enabled:
        attach_diwgan(parts, dataset.train, run.path)
    if state is None:
        save_checkpoint(run.checkpoint, parts, 0, 0.0)  # so there is always a last good checkpoint
    else:
        restore(parts, state)
        start, elapsed0 = state["step"], state["elapsed_s"]
        run.truncate_metrics(start)
        run.write_config(cfg)

    base = {
        "preset": cfg.preset, "dataset": dataset.describe(), "config_hash": config_hash(cfg),
        "versions": {"modegan": modegan.__version__, "torch": torch.__version__},
    }
    if parts.diwgan is not None:
        base["diwgan"] = {"autoencoder_mse": parts.diwgan.ae_mse, "n_targets": int(parts.diwgan.targets.shape[0])}
    run.write_summary({**base, "status": "running", "step": start, "steps": tc.steps})
    train_set, train_weights, bs = dataset.train, dataset.weights, tc.batch_size
    last_ckpt, last_record = start, None
    sums: dict[str, torch.Tensor] = {}
    n_sum = 0
    t0 = time.perf_counter() - elapsed0
    label = f"{cfg.preset or 'custom'} on {cfg.data.name}"
    step = start
    try:
        with _Progress(progress, tc.steps, start, label) as bar:
            for step in range(start + 1, tc.steps + 1):
                out_t = train_step(parts, train_set, bs, train_weights)
                for k, v in out_t.items():
                    sums[k] = sums[k] + v if k in sums else v
                n_sum += 1
                if not (math.isfinite(out_t["d_loss"].item()) and math.isfinite(out_t["g_loss"].item())):
                    bad = [k for k, v in out_t.items() if not math.isfinite(v.item())]
                    raise TrainingDiverged(f"{', '.join(bad)} became non-finite")
                if step % 25 == 0:
                    bar.update(step)
                if step % tc.eval_every and step != tc.steps:
                    continue
                if not _finite_params(parts):
                    raise TrainingDiverged("a network parameter became non-finite")
                metrics, samples = evaluate(parts.G, dataset, cfg)
                elapsed = time.perf_counter() - t0
                record = {
                    "step": step,
                    "elapsed_s": round(elapsed, 3),
                    **{k: float(v) / n_sum for k, v in sums.items()},
                    "grad_norm_g": grad_norm(parts.G),
                    "grad_norm_d": grad_norm(parts.D),
                    **({"grad_norm_f": grad_norm(parts.F)} if parts.F is not None else {}),
                    **({"weights": parts.weighting.last_diagnostics()} if parts.weighting is not None else {}),
                    "metrics": metric_values(metrics),
                    "protocol": {k: m.protocol for k, m in metrics.items()},
                }
                sums, n_sum = {}, 0
                if tc.plots:
                    real = dataset.sample_real(len(samples), torch.Generator().manual_seed(tc.eval_seed + 1))
                    means = dataset.mixture.means if dataset.mixture is not None else None
                    scatter_png(run.sample_plot(step), samples, real, means, f"{label}, step {step}")
                run.append_metrics(record)
                if tb is not None:
                    _log_tensorboard(tb, record)
                if step % ckpt_every == 0 or step == tc.steps:
                    save_checkpoint(run.checkpoint, parts, step, elapsed)
                    last_ckpt = step
                last_record = record
                bar.update(step, _short(metrics))
    except TrainingDiverged as e:
        msg = (f"training diverged at step {step}: {e}; the last good checkpoint "
               f"(step {last_ckpt}) is kept in {run.checkpoint}")
        run.write_summary({**base, "status": "diverged", "step": step, "error": msg,
                           "last_checkpoint_step": last_ckpt})
        raise TrainingDiverged(msg) from None
    except KeyboardInterrupt:
        run.write_summary({**base, "status": "interrupted", "step": step, "last_checkpoint_step": last_ckpt})
        raise
    finally:
        if tb is not None:
            tb.close()

    save_file(
        {k: v.contiguous() for k, v in parts.G.state_dict().items()},
        str(run.generator),
        metadata={"config": json.dumps(cfg.to_dict()), "step": str(tc.steps)},
    )
    last_record = last_record or (run.read_metrics() or [None])[-1]
    summary = {
        **base, "status": "finished", "step": tc.steps,
        "elapsed_s": round(time.perf_counter() - t0, 3),
        "metrics": last_record["metrics"] if last_record else {},
        "protocol": last_record["protocol"] if last_record else {},
    }
    run.write_summary(summary)
    return summary


def _tensorboard(path: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        msg = "train.tensorboard needs the tensorboard package: pip install 'modegan[tensorboard]'"
        raise ModeganError(msg) from None
    return SummaryWriter(str(path / "tensorboard"))


def _log_tensorboard(tb, record: dict) -> None:
    step = record["step"]
    for k, v in record.items():
        if isinstance(v, float):
            tb.add_scalar(f"train/{k}", v, step)
    for k, v in record["metrics"].items():
        tb.add_scalar(f"metrics/{k}", v, step)
