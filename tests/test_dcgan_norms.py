"""model.g_norm/d_norm on DCGAN networks: unset is the architecture's own, explicit values are built; old
image runs, whose config said "none" when that meant DCGAN's own, still resume and load as they trained."""

import pytest
import torch
import yaml
from torch import nn

import modegan
from modegan.config import build_config
from modegan.errors import ModeganError
from modegan.nets.dcgan import DCGANGenerator
from modegan.train.parts import build_parts
from modegan.train.rundir import RunDir
from test_image_training import TINY

IMG = {**TINY, "train": {**TINY["train"], "plots": False}}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """16 random 28x28 RGB PNGs."""
    import numpy as np
    from PIL import Image

    d = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(16):
        Image.fromarray(rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)).save(d / f"{i:02d}.png")
    return d


def norms(net: nn.Module) -> dict:
    kinds = {"batch": nn.BatchNorm2d, "layer": nn.GroupNorm}
    return {k: sum(isinstance(m, t) for m in net.modules()) for k, t in kinds.items()}


def cfg_for(folder, **model):
    return build_config(preset="gan", overrides={**IMG, "data": {"name": str(folder)}, "model": model})


def test_unset_is_the_architectures_own_and_stays_unset(folder):
    cfg = cfg_for(folder)
    assert (cfg.model.g_norm, cfg.model.d_norm) == (None, None)
    assert cfg.to_dict()["model"]["g_norm"] is None  # the saved config says "DCGAN's own", not a choice
    parts = build_parts(cfg, 3 * 28 * 28)
    assert norms(parts.G) == {"batch": 3, "layer": 0} and norms(parts.D) == {"batch": 2, "layer": 0}
    gp = build_config(preset="wgan-gp", overrides={**IMG, "data": {"name": str(folder)}})
    assert norms(build_parts(gp, 3 * 28 * 28).D) == {"batch": 0, "layer": 2}  # gp_d_norm under the penalty
    toy = build_config(preset="gan")
    assert (toy.model.g_norm, toy.model.d_norm) == ("none", "none")  # the MLP's own, as toy configs record


@pytest.mark.parametrize("g_norm, d_norm", [("layer", "none"), ("none", "layer"), ("batch", "batch")])
def test_explicit_norms_are_built(folder, g_norm, d_norm):
    cfg = cfg_for(folder, g_norm=g_norm, d_norm=d_norm)
    parts = build_parts(cfg, 3 * 28 * 28)
    assert norms(parts.G) == {"batch": 3 * (g_norm == "batch"), "layer": 3 * (g_norm == "layer")}
    assert norms(parts.D) == {"batch": 2 * (d_norm == "batch"), "layer": 2 * (d_norm == "layer")}
    convs = [m for m in parts.G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [c.bias is not None for c in convs] == [g_norm == "none"] * 3 + [True]


def test_the_default_generator_is_unchanged():
    """norm='batch' builds and initialises exactly the DCGAN generator of before (same draws, same modules)."""
    a = DCGANGenerator(28, 1, 8, width=4, generator=torch.Generator().manual_seed(3))
    b = DCGANGenerator(28, 1, 8, width=4, generator=torch.Generator().manual_seed(3), norm="batch")
    assert a.state_dict().keys() == b.state_dict().keys()
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    with pytest.raises(ModeganError, match="generator norm 'group' is not allowed; allowed: batch, layer, none"):
        DCGANGenerator(28, 1, 8, width=4, norm="group")


def test_contradictions_are_one_line(folder):
    with pytest.raises(ModeganError, match="loss.gp_weight > 0 with model.d_norm=batch"):
        build_config(preset="wgan-gp", overrides={**IMG, "data": {"name": str(folder)}, "model": {"d_norm": "batch"}})
    with pytest.raises(ModeganError, match="gp_d_norm=none with model.d_norm=layer"):
        build_config(preset="wgan-gp", overrides={**IMG, "data": {"name": str(folder)},
                                                  "model": {"d_norm": "layer", "gp_d_norm": "none"}})
    with pytest.raises(ModeganError, match="model.d_norm with scheme.veegan on images"):
        build_config(preset="veegan", overrides={**IMG, "data": {"name": str(folder)}, "model": {"d_norm": "none"}})


def test_an_explicit_choice_trains_resumes_and_loads(folder, tmp_path):
    cfg = cfg_for(folder, g_norm="layer", d_norm="none")
    modegan.train(cfg, out=tmp_path / "r", steps=2)
    assert RunDir(tmp_path / "r").read_config().model.g_norm == "layer"
    assert modegan.train(resume=tmp_path / "r", steps=4)["status"] == "finished"
    assert norms(modegan.load(tmp_path / "r")) == {"batch": 0, "layer": 3}


def test_an_old_image_run_saying_none_still_means_dcgans_own(folder, tmp_path):
    """Before this change a DCGAN config could only say g_norm: none, d_norm: none, meaning batch norm."""
    modegan.train(cfg_for(folder), out=tmp_path / "old", steps=2)
    path = tmp_path / "old" / "config.yaml"
    data = yaml.safe_load(path.read_text())
    data["model"].update(g_norm="none", d_norm="none")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    cfg = RunDir(tmp_path / "old").read_config()
    assert (cfg.model.g_norm, cfg.model.d_norm) == (None, None)
    assert modegan.train(resume=tmp_path / "old", steps=4)["status"] == "finished"
    assert norms(modegan.load(tmp_path / "old"))["batch"] == 3
    # a new run that chose no normalisation at all keeps its choice (its weights have no batch norm)
    modegan.train(cfg_for(folder, g_norm="none", d_norm="none"), out=tmp_path / "new", steps=2)
    assert RunDir(tmp_path / "new").read_config().model.g_norm == "none"
