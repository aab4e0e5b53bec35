"""`pets`: the Oxford-IIIT Pet dataset's segmentation trimaps, in torchvision's layout.

    <data-root>/oxford-iiit-pet/images/<Breed_N>.jpg
    <data-root>/oxford-iiit-pet/annotations/trimaps/<Breed_N>.png     1 pet, 2 background, 3 border
    <data-root>/oxford-iiit-pet/annotations/{trainval,test}.txt        "<Breed_N> class species breed"

3,680 trainval and 3,669 test images of 37 cat and dog breeds. Downloaded by
`torchvision.datasets.OxfordIIITPet` where the network allows. The trimap's three values become
classes background = 0, pet = 1, border = 2 (the uncertain outline band, a class of its own as in
Keras' U-Net example).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nndl.data import DatasetInfo, register
from nndl.errors import DataError

CLASS_NAMES = ("background", "pet", "border")
TRIMAP_TO_CLASS = np.array([0, 1, 0, 2], np.uint8)  # trimap value -> class (value 0 is unused)


def _check(root: Path) -> Path | None:
    base = Path(root) / "oxford-iiit-pet"
    ann = base / "annotations"
    ok = (base / "images").is_dir() and (ann / "trimaps").is_dir() and (ann / "test.txt").exists()
    return base if ok else None


INFO = register(
    DatasetInfo(
        name="pets",
        kind="real",
        description="Oxford-IIIT Pet: 3,680 trainval / 3,669 test images with pet/background/border "
        "trimaps",
        layout="oxford-iiit-pet/{images/*.jpg, annotations/trimaps/*.png, "
        "annotations/{trainval,test}.txt} (torchvision's layout)",
        how_to_get=(
            "With a network it is downloaded automatically (torchvision.datasets.OxfordIIITPet); "
            "otherwise unpack images.tar.gz and annotations.tar.gz from "
            "https://www.robots.ox.ac.uk/~vgg/data/pets/ into <data-root>/oxford-iiit-pet/."
        ),
        check=_check,
    )
)


def list_split(base: Path, split: str) -> list[tuple[Path, Path]]:
    """(image, trimap) paths listed in annotations/<split>.txt."""
    listing = base / "annotations" / f"{split}.txt"
    if not listing.exists():
        raise DataError(f"Oxford-IIIT Pet split file {listing} is missing.")
    pairs = []
    for line in listing.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name = line.split()[0]
        image = base / "images" / f"{name}.jpg"
        trimap = base / "annotations" / "trimaps" / f"{name}.png"
        for p in (image, trimap):
            if not p.exists():
                raise DataError(f"Oxford-IIIT Pet file {p} (listed in {listing}) is missing.")
        pairs.append((image, trimap))
    return pairs


def read_trimap(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """A trimap as class indices uint8 (H, W): background 0, pet 1, border 2."""
    from nndl.data.dense_sets import read_label_png

    raw = read_label_png(path, size)
    if raw.max(initial=0) > 3:
        raise DataError(f"Trimap {path} has value {raw.max()}; expected 1, 2 or 3.")
    return TRIMAP_TO_CLASS[raw]


def load_pets(root: Path, split: str, *, download: bool = True) -> list[tuple[Path, Path]]:
    """(image, trimap) paths of 'trainval' or 'test'; downloads when missing and online."""
    from nndl import offline

    base = _check(root)
    if base is None:
        if not (download and offline.online()):
            raise INFO.missing_error(root)
        import torchvision

        torchvision.datasets.OxfordIIITPet(
            root, split="trainval", target_types="segmentation", download=True
        )
        base = _check(root)
    return list_split(base, split)
