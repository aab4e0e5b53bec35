"""a15's figures: the MLM curves and the per-task comparison."""

from __future__ import annotations

import math

from nndl.studies.a15_bert.tasks import TASK_SPECS


def mlm_curves(history, vocab_size: int, meta: dict):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [e["epoch"] for e in history]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    ax = axes[0]
    ax.plot(ep, [e["train_loss"] for e in history], "-o", ms=3, label="train (dynamic masks)")
    ax.plot(ep, [e["val_loss"] for e in history], "-s", ms=3, label="held-out (fixed masks)")
    ax.axhline(math.log(vocab_size), ls=":", c="grey", label=f"uniform guess ln {vocab_size}")
    ax.axhline(meta["unigram_loss"], ls="--", c="C2", label="unigram frequencies (held-out)")
    ax.set(xlabel="epoch", ylabel="MLM cross-entropy (nats)", title="loss")
    ax = axes[1]
    ax.plot(ep, [e["train_masked_acc"] for e in history], "-o", ms=3, label="train")
    ax.plot(ep, [e["val_masked_acc"] for e in history], "-s", ms=3, label="held-out")
    ax.axhline(meta["unigram_masked_acc"], ls="--", c="C2", label="most frequent piece (held-out)")
    ax.set(xlabel="epoch", ylabel="masked tokens predicted exactly", title="masked-token accuracy")
    ax = axes[2]
    ax.plot(ep, [math.exp(e["val_loss"]) for e in history], "-s", ms=3, c="C1", label="model")
    ax.axhline(math.exp(meta["unigram_loss"]), ls="--", c="C2", label="unigram frequencies")
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
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig


def task_bars(results: dict, labels: dict[str, str]):
    """One panel per task: the word-counting baselines (grey), then each contender, on the task's
    headline metric. `results`: {task: TaskResult}; `labels`: contender key -> display name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.6 * len(results), 4), squeeze=False)
    for ax, (task_key, r) in zip(axes[0], results.items(), strict=True):
        task = TASK_SPECS[task_key]
        names, vals, colors = [], [], []
        for b in r.lexical:
            if b.metric != task.metric:
                continue
            names.append(
                b.name.replace(" + logistic regression", "\n+ log. reg.").replace(" (F1)", "")
            )
            vals.append(b.value)
            colors.append("0.7")
        for i, (key, scores) in enumerate(r.scores.items()):
            names.append(labels[key].replace(", ", ",\n").replace("pretrained ", "pretrained\n"))
            vals.append(scores[task.metric])
            colors.append(f"C{i}")
        ax.barh(range(len(vals)), vals, color=colors)
        ax.set_yticks(range(len(vals)), names, fontsize=8)
        ax.invert_yaxis()
        for i, v in enumerate(vals):
            ax.text(v, i, " " + task.fmt(v), va="center", fontsize=8)
        ax.set(
            xlabel=task.metric_label + (" (%)" if task.scale == 1 else ""),
            title=task.title,
            xlim=(0, 100 / task.scale),
        )
        ax.margins(x=0.15)
        ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig
