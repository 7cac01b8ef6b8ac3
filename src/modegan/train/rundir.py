"""The files of a run directory, written so that nothing already written is lost.

config.yaml       the resolved config (what resume reloads)
metrics.jsonl     one evaluation a line: losses, gradient norms, metrics with their protocol, time
checkpoint.pt     the latest good checkpoint (atomic)
generator.safetensors   the final generator weights, config in the metadata
generator_ema.safetensors  the final EMA of the generator's weights (train.ema > 0), the same layout
samples/step_*.png      generated samples over the real data at each evaluation
summary.json      the final state: status, last metrics, wall time, versions
tensorboard/, wandb/, mlruns/, tracker.json   the tracker's logs (train.tracker; `trackers`)
.lock             held (flock) by the process training the run; holds its PID

Every file is replaced atomically or appended line by line (`files`); readers check what they read and turn
a corrupt, partial or foreign file into one ModeganError line naming it. `metrics.jsonl` may end with a torn
line (a kill during an append): readers skip it and resume drops it (its evaluation comes after the last
checkpoint, so it is redone).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from modegan.config import RunConfig, from_dict, validate
from modegan.errors import ModeganError
from modegan.train.checkpoint import CHECKPOINT
from modegan.train.files import append_line, atomic_write, remove_stale_tmp


def _atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, text.encode())


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ModeganError(f"{what} {path} is not UTF-8 text (binary or corrupt; byte {e.start})") from None
    except OSError as e:
        raise ModeganError(f"cannot read {path}: {e.strerror or e}") from None


# What every run's config.yaml has held since run directories record it (`write_config` writes the whole
# resolved config; image-only keys at their toy value are left out, so they are not listed). A key added to
# the config later gets a default, and an older run may lack it, so new keys are not added here.
WRITTEN_KEYS = {
    "data": ["name", "seed", "n_train", "mode_probs"],
    "model": ["z_dim", "g_width", "g_depth", "d_width", "d_depth", "activation", "g_norm", "d_norm", "spectral_norm"],
    "loss": ["type", "clip", "gp_weight", "gp_center", "n_critic"],
    "g_optim": ["name", "lr", "betas", "alpha", "momentum", "weight_decay"],
    "d_optim": ["name", "lr", "betas", "alpha", "momentum", "weight_decay"],
    "train": ["steps", "batch_size", "seed", "eval_every", "ckpt_every", "eval_samples", "eval_seed", "hq_threshold",
              "threads", "plots", "tensorboard"],
    "weighting": ["gen", "disc_fake", "disc_real", "temperature", "detach", "topk_start", "topk_decay", "topk_min",
                  "topk_every"],
    "diwgan": ["enabled", "alpha", "n_history", "bandwidth", "targets", "n_targets", "target_stat", "ema", "encoder",
               "latent_dim", "ae_steps", "ae_lr"],
    "scheme": ["unroll", "pack", "veegan"],
}


def required_config_keys() -> dict[str, list[str]]:
    """The sections and keys a run's config.yaml must hold: `WRITTEN_KEYS` that the config still has (a key
    removed from the config is not required)."""
    current = RunConfig().to_dict()
    return {sec: [k for k in keys if k in current.get(sec, {})] for sec, keys in WRITTEN_KEYS.items()
            if isinstance(current.get(sec), dict)}


# modegan.fit's record of the user's networks and data, and the weights of its frozen ones (DIWGAN's encoder,
# the metrics' feature extractor and classifier), which no checkpoint holds
FIT_FILES = ("parts.json", "data.pt", "encoder.pt", "features.pt", "classifier.pt", "labels.pt")


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.config = self.path / "config.yaml"
        self.metrics = self.path / "metrics.jsonl"
        self.checkpoint = self.path / CHECKPOINT
        self.summary = self.path / "summary.json"
        self.generator = self.path / "generator.safetensors"
        self.generator_ema = self.path / "generator_ema.safetensors"
        self.samples = self.path / "samples"
        self.autoencoder = self.path / "autoencoder.safetensors"  # DIWGAN's cached, frozen autoencoder
        self.error = self.path / "error.txt"  # the traceback of a benchmark run that failed

    def has_run(self) -> bool:
        return self.config.exists() or self.checkpoint.exists() or self.metrics.exists()

    def never_checkpointed(self) -> bool:
        """A config but no checkpoint and no evaluation: killed before its first checkpoint was written
        (e.g. during DIWGAN's phase 0 or the step-0 write). Nothing is lost by starting it again."""
        return self.config.is_file() and not self.checkpoint.exists() and not self.read_metrics()

    def remove_stale_tmp(self) -> None:
        remove_stale_tmp(self.path)

    def check_new(self, overwrite: bool) -> None:
        """Refuse a path that is a file, or a directory holding a run unless `overwrite`; writes nothing, so
        `train` calls it before taking the lock (and `create` again under it, against a racing process)."""
        if self.path.exists() and not self.path.is_dir():
            raise ModeganError(f"output path {self.path} exists and is not a directory")
        if self.has_run() and not overwrite:
            raise ModeganError(
                f"{self.path} already holds a run; resume it with --resume {self.path}, "
                "or choose another --out (or pass --overwrite)"
            )

    def create(self, cfg: RunConfig, overwrite: bool) -> None:
        self.check_new(overwrite)
        if overwrite:
            self.clear()
        self.path.mkdir(parents=True, exist_ok=True)
        self.remove_stale_tmp()
        self.write_config(cfg)

    def clear(self) -> None:
        """Remove every file a run writes, so the directory holds no run."""
        for f in (self.config, self.metrics, self.checkpoint, self.summary, self.generator, self.generator_ema,
                  self.autoencoder, self.error):
            f.unlink(missing_ok=True)
        for png in self.samples.glob("step_*.png"):
            png.unlink()
        for name in FIT_FILES:  # else a built-in run written over a fit run would load as one
            (self.path / name).unlink(missing_ok=True)
        from modegan.train.trackers import DIRS, STATE

        (self.path / STATE).unlink(missing_ok=True)
        for name in DIRS.values():  # the trackers' default logs: else the old run's curves mix with the new one's
            if (self.path / name).is_dir():
                shutil.rmtree(self.path / name)

    def write_config(self, cfg: RunConfig) -> None:
        _atomic_write_text(self.config, yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    def read_config(self) -> RunConfig:
        if not self.config.is_file():
            raise ModeganError(f"{self.path} is not a run directory (no config.yaml)")
        text = _read_text(self.config, "config")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ModeganError(f"{self.config} is not valid YAML: {str(e).splitlines()[0]}") from None
        if data is None:
            raise ModeganError(f"{self.config} is empty; a run's config is written whole, so this run cannot be "
                               "resumed or evaluated (start it again with --overwrite)")
        if not isinstance(data, dict):
            raise ModeganError(f"{self.config} must hold a mapping of sections, got {type(data).__name__}")
        missing = [f"{sec}.{k}" if k else sec for sec, keys in required_config_keys().items()
                   for k in ([None] if not isinstance(data.get(sec), dict) else
                             [k for k in keys if k not in data[sec]])]
        missing += [] if "preset" in data else ["preset"]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise ModeganError(f"{self.config} is incomplete (missing {shown}); a run's config is written whole, "
                               "so the run cannot be resumed or evaluated from it")
        if self._legacy_dcgan_norms(data):  # written when DCGAN took no other value: "none" meant its own
            data["model"] = {**data["model"], "g_norm": None, "d_norm": None}
        scheme = data.get("scheme")
        if isinstance(scheme, dict) and scheme.get("unroll") and "unroll_objective" not in scheme:
            data["scheme"] = {**scheme, "unroll_objective": "fake_only"}  # what versions before the key trained
        try:
            return validate(from_dict(RunConfig, data))
        except ModeganError as e:
            raise ModeganError(f"{self.config}: {e}") from None

    def _legacy_dcgan_norms(self, data: dict) -> bool:
        """A DCGAN config saying g_norm: none and d_norm: none whose generator has batch norm: written before
        the DCGAN networks took model.g_norm/d_norm, when "none" was the only value and meant DCGAN's own
        normalisation (now unset, None). The weights tell it from a run that chose no normalisation."""
        model = data.get("model")
        if not isinstance(model, dict) or model.get("arch") != "dcgan" or \
                (model.get("g_norm"), model.get("d_norm")) != ("none", "none"):
            return False
        try:
            if self.generator.is_file():
                from safetensors import safe_open

                with safe_open(str(self.generator), "pt") as f:
                    keys = list(f.keys())
            elif self.checkpoint.is_file():
                import torch

                keys = list(torch.load(self.checkpoint, weights_only=True, mmap=True)["modules"]["G"])
            else:
                return False
        except Exception:  # noqa: BLE001 - an unreadable file is reported by whoever reads it next
            return False
        return any(k.endswith("running_mean") for k in keys)

    def append_metrics(self, record: dict) -> None:
        append_line(self.metrics, json.dumps(record))

    def read_metrics(self) -> list[dict]:
        """The evaluation records; a torn last line (no newline, not JSON: a kill during an append) is skipped,
        any other bad line is an error naming it."""
        return self._parse_metrics()[0]

    def _parse_metrics(self) -> tuple[list[dict], bool]:
        if not self.metrics.exists():
            return [], False
        text = _read_text(self.metrics, "metrics file")
        lines = text.split("\n")  # the last element is '' when the file ends with a newline
        out, torn = [], False
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if i == len(lines):  # no newline after it: an append cut short
                    torn = True
                    continue
                raise ModeganError(f"{self.metrics}:{i} is not valid JSON") from None
            step = record.get("step") if isinstance(record, dict) else None
            if isinstance(step, bool) or not isinstance(step, int) or not isinstance(record.get("metrics", {}), dict):
                raise ModeganError(f"{self.metrics}:{i} is not an evaluation record (an object with an integer "
                                   "'step' and a 'metrics' object)")
            out.append(record)
        return out, torn

    def truncate_metrics(self, step: int) -> None:
        """Drop evaluations after `step` (the checkpoint resumed from) and a torn last line; they are redone."""
        records, torn = self._parse_metrics()
        kept = [r for r in records if r["step"] <= step]
        if torn or len(kept) != len(records) or not self.metrics.exists():
            _atomic_write_text(self.metrics, "".join(json.dumps(r) + "\n" for r in kept))

    def write_summary(self, summary: dict) -> None:
        _atomic_write_text(self.summary, json.dumps(summary, indent=2) + "\n")

    def read_summary(self) -> dict | None:
        """summary.json as an object (None when there is none); anything else is an error naming the file."""
        if not self.summary.exists():
            return None
        text = _read_text(self.summary, "summary")
        try:
            summary = json.loads(text)
        except json.JSONDecodeError as e:
            raise ModeganError(f"{self.summary} is not valid JSON (half-written or corrupt: {e.msg} at line "
                               f"{e.lineno})") from None
        if not isinstance(summary, dict):
            raise ModeganError(f"{self.summary} must hold a JSON object, got {type(summary).__name__}")
        return summary

    def sample_plot(self, step: int) -> Path:
        return self.samples / f"step_{step:07d}.png"
