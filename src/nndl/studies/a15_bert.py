"""a15: BERT from scratch: WordPiece, MLM pretraining, then sentiment, extractive QA and NLI.

Question: build BERT by hand (tokenizer trained on the corpus, embeddings, encoder, MLM head
with 80/10/10 masking), pretrain it with masked language modelling, fine-tune it for sentiment,
SQuAD-style extractive QA and SNLI-style inference, and compare with the same fine-tuning of a
public pretrained BERT. The scratch architecture must load the public weights and reproduce them.

    nndl run a15                                   # quick: ~4.5 min on 2 idle CPU cores, offline
    nndl run a15 --profile full --data-root DATA   # WikiText-103, SST-2, SQuAD, SNLI, bert-base

What to expect (quick, generated tasks, measured on 2 idle cores): the scratch code with
MiniLM's weights reproduces transformers to ~2e-6; MLM on ~60k tokens of the Python reference
takes the held-out loss from ~6.1 to ~5.7 nats (masked-token accuracy ~9%, mostly frequent
pieces). Fine-tuned on 4,000 generated examples per task for 5 epochs, the 0.8M-parameter
scratch BERT ends above word counting on all three tasks (sentiment 61% vs bag-of-words 59%,
NLI 72% vs 61%, QA F1 44 vs lexical overlap 32.5); MiniLM, fine-tuned on a few hundred examples,
reaches ~98% sentiment and QA F1 ~98, NLI ~63%. With 1,000 examples and 3 epochs the scratch
model stayed at the majority class on sentiment: the sentiment plateau breaks after ~400 steps.
Reduced full run on real SST-2 dev (a few hundred steps each, CPU): scratch ~74%, MiniLM ~82%.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from nndl.config import opt
from nndl.errors import ConfigError, DataError
from nndl.registry import study

TASKS = ("sentiment", "qa", "nli")


@dataclass(frozen=True)
class Config:
    # -- data
    corpus: Literal["pydoc", "wikitext-2", "wikitext-103"] = opt(
        "pydoc", "pretraining text: Python's language reference (embedded) or WikiText"
    )
    sentiment: Literal["generated", "sst2", "imdb"] = opt("generated", "sentiment data")
    qa: Literal["generated", "squad"] = opt("generated", "extractive QA data")
    nli: Literal["generated", "snli"] = opt("generated", "sentence-pair inference data")
    tasks: tuple[str, ...] = opt(TASKS, "which fine-tuning tasks to run (sentiment, qa, nli)")
    num_train: int = opt(4000, "generated tasks: training examples per task")
    num_test: int = opt(200, "generated tasks: test examples per task")
    max_train: int = opt(0, "real tasks: use at most this many training examples (0 = all)")
    max_test: int = opt(0, "real tasks: evaluate on at most this many examples (0 = all)")
    nli_train_split: Literal["train", "dev"] = opt(
        "train", "SNLI split to fine-tune on; 'dev' trains on dev and tests on test"
    )
    # -- the scratch BERT and its tokenizer
    vocab_size: int = opt(4096, "WordPiece vocabulary trained on the pretraining corpus")
    hidden_size: int = opt(128, "H of the scratch BERT")
    num_layers: int = opt(2, "L of the scratch BERT")
    num_heads: int = opt(4, "attention heads of the scratch BERT")
    intermediate_size: int = opt(512, "feed-forward width of the scratch BERT")
    # -- pretraining
    seq_len: int = opt(64, "tokens per pretraining sequence ([CLS] ... [SEP])")
    pretrain_epochs: int = opt(8, "passes over the pretraining corpus")
    pretrain_batch_size: int = opt(16, "sequences per pretraining step")
    pretrain_lr: float = opt(2e-3, "AdamW peak learning rate for pretraining (linear warmup/decay)")
    mlm_prob: float = opt(0.15, "fraction of tokens chosen as MLM targets (80/10/10 of them)")
    max_pretrain_sequences: int = opt(0, "use at most this many corpus sequences (0 = all)")
    # -- fine-tuning
    max_len: int = opt(64, "tokens per classification input (pairs included)")
    qa_max_len: int = opt(64, "tokens per QA window: [CLS] question [SEP] context [SEP]")
    doc_stride: int = opt(32, "QA: a new window starts every doc_stride context tokens")
    max_answer_len: int = opt(10, "QA: longest answer span in tokens")
    num_epochs: int = opt(5, "fine-tuning epochs of the scratch model")
    batch_size: int = opt(32, "fine-tuning batch size of the scratch model")
    lr: float = opt(1e-3, "fine-tuning peak learning rate of the scratch model")
    baseline: str = opt(
        "minilm",
        "pretrained baseline: minilm (bundled), bert-base-uncased, a "
        "Hugging Face id or a transformers BERT folder; none = skip",
    )
    baseline_epochs: int = opt(2, "fine-tuning epochs of the pretrained baseline")
    baseline_lr: float = opt(2e-4, "fine-tuning peak learning rate of the pretrained baseline")
    baseline_batch_size: int = opt(8, "fine-tuning batch size of the baseline")
    baseline_max_train: tuple[int, ...] = opt(
        (400, 320, 640),
        "per task (sentiment, qa, nli): the baseline fine-tunes on at most this "
        "many examples (0 = all); it costs ~25x the scratch model per token",
    )
    freeze_baseline_embeddings: bool = opt(
        True, "keep the baseline's token-embedding matrix fixed (half of MiniLM's parameters)"
    )
    ablation: bool = opt(False, "also fine-tune the scratch model from random weights")
    check_weights: bool = opt(
        True, "run the baseline's weights through both the scratch code and transformers"
    )

    PROFILES: ClassVar[dict] = {
        "smoke": {
            "num_train": 96,
            "num_test": 32,
            "vocab_size": 600,
            "hidden_size": 32,
            "num_layers": 1,
            "num_heads": 2,
            "intermediate_size": 64,
            "seq_len": 32,
            "pretrain_epochs": 1,
            "max_pretrain_sequences": 128,
            "num_epochs": 1,
            "baseline_epochs": 1,
            "baseline_max_train": (16, 16, 16),
            "check_weights": False,
            "qa_max_len": 48,
            "doc_stride": 24,
            "max_len": 48,
        },
        "full": {
            "corpus": "wikitext-103",
            "sentiment": "sst2",
            "qa": "squad",
            "nli": "snli",
            "vocab_size": 30522,
            "hidden_size": 512,
            "num_layers": 4,
            "num_heads": 8,
            "intermediate_size": 2048,
            "seq_len": 128,
            "pretrain_epochs": 4,
            "pretrain_batch_size": 128,
            "pretrain_lr": 5e-4,
            "max_len": 128,
            "qa_max_len": 384,
            "doc_stride": 128,
            "max_answer_len": 30,
            "num_epochs": 3,
            "batch_size": 32,
            "lr": 1e-4,
            "baseline": "bert-base-uncased",
            "baseline_epochs": 3,
            "baseline_lr": 3e-5,
            "baseline_max_train": (0, 0, 0),
            "baseline_batch_size": 32,
            "freeze_baseline_embeddings": False,
            "ablation": False,
        },
    }

    def __post_init__(self):
        bad = [t for t in self.tasks if t not in TASKS]
        if bad or not self.tasks:
            raise ConfigError(f"Unknown task(s) {bad} in tasks; valid: {', '.join(TASKS)}.")
        if len(self.baseline_max_train) != len(TASKS):
            raise ConfigError(
                f"baseline_max_train needs {len(TASKS)} numbers, for "
                f"{', '.join(TASKS)}; got {self.baseline_max_train}."
            )

    def baseline_cap(self, task: str) -> int:
        return self.baseline_max_train[TASKS.index(task)]

    def scratch_config(self, vocab_size: int):
        from nndl.models.bert import BertConfig

        return BertConfig(
            vocab_size=vocab_size,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            num_heads=self.num_heads,
            intermediate_size=self.intermediate_size,
            max_position=max(self.seq_len, self.max_len, self.qa_max_len),
        )

    def plan(self, data_root) -> list[str]:
        from nndl.data import get_dataset

        lines = []
        for what, name in (
            ("corpus", self.corpus),
            ("sentiment", self.sentiment),
            ("qa", self.qa),
            ("nli", self.nli),
        ):
            if what != "corpus" and what not in self.tasks:
                continue
            if name in ("pydoc", "generated"):
                lines.append(f"{what}: {name} (embedded)")
                continue
            info = get_dataset(name)
            found = info.locate(Path(data_root))
            lines.append(
                f"{what}: {name} - " + (f"found at {found}" if found else f"MISSING: {info.layout}")
            )
        c = self.scratch_config(self.vocab_size)
        lines += [
            f"scratch BERT L={c.num_layers} H={c.hidden_size} A={c.num_heads} "
            f"(~{c.encoder_params() / 1e6:.2f} M encoder parameters + {c.vocab_size} x "
            f"{c.hidden_size} embeddings), pretrained {self.pretrain_epochs} epochs of MLM",
            f"fine-tuning: {', '.join(self.tasks)}; scratch {self.num_epochs} epochs, baseline "
            f"'{self.baseline}' {self.baseline_epochs} epochs",
            f"cost per token (forward+backward): scratch ~{_mflops(c, self.seq_len):.1f} MFLOP, "
            f"MiniLM ~66 MFLOP, bert-base ~520 MFLOP; quick is ~4 min on 2 CPU cores, full "
            f"(WikiText-103 pretraining, bert-base fine-tuning) hours on a GPU",
        ]
        return lines


def _mflops(cfg, seq_len: int) -> float:
    from nndl.models.bert import train_flops_per_token

    return train_flops_per_token(cfg, seq_len) / 1e6


# -- data -----------------------------------------------------------------------------------------


def load_corpus(cfg: Config, ctx) -> tuple[list[str], list[str], str]:
    """(train paragraphs, held-out paragraphs, where they came from)."""
    if cfg.corpus == "pydoc":
        from nndl.data.synthetic.text import pydoc_corpus, split_corpus

        train, held = split_corpus(pydoc_corpus())
        return (
            train,
            held,
            (
                "embedded: prose of the Python language reference (pydoc_data), "
                "every 10th paragraph held out"
            ),
        )
    from nndl.data.wikitext import INFOS, available_splits, load_wikitext

    present = available_splits(ctx.data_root, cfg.corpus)
    if "train" in present and ("valid" in present or "test" in present):
        held_split = "valid" if "valid" in present else "test"
        return (
            load_wikitext(ctx.data_root, cfg.corpus, "train"),
            load_wikitext(ctx.data_root, cfg.corpus, held_split),
            f"real {cfg.corpus} from {ctx.data_root}: train split, {held_split} held out",
        )
    if len(present) >= 2:  # e.g. a pack with valid and test only
        return (
            load_wikitext(ctx.data_root, cfg.corpus, present[0]),
            load_wikitext(ctx.data_root, cfg.corpus, present[1]),
            f"real {cfg.corpus} from {ctx.data_root}, but its train file is MISSING: "
            f"pretraining on the {present[0]} split, {present[1]} held out (a much smaller "
            f"corpus than the course's)",
        )
    if present:
        raise INFOS[cfg.corpus].missing_error(ctx.data_root)
    # nothing on disk: the loader fetches online or fails at once naming the layout
    return (
        load_wikitext(ctx.data_root, cfg.corpus, "train"),
        load_wikitext(ctx.data_root, cfg.corpus, "valid"),
        f"real {cfg.corpus} (downloaded)",
    )


def load_tasks(cfg: Config, ctx) -> dict:
    """{task: (train, test, source)} for the configured tasks, all loaded before any training so
    that a missing file fails the run at once."""
    from nndl.data.text_tasks import subsample

    out = {}
    seed = ctx.seed
    if "sentiment" in cfg.tasks:
        if cfg.sentiment == "generated":
            from nndl.data.synthetic.text import make_sentiment

            out["sentiment"] = (
                make_sentiment(cfg.num_train, seed),
                make_sentiment(cfg.num_test, seed + 1000),
                "generated reviews (negation, contrast clauses, neutral sentences)",
            )
        elif cfg.sentiment == "sst2":
            from nndl.data.glue_sst2 import load_sst2

            out["sentiment"] = (
                load_sst2(ctx.data_root, "train"),
                load_sst2(ctx.data_root, "dev"),
                f"real GLUE SST-2 from {ctx.data_root} (train; dev for testing)",
            )
        else:
            from nndl.data.imdb import load_imdb

            out["sentiment"] = (
                load_imdb(ctx.data_root, "train"),
                load_imdb(ctx.data_root, "test"),
                f"real IMDB from {ctx.data_root} (aclImdb train/test)",
            )
    if "nli" in cfg.tasks:
        if cfg.nli == "generated":
            from nndl.data.synthetic.text import make_nli

            out["nli"] = (
                make_nli(cfg.num_train, seed),
                make_nli(cfg.num_test, seed + 1000),
                "generated premise/hypothesis pairs (negation, overlap that misleads)",
            )
        else:
            from nndl.data.snli import load_snli, split_file

            train_split = cfg.nli_train_split
            test_split = "test" if train_split == "dev" else "dev"
            if (
                not split_file(ctx.data_root, train_split).is_file()
                and split_file(ctx.data_root, "dev").is_file()
                and train_split == "train"
            ):
                raise DataError(
                    f"SNLI: {split_file(ctx.data_root, 'train')} is missing. Provide it, or "
                    "fine-tune on the dev split and test on test with --set nli_train_split=dev."
                )
            out["nli"] = (
                load_snli(ctx.data_root, train_split),
                load_snli(ctx.data_root, test_split),
                f"real SNLI 1.0 from {ctx.data_root} (fine-tuned on {train_split}, "
                f"tested on {test_split}; pairs without gold label skipped)",
            )
    if "qa" in cfg.tasks:
        if cfg.qa == "generated":
            from nndl.data.synthetic.text import make_qa

            out["qa"] = (
                make_qa(cfg.num_train, seed),
                make_qa(cfg.num_test, seed + 1000),
                "generated stories (distractor people, negated facts, moves)",
            )
        else:
            from nndl.data.squad import load_squad

            try:
                train, dev = load_squad(ctx.data_root, "train"), load_squad(ctx.data_root, "dev")
            except DataError as e:
                raise DataError(f"{e} Or leave QA out: --set tasks=sentiment,nli.") from e
            out["qa"] = (
                train,
                dev,
                f"real SQuAD v1.1 from {ctx.data_root} (train; dev for testing)",
            )
    # cap real data sizes (generated data is made at the configured size)
    for task, (train, test, src) in list(out.items()):
        if (task == "qa" and cfg.qa == "generated") or (
            task != "qa" and getattr(cfg, task) == "generated"
        ):
            continue
        tr_idx = subsample(len(train), cfg.max_train, seed)
        te_idx = subsample(len(test), cfg.max_test, seed + 1)
        if task == "qa":
            train, test = [train[i] for i in tr_idx], [test[i] for i in te_idx]
        else:
            train, test = train.take(tr_idx), test.take(te_idx)
        out[task] = (train, test, src)
    return out


# -- models ---------------------------------------------------------------------------------------


def resolve_baseline(name: str) -> Path:
    """A transformers BERT folder for `name` (bundled MiniLM, a folder, or a Hugging Face id)."""
    from nndl.errors import WeightsError
    from nndl.models.bert import minilm_path
    from nndl.offline import require_online

    if name == "minilm":
        return minilm_path()
    if Path(name).expanduser().is_dir():
        return Path(name).expanduser()
    require_online(
        f"The pretrained baseline '{name}'",
        "Use the bundled one (--set baseline=minilm) or name a folder holding its config.json, "
        "model.safetensors and tokenizer.json (--set baseline=PATH).",
    )
    try:
        from huggingface_hub import snapshot_download

        return Path(
            snapshot_download(
                name,
                allow_patterns=["config.json", "model.safetensors", "tokenizer.json", "vocab.txt"],
            )
        )
    except Exception as e:  # noqa: BLE001 - hub errors come in many types
        raise WeightsError(f"Cannot download '{name}' from the Hugging Face hub: {e}") from e


def equivalence_check(folder: Path, model) -> float | None:
    """Max |h_ours - h_transformers| over all layers' hidden states on a fixed batch (None when
    transformers is not installed)."""
    import torch

    from nndl import offline

    try:
        from transformers import BertModel as HFBertModel
        from transformers.utils import logging as hf_logging
    except ImportError:
        return None
    offline.configure()  # offline, transformers must not probe the hub for a local folder
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    hf = HFBertModel.from_pretrained(str(folder)).eval()
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, model.config.vocab_size, (4, 24), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 18:], mask[3, 9:] = 0, 0
    types = torch.zeros_like(ids)
    types[:, 12:] = 1
    model.eval()
    with torch.no_grad():
        a = hf(ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True)
        b = model(ids, types, mask, output_hidden_states=True)
    keep = mask[..., None].bool()  # padded positions are garbage in both, compared at tokens
    diffs = [
        ((x - y).abs() * keep).max().item()
        for x, y in zip(a.hidden_states, b.hidden_states, strict=True)
    ]
    return max(diffs + [(a.pooler_output - b.pooled).abs().max().item()])


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
            else:
                outs.append(out.numpy())
    return np.concatenate(outs, axis=1 if span else 0)


def linear_schedule(optimizer, total_steps: int, warmup_frac: float = 0.1):
    """Linear warmup over the first 10% of steps, then linear decay to 0 (BERT's schedule)."""
    import torch

    warmup = max(1, int(total_steps * warmup_frac))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_model(ctx, name, model, arrays, step_fn, *, num_epochs, lr, batch_size, val=None):
    """AdamW + linear schedule through the shared loop; returns (history, seconds)."""
    import torch

    from nndl.train import ArrayData, TorchTrainable, fit

    data = ArrayData(*arrays)
    steps = num_epochs * math.ceil(len(data) / batch_size)
    params = [p for p in model.parameters() if p.requires_grad]  # frozen ones excluded
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]  # biases and LayerNorm: no weight decay
    groups = [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}]
    fused = ctx.device in ("cpu", "cuda")  # one kernel for the whole update: ~10x faster on CPU
    opt = torch.optim.AdamW(groups, lr=lr, fused=fused)
    trainable = TorchTrainable(
        model, opt, step_fn, device=ctx.device, scheduler=linear_schedule(opt, steps), grad_clip=1.0
    )
    t0 = time.perf_counter()
    hist = fit(
        trainable,
        data,
        val,
        name=name,
        num_epochs=num_epochs,
        batch_size=batch_size,
        seed=ctx.seed,
        checkpoint_dir=ctx.checkpoint_dir,
        resume=ctx.resume,
    )
    model.to("cpu")
    return hist, time.perf_counter() - t0, steps


# -- tasks: encode, fine-tune, score (one entry per task, no branching in run()) ----------------


@dataclass
class Task:
    key: str
    title: str
    metric: str  # the headline metric's name
    num_classes: int  # 0 for span extraction

    def encode(self, tok, data, cfg: Config):
        from nndl.data.text_tasks import encode
        from nndl.methods import squad

        if self.key == "qa":
            f = squad.make_features(tok, data, max_len=cfg.qa_max_len, doc_stride=cfg.doc_stride)
            enc = {
                "input_ids": f.input_ids,
                "token_type_ids": f.token_type_ids,
                "attention_mask": f.attention_mask,
            }
            return enc, (f.start_positions, f.end_positions), f
        if self.key == "nli":
            enc = encode(tok, data.premises, data.hypotheses, max_len=cfg.max_len)
        else:
            enc = encode(tok, data.texts, max_len=cfg.max_len)
        return enc, (data.labels,), None

    def head(self, bert):
        from nndl.models.bert import (
            BertForPairClassification,
            BertForSequenceClassification,
            BertForSpanExtraction,
        )

        if self.key == "qa":
            return BertForSpanExtraction(bert)
        cls = BertForPairClassification if self.key == "nli" else BertForSequenceClassification
        return cls(bert, self.num_classes)

    def score(self, model, enc, features, test, batch_size, cfg: Config) -> dict:
        from nndl.methods import squad

        if self.key == "qa":
            logits = predict(model, enc, batch_size, span=True)
            preds = squad.predict_answers(
                features, logits[0], logits[1], test, max_answer_len=cfg.max_answer_len
            )
            r = squad.evaluate({ex.id: list(ex.answers) for ex in test}, preds)
            return {"exact_match": r["exact_match"], "f1": r["f1"]}
        logits = predict(model, enc, batch_size)
        return {"accuracy": float((logits.argmax(1) == test.labels).mean())}


TASK_SPECS = {
    "sentiment": Task("sentiment", "Sentiment", "accuracy", 2),
    "qa": Task("qa", "Extractive QA", "f1", 0),
    "nli": Task("nli", "Natural language inference", "accuracy", 3),
}


def lexical_baselines(task: str, train, test) -> dict:
    """Majority class and bag-of-words logistic regression (classification); the lexical-overlap
    sentence heuristic (QA). Word counting without order is all these see."""
    from nndl.methods import squad

    if task == "qa":
        from nndl.data.synthetic.text import overlap_qa_baseline

        r = squad.evaluate({ex.id: list(ex.answers) for ex in test}, overlap_qa_baseline(test))
        return {"lexical overlap (EM)": r["exact_match"], "lexical overlap (F1)": r["f1"]}
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    majority = np.bincount(train.labels).argmax()
    vec = CountVectorizer(token_pattern=r"[^\s]+", lowercase=True)
    if task == "nli":  # separate bags for premise and hypothesis, side by side
        vec.fit(train.premises + train.hypotheses)

        def feats(d):
            return sp.hstack([vec.transform(d.premises), vec.transform(d.hypotheses)]).tocsr()
    else:
        vec.fit(train.texts)

        def feats(d):
            return vec.transform(d.texts)

    clf = LogisticRegression(C=1.0, max_iter=2000).fit(feats(train), train.labels)
    return {
        "majority class": float((test.labels == majority).mean()),
        "bag of words + logistic regression": float(clf.score(feats(test), test.labels)),
    }


# -- pretraining ----------------------------------------------------------------------------------


def _fingerprint(texts: list[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode())
    return h.hexdigest()[:16]


def pretrain(ctx, cfg: Config, corpus_train, corpus_held):
    """Tokenizer + MLM-pretrained scratch BERT, built once and cached (keyed by config and corpus),
    so that reruns and fine-tuning experiments skip the pretraining."""
    import torch

    from nndl.data.text_tasks import load_tokenizer, pack_corpus, special_ids, train_wordpiece
    from nndl.methods.mlm import Masker, MLMStep
    from nndl.models.bert import BertForMaskedLM
    from nndl.train import ArrayData

    key = {
        "corpus": cfg.corpus,
        "train": _fingerprint(corpus_train),
        "held": _fingerprint(corpus_held),
        "vocab": cfg.vocab_size,
        "model": [cfg.hidden_size, cfg.num_layers, cfg.num_heads, cfg.intermediate_size],
        "seq_len": cfg.seq_len,
        "epochs": cfg.pretrain_epochs,
        "bs": cfg.pretrain_batch_size,
        "lr": cfg.pretrain_lr,
        "mlm": cfg.mlm_prob,
        "max_seq": cfg.max_pretrain_sequences,
        "seed": ctx.seed,
        "max_position": cfg.scratch_config(0).max_position,
        "v": 1,
    }

    def build(folder: Path) -> dict:
        t0 = time.perf_counter()
        tok = train_wordpiece(corpus_train, cfg.vocab_size)
        tok_s = time.perf_counter() - t0
        sp = special_ids(tok)
        train_ids = pack_corpus(tok, corpus_train, cfg.seq_len)
        if cfg.max_pretrain_sequences and len(train_ids) > cfg.max_pretrain_sequences:
            keep = np.random.default_rng(ctx.seed).choice(
                len(train_ids), cfg.max_pretrain_sequences, replace=False
            )
            train_ids = train_ids[np.sort(keep)]
        held_ids = pack_corpus(tok, corpus_held, cfg.seq_len)[:2048]
        masker = Masker(
            mask_token_id=sp["[MASK]"],
            vocab_size=tok.get_vocab_size(),
            special_ids=sp.values(),
            mlm_prob=cfg.mlm_prob,
        )
        # the held-out set is masked once, with its own generator: the same targets every epoch
        held_in, held_labels = masker(
            torch.as_tensor(held_ids), generator=torch.Generator().manual_seed(ctx.seed + 7)
        )
        model = BertForMaskedLM(cfg.scratch_config(tok.get_vocab_size()))
        ones = torch.ones(len(train_ids), cfg.seq_len, dtype=torch.long)
        hist, secs, steps = train_model(
            ctx,
            "pretrain_mlm",
            model,
            (torch.as_tensor(train_ids), ones),
            MLMStep(masker),
            num_epochs=cfg.pretrain_epochs,
            lr=cfg.pretrain_lr,
            batch_size=cfg.pretrain_batch_size,
            val=ArrayData(held_in, torch.ones_like(held_in), held_labels),
        )
        tok.save(str(folder / "tokenizer.json"))
        torch.save(model.state_dict(), folder / "model.pt")
        (folder / "history.json").write_text(json.dumps(hist.epochs))
        return {
            "seconds": secs,
            "tokenizer_seconds": tok_s,
            "steps": steps,
            "train_sequences": len(train_ids),
            "held_sequences": len(held_ids),
            "epoch_seconds": hist.epoch_seconds,
        }

    folder, cached = ctx.cache.get_or_build("a15-scratch-bert", key, build)
    meta = ctx.cache.meta(folder)
    tok = load_tokenizer(folder / "tokenizer.json")
    model = BertForMaskedLM(cfg.scratch_config(tok.get_vocab_size()))
    model.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
    history = json.loads((folder / "history.json").read_text())
    return tok, model, history, meta, cached


# -- the study ------------------------------------------------------------------------------------


@study(
    "a15",
    "bert",
    "BERT from scratch: MLM pretraining, sentiment, QA, NLI",
    config=Config,
    datasets=(
        "pydoc-prose",
        "text-tasks",
        "wikitext-2",
        "wikitext-103",
        "sst2",
        "imdb",
        "squad",
        "snli",
    ),
    headline=(
        "mlm_heldout_masked_acc",
        "sentiment_scratch_accuracy",
        "sentiment_baseline_accuracy",
        "qa_scratch_f1",
        "nli_scratch_accuracy",
        "max_abs_diff_vs_transformers",
    ),
)
def run(ctx) -> None:
    import torch

    from nndl.data.text_tasks import load_tokenizer, mean_length, subsample
    from nndl.models.bert import (
        BertModel,
        load_hf_state_dict,
        param_count,
        read_hf_checkpoint,
        train_flops_per_token,
    )

    cfg: Config = ctx.config
    rep, m = ctx.report, ctx.metrics

    # -- data (everything loaded first: a missing file fails before any training) ---------------
    corpus_train, corpus_held, corpus_src = load_corpus(cfg, ctx)
    tasks = load_tasks(cfg, ctx)
    ctx.provenance(
        "data",
        f"pretraining: {corpus_src}; "
        + "; ".join(f"{t}: {src}" for t, (_, _, src) in tasks.items()),
    )
    base_folder = None if cfg.baseline == "none" else resolve_baseline(cfg.baseline)

    # -- 1. the architecture, proven on public weights ------------------------------------------
    rep.section("1. The architecture, checked against transformers")
    if base_folder is not None:
        base_cfg, base_state = read_hf_checkpoint(base_folder)
        probe = BertModel(base_cfg)
        loaded = load_hf_state_dict(probe, base_state)
        diff = equivalence_check(base_folder, probe) if cfg.check_weights else None
        m["max_abs_diff_vs_transformers"] = diff
        m["baseline_params"] = param_count(probe)
        rep.text(
            f"The hand-written BertModel (embeddings, {base_cfg.num_layers} post-LN encoder layers "
            f"with scaled_dot_product_attention, GELU feed-forward, pooler) loaded all "
            f"{len(loaded['loaded'])} tensors of the public checkpoint '{cfg.baseline}' "
            f"through an explicit name table, and is compared with transformers' BertModel on a "
            f"fixed "
            f"batch with padding and two segments: the largest absolute difference over the "
            f"embeddings, all {base_cfg.num_layers} layers' hidden states and the pooled output is "
            + (
                f"{diff:.1e} ({'below' if diff < 1e-4 else 'ABOVE'} the 1e-4 tolerance)."
                if diff is not None
                else "not measured in this run (check_weights is off or transformers is not "
                "installed; tests/test_bert.py checks it)."
            )
        )
        del probe, base_state
    else:
        m["max_abs_diff_vs_transformers"] = None
        rep.text("No pretrained baseline (--set baseline=none): the architecture check is skipped.")

    # -- 2. tokenizer and MLM pretraining --------------------------------------------------------
    rep.section("2. WordPiece and masked-language-model pretraining")
    tok, mlm_model, history, meta, cached = pretrain(ctx, cfg, corpus_train, corpus_held)
    ctx.timings["pretrain_s_when_built"] = meta["seconds"]
    ctx.timings["pretrain_from_cache"] = cached
    scfg = mlm_model.bert.config
    tokens_seen = meta["steps"] * cfg.pretrain_batch_size * cfg.seq_len
    pre_flops = train_flops_per_token(scfg, cfg.seq_len) * tokens_seen
    last = history[-1]
    m.update(
        {
            "vocab_size": tok.get_vocab_size(),
            "pretrain_steps": meta["steps"],
            "pretrain_tokens": tokens_seen,
            "pretrain_flops": pre_flops,
            "pretrain_sequences": meta["train_sequences"],
            "scratch_params": param_count(mlm_model.bert),
            "mlm_train_loss": last["train_loss"],
            "mlm_heldout_loss": last["val_loss"],
            "mlm_heldout_masked_acc": last["val_masked_acc"],
            "mlm_heldout_perplexity": math.exp(last["val_loss"]),
            "mlm_curve": [
                {
                    k: e[k]
                    for k in (
                        "epoch",
                        "train_loss",
                        "train_masked_acc",
                        "val_loss",
                        "val_masked_acc",
                    )
                }
                for e in history
            ],
        }
    )
    rep.text(
        f"Corpus: {corpus_src}. "
        f"A WordPiece vocabulary of {tok.get_vocab_size():,} tokens (asked: {cfg.vocab_size:,}; "
        f"BERT normaliser, lower case, [PAD] [UNK] [CLS] [SEP] [MASK]) was trained with "
        f"`tokenizers` on the {len(corpus_train):,} training paragraphs, which pack into "
        f"{meta['train_sequences']:,} sequences of {cfg.seq_len} tokens. The scratch BERT "
        f"(L={scfg.num_layers}, H={scfg.hidden_size}, A={scfg.num_heads}, "
        f"{param_count(mlm_model.bert):,} parameters) was pretrained for {meta['steps']:,} steps "
        f"of {cfg.pretrain_batch_size} sequences ({tokens_seen:,} tokens, "
        f"~{pre_flops / 1e12:.2f} TFLOP by 6·N·tokens + attention) with dynamic masking: every "
        f"batch redraws {cfg.mlm_prob:.0%} of the ordinary tokens as targets, 80% → [MASK], "
        f"10% → "
        f"a random token, 10% unchanged. The held-out text is masked once and scored every epoch. "
        f"Built in {meta['seconds']:.0f} s"
        + (" (loaded from the cache in this run)." if cached else " in this run.")
    )
    rep.figure(
        _mlm_curves(history, tok.get_vocab_size()),
        "mlm_curves",
        "MLM pretraining: loss, masked-token accuracy and held-out perplexity per epoch",
    )
    fill_rows = _fill_mask_examples(tok, mlm_model, corpus_held)
    m["fill_mask_top3_hits"] = sum(r["right"] for r in fill_rows)
    rep.table(
        fill_rows,
        "fill_mask",
        "What the pretrained scratch model predicts for one [MASK] in held-out sentences",
    )
    ctx.provenance(
        "weights",
        "scratch BERT: random init, MLM-pretrained in this run (or its "
        "cache); baseline: "
        + (f"pretrained {cfg.baseline} ({base_folder})" if base_folder else "none"),
    )

    # -- 3. fine-tuning, task by task ------------------------------------------------------------
    rep.section("3. Fine-tuning: scratch BERT against the pretrained baseline")
    base_tok = load_tokenizer(base_folder) if base_folder else None
    models = {
        "scratch": Contender(
            tok, lambda: _copy_bert(mlm_model.bert), cfg.num_epochs, cfg.lr, cfg.batch_size
        )
    }
    if cfg.ablation:
        models["scratch, no pretraining"] = Contender(
            tok, lambda: BertModel(scfg), cfg.num_epochs, cfg.lr, cfg.batch_size
        )
    if base_folder is not None:
        models["pretrained " + cfg.baseline] = Contender(
            base_tok,
            lambda: _load_baseline(base_folder, cfg.freeze_baseline_embeddings),
            cfg.baseline_epochs,
            cfg.baseline_lr,
            cfg.baseline_batch_size,
            cfg.baseline_cap,
        )
    first_test = next(iter(tasks.values()))[1]
    sample = (
        first_test[0].context
        if isinstance(first_test, list)
        else (first_test.texts[0] if hasattr(first_test, "texts") else first_test.premises[0])
    )
    rep.table(
        [
            {
                "tokenizer": name,
                "tokens": len(t.encode(sample).tokens),
                "pieces": " ".join(t.encode(sample).tokens),
            }
            for name, t in (("scratch WordPiece", tok), (f"{cfg.baseline}", base_tok))
            if t
        ],
        "tokenization",
        "One test input through both tokenizers ([CLS] and [SEP] included)",
    )
    rows, results = [], {}
    for task_key, (train, test, src) in tasks.items():
        spec = TASK_SPECS[task_key]
        base = lexical_baselines(task_key, train, test)
        results[task_key] = {"baselines": base}
        for label, c in models.items():
            torch.manual_seed(ctx.seed)  # same head initialisation for every run of a task
            sub, cap = train, c.cap(task_key) if c.cap else 0
            if cap and len(train) > cap:
                idx = subsample(len(train), cap, ctx.seed)
                sub = [train[i] for i in idx] if task_key == "qa" else train.take(idx)
            tk, epochs, lr = c.tokenizer, c.num_epochs, c.lr
            enc, targets, _ = spec.encode(tk, sub, cfg)
            test_enc, _, test_features = spec.encode(tk, test, cfg)
            model = spec.head(c.make_bert())
            arrays = [
                torch.as_tensor(enc[k]) for k in ("input_ids", "token_type_ids", "attention_mask")
            ]
            arrays += [torch.as_tensor(t) for t in targets]
            step = span_step if task_key == "qa" else classify_step
            short = label.split(",")[0].split(" ")[0] + ("_noinit" if "no pre" in label else "")
            hist, secs, steps = train_model(
                ctx,
                f"{task_key}_{short}",
                model,
                arrays,
                step,
                num_epochs=epochs,
                lr=lr,
                batch_size=c.batch_size,
            )
            t0 = time.perf_counter()
            scores = spec.score(model, test_enc, test_features, test, 64, cfg)
            ctx.timings[f"{task_key}_{short}_train_s"] = secs
            ctx.timings[f"{task_key}_{short}_eval_s"] = time.perf_counter() - t0
            results[task_key][label] = scores
            prefix = f"{task_key}_{short}"
            m.update({f"{prefix}_{k}": v for k, v in scores.items()})
            m[f"{prefix}_train_examples"] = len(sub)
            m[f"{prefix}_steps"] = steps
            m[f"{prefix}_train_loss"] = hist.last("train_loss")
            m[f"{prefix}_mean_tokens"] = mean_length(enc)
            rows.append(
                {
                    "task": spec.title,
                    "model": label,
                    "train examples": len(sub),
                    "epochs": epochs,
                    "batch": c.batch_size,
                    "steps": steps,
                    "tokens / input": mean_length(enc),
                    **{k.replace("_", " "): v for k, v in scores.items()},
                    "train s": secs,
                }
            )
        for bname, v in base.items():
            rows.append(
                {
                    "task": spec.title,
                    "model": bname,
                    "train examples": len(train),
                    **(
                        {"accuracy": v}
                        if task_key != "qa"
                        else {"exact match" if "EM" in bname else "f1": v}
                    ),
                }
            )
        m.update({f"{task_key}_{_slug(k)}": v for k, v in base.items()})
        rep.text(f"{spec.title}: {src}; {len(train):,} training and {len(test):,} test examples.")
    if "pretrained " + cfg.baseline in models:  # headline alias for the summary
        for t in tasks:
            metric = "f1" if t == "qa" else "accuracy"
            m[f"{t}_baseline_{metric}"] = m.get(f"{t}_pretrained_{metric}")
    rep.table(
        rows,
        "finetuning",
        "Test results per task: fine-tuned models and word-counting "
        "baselines (accuracy in [0, 1]; EM and F1 in percent)",
    )
    rep.figure(_task_bars(results), "tasks", "Scratch vs pretrained vs word-counting baselines")

    # -- 4. size and compute ---------------------------------------------------------------------
    rep.section("4. Size and compute")
    size_rows = [
        {
            "model": "scratch BERT (this run)",
            "parameters": param_count(mlm_model.bert),
            "encoder parameters": scfg.encoder_params(),
            "layers": scfg.num_layers,
            "hidden": scfg.hidden_size,
            "vocabulary": scfg.vocab_size,
            "train FLOPs / token": train_flops_per_token(scfg, cfg.seq_len),
            "pretraining": f"{tokens_seen:,} tokens, ~{pre_flops:.2e} FLOPs (this run)",
        }
    ]
    if base_folder is not None:
        size_rows.append(
            {
                "model": f"pretrained {cfg.baseline}",
                "parameters": m["baseline_params"],
                "encoder parameters": base_cfg.encoder_params(),
                "layers": base_cfg.num_layers,
                "hidden": base_cfg.hidden_size,
                "vocabulary": base_cfg.vocab_size,
                "train FLOPs / token": train_flops_per_token(base_cfg, cfg.seq_len),
                "pretraining": PUBLISHED_PRETRAINING.get(cfg.baseline, "see its model card"),
            }
        )
    rep.table(
        size_rows,
        "size_compute",
        "Parameters and pretraining compute (FLOPs per token: "
        "forward+backward, 6 x encoder parameters + attention)",
    )

    # -- 5. findings -----------------------------------------------------------------------------
    rep.section("Findings")
    rep.bullets(
        _findings(cfg, m, results, tasks, models, tok, base_tok, history, base_folder, fill_rows)
    )


@dataclass
class Contender:
    """One model to fine-tune on every task: its tokenizer, a fresh encoder, its recipe."""

    tokenizer: object
    make_bert: Callable
    num_epochs: int
    lr: float
    batch_size: int
    cap: Callable[[str], int] | None = None  # task -> most training examples (0 = all)


PUBLISHED_PRETRAINING = {
    "minilm": (
        "published, not measured here: MiniLM-L6-H384 distilled from UniLMv2 (Wang et al. "
        "2020), then 100k steps x 1,024 pairs of contrastive training on >1B sentence "
        "pairs on a TPU v3-8 (model card of all-MiniLM-L6-v2)"
    ),
    "bert-base-uncased": (
        "published, not measured here: 1M steps x 256 sequences of 512 tokens "
        "(~128k tokens/step) on BooksCorpus + English Wikipedia, 3.3B words "
        "(Devlin et al. 2019)"
    ),
}


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_").replace("__", "_")


def _copy_bert(bert):
    import copy

    return copy.deepcopy(bert)


def _load_baseline(folder: Path, freeze_embeddings: bool):
    from nndl.models.bert import BertModel, load_hf_state_dict, read_hf_checkpoint

    config, state = read_hf_checkpoint(folder)
    bert = BertModel(config)
    load_hf_state_dict(bert, state)
    bert.embeddings.word.weight.requires_grad_(not freeze_embeddings)
    return bert


def _fill_mask_examples(tok, mlm_model, texts, n: int = 4, k: int = 3) -> list[dict]:
    """Mask the middle word-piece of `n` held-out sentences; the model's top-k guesses."""
    import torch

    sp = special_ids_of(tok)
    rows = []
    for text in texts[:: max(1, len(texts) // n)][:n]:
        enc = tok.encode(" ".join(text.split()[:16]))
        limit = mlm_model.bert.config.max_position
        ids, pieces = list(enc.ids)[:limit], enc.tokens[:limit]
        pos = len(ids) // 2
        target = pieces[pos]
        ids[pos] = sp["[MASK]"]
        mlm_model.eval()
        with torch.no_grad():
            logits = mlm_model(torch.tensor([ids]))[0, pos]
        top = [tok.id_to_token(int(i)) for i in logits.topk(k).indices]
        shown = list(pieces)
        shown[pos] = "[MASK]"
        shown = [p for p in shown if p not in ("[CLS]", "[SEP]")]
        rows.append(
            {
                "held-out text": " ".join(shown),
                "hidden piece": target,
                f"top-{k} guesses": ", ".join(top),
                "right": target in top,
            }
        )
    return rows


def special_ids_of(tok) -> dict:
    from nndl.data.text_tasks import special_ids

    return special_ids(tok)


def _words_per_token(tok, texts) -> float:
    """Average WordPiece tokens per whitespace word: how much a vocabulary fragments the text."""
    words = sum(len(t.split()) for t in texts)
    pieces = sum(len(e.ids) for e in tok.encode_batch(list(texts), add_special_tokens=False))
    return pieces / max(words, 1)


def _findings(
    cfg, m, results, tasks, models, tok, base_tok, history, base_folder, fill_rows
) -> list[str]:
    out = []
    d = m.get("max_abs_diff_vs_transformers")
    if d is not None:
        out.append(
            f"Architecture: the scratch code with the public weights matches transformers "
            f"to {d:.1e} (max abs over all hidden states), so the scratch model differs "
            f"from the baseline only in size and pretraining, not in architecture."
        )
    first, last = history[0], history[-1]
    out.append(
        f"Pretraining: held-out MLM loss {first['val_loss']:.2f} → {last['val_loss']:.2f} "
        f"(perplexity {math.exp(first['val_loss']):.0f} → {math.exp(last['val_loss']):.0f}; a "
        f"uniform guess over the vocabulary is {math.log(m['vocab_size']):.2f}), masked-token "
        f"accuracy {first['val_masked_acc']:.1%} → {last['val_masked_acc']:.1%} over "
        f"{m['pretrain_steps']} steps; the train-held-out gap at the end is "
        f"{last['val_loss'] - last['train_loss']:+.2f} nats."
    )
    if fill_rows:
        tops = {r["top-3 guesses"].split(", ")[0] for r in fill_rows}
        hits = sum(r["right"] for r in fill_rows)
        out.append(
            f"Fill-in examples: the hidden piece is among the top-3 guesses in {hits} of "
            f"{len(fill_rows)} held-out sentences, and the top guesses are "
            f"{len(tops)} distinct piece(s) ({', '.join(sorted(tops))}): "
            + (
                "the model still leans on how frequent a piece is more than on its context."
                if len(tops) <= 2
                else "the guesses vary with the context."
            )
        )
    labels = list(models)
    clear = {lab: [] for lab in labels}
    for t in tasks:
        r = results[t]
        metric = "f1" if t == "qa" else "accuracy"
        scale = 1 if t == "qa" else 100  # points: F1 is in %, accuracy in [0, 1]
        best_name, best = max(
            ((k, v) for k, v in r["baselines"].items() if "EM" not in k), key=lambda kv: kv[1]
        )
        parts = []
        for lab in labels:
            margin = (r[lab][metric] - best) * scale
            if margin >= 5:
                clear[lab].append(t)
            parts.append(f"{lab} {r[lab][metric] * scale:.1f} ({margin:+.1f} vs the baseline)")
        note = ""
        if "scratch, no pretraining" in r:
            gain = (r["scratch"][metric] - r["scratch, no pretraining"][metric]) * scale
            note = f"; MLM pretraining changed the scratch result by {gain:+.1f} points"
        out.append(
            f"{TASK_SPECS[t].title} ({'F1' if t == 'qa' else 'accuracy'}, %): "
            f"best word-counting baseline ({best_name}) {best * scale:.1f}; "
            f"{', '.join(parts)}{note}."
        )
    generated = [t for t in tasks if (cfg.qa if t == "qa" else getattr(cfg, t)) == "generated"]
    out.append(
        "Clear of word counting (at least 5 points above the best lexical baseline): "
        + "; ".join(f"{lab}: {', '.join(ts) if ts else 'no task'}" for lab, ts in clear.items())
        + (
            f". ({', '.join(generated)} used generated stand-in data: these numbers say what "
            "the models learn about negation, clause structure and distractors, not how they "
            "would score on the real datasets.)"
            if generated
            else "."
        )
    )
    corpus_texts = []
    for t, (train, _, _) in tasks.items():
        corpus_texts += (
            train.texts[:300]
            if t == "sentiment"
            else train.hypotheses[:300]
            if t == "nli"
            else [ex.context for ex in train[:100]]
        )
    if corpus_texts:
        s = _words_per_token(tok, corpus_texts)
        line = (
            f"Vocabulary fit: the scratch WordPiece (trained on {cfg.corpus}) cuts the task "
            f"text into {s:.2f} pieces per word"
        )
        if base_tok is not None:
            line += (
                f", the baseline's vocabulary into {_words_per_token(base_tok, corpus_texts):.2f}"
            )
        out.append(line + "; longer inputs cost compute and spread a word's meaning over pieces.")
    if base_folder is not None and "pretrained " + cfg.baseline in labels:
        bl = "pretrained " + cfg.baseline
        wins = [
            t
            for t in tasks
            if results[t][bl]["f1" if t == "qa" else "accuracy"]
            > results[t]["scratch"]["f1" if t == "qa" else "accuracy"]
        ]
        out.append(
            f"The pretrained baseline ({m['baseline_params']:,} parameters, "
            f"{m['baseline_params'] / m['scratch_params']:.0f}x the scratch model) beats "
            f"the scratch BERT on {len(wins)} of {len(tasks)} tasks"
            + (f" ({', '.join(wins)})" if wins else "")
            + " with "
            + ", ".join(
                f"{m[f'{t}_pretrained_steps']} vs {m[f'{t}_scratch_steps']} fine-tuning steps on "
                f"{t}"
                for t in tasks
            )
            + f" (baseline vs scratch); the scratch model saw {m['pretrain_tokens']:,} "
            "pretraining tokens."
        )
    return out


# -- figures --------------------------------------------------------------------------------------


def _mlm_curves(history, vocab_size: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [e["epoch"] for e in history]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    ax = axes[0]
    ax.plot(ep, [e["train_loss"] for e in history], "-o", ms=3, label="train (dynamic masks)")
    ax.plot(ep, [e["val_loss"] for e in history], "-s", ms=3, label="held-out (fixed masks)")
    ax.axhline(math.log(vocab_size), ls=":", c="grey", label=f"uniform guess ln {vocab_size}")
    ax.set(xlabel="epoch", ylabel="MLM cross-entropy (nats)", title="loss")
    ax = axes[1]
    ax.plot(ep, [e["train_masked_acc"] for e in history], "-o", ms=3, label="train")
    ax.plot(ep, [e["val_masked_acc"] for e in history], "-s", ms=3, label="held-out")
    ax.set(xlabel="epoch", ylabel="masked tokens predicted exactly", title="masked-token accuracy")
    ax = axes[2]
    ax.plot(ep, [math.exp(e["val_loss"]) for e in history], "-s", ms=3, c="C1")
    ax.set(
        xlabel="epoch",
        ylabel="exp(held-out loss)",
        title="held-out perplexity (masked tokens)",
    )
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.set_xticks(ep[:: len(ep) // 12 + 1])  # epochs are whole numbers
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _task_bars(results: dict):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.6 * len(results), 4), squeeze=False)
    for ax, (task, r) in zip(axes[0], results.items(), strict=True):
        metric = "f1" if task == "qa" else "accuracy"
        names, vals, colors = [], [], []
        for k, v in r["baselines"].items():
            if "EM" in k:
                continue
            names.append(k.replace(" + logistic regression", "\n+ log. reg.").replace(" (F1)", ""))
            vals.append(v)
            colors.append("0.7")
        for i, (k, v) in enumerate((k, v) for k, v in r.items() if k != "baselines"):
            names.append(k.replace(", ", ",\n").replace("pretrained ", "pretrained\n"))
            vals.append(v[metric])
            colors.append(f"C{i}")
        ax.barh(range(len(vals)), vals, color=colors)
        ax.set_yticks(range(len(vals)), names, fontsize=8)
        ax.invert_yaxis()
        for i, v in enumerate(vals):
            ax.text(v, i, f" {v:.1f}" if task == "qa" else f" {v:.0%}", va="center", fontsize=8)
        ax.set(
            xlabel="F1 (%)" if task == "qa" else "accuracy",
            title=TASK_SPECS[task].title,
            xlim=(0, 100 if task == "qa" else 1.0),
        )
        ax.margins(x=0.15)
        ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig
