"""docs/extending.md runs as written; registered losses, weightings and constraints behave like built-in ones."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import torch

import modegan
from modegan.errors import ModeganError
from modegan.losses.adversarial import AdversarialLoss
from modegan.registry import unregister

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
TINY = {"data": {"name": "ring8", "n_train": 1000}, "model": {"g_width": 32, "d_width": 32},
        "train": {"steps": 10, "batch_size": 32, "eval_every": 10, "eval_samples": 100, "plots": False}}


@pytest.fixture(autouse=True)
def clean_registry():
    yield
    for kind, name in (("loss", "lsgan"), ("loss", "lsgan_pm1"), ("loss", "sq"), ("weighting", "focal"),
                       ("weighting", "flat"), ("constraint", "lp"), ("constraint", "shrink")):
        unregister(kind, name)


def test_the_page_has_an_example_of_each():
    text = "".join(BLOCKS)
    assert len(BLOCKS) == 4 and all(f"register_{k}" in text for k in ("loss", "weighting", "constraint"))


@pytest.mark.parametrize("code", BLOCKS, ids=["fit", "loss", "weighting", "constraint"])
def test_docs_block_runs(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(DOC), "exec"), {"__name__": "extending_doc"})


def square_loss() -> AdversarialLoss:
    return AdversarialLoss("sq", lambda s: (s - 1) ** 2, lambda s: s**2, lambda s: (s - 1) ** 2, "test")


def test_unknown_names_list_the_registered_ones():
    modegan.register_loss("sq", square_loss())
    with pytest.raises(ModeganError, match=r"loss.type: 'sqq' is not allowed; allowed: .*least_squares, sq$"):
        modegan.build_config(overrides={"loss": {"type": "sqq"}})
    modegan.register_weighting("flat", lambda s, loss, **kw: torch.ones_like(s), roles="disc_fake")
    with pytest.raises(ModeganError, match=r"allowed: .*distance, flat$"):
        modegan.build_config(overrides={"weighting": {"disc_fake": ["flt"]}})
    with pytest.raises(ModeganError, match="'flat'; allowed"):  # registered for disc_fake only
        modegan.build_config(overrides={"weighting": {"gen": ["flat"]}})
    with pytest.raises(ModeganError, match=r"loss.constraints entry 'lp'; allowed: none registered"):
        modegan.build_config(overrides={"loss": {"constraints": ["lp"]}})


def test_registration_is_checked():
    with pytest.raises(ModeganError, match="built in"):
        modegan.register_loss("wasserstein", square_loss())
    with pytest.raises(ModeganError, match="needs callables"):
        modegan.register_loss("sq", object())
    with pytest.raises(ModeganError, match="needs a callable"):
        modegan.register_constraint("lp", object())
    with pytest.raises(ModeganError, match="unknown weighting role"):
        modegan.register_weighting("flat", lambda *a, **k: None, roles=["critic"])


def test_constraint_after_step_and_penalty_are_applied(tmp_path):
    calls = []

    def shrink(D):
        calls.append(1)
        for q in D.parameters():
            q.mul_(0.5)

    modegan.register_constraint("shrink", modegan.Constraint("shrink", after_step=shrink,
                                                             penalty=lambda D, r, f, g: D(r).mean() ** 2))
    summary = modegan.train({"preset": "gan", "loss": {"constraints": ["shrink"]}, **TINY}, out=tmp_path / "s")
    assert summary["status"] == "finished" and len(calls) == 10
    assert "shrink" in modegan.train.rundir.RunDir(tmp_path / "s").read_metrics()[-1]
    assert "constraints" not in modegan.build_config(preset="gan").to_dict()["loss"]  # built-in hashes unchanged


def test_bad_registered_weights_are_one_line(tmp_path):
    modegan.register_weighting("flat", lambda s, loss, **kw: torch.ones(3))
    with pytest.raises(ModeganError, match="must return one weight per sample"):
        modegan.train({"preset": "gan", "weighting": {"gen": ["flat"]}, **TINY}, out=tmp_path / "w")


def test_cli_imports_plugins(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_ext.py").write_text(
        "import modegan\nfrom modegan.losses.adversarial import AdversarialLoss\n"
        "modegan.register_loss('lsgan', AdversarialLoss('lsgan', lambda s: (s - 1) ** 2, lambda s: s ** 2, "
        "lambda s: (s - 1) ** 2, 'plugin'))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("MODEGAN_PLUGINS", "my_ext")
    monkeypatch.delitem(sys.modules, "my_ext", raising=False)
    from modegan.cli import main

    args = ["train", "--preset", "gan", "loss.type=lsgan", "data.n_train=1000", "model.g_width=32",
            "model.d_width=32", "train.steps=5", "train.eval_samples=100", "train.plots=false",
            "--out", str(tmp_path / "cli"), "--no-progress"]
    assert main(args) == 0, capsys.readouterr().err
    monkeypatch.setenv("MODEGAN_PLUGINS", "no_such_ext")
    assert main(args) == 2 and "cannot import 'no_such_ext'" in capsys.readouterr().err


def test_train_seeds_with_a_registered_constraint_trains_seed_by_seed(tmp_path):
    from modegan.train.batched import batch_unsupported, train_seeds

    modegan.register_constraint("shrink", modegan.Constraint("shrink", after_step=lambda D: None))
    cfgs = [modegan.build_config(overrides={**TINY, "preset": "gan", "loss": {"constraints": ["shrink"]},
                                            "train": {**TINY["train"], "seed": s}}) for s in (0, 1)]
    assert "registered constraints" in batch_unsupported(cfgs[0])
    with pytest.warns(UserWarning, match="one after another"):
        out = train_seeds(cfgs, [tmp_path / "a", tmp_path / "b"])
    assert all(s["status"] == "finished" for s in out)
