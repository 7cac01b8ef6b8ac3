"""Config loading: precedence, strict keys, typed values, overrides."""

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
    (["loss.type=hinge"], "loss.type: 'hinge' is not allowed; allowed: minimax, nonsaturating, wasserstein"),
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
