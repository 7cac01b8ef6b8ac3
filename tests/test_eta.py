"""bench/eta.py: the expected duration of a plan, and its correction by the runs that finished."""

import json

import pytest

from modegan.bench.eta import EVAL_S, STEP_RATES, Eta, duration_text, estimate_seconds, schedule
from modegan.bench.runs import plan


def specs(tmp_path, methods=("gan", "unrolled"), seeds=(0, 1), steps=1000, every=500, data="ring8"):
    return plan(tmp_path, list(methods), {data: {"data": {"name": data}}}, list(seeds),
                {"train": {"steps": steps, "eval_every": every}})


def test_schedule_hands_jobs_to_the_first_free_worker():
    assert schedule([3.0, 1.0, 1.0, 1.0], 2) == 3.0  # 3 | 1+1+1
    assert schedule([1.0, 1.0, 4.0], 2) == 5.0  # 1+4 | 1
    assert schedule([2.0, 2.0], 1) == 4.0
    assert schedule([], 2) == 0.0


def test_estimate_from_the_measured_rates(tmp_path):
    # gan and unrolled batch their 2 seeds: one job each, per-seed batched rates, plus 2 evaluations a seed
    ss = specs(tmp_path)
    gan = 2 * (1000 / STEP_RATES["gan"][1] + 2 * EVAL_S)
    unrolled = 2 * (1000 / STEP_RATES["unrolled"][1] + 2 * EVAL_S)
    assert estimate_seconds(ss, workers=2) == pytest.approx(max(gan, unrolled))
    assert estimate_seconds(ss, workers=1) == pytest.approx(gan + unrolled)
    # unbatched: four jobs at the rates of a run alone
    single = [1000 / STEP_RATES[m][0] + 2 * EVAL_S for m in ("gan", "unrolled")]
    assert estimate_seconds(ss, workers=1, batch=False) == pytest.approx(2 * sum(single))


def finish(spec, elapsed_s):
    spec.path.mkdir(parents=True)
    (spec.path / "summary.json").write_text(json.dumps({"status": "finished", "step": spec.cfg.train.steps,
                                                        "elapsed_s": elapsed_s}))


def test_finished_runs_replace_the_prior(tmp_path):
    ss = specs(tmp_path, seeds=(0,))  # one run a method: a job each
    eta = Eta(ss, workers=1)
    gan, unrolled = ss
    finish(gan, 20.0)  # 0.02 s a step
    eta.finished([gan], [{"status": "finished"}])
    # unrolled has no measurement of its own: the mean of all measured (gan's), 1000 steps left
    assert eta.seconds_left() == pytest.approx(20.0)
    assert eta.remaining() == pytest.approx(20.0, abs=0.5)


def test_a_batch_shares_its_wall_seconds(tmp_path):
    ss = specs(tmp_path, methods=("gan",), seeds=(0, 1))
    more = specs(tmp_path, methods=("gan",), seeds=(0, 1), data="grid25")
    eta = Eta(ss + more, workers=1)
    for s in ss:
        finish(s, 30.0)  # both seeds in one batch of 30 s: 0.015 s a step and seed
    eta.finished(ss, [{"status": "finished"}] * 2)
    assert eta.measured["gan"] == [pytest.approx(0.015)] * 2
    assert eta.seconds_left() == pytest.approx(30.0)


def test_duration_text():
    assert duration_text(42) == "42 s"
    assert duration_text(600) == "10 min"
    assert duration_text(3 * 3600) == "3.0 h"


def test_step_rates_are_the_measured_ones():
    """STEP_RATES copies benchmarks/results/throughput_cpu.csv (rerun throughput.py, then update both)."""
    import csv
    from pathlib import Path

    with open(Path(__file__).parents[1] / "benchmarks" / "results" / "throughput_cpu.csv") as f:
        measured = {r["preset"]: (float(r["single_steps_s"]), float(r["batched_steps_s_seed"]))
                    for r in csv.DictReader(f)}
    assert set(STEP_RATES) == set(measured)
    for preset, (alone, batched) in measured.items():
        assert STEP_RATES[preset] == (pytest.approx(alone, abs=0.06), pytest.approx(batched, abs=0.06)), preset


def test_image_runs_take_the_dcgan_rate(tmp_path):
    from modegan.bench.eta import IMAGE_EVAL_S, IMAGE_RATE, prior_seconds_per_step

    (spec,) = plan(tmp_path, ["gan"], {"stacked-mnist": {"data": {"name": "stacked-mnist"}}}, [0],
                   {"train": {"steps": 1000, "eval_every": 500}})
    assert prior_seconds_per_step(spec, batched=False) == pytest.approx(1 / IMAGE_RATE + IMAGE_EVAL_S / 500)
