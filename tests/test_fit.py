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


def image_nets(side: int, z: int = 4, d_inputs: int | None = None):
    torch.manual_seed(3)
    G = nn.Sequential(nn.Linear(z, side * side), nn.Tanh(), nn.Unflatten(1, (1, side, side)))
    D = nn.Sequential(nn.Flatten(), nn.Linear(d_inputs or side * side, 1))
    return G, D


@pytest.mark.parametrize("side, encoder", [(28, "conv"), (8, "mlp")])
def test_diwgan_default_autoencoder_on_image_rows(side, encoder, tmp_path):
    """No encoder= on shaped rows: A12's conv autoencoder for 28x28 (or 32x32) images, the MLP on the flattened
    rows for other shapes, each with A12's latent for one channel (16); cached in the run and reused on resume."""
    images = torch.rand(80, 1, side, side) * 2 - 1
    G, D = image_nets(side)
    m = method("diwgan", train={"eval_samples": 50, "eval_every": 2}, diwgan={"ae_steps": 3})
    summary = modegan.fit(G, D, images, m, out=tmp_path / "a", steps=2, z_dim=4)
    cfg = modegan.train.rundir.RunDir(tmp_path / "a").read_config()
    assert summary["status"] == "finished" and (cfg.diwgan.encoder, cfg.diwgan.latent_dim) == (encoder, 16)
    assert summary["diwgan"]["autoencoder_mse"] > 0 and (tmp_path / "a" / "autoencoder.safetensors").is_file()
    assert modegan.fit(G, D, out=tmp_path / "a", resume=True, steps=4)["step"] == 4


def test_diwgan_autoencoder_choices_on_image_rows_are_kept_or_refused(tmp_path):
    images = torch.rand(40, 1, 8, 8)
    G, D = image_nets(8)
    m = method("diwgan", train={"eval_samples": 50, "eval_every": 2}, diwgan={"ae_steps": 2, "latent_dim": 3})
    modegan.fit(G, D, images, m, out=tmp_path / "k", steps=2, z_dim=4)
    assert modegan.train.rundir.RunDir(tmp_path / "k").read_config().diwgan.latent_dim == 3  # the method's own
    conv = {**m, "diwgan": {"ae_steps": 2, "encoder": "conv"}}
    with pytest.raises(ModeganError, match=r"conv needs image rows \(C, 28, 28\).*\(1, 8, 8\)") as e:
        modegan.fit(G, D, images, conv, out=tmp_path / "c", steps=2, z_dim=4)
    assert "\n" not in str(e.value) and not (tmp_path / "c").exists()
    with pytest.raises(ModeganError, match="conv needs image rows"):
        modegan.fit(make_g(), make_d(), torch.randn(40, 2), conv, out=tmp_path / "f",
                    steps=2, z_dim=2)


def test_veegan_default_reconstructor_on_image_rows(tmp_path):
    """VEEGAN's default F takes the images flattened; the user's joint D sees [z, x flattened]."""
    images = torch.rand(40, 1, 8, 8)
    G, D = image_nets(8, d_inputs=4 + 64)
    summary = modegan.fit(G, D, images, method("veegan", train={"eval_samples": 50, "eval_every": 2}),
                          out=tmp_path / "v", steps=2, z_dim=4)
    assert summary["status"] == "finished" and "w1" in summary["metrics"]


# --- the user's metric networks ----------------------------------------------------------------------------


class SignClassifier(nn.Module):
    """Logits (-x0, x0): class 1 where the first value is positive, class 0 where it is negative."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))

    def forward(self, x):
        return self.lin(x.flatten(1)[:, :2])


class FlatFeatures(nn.Module):
    """The rows themselves, flattened, as features (with one parameter, so it has a device and weights); images
    are average-pooled to 9 x 9 first (fd's matrix square root is cubic in the feature width)."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x):
        if x.dim() == 4:
            x = nn.functional.adaptive_avg_pool2d(x, 9)
        return x.flatten(1) * self.scale


def test_class_metrics_by_hand():
    from modegan.fit import class_metrics

    real = torch.tensor([[1.0, 0], [2, 0], [3, 0], [-1, 0]])  # classes 1, 1, 1, 0: shares (1/4, 3/4)
    fake = torch.tensor([[1.0, 5], [0.5, -2]])  # classes 1, 1: shares (0, 1)
    m = class_metrics(SignClassifier(), real, fake)
    assert m["classes"].value == 1 and m["class_tv"].value == pytest.approx(0.25)  # (|0-1/4| + |1-3/4|) / 2
    assert m["class_tv"].protocol["real_classes"] == 2 and m["class_tv"].protocol["n_classes"] == 2
    swapped = class_metrics(SignClassifier(), real, -real)  # every class flipped: shares (3/4, 1/4)
    assert swapped["classes"].value == 2 and swapped["class_tv"].value == pytest.approx(0.5)


def test_feature_metrics_in_the_users_feature_space():
    """With the identity as features, fd is the Fréchet distance of the raw held-out and generated rows."""
    from modegan.fit import user_dataset
    from modegan.metrics.images import frechet_distance

    rows = torch.randn(200, 3, generator=torch.Generator().manual_seed(0))
    data = user_dataset(rows, 0, {"features": FlatFeatures()})
    fake = torch.randn(100, 3, generator=torch.Generator().manual_seed(1)) + 2
    m = data.evaluate_samples(fake, torch.Generator().manual_seed(2), modegan.build_config(preset="gan"))
    assert {"w1", "fd", "kid", "precision", "recall", "density", "coverage"} <= set(m)
    assert m["fd"].value == pytest.approx(frechet_distance(data.held, fake).value)
    assert m["fd"].value > 10  # the mean moved by 2 in each of 3 dimensions: about 12
    assert m["fd"].protocol["features"].endswith(":FlatFeatures")


def make_features():
    return FlatFeatures()


def make_classifier():
    return SignClassifier()


def make_g72():
    return image_nets(72)[0]


def make_d72():
    return image_nets(72)[1]


def test_fit_with_features_and_classifier_on_images_resumes_and_evaluates(tmp_path, capsys):
    """Image rows too large for w1 still get metrics from the user's networks; a resume and `modegan eval`
    rebuild them (factories recorded, weights kept in features.pt and classifier.pt)."""
    from modegan.cli import main

    images = torch.rand(100, 1, 72, 72) * 2 - 1
    G, D = image_nets(72)
    feats, clf = FlatFeatures(), SignClassifier()
    with torch.no_grad():
        feats.scale.fill_(0.5)  # weights the rebuilt network must get back from features.pt
    m = method("wgan-gp", train={"eval_samples": 60, "eval_every": 2})
    summary = modegan.fit(G, D, images, m, out=tmp_path / "f", steps=2, z_dim=4, features=feats, classifier=clf,
                          features_factory=make_features, classifier_factory=make_classifier,
                          generator_factory=make_g72, discriminator_factory=make_d72)
    want = {"fd", "kid", "precision", "recall", "density", "coverage", "classes", "class_tv"}
    assert set(summary["metrics"]) == want and "class_tv" in summary["dataset"]["metrics"]
    assert 1 <= summary["metrics"]["classes"] <= 2 and 0 <= summary["metrics"]["class_tv"] <= 1
    resumed = modegan.train(resume=tmp_path / "f", steps=4)
    assert resumed["step"] == 4 and set(resumed["metrics"]) == want
    assert main(["eval", str(tmp_path / "f"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metrics"]["fd"] == pytest.approx(resumed["metrics"]["fd"], rel=1e-6)


@pytest.mark.parametrize("case, match", [
    ("scores", r"classifier network must return \(n, K\) logits"),
    ("shape", "features network does not take the data's rows"),
    ("toy", "features= and classifier= are for your own rows"),
    ("wide", "the features network returns 5,000 values a row.*at most 4,096"),
    ("type", "classifier='resnet': allowed: a torch.nn.Module, or mnist"),
    ("number", "classifier must be a torch.nn.Module, got int"),
])
def test_bad_metric_networks_are_one_line(case, match, tmp_path, rows):
    kw = {"scores": {"classifier": nn.Linear(2, 1)}, "shape": {"features": nn.Linear(5, 2)},
          "wide": {"features": nn.Linear(2, 5000)},
          "toy": {"features": FlatFeatures()}, "type": {"classifier": "resnet"}, "number": {"classifier": 3}}[case]
    data = "ring8" if case == "toy" else rows
    with pytest.raises(ModeganError, match=match) as e:
        modegan.fit(make_g(), make_d(), data, method("gan"), out=tmp_path / case, steps=2, z_dim=2, **kw)
    assert "\n" not in str(e.value) and not (tmp_path / case).exists()


# --- conditional methods on the user's G(z, labels) and D(x, labels) ---------------------------------------


class CondG(nn.Module):
    """G(z, labels): z and a one-hot label through a small MLP."""

    def __init__(self, n_classes: int = 3):
        super().__init__()
        torch.manual_seed(4)
        self.n_classes = n_classes
        self.net = nn.Sequential(nn.Linear(2 + n_classes, 32), nn.ReLU(), nn.Linear(32, 2))

    def forward(self, z, labels):
        return self.net(torch.cat([z, nn.functional.one_hot(labels, self.n_classes).float()], 1))


class CondD(nn.Module):
    def __init__(self, n_classes: int = 3):
        super().__init__()
        torch.manual_seed(5)
        self.n_classes = n_classes
        self.net = nn.Sequential(nn.Linear(2 + n_classes, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, x, labels):
        return self.net(torch.cat([x, nn.functional.one_hot(labels, self.n_classes).float()], 1))


@pytest.fixture(scope="module")
def labelled():
    """Three classes at x0 = -4, 0, 4 (class k at 4(k - 1)), 300 rows."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(300) % 3
    x = torch.stack([4.0 * (y - 1), torch.zeros(300)], 1) + 0.1 * torch.randn(300, 2, generator=g)
    return x, y


class ThreeWay(nn.Module):
    """Logits of the three classes of `labelled` from x0 (nearest of -4, 0, 4)."""

    def __init__(self):
        super().__init__()
        self.centres = nn.Parameter(torch.tensor([-4.0, 0.0, 4.0]), requires_grad=False)

    def forward(self, x):
        return -(x[:, :1] - self.centres) ** 2


@pytest.mark.parametrize("preset", ["cgan", "cwgan-gp"])
def test_conditional_fit_on_x_y_batches_resumes_and_samples_a_class(preset, tmp_path, labelled):
    x, y = labelled
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    m = method(preset, train={"eval_samples": 200, "eval_every": 5, "plots": False})
    summary = modegan.fit(CondG(), CondD(), loader, m, out=tmp_path / "c", steps=5, z_dim=2, classifier=ThreeWay())
    assert summary["status"] == "finished" and summary["dataset"]["n_classes"] == 3
    assert {"w1", "classes", "class_tv", "cond_acc"} <= set(summary["metrics"])
    assert 0 <= summary["metrics"]["cond_acc"] <= 1
    record = json.loads((tmp_path / "c" / "parts.json").read_text())
    assert record["n_classes"] == 3 and (tmp_path / "c" / "labels.pt").is_file()
    G = CondG()
    assert modegan.fit(G, CondD(), out=tmp_path / "c", resume=True, steps=8, classifier=ThreeWay())["step"] == 8
    loaded = modegan.load(tmp_path / "c", generator=CondG())
    from modegan.fit import user_dataset

    seed = modegan.train.rundir.RunDir(tmp_path / "c").read_config().data.seed
    stored = [torch.load(tmp_path / "c" / f, weights_only=True) for f in ("data.pt", "labels.pt")]
    train_labels = user_dataset(*stored[:1], seed, labels=stored[1]).labels  # the 240 training rows' classes
    assert torch.equal(loaded.class_probs, torch.bincount(train_labels) / 240.0)  # saved with the weights
    pts = loaded.sample(5, torch.Generator().manual_seed(0), labels=2)
    assert pts.shape == (5, 2)


class ClassPoint(nn.Module):
    """G(z, labels) = (4(label - 1), 0) + 0 * z: every sample exactly at its class's centre."""

    def __init__(self, swap: bool = False):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))
        self.swap = swap

    def forward(self, z, labels):
        k = labels.clone()
        if self.swap:  # classes 0 and 2 exchanged
            k = torch.where(labels == 0, 2, torch.where(labels == 2, 0, labels))
        return torch.stack([4.0 * (k.float() - 1), torch.zeros(len(k))], 1) + self.w * z


@pytest.mark.parametrize("swap, acc", [(False, 1.0), (True, None)])
def test_conditional_accuracy_by_hand(swap, acc, tmp_path, labelled):
    """A G that puts class k exactly on class k's centre scores cond_acc 1; one that swaps classes 0 and 2 is
    right only on class 1's samples: cond_acc = the share of class-1 labels drawn (about 1/3)."""
    x, y = labelled
    m = method("cgan", train={"eval_samples": 600, "eval_every": 1, "plots": False})
    s = modegan.fit(ClassPoint(swap), CondD(), x, m, labels=y, out=tmp_path / "h", steps=1, z_dim=2,
                    classifier=ThreeWay())
    if acc is not None:
        assert s["metrics"]["cond_acc"] == 1.0 and s["metrics"]["classes"] == 3
    else:
        assert 0.25 < s["metrics"]["cond_acc"] < 0.42 and s["metrics"]["classes"] == 3


@pytest.mark.parametrize("case, match", [
    ("no_labels", "a conditional method needs labels"),
    ("twice", "labels twice"),
    ("gap", "class 1 has no example"),
    ("negative", "class indices must be 0 or more"),
    ("count", "labels for 300 samples"),
    ("acgan", "acgan with modegan.fit"),
    ("pack", "scheme.pack > 1 with a conditional method"),
    ("unconditional", "labels= is for a conditional method"),
    ("toy", "a conditional method on a built-in toy dataset"),
])
def test_conditional_fit_bad_input_is_one_line(case, match, tmp_path, labelled):
    x, y = labelled
    data, labels, preset, extra = x, y, "cgan", {}
    if case == "no_labels":
        labels = None
    elif case == "twice":
        data = DataLoader(TensorDataset(x, y), batch_size=64)
    elif case == "gap":
        labels = y * 2
    elif case == "negative":
        labels = y - 1
    elif case == "count":
        labels = y[:10]
    elif case == "acgan":
        preset = "acgan"
    elif case == "pack":
        extra = {"scheme": {"pack": 2}}
    elif case == "unconditional":
        preset = "gan"
    elif case == "toy":
        data, labels = "ring8", None
    with pytest.raises(ModeganError, match=match) as e:
        modegan.fit(CondG(), CondD(), data, method(preset, **extra), labels=labels, out=tmp_path / case, steps=2,
                    z_dim=2)
    assert "\n" not in str(e.value) and not (tmp_path / case).exists()


def test_the_shipped_mnist_classifier_by_name(tmp_path):
    """classifier="mnist" and features="mnist": the shipped classifier's digits and its 128 features, the same
    as the built-in MNIST metrics use; recorded by import path, so a resume rebuilds them."""
    from modegan.fit import MnistDigits, MnistFeatures, class_metrics
    from modegan.metrics.classifier import load_classifier

    images = torch.rand(40, 1, 28, 28) * 2 - 1
    shipped = load_classifier()
    assert torch.equal(MnistDigits()(images).argmax(1), shipped.predict(images)[:, 0])
    assert torch.allclose(MnistFeatures()(images.flatten(1)), shipped.features(images), atol=1e-5)
    same = class_metrics(MnistDigits(), images, images)
    assert same["class_tv"].value == 0 and same["classes"].value == len(shipped.predict(images).unique())
    G, D = image_nets(28)
    s = modegan.fit(G, D, images, method("gan", train={"eval_samples": 20, "eval_every": 2}), out=tmp_path / "m",
                    steps=2, z_dim=4, classifier="mnist", features="mnist", generator_factory=make_g28,
                    discriminator_factory=make_d28)
    assert {"fd", "classes", "class_tv", "w1"} <= set(s["metrics"]) and 1 <= s["metrics"]["classes"] <= 10
    assert json.loads((tmp_path / "m" / "parts.json").read_text())["classifier"]["class"] == "modegan.fit:MnistDigits"
    assert set(modegan.train(resume=tmp_path / "m", steps=4)["metrics"]) == set(s["metrics"])
    with pytest.raises(ModeganError, match="classifier='inception': allowed: a torch.nn.Module, or mnist"):
        modegan.fit(G, D, images, "gan", out=tmp_path / "x", z_dim=4, classifier="inception")


def make_g28():
    return image_nets(28)[0]


def make_d28():
    return image_nets(28)[1]
