"""`squad`: SQuAD v1.1 extractive question answering in its published json.

<data-root>/squad/train-v1.1.json     87,599 questions
<data-root>/squad/dev-v1.1.json       10,570 questions (several gold answers each)

{"version": "1.1", "data": [{"title": ..., "paragraphs": [{"context": ...,
    "qas": [{"id": ..., "question": ..., "answers": [{"text": ..., "answer_start": N}]}]}]}]}
"""

from __future__ import annotations

import json
from pathlib import Path

from nndl.data import DatasetInfo, register
from nndl.data.text_tasks import QAExample, hf_fetch
from nndl.errors import DataError

FILES = {"train": "train-v1.1.json", "dev": "dev-v1.1.json"}


def split_file(root: Path, split: str) -> Path:
    return Path(root) / "squad" / FILES[split]


def _check(root: Path) -> Path | None:
    return Path(root) / "squad" if all(split_file(root, s).is_file() for s in FILES) else None


INFO = register(
    DatasetInfo(
        name="squad",
        kind="real",
        description="SQuAD v1.1: 100k questions on Wikipedia paragraphs, answers are spans",
        layout="squad/{train-v1.1.json,dev-v1.1.json} (the official v1.1 json)",
        how_to_get="Download train-v1.1.json and dev-v1.1.json from "
        "https://rajpurkar.github.io/SQuAD-explorer/ into that folder; with a network "
        "they are fetched with Hugging Face datasets ('squad').",
        check=_check,
    )
)


def parse_squad(obj: dict, source: str) -> list[QAExample]:
    """QAExamples from the v1.1 json object; an answer that is not at its offset is an error."""
    try:
        out = []
        for article in obj["data"]:
            for para in article["paragraphs"]:
                context = para["context"]
                for qa in para["qas"]:
                    texts = tuple(a["text"] for a in qa["answers"])
                    starts = tuple(int(a["answer_start"]) for a in qa["answers"])
                    for t, s in zip(texts, starts, strict=True):
                        if context[s : s + len(t)] != t:
                            raise DataError(
                                f"Corrupt SQuAD file {source}: question {qa['id']}'s "
                                f"answer {t!r} is not at offset {s} of its context."
                            )
                    out.append(
                        QAExample(
                            str(qa["id"]),
                            article.get("title", ""),
                            context,
                            qa["question"],
                            texts,
                            starts,
                        )
                    )
    except (KeyError, TypeError) as e:
        raise DataError(
            f"Corrupt SQuAD file {source}: missing field {e} (expected SQuAD v1.1 json)."
        ) from e
    return out


def load_squad(root: Path, split: str = "train") -> list[QAExample]:
    if split not in FILES:
        raise DataError(f"SQuAD has splits train and dev; got '{split}'.")
    path = split_file(root, split)
    if path.is_file():
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DataError(f"Corrupt SQuAD file {path}: {e}.") from e
        return parse_squad(obj, str(path))
    try:
        ds = hf_fetch(INFO, root, "squad", None, {"train": "train", "dev": "validation"}[split])
    except DataError as e:
        raise DataError(f"{e} (missing: {path})") from e
    return [
        QAExample(
            r["id"],
            r["title"],
            r["context"],
            r["question"],
            tuple(r["answers"]["text"]),
            tuple(r["answers"]["answer_start"]),
        )
        for r in ds
    ]
