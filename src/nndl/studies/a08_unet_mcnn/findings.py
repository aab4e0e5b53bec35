"""a08's last section: the findings, from the metrics and the counting results."""

from __future__ import annotations

from .common import n_of
from .counting import accuracy_sentence


def findings_section(ctx, cfg, results: dict) -> None:
    rep = ctx.report
    rep.section("Findings")
    m = ctx.metrics
    items = [
        f"Segmentation: the U-Net reaches mIoU {m['seg_miou']:.3f}, mean Dice "
        f"{m['seg_mean_dice']:.3f} and pixel accuracy {m['seg_pixel_acc']:.1%} on "
        f"{m['seg_num_test']} test images after {n_of(cfg.seg_num_epochs, 'epoch')}.",
    ]
    for r in results.values():
        u, mc = r["models"]["unet"], r["models"]["mcnn"]
        items.append(
            f"Counting on {r['label']}: U-Net MAE {u['mae']:.2f} (RMSE {u['rmse']:.2f}), MCNN "
            f"MAE {mc['mae']:.2f} (RMSE {mc['rmse']:.2f}); the mean-count baseline has MAE "
            f"{r['baseline']['mae']:.2f}. "
            + accuracy_sentence(u, mc, r["baseline"])
            + f" U-Net costs {u['params'] / mc['params']:.2f}x MCNN's parameters, "
            f"{u['flops'] / mc['flops']:.2f}x its FLOPs and "
            f"{u['latency_median_ms'] / mc['latency_median_ms']:.2f}x its latency."
        )
    if cfg.dataset == "scenes" or "crowds" in cfg.counting:
        items.append(
            "Numbers on the embedded scenes/crowds come from stand-in data rendered in this run "
            "and short CPU training: they show that the models learn, not benchmark results."
        )
    if cfg.max_train or cfg.crowd_resize != 1.0:
        items.append(
            f"This run used a reduced setting (max_train {cfg.max_train or 'all'}, images resized "
            f"x{cfg.crowd_resize:g} for counting): not comparable with published results."
        )
    rep.bullets(items)
