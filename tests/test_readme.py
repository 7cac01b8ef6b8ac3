"""Every ```python block of the README runs as written (issue 19 §6), in a scratch directory."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_python_blocks():
    assert BLOCKS


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_python_block_runs(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(README), "exec"), {"__name__": "readme"})


def test_modegan_train_is_the_function_and_the_package():
    import inspect

    import modegan
    import modegan.train.batched

    assert callable(modegan.train) and modegan.train.batched.train_seeds is modegan.train.batched.train_seeds
    assert "resume" in inspect.signature(modegan.train).parameters
