"""`celeba`: CelebA's aligned faces and their 40 attributes, in the published layout.

    DATA_ROOT/celeba/img_align_celeba/000001.jpg ...  and  DATA_ROOT/celeba/list_attr_celeba.txt
    (or the same without the `celeba/` level; torchvision's `CelebA` reads this layout)

`list_attr_celeba.txt`: a count line, a line of the 40 attribute names, then one line per image:
`000001.jpg -1 1 1 -1 ...` (1 = has the attribute, -1 = not). Images (178x218) are centre-cropped
to a square and resized, as DCGAN implementations do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nndl.data import DatasetInfo, register
from nndl.errors import DataError


def _find(data_root: Path) -> Path | None:
    for base in (Path(data_root) / "celeba", Path(data_root)):
        if (base / "list_attr_celeba.txt").is_file() and (base / "img_align_celeba").is_dir():
            return base
    return None


INFO = register(
    DatasetInfo(
        name="celeba",
        kind="real",
        description="CelebA: 202,599 aligned celebrity faces with 40 binary attributes",
        layout="celeba/img_align_celeba/*.jpg and celeba/list_attr_celeba.txt (the celeba/ level "
        "is optional; torchvision's CelebA layout)",
        how_to_get="Download img_align_celeba.zip and list_attr_celeba.txt from "
        "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (or Kaggle's 'celeba-dataset') and "
        "extract under --data-root.",
        check=_find,
    )
)


def read_attributes(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """(file names, attribute names, labels (N, 40) int64 in {0, 1}) from list_attr_celeba.txt."""
    lines = Path(path).read_text().splitlines()
    try:
        count = int(lines[0].strip())
        names = lines[1].split()
        files, rows = [], []
        for line in lines[2 : 2 + count]:
            parts = line.split()
            if len(parts) != len(names) + 1:
                raise ValueError(line)
            files.append(parts[0])
            rows.append([int(v) for v in parts[1:]])
    except (IndexError, ValueError) as e:
        raise DataError(
            f"{path} is not in list_attr_celeba.txt's format (a count line, the attribute names, "
            f"then 'NNNNNN.jpg' and one 1/-1 per attribute): {str(e)[:80]}"
        ) from None
    if len(files) != count:
        raise DataError(f"{path} announces {count} images but lists {len(files)} (truncated?).")
    return files, names, (np.array(rows, np.int64) > 0).astype(np.int64)


def load_celeba(data_root: Path, size: int, max_images: int = 0) -> dict:
    """x (N, size, size, 3) uint8, attributes (N, 40), attribute_names, the folder read."""
    from PIL import Image

    base = _find(data_root)
    if base is None:
        raise INFO.missing_error(data_root)
    files, names, attrs = read_attributes(base / "list_attr_celeba.txt")
    if max_images:
        files, attrs = files[:max_images], attrs[:max_images]
    x = np.empty((len(files), size, size, 3), np.uint8)
    for i, f in enumerate(files):
        path = base / "img_align_celeba" / f
        if not path.is_file():
            raise DataError(f"CelebA image {path} (listed in list_attr_celeba.txt) is missing.")
        try:
            with Image.open(path) as im:
                im = im.convert("RGB")
                w, h = im.size
                c = min(w, h)
                im = im.crop(((w - c) // 2, (h - c) // 2, (w - c) // 2 + c, (h - c) // 2 + c))
                x[i] = np.asarray(im.resize((size, size), Image.BILINEAR), np.uint8)
        except OSError as e:
            raise DataError(f"Corrupt image {path}: {e}.") from None
    return {"x": x, "attributes": attrs, "attribute_names": tuple(names), "folder": base}
