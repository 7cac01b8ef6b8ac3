"""`bench budget`: budget.csv from the runs' evaluations, the plateau table, budget.html, bad input."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from modegan.bench.budget import Evaluation, plateau, plateau_step, run_budget
from modegan.cli import main

TINY = {"data": {"n_train": 2000}, "train": {"eval_samples": 300}, "model": {"g_width": 16, "d_width": 16}}


@pytest.fixture(scope="module")
def budget_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("budget")
    run_budget(out, methods=["gan"], datasets=["ring8"], seeds=2, steps=40, eval_every=20, overrides=TINY,
               workers=1)
    return out


def test_budget_csv_is_every_evaluation_of_every_run(budget_dir):
    with open(budget_dir / "budget.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["dataset"], r["method"], r["seed"], r["step"]) for r in rows] == [
        ("ring8", "gan", s, t) for s in ("0", "1") for t in ("20", "40")]
    for seed in (0, 1):
        lines = (budget_dir / f"runs/ring8/gan/seed{seed}/metrics.jsonl").read_text().splitlines()
        for rec, row in zip(map(json.loads, lines), [r for r in rows if r["seed"] == str(seed)], strict=True):
            assert float(row["elapsed_s"]) == rec["elapsed_s"] and float(row["w1"]) == rec["metrics"]["w1"]
    assert yaml.safe_load((budget_dir / "bench.yaml").read_text())["benchmark"] == "budget"


def test_budget_writes_the_plateau_table_the_page_and_the_tables(budget_dir):
    md = (budget_dir / "budget.md").read_text()
    assert "## ring8" in md and "| gan | 2 | 40 |" in md and "reference: uniform box: hqs" in md  # reached step 40
    page = (budget_dir / "budget.html").read_text()
    assert page.count("<img ") == 1 and page.count('src="data:image/png;base64,') == 1
    assert "http://" not in page and "https://" not in page and "<td>gan</td>" in page
    assert "reference: true mixture" in (budget_dir / "results.md").read_text()


def test_a_rerun_trains_nothing_and_rewrites_the_outputs(budget_dir):
    before = {p: p.stat().st_mtime_ns for p in (budget_dir / "runs").rglob("generator.safetensors")}
    (budget_dir / "budget.csv").unlink()
    run_budget(budget_dir, methods=["gan"], datasets=["ring8"], seeds=2, steps=40, eval_every=20, overrides=TINY,
               workers=1)
    assert before == {p: p.stat().st_mtime_ns for p in (budget_dir / "runs").rglob("generator.safetensors")}
    assert (budget_dir / "budget.csv").exists()


def test_the_merging_script_writes_one_study_from_several_directories(budget_dir, tmp_path):
    """benchmarks/budget_figures.py over a study split in two directories: one budget.csv with both, and a
    figure per dataset."""
    import subprocess
    import sys
    from pathlib import Path

    other = tmp_path / "other"
    run_budget(other, methods=["wgan"], datasets=["ring8"], seeds=1, steps=20, eval_every=20, overrides=TINY,
               workers=1)
    script = Path(__file__).parents[1] / "benchmarks" / "budget_figures.py"
    subprocess.run([sys.executable, str(script), str(budget_dir), str(other), "--out", str(tmp_path / "m")],
                   check=True, capture_output=True)
    with open(tmp_path / "m" / "budget.csv") as f:
        got = sorted({(r["method"], r["seed"]) for r in csv.DictReader(f)})
    assert got == [("gan", "0"), ("gan", "1"), ("wgan", "0")]
    assert (tmp_path / "m" / "budget_ring8.png").stat().st_size > 10_000
    assert "| wgan | 1 | 20 |" in (tmp_path / "m" / "budget.md").read_text()


def test_plateau_step_by_hand():
    assert plateau_step([(1, 10.0), (2, 50.0), (3, 52.0), (4, 48.0)]) == 2  # 50, 52 within 5 of 48
    assert plateau_step([(1, 10.0), (2, 50.0), (3, 20.0)]) == 3  # only the last evaluation: not settled
    assert plateau_step([(1, 48.0), (2, None), (3, 47.0)]) == 3  # a missing value breaks the run of values
    assert plateau_step([]) is None and plateau_step([(1, None)]) is None


def test_plateau_keeps_the_most_modes_against_the_final():
    def run(seed, modes, hqs):
        return [Evaluation("d", "m", seed, 10 * (i + 1), float(i), {"modes": k, "hqs": h})
                for i, (k, h) in enumerate(zip(modes, hqs, strict=True))]

    p = plateau("d", "m", {0: run(0, [5, 8, 6], [10, 60, 62]), 1: run(1, [5, 7, 7], [10, 20, 70])})
    assert (p.max_modes, p.final_modes, p.seeds_losing_modes, p.seeds) == (7.5, 6.5, 1, 2)
    assert p.final_hqs == 66 and p.hqs_plateau == 30 and p.hqs_plateau_latest == 30  # mean: 10, 40, 66
    assert p.last_step == 30


@pytest.mark.parametrize(("args", "message"), [
    (["--methods", "gan,nope"], "unknown preset 'nope'"),
    (["--datasets", "ring9"], "unknown dataset 'ring9'"),
    (["--eval-every", "0"], "--eval-every"),
    (["--steps", "40", "--eval-every", "100"], "must be at most --steps (40)"),
    (["--seeds", "0"], "--seeds"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, message):
    assert main(["bench", "budget", *args, "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("error: ")
    assert not (tmp_path / "b").exists()
