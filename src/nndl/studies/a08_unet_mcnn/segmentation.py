"""a08's first section: semantic segmentation with a U-Net written by hand (`nndl.models.unet`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from . import common
from .common import adam_one_cycle, n_of, subset_note


def seg_size(cfg) -> tuple[int, int]:
    """(height, width) of the segmentation images: CamVid keeps its 4:3 aspect."""
    h = cfg.image_size
    return (h, round(h * 4 / 3)) if cfg.dataset == "camvid" else (h, h)


@dataclass(frozen=True)
class Segmenter:
    """The trained U-Net and what it did on the test split."""

    model: Any
    history: Any  # nndl.train.History: loss and pixel accuracy per epoch
    scores: Any  # nndl.methods.density.SegmentationScores, accumulated over all test pixels
    samples: list  # up to six (x, y, predicted mask) test examples for the figure


def segmentation(ctx, cfg) -> str:
    """The section: train the U-Net, score it on the test split, report. Returns provenance."""
    ctx.report.section("Segmentation with U-Net")
    data = segmentation_data(cfg, ctx)
    seg = train_and_test(ctx, cfg, data)
    segmentation_report(ctx, cfg, data, seg)
    return data["provenance"]


def train_and_test(ctx, cfg, data: dict) -> Segmenter:
    """Pixel-wise cross-entropy with the shared loop, then the whole test split."""
    from nndl.methods.density import SegmentationScores
    from nndl.train import TorchTrainable, fit

    names = data["class_names"]
    model, step = seg_model(cfg, len(names), data["ignore_index"])
    optimizer, schedule = adam_one_cycle(
        model, cfg.seg_lr, len(data["train"]), cfg.seg_batch_size, cfg.seg_num_epochs
    )
    trainable = TorchTrainable(model, optimizer, step, device=ctx.device, scheduler=schedule)
    history = fit(
        trainable,
        data["train"],
        data["val"],
        name="unet_seg",
        num_epochs=cfg.seg_num_epochs,
        batch_size=cfg.seg_batch_size,
        seed=ctx.seed,
        checkpoint_dir=ctx.checkpoint_dir,
        resume=ctx.resume,
    )
    ctx.timings["seg_epoch_s"] = history.epoch_seconds

    # -- evaluation on the whole test split, accumulated over all pixels
    scores = SegmentationScores(len(names), data["ignore_index"])
    samples = []
    for x, y, pred in _predict_batches(model, data["test"], cfg.seg_batch_size, ctx.device):
        scores.update(pred, y)
        if len(samples) < 6:
            samples += list(zip(x, y, pred, strict=True))[: 6 - len(samples)]
    return Segmenter(model, history, scores, samples)


def segmentation_report(ctx, cfg, data: dict, seg: Segmenter) -> None:
    """Metrics, tables, figures and the section's text."""
    from nndl import bench

    rep = ctx.report
    names, scores = data["class_names"], seg.scores
    s = scores.compute()
    ctx.metrics.update(
        seg_miou=s["miou"],
        seg_mean_dice=s["mean_dice"],
        seg_pixel_acc=s["pixel_acc"],
        seg_num_train=len(data["train"]),
        seg_num_test=len(data["test"]),
    )
    ctx.metrics.update({f"seg_iou_{n}": v for n, v in zip(names, s["per_class_iou"], strict=True)})
    size = seg_size(cfg)
    rep.text(
        f"U-Net with {cfg.depth} down-sampling levels and {cfg.width} channels at the first level "
        f"({bench.count_params(seg.model):,} parameters), trained for "
        f"{n_of(cfg.seg_num_epochs, 'epoch')} with "
        f"Adam (one-cycle schedule, peak lr {cfg.seg_lr}, batch {cfg.seg_batch_size}) and "
        f"pixel-wise cross-entropy on {len(data['train']):,} "
        f"{data['label']} images at {size[0]}x{size[1]}; {data['val_note']}"
    )
    rep.table(
        [
            {
                "test images": len(data["test"]),
                "mIoU": s["miou"],
                "mean Dice": s["mean_dice"],
                "pixel accuracy": s["pixel_acc"],
            }
        ],
        "seg_summary",
        f"U-Net on the {data['label']} test split (all test pixels pooled)",
    )
    total = scores.support.sum()
    rep.table(
        [
            {
                "class": n,
                "IoU": iou,
                "Dice": dice,
                "share of test pixels": int(sup) / max(int(total), 1),
            }
            for n, iou, dice, sup in zip(
                names,
                s["per_class_iou"],
                s["per_class_dice"],
                scores.support.tolist(),
                strict=True,
            )
        ],
        "seg_per_class",
        "Per-class IoU and Dice on the test split (nan: class absent)",
    )
    rep.figure(
        _seg_curves(seg.history, data["val_label"]),
        "seg_curves",
        "Segmentation training: loss and pixel accuracy per epoch",
    )
    rep.figure(
        _seg_samples(seg.samples, names, data["ignore_index"]),
        "seg_samples",
        "Test images, their true masks and the U-Net's predictions",
    )
    worst = int(np.nanargmin(s["per_class_iou"]))
    best = int(np.nanargmax(s["per_class_iou"]))
    largest = int(scores.support.argmax())
    rep.text(
        f"mIoU {s['miou']:.3f}, mean Dice {s['mean_dice']:.3f}, pixel accuracy "
        f"{s['pixel_acc']:.1%}. Pixel accuracy is flattered by the largest class "
        f"({names[largest]}, {int(scores.support.max()) / max(int(total), 1):.0%}"
        f" of the test pixels); mIoU weighs every class equally: the best class is {names[best]} "
        f"(IoU {s['per_class_iou'][best]:.3f}), the worst {names[worst]} "
        f"(IoU {s['per_class_iou'][worst]:.3f})."
    )


def segmentation_data(cfg, ctx) -> dict:
    """Train / val / test datasets, class names, void index, label and provenance."""
    from nndl.data.dense_sets import SegmentationSet, read_rgb

    size = seg_size(cfg)
    if cfg.dataset == "scenes":
        from nndl.data.synthetic.scenes import class_names, render_scenes

        with ctx.timer("render_scenes_s"):
            x_tr, m_tr, _ = render_scenes(
                cfg.seg_num_train, size[0], cfg.num_objects, seed=ctx.seed
            )
            x_te, m_te, _ = render_scenes(
                cfg.seg_num_test, size[0], cfg.num_objects, seed=ctx.seed + 1_000_003
            )
        test = SegmentationSet(lambda i: (x_te[i], m_te[i]), len(x_te))
        return {
            "train": SegmentationSet(lambda i: (x_tr[i], m_tr[i]), len(x_tr), flip=True),
            "val": test,
            "test": test,
            "class_names": class_names(cfg.num_objects),
            "ignore_index": None,
            "label": "rendered scenes",
            "val_label": "test split",
            "val_note": "the curves' validation numbers are on the test split (no model "
            "selection is made on it).",
            "provenance": f"segmentation: embedded stand-in `scenes` ({len(x_tr)} train / "
            f"{len(x_te)} test rendered images, {cfg.num_objects} shape classes)",
        }
    if cfg.dataset == "pets":
        from nndl.data.pets import CLASS_NAMES, load_pets, read_trimap

        splits = {
            "train": load_pets(ctx.data_root, "trainval"),
            "test": load_pets(ctx.data_root, "test"),
        }
        read_mask, names, void, label = (
            read_trimap,
            CLASS_NAMES,
            None,
            "Oxford-IIIT Pet",
        )
        note = "the curves' validation numbers are on the test split (no model selection)."
    else:
        from nndl.data.camvid import CLASS_NAMES, VOID, load_camvid, read_mask

        splits = {s: load_camvid(ctx.data_root, s) for s in ("train", "val", "test")}
        names, void, label = CLASS_NAMES, VOID, "CamVid"
        note = "the curves' validation numbers are on the val split; void pixels are ignored."
    limits = {"train": cfg.max_train, "val": cfg.max_test, "test": cfg.max_test}
    splits = {k: v[: limits[k]] if limits[k] else v for k, v in splits.items()}

    def files(pairs, flip=False):
        return SegmentationSet(
            lambda i: (read_rgb(pairs[i][0], size), read_mask(pairs[i][1], size)),
            len(pairs),
            flip,
        )

    sets = {k: files(v, flip=k == "train") for k, v in splits.items()}
    sets.setdefault("val", sets["test"])
    counts = " / ".join(f"{len(v)} {k}" for k, v in splits.items())
    return {
        **sets,
        "class_names": list(names),
        "ignore_index": void,
        "label": label,
        "val_label": "val split" if "val" in splits else "test split",
        "val_note": note,
        "provenance": f"segmentation: real {label} from {ctx.data_root} ({counts} images"
        + subset_note(cfg.dataset, {k: len(v) for k, v in splits.items()})
        + ")",
    }


def seg_model(cfg, num_classes: int, ignore_index: int | None = None):
    from nndl.models.unet import UNet

    model = UNet(3, num_classes, depth=cfg.depth, width=cfg.width, head="segmentation")
    return model, partial(segmentation_step, ignore_index=ignore_index)


def segmentation_step(model, batch, ignore_index: int | None = None):
    """Pixel-wise cross-entropy on (x (B, 3, H, W), y (B, H, W)); void pixels are ignored."""
    import torch.nn.functional as F

    x, y = batch
    logits = model(x)  # (B, num_classes, H, W)
    loss = F.cross_entropy(logits, y, ignore_index=-100 if ignore_index is None else ignore_index)
    valid = y != ignore_index if ignore_index is not None else y >= 0
    correct = ((logits.argmax(1) == y) & valid).sum() / valid.sum().clamp(min=1)
    return loss, {"loss": loss.item(), "pixel_acc": correct.item()}


def _predict_batches(model, data, batch_size: int, device: str):
    """(x, y, predicted class map) per batch of a fixed-size dataset, in order, on the CPU."""
    import torch

    from nndl.train import epoch_batches, iterate

    model.eval()
    with torch.no_grad():
        for x, y in iterate(data, epoch_batches(len(data), batch_size, 0, 0, shuffle=False)):
            yield x, y, model(x.to(device)).argmax(1).cpu()


# -- figures ---------------------------------------------------------------------------------------


def _seg_curves(history, val_label: str):
    plt = common.plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    ep = history.series("epoch")
    a1.plot(ep, history.series("train_loss"), "o-", label="train")
    a1.plot(ep, history.series("val_loss"), "s--", label=val_label)
    a1.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    a2.plot(ep, history.series("train_pixel_acc"), "o-", label="train")
    a2.plot(ep, history.series("val_pixel_acc"), "s--", label=val_label)
    a2.set(xlabel="epoch", ylabel="pixel accuracy", title="pixel accuracy")
    for a in (a1, a2):
        a.grid(alpha=0.3)
        a.legend()
    fig.tight_layout()
    return fig


def _class_colours(num_classes: int):
    plt = common.plt()
    from matplotlib.colors import ListedColormap

    base = plt.get_cmap("tab20" if num_classes > 10 else "tab10").colors
    return ListedColormap([base[i % len(base)] for i in range(num_classes)] + [(0, 0, 0)])


def _seg_samples(samples, names, ignore_index):
    plt = common.plt()
    from matplotlib.patches import Patch

    k = len(samples)
    cmap = _class_colours(len(names))
    void = len(names)  # shown in black

    def show_mask(m):
        m = m.numpy().copy()
        if ignore_index is not None:
            m[m == ignore_index] = void
        return m

    fig, axes = plt.subplots(3, k, figsize=(2.1 * k, 6.6), squeeze=False)
    for j, (x, y, pred) in enumerate(samples):
        axes[0, j].imshow(x.permute(1, 2, 0).numpy())
        axes[1, j].imshow(show_mask(y), cmap=cmap, vmin=0, vmax=void, interpolation="nearest")
        axes[2, j].imshow(show_mask(pred), cmap=cmap, vmin=0, vmax=void, interpolation="nearest")
    for i, row in enumerate(("image", "truth", "prediction")):
        axes[i, 0].set_ylabel(row, fontsize=11)
    for a in axes.flat:
        a.set_xticks([])
        a.set_yticks([])
    handles = [Patch(color=cmap(i), label=n) for i, n in enumerate(names)]
    if ignore_index is not None:
        handles.append(Patch(color="black", label="void (ignored)"))
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=min(len(handles), 6),
        fontsize=9,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0.06 if len(handles) <= 6 else 0.1, 1, 1))
    return fig
