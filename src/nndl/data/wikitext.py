"""`wikitext-2` / `wikitext-103`: Wikipedia articles (Merity et al., 2016), full's MLM corpus.

    <data-root>/wikitext-2/wiki.{train,valid,test}.tokens          tokenized (<unk> for rare words)
    <data-root>/wikitext-2-raw/wiki.{train,valid,test}.raw          raw text
    <data-root>/wikitext-103/wiki.{train,valid,test}.tokens   (and wikitext-103-raw/*.raw)

The raw variant is preferred where both exist. Paragraphs are the non-empty lines that are not
section headings (" = Title = ").
"""

from __future__ import annotations

from pathlib import Path

from nndl.data import DatasetInfo, register
from nndl.data.text_tasks import hf_fetch
from nndl.errors import DataError

SPLITS = ("train", "valid", "test")
NAMES = ("wikitext-2", "wikitext-103")


def split_file(root: Path, name: str, split: str) -> Path | None:
    """The file of `split`: raw first, then tokens; None if neither is there."""
    for folder, ext in ((f"{name}-raw", "raw"), (name, "tokens")):
        path = Path(root) / folder / f"wiki.{split}.{ext}"
        if path.is_file():
            return path
    return None


def available_splits(root: Path, name: str) -> list[str]:
    return [s for s in SPLITS if split_file(root, name, s) is not None]


def _info(name: str, size: str) -> DatasetInfo:
    return register(
        DatasetInfo(
            name=name,
            kind="real",
            description=f"WikiText ({size} tokens of Wikipedia articles): pretraining text",
            layout=f"{name}/wiki.{{train,valid,test}}.tokens or "
            f"{name}-raw/wiki.{{train,valid,test}}.raw",
            how_to_get="Download it from https://huggingface.co/datasets/Salesforce/wikitext (or "
            "the original Salesforce zip) and extract it there; with a network it is fetched "
            "with Hugging Face datasets ('wikitext').",
            check=lambda root: (Path(root) / name) if available_splits(root, name) else None,
        )
    )


INFOS = {"wikitext-2": _info("wikitext-2", "2M"), "wikitext-103": _info("wikitext-103", "103M")}


def paragraphs(lines) -> list[str]:
    out = []
    for line in lines:
        s = line.strip()
        if not s or (s.startswith("= ") and s.endswith(" =")):
            continue
        out.append(s)
    return out


def load_wikitext(root: Path, name: str = "wikitext-2", split: str = "train") -> list[str]:
    if name not in NAMES or split not in SPLITS:
        raise DataError(f"WikiText: name in {NAMES}, split in {SPLITS}; got {name!r}, {split!r}.")
    path = split_file(root, name, split)
    if path is not None:
        try:
            return paragraphs(path.read_text(encoding="utf-8").splitlines())
        except (OSError, UnicodeDecodeError) as e:
            raise DataError(f"Cannot read WikiText file {path}: {e}.") from e
    hf_split = {"valid": "validation"}.get(split, split)
    try:
        ds = hf_fetch(INFOS[name], root, "wikitext", f"{name}-raw-v1", hf_split)
    except DataError as e:
        raise DataError(f"{e} (missing: {Path(root) / name / f'wiki.{split}.tokens'})") from e
    return paragraphs(ds["text"])
