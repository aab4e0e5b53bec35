"""`tiny_imagenet`: Tiny ImageNet (64x64, 200 ImageNet classes) in its published layout.

    <data-root>/tiny-imagenet-200/wnids.txt                      one WordNet id per line
    <data-root>/tiny-imagenet-200/words.txt                      "<wnid>\\t<names>" lines
    <data-root>/tiny-imagenet-200/train/<wnid>/images/*.JPEG     500 per class (release)
    <data-root>/tiny-imagenet-200/val/images/*.JPEG              50 per class (release)
    <data-root>/tiny-imagenet-200/val/val_annotations.txt        "<file>\\t<wnid>\\t<box>" lines

A study picks a list of wnids (default: the first 20 of wnids.txt); labels are 0..K-1 in that
order. The official test split has no labels, so the val split serves as the test set.
"""

from __future__ import annotations

from pathlib import Path

from nndl.data import DatasetInfo, register
from nndl.errors import ConfigError, DataError, did_you_mean

FOLDER = "tiny-imagenet-200"


def _check(root: Path) -> Path | None:
    folder = Path(root) / FOLDER
    ok = (folder / "wnids.txt").is_file() and (folder / "train").is_dir()
    return folder if ok and (folder / "val" / "val_annotations.txt").is_file() else None


INFO = register(
    DatasetInfo(
        name="tiny_imagenet",
        kind="real",
        description="Tiny ImageNet: 64x64 images of 200 ImageNet classes, 500 train + 50 val each",
        layout=f"{FOLDER}/{{wnids.txt,words.txt,train/<wnid>/images/*.JPEG,"
        "val/images/*.JPEG,val/val_annotations.txt}",
        how_to_get="Download http://cs231n.stanford.edu/tiny-imagenet-200.zip and unzip it there.",
        check=_check,
    )
)


def read_wnids(root: Path) -> list[str]:
    folder = _check(Path(root))
    if folder is None:
        raise INFO.missing_error(root)
    return [w.strip() for w in (folder / "wnids.txt").read_text().split() if w.strip()]


def read_words(root: Path) -> dict[str, str]:
    """wnid -> its first name in words.txt ("n01443537" -> "goldfish")."""
    path = Path(root) / FOLDER / "words.txt"
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(errors="replace").splitlines():
        wnid, _, names = line.partition("\t")
        out[wnid.strip()] = names.split(",")[0].strip()
    return out


def resolve_wnids(root: Path, wnids=(), num_classes: int = 20) -> list[str]:
    """The chosen wnids (checked against wnids.txt), or the first `num_classes` of it."""
    known = read_wnids(root)
    if not wnids:
        if len(known) < num_classes:
            raise DataError(
                f"{Path(root) / FOLDER}/wnids.txt lists {len(known)} classes, "
                f"fewer than {num_classes}."
            )
        return known[:num_classes]
    for w in wnids:
        if w not in known:
            raise ConfigError(f"'{w}' is not in {FOLDER}/wnids.txt.{did_you_mean(w, known)}")
    if len(set(wnids)) != len(wnids):
        raise ConfigError(f"Tiny ImageNet wnids repeat: {', '.join(wnids)}.")
    return list(wnids)


def _read(path: Path, size: int):
    import numpy as np
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")  # a few Tiny ImageNet images are greyscale
            if im.size != (size, size):
                im = im.resize((size, size), Image.BILINEAR)
            return np.asarray(im, np.uint8)
    except (OSError, ValueError) as e:
        raise DataError(f"Corrupt Tiny ImageNet image {path}: {e}.") from e


def load_tiny_imagenet(
    root: Path, wnids=(), *, num_classes: int = 20, size: int = 64, max_train_per_class: int = 0
):
    """(x_train, y_train, x_val, y_val, class names): float32 NCHW in [0, 1], int64 labels.

    `size` resizes the images (64 is the release's); `max_train_per_class` (0 = all) keeps the
    first files of each class in name order.
    """
    import numpy as np

    root = Path(root)
    chosen = resolve_wnids(root, wnids, num_classes)
    folder = root / FOLDER
    words = read_words(root)
    index = {w: i for i, w in enumerate(chosen)}
    x_tr, y_tr = [], []
    for w in chosen:
        files = sorted((folder / "train" / w / "images").glob("*.JPEG"))
        if not files:
            raise DataError(f"No training images in {folder / 'train' / w / 'images'}.")
        for f in files[: max_train_per_class or None]:
            x_tr.append(_read(f, size))
            y_tr.append(index[w])
    x_va, y_va = [], []
    annotations = folder / "val" / "val_annotations.txt"
    for line in annotations.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) < 2:
            raise DataError(f"Malformed line in {annotations}: {line!r}.")
        if parts[1] in index:
            x_va.append(_read(folder / "val" / "images" / parts[0], size))
            y_va.append(index[parts[1]])
    if not x_va:
        raise DataError(f"{annotations} has no images of the chosen classes.")

    def chw(x):
        return np.ascontiguousarray(np.stack(x).transpose(0, 3, 1, 2), dtype=np.float32) / 255.0

    names = [words.get(w, w) for w in chosen]
    return chw(x_tr), np.asarray(y_tr, np.int64), chw(x_va), np.asarray(y_va, np.int64), names
