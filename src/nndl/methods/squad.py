"""Extractive question answering the SQuAD v1.1 way: windows, span post-processing, EM and F1.

- `normalize_answer`, `exact_match`, `f1`, `evaluate`: the official v1.1 evaluation script's
  normalisation (lower case, no punctuation, no articles a/an/the, single spaces) and metrics, the
  maximum over the gold answers, averaged over questions, in percent.
- `make_features`: "[CLS] question [SEP] context window [SEP]"; a context longer than the model
  takes is cut into windows that start every `doc_stride` tokens (the original run_squad.py), so
  each answer lies whole inside at least one window; the gold span of a window that does not hold
  it points at [CLS] (index 0).
- `best_span` / `predict_answers`: the highest start+end logit over context tokens with
  start <= end < start + max_answer_len; a token seen by several windows is scored only in the
  window where it has the most context on both sides (BERT's "max context" rule); the answer text
  is cut from the original context with the tokens' character offsets.
"""

from __future__ import annotations

import collections
import re
import string
from dataclasses import dataclass, field

import numpy as np

# -- the official SQuAD v1.1 metric ---------------------------------------------------------------


def normalize_answer(s: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace (evaluate-v1.1.py)."""

    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def f1(prediction: str, ground_truth: str) -> float:
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(ground_truth).split()
    common = collections.Counter(pred_tokens) & collections.Counter(gold_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, ground_truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def evaluate(gold: dict[str, list[str]], predictions: dict[str, str]) -> dict[str, float]:
    """{"exact_match", "f1"} in percent over the questions of `gold` (id -> gold answers); a
    question without a prediction scores 0, as in the official script."""
    em = f = 0.0
    for qid, answers in gold.items():
        if qid not in predictions:
            continue
        pred = predictions[qid]
        em += max(exact_match(pred, a) for a in answers)
        f += max(f1(pred, a) for a in answers)
    n = max(len(gold), 1)
    return {"exact_match": 100.0 * em / n, "f1": 100.0 * f / n}


# -- windows ---------------------------------------------------------------------------------------


@dataclass
class Features:
    """Model inputs for all windows of all examples, plus what post-processing needs."""

    input_ids: np.ndarray  # (N, max_len) int64, right-padded with pad_id
    token_type_ids: np.ndarray  # (N, max_len): 0 question side, 1 context side
    attention_mask: np.ndarray  # (N, max_len)
    start_positions: np.ndarray  # (N,) gold start token (0 = [CLS]: the answer is not here)
    end_positions: np.ndarray  # (N,)
    example_index: np.ndarray  # (N,) which example the window came from
    offsets: list = field(default_factory=list)  # per window: (char_start, char_end) or None
    max_context: list = field(default_factory=list)  # per window: token has max context here

    def __len__(self) -> int:
        return len(self.input_ids)


def _char_to_token_span(offsets, start_char: int, end_char: int) -> tuple[int, int] | None:
    """First and last context token overlapping [start_char, end_char)."""
    tok_start = tok_end = None
    for i, (s, e) in enumerate(offsets):
        if tok_start is None and e > start_char:
            tok_start = i
        if s < end_char:
            tok_end = i
    if tok_start is None or tok_end is None or tok_end < tok_start:
        return None
    return tok_start, tok_end


def window_starts(num_tokens: int, window: int, doc_stride: int) -> list[int]:
    """Start token of every window: 0, stride, 2*stride, ... until one reaches the end."""
    if window <= 0 or doc_stride <= 0:
        raise ValueError("window and doc_stride must be positive")
    starts, s = [], 0
    while True:
        starts.append(s)
        if s + window >= num_tokens:
            return starts
        s += min(doc_stride, window)


def _max_context(starts: list[int], window: int, num_tokens: int) -> list[np.ndarray]:
    """For each window, whether each of its context tokens has its maximum context there:
    score = min(tokens left of it, tokens right of it) + 0.01 * window length (run_squad.py)."""
    best = np.full(num_tokens, -1.0)
    best_w = np.zeros(num_tokens, dtype=int)
    for w, s in enumerate(starts):
        length = min(window, num_tokens - s)
        for j in range(length):
            score = min(j, length - 1 - j) + 0.01 * length
            if score > best[s + j]:
                best[s + j], best_w[s + j] = score, w
    return [best_w[s : s + min(window, num_tokens - s)] == w for w, s in enumerate(starts)]


def make_features(
    tokenizer, examples, *, max_len: int = 384, doc_stride: int = 128, max_query_len: int = 64
) -> Features:
    """Windows for `examples` (objects with .question, .context, .answers, .answer_starts).

    `tokenizer` is a `tokenizers.Tokenizer` of the BERT kind ([CLS]/[SEP]/[PAD] in its vocab).
    """
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    pad_id = tokenizer.token_to_id("[PAD]")
    rows, offsets_all, maxctx_all = [], [], []
    for ei, ex in enumerate(examples):
        q = tokenizer.encode(ex.question, add_special_tokens=False).ids[:max_query_len]
        c = tokenizer.encode(ex.context, add_special_tokens=False)
        window = max_len - len(q) - 3  # room left for context tokens
        starts = window_starts(len(c.ids), window, doc_stride)
        maxctx = _max_context(starts, window, len(c.ids))
        gold = None
        if ex.answers:  # the first gold answer is the training target
            a0, s0 = ex.answers[0], ex.answer_starts[0]
            gold = _char_to_token_span(c.offsets, s0, s0 + len(a0))
        for w, s in enumerate(starts):
            ctx_ids = c.ids[s : s + window]
            ids = [cls_id, *q, sep_id, *ctx_ids, sep_id]
            types = [0] * (len(q) + 2) + [1] * (len(ctx_ids) + 1)
            first = len(q) + 2  # index of the first context token
            offs = [None] * first + list(c.offsets[s : s + len(ctx_ids)]) + [None]
            mc = np.zeros(len(ids), dtype=bool)
            mc[first : first + len(ctx_ids)] = maxctx[w]
            start = end = 0
            if gold is not None and s <= gold[0] and gold[1] < s + len(ctx_ids):
                start, end = gold[0] - s + first, gold[1] - s + first
            rows.append((ids, types, start, end, ei))
            offsets_all.append(offs)
            maxctx_all.append(mc)
    n = len(rows)
    input_ids = np.full((n, max_len), pad_id, dtype=np.int64)
    types = np.zeros((n, max_len), dtype=np.int64)
    mask = np.zeros((n, max_len), dtype=np.int64)
    for i, (ids, tt, *_rest) in enumerate(rows):
        input_ids[i, : len(ids)], types[i, : len(tt)], mask[i, : len(ids)] = ids, tt, 1
    return Features(
        input_ids=input_ids,
        token_type_ids=types,
        attention_mask=mask,
        start_positions=np.array([r[2] for r in rows], dtype=np.int64),
        end_positions=np.array([r[3] for r in rows], dtype=np.int64),
        example_index=np.array([r[4] for r in rows], dtype=np.int64),
        offsets=offsets_all,
        max_context=maxctx_all,
    )


# -- span post-processing -------------------------------------------------------------------------


def best_span(
    start_logits, end_logits, valid_start, valid_end=None, max_answer_len: int = 30
) -> tuple[int, int, float] | None:
    """argmax over (i, j) of start[i] + end[j] with valid_start[i], valid_end[j] and
    i <= j < i + max_answer_len; None when no pair is valid. Exact (a T x T score table)."""
    s = np.asarray(start_logits, dtype=np.float64)
    e = np.asarray(end_logits, dtype=np.float64)
    vs = np.asarray(valid_start, dtype=bool)
    ve = vs if valid_end is None else np.asarray(valid_end, dtype=bool)
    t = len(s)
    i, j = np.arange(t)[:, None], np.arange(t)[None, :]
    ok = (j >= i) & (j < i + max_answer_len) & vs[:, None] & ve[None, :]
    if not ok.any():
        return None
    scores = np.where(ok, s[:, None] + e[None, :], -np.inf)
    k = int(np.argmax(scores))  # first maximum in row-major order: deterministic ties
    return k // t, k % t, float(scores.flat[k])


def predict_answers(
    features: Features, start_logits, end_logits, examples, max_answer_len: int = 30
) -> dict[str, str]:
    """id -> answer text, the best span over all windows of each example ("" if none)."""
    best: dict[int, tuple[float, str]] = {}
    for f in range(len(features)):
        offs = features.offsets[f]
        is_ctx = np.array(
            [o is not None for o in offs] + [False] * (len(start_logits[f]) - len(offs))
        )
        starts = is_ctx & np.pad(features.max_context[f], (0, len(is_ctx) - len(offs)))
        span = best_span(start_logits[f], end_logits[f], starts, is_ctx, max_answer_len)
        if span is None:
            continue
        i, j, score = span
        ei = int(features.example_index[f])
        if ei not in best or score > best[ei][0]:
            ctx = examples[ei].context
            best[ei] = (score, ctx[offs[i][0] : offs[j][1]])
    return {ex.id: best.get(i, (0.0, ""))[1] for i, ex in enumerate(examples)}
