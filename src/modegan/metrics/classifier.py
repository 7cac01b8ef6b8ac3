"""The MNIST evaluation classifier (methods.md §5.1: the Keras `mnist_cnn` example, as PacGAN uses it).

Trained once by the project on the 60,000 training digits, checked on the 10,000 test digits, and shipped
inside the package (`mnist_cnn.safetensors` beside this module) as safetensors whose metadata carry the
test accuracy, the training protocol (with the command that made it) and a SHA-256 of the weights. The
SHA-256 is also pinned here (`SHIPPED_SHA256`), so a changed shipped file is refused even if its metadata
were rewritten to match. Every metric computed with it records that accuracy and checksum (benchmarks.md §4).

A classifier you train yourself (`modegan classifier train`) goes to $MODEGAN_CACHE/mnist_cnn.safetensors,
else ~/.cache/modegan/mnist_cnn.safetensors, and is used where you name it (`train.classifier`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import torch
from torch import Tensor, nn

from modegan.data.images import ImageDataset
from modegan.data.mixtures import _check_count, _check_generator
from modegan.errors import ModeganError
from modegan.safetensors_file import read_safetensors, write_safetensors

CACHE_ENV = "MODEGAN_CACHE"
CLASSIFIER_FILE = "mnist_cnn.safetensors"
TARGET_ACCURACY = 0.992
FEATURE_DIM = 128
EVAL_CHUNK = 2048  # images per step when measuring accuracy
FEATURE_CHUNK = 128  # images per step when evaluating samples: with channels_last, ~2x faster than 2048 on CPU


SHIPPED_CLASSIFIER = Path(__file__).with_name(CLASSIFIER_FILE)
# SHA-256 of the shipped weights (`_weights_sha256`), test accuracy 0.9924; made by SHIPPED_COMMAND.
SHIPPED_SHA256 = "287ee1660c8dc6032fd92238af7ea208bd522df50967186524eb0a768f35e1fa"
SHIPPED_COMMAND = "modegan classifier train --data-dir DIR --epochs 8 --seed 0 --threads 2"


def default_classifier_path() -> Path:
    """The classifier shipped inside the package: what every MNIST / Stacked MNIST metric uses by default."""
    return SHIPPED_CLASSIFIER


def trained_classifier_path() -> Path:
    """Where `modegan classifier train` saves by default: $MODEGAN_CACHE/mnist_cnn.safetensors, else
    ~/.cache/modegan/mnist_cnn.safetensors (never over the shipped file)."""
    base = os.environ.get(CACHE_ENV)
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "modegan") / CLASSIFIER_FILE


def is_shipped(path: str | os.PathLike) -> bool:
    try:
        return Path(path).expanduser().resolve() == SHIPPED_CLASSIFIER.resolve()
    except OSError:
        return False


class MnistCNN(nn.Module):
    """Conv32-3×3 ReLU → Conv64-3×3 ReLU → MaxPool2 → Dropout .25 → Dense128 ReLU → Dropout .5 → Dense10.

    Input (N, 1, 28, 28) in [-1, 1], the datasets' range. `features` is the 128-d penultimate layer (after
    its ReLU), the space of the Fréchet distance, KID and PRDC.
    """

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
            nn.Flatten(), nn.Linear(64 * 12 * 12, FEATURE_DIM), nn.ReLU(),
        )
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, 10)."""
        return self.head(self.drop(self.features(x)))


class Classifier:
    """A trained MnistCNN plus its provenance; applies per channel to stacked (3-channel) digits."""

    def __init__(self, net: MnistCNN, accuracy: float, sha256: str, protocol: dict, path: str | None = None):
        self.net = net.eval().to(memory_format=torch.channels_last)  # oneDNN's fast layout; same values
        self.accuracy, self.sha256, self.protocol, self.path = float(accuracy), sha256, dict(protocol), path

    def to(self, device: torch.device | str) -> Classifier:
        """Run the net on `device` (inputs move there chunk by chunk; results come back to the host)."""
        self.net.to(device)
        return self

    def describe(self) -> dict:
        """What every classifier-based metric records beside its value."""
        return {"classifier": "mnist_cnn", "classifier_accuracy": self.accuracy, "classifier_sha256": self.sha256}

    @torch.inference_mode()
    def _per_channel(self, images: Tensor, fn) -> Tensor:
        """Apply `fn` to every channel as a 1-channel image, in chunks; results (N, C, ...) per channel."""
        images = check_images(images, channels=None, size=28)
        n, c = images.shape[:2]
        flat = images.reshape(n * c, 1, 28, 28)
        device = next(self.net.parameters()).device
        out = torch.cat([
            fn(chunk.to(device, torch.float32).contiguous(memory_format=torch.channels_last)).cpu()
            for chunk in flat.split(FEATURE_CHUNK)
        ])
        return out.reshape(n, c, *out.shape[1:])

    def features(self, images: Tensor) -> Tensor:
        """Penultimate features (N, 128·C): each channel's 128 features, concatenated in channel order."""
        return self._per_channel(images, self.net.features).reshape(len(images), -1)

    def logits(self, images: Tensor) -> Tensor:
        """(N, C, 10) logits per channel."""
        return self._per_channel(images, self.net)

    def predict(self, images: Tensor) -> Tensor:
        """(N, C) predicted digit per channel (C = 1 for MNIST, 3 for Stacked MNIST)."""
        return self.logits(images).argmax(-1)

    def features_and_predict(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """`features(images)` and `predict(images)` from one forward pass (the expensive part of evaluation)."""

        def both(x: Tensor) -> Tensor:
            h = self.net.features(x)
            return torch.cat([h, self.net.head(h).argmax(1, keepdim=True).to(h.dtype)], 1)

        out = self._per_channel(images, both)  # (N, C, 129): 128 features, then the predicted digit
        return out[..., :FEATURE_DIM].reshape(len(images), -1), out[..., FEATURE_DIM].long()


def check_images(images: object, channels: int | None, size: int | None) -> Tensor:
    """A float (N, C, H, W) tensor of finite values; anything else is a one-line error."""
    if not isinstance(images, Tensor) or images.dim() != 4 or len(images) < 1 or not images.is_floating_point():
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ModeganError(f"images must be a non-empty float tensor (N, C, H, W), got {shape}")
    if channels is not None and images.shape[1] != channels:
        raise ModeganError(f"images must have {channels} channels, got {images.shape[1]}")
    if size is not None and tuple(images.shape[2:]) != (size, size):
        raise ModeganError(f"images must be {size}x{size}, got {images.shape[2]}x{images.shape[3]}")
    if not bool(torch.isfinite(images).all()):
        raise ModeganError("images contain NaN or infinite values; the generator has probably diverged")
    return images


@torch.no_grad()
def accuracy(net: MnistCNN, data: ImageDataset) -> float:
    """Fraction of `data` (1-channel, labelled) classified correctly, in eval mode."""
    was = net.training
    net.eval()
    correct, device = 0, next(net.parameters()).device
    for start in range(0, data.n, EVAL_CHUNK):
        idx = torch.arange(start, min(start + EVAL_CHUNK, data.n))
        correct += int((net(data.batch(idx).to(device)).argmax(1).cpu() == data.labels[idx]).sum())
    net.train(was)
    return correct / data.n


def _weights_sha256(state: dict[str, Tensor]) -> str:
    """SHA-256 over the tensors in name order (names, dtypes, shapes and bytes), independent of file layout."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def train_classifier(
    train: ImageDataset,
    test: ImageDataset,
    *,
    epochs: int = 8,
    batch_size: int = 64,
    lr: float = 1e-3,
    lr_decay: float = 0.7,
    generator: torch.Generator,
    path: str | os.PathLike | None = None,
    log=None,
    command: str | None = None,
    device: torch.device | str = "cpu",
) -> Classifier:
    """Adam (lr 1e-3, times `lr_decay` after every epoch) on cross-entropy, batches shuffled with
    `generator`; the net is initialised under a seed drawn from it, so the result is a function of the
    generator's state. Saves to `path` (default `trained_classifier_path()`; "" saves nothing); `command`, the
    command line that made it, is recorded in the protocol. `device` is where the net trains; the shuffles
    stay on the host generator, so every device sees the same batches (dropout masks follow the device's RNG).

    Adam instead of PacGAN's Adadelta×20 epochs: it reaches the ≥ 99.2% target in a few epochs on CPU.
    """
    generator = _check_generator(generator)
    epochs, batch_size = _check_count(epochs, "epochs"), _check_count(batch_size, "batch size")
    for what, data in (("training", train), ("test", test)):
        if data.shape != (1, 28, 28) or data.labels is None:
            raise ModeganError(f"classifier {what} data must be labelled 1x28x28 MNIST, got {data.shape}")
    init_seed = int(torch.randint(2**62, (1,), generator=generator))
    device = torch.device(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(init_seed)  # the layer initialisers and dropout masks use the global RNG
        net = MnistCNN().to(device)
        labels = train.labels.to(device)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: lr_decay ** e)
        start = time.perf_counter()
        net.train()
        for epoch in range(epochs):
            order = torch.randperm(train.n, generator=generator)
            for idx in order.split(batch_size):
                loss = nn.functional.cross_entropy(net(train.batch(idx).to(device)), labels[idx.to(device)])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            sched.step()
            if log is not None:
                log(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.4f}, {time.perf_counter() - start:.0f} s")
        seconds = time.perf_counter() - start
    net.eval()
    acc = accuracy(net, test)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    protocol = {
        "architecture": "keras mnist_cnn (conv32-conv64-maxpool-dropout.25-dense128-dropout.5-dense10)",
        "optimizer": "adam", "lr": lr, "lr_decay_per_epoch": lr_decay, "epochs": epochs, "batch_size": batch_size,
        "init_seed": init_seed, "n_train": train.n, "n_test": test.n, "input_range": "[-1, 1]",
        "train_seconds": round(seconds, 1), "threads": torch.get_num_threads(), "torch": torch.__version__,
        **({"device": str(device)} if device.type != "cpu" else {}),
        "train_data": train.describe().get("checksums"),
        **({"command": command} if command else {}),
    }
    clf = Classifier(net.cpu(), acc, _weights_sha256(state), protocol)
    if path is None or path:
        clf.path = str(save_classifier(clf, trained_classifier_path() if path is None else path))
    return clf


def save_classifier(clf: Classifier, path: str | os.PathLike) -> Path:
    """Write weights + metadata (accuracy, protocol JSON, weights SHA-256) atomically."""
    path = Path(path).expanduser()
    meta = {"accuracy": repr(clf.accuracy), "sha256": clf.sha256, "protocol": json.dumps(clf.protocol)}
    write_safetensors(path, clf.net.state_dict(), meta)
    return path


def load_classifier(path: str | os.PathLike | None = None, *, min_accuracy: float = TARGET_ACCURACY) -> Classifier:
    """Load a saved classifier (default: the shipped one), re-hash its weights against the stored SHA-256
    (and, for the shipped file, against `SHIPPED_SHA256`) and refuse one below `min_accuracy` on the test
    set (benchmarks.md §4 asks ≥ 99.2%)."""
    path = default_classifier_path() if path is None else Path(path).expanduser()
    shipped = is_shipped(path)
    if not path.is_file():
        if shipped:
            raise ModeganError(f"the shipped MNIST classifier is missing from the installation ({path}); "
                               "reinstall modegan, or name your own with train.classifier")
        raise ModeganError(f"no MNIST classifier at {path}; train one with `modegan classifier train --data-dir "
                           "DIR`, or leave train.classifier unset for the shipped one")
    meta, state = read_safetensors(path, "classifier")
    if "sha256" not in meta or "accuracy" not in meta:
        raise ModeganError(f"{path} is not a modegan classifier (no sha256/accuracy metadata)")
    digest = _weights_sha256(state)
    if digest != meta["sha256"] or (shipped and digest != SHIPPED_SHA256):
        what = "its pinned checksum; reinstall modegan" if shipped else "its checksum (weights changed or corrupt)"
        raise ModeganError(f"classifier {path} fails {what}")
    net = MnistCNN()
    try:
        net.load_state_dict(state)
    except RuntimeError:
        raise ModeganError(f"classifier {path} does not hold MnistCNN weights") from None
    acc = float(meta["accuracy"])
    if acc < min_accuracy:
        raise ModeganError(f"classifier {path} has test accuracy {acc:.4f} < required {min_accuracy}")
    return Classifier(net, acc, digest, json.loads(meta.get("protocol", "{}")), str(path))

