"""`imagefolder`: a user's own images, one sub-folder per class (torchvision's ImageFolder)."""

from __future__ import annotations

from pathlib import Path

from nndl.data import DatasetInfo, register
from nndl.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff", ".webp")

INFO = register(
    DatasetInfo(
        name="imagefolder",
        kind="user",
        description="your own images: one sub-folder per class",
        layout="<folder>/<class name>/<image>.{jpg,png,...}",
        how_to_get="Point a study at it with --set data_dir=<folder>.",
    )
)


def load_imagefolder(folder: Path, transform=None):
    """A torchvision ImageFolder, after checking the tree has classes with images."""
    from torchvision.datasets import ImageFolder

    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"Image folder {folder} does not exist; expected {INFO.layout}.")
    classes = [d for d in sorted(folder.iterdir()) if d.is_dir()]
    if not classes:
        raise DataError(f"Image folder {folder} has no class sub-folders; expected {INFO.layout}.")
    if not any(f.suffix.lower() in IMAGE_EXTENSIONS for d in classes for f in d.rglob("*")):
        raise DataError(f"Image folder {folder} holds no images ({', '.join(IMAGE_EXTENSIONS)}).")
    return ImageFolder(str(folder), transform=transform)
