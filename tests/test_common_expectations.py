"""Hinge and least-squares losses, the EMA of G, learning-rate schedules and spectral norm on DCGAN: hand-computed
values, strict config keys, and runs (exact resume with EMA + schedule, IWGAN + SN on images)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from torch import nn

import modegan
from modegan.config import build_config
from modegan.errors import ModeganError
from modegan.losses import get_loss
from modegan.nets.dcgan import DCGANDiscriminator
from modegan.train import run as run_module
from modegan.train.averaging import ema_copy, ema_update_
from modegan.train.batched import batch_unsupported
from modegan.train.parts import build_parts
from modegan.train.schedules import lr_factor
from modegan.train.steps import train_step


def t(*v):
    return torch.tensor(v, dtype=torch.float64)


def test_hinge_terms_by_hand():
    loss, s = get_loss("hinge"), t(-2.0, 0.0, 0.5, 2.0)
    assert torch.equal(loss.d_real(s), t(3.0, 1.0, 0.5, 0.0))  # max(0, 1 - D(x))
    assert torch.equal(loss.d_fake(s), t(0.0, 1.0, 1.5, 3.0))  # max(0, 1 + D(G(z)))
    assert torch.equal(loss.g(s), t(2.0, 0.0, -0.5, -2.0))  # -D(G(z))


def test_least_squares_terms_by_hand():
    loss, s = get_loss("least_squares"), t(0.0, 1.0, 3.0)
    assert torch.equal(loss.d_real(s), t(0.5, 0.0, 2.0))  # ½(D(x) - 1)²
    assert torch.equal(loss.d_fake(s), t(0.0, 0.5, 4.5))  # ½D(G(z))²
    assert torch.equal(loss.g(s), t(0.5, 0.0, 2.0))  # ½(D(G(z)) - 1)²


def _constant_net(value: float) -> nn.Module:
    net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    with torch.no_grad():
        for q in net.parameters():
            q.fill_(value)
    return net


def test_ema_after_two_updates_by_hand():
    G = _constant_net(1.0)
    ema = ema_copy(G)
    assert not any(q.requires_grad for q in ema.parameters())
    with torch.no_grad():
        for q in G.parameters():
            q.fill_(3.0)
    G.train()(torch.randn(4, 2))  # moves the batch-norm statistics
    ema_update_(ema, G, 0.5)  # 0.5·1 + 0.5·3 = 2
    with torch.no_grad():
        for q in G.parameters():
            q.fill_(5.0)
    ema_update_(ema, G, 0.5)  # 0.5·2 + 0.5·5 = 3.5
    assert all(torch.equal(q, torch.full_like(q, 3.5)) for q in ema.parameters())
    assert all(torch.equal(a, b) for a, b in zip(ema.buffers(), G.buffers(), strict=True))  # copied


def test_lr_factors_by_hand():
    assert [lr_factor("constant", k, 20) for k in (0, 5, 20)] == [1.0, 1.0, 1.0]
    assert [lr_factor("linear", k, 20) for k in (0, 5, 10, 20)] == [1.0, 0.75, 0.5, 0.0]
    cos = [lr_factor("cosine", k, 20) for k in (0, 5, 10, 20)]
    assert cos == pytest.approx([1.0, 0.5 + math.sqrt(2) / 4, 0.5, 0.0], abs=1e-12)


def test_learning_rates_after_k_generator_steps(tiny):
    cfg = build_config(overrides={**tiny, "g_optim": {"schedule": "linear"}, "d_optim": {"schedule": "cosine"},
                                  "loss": {"n_critic": 2}, "train": {**tiny["train"], "steps": 8}})
    p = build_parts(cfg, 2)
    train = torch.randn(100, 2)
    for _ in range(2):
        train_step(p, train, 16)
    assert p.g_opt.param_groups[0]["lr"] == pytest.approx(2e-4 * 0.75)  # 1 - 2/8
    assert p.d_opt.param_groups[0]["lr"] == pytest.approx(2e-4 * 0.5 * (1 + math.cos(math.pi / 4)))


def test_spectral_norm_on_dcgan_gives_unit_norm_per_conv():
    torch.manual_seed(0)  # the power iteration's starting vectors
    D = DCGANDiscriminator(28, 3, width=8, spectral_norm=True, norm="none")
    x = torch.randn(4, 3, 28, 28)
    for _ in range(50):  # one power iteration per training forward pass
        D(x)
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 4 and all(hasattr(m, "parametrizations") for m in convs)
    for m in convs:
        sigma = torch.linalg.matrix_norm(m.weight.detach().reshape(m.weight.shape[0], -1), ord=2)
        assert sigma.item() == pytest.approx(1.0, abs=1e-2)  # power iteration underestimates σ: slightly above 1


def test_new_keys_are_strict_and_left_out_at_their_default(tiny):
    assert "ema" not in build_config(overrides=tiny).to_dict()["train"]
    assert "schedule" not in build_config(overrides=tiny).to_dict()["g_optim"]
    on = build_config(overrides=["train.ema=0.999", "g_optim.schedule=cosine"]).to_dict()
    assert on["train"]["ema"] == 0.999 and on["g_optim"]["schedule"] == "cosine"
    for bad, msg in ((["train.ema=1"], r"train.ema: must be in \[0, 1\), got 1.0"),
                     (["train.ema=-0.1"], r"train.ema: must be in \[0, 1\)"),
                     (["d_optim.schedule=step"], "d_optim.schedule: 'step' is not allowed; allowed: constant, "
                                                 "linear, cosine"),
                     (["loss.type=hinge", "weighting.gen=hard"], "weighting 'hard' with loss.type=hinge"),
                     (["loss.type=least_squares", "weighting.disc_real=hard"],
                      "weighting 'hard' with loss.type=least_squares"),
                     (["loss.type=hinge", "scheme.veegan=true"], "scheme.veegan uses its own logistic losses")):
        with pytest.raises(ModeganError, match=msg):
            build_config(overrides=bad)
    build_config(overrides=["loss.type=hinge"])  # no Lipschitz constraint needed
    build_config(overrides=["loss.type=least_squares", "weighting.gen=topk"])
    build_config(overrides=["loss.type=hinge", "weighting.gen=density_ratio", "weighting.detach=false"])  # KL-WGAN


def test_batched_trainer_takes_ema_and_schedules(tiny):
    """They batch now (test_batched.py compares them with separate runs)."""
    assert batch_unsupported(build_config(overrides={**tiny, "train": {**tiny["train"], "ema": 0.9}})) is None
    assert batch_unsupported(build_config(overrides={**tiny, "g_optim": {"schedule": "linear"}})) is None


def _metrics(run):
    from conftest import metrics_lines

    return metrics_lines(run)


def test_resume_with_ema_and_schedule_equals_an_uninterrupted_run(tmp_path, tiny, monkeypatch):
    ov = {**tiny, "loss": {"type": "hinge"}, "g_optim": {"schedule": "cosine"}, "d_optim": {"schedule": "linear"},
          "train": {**tiny["train"], "ema": 0.9}}
    full = modegan.train(ov, out=tmp_path / "full")
    assert set(full["metrics_ema"]) == set(full["metrics"]) and full["metrics_ema"] != full["metrics"]
    evaluate = run_module.Recorder.evaluate

    def stop_after_first(self, step, *a, **kw):
        out = evaluate(self, step, *a, **kw)
        if step == 20:
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(run_module.Recorder, "evaluate", stop_after_first)
    with pytest.raises(KeyboardInterrupt):
        modegan.train(ov, out=tmp_path / "part")
    monkeypatch.setattr(run_module.Recorder, "evaluate", evaluate)
    resumed = modegan.train(resume=tmp_path / "part")
    assert resumed["metrics"] == full["metrics"] and resumed["metrics_ema"] == full["metrics_ema"]
    assert _metrics(tmp_path / "part") == _metrics(tmp_path / "full")
    for name in ("generator.safetensors", "generator_ema.safetensors"):
        a, b = load_file(tmp_path / "part" / name), load_file(tmp_path / "full" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    x = modegan.load(tmp_path / "full", ema=True).sample(5, torch.Generator().manual_seed(0))
    y = modegan.load(tmp_path / "full").sample(5, torch.Generator().manual_seed(0))
    assert x.shape == (5, 2) and not torch.equal(x, y)


def test_load_ema_of_a_run_without_one_is_one_line(tmp_path, tiny):
    modegan.train({**tiny, "train": {**tiny["train"], "steps": 2, "eval_every": 2}}, out=tmp_path)
    with pytest.raises(ModeganError, match="kept no EMA generator"):
        modegan.load(tmp_path, ema=True)
    assert not (tmp_path / "generator_ema.safetensors").exists()


def test_iwgan_with_spectral_norm_trains_on_images(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(16):
        Image.fromarray(rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    cfg = build_config(preset="iwgan-gp", overrides={
        "data": {"name": str(folder)}, "loss": {"gp_weight": 0.0, "n_critic": 2}, "model": {
            "spectral_norm": True, "g_width": 4, "d_width": 4, "z_dim": 8},
        "train": {"batch_size": 8, "steps": 3, "eval_every": 3, "eval_samples": 16, "plots": False, "ema": 0.5}})
    D = build_parts(cfg, 3 * 28 * 28).D
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    assert sum(hasattr(m, "parametrizations") for m in D.modules()) == 4
    summary = modegan.train(cfg, out=tmp_path / "run")
    assert summary["status"] == "finished" and {"fd", "kid"} <= set(summary["metrics_ema"])
    G = modegan.load(tmp_path / "run", ema=True)
    assert G.sample(2, torch.Generator().manual_seed(0)).shape == (2, 3, 32, 32)  # a folder's default size


def test_checkpoints_without_ema_keep_their_layout_and_an_ema_config_names_what_is_missing(tmp_path, tiny):
    """A run without EMA or schedules writes (and so reads) the checkpoint it always did; pointing an EMA config
    at one is one line naming the missing state."""
    from modegan.train.checkpoint import read_checkpoint, restore

    ov = {**tiny, "train": {**tiny["train"], "steps": 2, "eval_every": 2}}
    modegan.train(ov, out=tmp_path)
    state = read_checkpoint(tmp_path / "checkpoint.pt")
    assert set(state["modules"]) == {"G", "D"} and set(state["optimizers"]) == {"G", "D"}
    cfg = build_config(overrides={**ov, "train": {**ov["train"], "ema": 0.9}, "g_optim": {"schedule": "linear"}})
    parts = build_parts(cfg, 2)
    with pytest.raises(ModeganError, match="does not fit the run's config.yaml .*no state for G_ema"):
        restore(parts, state)


def test_a_restored_run_takes_its_schedules_rate_for_the_restored_step(tiny):
    from modegan.train.checkpoint import restore

    cfg = build_config(overrides={**tiny, "g_optim": {"schedule": "linear"}, "train": {**tiny["train"], "steps": 8}})
    p = build_parts(cfg, 2)
    for _ in range(4):
        train_step(p, torch.randn(100, 2), 16)
    state = {"modules": {k: m.state_dict() for k, m in p.modules().items()},
             "optimizers": {k: o.state_dict() for k, o in p.optimizers().items()},
             "rng": {"train": p.rng.get_state()}, "step": 4}
    cfg.train.steps = 16  # a resume to a larger budget
    q = build_parts(cfg, 2)
    restore(q, state)
    assert q.g_opt.param_groups[0]["lr"] == pytest.approx(2e-4 * (1 - 4 / 16))


def test_least_squares_trains_and_its_ema_is_saved(tmp_path, tiny):
    ov = {**tiny, "loss": {"type": "least_squares"}, "train": {**tiny["train"], "steps": 4, "eval_every": 2,
                                                              "ema": 0.99}}
    summary = modegan.train(ov, out=tmp_path)
    assert summary["status"] == "finished" and math.isfinite(summary["metrics_ema"]["w1"])
    lines = _metrics(tmp_path)
    assert [sorted(r["metrics_ema"]) == sorted(r["metrics"]) for r in lines] == [True, True]
