"""Training runs: the run directory, determinism, exact resume (also after a kill), divergence."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import modegan
from conftest import metrics_lines
from modegan.config import merge
from modegan.errors import ModeganError
from modegan.train import TrainingDiverged


def test_run_directory_contents(tmp_path, tiny):
    cfg = merge(tiny, {"preset": "wgan-gp", "train": {"plots": True}})
    summary = modegan.train(cfg, out=tmp_path / "r")
    run = tmp_path / "r"
    assert summary["status"] == "finished" and summary["step"] == 40
    assert json.loads((run / "summary.json").read_text())["metrics"] == summary["metrics"]
    lines = metrics_lines(run)
    assert [r["step"] for r in lines] == [20, 40]
    for r in lines:
        assert {"d_loss", "g_loss", "gp", "grad_norm_g", "grad_norm_d", "metrics", "protocol"} <= set(r)
        assert set(r["metrics"]) == {"modes", "hqs", "rkl_modes", "jsd_grid", "tv_grid", "w1"}
        assert r["protocol"]["hqs"]["n_samples"] == 200 and r["protocol"]["rkl_modes"]["log_base"] == "e"
        assert r["grad_norm_g"] > 0 and r["grad_norm_d"] > 0
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_0000020.png", "step_0000040.png"]
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["step"] == 40 and set(state["modules"]) == {"G", "D"} and "train" in state["rng"]
    assert set(load_file(run / "generator.safetensors")) == set(modegan.load(run).state_dict())
    with safe_open(str(run / "generator.safetensors"), "pt") as f:
        assert json.loads(f.metadata()["config"])["preset"] == "wgan-gp"
    cfg_back = modegan.build_config(file=run / "config.yaml")
    assert cfg_back.loss.gp_weight == 10.0 and cfg_back.train.steps == 40


def test_same_seed_same_metrics_and_other_seed_differs(tmp_path, tiny):
    modegan.train(merge(tiny, {"preset": "gan"}), out=tmp_path / "a")
    modegan.train(merge(tiny, {"preset": "gan"}), out=tmp_path / "b")
    modegan.train(merge(tiny, {"preset": "gan", "train": {"seed": 1}}), out=tmp_path / "c")
    assert metrics_lines(tmp_path / "a") == metrics_lines(tmp_path / "b")
    assert metrics_lines(tmp_path / "a") != metrics_lines(tmp_path / "c")


@pytest.mark.parametrize("preset", ["gan", "wgan", "wgan-gp"])
def test_resume_to_larger_budget_is_exact(tmp_path, tiny, preset):
    full = modegan.train(merge(tiny, {"preset": preset}), out=tmp_path / "full")
    modegan.train(merge(tiny, {"preset": preset, "train": {"steps": 20}}), out=tmp_path / "part")
    resumed = modegan.train(resume=tmp_path / "part", steps=40)
    assert resumed["metrics"] == full["metrics"]
    assert metrics_lines(tmp_path / "part") == metrics_lines(tmp_path / "full")
    a, b = modegan.load(tmp_path / "full"), modegan.load(tmp_path / "part")
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k


def test_killed_run_resumes_to_the_same_metrics(tmp_path, tiny):
    """SIGKILL a CLI run after its second checkpoint, resume it, compare with an uninterrupted run."""
    args = ["--preset", "gan", "--data", "ring8", "--steps", "1000", "--no-progress",
            "data.n_train=2000", "model.g_width=32", "model.d_width=32", "train.batch_size=64",
            "train.eval_every=100", "train.eval_samples=200", "train.plots=false"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "modegan.cli", "train", *args, "--out", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:
        if (killed / "metrics.jsonl").exists() and len((killed / "metrics.jsonl").read_text().splitlines()) >= 2:
            break
        if proc.poll() is not None:
            pytest.fail(f"training exited early: {proc.stderr.read().decode()}")
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    step_at_kill = torch.load(killed / "checkpoint.pt", weights_only=True)["step"]
    # metrics.jsonl may already hold a line past the checkpoint: resume must drop and redo it
    assert 100 <= step_at_kill < 1000, "the kill should land mid-run"
    from modegan.cli import main

    assert main(["train", "--resume", str(killed), "--no-progress"]) == 0
    assert main(["train", *args, "--out", str(tmp_path / "whole")]) == 0
    assert metrics_lines(killed) == metrics_lines(tmp_path / "whole")
    assert json.loads((killed / "summary.json").read_text())["status"] == "finished"


def test_divergence_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path, tiny):
    # A critic with the largest allowed SGD step (10) and a gradient penalty overflows within a few steps.
    cfg = merge(tiny, {"loss": {"type": "wasserstein", "gp_weight": 10.0}, "d_optim": {"name": "sgd", "lr": 10.0},
                       "train": {"steps": 200, "eval_every": 1}})
    with pytest.raises(TrainingDiverged, match=r"training diverged at step \d+: .*non-finite.*last good checkpoint"):
        modegan.train(cfg, out=tmp_path / "r")
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["status"] == "diverged"
    good = summary["last_checkpoint_step"]
    state = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)
    assert state["step"] == good
    assert all(torch.isfinite(v).all() for v in state["modules"]["D"].values())


def test_existing_run_is_never_overwritten_by_accident(tmp_path, tiny):
    modegan.train(merge(tiny, {"preset": "gan"}), out=tmp_path / "r")
    before = (tmp_path / "r" / "metrics.jsonl").read_bytes()
    with pytest.raises(ModeganError, match="already holds a run; resume it with --resume"):
        modegan.train(merge(tiny, {"preset": "wgan"}), out=tmp_path / "r")
    assert (tmp_path / "r" / "metrics.jsonl").read_bytes() == before


def test_load_and_sample(tmp_path, tiny):
    modegan.train(merge(tiny, {"preset": "gan"}), out=tmp_path / "r")
    G = modegan.load(tmp_path / "r")
    assert not G.training
    x = modegan.sample(tmp_path / "r", 50, seed=3)
    assert x.shape == (50, 2) and torch.equal(x, modegan.sample(tmp_path / "r", 50, seed=3))
    from modegan.cli import main

    assert main(["sample", str(tmp_path / "r"), "-n", "30", "-o", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (30, 2)


def test_eval_reproduces_the_final_metrics(tmp_path, tiny, capsys):
    summary = modegan.train(merge(tiny, {"preset": "gan"}), out=tmp_path / "r")
    from modegan.cli import main

    assert main(["eval", str(tmp_path / "r"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metrics"] == summary["metrics"]
    assert out["protocol"]["hqs"]["n_samples"] == 200


def test_run_restores_the_callers_thread_count(tmp_path, tiny):
    torch.set_num_threads(2)
    try:
        modegan.train(merge(tiny, {"preset": "gan", "train": {"steps": 2, "eval_every": 2, "threads": 1}}),
                      out=tmp_path / "r")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)


def test_tensorboard_without_the_extra_says_how_to_install(tmp_path, tiny):
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(ModeganError, match=r"pip install 'modegan\[tensorboard\]'"):
            modegan.train(merge(tiny, {"train": {"tensorboard": True}}), out=tmp_path / "r")
        assert not (tmp_path / "r").exists()  # refused before anything is written: no --overwrite needed
    else:
        modegan.train(merge(tiny, {"train": {"tensorboard": True}}), out=tmp_path / "r")
        assert any((tmp_path / "r" / "tensorboard").iterdir())


def test_every_evaluation_logs_the_critics_input_gradients(tiny, tmp_path):
    modegan.train({**tiny, "preset": "wgan-gp-toy"}, out=tmp_path / "w")
    for r in metrics_lines(tmp_path / "w"):
        grads = r["d_input_grad"]
        assert set(grads) == {"real", "fake", "interp"}
        assert all(v["max"] >= v["mean"] > 0 for v in grads.values())
    modegan.train({**tiny, "preset": "veegan"}, out=tmp_path / "v")  # a joint D(z, x): no input gradient
    assert all("d_input_grad" not in r for r in metrics_lines(tmp_path / "v"))
