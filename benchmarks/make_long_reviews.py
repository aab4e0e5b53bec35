"""Long movie reviews in the aclImdb layout, made from real text, to check a15 on long documents.

No long-review data set ships here (aclImdb is a download), so this builds one from the shared
packs: each review opens with one real SST-2 opinion sentence and closes with two more of the same
polarity, around ~200 words of WikiText-2 text standing in for the plot summary that real reviews
carry (the verdict sits at the ends: what head+tail truncation keeps). Training reviews take their
opinions from SST-2's train file (whole sentences: 12+ words), test reviews from the labelled test
file, so no sentence is shared.

    python benchmarks/make_long_reviews.py --sst2 DATA/SST-2 --wikitext DATA/wikitext-2 --out DIR
    nndl run a15 --set tasks=sentiment --set sentiment=imdb --data-root DIR

writes DIR/aclImdb/{train,test}/{pos,neg}/<i>_<rating>.txt (1,200 train, 800 test by default).
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path


def _sentences(path: Path, min_words: int) -> dict[int, list[str]]:
    by_label: dict[int, list[str]] = {0: [], 1: []}
    with open(path, encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            text = row["sentence"].strip()
            if len(text.split()) >= min_words:
                by_label[int(row["label"])].append(text)
    return by_label


def _plot_paragraphs(wikitext: Path) -> list[str]:
    paragraphs = []
    for name in ("wiki.valid.tokens", "wiki.test.tokens"):
        for line in (wikitext / name).read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("=") and len(line.split()) >= 60:
                paragraphs.append(line.replace(" @-@ ", "-").replace(" @,@ ", ","))
    return paragraphs


def build(sst2: Path, wikitext: Path, out: Path, num_train: int, num_test: int, seed: int) -> None:
    rng = random.Random(seed)
    plots = _plot_paragraphs(wikitext)
    sources = {
        "train": _sentences(sst2 / "train_full.tsv", 12),
        "test": _sentences(sst2 / "test-labeled.tsv", 5),
    }
    for split, n in (("train", num_train), ("test", num_test)):
        for i in range(n):
            label = i % 2
            opinions = rng.sample(sources[split][label], 3)
            words = " ".join(rng.sample(plots, 2)).split()
            start = rng.randrange(max(1, len(words) - 200))
            plot = " ".join(words[start : start + rng.randint(150, 250)])
            text = f"{opinions[0]} {plot} {opinions[1]} {opinions[2]}"
            rating = rng.choice((7, 8, 9, 10)) if label else rng.choice((1, 2, 3, 4))
            folder = out / "aclImdb" / split / ("pos" if label else "neg")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i}_{rating}.txt").write_text(text, encoding="utf-8")
    print(f"wrote {num_train} train and {num_test} test reviews under {out / 'aclImdb'}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sst2", type=Path, required=True, help="folder with train_full.tsv")
    p.add_argument("--wikitext", type=Path, required=True, help="folder with wiki.*.tokens")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--train", type=int, default=1200)
    p.add_argument("--test", type=int, default=800)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    build(a.sst2, a.wikitext, a.out, a.train, a.test, a.seed)


if __name__ == "__main__":
    main()
