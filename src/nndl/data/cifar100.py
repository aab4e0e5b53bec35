"""`cifar100`: the real CIFAR-100 in torchvision's layout, downloaded where the network allows.

    <data-root>/cifar-100-python/train   pickle: data (50000, 3072) uint8, fine_labels, coarse_labels
    <data-root>/cifar-100-python/test    pickle: the same for 10,000 images
    <data-root>/cifar-100-python/meta    pickle: fine_label_names, coarse_label_names

This is the layout of the official `cifar-100-python.tar.gz` (what `torchvision.datasets.CIFAR100`
downloads and extracts). The pickles are read here directly (torchvision would refuse files whose
MD5 differs from the release, e.g. a re-packed subset), and every file's keys and sizes are checked,
so a truncated or foreign file is named instead of failing deep inside a reader.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from nndl.data import DatasetInfo, register
from nndl.errors import ConfigError, DataError, did_you_mean

FOLDER = "cifar-100-python"
SPLITS = ("train", "test", "meta")

# 20 of the 100 fine classes, from 20 different superclasses (one per coarse label), so that the
# task spans animals, plants, vehicles, objects and scenes.
DEFAULT_CLASSES = (
    "beaver",
    "aquarium_fish",
    "orchid",
    "bottle",
    "apple",
    "clock",
    "bed",
    "bee",
    "bear",
    "bridge",
    "cloud",
    "camel",
    "fox",
    "crab",
    "baby",
    "crocodile",
    "hamster",
    "maple_tree",
    "bicycle",
    "lawn_mower",
)


def _check(root: Path) -> Path | None:
    folder = Path(root) / FOLDER
    return folder if all((folder / s).is_file() for s in SPLITS) else None


INFO = register(
    DatasetInfo(
        name="cifar100",
        kind="real",
        description="CIFAR-100, 50,000 train + 10,000 test 32x32 colour images in 100 classes",
        layout=f"{FOLDER}/{{train,test,meta}} (the python pickles of cifar-100-python.tar.gz, "
        "torchvision's layout)",
        how_to_get=(
            "With a network it is downloaded automatically (torchvision.datasets.CIFAR100); "
            "otherwise download https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz and "
            "extract it there."
        ),
        check=_check,
    )
)


class _ArraysOnly(pickle.Unpickler):
    """The CIFAR releases pickle dicts of NumPy arrays, lists, strings and numbers; any other
    global (os.system, a class of some package) is refused, so a tampered data file cannot run
    code when it is read (what plain pickle.load would do)."""

    ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),  # how Python 3 pickles bytes for protocol 2
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused global {module}.{name} (not array data)")
        return super().find_class(module, name)


def unpickle(path: Path, dataset: str = "CIFAR-100") -> dict:
    """One file of the CIFAR python releases (a pickled dict); a corrupt one is a DataError."""
    try:
        with open(path, "rb") as f:
            obj = _ArraysOnly(f, encoding="latin1").load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError) as e:
        raise DataError(f"Corrupt {dataset} file {path}: {type(e).__name__}: {e}.") from e
    if not isinstance(obj, dict):
        raise DataError(f"Corrupt {dataset} file {path}: expected a pickled dict.")
    return obj


def read_meta(root: Path) -> list[str]:
    """The 100 fine label names, in label order."""
    path = Path(root) / FOLDER / "meta"
    meta = unpickle(path)
    names = meta.get("fine_label_names")
    if not isinstance(names, list) or len(names) != 100:
        raise DataError(f"Corrupt CIFAR-100 file {path}: no list of 100 fine_label_names.")
    return names


def read_split(root: Path, split: str):
    """(images uint8 (N, 32, 32, 3), fine labels int64 (N,)) of 'train' or 'test'."""
    import numpy as np

    path = Path(root) / FOLDER / split
    batch = unpickle(path)
    if "data" not in batch or "fine_labels" not in batch:
        raise DataError(f"Corrupt CIFAR-100 file {path}: keys 'data' and 'fine_labels' missing.")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["fine_labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(
            f"Corrupt CIFAR-100 file {path}: data is {data.dtype} {data.shape}, "
            "expected uint8 (N, 3072)."
        )
    if len(labels) != len(data) or (len(labels) and not 0 <= labels.min() <= labels.max() < 100):
        raise DataError(
            f"Corrupt CIFAR-100 file {path}: {len(labels)} labels in 0..99 expected "
            f"for {len(data)} images."
        )
    # rows are 1024 red, 1024 green, 1024 blue values of a 32x32 image, row-major
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def resolve_classes(names: list[str], classes) -> list[int]:
    """Fine-label indices of `classes`; an unknown name is a ConfigError with the closest ones."""
    index = {n: i for i, n in enumerate(names)}
    out = []
    for c in classes:
        if c not in index:
            raise ConfigError(f"'{c}' is not a CIFAR-100 class.{did_you_mean(c, names)}")
        out.append(index[c])
    if len(set(out)) != len(out):
        raise ConfigError(f"CIFAR-100 classes repeat: {', '.join(classes)}.")
    return out


def ensure(root: Path, *, download: bool = True) -> Path:
    """The dataset folder; downloaded with torchvision when missing and a network is at hand."""
    from nndl import offline

    root = Path(root)
    found = _check(root)
    if found is not None:
        return found
    if not (download and offline.online()):
        raise INFO.missing_error(root)
    import torchvision

    for train in (True, False):  # torchvision's own downloader and checksums
        torchvision.datasets.CIFAR100(str(root), train=train, download=True)
    return root / FOLDER


def load_cifar100(root: Path, classes=DEFAULT_CLASSES, *, download: bool = True):
    """(x_train, y_train, x_test, y_test, class_names) for the chosen fine classes.

    Images are float32 NCHW in [0, 1]; labels are renumbered 0..len(classes)-1 in the order of
    `classes`.
    """
    import numpy as np

    ensure(root, download=download)
    names = read_meta(root)
    wanted = resolve_classes(names, classes)
    remap = np.full(100, -1, dtype=np.int64)
    remap[wanted] = np.arange(len(wanted))
    out = []
    for split in ("train", "test"):
        x, y = read_split(root, split)
        keep = remap[y] >= 0
        x = np.ascontiguousarray(x[keep].transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
        out += [x, remap[y[keep]]]
    return (*out, [names[i] for i in wanted])
