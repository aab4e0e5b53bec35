"""`cifar10`: the real CIFAR-10, in either of its two common layouts under --data-root.

    <data-root>/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}
        the python pickles of the official cifar-10-python.tar.gz (torchvision's layout):
        data (10000, 3072) uint8 rows of 1024 red, 1024 green, 1024 blue values; labels
    <data-root>/cifar10/{train,test}/<class>/<image>.{png,jpg}
        an image-folder tree, one sub-folder per class (e.g. ../shared/data/cifar10.tar)

The pickles are read directly (torchvision would refuse a re-packed subset whose MD5 differs), every
file's keys and sizes are checked, and a truncated or foreign file is named.

    x_train, y_train, x_test, y_test, class_names = load_cifar10(root, max_train=5000)
"""

from __future__ import annotations

from pathlib import Path

from nndl.data import DatasetInfo, register
from nndl.data.cifar100 import unpickle
from nndl.errors import DataError

PICKLE_FOLDER = "cifar-10-batches-py"
IMAGE_FOLDER = "cifar10"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CLASS_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def _check(root: Path) -> Path | None:
    pickles = Path(root) / PICKLE_FOLDER
    if all((pickles / f).is_file() for f in (*TRAIN_BATCHES, "test_batch")):
        return pickles
    images = Path(root) / IMAGE_FOLDER
    if (images / "train").is_dir() and (images / "test").is_dir():
        return images
    return None


INFO = register(
    DatasetInfo(
        name="cifar10",
        kind="real",
        description="CIFAR-10, 50,000 train + 10,000 test 32x32 colour images in 10 classes",
        layout=f"{PICKLE_FOLDER}/{{data_batch_1..5,test_batch}} (the pickles of "
        f"cifar-10-python.tar.gz) or {IMAGE_FOLDER}/{{train,test}}/<class>/<image>.png|jpg",
        how_to_get=(
            "With a network it is downloaded automatically (torchvision.datasets.CIFAR10); "
            "otherwise download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and "
            "extract it there."
        ),
        check=_check,
    )
)


def read_batch(path: Path):
    """(images uint8 (N, 32, 32, 3), labels int64 (N,)) of one pickled batch file."""
    import numpy as np

    batch = unpickle(path, "CIFAR-10")
    if "data" not in batch or "labels" not in batch:
        raise DataError(f"Corrupt CIFAR-10 file {path}: keys 'data' and 'labels' missing.")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(
            f"Corrupt CIFAR-10 file {path}: data is {data.dtype} {data.shape}, "
            "expected uint8 (N, 3072)."
        )
    if len(labels) != len(data) or (len(labels) and not 0 <= labels.min() <= labels.max() < 10):
        raise DataError(
            f"Corrupt CIFAR-10 file {path}: {len(labels)} labels in 0..9 expected "
            f"for {len(data)} images."
        )
    # rows are 1024 red, 1024 green, 1024 blue values of a 32x32 image, row-major
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _read_pickles(folder: Path, split: str):
    import numpy as np

    files = TRAIN_BATCHES if split == "train" else ("test_batch",)
    parts = [read_batch(folder / f) for f in files]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _read_image_folder(folder: Path, split: str, limit_per_class: int):
    """Images of `folder/split/<class>/`, classes in CIFAR-10's label order; resized to 32x32."""
    import numpy as np
    from PIL import Image

    root = folder / split
    found = sorted(d.name for d in root.iterdir() if d.is_dir())
    if sorted(found) != sorted(CLASS_NAMES):
        raise DataError(
            f"CIFAR-10 folder {root} has class folders {', '.join(found) or 'none'}; expected "
            f"{', '.join(CLASS_NAMES)}."
        )
    images, labels = [], []
    for label, name in enumerate(CLASS_NAMES):
        files = sorted(f for f in (root / name).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"CIFAR-10 folder {root / name} holds no images.")
        for f in files[: limit_per_class or None]:
            try:
                with Image.open(f) as im:
                    im = im.convert("RGB")
                    if im.size != (32, 32):
                        im = im.resize((32, 32), Image.BILINEAR)
                    images.append(np.asarray(im, np.uint8))
            except (OSError, ValueError) as e:
                raise DataError(f"Corrupt CIFAR-10 image {f}: {e}.") from e
            labels.append(label)
    return np.stack(images), np.asarray(labels, np.int64)


def balanced_first(y, n: int):
    """Indices of n examples, classes taking turns (each class's earliest first), in file order."""
    import numpy as np

    if not n or n >= len(y):
        return np.arange(len(y))
    rank = np.empty(len(y), np.int64)  # position of each example within its class
    for c in np.unique(y):
        where = np.flatnonzero(y == c)
        rank[where] = np.arange(len(where))
    return np.sort(np.lexsort((np.arange(len(y)), rank))[:n])


def load_cifar10(root: Path, *, max_train: int = 0, max_test: int = 0, download: bool = True):
    """(x_train, y_train, x_test, y_test, class_names): float32 NCHW in [0, 1], int64 labels.

    `max_train` / `max_test` (0 = all) keep a class-balanced subset. The pickles are used where
    both layouts exist.
    """
    import numpy as np

    from nndl import offline

    root = Path(root)
    folder = _check(root)
    if folder is None:
        if not (download and offline.online()):
            raise INFO.missing_error(root)
        import torchvision

        for train in (True, False):  # torchvision's own downloader and checksums
            torchvision.datasets.CIFAR10(str(root), train=train, download=True)
        folder = root / PICKLE_FOLDER
    out = []
    for split, limit in (("train", max_train), ("test", max_test)):
        if folder.name == PICKLE_FOLDER:
            x, y = _read_pickles(folder, split)
        else:  # reads only as many files per class as the subset needs
            x, y = _read_image_folder(folder, split, -(-limit // 10) if limit else 0)
        keep = balanced_first(y, limit)
        x, y = x[keep], y[keep]
        out += [np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0, y]
    return (*out, list(CLASS_NAMES))


def describe(root: Path) -> str:
    """Which layout was found, for the report's provenance."""
    folder = _check(Path(root))
    if folder is None:
        return "missing"
    if folder.name == PICKLE_FOLDER:
        return f"CIFAR-10 pickles ({folder})"
    return f"CIFAR-10 image folders ({folder})"
