"""a01's figures: accuracy against cost, per-class accuracy, the best model's confusion matrix."""

from __future__ import annotations


def scatter(rows, key: str, xlabel: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5))
    families = sorted({r["family"] for r in rows})
    cmap = plt.get_cmap("tab10")
    for r in rows:
        colour = cmap(families.index(r["family"]) % 10)
        ax.scatter(r[key], r["top-1 %"], s=60, color=colour, edgecolor="black", zorder=3)
    ax.set_xscale("log")
    ax.set(xlabel=f"{xlabel}, log scale", ylabel="top-1 accuracy (%)")
    ax.grid(alpha=0.3, which="both")
    ax.margins(x=0.2, y=0.15)
    _plain_log_ticks(ax, [r[key] for r in rows])
    fig.tight_layout()  # before placing labels: their overlap is checked in pixels
    _place_labels(fig, ax, [(r[key], r["top-1 %"], r["model"]) for r in rows])
    return fig


def _plain_log_ticks(ax, values) -> None:
    """Major ticks at 1-2-5 steps written as plain numbers, no minor labels: matplotlib's
    default labels every minor tick of a short log axis in 10^x notation, and they overlap."""
    import math

    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    lo, hi = min(values), max(values)
    ticks = [
        m * 10.0**e
        for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
        for m in (1, 2, 5)
    ]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _place_labels(fig, ax, points) -> None:
    """Label each point at the first nearby offset where it overlaps no earlier label; a label
    moved away from its point gets a thin leader line."""
    offsets = [
        (dx, dy, "left" if dx > 0 else "right")
        for dy in (4, -12, 14, -22, 24, -32, 34, -42)
        for dx in (5, -5)
    ]
    renderer = fig.canvas.get_renderer()
    placed = []
    for x, y, text in sorted(points, key=lambda p: (p[0], p[1])):
        for dx, dy, ha in offsets:
            label = ax.annotate(
                text, (x, y), textcoords="offset points", xytext=(dx, dy), ha=ha, fontsize=8
            )
            box = label.get_window_extent(renderer).expanded(1.05, 1.1)
            label.remove()
            if not any(box.overlaps(other) for other in placed):
                break
        else:  # nowhere free: the first position
            dx, dy, ha = offsets[0]
            box = None
        far = abs(dy) > 4
        ax.annotate(
            text,
            (x, y),
            textcoords="offset points",
            xytext=(dx, dy),
            ha=ha,
            fontsize=8,
            arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "0.6", "shrinkA": 0}
            if far
            else None,
        )
        if box is not None:
            placed.append(box)


def per_class_heatmap(per_class: dict, class_names: list[str]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    data = 100 * np.array(list(per_class.values()))
    fig, ax = plt.subplots(
        figsize=(max(8, 0.45 * len(class_names) + 3), 0.4 * len(per_class) + 2.5)
    )
    im = ax.imshow(data, cmap="viridis", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(len(class_names)), class_names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(per_class)), list(per_class), fontsize=8)
    fig.colorbar(im, ax=ax, label="per-class accuracy (%)")
    fig.tight_layout()
    return fig


def confusion(cm, class_names: list[str], name: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 7.5))
    im = ax.imshow(cm, cmap="Blues")
    ticks = range(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(ticks, class_names, fontsize=7)
    ax.set(xlabel="predicted class", ylabel="true class", title=f"{name}: test images")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            if cm[i, j]:
                ax.text(
                    j,
                    i,
                    int(cm[i, j]),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if cm[i, j] > cm.max() / 2 else "black",
                )
    fig.colorbar(im, ax=ax, label="images", shrink=0.8)
    fig.tight_layout()
    return fig
