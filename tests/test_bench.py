"""`bench mog` and `compare`: statistics, published numbers, outputs, resume, failures."""

from __future__ import annotations

import csv
import importlib
import json
import math
import re

import pytest

from modegan.bench import bootstrap_diff, compare, run_mog
from modegan.bench.mog import MOG_DATASETS
from modegan.bench.published import PUBLISHED
from modegan.bench.results import KNOWN, METRICS, collect
from modegan.bench.stats import cell
from modegan.cli import main
from modegan.errors import ModeganError
from modegan.presets import PRESETS

TINY = {"data": {"n_train": 2000}, "train": {"eval_samples": 300}}


def tiny_bench(out, **kw):
    args = {"methods": ["gan", "wgan"], "datasets": ["ring8", "cube27"], "seeds": 2, "steps": 40,
            "eval_every": 10, "overrides": TINY, "workers": 1}
    return run_mog(out, **{**args, **kw})


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    tiny_bench(out)
    return out


def read_csv(path, runs_only=False):
    """results.csv's rows; `runs_only`: without the calibration rows (method `reference: ...`, seed empty)."""
    with open(path) as f:
        return [r for r in csv.DictReader(f) if not runs_only or r["seed"] != ""]


# --- statistics --------------------------------------------------------------------------------------------


def test_cell_mean_and_sample_std_by_hand():
    c = cell([1.0, 2.0, 6.0])
    assert c.mean == pytest.approx(3.0)
    assert c.std == pytest.approx(math.sqrt(((1 - 3) ** 2 + (2 - 3) ** 2 + (6 - 3) ** 2) / 2))  # ddof 1
    assert c.format() == "3 (2.6)"


def test_cell_counts_missing_values_and_keeps_per_seed_values():
    c = cell([4.0, None, float("nan"), 2.0])
    assert c.values == (4.0, 2.0)
    assert c.format() == "3 (1.4) [2/4]"
    assert cell([None, None]).format() == "-"


def test_bootstrap_interval_brackets_a_clear_difference():
    ci = bootstrap_diff([10.0, 11.0, 12.0], [0.0, 1.0, 2.0], n_boot=2000, seed=1)
    assert ci.estimate == pytest.approx(10.0)
    # every resampled mean of a is in [10, 12] and of b in [0, 2], so the difference lies in [8, 12]
    assert 8.0 <= ci.low < 10.0 < ci.high <= 12.0


def test_bootstrap_interval_of_equal_groups_contains_zero_and_is_seeded():
    a, b = [0.2, 0.5, 0.1, 0.4], [0.3, 0.2, 0.5, 0.2]
    ci = bootstrap_diff(a, b, seed=3)
    assert ci.low < 0 < ci.high
    assert bootstrap_diff(a, b, seed=3) == ci


def test_bootstrap_needs_two_values_per_method():
    with pytest.raises(ModeganError, match="at least 2 values"):
        bootstrap_diff([1.0], [1.0, 2.0])


def test_published_numbers_name_our_datasets_presets_and_metrics():
    assert len({p.source for p in PUBLISHED}) == 6
    for p in PUBLISHED:
        assert p.dataset in MOG_DATASETS or p.dataset.startswith("stacked-mnist/")
        assert p.preset is None or p.preset in PRESETS
        assert set(p.values) <= set(KNOWN)
    diwgan_ring = [p for p in PUBLISHED if p.dataset == "ring8" and p.preset == "diwgan"]
    assert diwgan_ring[0].values == {"modes": "8 (0)", "hqs": "85.5", "jsd_grid": "0.172"}


# --- the benchmark -----------------------------------------------------------------------------------------


def test_bench_writes_a_row_per_run_and_the_tables(bench_dir):
    rows = read_csv(bench_dir / "results.csv", runs_only=True)
    assert len(rows) == 2 * 2 * 2
    assert {(r["dataset"], r["method"], r["seed"]) for r in rows} == {
        (d, m, str(s)) for d in ("ring8", "cube27") for m in ("gan", "wgan") for s in (0, 1)}
    assert all(r["status"] == "finished" and len(r["config_hash"]) == 12 for r in rows)
    # runs of one method differ only by seed: one setting hash, distinct config hashes
    gan = [r for r in rows if r["method"] == "gan" and r["dataset"] == "ring8"]
    assert gan[0]["setting_hash"] == gan[1]["setting_hash"] and gan[0]["config_hash"] != gan[1]["config_hash"]
    summary = json.loads((bench_dir / "runs" / "ring8" / "gan" / "seed1" / "summary.json").read_text())
    assert float(gan[1]["modes"]) == summary["metrics"]["modes"]

    md = (bench_dir / "results.md").read_text()
    assert "40 generator steps" in md and "## ring8" in md and "## cube27" in md
    assert "| gan | 2/2 |" in md and "| reference: true mixture | - |" in md  # each row says its seeds
    assert "DIWGAN submission (ICLR 2019), Table 1" in md and "PacGAN (Lin et al. 2018)" in md
    assert "under different settings" in md and "`modes`:" in md  # published labelled; protocol recorded


def test_bench_cells_are_the_mean_of_the_per_seed_values(bench_dir):
    rows = read_csv(bench_dir / "results.csv")
    w1 = [float(r["w1"]) for r in rows if r["method"] == "wgan" and r["dataset"] == "ring8"]
    expected = cell(w1).format()
    ring8 = (bench_dir / "results.md").read_text().split("## cube27")[0].splitlines()
    column = next(x for x in ring8 if x.startswith("| method |")).split(" | ").index("w1")
    line = next(x for x in ring8 if x.startswith("| wgan |"))
    assert line.split(" | ")[column].removesuffix(" ≈ noise") == expected


def test_results_carry_calibration_rows_and_noise_flags(bench_dir):
    from modegan.bench.calibration import TRUE_MIXTURE, UNIFORM_BOX, calibration_for, noise_flags
    from modegan.bench.results import collect

    rows = read_csv(bench_dir / "results.csv")
    refs = {(r["dataset"], r["method"]): r for r in rows if r["seed"] == ""}
    assert set(refs) == {(d, m) for d in ("ring8", "cube27") for m in (TRUE_MIXTURE, UNIFORM_BOX)}
    assert all(r["status"] == "reference" and r["config_hash"] == "" for r in refs.values())
    run = next(r for r in collect([bench_dir / "runs" / "ring8" / "gan" / "seed0"]))
    expected = calibration_for(run.evaluation)  # the runs' own protocol: 300 samples, seed 2,500
    assert run.evaluation.eval_samples == 300
    for label in (TRUE_MIXTURE, UNIFORM_BOX):
        assert float(refs[("ring8", label)]["hqs"]) == pytest.approx(expected[label]["hqs"])
    uniform = {k: float(v) for k, v in refs[("ring8", UNIFORM_BOX)].items() if k in METRICS and v != ""}
    md = (bench_dir / "results.md").read_text().split("## cube27")[0]
    for m in ("gan", "wgan"):
        seeds = [r for r in rows if r["dataset"] == "ring8" and r["method"] == m]
        means = {k: sum(float(r[k]) for r in seeds) / 2 for k in METRICS if all(r[k] != "" for r in seeds)}
        flags = noise_flags(means, {UNIFORM_BOX: uniform})
        assert {r["noise_flags"] for r in seeds} == {";".join(flags)}
        line = next(x for x in md.splitlines() if x.startswith(f"| {m} |"))
        assert line.count("≈ noise") == len(flags)
    assert f"| {TRUE_MIXTURE} | - | 8 |" in md and f"| {UNIFORM_BOX} |" in md and "not ranked" in md
    page = (bench_dir / "report.html").read_text()
    assert page.count('<tr class="reference">') == 4 and "not ranked" in page
    full_md = (bench_dir / "results.md").read_text()
    flagged_cells = sum(x.count("≈ noise") for x in full_md.splitlines() if x.startswith("| "))
    assert page.count('<td class="noise">') == flagged_cells > 0


def test_report_is_self_contained(bench_dir):
    page = (bench_dir / "report.html").read_text()
    # per dataset: final samples, evolution, metric curves, per-seed finals, losses and gradient norms, the
    # critic's input gradients, time per run
    assert page.count("<img ") == 2 * 7
    assert page.count('src="data:image/png;base64,') == 14
    for heading in ("The critic's input gradients over training", "Final metrics, one point a seed",
                    "Losses and parameter-gradient norms over training", "Time per run",
                    "Metrics over training (mean ± std over seeds)"):
        assert page.count(f"<h3>{heading}") == 2, heading
    sizes = [len(b) * 3 // 4 for b in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]
    assert max(sizes) < 400_000, sizes  # dpi-80 PNGs: the page stays loadable
    assert "http://" not in page and "https://" not in page
    assert "published in VEEGAN (Srivastava et al. 2017), Table 1" in page


def test_rows_carry_losses_and_gradient_norms(bench_dir):
    from modegan.bench.results import TRAINING_KEYS

    rows = collect([bench_dir / "runs"])
    for r in rows:
        assert [s for s, _ in r.training] == [s for s, _ in r.curve]
        assert all(set(t) == set(TRAINING_KEYS) for _, t in r.training), r.training[:1]


def test_a_metric_has_one_y_range_per_dataset(bench_dir):
    from modegan.bench.results import references
    from modegan.report.html import metric_ylims

    rows = collect([bench_dir / "runs"])
    refs = references(rows)[0]["ring8"]
    ylims = metric_ylims(rows, "ring8", refs)
    for key in ("modes", "hqs", "jsd_grid", "w1"):
        lo, hi = ylims[key]
        values = [m[key] for r in rows if r.dataset == "ring8" for _, m in r.curve if key in m]
        values += [v[key] for v in refs.values() if v.get(key) is not None]
        assert lo < min(values) <= max(values) < hi, key


def test_shared_limits_cover_the_real_data_and_every_sample():
    import numpy as np

    from modegan.report.plots import shared_limits

    real = np.array([[0.0, 0.0], [1.0, 2.0]])
    wide = np.column_stack([np.linspace(-10, 10, 101), np.zeros(101)])  # 1st-99th percentile: -9.8 .. 9.8
    lo, hi = shared_limits(real, [real, wide])
    pad = 0.1 * 19.6
    assert lo == pytest.approx([-9.8 - pad, 0 - pad]) and hi == pytest.approx([9.8 + pad, 2 + pad])


def test_rerun_trains_nothing(bench_dir):
    before = {p: p.stat().st_mtime_ns for p in (bench_dir / "runs").rglob("generator.safetensors")}
    tiny_bench(bench_dir)
    after = {p: p.stat().st_mtime_ns for p in (bench_dir / "runs").rglob("generator.safetensors")}
    assert before == after and len(before) == 8


@pytest.mark.parametrize("batch", [False, True])
def test_interrupted_bench_resumes_to_the_same_results(tmp_path, bench_dir, monkeypatch, batch):
    run_module = importlib.import_module("modegan.train.run")
    real_evaluate, calls = run_module.evaluate, []

    def interrupting(*a, **kw):
        calls.append(1)
        if len(calls) == 7:  # one by one: in the second run, after its first checkpoint; batched: at step 40
            raise KeyboardInterrupt
        return real_evaluate(*a, **kw)

    monkeypatch.setattr(run_module, "evaluate", interrupting)
    kw = {"methods": ["gan"], "datasets": ["ring8"], "batch": batch}
    with pytest.raises(KeyboardInterrupt):
        tiny_bench(tmp_path, **kw)
    monkeypatch.setattr(run_module, "evaluate", real_evaluate)
    assert json.loads((tmp_path / "runs/ring8/gan/seed1/summary.json").read_text())["status"] == "interrupted"
    lines = (tmp_path / "runs/ring8/gan/seed1/metrics.jsonl").read_text().splitlines()
    steps_done = [json.loads(x)["step"] for x in lines]
    if not batch:
        finished_first = (tmp_path / "runs/ring8/gan/seed0/generator.safetensors").stat().st_mtime_ns
    tiny_bench(tmp_path, **kw)
    if not batch:  # the run that had finished is not retrained
        assert (tmp_path / "runs/ring8/gan/seed0/generator.safetensors").stat().st_mtime_ns == finished_first
    assert steps_done and steps_done[-1] >= 10  # it resumed from a checkpoint rather than from scratch
    ours = {r["seed"]: r for r in read_csv(tmp_path / "results.csv")}
    ref = {r["seed"]: r for r in read_csv(bench_dir / "results.csv")
           if r["method"] == "gan" and r["dataset"] == "ring8"}
    for s in ("0", "1"):
        assert ours[s]["status"] == "finished"
        for k in METRICS:  # the reference may have trained as a batch: equal to float tolerance
            if ours[s][k] == "" or ref[s][k] == "":  # undefined (rkl_modes with no high-quality sample)
                assert ours[s][k] == ref[s][k], k
            else:
                assert float(ours[s][k]) == pytest.approx(float(ref[s][k]), rel=1e-4, abs=1e-6), k


def test_a_failed_run_is_reported_and_the_others_finish(tmp_path, monkeypatch):
    train_pkg = importlib.import_module("modegan.train")  # the package: modegan.train is also the function
    real_train = train_pkg.train

    def failing(cfg=None, **kw):
        if cfg is not None and cfg.train.seed == 1:
            raise RuntimeError("simulated crash")
        return real_train(cfg, **kw)

    monkeypatch.setattr(train_pkg, "train", failing)
    rows = tiny_bench(tmp_path, methods=["gan"], datasets=["ring8"], batch=False)
    assert [r.status for r in rows] == ["finished", "failed"]
    md = (tmp_path / "results.md").read_text()
    assert "ring8 / gan / seed 1: failed: RuntimeError: simulated crash" in md
    assert "[1/2]" in md
    assert "simulated crash" in (tmp_path / "report.html").read_text()
    assert (tmp_path / "runs/ring8/gan/seed1/error.txt").exists()
    monkeypatch.setattr(train_pkg, "train", real_train)
    rows = tiny_bench(tmp_path, methods=["gan"], datasets=["ring8"], batch=False)  # a rerun retries it
    assert [r.status for r in rows] == ["finished", "finished"]


def test_bench_rejects_unknown_names_before_training(tmp_path, capsys):
    assert main(["bench", "mog", "--methods", "gan,nope", "--out", str(tmp_path / "b")]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err
    assert main(["bench", "mog", "--datasets", "ring9", "--out", str(tmp_path / "b")]) == 2
    assert "unknown dataset 'ring9'" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


# --- compare -----------------------------------------------------------------------------------------------


def test_compare_rebuilds_the_tables_from_existing_runs(bench_dir, tmp_path):
    rows = compare([bench_dir / "runs" / "ring8"], tmp_path)
    assert {r.method for r in rows} == {"gan", "wgan"} and len(rows) == 4
    ours = [r for r in read_csv(tmp_path / "results.csv")]
    theirs = [r for r in read_csv(bench_dir / "results.csv") if r["dataset"] == "ring8"]
    key = lambda r: (r["method"], r["seed"])  # noqa: E731
    assert [{k: r[k] for k in METRICS} for r in sorted(ours, key=key)] == [
        {k: r[k] for k in METRICS} for r in sorted(theirs, key=key)]
    assert (tmp_path / "report.html").exists()


def test_compare_labels_two_settings_of_one_preset_apart(bench_dir, tmp_path):
    tiny_bench(tmp_path, methods=["gan"], datasets=["ring8"], overrides={**TINY, "g_optim": {"lr": 1e-3}})
    rows = collect([bench_dir / "runs" / "ring8" / "gan", tmp_path / "runs"])
    # the setting at the preset's learning rate keeps the bare name; the other names the key it changes
    assert {r.method for r in rows} == {"gan", "gan[g_optim.lr=0.001]"}


def test_compare_diff_prints_a_setting_label_whole(bench_dir, tmp_path, capsys):
    """A label with brackets is printed as it is (rich markup would have eaten `[g_optim.lr=0.001]`)."""
    tiny_bench(tmp_path, methods=["gan"], datasets=["ring8"], overrides={**TINY, "g_optim": {"lr": 1e-3}})
    assert main(["compare", str(bench_dir / "runs"), str(tmp_path / "runs"), "--no-report",
                 "--diff", "gan[g_optim.lr=0.001],gan", "--metric", "w1"]) == 0
    assert "ring8: w1, gan[g_optim.lr=0.001] - gan = " in capsys.readouterr().out


def test_compare_at_a_step_reads_that_evaluation_and_merges_budgets(bench_dir, tmp_path):
    """Runs of 40 and 20 steps compared at step 20 are one setting there (train.steps is not a setting at a
    step); each row carries its step-20 evaluation, seconds and curve up to it; a step without an evaluation
    leaves the run unfinished, saying how far it got."""
    tiny_bench(tmp_path, methods=["gan"], datasets=["ring8"], steps=20)
    runs = [bench_dir / "runs" / "ring8" / "gan", tmp_path / "runs"]
    rows = collect(runs, at=20)
    assert {r.method for r in rows} == {"gan"} and len(rows) == 4
    for r in rows:
        rec = next(json.loads(line) for line in (r.path / "metrics.jsonl").read_text().splitlines()
                   if json.loads(line)["step"] == 20)
        assert r.status == "finished" and r.step == 20 and r.metrics == rec["metrics"]
        assert r.elapsed_s == rec["elapsed_s"] and [s for s, _ in r.curve] == [10, 20]
    assert {r.method for r in collect(runs)} == {"gan[train.steps=20]", "gan[train.steps=40]"}
    late = collect([bench_dir / "runs" / "ring8" / "gan"], at=25)
    assert all(r.status == "unfinished" and "no evaluation at step 25 (evaluated up to 40)" in r.error for r in late)
    code = main(["compare", *map(str, runs), "--out", str(tmp_path / "cmp"), "--at", "20"])
    assert code == 0
    assert "each as it stood at generator step 20 (runs trained for 20, 40 steps)" in (
        tmp_path / "cmp" / "results.md").read_text()


def test_more_seeds_in_a_second_directory_join_the_first_ones(bench_dir, tmp_path, capsys):
    """--first-seed 2 --seeds 1 trains seed 2 exactly as a 3-seed bench would (the same config hash), names it
    in the setting, and compare merges it with seeds 0 and 1 of the first directory into one 3-seed cell."""
    from modegan.bench.mog import plan_mog
    from modegan.train.run import config_hash

    whole = plan_mog(tmp_path / "whole", methods=["gan"], datasets=["ring8"], seeds=3, steps=40, eval_every=10,
                     overrides=TINY)
    more = plan_mog(tmp_path / "more", methods=["gan"], datasets=["ring8"], seeds=1, first_seed=2, steps=40,
                    eval_every=10, overrides=TINY)
    assert [s.seed for s in more.specs] == [2] and more.specs[0].path.name == "seed2"
    assert config_hash(more.specs[0].cfg) == config_hash(whole.specs[2].cfg)
    assert "seeds 2..2 (1)" in more.setting
    tiny_bench(tmp_path / "more", methods=["gan"], datasets=["ring8"], seeds=1, first_seed=2)
    rows = collect([bench_dir / "runs" / "ring8" / "gan", tmp_path / "more" / "runs"])
    assert {r.method for r in rows} == {"gan"} and sorted(r.seed for r in rows) == [0, 1, 2]
    assert main(["bench", "mog", "--first-seed", "-1", "--out", str(tmp_path / "bad")]) == 2
    assert "--first-seed: must be in [0," in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_compare_diff_against_every_other_method(bench_dir, tmp_path, capsys):
    """`--diff gan,*` prints gan against each other method on each dataset both ran on, one line each."""
    code = main(["compare", str(bench_dir / "runs"), "--no-report", "--diff", "gan,*", "--metric", "w1"])
    assert code == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if ": w1, gan - " in x]
    assert sorted(x.split(" = ")[0] for x in lines) == ["cube27: w1, gan - wgan", "ring8: w1, gan - wgan"]
    assert main(["compare", str(bench_dir / "runs"), "--no-report", "--diff", "*,gan"]) == 2


def test_compare_prints_a_bootstrap_interval(bench_dir, tmp_path, capsys):
    code = main(["compare", str(bench_dir / "runs"), "--out", str(tmp_path), "--diff", "gan,wgan",
                 "--metric", "w1", "--dataset", "ring8"])
    assert code == 0
    out = capsys.readouterr().out
    assert "ring8: w1, gan - wgan = " in out and "95% percentile bootstrap" in out
    assert main(["compare", str(bench_dir / "runs"), "--no-report", "--diff", "gan,veegan"]) == 2
    assert "method 'veegan' is not among the runs" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "nothing")]) == 2


def test_a_second_bench_on_the_same_directory_is_refused(tmp_path, capsys):
    from modegan.bench.runs import exclusive

    with exclusive(tmp_path):
        assert main(["bench", "mog", "--methods", "gan", "--datasets", "ring8", "--seeds", "1", "--steps", "2",
                     "--out", str(tmp_path)]) == 2
    assert "another benchmark is running in" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("batch", [False, True])
def test_a_larger_budget_extends_the_finished_runs(tmp_path, bench_dir, batch):
    """A bench rerun with --steps 40 on its 20-step runs continues them from their last checkpoints (their
    first evaluations are kept byte for byte) and ends where an uninterrupted 40-step bench does."""
    kw = {"methods": ["gan"], "datasets": ["ring8"], "batch": batch}
    tiny_bench(tmp_path, steps=20, **kw)
    first = (tmp_path / "runs/ring8/gan/seed1/metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in first] == [10, 20]
    tiny_bench(tmp_path, steps=40, **kw)
    lines = (tmp_path / "runs/ring8/gan/seed1/metrics.jsonl").read_text().splitlines()
    assert lines[:2] == first and [json.loads(x)["step"] for x in lines] == [10, 20, 30, 40]
    ours = {r["seed"]: r for r in read_csv(tmp_path / "results.csv", runs_only=True)}
    ref = {r["seed"]: r for r in read_csv(bench_dir / "results.csv", runs_only=True)
           if r["method"] == "gan" and r["dataset"] == "ring8"}
    for s in ("0", "1"):
        assert ours[s]["status"] == "finished" and ours[s]["step"] == "40"
        for k in ("hqs", "jsd_grid", "w1"):
            assert float(ours[s][k]) == pytest.approx(float(ref[s][k]), rel=1e-4, abs=1e-6), k


def test_a_bench_of_another_setting_on_the_same_directory_is_refused(tmp_path, capsys):
    """Another setting (or a smaller budget) into a directory of finished runs would delete them: refused in
    one line naming what differs, before anything is trained, deleted or rewritten."""
    tiny_bench(tmp_path, methods=["gan"], datasets=["ring8"], seeds=1, steps=20)
    gen = tmp_path / "runs/ring8/gan/seed0/generator.safetensors"
    before, bench_yaml = gen.stat().st_mtime_ns, (tmp_path / "bench.yaml").read_text()
    base = ["bench", "mog", "--methods", "gan", "--datasets", "ring8", "--seeds", "1", "--eval-every", "10",
            "--workers", "1", "--out", str(tmp_path), "data.n_train=2000", "train.eval_samples=300"]
    assert main([*base, "--steps", "20", "g_optim.lr=0.001"]) == 2
    err = capsys.readouterr().err
    assert "holds a run of another setting (g_optim.lr differ)" in err and "nothing was trained" in err
    assert len(err.strip().splitlines()) == 1
    assert main([*base, "--steps", "10"]) == 2
    assert "it trained 20 steps, more than this plan's 10" in capsys.readouterr().err
    with pytest.raises(ModeganError, match="another setting"):
        tiny_bench(tmp_path, methods=["gan"], datasets=["ring8"], seeds=1, steps=20,
                   overrides={**TINY, "g_optim": {"lr": 0.001}})
    assert gen.stat().st_mtime_ns == before and (tmp_path / "bench.yaml").read_text() == bench_yaml
    assert main([*base, "--steps", "20"]) == 0  # the same setting again: nothing to train, no refusal


def test_evolution_columns_are_evenly_spaced_and_end_at_the_last_step():
    from modegan.report.html import evenly_spaced

    assert evenly_spaced(list(range(9)), 5) == [0, 2, 4, 6, 8]
    assert evenly_spaced([10, 20, 30], 5) == [10, 20, 30]  # fewer plots than columns: each once, the last kept
    assert evenly_spaced([7], 5) == [7]
    assert evenly_spaced(list(range(4)), 3) == [0, 2, 3]  # round(1.5) = 2


def test_ray_task_resources_without_and_with_gpus():
    """No GPU in the cluster: one CPU per job, as before; with GPUs: a whole one per image job, a share per toy job."""
    from modegan.bench.ray_backend import TOY_GPU_SHARE, task_options
    from modegan.config import build_config

    toy = [(build_config(preset="gan", overrides={"data": {"name": "ring8"}}).to_dict(), "a"),
           (build_config(preset="gan", overrides={"data": {"name": "ring8"}, "train": {"seed": 1}}).to_dict(), "b")]
    image = [(build_config(preset="gan", overrides={"data": {"name": "stacked-mnist"}}).to_dict(), "c")]
    assert task_options(toy, 0) == task_options(image, 0) == {"num_cpus": 1}
    assert task_options(image, 4) == {"num_cpus": 1, "num_gpus": 1}
    assert task_options(toy, 4) == {"num_cpus": 1, "num_gpus": TOY_GPU_SHARE} and 0 < TOY_GPU_SHARE < 1


def test_bench_mog_defaults_to_the_converged_budget_on_cli_and_python():
    """The CLI's --steps default is the library's DEFAULT_STEPS, at least the 20,000 steps the budget study
    supports (2,000 had nothing learned), and it is recorded in the plan's setting."""
    import inspect

    from modegan import cli
    from modegan.bench.mog import DEFAULT_STEPS, plan_mog

    assert DEFAULT_STEPS >= 20_000
    assert inspect.signature(cli.bench_mog).parameters["steps"].default.default == DEFAULT_STEPS
    plan = plan_mog("unused-dir", methods=["gan"], datasets=["ring8"], seeds=1)
    assert plan.specs[0].cfg.train.steps == DEFAULT_STEPS
    assert f"{DEFAULT_STEPS}" in plan.setting.replace(",", "")
