"""The Ray path of `bench mog` writes the same runs, results and report as the local path."""

from __future__ import annotations

import csv

import pytest

from modegan.bench import run_mog
from modegan.bench.results import METRICS

pytestmark = pytest.mark.ray


# ~90 s on 2 quiet cores (two local Ray instances): in `make test-slow`, to keep the default suite under 10 min

TINY = {"data": {"n_train": 2000}, "train": {"eval_samples": 300}}
ARGS = {"methods": ["gan"], "datasets": ["ring8"], "seeds": 2, "steps": 30, "eval_every": 10, "overrides": TINY}


def metrics(path):
    with open(path) as f:
        return {(r["method"], r["seed"]): ({k: r[k] for k in METRICS}, r["config_hash"]) for r in csv.DictReader(f)}


@pytest.mark.slow
def test_ray_local_matches_the_local_path_and_resumes(tmp_path):
    pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'modegan[ray]'")
    run_mog(tmp_path / "local", workers=1, **ARGS)
    rows = run_mog(tmp_path / "ray", ray="local", **ARGS)
    assert [r.status for r in rows] == ["finished", "finished"]
    assert metrics(tmp_path / "ray" / "results.csv") == metrics(tmp_path / "local" / "results.csv")
    assert (tmp_path / "ray" / "report.html").exists()
    # a second Ray run finds everything done and retrains nothing
    gen = tmp_path / "ray" / "runs" / "ring8" / "gan" / "seed0" / "generator.safetensors"
    mtime = gen.stat().st_mtime_ns
    run_mog(tmp_path / "ray", ray="local", **ARGS)
    assert gen.stat().st_mtime_ns == mtime
