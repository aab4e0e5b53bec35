"""Drawing helpers the a06 figures share (each figure lives beside its section)."""

from __future__ import annotations

import numpy as np


def plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def image(clf, x) -> np.ndarray:
    """Input-space images -> displayable pixels (B, H, W, 3) in [0, 1]."""
    return clf.to_pixels(x).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()


def show_map(ax, m, img=None, title="", cmap="jet"):
    """One attribution map scaled to its 99.5th percentile, over the grey image when given."""
    top = float(np.percentile(m, 99.5)) if m.max() > 0 else 1.0
    if img is not None:
        ax.imshow(img.mean(-1), cmap="gray", interpolation="nearest")
        ax.imshow(
            np.clip(m / max(top, 1e-30), 0, 1),
            cmap=cmap,
            alpha=0.5,
            vmin=0,
            vmax=1,
            interpolation="bilinear",
        )
    else:
        ax.imshow(
            np.clip(m / max(top, 1e-30), 0, 1),
            cmap=cmap,
            vmin=0,
            vmax=1,
            interpolation="nearest",
        )
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def p_text(p: float) -> str:
    """A probability that still shows how close to 1 it is: 0.9731, or 1 - 3.2e-05."""
    return f"1 - {1 - p:.1e}" if p > 0.999 else f"{p:.4f}"
