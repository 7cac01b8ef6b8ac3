"""IDX files (the MNIST container format) and the MNIST files themselves: find, verify, download, parse.

Checksums are SHA-256 of the *decompressed* IDX bytes. The well-known MD5s of the original `.gz` downloads
(train-images f68b3c2d…) do not survive re-compression: the copies on these machines hold the same bytes
once decompressed but a different gzip wrapper, so their `.gz` MD5s differ. Hashing the content accepts
every faithful copy and still rejects any changed pixel or label.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from modegan.errors import ModeganError

DATA_ENV = "MODEGAN_DATA"

# IDX magic: two zero bytes, a type code (0x08 = unsigned byte) and the number of dimensions.
IDX_UBYTE = 0x08
MAGIC_IMAGES = 2051  # 0x00000803: ubyte, 3 dimensions
MAGIC_LABELS = 2049  # 0x00000801: ubyte, 1 dimension

MNIST_FILES = {
    # split: (images file, labels file, count)
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60_000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10_000),
}
# SHA-256 of the decompressed files of the public MNIST release (checked against /work/shared/data/mnist).
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# MD5 of the original .gz downloads, for reference (what the mirrors below serve).
MNIST_GZ_MD5 = {
    "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)


def data_root(root: str | os.PathLike | None, what: str) -> Path:
    """The user's data directory: `root` if given, else $MODEGAN_DATA; neither is an error (nothing is guessed)."""
    if root is None:
        root = os.environ.get(DATA_ENV)
        if not root:
            raise ModeganError(f"no data directory for {what}: pass one or set ${DATA_ENV}")
    if not isinstance(root, (str, os.PathLike)):
        raise ModeganError(f"data directory must be a path, got {type(root).__name__}")
    return Path(root).expanduser()


def parse_idx(raw: bytes, source: str = "<bytes>") -> np.ndarray:
    """An IDX buffer as a uint8 array of the shape its header gives (big-endian int32 sizes)."""
    if len(raw) < 4:
        raise ModeganError(f"{source} is not an IDX file: {len(raw)} bytes, too short for the header")
    zero, dtype, ndim = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    if zero != 0 or dtype != IDX_UBYTE or not 1 <= ndim <= 4:
        magic = int.from_bytes(raw[:4], "big")
        raise ModeganError(
            f"{source} has IDX magic {magic}; expected an unsigned-byte IDX file ({MAGIC_LABELS} labels or "
            f"{MAGIC_IMAGES} images)"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ModeganError(f"{source} is truncated inside its IDX header")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != expected:
        raise ModeganError(
            f"{source} holds {len(raw) - header} data bytes but its header {shape} needs {expected} "
            "(truncated or corrupt file)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_raw(path: Path) -> bytes:
    """File bytes, gunzipped when the name ends in .gz; a truncated or corrupt archive is a ModeganError."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise ModeganError(f"cannot read {path}: {type(e).__name__}: {e} (truncated or corrupt file?)") from None


def find_mnist_dir(root: Path) -> Path:
    """MNIST files live directly in `root` or in `root/mnist`; the first that has any of them wins."""
    names = [n for pair in MNIST_FILES.values() for n in pair[:2]]
    for d in (root, root / "mnist"):
        if any((d / (n + ".gz")).is_file() or (d / n).is_file() for n in names):
            return d
    return root


def mnist_file(directory: Path, name: str) -> Path:
    """`name.gz`, else the already-decompressed `name`; a clear error naming both and the directory otherwise."""
    for path in (directory / (name + ".gz"), directory / name):
        if path.is_file():
            return path
    raise ModeganError(
        f"MNIST file {name}.gz not found in {directory} (nor {name}); put the four MNIST IDX files there, "
        f"set ${DATA_ENV}, or pass download=True where a network exists"
    )


def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def read_mnist_split(directory: Path, split: str, verify: bool = True) -> tuple[np.ndarray, np.ndarray, dict]:
    """(images (n, 28, 28) uint8, labels (n,) uint8, checksum info) of one split, checked for shape and sums.
    The magic number is checked before the checksum, so a wrong file gets the more specific message."""
    image_name, label_name, _ = MNIST_FILES[split]
    info = {}
    arrays = []
    for name, magic in ((image_name, MAGIC_IMAGES), (label_name, MAGIC_LABELS)):
        path = mnist_file(directory, name)
        raw = read_raw(path)
        got_magic = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
        if got_magic != magic:
            raise ModeganError(f"{path} has IDX magic {got_magic}; expected {magic}")
        digest = sha256(raw)
        matches = digest == MNIST_SHA256[name]
        if verify and not matches:
            raise ModeganError(
                f"{path} has SHA-256 {digest[:16]}… of its decompressed bytes, not the MNIST release's "
                f"{MNIST_SHA256[name][:16]}…; replace the file or pass verify=False"
            )
        array = parse_idx(raw, str(path))
        # The release's counts (60,000 / 10,000) are guaranteed by the checksum; with verify=False any n is allowed.
        shape = (len(arrays[0]),) if arrays else (array.shape[0], 28, 28)
        if array.shape != shape or not array.size:
            raise ModeganError(f"{path} has shape {array.shape}; expected {shape}")
        if name == label_name and array.max(initial=0) > 9:
            raise ModeganError(f"{path} has labels up to {int(array.max())}; MNIST labels are 0-9")
        arrays.append(array)
        info[name] = {"file": path.name, "sha256": digest, "matches_release": matches}
    return arrays[0], arrays[1], info


def download_mnist(directory: Path, mirrors=MNIST_MIRRORS, timeout: float = 30.0) -> None:
    """Fetch the missing MNIST .gz files into `directory`, each checked against its SHA-256 before it is kept."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in MNIST_SHA256:
        if (directory / (name + ".gz")).is_file() or (directory / name).is_file():
            continue
        errors = []
        for mirror in mirrors:
            url = mirror + name + ".gz"
            tmp = directory / f".{name}.{os.getpid()}.part.gz"
            try:
                with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                    shutil.copyfileobj(response, out)
                if sha256(read_raw(tmp)) != MNIST_SHA256[name]:
                    raise ModeganError("checksum mismatch")
                os.replace(tmp, directory / (name + ".gz"))
                break
            except (urllib.error.URLError, OSError, ModeganError) as e:
                errors.append(f"{url}: {getattr(e, 'reason', e)}")
            finally:
                tmp.unlink(missing_ok=True)
        else:
            raise ModeganError(
                f"could not download {name}.gz from any mirror ({'; '.join(errors)}); without a network, put the "
                f"four MNIST files in {directory} by hand"
            )
