"""`shanghaitech_A`, `shanghaitech_B`: the ShanghaiTech crowd-counting dataset (Zhang et al. 2016).

    <data-root>/ShanghaiTech/part_A/train_data/images/IMG_1.jpg ...
    <data-root>/ShanghaiTech/part_A/train_data/ground-truth/GT_IMG_1.mat ...
    <data-root>/ShanghaiTech/part_A/test_data/{images,ground-truth}/...
    <data-root>/ShanghaiTech/part_B/...                                  (the same)

(`part_A_final` / `part_B_final`, the names in the original release, and a `part_X` folder
directly under the data root are found too.) Part A: 300 train / 182 test images of dense crowds
from the internet, sizes vary; Part B: 400 train / 316 test street images of 1024 x 768.

Each `GT_IMG_N.mat` is a MATLAB file holding a struct `image_info` whose field `location` is the
(N, 2) array of head positions (x = column, y = row, in pixels) and `number` the count N; read
with scipy, `image_info[0, 0][0, 0][0]` is the location array (checked on the published files).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from nndl.data import DatasetInfo, register
from nndl.errors import DataError

SPLITS = {"train": "train_data", "test": "test_data"}
LAYOUT = (
    "ShanghaiTech/part_{part}/{{train_data,test_data}}/{{images/IMG_N.jpg,"
    "ground-truth/GT_IMG_N.mat}}"
)
HOW_TO_GET = (
    "ShanghaiTech has no official automatic download: get 'ShanghaiTech_Crowd_Counting_Dataset' "
    "(linked from https://github.com/desenzhou/ShanghaiTechDataset), unzip it and place part_{part} "
    "(or part_{part}_final) under <data-root>/ShanghaiTech/."
)


def part_folder(root: Path, part: str) -> Path | None:
    """The folder of part A or B under `root`, in any of the usual places; None if absent."""
    root = Path(root)
    for cand in (
        root / "ShanghaiTech" / f"part_{part}",
        root / "ShanghaiTech" / f"part_{part}_final",
        root / "ShanghaiTech_Crowd_Counting_Dataset" / f"part_{part}_final",
        root / f"part_{part}",
        root / f"part_{part}_final",
    ):
        if all((cand / s / "images").is_dir() for s in SPLITS.values()):
            return cand
    return None


INFOS = {
    part: register(
        DatasetInfo(
            name=f"shanghaitech_{part}",
            kind="real",
            description=(
                "ShanghaiTech Part A: 300 train / 182 test dense crowd images, head points"
                if part == "A"
                else "ShanghaiTech Part B: 400 train / 316 test street scenes 1024x768, head points"
            ),
            layout=LAYOUT.format(part=part),
            how_to_get=HOW_TO_GET.format(part=part),
            check=lambda root, part=part: part_folder(root, part),
        )
    )
    for part in ("A", "B")
}


def read_points(path: Path) -> np.ndarray:
    """(N, 2) float64 head positions (x, y) from a ShanghaiTech GT_IMG_N.mat file."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as e:  # noqa: BLE001 - scipy raises several types for a bad file
        raise DataError(f"Corrupt ShanghaiTech ground truth {path}: {e}.") from e
    try:
        info = mat["image_info"][0, 0][0, 0]  # MATLAB struct: fields (location, number)
        points = np.asarray(info[0], np.float64)
        number = int(np.asarray(info[1]).ravel()[0]) if len(info) > 1 else None
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise DataError(
            f"ShanghaiTech ground truth {path} does not hold image_info.location as published."
        ) from e
    points = points.reshape(-1, 2) if points.size == 0 else points
    if points.ndim != 2 or points.shape[1] != 2:
        raise DataError(f"ShanghaiTech ground truth {path}: location has shape {points.shape}.")
    if number is not None and number != len(points):
        raise DataError(
            f"ShanghaiTech ground truth {path}: number={number} but {len(points)} locations."
        )
    return points


def list_split(folder: Path, split: str) -> list[tuple[Path, Path]]:
    """(image, ground truth) paths of a split, in the order of the image number N."""
    base = Path(folder) / SPLITS[split]
    images = sorted(
        (base / "images").glob("IMG_*.jpg"),
        key=lambda p: int(re.sub(r"\D", "", p.stem) or 0),
    )
    if not images:
        raise DataError(f"No IMG_N.jpg images in {base / 'images'}.")
    pairs = []
    for img in images:
        gt = base / "ground-truth" / f"GT_{img.stem}.mat"
        if not gt.exists():
            raise DataError(f"ShanghaiTech image {img} has no ground truth {gt}.")
        pairs.append((img, gt))
    return pairs


def read_image(path: Path, scale: float = 1.0) -> np.ndarray:
    """An RGB uint8 (H, W, 3) image, resized by `scale` (grey images are made RGB)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if scale != 1.0:
                w, h = im.size
                im = im.resize((max(round(w * scale), 1), max(round(h * scale), 1)), Image.BILINEAR)
            return np.asarray(im, np.uint8)
    except OSError as e:
        raise DataError(f"Corrupt image {path}: {e}.") from e


def load_shanghaitech(
    root: Path, part: str, split: str, scale: float = 1.0, limit: int = 0
) -> tuple[list[Path], list[np.ndarray]]:
    """(image paths, head points scaled by `scale`) of one split; images are read lazily.

    Raises the dataset's missing-data error at once when the part is not under `root`.
    """
    info = INFOS[part]
    folder = info.locate(root)
    if folder is None:
        raise info.missing_error(root)
    pairs = list_split(folder, split)
    if limit:
        pairs = pairs[:limit]
    return [p for p, _ in pairs], [read_points(g) * scale for _, g in pairs]
