"""Load a trained generator from a run directory, ready to sample."""

from __future__ import annotations

from pathlib import Path

import torch

from modegan.device import resolve_device
from modegan.errors import ModeganError
from modegan.limits import MAX_ELEMENTS, check_elements, check_int, check_seed, per_sample_elements
from modegan.nets.dcgan import DCGANGenerator
from modegan.nets.mlp import MLPGenerator
from modegan.safetensors_file import read_safetensors
from modegan.train.checkpoint import read_checkpoint, state_dict_error
from modegan.train.parts import build_generator
from modegan.train.rundir import RunDir


def load(run_dir: str | Path, device: str | torch.device = "cpu", generator: torch.nn.Module | None = None,
         ema: bool = False) -> MLPGenerator | DCGANGenerator:
    """The run's generator in eval mode on `device` (default the CPU, whatever the run trained on; "auto" and
    the other names of `modegan.device`): final weights if the run finished, else its latest checkpoint.
    `ema`: the moving average of its weights instead (a run trained with train.ema > 0).
    A `modegan.fit` run's generator is rebuilt from its parts.json, or is the `generator` given."""
    device = device if isinstance(device, torch.device) else resolve_device(device, "device")
    from modegan.fit import is_fit_run, load_fit

    if is_fit_run(run_dir):
        if ema:
            raise ModeganError(f"{run_dir} is a modegan.fit run: loading its EMA generator is not supported yet; "
                               "load(run) gives the trained one")
        return load_fit(run_dir, device, generator)
    run = RunDir(run_dir)
    cfg = run.read_config()
    if ema and cfg.train.ema == 0:
        raise ModeganError(f"{run.path} kept no EMA generator (train.ema is 0); load it with ema=False")
    c, size = cfg.data.channels, cfg.data.image_size
    dim = c * size * size if cfg.model.arch == "dcgan" else _data_dim(run)
    G = build_generator(cfg, dim, _n_classes(run) if cfg.model.conditioning != "none" else None)
    source, weights = _weights(run, "G_ema" if ema else "G")
    try:
        G.load_state_dict(weights)
    except (RuntimeError, KeyError, ValueError, TypeError) as e:
        raise ModeganError(f"{source} does not fit the generator of the run's config.yaml "
                           f"({state_dict_error(e)})") from None
    return G.eval().to(device)


def _weights(run: RunDir, name: str) -> tuple[Path, dict]:
    """The final weights of G (or G_ema) if the run finished, else those of its latest checkpoint."""
    final = run.generator_ema if name == "G_ema" else run.generator
    if final.exists():
        return final, read_safetensors(final, "generator weights")[1]
    if not run.checkpoint.exists():
        raise ModeganError(f"{run.path} has no trained weights yet (no {final.name} or checkpoint.pt)")
    weights = read_checkpoint(run.checkpoint)["modules"].get(name)
    if weights is None:
        raise ModeganError(f"checkpoint {run.checkpoint} is malformed: no generator state (modules.{name})")
    return run.checkpoint, weights


def _data_dim(run: RunDir) -> int:
    summary = run.read_summary()
    if not summary or "dataset" not in summary:
        raise ModeganError(f"{run.path} has no summary.json describing its data; was it started by modegan?")
    dim = summary["dataset"].get("dim") if isinstance(summary["dataset"], dict) else None
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ModeganError(f"{run.summary}: 'dataset.dim' must be a positive integer, got {dim!r}")
    return dim


def _n_classes(run: RunDir) -> int:
    summary = run.read_summary()
    n = summary.get("dataset", {}).get("n_classes") if isinstance(summary, dict) else None
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ModeganError(f"{run.summary}: a conditional run's 'dataset.n_classes' must be a positive integer, "
                           f"got {n!r}")
    return n


def sample(run_dir: str | Path, n: int, seed: int = 0, device: str | torch.device = "cpu", labels=None,
           truncation: float | None = None) -> torch.Tensor:
    """`n` samples from the run's generator, drawn with `seed` (z on the CPU, so the same on every device);
    the generator runs on `device`, the samples come back on the CPU. A conditional run takes `labels` (a
    class index for all, or one per sample; default: drawn from its class prior); `truncation` ψ redraws
    every z coordinate beyond ±ψ (`train.control`)."""
    if labels is not None or truncation is not None:
        from modegan.train.control import sample_controlled

        return sample_controlled(run_dir, n, seed, device, labels=labels, truncation=truncation)
    check_int(n, "number of samples (-n)", 1, MAX_ELEMENTS)
    check_seed(seed, "sampling seed (--seed)")
    check_sample_size(run_dir, n)
    return load(run_dir, device).sample(n, torch.Generator().manual_seed(seed)).cpu()


def check_sample_size(run_dir: str | Path, n: int) -> None:
    """Refuse n samples whose widest activations through the run's generator would be too large."""
    cfg = RunDir(run_dir).read_config()
    m, d = cfg.model, cfg.data
    dim = d.channels * d.image_size**2 if m.arch == "dcgan" else 1
    check_elements(f"{n:,} samples", n * per_sample_elements(m.arch, m.g_width, m.z_dim, dim, d.image_size),
                   "the samples through the generator; draw fewer at a time")
