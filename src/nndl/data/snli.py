"""`snli`: the Stanford Natural Language Inference corpus 1.0 in its published jsonl.

    <data-root>/snli_1.0/snli_1.0_{train,dev,test}.jsonl     one pair per line:
        {"gold_label": "entailment"|"neutral"|"contradiction"|"-", "sentence1": premise,
         "sentence2": hypothesis, ...}

Pairs whose gold_label is "-" (no majority among the annotators) are skipped, as is standard.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nndl.data import DatasetInfo, register
from nndl.data.text_tasks import TextPairs, hf_fetch
from nndl.errors import DataError

LABELS = ("entailment", "neutral", "contradiction")  # the order of HF datasets' 'snli' labels
SPLITS = ("train", "dev", "test")


def split_file(root: Path, split: str) -> Path:
    return Path(root) / "snli_1.0" / f"snli_1.0_{split}.jsonl"


def _check(root: Path) -> Path | None:
    return Path(root) / "snli_1.0" if any(split_file(root, s).is_file() for s in SPLITS) else None


INFO = register(
    DatasetInfo(
        name="snli",
        kind="real",
        description="SNLI 1.0: 570k premise/hypothesis pairs, entailment/neutral/contradiction",
        layout="snli_1.0/snli_1.0_{train,dev,test}.jsonl",
        how_to_get="Download snli_1.0.zip from https://nlp.stanford.edu/projects/snli/ and unzip "
        "it there; with a network it is fetched with Hugging Face datasets ('snli').",
        check=_check,
    )
)


def read_jsonl(path: Path) -> TextPairs:
    premises, hypotheses, labels = [], [], []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"Cannot read SNLI file {path}: {e}.") from e
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            gold, p, h = row["gold_label"], row["sentence1"], row["sentence2"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise DataError(f"Corrupt SNLI file {path}, line {i}: {e}.") from e
        if gold == "-":
            continue
        if gold not in LABELS:
            raise DataError(f"Corrupt SNLI file {path}, line {i}: unknown gold_label {gold!r}.")
        premises.append(p)
        hypotheses.append(h)
        labels.append(LABELS.index(gold))
    return TextPairs(premises, hypotheses, np.array(labels, dtype=np.int64), LABELS)


def load_snli(root: Path, split: str = "train") -> TextPairs:
    if split not in SPLITS:
        raise DataError(f"SNLI has splits {', '.join(SPLITS)}; got '{split}'.")
    path = split_file(root, split)
    if path.is_file():
        return read_jsonl(path)
    try:
        ds = hf_fetch(INFO, root, "snli", None, {"dev": "validation"}.get(split, split))
    except DataError as e:
        raise DataError(f"{e} (missing: {path})") from e
    keep = [i for i, y in enumerate(ds["label"]) if y >= 0]  # -1: no gold label
    return TextPairs(
        [ds["premise"][i] for i in keep],
        [ds["hypothesis"][i] for i in keep],
        np.array([ds["label"][i] for i in keep], dtype=np.int64),
        LABELS,
    )
