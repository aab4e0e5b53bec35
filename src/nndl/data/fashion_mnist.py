"""`fashion_mnist`: Zalando's Fashion-MNIST in torchvision's layout (MNIST's format and sizes).

    <data-root>/FashionMNIST/raw/train-images-idx3-ubyte      (or .gz)
    <data-root>/FashionMNIST/raw/train-labels-idx1-ubyte
    <data-root>/FashionMNIST/raw/t10k-images-idx3-ubyte
    <data-root>/FashionMNIST/raw/t10k-labels-idx1-ubyte

60,000 train and 10,000 test 28x28 greyscale images of clothing in 10 classes. Each IDX header is
checked against the file's size (a truncated or foreign file is named), then read with NumPy.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from nndl.data import DatasetInfo, register
from nndl.data.mnist import FILES, find_idx_set, idx_file, validate_idx
from nndl.errors import DataError

FOLDER = "FashionMNIST"
CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def _file(root: Path, stem: str) -> Path | None:
    return idx_file(root, stem, FOLDER)


def _check(root: Path) -> Path | None:
    return find_idx_set(root, FOLDER)


INFO = register(
    DatasetInfo(
        name="fashion_mnist",
        kind="real",
        description="Fashion-MNIST clothing images, 60,000 train + 10,000 test, 28x28, 10 classes",
        layout=f"{FOLDER}/raw/{{train,t10k}}-{{images-idx3,labels-idx1}}-ubyte[.gz] "
        "(torchvision's layout)",
        how_to_get=(
            "With a network it is downloaded automatically (torchvision.datasets.FashionMNIST); "
            "otherwise copy the four IDX files from "
            "https://github.com/zalandoresearch/fashion-mnist (data/fashion) there."
        ),
        check=_check,
    )
)


def _read_idx(path: Path):
    import numpy as np

    dims = validate_idx(path, "Fashion-MNIST")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    return np.frombuffer(data, np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def load_fashion_mnist(root: Path, *, download: bool = True):
    """(x_train, y_train, x_test, y_test): float32 (N, 28, 28) in [0, 1] and int64 labels."""
    import numpy as np

    from nndl import offline

    root = Path(root)
    if _check(root) is None:
        if not (download and offline.online()):
            raise INFO.missing_error(root)
        import torchvision

        for train in (True, False):  # torchvision's own downloader and checksums
            torchvision.datasets.FashionMNIST(str(root), train=train, download=True)
    out = []
    for split in ("train", "test"):
        x = _read_idx(_file(root, FILES[(split, "images")]))
        y = _read_idx(_file(root, FILES[(split, "labels")]))
        if len(x) != len(y) or x.shape[1:] != (28, 28) or y.ndim != 1:
            raise DataError(
                f"Fashion-MNIST {split} files disagree: images {x.shape}, labels {y.shape}."
            )
        if len(y) and y.max() > 9:
            raise DataError(f"Fashion-MNIST {split} labels go up to {y.max()}; expected 0..9.")
        out += [x.astype(np.float32) / 255.0, y.astype(np.int64)]
    return tuple(out)
