"""Every preset trains a few steps on images through the same `train()` loop (issue #6), with image metrics,
grids, resume and `load`; toy configs keep their hashes; missing data and classifier are clear errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from modegan import load
from modegan.config import build_config
from modegan.errors import ModeganError
from modegan.presets import PRESETS
from modegan.train import train
from modegan.train.batched import batch_unsupported
from modegan.train.run import config_hash

TINY = {"model": {"g_width": 4, "d_width": 4, "z_dim": 8},
        "train": {"batch_size": 8, "steps": 2, "eval_every": 2, "eval_samples": 16, "threads": 1},
        "diwgan": {"ae_steps": 2, "latent_dim": 4}}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """64 random 28x28 RGB PNGs."""
    d = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(64):
        Image.fromarray(rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)).save(d / f"{i:02d}.png")
    return d


@pytest.fixture(scope="module")
def labelled_folder(tmp_path_factory):
    """64 random 28x28 RGB PNGs in 4 class subfolders."""
    d = tmp_path_factory.mktemp("classes")
    rng = np.random.default_rng(1)
    for i in range(64):
        (d / f"class{i % 4}").mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)).save(d / f"class{i % 4}" / f"{i:02d}.png")
    return d


def _config(preset, name, **extra):
    ov = {**TINY, "data": {"name": str(name)}}
    for k, v in extra.items():
        ov[k] = {**ov.get(k, {}), **v}
    return build_config(preset=preset, overrides=ov)


def _check_finished(out, summary):
    assert summary["status"] == "finished"
    assert summary["metrics"] and all(v is None or math.isfinite(v) for v in summary["metrics"].values())
    assert (out / "samples" / "step_0000002.png").is_file()
    return summary


SLOW_ON_IMAGES = {"cwgan-gp", "iwcgan", "projection"}  # conditional variants beyond cgan and acgan: > 5 s each


@pytest.mark.parametrize("preset", [pytest.param(p, marks=pytest.mark.slow) if p in SLOW_ON_IMAGES else p
                                    for p in sorted(PRESETS)])
def test_every_preset_trains_on_images(preset, folder, labelled_folder, tmp_path):
    conditional = PRESETS[preset].settings.get("model", {}).get("conditioning", "none") != "none"
    if conditional:
        with pytest.raises(ModeganError, match="carries no labels .put each class's images in its own subfolder"):
            train(_config(preset, folder, data={"image_size": 28}), out=tmp_path / "unlabelled")
        folder = labelled_folder  # one subfolder a class
    cfg = _config(preset, folder, data={"image_size": 28})
    assert cfg.model.arch == "dcgan" and cfg.data.image_size == 28 and cfg.data.channels == 3
    summary = _check_finished(tmp_path, train(cfg, out=tmp_path))
    assert {"fd", "kid", "precision", "recall"} <= set(summary["metrics"])
    assert ("intra_fd" in summary["metrics"]) == conditional
    assert summary["protocol"]["fd"]["features"] == "random_cnn"


def test_stacked_mnist_run_resumes_and_loads(mnist_dir, stub_classifier, tmp_path):
    cfg = _config("gan", "stacked-mnist", data={"dir": str(mnist_dir), "n_train": 64, "verify": False},
                  train={"classifier": str(stub_classifier), "steps": 4})
    full = train(cfg, out=tmp_path / "full")
    assert {"modes", "kl", "fd"} <= set(full["metrics"])
    assert full["protocol"]["modes"]["classifier_accuracy"] == 0.995
    train(cfg, out=tmp_path / "half", steps=2)
    resumed = train(resume=tmp_path / "half", steps=4)
    assert resumed["metrics"] == full["metrics"]
    G = load(tmp_path / "half")
    assert G.sample(3, torch.Generator().manual_seed(0)).shape == (3, 3, 28, 28)


def test_mnist_diwgan_uses_the_conv_autoencoder(mnist_dir, stub_classifier, tmp_path):
    cfg = _config("diwgan", "mnist", data={"dir": str(mnist_dir), "verify": False},
                  train={"classifier": str(stub_classifier)})
    assert cfg.diwgan.encoder == "conv" and cfg.data.channels == 1
    summary = _check_finished(tmp_path, train(cfg, out=tmp_path))
    assert {"digit_kl", "digit_coverage"} <= set(summary["metrics"])


def test_toy_hash_is_unchanged():
    """The hash of a literal pre-image-support toy config (an old config.yaml) and of a fresh build."""
    old = json.loads(TOY_DIWGAN_RING8)
    assert config_hash(build_config(overrides=old)) == "82c8bed991ac"
    fresh = build_config(preset="diwgan", overrides={"data": {"name": "ring8"}})
    assert config_hash(fresh) == "82c8bed991ac" and fresh.to_dict() == old


def test_missing_data_dir_and_classifier_are_clear(mnist_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("MODEGAN_DATA", raising=False)
    with pytest.raises(ModeganError, match="no data directory for mnist: set data.dir"):
        train(_config("gan", "mnist"), out=tmp_path / "a")
    with pytest.raises(ModeganError, match="data.dir .*nowhere does not exist"):
        train(_config("gan", "mnist", data={"dir": str(tmp_path / "nowhere")}), out=tmp_path / "b")
    cfg = _config("gan", "mnist", data={"dir": str(mnist_dir), "verify": False},
                  train={"classifier": str(tmp_path / "none.st")})
    with pytest.raises(ModeganError, match="no MNIST classifier at .*modegan classifier train"):
        train(cfg, out=tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_image_configs_do_not_batch_and_bad_keys_are_rejected(folder):
    assert "not stacked" in batch_unsupported(_config("gan", folder))
    with pytest.raises(ModeganError, match="data.image_size: 64 is not allowed"):
        _config("gan", folder, data={"image_size": 64})
    with pytest.raises(ModeganError, match="model.arch: 'mlp' does not take images"):
        _config("gan", folder, model={"arch": "mlp"})
    with pytest.raises(ModeganError, match="data.image_size applies to image data only"):
        build_config(overrides={"data": {"name": "ring8", "image_size": 28}})


TOY_DIWGAN_RING8 = """{"preset": "diwgan", "data": {"name": "ring8", "seed": 0, "n_train": 100000, "mode_probs": []},
"model": {"z_dim": 2, "g_width": 128, "g_depth": 3, "d_width": 128, "d_depth": 2, "activation": "relu",
"g_norm": "none", "d_norm": "none", "spectral_norm": false}, "loss": {"type": "nonsaturating", "clip": null,
"gp_weight": 0.0, "gp_center": 1.0, "n_critic": 1}, "g_optim": {"name": "adam", "lr": 0.0002,
"betas": [0.5, 0.999], "alpha": 0.99, "momentum": 0.0, "weight_decay": 0.0}, "d_optim": {"name": "adam",
"lr": 0.0002, "betas": [0.5, 0.999], "alpha": 0.99, "momentum": 0.0, "weight_decay": 0.0}, "train": {"steps": 20000,
"batch_size": 256, "seed": 0, "eval_every": 1000, "ckpt_every": 0, "eval_samples": 2500, "eval_seed": 2500,
"hq_threshold": 3.0, "threads": 1, "plots": true, "tensorboard": false}, "weighting": {"gen": [], "disc_fake": [],
"disc_real": [], "temperature": 1.0, "detach": true, "topk_start": 1.0, "topk_decay": 0.99, "topk_min": 0.5,
"topk_every": 390}, "diwgan": {"enabled": true, "alpha": 1.0, "n_history": 10, "bandwidth": "scott",
"targets": "kde_resample", "n_targets": 0, "target_stat": "paired", "ema": false, "encoder": "mlp", "latent_dim": 2,
"ae_steps": 2000, "ae_lr": 0.001}, "scheme": {"unroll": 0, "pack": 1, "veegan": false}}"""
