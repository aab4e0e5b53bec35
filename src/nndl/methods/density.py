"""Crowd density maps from head points, counting metrics and segmentation metrics.

Density maps (Zhang et al. 2016, "MCNN"): every annotated head at pixel x_i becomes a Gaussian
kernel of unit mass, so the map integrates to the number of heads:

    D(x) = sum_i  delta(x - x_i) * G_{sigma_i}(x),      sum_x D(x) = N

- fixed kernel: sigma_i = sigma for every head (sparse scenes: ShanghaiTech Part B);
- geometry-adaptive kernel: sigma_i = beta * mean distance from head i to its k nearest
  neighbours (beta = 0.3, k = 3 in the paper), which follows the head size under perspective in
  dense scenes (Part A).

Each kernel is truncated at `truncate` sigmas and clipped to the image, then renormalised, so a
head near the border still contributes exactly 1 and the integral is exact (tested).

Points follow ShanghaiTech's convention: (x, y) = (column, row) in pixels; a point at x lies in
pixel column floor(x).

Metrics: counting MAE/RMSE over images; segmentation IoU (Jaccard), Dice (F1), pixel accuracy via
torchmetrics, accumulated over the whole evaluation set (not averaged per batch).
"""

from __future__ import annotations

import math

import numpy as np

# -- density maps ---------------------------------------------------------------------------------


def point_pixels(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(N, 2) integer (row, col) pixel of each (x, y) point, clipped into the image."""
    h, w = shape
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    cols = np.clip(np.floor(pts[:, 0]), 0, w - 1).astype(np.int64)
    rows = np.clip(np.floor(pts[:, 1]), 0, h - 1).astype(np.int64)
    return np.stack([rows, cols], 1)


def adaptive_sigmas(
    points: np.ndarray,
    k: int = 3,
    beta: float = 0.3,
    default_sigma: float = 15.0,
    min_sigma: float = 1.0,
) -> np.ndarray:
    """sigma_i = beta * mean distance to the k nearest other heads (geometry-adaptive).

    With fewer than two heads there is no neighbour to measure: `default_sigma` is used.
    """
    from scipy.spatial import cKDTree

    pts = np.asarray(points, np.float64).reshape(-1, 2)
    n = len(pts)
    if n < 2:
        return np.full(n, float(default_sigma))
    kk = min(k, n - 1)
    dist, _ = cKDTree(pts).query(pts, k=kk + 1)  # column 0 is the point itself (distance 0)
    return np.maximum(beta * dist[:, 1:].reshape(n, kk).mean(1), min_sigma)


def density_map(
    points: np.ndarray, shape: tuple[int, int], sigmas, truncate: float = 3.0
) -> np.ndarray:
    """(H, W) float32 map: one renormalised Gaussian of mass 1 per point (sigma per point)."""
    h, w = shape
    out = np.zeros((h, w), np.float64)
    pix = point_pixels(points, shape)
    sigmas = np.broadcast_to(np.asarray(sigmas, np.float64), (len(pix),))
    for (r, c), s in zip(pix, sigmas, strict=True):
        rad = max(int(math.ceil(truncate * s)), 1)
        r0, r1, c0, c1 = max(r - rad, 0), min(r + rad + 1, h), max(c - rad, 0), min(c + rad + 1, w)
        gy = np.exp(-0.5 * ((np.arange(r0, r1) - r) / s) ** 2)  # separable Gaussian
        gx = np.exp(-0.5 * ((np.arange(c0, c1) - c) / s) ** 2)
        kernel = np.outer(gy, gx)
        out[r0:r1, c0:c1] += kernel / kernel.sum()  # mass 1 inside the image
    return out.astype(np.float32)


def fixed_density(
    points: np.ndarray, shape: tuple[int, int], sigma: float = 15.0, truncate: float = 3.0
) -> np.ndarray:
    """Density map with the same Gaussian sigma for every head (ShanghaiTech Part B)."""
    return density_map(points, shape, sigma, truncate)


def adaptive_density(
    points: np.ndarray,
    shape: tuple[int, int],
    k: int = 3,
    beta: float = 0.3,
    default_sigma: float = 15.0,
    truncate: float = 3.0,
) -> np.ndarray:
    """Density map with geometry-adaptive sigmas (ShanghaiTech Part A)."""
    return density_map(points, shape, adaptive_sigmas(points, k, beta, default_sigma), truncate)


def sum_pool(density: np.ndarray, factor: int) -> np.ndarray:
    """Shrink a (..., H, W) map by `factor` by summing factor x factor blocks (keeps the count).

    Sides that are not multiples of `factor` are zero-padded first.
    """
    if factor == 1:
        return density
    *lead, h, w = density.shape
    ph, pw = (-h) % factor, (-w) % factor
    if ph or pw:
        density = np.pad(density, [(0, 0)] * len(lead) + [(0, ph), (0, pw)])
    hh, ww = (h + ph) // factor, (w + pw) // factor
    return density.reshape(*lead, hh, factor, ww, factor).sum((-3, -1))


# -- metrics --------------------------------------------------------------------------------------


def count_errors(pred_counts, true_counts) -> dict[str, float]:
    """MAE and RMSE of per-image counts (the crowd-counting metrics), via torchmetrics."""
    import torch
    from torchmetrics.functional import mean_absolute_error, mean_squared_error

    p = torch.as_tensor(np.asarray(pred_counts, np.float64))
    t = torch.as_tensor(np.asarray(true_counts, np.float64))
    return {
        "mae": float(mean_absolute_error(p, t)),
        "rmse": float(mean_squared_error(p, t, squared=False)),
    }


class SegmentationScores:
    """IoU, Dice and pixel accuracy accumulated over batches of (prediction, target) index maps.

    Per-class IoU = TP / (TP + FP + FN) and Dice = 2TP / (2TP + FP + FN) (= F1) come from
    torchmetrics (`MulticlassJaccardIndex`, `MulticlassF1Score`, `average="none"`) over all pixels
    of the evaluation set; pixels equal to `ignore_index` (e.g. CamVid's void) count nowhere.
    A class that is neither in the targets nor in the predictions has no score (nan) and is left
    out of the means (mIoU, mean Dice), as in the usual benchmark code.
    """

    def __init__(self, num_classes: int, ignore_index: int | None = None):
        import torch
        from torchmetrics.classification import (
            MulticlassAccuracy,
            MulticlassF1Score,
            MulticlassJaccardIndex,
        )

        self.num_classes, self.ignore_index = num_classes, ignore_index
        kw = {"num_classes": num_classes, "ignore_index": ignore_index, "validate_args": False}
        self.iou = MulticlassJaccardIndex(average="none", **kw)
        self.dice = MulticlassF1Score(average="none", **kw)
        self.acc = MulticlassAccuracy(average="micro", **kw)
        self.seen = torch.zeros(num_classes, dtype=torch.long)  # pixels in target or prediction
        self.support = torch.zeros(num_classes, dtype=torch.long)  # pixels of each true class

    def update(self, preds, target) -> None:
        """preds, target: integer class maps of the same shape (B, H, W)."""
        import torch

        preds, target = preds.detach().cpu().long(), target.detach().cpu().long()
        valid = target != self.ignore_index if self.ignore_index is not None else None
        for m in (self.iou, self.dice, self.acc):
            m.update(preds, target)
        p, t = (preds[valid], target[valid]) if valid is not None else (preds, target)
        self.seen += torch.bincount(p.flatten(), minlength=self.num_classes)[: self.num_classes]
        true_counts = torch.bincount(t.flatten(), minlength=self.num_classes)[: self.num_classes]
        self.support += true_counts
        self.seen += true_counts

    def compute(self) -> dict:
        present = (self.seen > 0).numpy()
        iou = np.where(present, self.iou.compute().numpy(), np.nan)
        dice = np.where(present, self.dice.compute().numpy(), np.nan)
        return {
            "miou": float(np.nanmean(iou)),
            "mean_dice": float(np.nanmean(dice)),
            "pixel_acc": float(self.acc.compute()),
            "per_class_iou": [float(v) for v in iou],
            "per_class_dice": [float(v) for v in dice],
        }
