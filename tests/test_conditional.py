"""Conditional generation (issue 17): labels, conditional networks and terms, their compositions, the conditional
metrics and controllable sampling. Hand-computed where a number is checked."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from modegan.cli import main
from modegan.config import build_config
from modegan.data import load_dataset, mixture
from modegan.data.mixtures import component_classes
from modegan.errors import ModeganError
from modegan.losses.acgan import AuxiliaryClassifier
from modegan.losses.constraints import gradient_penalty
from modegan.metrics.toy import conditional_accuracy, evaluate_toy, within_class_modes
from modegan.nets.conditional import (
    ACGANDiscriminator,
    ConcatDiscriminator,
    ConditionalGenerator,
    ProjectionDiscriminator,
    check_labels,
    join,
    split,
)
from modegan.nets.mlp import MLPDiscriminator, MLPGenerator
from modegan.presets import PRESETS
from modegan.train import load, sample, train
from modegan.train.batched import batch_unsupported
from modegan.train.control import interpolate, slerp, truncated_z
from modegan.train.parts import build_parts
from modegan.train.steps import train_step

CONDITIONAL = ("cgan", "cwgan-gp", "acgan", "projection", "iwcgan")
TINY = {"data": {"name": "grid25", "classes": "rows", "n_train": 1000},
        "model": {"g_width": 16, "d_width": 16},
        "train": {"steps": 6, "batch_size": 32, "eval_every": 3, "eval_samples": 200, "plots": False}}


def cfg_of(preset=None, **sections):
    over = {k: dict(v) for k, v in TINY.items()}
    for k, v in sections.items():
        over[k] = {**over.get(k, {}), **v}
    return build_config(preset=preset, overrides=over)


# --- labels ----------------------------------------------------------------------------------------------


def test_grid25_rows_columns_and_blocks():
    mix = mixture("grid25")  # component 5a + b sits at (values[a], values[b])
    rows = component_classes(mix, "rows")
    cols = component_classes(mix, "columns")
    assert rows.tolist() == [b for a in range(5) for b in range(5)]  # row = the y coordinate's rank
    assert cols.tolist() == [a for a in range(5) for b in range(5)]
    assert np.all(mix.means[rows == 0][:, 1] == -4) and np.all(mix.means[cols == 4][:, 0] == 4)
    assert component_classes(mix, "components").tolist() == list(range(25))
    assert component_classes(mixture("ring8"), "2").tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert component_classes(mixture("ring8"), "3").tolist() == [0, 0, 0, 1, 1, 1, 2, 2]


@pytest.mark.parametrize("name, classes, match", [
    ("grid25-random", "rows", "do not lie in rows"),
    ("grid25-random", "columns", "do not lie in columns"),
    ("ring8", "9", "N must be in"),
    ("swissroll", "components", "has none"),
])
def test_bad_groupings_are_one_line(name, classes, match):
    with pytest.raises(ModeganError, match=match):
        load_dataset(name, n_train=10, classes=classes)


def test_labels_follow_the_training_points_which_do_not_change():
    plain = load_dataset("grid25", seed=3, n_train=500)
    labelled = load_dataset("grid25", seed=3, n_train=500, classes="rows")
    assert torch.equal(plain.train, labelled.train) and plain.labels is None
    assert labelled.n_classes == 5 and labelled.labels.shape == (500,)
    # each point's label is the row of its nearest mean: the y coordinate rounded to the grid
    expect = torch.round((labelled.train[:, 1] + 4) / 2).long()
    assert torch.equal(labelled.labels, expect)
    assert torch.allclose(labelled.class_probs(), torch.full((5,), 0.2))
    x, y = labelled.sample_real_labelled(300, torch.Generator().manual_seed(1))
    assert torch.equal(x, labelled.sample_real(300, torch.Generator().manual_seed(1)))
    assert torch.equal(y, torch.round((x[:, 1] + 4) / 2).long())
    assert labelled.describe()["n_classes"] == 5 and "n_classes" not in plain.describe()


def test_biased_training_sets_keep_their_labels_and_weights():
    probs = [2.0] * 5 + [1.0] * 20
    d = load_dataset("grid25", n_train=400, mode_probs=probs, classes="columns")
    assert d.weights is not None and torch.equal(d.labels, torch.round((d.train[:, 0] + 4) / 2).long())


@pytest.mark.parametrize("labels, match", [
    ([0, 1.5], "non-integer"), ([0, 7], "label 7 is not a class"), ([-1], "label -1"), ([[0]], "1-D"),
    ([True], "integers"),
])
def test_bad_labels_are_one_line(labels, match):
    with pytest.raises(ModeganError, match=match):
        check_labels(labels, 5)


def test_join_and_split_round_trip():
    x, y = torch.randn(4, 2), torch.tensor([0, 3, 1, 4])
    b = join(x, y)
    assert b.shape == (4, 3)
    x2, y2 = split(b)
    assert torch.equal(x2, x) and torch.equal(y2, y) and y2.dtype == torch.long


# --- conditional networks and terms ---------------------------------------------------------------------


def _linear_d(in_dim, depth=1):
    torch.manual_seed(0)
    return MLPDiscriminator(in_dim, width=3, depth=depth)


def test_projection_term_by_hand():
    """D(x, y) = psi(phi(x)) + <embed(y), phi(x)>, phi the hidden layer."""
    base = _linear_d(2)
    D = ProjectionDiscriminator(base, n_classes=4, feature_dim=3)
    x, y = torch.randn(5, 2), torch.tensor([0, 1, 2, 3, 1])
    phi = base.net[:-1](x)
    expect = base(x) + (D.embed.weight[y] * phi).sum(-1)
    assert torch.allclose(D(join(x, y)), expect)
    with torch.no_grad():  # classes whose embeddings differ only by a vector orthogonal to phi score alike
        D.embed.weight.zero_()
    assert torch.allclose(D(join(x, y)), base(x))


def test_concat_discriminator_sees_the_embedding():
    base = _linear_d(2 + 4)
    D = ConcatDiscriminator(base, n_classes=3, embed_dim=4)
    x, y = torch.randn(5, 2), torch.tensor([0, 1, 2, 0, 1])
    assert torch.allclose(D(join(x, y)), base(torch.cat([x, D.embed.weight[y]], 1)))


def test_packed_concat_discriminator_carries_every_label():
    base = _linear_d(2 * (2 + 4))
    D = ConcatDiscriminator(base, n_classes=3, embed_dim=4, pack_size=2)
    x, y = torch.randn(6, 2), torch.tensor([0, 1, 2, 0, 1, 2])
    inputs = torch.cat([x, D.embed.weight[y]], 1).reshape(3, 12)  # pack j = samples 2j, 2j + 1, labels included
    assert D(join(x, y)).shape == (3,)
    assert torch.allclose(D(join(x, y)), base(inputs))


def test_acgan_term_by_hand():
    base = _linear_d(2)
    D = ACGANDiscriminator(base, n_classes=3, feature_dim=3)
    real = join(torch.randn(4, 2), torch.tensor([0, 1, 2, 0]))
    fake = join(torch.randn(4, 2), torch.tensor([2, 2, 1, 0]))
    assert torch.allclose(D(real), base(real[:, :2]))  # the score ignores the label

    def ce(batch):  # -log softmax(W phi(x) + c)_y, averaged
        logits = D.classifier(base.net[:-1](batch[:, :2]))
        return -(logits.log_softmax(-1)[torch.arange(4), batch[:, 2].long()]).mean()

    class P:
        pass

    p = P()
    p.D = D
    term = AuxiliaryClassifier(weight=0.5)
    assert torch.allclose(term.d_term(p, real, fake), 0.5 * (ce(real) + ce(fake)))
    assert torch.allclose(term.g_term(p, fake), 0.5 * ce(fake))
    assert torch.allclose(term.g_term(p, fake), 0.5 * F.cross_entropy(D.class_logits(fake), torch.tensor([2, 2, 1, 0])))


def test_generator_draws_for_the_given_labels_and_the_real_labels():
    torch.manual_seed(0)
    G = ConditionalGenerator(MLPGenerator(2 + 4, 2, width=8, depth=1), 2, 3, 4, torch.tensor([0.0, 1.0, 0.0]))
    rng = torch.Generator().manual_seed(0)
    assert torch.equal(split(G(G.sample_z(50, rng)))[1], torch.ones(50, dtype=torch.long))  # the prior: class 1 only
    real = join(torch.randn(6, 2), torch.tensor([0, 2, 2, 1, 0, 0]))
    fake = G(G.latent_like(real, rng))
    assert torch.equal(split(fake)[1], split(real)[1])
    z = torch.randn(3, 2, generator=torch.Generator().manual_seed(5))
    x = G.sample(3, torch.Generator().manual_seed(5), labels=[2, 0, 1])
    assert torch.allclose(x, G.generate(z, torch.tensor([2, 0, 1])))
    assert torch.allclose(G.sample(3, torch.Generator().manual_seed(5), labels=2), G.generate(z, torch.full((3,), 2)))


def test_gradient_penalty_interpolates_keep_the_label_and_ignore_it():
    """Interpolates of real and generated points with the same labels keep them; the label column has no gradient,
    so the penalty is that of grad_x D(x, y)."""
    D = ProjectionDiscriminator(_linear_d(2), n_classes=3, feature_dim=3)
    y = torch.tensor([0, 1, 2, 1])
    real, fake = join(torch.randn(4, 2), y), join(torch.randn(4, 2), y)
    gp = gradient_penalty(D, real, fake, torch.Generator().manual_seed(0))
    eps = torch.rand(4, 1, generator=torch.Generator().manual_seed(0))
    x_hat = (eps * real[:, :2] + (1 - eps) * fake[:, :2]).requires_grad_(True)
    (g,) = torch.autograd.grad(D(join(x_hat, y)).sum(), x_hat)
    assert torch.allclose(gp, (g.norm(dim=1) - 1) ** 2, atol=1e-6)


# --- training: every preset, the compositions, the rejections --------------------------------------------


@pytest.mark.parametrize("preset", CONDITIONAL)
def test_every_conditional_preset_trains_and_reports_the_conditional_metrics(preset, tmp_path):
    assert PRESETS[preset].source
    s = train(cfg_of(preset), out=tmp_path / preset)
    assert s["status"] == "finished"
    assert {"cond_acc", "within_modes", "within_coverage", "modes", "w1"} <= set(s["metrics"])
    assert s["protocol"]["within_modes"]["per_class_modes"] and s["protocol"]["cond_acc"]["classes"] == "rows"
    assert batch_unsupported(cfg_of(preset)) is not None  # seeds train one after another


def test_conditional_run_is_reproducible_resumes_and_loads(tmp_path):
    cfg = cfg_of("acgan")
    full = train(cfg, out=tmp_path / "full")
    train(cfg, out=tmp_path / "half", steps=3)
    resumed = train(resume=tmp_path / "half", steps=6)
    assert resumed["metrics"] == full["metrics"]
    G = load(tmp_path / "full")
    assert isinstance(G, ConditionalGenerator) and G.n_classes == 5
    x = sample(tmp_path / "full", 7, seed=1, labels=3)
    assert x.shape == (7, 2)
    assert torch.equal(x, sample(tmp_path / "full", 7, seed=1, labels=[3] * 7))


@pytest.mark.parametrize("sections", [
    {"scheme": {"pack": 2}},
    {"scheme": {"unroll": 2}, "loss": {"type": "minimax"}},
    {"loss": {"clip": 0.1, "type": "wasserstein"}},
    {"loss": {"gp_weight": 1.0, "type": "wasserstein"}, "weighting": {"gen": ["density_ratio"]}},
    {"weighting": {"gen": ["topk"], "disc_real": ["hard"], "disc_fake": ["hard"]}},
    {"data": {"mode_probs": [2.0] * 5 + [1.0] * 20}, "weighting": {"disc_real": ["data"]}},
    {"loss": {"n_critic": 2}, "train": {"ema": 0.9}},
])
@pytest.mark.parametrize("conditioning", ["concat", "projection", "acgan"])
def test_compositions_train_or_are_rejected_in_one_line(conditioning, sections, tmp_path):
    try:
        cfg = cfg_of(model={"conditioning": conditioning}, **sections)
    except ModeganError as e:
        assert "\n" not in str(e) and "model.conditioning" in str(e)
        assert conditioning != "concat"  # concat composes with every one of these
        return
    parts = build_parts(cfg, 2, n_classes=5)
    data = load_dataset("grid25", n_train=200, classes="rows", mode_probs=cfg.data.mode_probs or None)
    weights = data.weights
    out = train_step(parts, join(data.train, data.labels), cfg.train.batch_size, weights)
    assert all(torch.isfinite(v).all() for v in out.values())
    assert ("acgan_d" in out) == (conditioning == "acgan")


@pytest.mark.parametrize("over, match", [
    ({"model": {"conditioning": "projection"}, "scheme": {"pack": 2}}, "a pack carries m labels"),
    ({"model": {"conditioning": "acgan"}, "scheme": {"unroll": 2}}, "unrolled discriminator steps"),
    ({"model": {"conditioning": "concat"}, "scheme": {"veegan": True}}, "VEEGAN"),
    ({"model": {"conditioning": "concat"}, "diwgan": {"enabled": True}}, "DIWGAN"),
    ({"model": {"conditioning": "concat"}, "weighting": {"gen": ["distance"]}}, "another class"),
    ({"data": {"name": "mnist", "classes": "rows"}}, "carry their own labels"),
    ({"data": {"name": "stacked-mnist", "classes": "digit3"}}, "allowed: triple, digit0, digit1, digit2"),
    ({"loss": {"ac_weight": 2.0}}, "applies only with model.conditioning=acgan"),
    ({"model": {"embed_dim": 4}}, "model.embed_dim applies only"),
    ({"data": {"classes": "diagonals"}}, "data.classes: 'diagonals' is not allowed"),
])
def test_rejections_are_one_line(over, match):
    with pytest.raises(ModeganError, match=match) as e:
        build_config(overrides=over)
    assert "\n" not in str(e.value)


def test_unconditional_configs_are_unchanged():
    """The new keys stay out of plain configs (their hashes are what they were)."""
    d = build_config(preset="gan").to_dict()
    assert "classes" not in d["data"] and "conditioning" not in d["model"] and "ac_weight" not in d["loss"]
    c = build_config(preset="cgan").to_dict()
    assert c["data"]["classes"] == "components" and c["model"]["embed_dim"] == 16
    assert "ac_weight" in build_config(preset="acgan").to_dict()["loss"]


def test_unconditional_run_with_classes_gets_within_class_coverage(tmp_path):
    s = train(cfg_of("gan"), out=tmp_path / "g")
    assert "within_modes" in s["metrics"] and "cond_acc" not in s["metrics"]
    assert "unconditional" in s["protocol"]["within_modes"]["labels"]


# --- the conditional metrics -----------------------------------------------------------------------------


def _on_modes(mix, comps):
    return torch.from_numpy(mix.means[comps]).float()


def test_a_sampler_that_puts_class_k_on_mode_k_scores_one():
    mix = mixture("grid25")
    comps = np.repeat(np.arange(25), 4)
    x, class_of = _on_modes(mix, comps), component_classes(mix, "components")
    acc = conditional_accuracy(x, comps, mix, class_of)
    assert acc.value == 1.0 and acc.protocol["per_class_acc"] == [1.0] * 25
    wm, wc = within_class_modes(x, mix, class_of, comps)
    assert wm.value == 1.0 and wc.value == 100.0


def test_swapping_two_classes_scores_accordingly():
    mix = mixture("grid25")
    comps = np.repeat(np.arange(25), 4)
    labels = comps.copy()
    labels[comps == 0], labels[comps == 1] = 1, 0  # classes 0 and 1 drawn on each other's mode
    x, class_of = _on_modes(mix, comps), component_classes(mix, "components")
    acc = conditional_accuracy(x, labels, mix, class_of)
    assert acc.value == pytest.approx(23 / 25)
    assert acc.protocol["per_class_acc"][:3] == [0.0, 0.0, 1.0]
    wm, wc = within_class_modes(x, mix, class_of, labels)
    assert wm.value == pytest.approx(23 / 25) and wc.value == pytest.approx(92.0)


def test_within_class_coverage_on_rows_by_hand():
    """rows: class k is the row at y = -4 + 2k. Class 0's samples hit 3 of its 5 modes, class 1's all 5, class 2's
    land on row 3 (wrong class: nothing), classes 3 and 4 one mode each."""
    mix = mixture("grid25")
    class_of = component_classes(mix, "rows")
    comp = lambda a, b: 5 * a + b  # noqa: E731  x index a, row b
    plan = [(0, [comp(0, 0), comp(1, 0), comp(2, 0)]), (1, [comp(a, 1) for a in range(5)]),
            (2, [comp(0, 3), comp(1, 3)]), (3, [comp(4, 3)]), (4, [comp(2, 4)])]
    comps = [c for _, cs in plan for c in cs]
    labels = [k for k, cs in plan for _ in cs]
    x = _on_modes(mix, comps)
    wm, wc = within_class_modes(x, mix, class_of, labels)
    assert wm.protocol["per_class_modes"] == [3, 5, 0, 1, 1]
    assert wm.value == pytest.approx(10 / 5) and wm.protocol["max"] == 5.0
    assert wc.value == pytest.approx(100 * 10 / 25)
    acc = conditional_accuracy(x, labels, mix, class_of)
    assert acc.value == pytest.approx(10 / 12)
    # without labels, a sample counts for the class of its nearest mode: row 3 then has 3 modes hit
    wm_u, _ = within_class_modes(x, mix, class_of)
    assert wm_u.protocol["per_class_modes"] == [3, 5, 0, 3, 1]


def test_far_samples_are_never_correct():
    mix = mixture("grid25")
    x = torch.full((10, 2), 100.0)
    acc = conditional_accuracy(x, [0] * 10, mix, component_classes(mix, "rows"))
    assert acc.value == 0.0 and acc.protocol["per_class_hqs"][0] == 0.0 and acc.protocol["per_class_acc"][1] is None


def test_evaluate_toy_adds_the_conditional_metrics_only_with_classes():
    plain = load_dataset("grid25", n_train=50)
    rows = load_dataset("grid25", n_train=50, classes="rows")
    x = rows.train[:40]
    assert "within_modes" not in evaluate_toy(x, plain, torch.Generator().manual_seed(0))
    m = evaluate_toy(x, rows, torch.Generator().manual_seed(0), labels=rows.labels[:40])
    assert m["cond_acc"].value == 1.0  # real points are their own class


# --- controllable generation -----------------------------------------------------------------------------


def test_slerp_and_truncation():
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    path = slerp(a, b, torch.tensor([0.0, 0.5, 1.0]))[0]
    assert torch.allclose(path[0], a[0]) and torch.allclose(path[2], b[0])
    s = np.sin(np.pi / 4) / np.sin(np.pi / 2)  # omega = 90 degrees
    assert torch.allclose(path[1], torch.tensor([s, 2 * s], dtype=torch.float32))
    z = truncated_z(1000, 3, torch.Generator().manual_seed(0), 0.5)
    assert z.abs().max() <= 0.5 and z.std() > 0.2
    with pytest.raises(ModeganError, match="positive number"):
        truncated_z(3, 2, torch.Generator(), -1.0)


@pytest.fixture(scope="module")
def cond_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cond") / "run"
    train(cfg_of("cgan"), out=out)
    return out


def test_interpolation_grids(cond_run):
    x, labels = interpolate(cond_run, steps=4, rows=3, seed=0, labels=2)
    assert x.shape == (3, 4, 2) and torch.equal(labels, torch.full((3, 4), 2))
    x2, labels2 = interpolate(cond_run, rows=2, across_classes=True)
    assert x2.shape == (2, 5, 2) and labels2[0].tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ModeganError, match="--steps"):
        interpolate(cond_run, steps=1)


def test_plain_runs_refuse_labels(tmp_path):
    train(cfg_of("gan", data={"classes": None}), out=tmp_path / "g")
    with pytest.raises(ModeganError, match="needs a conditional run"):
        sample(tmp_path / "g", 3, labels=1)
    with pytest.raises(ModeganError, match="labels need a conditional generator"):
        load(tmp_path / "g").sample(3, torch.Generator(), labels=[0, 1, 2])
    with pytest.raises(ModeganError, match="needs a conditional run"):
        interpolate(tmp_path / "g", across_classes=True)
    x, labels = interpolate(tmp_path / "g", steps=3, rows=2)
    assert x.shape == (2, 3, 2) and labels is None


def test_cli_sample_class_labels_and_interpolate(cond_run, tmp_path, capsys):
    out = tmp_path / "s.npy"
    assert main(["sample", str(cond_run), "-n", "5", "--class", "4", "-o", str(out)]) == 0
    assert np.load(out).shape == (5, 2)
    labels = tmp_path / "labels.txt"
    labels.write_text("0 1 2\n3\n")
    assert main(["sample", str(cond_run), "--labels", str(labels), "-o", str(out)]) == 0
    assert np.load(out).shape == (4, 2)
    labels.write_text("0 1.5\n")
    assert main(["sample", str(cond_run), "--labels", str(labels), "-o", str(out)]) == 2
    assert "integers" in capsys.readouterr().err
    assert main(["sample", str(cond_run), "--class", "5", "-o", str(out)]) == 2
    assert "allowed: 0..4" in capsys.readouterr().err
    png = tmp_path / "i.png"
    assert main(["interpolate", str(cond_run), "--steps", "4", "--rows", "2", "-o", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert main(["interpolate", str(cond_run), "--across-classes", "-o", str(tmp_path / "i.npy")]) == 0
    assert np.load(tmp_path / "i.npy").shape == (8, 5, 2)
    capsys.readouterr()
    assert main(["eval", str(cond_run), "--json"]) == 0
    assert "cond_acc" in json.loads(capsys.readouterr().out)["metrics"]


# --- images ------------------------------------------------------------------------------------------------

IMG = {"model": {"g_width": 4, "d_width": 4, "z_dim": 8},
       "train": {"batch_size": 8, "steps": 2, "eval_every": 2, "eval_samples": 30, "feature_samples": 30}}


def _image_cfg(preset, data, **sections):
    over = {k: dict(v) for k, v in IMG.items()}
    over["data"] = data
    for k, v in sections.items():
        over[k] = {**over.get(k, {}), **v}
    return build_config(preset=preset, overrides=over)


def test_image_labels_join_as_a_channel():
    x, y = torch.randn(3, 2, 4, 4), torch.tensor([1, 0, 7])
    b = join(x, y)
    assert b.shape == (3, 3, 4, 4) and torch.all(b[:, 2] == y[:, None, None].float())
    x2, y2 = split(b)
    assert torch.equal(x2, x) and torch.equal(y2, y)


def test_folder_labels_are_the_subfolders(tmp_path):
    from PIL import Image

    from modegan.data.datasets import image_class_labels
    from modegan.data.folder import load_image_folder

    for name, n in (("b_cats", 2), ("a_dogs", 3)):
        (tmp_path / name).mkdir()
        for i in range(n):
            Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / name / f"{i}.png")
    d = load_image_folder(tmp_path, size=28)
    labels, n = image_class_labels(d)
    assert n == 2 and sorted(labels.tolist()) == [0, 0, 0, 1, 1]  # a_dogs is class 0
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "loose.png")
    with pytest.raises(ModeganError, match="own subfolder"):
        image_class_labels(load_image_folder(tmp_path, size=28))


def test_a_class_with_no_example_is_one_line():
    from modegan.data.datasets import image_class_labels
    from modegan.data.images import TensorImages

    d = TensorImages("x", torch.zeros(3, 1, 28, 28, dtype=torch.uint8), torch.tensor([0, 2, 2]), "test")
    with pytest.raises(ModeganError, match="class 1 has no example"):
        image_class_labels(d)


@pytest.mark.parametrize("preset, classes, expect", [
    ("acgan", None, {"cond_acc", "intra_fd", "digit_kl"}),
    pytest.param("cgan", "digit1", {"cond_acc", "class_kl", "class_modes", "intra_fd", "modes"},
                 marks=pytest.mark.slow),
    pytest.param("projection", "triple", {"cond_acc", "modes"}, marks=pytest.mark.slow),
])
def test_mnist_and_stacked_mnist_conditional_runs(preset, classes, expect, mnist_dir, stub_classifier, tmp_path):
    name = "mnist" if classes is None else "stacked-mnist"
    data = {"name": name, "dir": str(mnist_dir), "verify": False, **({"n_train": 64, "classes": classes}
                                                                    if classes else {})}
    cfg = _image_cfg(preset, data, train={"classifier": str(stub_classifier)})
    s = train(cfg, out=tmp_path / "r")
    assert s["status"] == "finished" and expect <= set(s["metrics"])
    assert s["dataset"]["n_classes"] == (10 if classes != "triple" else 1000)
    assert (tmp_path / "r" / "samples" / "step_0000002.png").is_file()  # the class x samples grid
    G = load(tmp_path / "r")
    assert G.sample(4, torch.Generator().manual_seed(0), labels=3).shape == (4, 1 if name == "mnist" else 3, 28, 28)


def test_conditional_image_metrics_by_hand(mnist_dir, stub_classifier):
    """cond_acc counts the classifier's digit equal to the label: relabelling the samples with the classifier's
    own predictions scores 1, and one wrong class in ten lowers it by that class's share."""
    from modegan.data.datasets import image_class_labels
    from modegan.data.images import load_mnist
    from modegan.metrics.classifier import load_classifier
    from modegan.metrics.images import conditional_image_metrics

    d = load_mnist(mnist_dir, verify=False)
    c = load_classifier(stub_classifier)
    x = d.batch(torch.arange(20))
    pred = c.predict(x)[:, 0].cpu()
    class_labels, n = image_class_labels(d)
    m = conditional_image_metrics(x, pred, d, class_labels, n, classifier=c, generator=torch.Generator(),
                                  n_feature_samples=20)
    assert m["cond_acc"].value == 1.0
    wrong = pred.clone()
    wrong[pred == pred[0]] = (pred[0] + 1) % 10
    m2 = conditional_image_metrics(x, wrong, d, class_labels, n, classifier=c, generator=torch.Generator(),
                                   n_feature_samples=20)
    assert m2["cond_acc"].value == pytest.approx(1 - float((pred == pred[0]).float().mean()))


def test_images_reject_projection_packs(tmp_path):
    with pytest.raises(ModeganError, match="a pack carries m labels"):
        _image_cfg("projection", {"name": "cifar10"}, scheme={"pack": 2})


# --- point clouds --------------------------------------------------------------------------------------------


@pytest.fixture
def cloud(tmp_path):
    rng = np.random.default_rng(0)
    y = np.arange(60) % 3
    x = rng.normal(size=(60, 2)) * 0.1 + np.stack([y, -y], 1)
    csv = tmp_path / "c.csv"
    csv.write_text("a,label,b\n" + "".join(f"{a},{k},{b}\n" for (a, b), k in zip(x, y, strict=True)))
    np.save(tmp_path / "c.npy", x.astype(np.float32))
    np.save(tmp_path / "y.npy", y)
    return tmp_path, x.astype(np.float32), y


def test_point_cloud_labels_from_a_column_or_a_second_npy(cloud, tmp_path):
    d, x, y = cloud
    by_name = load_dataset(str(d / "c.csv"), label_column="label")
    by_index = load_dataset(str(d / "c.csv"), label_column="1")
    from_npy = load_dataset(str(d / "c.npy"), labels=str(d / "y.npy"))
    for ds in (by_name, by_index, from_npy):
        assert ds.labels.tolist() == y.tolist() and ds.n_classes == 3
        assert torch.allclose(ds.train, torch.from_numpy(x), atol=1e-6)  # the label column is not a coordinate
    assert torch.allclose(from_npy.class_probs(), torch.full((3,), 1 / 3))
    s = train(build_config(preset="cgan", overrides={"data": {"name": str(d / "c.csv"), "label_column": "label"},
                                                    "train": {"steps": 2, "eval_every": 2, "eval_samples": 50}}),
              out=tmp_path / "run")
    assert s["status"] == "finished" and s["dataset"]["n_classes"] == 3
    assert sample(tmp_path / "run", 4, labels=1).shape == (4, 2)
    assert main(["train", "--preset", "acgan", "--data", str(d / "c.csv"), "--label-column", "label", "--steps", "2",
                 "train.eval_every=2", "train.eval_samples=50", "--out", str(tmp_path / "cli"), "--no-progress"]) == 0
    assert json.loads((tmp_path / "cli" / "summary.json").read_text())["dataset"]["classes"] == "column label"


def _npy_labels(d, labels):
    np.save(d / "labels.npy", labels)
    return load_dataset(str(d / "c.npy"), labels=str(d / "labels.npy"))


@pytest.mark.parametrize("make, match", [
    (lambda d: load_dataset(str(d / "c.csv"), label_column="nope"), "no label column 'nope'; its columns: a, label, b"),
    (lambda d: load_dataset(str(d / "c.csv"), label_column="a"), "is not a non-negative integer class index"),
    (lambda d: _npy_labels(d, np.zeros(5)), "5 labels for 60 points"),
    (lambda d: _npy_labels(d, np.arange(60) % 3 * 2), "class 1 has no example"),
    (lambda d: train(build_config(preset="cgan", overrides={"data": {"name": str(d / "c.npy")}}), out=d / "r"),
     "carries no labels"),
    (lambda d: build_config(overrides={"data": {"name": str(d / "c.npy"), "label_column": "x"}}), "applies to .csv"),
])
def test_bad_point_cloud_labels_are_one_line(cloud, make, match):
    with pytest.raises(ModeganError, match=match) as e:
        make(cloud[0])
    assert "\n" not in str(e.value)
