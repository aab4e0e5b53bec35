"""The three fine-tuning tasks of a15, each one `Task`: how its data is sliced, encoded, fed to a
head, stepped, scored and compared with word counting. run() loops over tasks without asking
which one it holds.

- `ClassificationTask` (sentiment): one text -> a class; accuracy.
- `PairTask` (NLI): premise + hypothesis -> a class; accuracy.
- `SpanTask` (extractive QA): question + context -> an answer span; SQuAD EM and F1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

# -- step functions (the shared loop calls them; batches are right-padded id arrays) --------------


def _trim(ids, types, mask):
    """Drop the columns that are padding in the whole batch (inputs are right-padded)."""
    t = int(mask.sum(1).max())
    return ids[:, :t], types[:, :t], mask[:, :t]


def classify_step(model, batch):
    import torch.nn.functional as F

    ids, types, mask, y = batch
    logits = model(*_trim(ids, types, mask))  # (B, num_classes)
    loss = F.cross_entropy(logits, y)
    return loss, {"loss": loss.item(), "acc": (logits.argmax(1) == y).float().mean().item()}


def span_step(model, batch):
    """Loss = (CE(start) + CE(end)) / 2 over the window's tokens (BERT's SQuAD objective)."""
    import torch.nn.functional as F

    ids, types, mask, start, end = batch
    s_logits, e_logits = model(*_trim(ids, types, mask))  # (B, T) each
    loss = (F.cross_entropy(s_logits, start) + F.cross_entropy(e_logits, end)) / 2
    acc = ((s_logits.argmax(1) == start) & (e_logits.argmax(1) == end)).float().mean()
    return loss, {"loss": loss.item(), "span_acc": acc.item()}


def predict(model, enc: dict, batch_size: int, span: bool = False):
    """Logits for every row of `enc` (eval mode, no grad), padded back to full width for spans."""
    import torch

    from nndl.train import epoch_batches

    model.eval()
    outs = []
    n, width = enc["input_ids"].shape
    with torch.no_grad():
        for idx in epoch_batches(n, batch_size, 0, 0, shuffle=False):
            ids, types, mask = (
                torch.as_tensor(enc[k][idx])
                for k in ("input_ids", "token_type_ids", "attention_mask")
            )
            out = model(*_trim(ids, types, mask))
            if span:
                pad = width - out[0].shape[1]
                out = torch.stack([torch.nn.functional.pad(o, (0, pad), value=-1e4) for o in out])
            outs.append(out.numpy())
    return np.concatenate(outs, axis=1 if span else 0)


# -- word-counting baselines ----------------------------------------------------------------------


@dataclass(frozen=True)
class Lexical:
    """One word-counting baseline's test score."""

    key: str  # metrics.json: "<task>_<key>"
    name: str  # display name
    metric: str  # which of the task's metrics it is ("accuracy", "exact_match", "f1")
    value: float


def _bag_of_words(train, test, feats_fit, feats) -> list[Lexical]:
    """Majority class and bag-of-words logistic regression: word counting without order."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    majority = np.bincount(train.labels).argmax()
    vec = CountVectorizer(token_pattern=r"[^\s]+", lowercase=True)
    vec.fit(feats_fit(train))
    clf = LogisticRegression(C=1.0, max_iter=2000).fit(feats(vec, train), train.labels)
    return [
        Lexical(
            "majority_class",
            "majority class",
            "accuracy",
            float((test.labels == majority).mean()),
        ),
        Lexical(
            "bag_of_words__logistic_regression",
            "bag of words + logistic regression",
            "accuracy",
            float(clf.score(feats(vec, test), test.labels)),
        ),
    ]


# -- input lengths --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lengths:
    """Token lengths of one task's inputs under one tokenizer, and the input length chosen."""

    max_len: int  # chosen: holds `coverage` of the training inputs, within the model's cap
    mean: float  # tokens per training input before truncation ([CLS]/[SEP] included)
    p90: float
    longest: int
    truncated: float  # share of training inputs longer than max_len
    test_truncated: float  # share of test inputs longer than the cap (they are read up to it)


def measure_lengths(train_lengths, test_lengths, coverage: float, cap: int) -> Lengths:
    from nndl.data.text_tasks import choose_max_len

    max_len = choose_max_len(train_lengths, coverage, cap)
    return Lengths(
        max_len=max_len,
        mean=float(np.mean(train_lengths)),
        p90=float(np.quantile(train_lengths, 0.9)),
        longest=int(np.max(train_lengths)),
        truncated=float(np.mean(train_lengths > max_len)),
        test_truncated=float(np.mean(test_lengths > cap)),
    )


# -- the tasks ------------------------------------------------------------------------------------


@dataclass
class Task:
    key: str  # also the Config field naming its data source
    title: str
    num_classes: int  # 0 for span extraction
    metric: ClassVar[str] = "accuracy"  # the headline metric's name
    metric_label: ClassVar[str] = "accuracy"  # how findings and figures name it
    scale: ClassVar[int] = 100  # points per unit of the metric (accuracy is in [0, 1])
    step: ClassVar[Callable] = staticmethod(classify_step)

    def length_cap(self, cfg, model_cap: int) -> int:
        """The longest input this task may give a model whose own cap is `model_cap`."""
        return model_cap

    def source(self, cfg) -> str:
        return getattr(cfg, self.key)

    def generated(self, cfg) -> bool:
        return self.source(cfg) == "generated"

    def take(self, data, idx):
        return data.take(idx)

    def fmt(self, v: float) -> str:
        return f"{v:.0%}"

    def head(self, bert, pooling: str = "cls"):
        from nndl.models.bert import BertForSequenceClassification

        return BertForSequenceClassification(bert, self.num_classes, pooling)

    def score(self, model, enc, features, test, batch_size, cfg) -> dict:
        logits = predict(model, enc, batch_size)
        return {"accuracy": float((logits.argmax(1) == test.labels).mean())}


@dataclass
class ClassificationTask(Task):
    def lengths(self, tok, train, test, coverage: float, cap: int) -> Lengths:
        from nndl.data.text_tasks import token_lengths

        return measure_lengths(
            token_lengths(tok, train.texts), token_lengths(tok, test.texts), coverage, cap
        )

    def cut(self, cfg) -> str:
        """How an input longer than max_len is shortened."""
        if cfg.truncation == "head_tail":
            return "head + tail: first 1/4 and last 3/4 of the tokens kept"
        return "head: the first tokens kept"

    def encode(self, tok, data, max_len: int, cfg):
        from nndl.data.text_tasks import encode

        enc = encode(tok, data.texts, max_len=max_len, truncation=cfg.truncation)
        return enc, (data.labels,), None

    def lexical(self, train, test) -> list[Lexical]:
        return _bag_of_words(train, test, lambda d: d.texts, lambda vec, d: vec.transform(d.texts))

    def sample_text(self, data) -> str:
        return data.texts[0]

    def vocab_texts(self, train) -> list[str]:
        return train.texts[:300]


@dataclass
class PairTask(Task):
    def lengths(self, tok, train, test, coverage: float, cap: int) -> Lengths:
        from nndl.data.text_tasks import token_lengths

        return measure_lengths(
            token_lengths(tok, train.premises, train.hypotheses),
            token_lengths(tok, test.premises, test.hypotheses),
            coverage,
            cap,
        )

    def cut(self, cfg) -> str:
        return "the longer text of the pair loses tokens from its end first"

    def encode(self, tok, data, max_len: int, cfg):
        """Pairs are cut longest side first (the hypothesis is short; the premise gives way)."""
        from nndl.data.text_tasks import encode

        enc = encode(tok, data.premises, data.hypotheses, max_len=max_len)
        return enc, (data.labels,), None

    def head(self, bert, pooling: str = "cls"):
        from nndl.models.bert import BertForPairClassification

        return BertForPairClassification(bert, self.num_classes, pooling)

    def lexical(self, train, test) -> list[Lexical]:
        import scipy.sparse as sp

        def feats(vec, d):  # separate bags for premise and hypothesis, side by side
            return sp.hstack([vec.transform(d.premises), vec.transform(d.hypotheses)]).tocsr()

        return _bag_of_words(train, test, lambda d: d.premises + d.hypotheses, feats)

    def sample_text(self, data) -> str:
        return data.premises[0]

    def vocab_texts(self, train) -> list[str]:
        return train.hypotheses[:300]


@dataclass
class SpanTask(Task):
    metric: ClassVar[str] = "f1"
    metric_label: ClassVar[str] = "F1"
    scale: ClassVar[int] = 1  # F1 is already in percent
    step: ClassVar[Callable] = staticmethod(span_step)

    def take(self, data, idx):
        return [data[i] for i in idx]

    def fmt(self, v: float) -> str:
        return f"{v:.1f}"

    def lengths(self, tok, train, test, coverage: float, cap: int) -> Lengths:
        """QA keeps its configured window (qa_max_len): a longer context is read in windows
        sliding by doc_stride, not cut, so 'truncated' here is the share read in several."""
        from nndl.data.text_tasks import token_lengths

        def lens(d):
            return token_lengths(tok, [ex.question for ex in d], [ex.context for ex in d])

        window = measure_lengths(lens(train), lens(test), 1.0, cap)
        return dataclasses.replace(window, max_len=cap)  # the configured window, always

    def length_cap(self, cfg, model_cap: int) -> int:
        return min(cfg.qa_max_len, model_cap)

    def cut(self, cfg) -> str:
        return f"not cut: read in windows of max_len tokens starting every {cfg.doc_stride}"

    def encode(self, tok, data, max_len: int, cfg):
        from nndl.methods import squad

        f = squad.make_features(tok, data, max_len=max_len, doc_stride=cfg.doc_stride)
        enc = {
            "input_ids": f.input_ids,
            "token_type_ids": f.token_type_ids,
            "attention_mask": f.attention_mask,
        }
        return enc, (f.start_positions, f.end_positions), f

    def head(self, bert, pooling: str = "cls"):
        """Span heads read every token; `pooling` does not apply."""
        from nndl.models.bert import BertForSpanExtraction

        return BertForSpanExtraction(bert)

    def score(self, model, enc, features, test, batch_size, cfg) -> dict:
        from nndl.methods import squad

        logits = predict(model, enc, batch_size, span=True)
        preds = squad.predict_answers(
            features, logits[0], logits[1], test, max_answer_len=cfg.max_answer_len
        )
        r = squad.evaluate({ex.id: list(ex.answers) for ex in test}, preds)
        return {"exact_match": r["exact_match"], "f1": r["f1"]}

    def lexical(self, train, test) -> list[Lexical]:
        """The lexical-overlap sentence heuristic: the answer is the sentence sharing most words
        with the question, cut to its best span."""
        from nndl.data.synthetic.text import overlap_qa_baseline
        from nndl.methods import squad

        r = squad.evaluate({ex.id: list(ex.answers) for ex in test}, overlap_qa_baseline(test))
        return [
            Lexical("lexical_overlap_em", "lexical overlap (EM)", "exact_match", r["exact_match"]),
            Lexical("lexical_overlap_f1", "lexical overlap (F1)", "f1", r["f1"]),
        ]

    def sample_text(self, data) -> str:
        return data[0].context

    def vocab_texts(self, train) -> list[str]:
        return [ex.context for ex in train[:100]]


TASK_SPECS: dict[str, Task] = {
    "sentiment": ClassificationTask("sentiment", "Sentiment", 2),
    "qa": SpanTask("qa", "Extractive QA", 0),
    "nli": PairTask("nli", "Natural language inference", 3),
}
