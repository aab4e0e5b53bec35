"""`unpaired`: two image domains for image-to-image translation (CycleGAN), in two layouts.

    DATA_ROOT/photo_jpg/*.jpg + DATA_ROOT/monet_jpg/*.jpg     Kaggle's "I'm Something of a Painter
        Myself" layout: A = photos, B = Monet paintings; no split, the last images are held out
    DATA_ROOT/trainA, trainB, testA, testB/*.{jpg,png}         the CycleGAN datasets' layout
        (monet2photo, horse2zebra, ...): A -> B as the folders name them

Either may sit one folder down (DATA_ROOT/<name>/trainA ...).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nndl.data import DatasetInfo, register
from nndl.errors import DataError

EXTENSIONS = (".jpg", ".jpeg", ".png")


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in EXTENSIONS)


def _find(data_root: Path) -> tuple[str, Path] | None:
    root = Path(data_root)
    bases = [root] + (sorted(d for d in root.iterdir() if d.is_dir()) if root.is_dir() else [])
    for base in bases:
        if (base / "trainA").is_dir() and (base / "trainB").is_dir():
            return "cyclegan", base
        if (base / "photo_jpg").is_dir() and (base / "monet_jpg").is_dir():
            return "kaggle", base
    return None


INFO = register(
    DatasetInfo(
        name="unpaired",
        kind="real",
        description="two unpaired image domains for CycleGAN (photos and Monet paintings, ...)",
        layout="photo_jpg/*.jpg and monet_jpg/*.jpg (Kaggle gan-getting-started), or "
        "trainA/, trainB/, testA/, testB/ (CycleGAN's datasets), possibly one folder down",
        how_to_get="Download e.g. monet2photo from "
        "https://efrosgans.eecs.berkeley.edu/cyclegan/datasets/ or Kaggle's gan-getting-started "
        "data, and extract under --data-root.",
        check=lambda root: (_find(root) or (None, None))[1],
    )
)


def load_unpaired(data_root: Path, size: int, num_test: int, max_train: int = 0) -> dict:
    """train_a, train_b, test_a, test_b: (N, size, size, 3) uint8, and a note of what was read."""
    from nndl.data.dense_sets import read_rgb

    found = _find(data_root)
    if found is None:
        raise INFO.missing_error(data_root)
    layout, base = found

    def read(files: list[Path]) -> np.ndarray:
        if not files:
            raise DataError(f"{base}: an image folder is empty; expected {INFO.layout}.")
        return np.stack([read_rgb(f, (size, size)) for f in files])

    if layout == "cyclegan":
        split = {k: _images(base / k) if (base / k).is_dir() else [] for k in
                 ("trainA", "trainB", "testA", "testB")}  # fmt: skip
        for k in ("testA", "testB"):  # no test folder: hold out the last images of train
            if not split[k]:
                tr = "train" + k[-1]
                split[k], split[tr] = split[tr][-num_test:], split[tr][:-num_test]
        names = ("A", "B")
    else:
        photos, monet = _images(base / "photo_jpg"), _images(base / "monet_jpg")
        if len(photos) <= num_test or len(monet) <= num_test:
            raise DataError(f"{base}: fewer than {num_test + 1} images in photo_jpg or monet_jpg.")
        split = {"trainA": photos[:-num_test], "testA": photos[-num_test:],
                 "trainB": monet[:-num_test], "testB": monet[-num_test:]}  # fmt: skip
        names = ("photo", "Monet painting")
    if max_train:
        split["trainA"], split["trainB"] = split["trainA"][:max_train], split["trainB"][:max_train]
    out = {f"{k[:-1]}_{k[-1].lower()}": read(v) for k, v in split.items()}  # train_a, ...
    out.update(layout=layout, folder=base, domain_names=names)
    return out
