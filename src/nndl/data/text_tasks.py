"""What every text dataset of study a15 turns into, and how text turns into model inputs.

Records (the same for generated and real data, so the study never branches on the source):
- `TextClassification`: texts + integer labels (sentiment: SST-2, IMDB, generated reviews);
- `TextPairs`: premise/hypothesis pairs + labels (NLI: SNLI, generated pairs);
- `QAExample`: one question on one context with its gold answers (SQuAD v1.1, generated stories).

Tokenisation: `train_wordpiece` trains a BERT-style WordPiece tokenizer (lower case, accents
stripped, punctuation split, [PAD] [UNK] [CLS] [SEP] [MASK]) with Hugging Face `tokenizers`;
`load_tokenizer` reads a pretrained model's tokenizer.json. Both give a `tokenizers.Tokenizer`, and
`encode` / `pack_corpus` turn text into padded id arrays for either.

`hf_fetch` gets a split with Hugging Face `datasets` when the network allows, else raises the
dataset's missing-data error at once (nndl.offline).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


@dataclass
class TextClassification:
    texts: list[str]
    labels: np.ndarray  # (N,) int64
    label_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, idx) -> TextClassification:
        return TextClassification([self.texts[i] for i in idx], self.labels[idx], self.label_names)


@dataclass
class TextPairs:
    premises: list[str]
    hypotheses: list[str]
    labels: np.ndarray  # (N,) int64
    label_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.premises)

    def take(self, idx) -> TextPairs:
        return TextPairs(
            [self.premises[i] for i in idx],
            [self.hypotheses[i] for i in idx],
            self.labels[idx],
            self.label_names,
        )


@dataclass(frozen=True)
class QAExample:
    id: str
    title: str
    context: str
    question: str
    answers: tuple[str, ...]  # gold answer texts (one for training data, several for dev)
    answer_starts: tuple[int, ...]  # character offsets of the answers in `context`


def subsample(n_total: int, n: int, seed: int) -> np.ndarray:
    """A seeded random subset of indices (all of them, in order, when n is 0 or >= n_total)."""
    if not n or n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, n, replace=False))


# -- tokenizers -----------------------------------------------------------------------------------


def train_wordpiece(texts: Sequence[str], vocab_size: int, min_frequency: int = 2):
    """A BERT-style uncased WordPiece tokenizer trained on `texts`: the same texts give the same
    vocabulary, in every process.

    `tokenizers`' trainer creates the word-continuing pieces ("##e") while iterating a hash map,
    so their ids, and with them the tie-breaks between equally frequent merges, change from one
    process to the next (huggingface/tokenizers#1794): two trainings differed in dozens of tokens.
    Handing the trainer every "##c" up front, in sorted order, fixes their ids; they are passed as
    the trainer's special tokens only for that, and the tokenizer is then rebuilt from the trained
    vocabulary so that they stay ordinary pieces.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers.trainers import WordPieceTrainer

    def blank(model):
        tok = Tokenizer(model)
        tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()  # whitespace + punctuation split
        return tok

    tok = blank(models.WordPiece(unk_token="[UNK]"))
    continuing = set()
    for text in texts:
        for word, _ in tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(text)):
            continuing.update(word[1:])
    trainer = WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[*SPECIAL_TOKENS, *(f"##{c}" for c in sorted(continuing))],
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    tok = blank(models.WordPiece(vocab=tok.get_vocab(), unk_token="[UNK]"))
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.WordPiece()
    return tok


def load_tokenizer(path: str | Path):
    """A `tokenizers.Tokenizer` from a tokenizer.json (or a model folder holding one)."""
    from tokenizers import Tokenizer

    from nndl.errors import WeightsError

    path = Path(path)
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        raise WeightsError(f"No tokenizer.json at {path}.")
    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.no_truncation()
    return tok


def special_ids(tokenizer) -> dict[str, int]:
    ids = {t: tokenizer.token_to_id(t) for t in SPECIAL_TOKENS}
    missing = [t for t, i in ids.items() if i is None]
    if missing:
        from nndl.errors import WeightsError

        raise WeightsError(f"The tokenizer lacks the BERT special tokens {missing}.")
    return ids


def token_lengths(tokenizer, texts: Sequence[str], texts_b: Sequence[str] | None = None):
    """Tokens per input, [CLS] and [SEP] included, before any truncation. (N,) int64."""
    tokenizer.no_truncation()
    tokenizer.no_padding()
    pairs = list(texts) if texts_b is None else list(zip(texts, texts_b, strict=True))
    return np.array([len(e.ids) for e in tokenizer.encode_batch(pairs)], dtype=np.int64)


def choose_max_len(lengths, coverage: float, cap: int, floor: int = 16) -> int:
    """The input length that holds `coverage` of the inputs whole (their `coverage` quantile),
    at most `cap` (the model's position limit or a cost budget), at least `floor`, rounded up
    to a multiple of 8."""
    need = int(np.ceil(np.quantile(np.asarray(lengths), coverage))) if len(lengths) else floor
    need = -(-max(need, floor) // 8) * 8
    return int(min(need, cap))


def head_tail(ids: Sequence[int], max_len: int, head_frac: float = 0.25) -> list[int]:
    """Keep the first `head_frac` and the rest from the end of a sequence longer than `max_len`
    (Sun et al. 2019, "How to Fine-Tune BERT for Text Classification?": the first 128 and the last
    382 of 510 tokens scored best on IMDB: reviews open and close with the verdict)."""
    ids = list(ids)
    if len(ids) <= max_len:
        return ids
    head = int(round(max_len * head_frac))
    return ids[:head] + ids[len(ids) - (max_len - head) :]


TRUNCATIONS = ("head", "head_tail")


def encode(
    tokenizer,
    texts: Sequence[str],
    texts_b: Sequence[str] | None = None,
    *,
    max_len: int,
    truncation: str = "head",
) -> dict[str, np.ndarray]:
    """input_ids, token_type_ids, attention_mask (N, max_len), right-padded with [PAD].

    Single texts longer than max_len keep their first max_len - 2 tokens ("head") or the head
    and tail (`head_tail`) between [CLS] and [SEP]. Pairs are "[CLS] a [SEP] b [SEP]" with
    segment ids 0/1, the longer side truncated first.
    """
    if truncation not in TRUNCATIONS:
        raise ValueError(f"truncation must be one of {TRUNCATIONS}; got '{truncation}'")
    pad = tokenizer.token_to_id("[PAD]")
    tokenizer.no_padding()
    n = len(texts)
    ids = np.full((n, max_len), pad, dtype=np.int64)
    types = np.zeros((n, max_len), dtype=np.int64)
    mask = np.zeros((n, max_len), dtype=np.int64)
    if texts_b is None and truncation == "head_tail":
        sp = special_ids(tokenizer)
        tokenizer.no_truncation()
        encs = tokenizer.encode_batch(list(texts), add_special_tokens=False)
        for i, e in enumerate(encs):
            row = [sp["[CLS]"], *head_tail(e.ids, max_len - 2), sp["[SEP]"]]
            ids[i, : len(row)], mask[i, : len(row)] = row, 1
        return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
    tokenizer.enable_truncation(max_length=max_len, strategy="longest_first")
    try:
        if texts_b is None:
            encs = tokenizer.encode_batch(list(texts))
        else:
            encs = tokenizer.encode_batch(list(zip(texts, texts_b, strict=True)))
    finally:
        tokenizer.no_truncation()
    for i, e in enumerate(encs):
        k = len(e.ids)
        ids[i, :k], types[i, :k], mask[i, :k] = e.ids, e.type_ids, 1
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}


def mean_length(enc: dict[str, np.ndarray]) -> float:
    return float(enc["attention_mask"].sum(1).mean())


def pack_corpus(tokenizer, texts: Sequence[str], seq_len: int) -> np.ndarray:
    """Pretraining sequences: the corpus' tokens concatenated and cut into rows of
    "[CLS] seq_len-2 tokens [SEP]" (no next-sentence pairs, as RoBERTa). (N, seq_len) int64."""
    ids = special_ids(tokenizer)
    stream: list[int] = []
    for enc in tokenizer.encode_batch(list(texts), add_special_tokens=False):
        stream.extend(enc.ids)
    body = seq_len - 2
    n = len(stream) // body
    if n == 0:
        from nndl.errors import DataError

        raise DataError(
            f"The pretraining corpus has only {len(stream)} tokens: fewer than one "
            f"sequence of {seq_len}."
        )
    rows = np.asarray(stream[: n * body], dtype=np.int64).reshape(n, body)
    cls = np.full((n, 1), ids["[CLS]"], dtype=np.int64)
    sep = np.full((n, 1), ids["[SEP]"], dtype=np.int64)
    return np.concatenate([cls, rows, sep], axis=1)


# -- Hugging Face datasets, where the network allows ----------------------------------------------


def hf_fetch(info, data_root: Path, path: str, name: str | None, split: str):
    """`datasets.load_dataset(path, name, split=split)` online; offline, `info`'s missing error."""
    from nndl.offline import online

    if not online():
        raise info.missing_error(data_root)
    import datasets

    return datasets.load_dataset(path, name, split=split)
