"""The files of a run directory, written so that nothing already written is lost.

config.yaml       the resolved config (what resume reloads)
metrics.jsonl     one evaluation a line: losses, gradient norms, metrics with their protocol, time
checkpoint.pt     the latest good checkpoint (atomic)
generator.safetensors   the final generator weights, config in the metadata
samples/step_*.png      generated samples over the real data at each evaluation
summary.json      the final state: status, last metrics, wall time, versions
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from modegan.config import RunConfig, from_dict, validate
from modegan.errors import ModeganError
from modegan.train.checkpoint import CHECKPOINT


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.config = self.path / "config.yaml"
        self.metrics = self.path / "metrics.jsonl"
        self.checkpoint = self.path / CHECKPOINT
        self.summary = self.path / "summary.json"
        self.generator = self.path / "generator.safetensors"
        self.samples = self.path / "samples"
        self.autoencoder = self.path / "autoencoder.safetensors"  # DIWGAN's cached, frozen autoencoder
        self.error = self.path / "error.txt"  # the traceback of a benchmark run that failed

    def has_run(self) -> bool:
        return self.config.exists() or self.checkpoint.exists() or self.metrics.exists()

    def create(self, cfg: RunConfig, overwrite: bool) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise ModeganError(f"output path {self.path} exists and is not a directory")
        if self.has_run() and not overwrite:
            raise ModeganError(
                f"{self.path} already holds a run; resume it with --resume {self.path}, "
                "or choose another --out (or pass --overwrite)"
            )
        if overwrite:
            self.clear()
        self.path.mkdir(parents=True, exist_ok=True)
        self.write_config(cfg)

    def clear(self) -> None:
        """Remove every file a run writes, so the directory holds no run."""
        for f in (self.config, self.metrics, self.checkpoint, self.summary, self.generator, self.autoencoder,
                  self.error):
            f.unlink(missing_ok=True)
        for png in self.samples.glob("step_*.png"):
            png.unlink()

    def write_config(self, cfg: RunConfig) -> None:
        _atomic_write_text(self.config, yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    def read_config(self) -> RunConfig:
        if not self.config.is_file():
            raise ModeganError(f"{self.path} is not a run directory (no config.yaml)")
        try:
            data = yaml.safe_load(self.config.read_text())
        except yaml.YAMLError as e:
            raise ModeganError(f"{self.config} is not valid YAML: {str(e).splitlines()[0]}") from None
        return validate(from_dict(RunConfig, data))

    def append_metrics(self, record: dict) -> None:
        with open(self.metrics, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()

    def read_metrics(self) -> list[dict]:
        if not self.metrics.exists():
            return []
        out = []
        for i, line in enumerate(self.metrics.read_text().splitlines(), 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    raise ModeganError(f"{self.metrics}:{i} is not valid JSON") from None
        return out

    def truncate_metrics(self, step: int) -> None:
        """Drop evaluations after `step` (the checkpoint resumed from); they will be redone exactly."""
        kept = [r for r in self.read_metrics() if r["step"] <= step]
        _atomic_write_text(self.metrics, "".join(json.dumps(r) + "\n" for r in kept))

    def write_summary(self, summary: dict) -> None:
        _atomic_write_text(self.summary, json.dumps(summary, indent=2) + "\n")

    def read_summary(self) -> dict | None:
        return json.loads(self.summary.read_text()) if self.summary.exists() else None

    def sample_plot(self, step: int) -> Path:
        return self.samples / f"step_{step:07d}.png"
