"""Seeds trained as one stacked batch leave exactly what separate `train()` runs leave."""

import json

import pytest
import torch

import modegan
from conftest import metrics_lines
from modegan.config import build_config, merge
from modegan.errors import ModeganError
from modegan.presets import PRESETS
from modegan.train import batched
from modegan.train import run as run_module
from modegan.train.batched import batch_unsupported, train_seeds

SEEDS = (0, 1, 2)
TINY = {
    "data": {"name": "ring8", "n_train": 500},
    "model": {"g_width": 32, "d_width": 32},
    "train": {"steps": 30, "batch_size": 32, "eval_every": 10, "eval_samples": 100, "plots": False},
}
FAST = {"diwgan": {"diwgan": {"ae_steps": 100, "n_history": 3}}}  # a short AE pretraining; the KDE live by step 4
BATCHABLE = [n for n in PRESETS if batch_unsupported(build_config(preset=n)) is None]
VARIANTS = {  # settings of the batched methods beyond their presets
    "unrolled fake_only": ("unrolled", {"scheme": {"unroll_objective": "fake_only"}}),
    "unrolled sgd momentum": ("unrolled", {"d_optim": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
                                           "scheme": {"unroll": 3}}),
    "unrolled rmsprop n_critic 2": ("unrolled", {"loss": {"n_critic": 2},
                                                 "d_optim": {"name": "rmsprop", "lr": 1e-3, "momentum": 0.5}}),
    "diwgan ema kmeans": ("diwgan", {"diwgan": {"ema": True, "targets": "kmeans", "n_targets": 20}}),
    "gan train.ema, linear and cosine schedules": ("gan", {"train": {"ema": 0.9}, "g_optim": {"schedule": "linear"},
                                                           "d_optim": {"schedule": "cosine"}}),
    "veegan train.ema, F on g_optim's schedule": ("veegan", {"train": {"ema": 0.8},
                                                             "g_optim": {"schedule": "cosine"}}),
}


def configs(preset, extra=None, **train):
    over = merge(merge(TINY, FAST.get(preset, {})), extra or {})
    return [build_config(overrides=merge(over, {"preset": preset, "train": {**train, "seed": s}})) for s in SEEDS]


def assert_close(a, b, path=""):
    """Same structure; numbers equal to float tolerance (wall-clock fields skipped)."""
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            if k != "elapsed_s":
                assert_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_close(x, y, f"{path}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert a.shape == b.shape and torch.allclose(a, b, rtol=1e-4, atol=1e-5), path
    elif isinstance(a, float):
        assert b == pytest.approx(a, rel=1e-4, abs=1e-5), path
    else:
        assert a == b, path


def assert_same_run(sep, bat):
    assert_close(metrics_lines(sep), metrics_lines(bat))
    a, b = (torch.load(d / "checkpoint.pt", weights_only=True) for d in (sep, bat))
    assert_close({k: v for k, v in a.items() if k != "elapsed_s"}, {k: v for k, v in b.items() if k != "elapsed_s"})
    assert torch.equal(a["rng"]["train"], b["rng"]["train"])
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (sep, bat))
    assert_close({k: v for k, v in sa.items() if k != "elapsed_s"}, {k: v for k, v in sb.items() if k != "elapsed_s"})
    assert_close(dict(modegan.load(sep).state_dict()), dict(modegan.load(bat).state_dict()))
    assert (sep / "config.yaml").read_text() == (bat / "config.yaml").read_text()


def separate(tmp_path, cfgs):
    return [modegan.train(c, out=tmp_path / f"sep{s}") for s, c in zip(SEEDS, cfgs, strict=True)]


def test_the_mode_coverage_baselines_batch():
    assert {"unrolled", "veegan", "diwgan"} <= set(BATCHABLE)


@pytest.mark.parametrize("preset", BATCHABLE)
def test_batch_equals_separate_runs(tmp_path, preset):
    check_batch_equals_separate_runs(tmp_path, configs(preset))


@pytest.mark.parametrize("variant", VARIANTS)
def test_batched_variants_equal_separate_runs(tmp_path, variant):
    check_batch_equals_separate_runs(tmp_path, configs(*VARIANTS[variant]))


def check_batch_equals_separate_runs(tmp_path, cfgs):
    summaries = train_seeds(cfgs, [tmp_path / f"bat{s}" for s in SEEDS])
    for s, summary, sep in zip(SEEDS, summaries, separate(tmp_path, cfgs), strict=True):
        assert summary["status"] == "finished" and summary["config_hash"] == sep["config_hash"]
        assert_same_run(tmp_path / f"sep{s}", tmp_path / f"bat{s}")


def test_interrupted_batch_resumes_skipping_finished_seeds(tmp_path, monkeypatch):
    cfgs = configs("wgan-gp")
    outs = [tmp_path / f"bat{s}" for s in SEEDS]
    first = train_seeds(cfgs[:1], outs[:1])  # seed 0 finishes alone and is skipped below
    finished_at = (outs[0] / "summary.json").stat().st_mtime_ns
    step, calls = batched.batched_train_step, []

    def interrupt_at_25(*args, **kwargs):
        calls.append(1)
        if len(calls) == 25:
            raise KeyboardInterrupt
        return step(*args, **kwargs)

    monkeypatch.setattr(batched, "batched_train_step", interrupt_at_25)
    with pytest.raises(KeyboardInterrupt):
        train_seeds(cfgs, outs)
    assert json.loads((outs[1] / "summary.json").read_text())["status"] == "interrupted"
    monkeypatch.setattr(batched, "batched_train_step", step)
    summaries = train_seeds(cfgs, outs)
    assert summaries[0] == first[0] and (outs[0] / "summary.json").stat().st_mtime_ns == finished_at
    separate(tmp_path, cfgs)
    for s in SEEDS:
        assert_same_run(tmp_path / f"sep{s}", outs[s])


@pytest.mark.parametrize("preset", ["gan", "unrolled", "veegan", "diwgan"])
def test_unbatched_train_resumes_a_batched_checkpoint(tmp_path, preset):
    outs = [tmp_path / f"bat{s}" for s in SEEDS]
    train_seeds(configs(preset, steps=20), outs)
    for out in outs:
        modegan.train(resume=out, steps=30)
    separate(tmp_path, configs(preset))
    for s in SEEDS:
        assert_same_run(tmp_path / f"sep{s}", outs[s])


def test_unsupported_preset_falls_back_to_separate_runs(tmp_path):
    cfgs = configs("gan", {"model": {"spectral_norm": True}}, steps=10)[:2]
    assert "spectral_norm" in batch_unsupported(cfgs[0])
    with pytest.warns(UserWarning, match="spectral_norm.*one after another"):
        summaries = train_seeds(cfgs, [tmp_path / "bat0", tmp_path / "bat1"])
    for s, summary in enumerate(summaries):
        assert summary == json.loads((tmp_path / f"bat{s}" / "summary.json").read_text())
        assert summary["metrics"] == modegan.train(cfgs[s], out=tmp_path / f"sep{s}")["metrics"]


@pytest.mark.parametrize("preset", ["gan", "unrolled", "veegan", "diwgan"])
def test_a_diverging_seed_does_not_stop_the_others(tmp_path, monkeypatch, preset):
    build = run_module.build_parts

    def poisoned(cfg, dim, placement=None):  # seed 1 starts with a NaN weight: its very first losses are NaN
        parts = build(cfg, dim, placement)
        if cfg.train.seed == 1:
            with torch.no_grad():
                parts.G.net[0].weight[0, 0] = float("nan")
        return parts

    cfgs = configs(preset)
    monkeypatch.setattr(run_module, "build_parts", poisoned)
    with pytest.warns(UserWarning, match="seed 1: training diverged at step 1: d_loss, g_loss.* became non-finite"):
        summaries = train_seeds(cfgs, [tmp_path / f"bat{s}" for s in SEEDS])
    assert summaries[1]["status"] == "diverged" and summaries[1]["last_checkpoint_step"] == 0
    monkeypatch.setattr(run_module, "build_parts", build)
    for s in (0, 2):
        modegan.train(cfgs[s], out=tmp_path / f"sep{s}")
        assert summaries[s]["status"] == "finished"
        assert_same_run(tmp_path / f"sep{s}", tmp_path / f"bat{s}")


def test_configs_must_differ_only_in_the_seed(tmp_path):
    cfgs = configs("gan")
    cfgs[1].loss.n_critic = 2
    with pytest.raises(ModeganError, match="differ only in train.seed"):
        train_seeds(cfgs, [tmp_path / f"bat{s}" for s in SEEDS])


@pytest.mark.parametrize(("preset", "section", "key", "values"), [("wgan-gp", "loss", "gp_weight", (10.0, 1.0, 0.1)),
                                                                  ("diwgan", "diwgan", "alpha", (1.0, 0.3, 3.0))])
def test_a_sweep_over_a_per_seed_scalar_batches(tmp_path, preset, section, key, values):
    cfgs = configs(preset)
    for c, v in zip(cfgs, values, strict=True):
        setattr(getattr(c, section), key, v)
    check_batch_equals_separate_runs(tmp_path, cfgs)


def test_a_penalty_weight_sweep_may_not_mix_zero_and_positive(tmp_path):
    cfgs = configs("gan", {"loss": {"gp_weight": 1.0}})
    cfgs[1].loss.gp_weight = 0.0
    with pytest.raises(ModeganError, match="gp_weight must be > 0 for every config or for none"):
        train_seeds(cfgs, [tmp_path / f"bat{s}" for s in SEEDS])


def test_ema_and_schedules_batch(tmp_path):
    """The EMA of G and the learning-rate schedules train stacked (no fallback), and equal separate runs."""
    cfgs = configs(*VARIANTS["gan train.ema, linear and cosine schedules"])
    assert batch_unsupported(cfgs[0]) is None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback to one-by-one would warn
        train_seeds(cfgs[:2], [tmp_path / "bat0", tmp_path / "bat1"])
    sep = modegan.train(cfgs[1], out=tmp_path / "sep1")
    lines = metrics_lines(tmp_path / "bat1")
    assert all("metrics_ema" in r for r in lines) and lines[-1]["metrics_ema"] != lines[-1]["metrics"]
    assert_close(metrics_lines(tmp_path / "sep1"), lines)
    assert_close(sep["metrics_ema"], json.loads((tmp_path / "bat1" / "summary.json").read_text())["metrics_ema"])
    assert_close(dict(modegan.load(tmp_path / "sep1", ema=True).state_dict()),
                 dict(modegan.load(tmp_path / "bat1", ema=True).state_dict()))
