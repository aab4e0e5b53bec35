"""`lfw`: Labeled Faces in the Wild in its published layout, as torchvision's `LFWPairs` reads it.

    DATA_ROOT/lfw-py/{lfw,lfw_funneled,lfw-deepfunneled}/<name>/<name>_<NNNN>.jpg + pairs.txt
    (or the same without the `lfw-py/` level)

The 10 folds of `pairs.txt` are the test protocol. Training uses every person who does not appear
in `pairs.txt` and has at least two images, so no test identity is ever trained on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nndl.data import DatasetInfo, register
from nndl.errors import DataError

IMAGE_SETS = ("lfw-deepfunneled", "lfw_funneled", "lfw")


def _find(data_root: Path) -> Path | None:
    for base in (Path(data_root) / "lfw-py", Path(data_root)):
        if (base / "pairs.txt").is_file() and any((base / s).is_dir() for s in IMAGE_SETS):
            return base
    return None


INFO = register(
    DatasetInfo(
        name="lfw",
        kind="real",
        description="Labeled Faces in the Wild: 13,233 images of 5,749 people; pairs.txt protocol",
        layout="lfw-py/{lfw,lfw_funneled,lfw-deepfunneled}/<name>/<name>_<NNNN>.jpg and "
        "lfw-py/pairs.txt (torchvision's LFWPairs layout; the lfw-py/ level is optional)",
        how_to_get="Download lfw (or lfw-deepfunneled) and pairs.txt, e.g. from "
        "https://www.kaggle.com/datasets/jessicali9530/lfw-dataset, and extract under --data-root.",
        check=_find,
    )
)


def image_path(images_dir: Path, name: str, number: int) -> Path:
    return Path(images_dir) / name / f"{name}_{number:04d}.jpg"


def load_lfw(data_root: Path, size: int, max_train: int = 0):
    """Training images of people not in pairs.txt, the pairs and the images they refer to.

    Returns dict: train_x (N, size, size, 3) uint8, train_y (N,) int64, pairs (`Pairs`),
    test_x (M, size, size, 3) uint8, test_index {(name, number): row of test_x}, images_dir.
    """
    from nndl.data.dense_sets import read_rgb
    from nndl.methods.verification import read_pairs

    base = _find(data_root)
    if base is None:
        raise INFO.missing_error(data_root)
    images_dir = next(base / s for s in IMAGE_SETS if (base / s).is_dir())
    pairs = read_pairs(base / "pairs.txt")
    keys = sorted(set(pairs.left) | set(pairs.right))
    test_names = {k[0] for k in keys}

    def read(path: Path) -> np.ndarray:
        if not path.is_file():
            raise DataError(f"LFW image {path} (named in pairs.txt) is missing.")
        return _centre_crop(read_rgb(path), size)

    test_x = np.stack([read(image_path(images_dir, n, i)) for n, i in keys])
    train_files, train_y = [], []
    people = sorted(d for d in images_dir.iterdir() if d.is_dir() and d.name not in test_names)
    for person in people:
        files = sorted(person.glob("*.jpg"))
        if len(files) >= 2:
            train_files += files
            train_y += [person.name] * len(files)
    if max_train:
        train_files, train_y = train_files[:max_train], train_y[:max_train]
    if not train_files:
        raise DataError(
            f"{images_dir}: no person outside pairs.txt has two images; nothing to train on."
        )
    names = {n: k for k, n in enumerate(dict.fromkeys(train_y))}
    return {
        "train_x": np.stack([read(f) for f in train_files]),
        "train_y": np.array([names[n] for n in train_y], np.int64),
        "pairs": pairs,
        "test_x": test_x,
        "test_index": {k: i for i, k in enumerate(keys)},
        "images_dir": images_dir,
    }


def _centre_crop(img: np.ndarray, size: int) -> np.ndarray:
    """LFW's 250x250 images have the face in the central ~110 px: crop the centre, resize."""
    from PIL import Image

    h, w = img.shape[:2]
    c = int(min(h, w) * 0.5)
    top, left = (h - c) // 2, (w - c) // 2
    crop = Image.fromarray(img[top : top + c, left : left + c])
    return np.asarray(crop.resize((size, size), Image.BILINEAR), np.uint8)
