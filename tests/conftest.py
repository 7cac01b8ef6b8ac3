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


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu",
                     help="device for the device tests (tests/test_device.py): cpu, cuda, cuda:N or mps")


@pytest.fixture(scope="session")
def device(request):
    """The device the device tests train on (`pytest --device cuda`); skipped where the machine lacks it."""
    from modegan.device import resolve_device
    from modegan.errors import ModeganError

    name = request.config.getoption("--device")
    try:
        return str(resolve_device(name))
    except ModeganError as e:
        pytest.skip(str(e))


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


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory):
    """Synthesised MNIST IDX files (40 training, 5 test digits): right format, other content (verify=False)."""
    from test_images_data import write_mnist

    d = tmp_path_factory.mktemp("mnist")
    write_mnist(d, n_train=40, n_test=5)
    return d


@pytest.fixture(scope="session")
def stub_classifier(tmp_path_factory):
    """An untrained MnistCNN saved as a classifier (accuracy recorded as 0.995): the metric plumbing only."""
    import torch

    from modegan.metrics.classifier import Classifier, MnistCNN, _weights_sha256, save_classifier

    torch.manual_seed(0)
    net = MnistCNN()
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    return save_classifier(Classifier(net, 0.995, _weights_sha256(state), {}), tmp_path_factory.mktemp("c") / "c.st")
