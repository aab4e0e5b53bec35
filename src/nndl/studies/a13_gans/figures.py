"""a13's figures: image grids and curves (matplotlib, imported where used)."""

from __future__ import annotations

import numpy as np


def image_rows(rows: list[tuple[str, object]], scale: float = 0.8):
    """One strip of images per (label, tensor (N, 3, H, W) in [0, 1]), the label on its left.

    Each row is one image (the tiles joined with a 1-pixel white gap): one axes per row keeps
    the figure fast to draw."""
    import matplotlib.pyplot as plt
    import torch

    cols = max(len(imgs) for _, imgs in rows)
    fig, axes = plt.subplots(len(rows), 1, figsize=(cols * scale + 1.2, len(rows) * scale))
    axes = np.atleast_1d(axes)
    for ax, (label, imgs) in zip(axes, rows, strict=True):
        _, c, h, w = imgs.shape
        strip = torch.ones(c, h, cols * (w + 1) - 1)
        for i, img in enumerate(imgs[:cols]):
            strip[:, :, i * (w + 1) : i * (w + 1) + w] = img.clamp(0, 1)
        ax.imshow(strip.permute(1, 2, 0).numpy())
        ax.set_xticks([]), ax.set_yticks([])
        for sp in ax.spines.values():
            sp.set_visible(False)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.subplots_adjust(hspace=0.08)
    return fig


def over_training(snapshots: dict, pairs: bool = False):
    rows = []
    for epoch in sorted(snapshots):
        imgs = snapshots[epoch]
        if pairs:
            half = len(imgs) // 2
            rows += [(f"epoch {epoch}, on", imgs[:half]), (f"epoch {epoch}, off", imgs[half:])]
        else:
            rows.append((f"epoch {epoch}", imgs))
    return image_rows(rows)


def samples_vs_real(samples, real):
    rows = [("real", real)] + [("samples", samples[i : i + 10]) for i in range(0, len(samples), 10)]
    return image_rows(rows)


def on_off(on, off, attr: str):
    rows = []
    for i in range(0, len(on), 10):
        rows += [(f"{attr}: on", on[i : i + 10]), (f"{attr}: off", off[i : i + 10])]
    return image_rows(rows)


def two_rows(groups: dict):
    rows = []
    for label, imgs in groups.items():
        rows += [(label, imgs[i : i + 10]) for i in range(0, len(imgs), 10)]
    return image_rows(rows)


def gan_curves(runs: dict, floor: float):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(15, 3.2))
    for label, r in runs.items():
        h = r["history"]
        e = h.series("epoch")
        axes[0].plot(e, h.series("train_d_loss"), marker="o", label=f"{label}: D loss")
        axes[0].plot(e, h.series("train_g_loss"), marker="s", label=f"{label}: G loss")
        axes[1].plot(e, h.series("train_d_real"), marker="o", label=f"{label}: D(x)")
        axes[1].plot(e, h.series("train_d_fake"), marker="s", label=f"{label}: D(G(z))")
        axes[2].plot(e, h.series("train_d_grad_norm"), marker="o", label=f"{label}: D")
        axes[2].plot(e, h.series("train_g_grad_norm"), marker="s", label=f"{label}: G")
        fd = r["fd_curve"]
        axes[3].plot(sorted(fd), [fd[k] for k in sorted(fd)], marker="o", label=label)
    axes[3].axhline(floor, color="grey", ls="--", lw=1, label="real vs real (floor)")
    axes[0].set(xlabel="epoch", title="adversarial losses (mean over the epoch)")
    axes[1].set(xlabel="epoch", title="D's mean output", ylim=(0, 1))
    axes[2].set(xlabel="epoch", title="gradient norms (mean over the epoch)", yscale="log")
    axes[3].set(xlabel="epoch (0 = untrained)", title="Fréchet distance (judge features)",
                yscale="log")  # fmt: skip
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def saturation(rows: list[dict]):
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    d = np.array([r["d_fake"] for r in rows])
    ns, mm = np.array([r["grad_ns"] for r in rows]), np.array([r["grad_mm"] for r in rows])
    steps = [r["step"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    ax = axes[0]
    ax.plot(d, ns, "o-", ms=3, label="non-saturating: -log D(G(z))")
    ax.plot(d, mm, "s-", ms=3, label="minimax: log(1 - D(G(z)))")
    grid = np.geomspace(d.min(), d.max(), 50)
    ax.plot(grid, ns[0] * (1 - grid) / (1 - d[0]), "--", color="C0", lw=1, label="~ 1 - D")
    ax.plot(grid, mm[0] * grid / d[0], "--", color="C1", lw=1, label="~ D")
    ax.set(xscale="log", yscale="log", xlabel="mean D(G(z)) of the batch",
           ylabel="|grad of G's parameters|", title="generator gradient vs D(G(z))")  # fmt: skip
    ax.invert_xaxis()
    ax.xaxis.set_minor_formatter(NullFormatter())  # decade labels only
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.plot(steps, ns, "o-", ms=3, label="non-saturating")
    ax.plot(steps, mm, "s-", ms=3, label="minimax")
    ax2 = ax.twinx()
    ax2.plot(steps, d, color="grey", lw=1)
    ax2.set(ylabel="mean D(G(z)) (grey)", yscale="log")
    ax.set(yscale="log", xlabel="discriminator-only training steps", ylabel="|grad G|")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def saturation_training(runs: dict):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for label, r in runs.items():
        h = r["history"]
        e = h.series("epoch")
        axes[0].plot(e, h.series("train_d_fake"), marker="o", label=label)
        axes[1].plot(e, h.series("train_g_grad_norm"), marker="o", label=label)
        fd = r["fd_curve"]
        axes[2].plot(sorted(fd), [fd[k] for k in sorted(fd)], marker="o", label=label)
    axes[0].set(xlabel="epoch", title="mean D(G(z))", yscale="log")
    axes[1].set(xlabel="epoch", title="generator gradient norm (mean)", yscale="log")
    axes[2].set(xlabel="epoch (0 = start)", title="Fréchet distance", yscale="log")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def cycle_curves(history):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    e = history.series("epoch")
    axes[0].plot(e, history.series("train_cycle"), marker="o", label="cycle L1 (both ways)")
    axes[0].plot(e, history.series("train_identity"), marker="s", label="identity L1 (both)")
    axes[1].plot(e, history.series("train_g_adv"), marker="o", label="G adversarial (LSGAN)")
    axes[1].plot(e, history.series("train_d_loss"), marker="s", label="D (LSGAN)")
    axes[0].set(xlabel="epoch", title="reconstruction losses (mean over the epoch)")
    axes[1].set(xlabel="epoch", title="adversarial losses")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
