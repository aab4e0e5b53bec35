"""`wider_face`: WIDER FACE (Yang et al. 2016), face boxes in 61 event categories.

    <data-root>/WIDER_train/images/<event>/<name>.jpg
    <data-root>/WIDER_val/images/<event>/<name>.jpg
    <data-root>/wider_face_split/wider_face_{train,val}_bbx_gt.txt

The ground-truth file is a sequence of blocks, one per image (the official format):

    0--Parade/0_Parade_marchingband_1_849.jpg      image path under WIDER_<split>/images
    1                                              number of faces N
    449 330 122 149 0 0 0 0 0 0                    N lines: x1 y1 w h blur expression
                                                   illumination invalid occlusion pose

An image with no face has N = 0 followed by one line of ten zeros (which is not a face). Faces
flagged `invalid` (too small or unclear to annotate) are kept with `invalid = True`: training
leaves them out, and scoring ignores detections on them (COCO's `iscrowd`). Boxes with zero width
or height (a few exist in the official files) are dropped.

Published sizes: 12,880 train / 3,226 val images (the test split's boxes are not public), so the
official val split is the test set here and a seeded part of train is the validation split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nndl.data import DatasetInfo, register
from nndl.errors import DataError

SPLITS = ("train", "val")
PUBLISHED = {"train": 12880, "val": 3226}
ATTRIBUTES = ("blur", "expression", "illumination", "invalid", "occlusion", "pose")
LAYOUT = (
    "WIDER_{train,val}/images/<event>/*.jpg and wider_face_split/wider_face_{train,val}_bbx_gt.txt"
)


def gt_file(root: Path, split: str) -> Path:
    return Path(root) / "wider_face_split" / f"wider_face_{split}_bbx_gt.txt"


def locate(root: Path) -> Path | None:
    root = Path(root)
    for cand in (root, root / "WIDER_FACE", root / "wider_face", root / "widerface"):
        if all(
            gt_file(cand, s).is_file() and (cand / f"WIDER_{s}" / "images").is_dir() for s in SPLITS
        ):
            return cand
    return None


INFO = register(
    DatasetInfo(
        name="wider_face",
        kind="real",
        description="WIDER FACE: 12,880 train / 3,226 val images, 393,703 face boxes",
        layout=LAYOUT,
        how_to_get=(
            "Download WIDER_train.zip, WIDER_val.zip and wider_face_split.zip from "
            "http://shuoyang1213.me/WIDERFACE/ (or the Hugging Face mirror CUHK-CSE/wider_face) "
            "and unzip them side by side under <data-root>."
        ),
        check=locate,
    )
)


@dataclass
class WiderImage:
    path: Path  # the image file
    name: str  # "<event>/<file>.jpg", as in the gt file
    boxes: np.ndarray  # (N, 4) float64 x0, y0, x1, y1 in pixels
    invalid: np.ndarray  # (N,) bool
    attributes: np.ndarray  # (N, 6) int64, columns ATTRIBUTES

    @property
    def event(self) -> str:
        return self.name.split("/", 1)[0]


def parse_gt(path: Path) -> list[tuple[str, np.ndarray]]:
    """[(image name, (N, 10) int64 rows)] from a wider_face_*_bbx_gt.txt file."""
    try:
        lines = Path(path).read_text().split("\n")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"Cannot read WIDER FACE ground truth {path}: {e}.") from e
    out, i = [], 0
    lines = [ln.strip() for ln in lines]
    while i < len(lines):
        name = lines[i]
        if not name:
            i += 1
            continue
        if not name.lower().endswith(".jpg") or i + 1 >= len(lines):
            raise DataError(f"{path}, line {i + 1}: expected an image name, got '{name[:60]}'.")
        try:
            n = int(lines[i + 1])
            # a face-less image still has one (all-zero) line
            rows = [[int(float(v)) for v in lines[i + 2 + k].split()] for k in range(max(n, 1))]
        except (ValueError, IndexError) as e:
            raise DataError(f"{path}: truncated or corrupt block for {name} (line {i + 2}).") from e
        if any(len(r) == 0 for r in rows):
            raise DataError(f"{path}: truncated or corrupt block for {name} (line {i + 2}).")
        if any(len(r) != 10 for r in rows):
            raise DataError(f"{path}: a box line of {name} does not have 10 numbers.")
        out.append((name, np.array(rows[:n], np.int64).reshape(-1, 10)))
        i += 2 + max(n, 1)
    return out


def load_split(root: Path, split: str, max_images: int = 0) -> list[WiderImage]:
    """The images of one official split, in the gt file's order (the first `max_images`)."""
    if split not in SPLITS:
        raise DataError(f"WIDER FACE split must be one of {SPLITS}; got '{split}'.")
    folder = locate(root)
    if folder is None:
        raise INFO.missing_error(root)
    images = []
    for name, rows in parse_gt(gt_file(folder, split)):
        keep = (rows[:, 2] > 0) & (rows[:, 3] > 0)
        rows = rows[keep]
        xywh = rows[:, :4].astype(np.float64)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)
        path = folder / f"WIDER_{split}" / "images" / name
        if not path.is_file():
            raise DataError(f"WIDER FACE image {path} is listed in the ground truth but missing.")
        images.append(WiderImage(path, name, boxes, rows[:, 7] == 1, rows[:, 4:]))
        if max_images and len(images) >= max_images:
            break
    return images


def read_image(img: WiderImage) -> np.ndarray:
    """RGB uint8 (H, W, 3)."""
    import cv2

    bgr = cv2.imread(str(img.path))
    if bgr is None:
        raise DataError(f"Corrupt or unreadable WIDER FACE image {img.path}.")
    return bgr[..., ::-1]


def split_train_val(images: list, val_fraction: float, seed: int) -> tuple[list, list]:
    """A seeded split of the official train images into train and validation."""
    order = np.random.default_rng([seed, 23]).permutation(len(images))
    n_val = max(1, round(len(images) * val_fraction)) if len(images) > 1 else 0
    val = set(order[:n_val].tolist())
    return (
        [im for i, im in enumerate(images) if i not in val],
        [im for i, im in enumerate(images) if i in val],
    )
