"""Fine-tuning: every contender (the scratch BERT, its ablation, the pretrained baseline) on every
task, with the same recipe shape, and the word-counting baselines beside them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nndl.studies.a15_bert.tasks import Lengths, Lexical, Task
from nndl.studies.a15_bert.training import train_model

if TYPE_CHECKING:
    from nndl.studies.a15_bert import Config


@dataclass
class Contender:
    """One model to fine-tune on every task: its tokenizer, a fresh encoder, its recipe."""

    key: str  # identifier: metrics.json "<task>_<key>_...", checkpoints, timings
    label: str  # display name (tables, figures, findings)
    tokenizer: object
    make_bert: Callable
    num_epochs: int
    lr: float
    batch_size: int
    max_len: int  # most tokens per input: the model's position limit or a cost budget
    pooling: str = "cls"  # sentence vector of the classification heads: "cls" or "mean"
    # (task key, generated?, max_len) -> most training examples (0 = all)
    cap: Callable[[str, bool, float], int] | None = None
    # batches of similar lengths (less padding). Off for the scratch model: on generated
    # sentiment its grouped batches left it at the majority class (48 % vs 61 % shuffled)
    group_by_length: bool = False


@dataclass
class Run:
    """One contender fine-tuned on one task and scored on its test set."""

    scores: dict  # metric -> value
    lengths: Lengths  # the inputs' token lengths and the input length chosen from them
    train_examples: int
    steps: int
    train_loss: float
    mean_tokens: float
    train_s: float
    eval_s: float


@dataclass
class TaskResult:
    lexical: list[Lexical]
    scores: dict[str, dict] = field(default_factory=dict)  # contender key -> scores
    runs: dict[str, Run] = field(default_factory=dict)  # contender key -> its run


def finetune(ctx, cfg: Config, task: Task, c: Contender, train, test) -> Run:
    """Fine-tune a fresh copy of `c` on `train` (at most c.cap examples) and score it on `test`.
    The input length is chosen from the training inputs' token lengths (Task.lengths)."""
    import torch

    from nndl.data.text_tasks import mean_length, subsample

    torch.manual_seed(ctx.seed)  # same head initialisation for every run of a task
    lengths = task.lengths(
        c.tokenizer, train, test, cfg.length_coverage, task.length_cap(cfg, c.max_len)
    )
    per_example = min(lengths.mean, lengths.max_len)  # tokens a training input costs
    sub, cap = train, c.cap(task.key, task.generated(cfg), per_example) if c.cap else 0
    if cap and len(train) > cap:
        sub = task.take(train, subsample(len(train), cap, ctx.seed))
    enc, targets, _ = task.encode(c.tokenizer, sub, lengths.max_len, cfg)
    # max_len bounds the training cost; a test input is read up to the model's cap (a test set
    # can be longer than the training set: SST-2 trains on phrases and tests on sentences)
    test_enc, _, test_features = task.encode(
        c.tokenizer, test, task.length_cap(cfg, c.max_len), cfg
    )
    model = task.head(c.make_bert(), c.pooling)
    arrays = [torch.as_tensor(enc[k]) for k in ("input_ids", "token_type_ids", "attention_mask")]
    arrays += [torch.as_tensor(t) for t in targets]
    hist, secs, steps = train_model(
        ctx,
        f"{task.key}_{c.key}",
        model,
        arrays,
        task.step,
        num_epochs=c.num_epochs,
        lr=c.lr,
        batch_size=c.batch_size,
        lengths=enc["attention_mask"].sum(1) if c.group_by_length else None,
    )
    t0 = time.perf_counter()
    scores = task.score(model, test_enc, test_features, test, 64, cfg)
    return Run(
        scores=scores,
        lengths=lengths,
        train_examples=len(sub),
        steps=steps,
        train_loss=hist.last("train_loss"),
        mean_tokens=mean_length(enc),
        train_s=secs,
        eval_s=time.perf_counter() - t0,
    )
