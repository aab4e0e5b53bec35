"""`mnist`: the real MNIST in torchvision's layout, downloaded where the network allows.

    <data-root>/MNIST/raw/train-images-idx3-ubyte      (or .gz)
    <data-root>/MNIST/raw/train-labels-idx1-ubyte
    <data-root>/MNIST/raw/t10k-images-idx3-ubyte
    <data-root>/MNIST/raw/t10k-labels-idx1-ubyte

Each file's IDX header is checked against its size before torchvision reads it, so a truncated or
foreign file is named instead of failing deep inside the reader.
"""

from __future__ import annotations

import gzip
import logging
import struct
from pathlib import Path

from nndl.data import DatasetInfo, register
from nndl.errors import DataError
from nndl.io import atomic_write

FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
EXPECTED = {"train": 60000, "test": 10000}


def raw_dir(root: Path, folder: str = "MNIST") -> Path:
    """torchvision's layout `<root>/<folder>/raw` (MNIST, FashionMNIST)."""
    return Path(root) / folder / "raw"


def idx_file(root: Path, stem: str, folder: str = "MNIST") -> Path | None:
    """The IDX file `stem`, plain or gzipped, if present."""
    for candidate in (raw_dir(root, folder) / stem, raw_dir(root, folder) / f"{stem}.gz"):
        if candidate.exists():
            return candidate
    return None


def find_idx_set(root: Path, folder: str = "MNIST") -> Path | None:
    """The raw folder when all four IDX files are there."""
    return raw_dir(root, folder) if all(idx_file(root, s, folder) for s in FILES.values()) else None


INFO = register(
    DatasetInfo(
        name="mnist",
        kind="real",
        description="MNIST handwritten digits, 60,000 train + 10,000 test, 28x28",
        layout="MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (torchvision's layout)",
        how_to_get=(
            "With a network it is downloaded automatically (torchvision.datasets.MNIST); "
            "otherwise copy the four IDX files from https://yann.lecun.com/exdb/mnist/ there."
        ),
        check=find_idx_set,
    )
)


def validate_idx(path: Path, what: str = "MNIST") -> tuple[int, ...]:
    """The shape in an IDX file's header, after checking the payload size matches it (`what`
    names the dataset in errors)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            header = f.read(4)
            if len(header) < 4 or header[0] != 0 or header[1] != 0 or header[2] != 0x08:
                raise DataError(f"Corrupt {what} file {path}: not an unsigned-byte IDX file.")
            ndim = header[3]
            dims = struct.unpack(f">{ndim}I", f.read(4 * ndim))
            payload = len(f.read())
    except (OSError, EOFError, struct.error) as e:
        raise DataError(f"Corrupt {what} file {path}: {e}.") from e
    expected = 1
    for d in dims:
        expected *= d
    if payload != expected:
        raise DataError(
            f"Corrupt {what} file {path}: header says {dims} ({expected} bytes), found {payload}."
        )
    return dims


def load_mnist(root: Path, *, download: bool = True):
    """(x_train, y_train, x_test, y_test) as float32 (N, 28, 28) in [0, 1] and int64 labels."""
    import numpy as np
    import torchvision

    from nndl import offline

    root = Path(root)
    if find_idx_set(root) is None:
        if not (download and offline.online()):
            raise INFO.missing_error(root)
        for train in (True, False):  # torchvision's own downloader and checksums
            torchvision.datasets.MNIST(root, train=train, download=True)
    for stem in FILES.values():  # torchvision reads only the uncompressed files
        path = idx_file(root, stem)
        if path.suffix == ".gz":
            validate_idx(path)
            with gzip.open(path, "rb") as f:
                atomic_write(path.with_suffix(""), f.read())
    out = []
    for split in ("train", "test"):
        img_dims = validate_idx(idx_file(root, FILES[(split, "images")]))
        lbl_dims = validate_idx(idx_file(root, FILES[(split, "labels")]))
        if img_dims[0] != lbl_dims[0] or img_dims[1:] != (28, 28):
            raise DataError(f"MNIST {split} files disagree: images {img_dims}, labels {lbl_dims}.")
        ds = torchvision.datasets.MNIST(root, train=split == "train", download=False)
        out += [ds.data.numpy().astype(np.float32) / 255.0, ds.targets.numpy().astype(np.int64)]
    if out[0].mean() > 0.5:  # the published files have dark backgrounds (mean pixel 0.13)
        logging.getLogger("nndl").warning(
            "MNIST under %s has inverted pixels (mean %.2f; the published files have 0.13): "
            "light background, dark digits. Using the files as they are.",
            root,
            out[0].mean(),
        )
    return tuple(out)
