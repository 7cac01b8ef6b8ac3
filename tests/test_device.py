"""`train.device` and `--device` (issue 15): names, errors, placement of every part, checkpoints across
devices, mixed precision for image runs. They run on the CPU here; `pytest --device cuda tests/test_device.py`
runs the placement and resume tests on a GPU (benchmarks/gpu_check.sh does)."""

from __future__ import annotations

import warnings

import pytest
import torch

import modegan
from conftest import metrics_lines
from modegan.cli import main
from modegan.config import build_config
from modegan.data.images import ImagesOn, StackedMNIST, TensorImages
from modegan.device import Placement, check_device_name, load_generator_state, resolve_device
from modegan.errors import ModeganError
from modegan.train.checkpoint import read_checkpoint
from modegan.train.run import config_hash

CUDA = torch.cuda.is_available()


@pytest.mark.parametrize("name", ["gpu", "cuda:", "cuda:x", "CPU", "", "cuda:0,1", " cpu", "tpu"])
def test_unknown_device_names_are_one_line(name):
    with pytest.raises(ModeganError, match=r"unknown device .*; allowed: auto, cpu, cuda, cuda:N or mps$"):
        check_device_name(name)
    with pytest.raises(ModeganError, match="train.device: unknown device"):
        build_config(overrides={"train": {"device": name}})


def test_auto_is_cuda_where_there_is_one_else_cpu():
    assert resolve_device("auto") == (torch.device("cuda", 0) if CUDA else torch.device("cpu"))
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(CUDA, reason="this machine has CUDA")
@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_cuda_is_one_line(name):
    with pytest.raises(ModeganError, match=rf"train.device={name}: this machine has no CUDA device .*allowed here: "
                                           r"auto, cpu$"):
        resolve_device(name)


def test_a_cuda_index_past_the_last_device_is_one_line():
    n = torch.cuda.device_count() if CUDA else 0
    if not CUDA:
        pytest.skip("needs CUDA to count devices")
    with pytest.raises(ModeganError, match=f"has {n} CUDA device"):
        resolve_device(f"cuda:{n}")


def test_device_is_not_part_of_the_config_or_its_hash():
    auto = build_config(preset="gan")
    cpu = build_config(preset="gan", overrides={"train": {"device": "cpu"}})
    assert "device" not in auto.to_dict()["train"] and "precision" not in auto.to_dict()["train"]
    assert cpu.to_dict()["train"]["device"] == "cpu"
    assert config_hash(auto) == config_hash(cpu)


def test_bf16_is_for_image_runs_only():
    with pytest.raises(ModeganError, match="train.precision=bf16 applies to image runs"):
        build_config(preset="gan", overrides={"train": {"precision": "bf16"}})
    with pytest.raises(ModeganError, match="train.precision"):
        build_config(preset="gan", overrides={"train": {"precision": "fp16"}})


def test_placement_generator_and_autocast():
    p = Placement(torch.device("cpu"))
    g = p.generator(5)
    assert g.device.type == "cpu" and g.initial_seed() == 5
    with p.autocast():
        assert not torch.is_autocast_enabled("cpu")
    with Placement(torch.device("cpu"), "bf16").autocast():
        assert torch.is_autocast_enabled("cpu")
        assert (torch.ones(2, 3) @ torch.ones(3, 2)).dtype == torch.bfloat16


def test_a_generator_state_from_another_kind_of_device_is_reseeded_deterministically():
    src = torch.Generator().manual_seed(3)
    state = src.get_state()
    same = torch.Generator()
    load_generator_state(same, state, "cpu")
    assert torch.equal(torch.rand(4, generator=same), torch.rand(4, generator=src))
    moved = [torch.Generator(), torch.Generator()]
    for g in moved:
        with pytest.warns(UserWarning, match="drawn on cuda:0; continuing on cpu with a generator reseeded"):
            load_generator_state(g, state, "cuda:0")
    a, b = (torch.rand(4, generator=g) for g in moved)
    assert torch.equal(a, b)  # deterministic
    assert not torch.equal(a, torch.rand(4, generator=torch.Generator().manual_seed(3)))


def _tiny(tiny, device):
    return {**tiny, "train": {**tiny["train"], "device": device}}


def test_a_run_lives_on_its_device_and_records_it(tiny, tmp_path, device):
    summary = modegan.train(_tiny(tiny, device), out=tmp_path / "r")
    assert summary["status"] == "finished" and summary["device"] == device
    state = read_checkpoint(tmp_path / "r" / "checkpoint.pt")
    assert state["device"] == device
    G = modegan.load(tmp_path / "r")  # loads on the CPU whatever it trained on
    assert next(G.parameters()).device.type == "cpu"
    if device == "cpu":  # the explicit cpu run is the default run, line for line
        modegan.train(tiny, out=tmp_path / "default")
        assert metrics_lines(tmp_path / "r") == metrics_lines(tmp_path / "default")


def test_resume_on_the_device_continues_exactly(tiny, tmp_path, device):
    ov = _tiny(tiny, device)
    modegan.train(ov, out=tmp_path / "full")
    modegan.train({**ov, "train": {**ov["train"], "steps": 20}}, out=tmp_path / "half")
    modegan.train(resume=tmp_path / "half", steps=40)
    assert metrics_lines(tmp_path / "half") == metrics_lines(tmp_path / "full")


def _mark_checkpoint_device(path, name):
    state = torch.load(path, weights_only=True)
    state["device"] = name
    torch.save(state, path)


@pytest.mark.skipif(CUDA, reason="this machine has CUDA")
def test_resuming_a_cuda_run_without_cuda_says_what_to_pass(tiny, tmp_path):
    modegan.train({**tiny, "train": {**tiny["train"], "steps": 20}}, out=tmp_path / "r")
    _mark_checkpoint_device(tmp_path / "r" / "checkpoint.pt", "cuda:0")  # as if trained on a GPU with device auto
    before = (tmp_path / "r" / "metrics.jsonl").read_bytes()
    with pytest.raises(ModeganError, match=r"no CUDA device.*the run trained on cuda:0: pass --device"):
        modegan.train(resume=tmp_path / "r", steps=40)
    assert (tmp_path / "r" / "metrics.jsonl").read_bytes() == before
    with pytest.warns(UserWarning, match="drawn on cuda:0; continuing on cpu"):
        summary = modegan.train(resume=tmp_path / "r", steps=40, device="cpu")
    assert summary["status"] == "finished" and summary["device"] == "cpu"
    assert main(["train", "--resume", str(tmp_path / "r"), "--device", "gpu"]) == 2


def test_cli_device_errors_are_one_line(tmp_path, capsys, tiny):
    assert main(["train", "--preset", "gan", "--out", str(tmp_path / "a"), "--device", "gpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: train.device: unknown device 'gpu'; allowed: auto, cpu, cuda, cuda:N or mps"
    assert not (tmp_path / "a").exists()
    assert main(["bench", "mog", "--out", str(tmp_path / "b"), "--device", "tpu", "--methods", "gan"]) == 2
    assert "--device: unknown device 'tpu'" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
    if not CUDA:
        assert main(["train", "--preset", "gan", "--out", str(tmp_path / "c"), "--device", "cuda"]) == 2
        assert capsys.readouterr().err.count("\n") == 1
        assert main(["bench", "mog", "--out", str(tmp_path / "d"), "--device", "cuda:1", "--methods", "gan"]) == 2
        assert "no CUDA device" in capsys.readouterr().err and not (tmp_path / "d").exists()
        modegan.train(tiny, out=tmp_path / "e")
        assert main(["sample", str(tmp_path / "e"), "-o", str(tmp_path / "x.npy"), "--device", "cuda"]) == 2
        assert main(["eval", str(tmp_path / "e"), "--device", "cuda"]) == 2
        assert "no CUDA device" in capsys.readouterr().err and not (tmp_path / "x.npy").exists()


def test_sample_and_eval_take_a_device(tiny, tmp_path, capsys, device):
    import numpy as np

    modegan.train(tiny, out=tmp_path / "r")
    assert main(["sample", str(tmp_path / "r"), "-n", "50", "-o", str(tmp_path / "x.npy"), "--device", device]) == 0
    x = np.load(tmp_path / "x.npy")
    ref = modegan.sample(tmp_path / "r", 50, 0).numpy()
    assert x.shape == (50, 2) and np.allclose(x, ref, atol=1e-5)  # z drawn on the CPU: the same draws anywhere
    assert main(["eval", str(tmp_path / "r"), "--json", "--device", device]) == 0


def test_bench_device_trains_there_and_is_not_in_the_setting(tmp_path, device):
    from modegan.bench.mog import plan_mog

    plan = plan_mog(tmp_path, methods=["gan"], datasets=["ring8"], seeds=2, steps=10, device=device)
    assert all(s.cfg.train.device == device for s in plan.specs)
    assert device not in plan.setting
    same = plan_mog(tmp_path, methods=["gan"], datasets=["ring8"], seeds=2, steps=10)
    assert [config_hash(s.cfg) for s in plan.specs] == [config_hash(s.cfg) for s in same.specs]


def _stacked(n=30):
    g = torch.Generator().manual_seed(0)
    digits = TensorImages("mnist-train", torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8),
                          torch.randint(0, 10, (n,), generator=g), "test")
    return digits, StackedMNIST(digits, n=40, seed=1)


def test_images_on_a_device_batch_exactly_as_the_dataset_does(device):
    for data in _stacked():
        on = ImagesOn(data, torch.device(device))
        idx = torch.tensor([0, 3, 3, 7, len(data) - 1])
        assert len(on) == len(data) and on.shape == data.shape
        assert torch.equal(on.batch(idx.to(device)).cpu(), data.batch(idx))


TINY_IMAGES = {"model": {"g_width": 4, "d_width": 4, "z_dim": 8},
               "train": {"batch_size": 8, "steps": 4, "eval_every": 2, "eval_samples": 16, "threads": 1}}


def _image_run(mnist_dir, stub_classifier, precision, device="cpu"):
    return {**TINY_IMAGES, "data": {"name": "mnist", "dir": str(mnist_dir), "verify": False},
            "train": {**TINY_IMAGES["train"], "classifier": str(stub_classifier), "precision": precision,
                      "device": device}}


def test_bf16_image_run_trains_under_autocast_and_fp32_stays_the_reference(mnist_dir, stub_classifier, tmp_path,
                                                                            device):
    fp32 = modegan.train(_image_run(mnist_dir, stub_classifier, "fp32", device), out=tmp_path / "fp32")
    modegan.train(_image_run(mnist_dir, stub_classifier, "fp32", device), out=tmp_path / "again")
    bf16 = modegan.train(_image_run(mnist_dir, stub_classifier, "bf16", device), out=tmp_path / "bf16")
    assert fp32["status"] == bf16["status"] == "finished" and bf16["precision"] == "bf16"
    g32, g16, g_again = (modegan.load(tmp_path / n).state_dict() for n in ("fp32", "bf16", "again"))
    assert all(torch.equal(g32[k], g_again[k]) for k in g32)  # fp32 is deterministic
    assert all(g16[k].dtype == g32[k].dtype for k in g32)  # weights stay float32
    diff = max(float((g32[k] - g16[k]).abs().max()) for k in g32 if g32[k].is_floating_point())
    assert 0 < diff < 0.1  # autocast changed the arithmetic, not the run


def test_a_diwgan_run_on_the_device(tiny, tmp_path, device):
    ov = {**_tiny(tiny, device), "preset": "diwgan", "diwgan": {"ae_steps": 20}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = modegan.train(ov, out=tmp_path / "d")
    assert summary["status"] == "finished" and summary["device"] == device
