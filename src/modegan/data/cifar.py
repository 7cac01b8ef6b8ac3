"""CIFAR-10 from the standard python-pickle batches (`cifar-10-batches-py/data_batch_1..5`, `test_batch`).

Each batch is a pickled dict with b'data' (N, 3072) uint8, rows laid out as 1024 red, 1024 green, 1024 blue
values in row-major 32×32 order, and b'labels' (N ints 0-9). Files are checked against the MD5s of the
official release (the same list torchvision uses) before they are unpickled: unpickling runs whatever code a
pickle names, so an unverified file is never unpickled unless the caller passes `verify=False`, which accepts
other files of the same format and trusts them as code (data.verify=false; docs/images.md).
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import torch

from modegan.data.idx import data_root
from modegan.data.images import SPLITS, TensorImages
from modegan.errors import ModeganError, choice_error

CIFAR_DIR = "cifar-10-batches-py"
CIFAR_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
CIFAR_SPLIT_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def find_cifar_dir(root: Path) -> Path:
    """`root/cifar-10-batches-py` if it exists, else `root` itself."""
    sub = root / CIFAR_DIR
    return sub if sub.is_dir() else root


def read_batch_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise ModeganError(f"CIFAR-10 batch {path.name} not found in {path.parent}; put the extracted "
                           f"{CIFAR_DIR}/ folder of cifar-10-python.tar.gz there")
    return path.read_bytes()


def read_cifar_batch(path: Path, raw: bytes | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 3, 32, 32) uint8, labels (N,) int64) of one pickled batch, with clear errors.

    This unpickles the file (`raw`, its bytes, if given): call it only on a verified or trusted file."""
    if raw is None:
        raw = read_batch_bytes(path)
    try:
        batch = pickle.loads(raw, encoding="bytes")  # noqa: S301 - verified against the release, or trusted
    except Exception as e:  # truncated pickle: EOFError/UnpicklingError; others are as fatal
        raise ModeganError(f"cannot read CIFAR-10 batch {path}: {type(e).__name__} (truncated or corrupt?)") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ModeganError(f"{path} is not a CIFAR-10 batch: expected a dict with b'data' and b'labels'")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ModeganError(f"{path}: b'data' must be uint8 (N, 3072), got {data.dtype} {data.shape}")
    if labels.shape != (len(data),) or labels.dtype.kind not in "iu" or (len(labels) and not
                                                                         0 <= labels.min() <= labels.max() <= 9):
        raise ModeganError(f"{path}: b'labels' must be {len(data)} integers in 0-9")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def load_cifar10(root: str | os.PathLike | None = None, *, split: str = "train", verify: bool = True) -> TensorImages:
    """CIFAR-10 train (5 batches, 50,000 images) or test (10,000), shape (3, 32, 32), labels 0-9."""
    if split not in SPLITS:
        raise choice_error("CIFAR-10 split", split, SPLITS)
    directory = find_cifar_dir(data_root(root, "CIFAR-10"))
    images, labels, sums = [], [], {}
    for name in CIFAR_SPLIT_FILES[split]:
        path = directory / name
        raw = read_batch_bytes(path)
        digest = hashlib.md5(raw).hexdigest()
        if verify and digest != CIFAR_MD5[name]:  # checked before unpickling: a doctored pickle runs code
            raise ModeganError(f"{path} has MD5 {digest}, not the CIFAR-10 release's {CIFAR_MD5[name]}; it is not "
                               "unpickled (that could run code); replace the file, or pass verify=False "
                               "(data.verify=false) if you trust it")
        x, y = read_cifar_batch(path, raw)
        images.append(x)
        labels.append(y)
        sums[name] = {"md5": digest, "matches_release": digest == CIFAR_MD5[name]}
    return TensorImages(
        f"cifar10-{split}", torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels)),
        str(directory), {"split": split, "checksums": sums, "verified": verify},
    )
