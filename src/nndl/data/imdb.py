"""`imdb`: the Large Movie Review Dataset (Maas et al., 2011) in its aclImdb folder layout.

    <data-root>/aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt     12,500 reviews per folder

Reviews keep their text; the "<br />" line breaks become spaces. Files are read in sorted order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nndl.data import DatasetInfo, register
from nndl.data.text_tasks import TextClassification, hf_fetch
from nndl.errors import DataError

LABELS = ("negative", "positive")


def _check(root: Path) -> Path | None:
    base = Path(root) / "aclImdb"
    ok = all((base / s / c).is_dir() for s in ("train", "test") for c in ("pos", "neg"))
    return base if ok else None


INFO = register(
    DatasetInfo(
        name="imdb",
        kind="real",
        description="IMDB movie reviews, positive/negative (25,000 train, 25,000 test)",
        layout="aclImdb/{train,test}/{pos,neg}/*.txt",
        how_to_get="Download aclImdb_v1.tar.gz from https://ai.stanford.edu/~amaas/data/sentiment/ "
        "and extract it there; with a network it is fetched with Hugging Face datasets "
        "('imdb').",
        check=_check,
    )
)


def load_imdb(root: Path, split: str = "train") -> TextClassification:
    if split not in ("train", "test"):
        raise DataError(f"IMDB has splits train and test; got '{split}'.")
    base = _check(root)
    if base is None:
        ds = hf_fetch(INFO, root, "imdb", None, split)
        return TextClassification(list(ds["text"]), np.array(ds["label"], dtype=np.int64), LABELS)
    texts, labels = [], []
    for label, cls in enumerate(LABELS):
        folder = base / split / cls[:3]
        for path in sorted(folder.glob("*.txt")):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise DataError(f"Cannot read IMDB review {path}: {e}.") from e
            texts.append(" ".join(text.replace("<br />", " ").split()))
            labels.append(label)
    if not texts:
        raise DataError(f"No reviews (*.txt) under {base / split}/{{pos,neg}}.")
    return TextClassification(texts, np.array(labels, dtype=np.int64), LABELS)
