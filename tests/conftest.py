import json

import pytest


@pytest.fixture
def tiny():
    """Overrides for a fast run: small nets, small training set, few evaluation samples."""
    return {
        "data": {"name": "ring8", "n_train": 2000},
        "model": {"g_width": 32, "d_width": 32},
        "train": {"steps": 40, "batch_size": 64, "eval_every": 20, "eval_samples": 200, "plots": False},
    }


def pytest_configure(config):
    import torch

    torch.set_num_threads(1)  # tiny networks: one thread is as fast and immune to oversubscription


def metrics_lines(run):
    """metrics.jsonl without the wall-clock field, for comparing runs line by line."""
    out = []
    for line in (run / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        record.pop("elapsed_s")
        out.append(record)
    return out
