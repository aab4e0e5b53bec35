"""`sst2`: GLUE SST-2 sentence sentiment in GLUE's tsv layout (or Hugging Face `datasets` online).

    <data-root>/SST-2/train.tsv          "sentence<TAB>label" with a header row (67,349 rows)
    <data-root>/SST-2/dev.tsv            the same (872 rows): what GLUE reports accuracy on
    <data-root>/SST-2/test.tsv           GLUE's unlabelled test ("index<TAB>sentence"): not usable
    <data-root>/SST-2/test-labeled.tsv   a labelled test set in the train/dev format, if present

`train_full.tsv` is accepted in place of train.tsv (the same rows, as some mirrors name it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nndl.data import DatasetInfo, register
from nndl.data.text_tasks import TextClassification, hf_fetch
from nndl.errors import DataError

LABELS = ("negative", "positive")
FILES = {
    "train": ("train.tsv", "train_full.tsv"),
    "dev": ("dev.tsv",),
    "test": ("test-labeled.tsv",),
}


def split_file(root: Path, split: str) -> Path | None:
    for name in FILES[split]:
        path = Path(root) / "SST-2" / name
        if path.is_file():
            return path
    return None


def _check(root: Path) -> Path | None:
    ok = split_file(root, "train") and split_file(root, "dev")
    return Path(root) / "SST-2" if ok else None


INFO = register(
    DatasetInfo(
        name="sst2",
        kind="real",
        description="GLUE SST-2: movie-review sentences, positive/negative (67k train, 872 dev)",
        layout="SST-2/{train.tsv (or train_full.tsv),dev.tsv}: 'sentence<TAB>label' with a header",
        how_to_get="Download SST-2.zip from https://gluebenchmark.com/tasks (or "
        "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip) and unzip it there; with a "
        "network it is fetched with Hugging Face datasets ('glue', 'sst2').",
        check=_check,
    )
)


def read_tsv(path: Path) -> TextClassification:
    """A GLUE SST-2 tsv file with labels; a malformed line is named."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"Cannot read SST-2 file {path}: {e}.") from e
    if not lines or lines[0].split("\t")[:2] != ["sentence", "label"]:
        raise DataError(f"Corrupt SST-2 file {path}: expected the header 'sentence<TAB>label'.")
    texts, labels = [], []
    for i, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.rsplit("\t", 1)
        if len(parts) != 2 or parts[1].strip() not in ("0", "1"):
            raise DataError(f"Corrupt SST-2 file {path}, line {i}: expected 'sentence<TAB>0|1'.")
        texts.append(parts[0].strip())
        labels.append(int(parts[1]))
    return TextClassification(texts, np.array(labels, dtype=np.int64), LABELS)


def load_sst2(root: Path, split: str = "train") -> TextClassification:
    """The `split` ("train", "dev" or "test") from files, else from `datasets` online."""
    if split not in FILES:
        raise DataError(f"SST-2 has splits train, dev, test; got '{split}'.")
    path = split_file(root, split)
    if path is not None:
        return read_tsv(path)
    if split == "test":
        raise DataError(
            f"SST-2's test labels are not public: no {Path(root) / 'SST-2' / FILES['test'][0]}."
        )
    ds = hf_fetch(INFO, root, "glue", "sst2", {"train": "train", "dev": "validation"}[split])
    return TextClassification(list(ds["sentence"]), np.array(ds["label"], dtype=np.int64), LABELS)
