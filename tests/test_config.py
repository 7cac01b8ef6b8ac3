"""Config loading: precedence, strict keys, typed values, overrides."""

import re

import pytest

from modegan.config import RunConfig, build_config, parse_overrides
from modegan.errors import ModeganError
from modegan.presets import PRESETS, get_preset


def test_defaults_are_the_benchmark_setting():
    cfg = RunConfig()
    m = cfg.model
    assert (m.z_dim, m.g_width, m.g_depth, m.d_width, m.d_depth) == (2, 128, 3, 128, 2)
    assert (m.activation, m.g_norm, m.d_norm) == ("relu", "none", "none")
    assert cfg.train.batch_size == 256 and cfg.train.eval_samples == 2500


def test_presets_are_paper_faithful():
    wgan = build_config(preset="wgan")
    assert (wgan.loss.type, wgan.loss.clip, wgan.loss.n_critic) == ("wasserstein", 0.01, 5)
    assert (wgan.d_optim.name, wgan.d_optim.lr) == ("rmsprop", 5e-5)
    gp = build_config(preset="wgan-gp")
    assert (gp.loss.gp_weight, gp.loss.n_critic, gp.d_optim.lr, gp.d_optim.betas) == (10.0, 5, 1e-4, (0.5, 0.9))
    assert build_config(preset="wgan-gp-paper").g_optim.betas == (0.0, 0.9)
    gan = build_config(preset="gan")
    assert gan.loss.type == "nonsaturating" and gan.g_optim.betas == (0.5, 0.999)
    for p in PRESETS.values():
        assert p.source and p.summary


def test_precedence_preset_file_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("preset: wgan-gp\nloss:\n  gp_weight: 1.0\ntrain:\n  steps: 7\n")
    cfg = build_config(file=f, overrides=["loss.gp_weight=0.1", "g_optim.betas=[0,0.9]", "g_optim.lr=1e-3"])
    assert cfg.preset == "wgan-gp"
    assert cfg.loss.gp_weight == 0.1  # override beats file beats preset
    assert cfg.train.steps == 7
    assert cfg.loss.n_critic == 5  # from the preset
    assert cfg.g_optim.betas == (0.0, 0.9) and cfg.g_optim.lr == 1e-3  # "1e-3" is a string in YAML 1.1


def test_any_combination_is_expressible():
    cfg = build_config(overrides=["loss.type=wasserstein", "model.spectral_norm=true", "loss.gp_weight=10"])
    assert cfg.model.spectral_norm and cfg.loss.gp_weight == 10 and cfg.loss.type == "wasserstein"


@pytest.mark.parametrize("override, match", [
    (["loss.typo=1"], "unknown config key 'loss.typo'; allowed: type, clip"),
    (["nope=1"], "unknown config key 'nope'"),
    (["loss.type=logistic"], "loss.type: 'logistic' is not allowed; allowed: minimax, nonsaturating, "
                             "wasserstein, hinge, least_squares"),
    (["train.steps=abc"], "train.steps: expected an integer"),
    (["train.steps=0"], "train.steps: must be a positive integer"),
    (["train.steps=2.5"], "train.steps: expected an integer"),
    (["g_optim.lr=-1"], "g_optim.lr: must be > 0"),
    (["g_optim.lr=nan"], "g_optim.lr: expected a finite number"),
    (["g_optim.betas=[0.5]"], "g_optim.betas: expected a list of 2 numbers"),
    (["d_optim.betas=[1.5,0.9]"], r"d_optim.betas: each must be in \[0, 1\)"),
    (["loss.clip=0"], "loss.clip: must be > 0"),
    (["model.spectral_norm=maybe"], "model.spectral_norm: expected true or false"),
    (["loss"], "bad override 'loss'; expected key=value"),
    (["model=3"], "model: expected a mapping"),
])
def test_bad_values_are_named(override, match):
    with pytest.raises(ModeganError, match=match):
        build_config(overrides=override)


def test_unknown_preset_and_bad_files(tmp_path):
    with pytest.raises(ModeganError, match="unknown preset 'wgan-xx'; allowed: gan, wgan, wgan-gp"):
        get_preset("wgan-xx")
    with pytest.raises(ModeganError, match="config file not found"):
        build_config(file=tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("loss: [unclosed\n")
    with pytest.raises(ModeganError, match="not valid YAML"):
        build_config(file=bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ModeganError, match="must hold a mapping"):
        build_config(file=listy)


def test_parse_overrides_nests_and_types():
    parsed = parse_overrides(["a.b=1", "a.c=x", "d=[1, 2]", "e=null"])
    assert parsed == {"a": {"b": 1, "c": "x"}, "d": [1, 2], "e": None}


def test_clip_can_be_unset():
    """...in favour of another Lipschitz constraint; alone it would leave the critic unconstrained."""
    assert build_config(preset="wgan", overrides=["loss.clip=null", "model.spectral_norm=true"]).loss.clip is None
    with pytest.raises(ModeganError, match="loss.type=wasserstein needs a Lipschitz constraint"):
        build_config(preset="wgan", overrides=["loss.clip=null"])


@pytest.mark.parametrize("overrides, match", [
    ({"train": {"seed": 2**64}}, "train.seed: must be in [0, 9,223,372,036,854,775,807]"),
    ({"g_optim": {"lr": 1e300}}, "g_optim.lr: must be in (0, 10]"),
    ({"train": {"steps": 10**12}}, "train.steps: must be in [1, 1,000,000,000]"),
    ({"train": {"batch_size": 10**9}}, "above the limit of 268,435,456"),
    ({"model": {"g_width": 10**6}}, "model.g_width=1,000,000 needs a tensor"),
    ({"data": {"n_train": 10**9}}, "data.n_train=1,000,000,000 needs a tensor"),
    ({"train": {"eval_samples": 10**9}}, "train.eval_samples: at most 10,000 for toy data"),
    ({"data": {"name": "mnist"}, "train": {"eval_samples": 10**6}}, "train.eval_samples=1,000,000 needs a tensor"),
])
def test_limits_apply_to_the_python_api_too(overrides, match):
    """The limits live in `validate`, so modegan.train(dict) and resume reject what the CLI rejects."""
    with pytest.raises(ModeganError) as e:
        build_config(overrides=overrides)
    assert match in str(e.value)


def test_defaults_and_presets_are_within_the_limits():
    for name in PRESETS:
        build_config(preset=name)
    for data in ("mnist", "stacked-mnist", "cifar10"):
        build_config(overrides={"data": {"name": data}})


@pytest.mark.parametrize("content, match", [
    (b"", "holds no settings"),
    (b"# only a comment\n", "holds no settings"),
    (b"\xff\xfe\x00binary", "is not UTF-8 text"),
    (b"[1, 2]\n", "must hold a mapping of sections, got list"),
    (b"train: [1, 2]\n", "train: expected a mapping, got [1, 2]"),
    (b"train: 1\n", "train: expected a mapping, got 1"),
])
def test_config_files_that_hold_no_mapping_are_errors(tmp_path, content, match):
    """An empty file was read as 'the defaults'; binary content raised UnicodeDecodeError."""
    f = tmp_path / "c.yaml"
    f.write_bytes(content)
    with pytest.raises(ModeganError, match=re.escape(match)):
        build_config(file=f)


def test_check_types_rejects_bad_values_without_building_a_config():
    """What the CLI runs on overrides before a flag can replace them (`--steps 20 train.steps=abc`)."""
    from modegan.config import check_types

    check_types({"data": {"image_size": 32}, "train": {"steps": 5}})  # types only: no image-data check here
    with pytest.raises(ModeganError, match="train.steps: expected an integer, got 'abc'"):
        check_types({"train": {"steps": "abc"}})
    with pytest.raises(ModeganError, match="unknown config key 'trian'"):
        check_types({"trian": {}})


def test_train_steps_argument_has_the_limit_too(tmp_path):
    """`modegan.train(cfg, steps=...)` sets the budget after validation; it is checked before anything is written."""
    import modegan

    with pytest.raises(ModeganError, match=re.escape("train.steps: must be in [1, 1,000,000,000]")):
        modegan.train({"preset": "gan"}, out=tmp_path / "r", steps=10**12)
    assert not (tmp_path / "r").exists()
