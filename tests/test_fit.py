"""modegan.fit: user-written networks and data, every method through the built-in loop, resume and load."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import modegan
from conftest import metrics_lines
from modegan.data import load_dataset
from modegan.errors import ModeganError

FAST = {"train": {"eval_samples": 200, "plots": False, "eval_every": 10}}


def make_g() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2))


def make_d(inputs: int = 2) -> nn.Module:
    torch.manual_seed(2)
    return nn.Sequential(nn.Linear(inputs, 32), nn.ReLU(), nn.Linear(32, 1))


def method(preset: str, **sections) -> dict:
    out = {"preset": preset, **FAST}
    out.update(sections)
    return out


@pytest.fixture(scope="module")
def rows():
    return load_dataset("ring8", n_train=1000).train


@pytest.fixture
def loader(rows):
    return DataLoader(TensorDataset(rows), batch_size=64, shuffle=True)


def fit(out, loader, preset="gan", steps=10, **kw):
    return modegan.fit(make_g(), make_d(), loader, method(preset, **kw.pop("sections", {})), out=out, steps=steps,
                       z_dim=2, generator_factory=make_g, discriminator_factory=make_d, **kw)


@pytest.mark.parametrize("preset", ["gan", "wgan-gp", "diwgan"])
def test_fit_trains_user_networks_on_a_dataloader(preset, tmp_path, loader):
    sections = {"diwgan": {"ae_steps": 20}} if preset == "diwgan" else {}
    summary = fit(tmp_path / preset, loader, preset, sections=sections)
    assert summary["status"] == "finished" and summary["step"] == 10
    assert summary["dataset"]["source"] == "fit" and summary["dataset"]["n_train"] == 800  # a fifth held out
    assert set(summary["metrics"]) == {"w1"}
    assert summary["config_hash"] and (tmp_path / preset / "generator.safetensors").is_file()
    cfg = modegan.train.rundir.RunDir(tmp_path / preset).read_config()
    assert cfg.train.batch_size == 64 and cfg.model.z_dim == 2  # the loader's batch size, the given z_dim
    parts = json.loads((tmp_path / preset / "parts.json").read_text())
    assert parts["generator"]["factory"] == "test_fit:make_g"
    assert parts["discriminator"]["class"] == "torch.nn.modules.container:Sequential"


def test_resume_matches_an_uninterrupted_run_and_loads_back(tmp_path, loader):
    fit(tmp_path / "whole", loader, steps=20)
    fit(tmp_path / "split", loader, steps=10)
    summary = modegan.train(resume=tmp_path / "split", steps=20)  # rebuilt from parts.json and data.pt
    assert summary["status"] == "finished" and summary["step"] == 20
    assert metrics_lines(tmp_path / "whole") == metrics_lines(tmp_path / "split")
    G = modegan.load(tmp_path / "split")
    z = torch.randn(5, 2)
    assert torch.equal(G(z), modegan.load(tmp_path / "whole")(z))
    assert G.sample(7, torch.Generator().manual_seed(0)).shape == (7, 2)


def test_fit_resume_true_with_the_networks(tmp_path, loader):
    fit(tmp_path / "r", loader, steps=10)
    summary = modegan.fit(make_g(), make_d(), out=tmp_path / "r", resume=True, steps=20)
    assert summary["step"] == 20


def test_load_without_an_importable_generator_says_how(tmp_path, rows):
    G = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    modegan.fit(G, make_d(), rows, method("gan"), out=tmp_path / "x", steps=5, z_dim=2)
    with pytest.raises(ModeganError, match="pass generator= to modegan.load") as e:
        modegan.load(tmp_path / "x")
    assert "\n" not in str(e.value)
    with pytest.raises(ModeganError, match=r"pass discriminator= to modegan.fit\(\.\.\., resume=True\)"):
        modegan.fit(G, out=tmp_path / "x", resume=True, steps=10)
    loaded = modegan.load(tmp_path / "x", generator=nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2)))
    z = torch.randn(3, 2)
    assert torch.equal(loaded(z), G(z))


class ConstructedG(nn.Module):
    """A class that records its constructor arguments (`modegan_args`), so load rebuilds it without a factory."""

    def __init__(self, width: int):
        super().__init__()
        self.z_dim, self.modegan_args = 2, {"width": width}
        self.net = nn.Sequential(nn.Linear(2, width), nn.ReLU(), nn.Linear(width, 2))

    def forward(self, z):
        return self.net(z)


def test_modegan_args_and_the_z_dim_attribute(tmp_path, rows):
    modegan.fit(ConstructedG(8), make_d(), rows, method("gan"), out=tmp_path / "c", steps=5)
    G = modegan.load(tmp_path / "c")
    assert isinstance(G.net, ConstructedG) and G.net.modegan_args == {"width": 8} and G.z_dim == 2


@pytest.mark.parametrize("preset", ["pacgan2", "veegan", "unrolled", "iwgan", "topk", "wgan", "gan-hard"])
def test_every_scheme_composes(preset, tmp_path, rows):
    if preset not in modegan.PRESETS:
        pytest.skip(f"no preset {preset}")
    pack = modegan.build_config(preset=preset).scheme.pack
    d_inputs = 4 if preset == "veegan" else 2 * pack  # VEEGAN's D takes [z, x]; PacGAN's m samples
    summary = modegan.fit(make_g(), make_d(d_inputs), rows, method(preset), out=tmp_path / preset, steps=4,
                          z_dim=2)
    assert summary["status"] == "finished"


@pytest.mark.parametrize("given", ["name", "dataset"])
def test_toy_data_gets_toy_metrics_and_resumes(given, tmp_path):
    data = "ring8" if given == "name" else load_dataset("ring8", seed=4, n_train=500)
    m = method("gan", data={"n_train": 500})
    summary = modegan.fit(make_g(), make_d(), data, m, out=tmp_path / "t", steps=5, z_dim=2,
                          generator_factory=make_g, discriminator_factory=make_d)
    assert {"modes", "hqs", "w1"} <= set(summary["metrics"]) and summary["dataset"]["n_train"] == 500
    assert not (tmp_path / "t" / "data.pt").exists()  # data.name, seed and n_train rebuild it
    assert modegan.train(resume=tmp_path / "t", steps=10)["step"] == 10


def test_the_shape_probe_leaves_batchnorm_statistics_alone(rows):
    from modegan.device import Placement
    from modegan.fit import method_config, user_dataset, user_parts

    D = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))
    before = D[1].running_mean.clone()
    cfg = method_config("gan", rows, z_dim=2, steps=1, device="cpu", batch_size=None)
    user_parts(cfg, {"generator": make_g(), "discriminator": D}, user_dataset(rows, 0), Placement.of(cfg))
    assert torch.equal(D[1].running_mean, before)


def make_encoder() -> nn.Module:
    return nn.Linear(2, 2)


def test_user_encoder_for_diwgan(tmp_path, rows):
    summary = modegan.fit(make_g(), make_d(), rows, method("diwgan"), out=tmp_path / "e", steps=5, z_dim=2,
                          encoder=make_encoder(), generator_factory=make_g, discriminator_factory=make_d,
                          encoder_factory=make_encoder)
    assert summary["diwgan"]["autoencoder_mse"] == 0.0
    assert modegan.train(resume=tmp_path / "e", steps=10)["step"] == 10  # encoder rebuilt from encoder.pt


@pytest.mark.parametrize("case, match", [
    ("no_z_dim", "give G a z_dim attribute or pass z_dim="),
    ("d_shape", "one score per input"),
    ("data_type", "data must be a tensor"),
    ("nan", "NaN or Inf"),
    ("g_shape", "the generator returns"),
    ("batch_type", "not a tensor"),
    ("z_mismatch", "do not fit the data"),
    ("not_a_module", "must be a torch.nn.Module"),
])
def test_bad_input_is_one_line(case, match, tmp_path, rows):
    G, D, data, z = make_g(), make_d(), rows, 2
    if case == "no_z_dim":
        z = None
    elif case == "d_shape":
        D = nn.Sequential(nn.Linear(2, 3))
    elif case == "data_type":
        data = 3.5
    elif case == "nan":
        data = rows.clone()
        data[5, 1] = float("nan")
    elif case == "g_shape":
        G = nn.Sequential(nn.Linear(2, 3))
    elif case == "batch_type":
        data = [{"x": rows}]
    elif case == "z_mismatch":
        z = 3
    elif case == "not_a_module":
        D = lambda x: x  # noqa: E731
    with pytest.raises(ModeganError, match=match) as e:
        modegan.fit(G, D, data, method("gan"), out=tmp_path / case, steps=2, z_dim=z)
    assert "\n" not in str(e.value)


def test_cli_eval_and_sample_a_fit_run(tmp_path, loader, capsys):
    from modegan.cli import main

    fit(tmp_path / "c", loader, steps=5)
    assert main(["eval", str(tmp_path / "c"), "--json"]) == 0
    assert '"w1"' in capsys.readouterr().out
    assert main(["sample", str(tmp_path / "c"), "-n", "10", "-o", str(tmp_path / "s.npy")]) == 0


def test_veegan_with_the_users_reconstructor(tmp_path, rows):
    F = nn.Linear(2, 2)
    before = F.weight.clone()
    summary = modegan.fit(make_g(), make_d(4), rows, method("veegan"), out=tmp_path / "v", steps=4, z_dim=2,
                          reconstructor=F)
    assert summary["status"] == "finished" and not torch.equal(F.weight, before)  # F trained
    assert json.loads((tmp_path / "v" / "parts.json").read_text())["reconstructor"]["class"].endswith(":Linear")


def test_a_built_in_run_over_a_fit_run_is_not_a_fit_run(tmp_path, rows, tiny):
    modegan.fit(make_g(), make_d(), rows, method("gan"), out=tmp_path / "o", steps=2, z_dim=2)
    tiny["train"]["steps"] = 2
    modegan.train(tiny, out=tmp_path / "o", overwrite=True)
    assert not (tmp_path / "o" / "parts.json").exists() and not (tmp_path / "o" / "data.pt").exists()
    assert modegan.load(tmp_path / "o").sample(3, torch.Generator()).shape == (3, 2)


def test_method_as_a_run_config_and_a_device(tmp_path, rows):
    cfg = modegan.build_config(preset="wgan-gp", overrides={**FAST, "loss": {"gp_weight": 0.1}})
    summary = modegan.fit(make_g(), make_d(), rows, cfg, out=tmp_path / "rc", steps=3, z_dim=2, device="cpu")
    saved = modegan.train.rundir.RunDir(tmp_path / "rc").read_config()
    assert summary["device"] == "cpu" and saved.loss.gp_weight == 0.1 and saved.preset == "wgan-gp"
    with pytest.raises(ModeganError, match="method must be a preset name"):
        modegan.fit(make_g(), make_d(), rows, 3, out=tmp_path / "m", z_dim=2)
    with pytest.raises(ModeganError, match="unknown preset"):
        modegan.fit(make_g(), make_d(), rows, "ganx", out=tmp_path / "m", z_dim=2)


class ConvD(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 3 * 3, 1))

    def forward(self, x):
        return self.net(x)


@pytest.mark.parametrize("side, metrics", [(8, {"w1"}), (72, set())])
def test_image_shaped_rows(side, metrics, tmp_path):
    images = torch.rand(60, 1, side, side) * 2 - 1
    G = nn.Sequential(nn.Linear(4, side * side), nn.Tanh(), nn.Unflatten(1, (1, side, side)))
    D = ConvD() if side == 8 else nn.Sequential(nn.Flatten(), nn.Linear(side * side, 1))
    m = method("wgan-gp", train={"eval_samples": 50, "eval_every": 4})
    summary = modegan.fit(G, D, DataLoader(TensorDataset(images), batch_size=16), m, out=tmp_path / "i", steps=4,
                          z_dim=4)
    assert summary["status"] == "finished" and set(summary["metrics"]) == metrics
    assert summary["dataset"]["shape"] == [1, side, side]
    assert ("no metrics" in summary["dataset"]["metrics"]) != bool(metrics)
    with pytest.raises(ModeganError, match="diwgan's default autoencoder takes flat rows.*pass encoder="):
        modegan.fit(G, D, images, method("diwgan"), out=tmp_path / "d", steps=2, z_dim=4)


def make_img_g():
    return nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Unflatten(1, (1, 8, 8)))


def make_img_e():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 3))


def test_diwgan_on_image_rows_with_the_users_encoder_trains_and_resumes(tmp_path):
    """Image-shaped rows with a user encoder of images: DIWGAN's targets come from the encoded training images
    (kept as flat rows, reshaped for the encoder), the generator's images are encoded as they are, and a resume
    rebuilds the encoder from the run."""
    images = torch.rand(80, 1, 8, 8) * 2 - 1
    m = method("diwgan", train={"eval_samples": 50, "eval_every": 4})
    summary = modegan.fit(make_img_g(), ConvD(), images, m, out=tmp_path / "i", steps=4, z_dim=4,
                          encoder=make_img_e(), generator_factory=make_img_g, discriminator_factory=ConvD,
                          encoder_factory=make_img_e)
    assert summary["status"] == "finished" and summary["diwgan"]["autoencoder_mse"] == 0.0
    assert summary["diwgan"]["n_targets"] > 0 and summary["dataset"]["shape"] == [1, 8, 8]
    assert modegan.train(resume=tmp_path / "i", steps=8)["step"] == 8
