"""`torchrun -m modegan train` on 2 gloo processes (CPU) computes what one process computes on the same global
batch: the generator weights, every metrics.jsonl number and the summary agree to float rounding (BatchNorm in
G and D synced over the global batch); a resume under torchrun continues a run; bad input is one line on every
path and no rank is left waiting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from modegan.cli import main
from modegan.config import build_config
from modegan.errors import ModeganError
from modegan.train import train
from modegan.train.distributed import World, check_distributed, local_batch, world_from_env

SRC = str(Path(__file__).resolve().parents[1] / "src")
TINY = ["model.g_width=4", "model.d_width=4", "model.z_dim=8", "train.batch_size=8", "train.eval_every=2",
        "train.eval_samples=16", "train.threads=1", "data.verify=false"]
LAUNCH_TIMEOUT_S = 120


def _args(mnist_dir, classifier, preset="gan", extra=()):
    return ["train", "--preset", preset, "--data", "mnist", "--data-dir", str(mnist_dir),
            f"train.classifier={classifier}", *TINY, *extra, "--no-progress"]


def torchrun(args, nproc=2):
    """`torchrun --standalone --nproc_per_node N -m modegan ARGS` with the gloo backend: (returncode, stderr)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "modegan", *args, "--dist-backend", "gloo"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT_S)
    return p.returncode, p.stderr


def single(args, capsys):
    code = main(args)
    err = capsys.readouterr().err
    assert code == 0, err


def assert_same_run(a: Path, b: Path, rel=1e-5):
    """Equal to float rounding: G's weights within 1e-6, every number of every metrics line and of the summary
    within `rel`; the same lines, protocols, files, checkpoint step and RNG state (bitwise)."""
    ga, gb = load_file(a / "generator.safetensors"), load_file(b / "generator.safetensors")
    assert ga.keys() == gb.keys()
    for k in ga:
        torch.testing.assert_close(ga[k], gb[k], rtol=0, atol=1e-6, msg=k)
    la = [json.loads(x) for x in (a / "metrics.jsonl").read_text().splitlines()]
    lb = [json.loads(x) for x in (b / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in la] == [r["step"] for r in lb] and la
    for ra, rb in zip(la, lb, strict=True):
        ra.pop("elapsed_s"), rb.pop("elapsed_s")
        assert ra.pop("protocol") == rb.pop("protocol")
        assert ra.keys() == rb.keys()
        assert ra.pop("metrics") == pytest.approx(rb.pop("metrics"), rel=rel, abs=1e-7, nan_ok=True)
        ga_, gb_ = ra.pop("d_input_grad"), rb.pop("d_input_grad")  # rank 0 measures alone, as one process does
        assert ga_.keys() == gb_.keys() == {"real", "fake", "interp"}
        for where in ga_:
            assert ga_[where] == pytest.approx(gb_[where], rel=rel, abs=1e-7)
        assert ra == pytest.approx(rb, rel=rel, abs=1e-7)
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    assert sa["status"] == sb["status"] == "finished" and sa["config_hash"] == sb["config_hash"]
    assert sa["metrics"] == pytest.approx(sb["metrics"], rel=rel, abs=1e-7, nan_ok=True)
    ca, cb = (torch.load(d / "checkpoint.pt", weights_only=True) for d in (a, b))
    assert ca["step"] == cb["step"] and torch.equal(ca["rng"]["train"], cb["rng"]["train"])
    assert sorted(p.name for p in a.rglob("*")) == sorted(p.name for p in b.rglob("*"))


@pytest.fixture(scope="module")
def one_process(mnist_dir, stub_classifier, tmp_path_factory):
    """The reference: the gan preset for 4 steps on one process."""
    out = tmp_path_factory.mktemp("one") / "run"
    assert main([*_args(mnist_dir, stub_classifier, extra=["train.steps=4"]), "--out", str(out)]) == 0
    return out


def test_two_gloo_processes_equal_one(one_process, mnist_dir, stub_classifier, tmp_path):
    """The gan preset: BatchNorm in G and D, over the global batch of 8 split 4 + 4."""
    code, err = torchrun([*_args(mnist_dir, stub_classifier, extra=["train.steps=4"]), "--out", str(tmp_path / "two")])
    assert code == 0, err
    assert_same_run(one_process, tmp_path / "two")


@pytest.mark.slow
def test_two_processes_equal_one_with_a_gradient_penalty_and_packing(mnist_dir, stub_classifier, tmp_path, capsys):
    """wgan-gp (5 critic steps, ε of the penalty, a layer-norm critic) with PacGAN's packs of 2."""
    args = _args(mnist_dir, stub_classifier, "wgan-gp", extra=["train.steps=4", "scheme.pack=2"])
    single([*args, "--out", str(tmp_path / "one")], capsys)
    code, err = torchrun([*args, "--out", str(tmp_path / "two")])
    assert code == 0, err
    assert_same_run(tmp_path / "one", tmp_path / "two")


def test_resume_under_torchrun_continues(one_process, mnist_dir, stub_classifier, tmp_path, capsys):
    """Half the steps on one process, the rest on two (`train --resume` under torchrun): the uninterrupted run."""
    single([*_args(mnist_dir, stub_classifier, extra=["train.steps=2"]), "--out", str(tmp_path / "half")], capsys)
    code, err = torchrun(["train", "--resume", str(tmp_path / "half"), "--steps", "4", "--no-progress"])
    assert code == 0, err
    assert_same_run(one_process, tmp_path / "half")


def test_an_indivisible_batch_stops_every_rank_with_one_line(mnist_dir, stub_classifier, tmp_path):
    """Rank 0 refuses the config; rank 1, waiting for it, stops too and prints nothing; nothing is written."""
    code, err = torchrun([*_args(mnist_dir, stub_classifier, extra=["train.steps=2"]), "train.batch_size=9",
                          "--out", str(tmp_path / "r")])
    assert code != 0
    lines = [x for x in err.splitlines() if x.startswith("error:")]
    assert lines == ["error: train.batch_size 9 does not split over 2 processes: give a multiple of 2"]
    assert not (tmp_path / "r").exists()


def test_bad_distributed_input_is_one_line(tmp_path, capsys):
    with pytest.raises(ModeganError, match="unknown distributed backend 'mpi2'; allowed: auto, gloo, nccl"):
        train({"data": {"name": "ring8"}}, out=tmp_path / "r", backend="mpi2")
    assert main(["train", "--data", "ring8", "--out", str(tmp_path / "r"), "--dist-backend", "nope"]) == 2
    assert capsys.readouterr().err == "error: unknown distributed backend 'nope'; allowed: auto, gloo, nccl\n"
    assert not (tmp_path / "r").exists()
    env = {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}
    assert world_from_env("gloo", {}) is None and world_from_env("gloo", {**env, "WORLD_SIZE": "1"}) is None
    assert world_from_env("gloo", env) == World(0, 2, 0, "gloo", torch.device("cpu"))
    with pytest.raises(ModeganError, match=r"\$RANK must be an integer under torchrun, got 'x'"):
        world_from_env("gloo", {**env, "RANK": "x"})
    with pytest.raises(ModeganError, match="RANK=2, WORLD_SIZE=2"):
        world_from_env("gloo", {**env, "RANK": "2"})
    with pytest.raises(ModeganError, match="MASTER_PORT is not: launch with torchrun"):
        world_from_env("gloo", {**env, "MASTER_PORT": ""})
    if not torch.cuda.is_available():
        with pytest.raises(ModeganError, match="nccl needs CUDA"):
            world_from_env("nccl", env)
    two = World(0, 2, 0)
    assert local_batch(8, two) == 4
    with pytest.raises(ModeganError, match="train.batch_size 7 does not split over 2 processes"):
        local_batch(7, two)
    with pytest.raises(ModeganError, match="diwgan.enabled does not run on several processes"):
        check_distributed(build_config(preset="diwgan", overrides={"data": {"name": "ring8"}}), two)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _failing_rank(rank, ports, out, cfg):
    """One rank of two (spawned): a run that finishes (rank 1 given another --out, which it must not touch),
    one where rank 0's evaluation fails, one where rank 1's data fails to load."""
    from modegan.train import run as run_mod

    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1")
    os.environ["MASTER_PORT"] = str(ports[0])
    summary = train(cfg, out=out / ("ok" if rank == 0 else "ok-rank1"), backend="gloo")
    seen = {"ok": summary}
    if rank == 0:
        def evaluate(self, step, *a):
            raise ModeganError(f"disk full at step {step} (simulated)")
        run_mod.Recorder.evaluate = evaluate
    else:
        def run_dataset(cfg):
            raise ModeganError("no data here (simulated)")
        run_mod.run_dataset, original = run_dataset, run_mod.run_dataset
    for case, port in zip(("eval", "data"), ports[1:], strict=True):
        os.environ["MASTER_PORT"] = str(port)
        if case == "data" and rank == 1:
            run_mod.run_dataset = run_dataset
        elif rank == 1:
            run_mod.run_dataset = original
        try:
            train(cfg, out=out / case, backend="gloo")
            seen[case] = None
        except ModeganError as e:
            seen[case] = [type(e).__name__, str(e), bool(getattr(e, "quiet", False))]
    (out / f"rank{rank}.json").write_text(json.dumps(seen))


@pytest.mark.slow
def test_a_failure_on_one_rank_stops_every_rank(mnist_dir, stub_classifier, tmp_path):
    """Rank 0 failing alone (its evaluation) or rank 1 failing alone (its data): both ranks stop with the failed
    rank's line, which only rank 0 reports (`quiet` elsewhere); rank 0's summary records the failure."""
    import torch.multiprocessing as mp

    cfg = build_config(preset="gan", overrides={
        "data": {"name": "mnist", "dir": str(mnist_dir), "verify": False},
        "model": {"g_width": 4, "d_width": 4, "z_dim": 8},
        "train": {"classifier": str(stub_classifier), "batch_size": 4, "steps": 4, "eval_every": 2,
                  "eval_samples": 16, "threads": 1}})
    ports = (_free_port(), _free_port(), _free_port())
    ctx = mp.spawn(_failing_rank, args=(ports, tmp_path, cfg), nprocs=2, join=False)
    deadline = time.monotonic() + LAUNCH_TIMEOUT_S
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail(f"a rank was left waiting for more than {LAUNCH_TIMEOUT_S} s")
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["ok"]["status"] == "finished" and r1["ok"] == r0["ok"]
    assert (tmp_path / "ok" / "generator.safetensors").is_file() and not (tmp_path / "ok-rank1").exists()
    assert r0["eval"] == ["ModeganError", "disk full at step 2 (simulated)", False]
    assert r1["eval"] == ["PeerFailed", "disk full at step 2 (simulated)", True]
    assert json.loads((tmp_path / "eval" / "summary.json").read_text())["status"] == "failed"
    assert r0["data"] == ["PeerFailed", "rank 1: no data here (simulated)", False]
    assert r1["data"] == ["PeerFailed", "rank 1: no data here (simulated)", True]


def test_networks_off_the_ranks_device_are_one_line():
    from modegan.train.distributed import check_placement
    from modegan.train.parts import build_parts

    parts = build_parts(build_config(overrides={"data": {"name": "ring8"}}), 2)
    check_placement(parts, World(0, 2, 0))
    with pytest.raises(ModeganError, match=r"G is on cpu but rank 1's device for nccl is cuda:1; place the networks"):
        check_placement(parts, World(1, 2, 1, "nccl", torch.device("cuda", 1)))
