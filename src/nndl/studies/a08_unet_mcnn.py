"""a08: U-Net segmentation, and U-Net versus MCNN crowd counting.

Question: how well does a U-Net, written by hand, segment images (mIoU, Dice, pixel accuracy),
and for crowd counting, how does the same U-Net with a density head compare with MCNN, the
multi-column network built for counting, in counting error (MAE, RMSE), size, FLOPs and latency?

    nndl run a08                                   # quick: embedded scenes and crowds, ~3 min
    nndl run a08 --profile full --data-root DATA   # Oxford-IIIT Pet; ShanghaiTech Part A and B
    nndl run a08 --profile full --data-root DATA --set dataset=camvid --set counting=shanghaitech_B

What to expect (quick, 2 CPU cores, ~3 min): the U-Net segments the rendered scenes' three
shapes with an mIoU near 0.75 and pixel accuracy near 96%. On the rendered crowds (0 to ~150
people; always answering the mean count is off by ~35) the U-Net counts with an MAE near 11 and
MCNN near 17; MCNN has half the U-Net's parameters (134 k vs 272 k) but more FLOPs, its large
filters running at high resolution. For reference, the MCNN paper reports MAE 110.2 on Part A and
26.4 on Part B after long training; a short CPU run on a subset gets nowhere near that.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import ClassVar, Literal

import numpy as np

from nndl.config import opt
from nndl.registry import study

COUNTING_DATASETS = ("crowds", "shanghaitech_A", "shanghaitech_B")
# images per split in the published releases: a smaller folder is a subset, and the report says so
PUBLISHED = {
    "pets": {"train": 3680, "test": 3669},
    "camvid": {"train": 367, "val": 101, "test": 233},
    "shanghaitech_A": {"train": 300, "test": 182},
    "shanghaitech_B": {"train": 400, "test": 316},
}


@dataclass(frozen=True)
class Config:
    # -- segmentation ---------------------------------------------------------------------------
    dataset: Literal["scenes", "pets", "camvid"] = opt(
        "scenes", "segmentation data: scenes (embedded), pets (Oxford-IIIT Pet), camvid"
    )
    image_size: int = opt(
        64, "image height in pixels; width is the same (scenes, pets) or 4/3 of it (camvid)"
    )
    num_objects: int = opt(3, "scenes: object classes (besides background)")
    seg_num_train: int = opt(600, "scenes: training images rendered")
    seg_num_test: int = opt(200, "scenes: test images rendered")
    depth: int = opt(3, "segmentation U-Net: down-sampling levels")
    width: int = opt(12, "segmentation U-Net: channels of the first level (doubled per level)")
    seg_num_epochs: int = opt(6, "segmentation: passes over the training set")
    seg_batch_size: int = opt(8, "segmentation: mini-batch size")
    seg_lr: float = opt(5e-3, "segmentation: peak learning rate (Adam, one-cycle schedule)")
    # -- counting -------------------------------------------------------------------------------
    counting: tuple[str, ...] = opt(
        ("crowds",),
        "counting datasets: crowds (embedded), shanghaitech_A, shanghaitech_B; "
        "the first gives the headline numbers",
    )
    crowd_image_size: int = opt(128, "crowds: side of the rendered images")
    crowd_num_train: int = opt(400, "crowds: training images rendered")
    crowd_num_test: int = opt(100, "crowds: test images rendered")
    max_count: int = opt(150, "crowds: at most this many people per image")
    crowd_resize: float = opt(1.0, "ShanghaiTech: resize images (and points) by this factor")
    kernel: Literal["auto", "fixed", "adaptive"] = opt(
        "auto", "density kernel: auto = geometry-adaptive for Part A, fixed otherwise"
    )
    sigma: float = opt(2.0, "fixed kernel sigma, in pixels of the original image")
    crop_size: int = opt(64, "counting: side of the random training crops (multiple of 4)")
    crops_per_image: int = opt(1, "counting: random crops per training image per epoch")
    count_depth: int = opt(3, "counting U-Net: down-sampling levels")
    count_width: int = opt(12, "counting U-Net: channels of the first level")
    count_num_epochs: int = opt(8, "counting: passes over the training crops, for each model")
    count_batch_size: int = opt(8, "counting: mini-batch size")
    count_lr: float = opt(3e-3, "counting: peak learning rate (Adam, one-cycle), both models")
    density_scale: float = opt(100.0, "training targets: heads per input pixel times this")
    # -- both -----------------------------------------------------------------------------------
    max_train: int = opt(0, "real datasets: use at most this many training images (0 = all)")
    max_test: int = opt(0, "real datasets: use at most this many test images (0 = all)")
    bench_size: tuple[int, ...] = opt((128, 128), "(height, width) of the latency/FLOPs input")
    bench_repeats: int = opt(20, "timed forward passes per latency measurement (after 3 warm-up)")

    PROFILES: ClassVar[dict] = {
        "smoke": {
            "seg_num_train": 48,
            "seg_num_test": 16,
            "seg_num_epochs": 1,
            "image_size": 32,
            "depth": 2,
            "width": 8,
            "crowd_image_size": 64,
            "crowd_num_train": 32,
            "crowd_num_test": 8,
            "max_count": 40,
            "crop_size": 32,
            "count_depth": 2,
            "count_width": 8,
            "count_num_epochs": 1,
            "bench_size": (64, 64),
            "bench_repeats": 3,
        },
        "full": {
            "dataset": "pets",
            "image_size": 256,
            "depth": 4,
            "width": 64,
            "seg_num_epochs": 30,
            "seg_batch_size": 16,
            "seg_lr": 1e-3,
            "counting": ("shanghaitech_A", "shanghaitech_B"),
            "sigma": 15.0,
            "crop_size": 256,
            "crops_per_image": 4,
            "count_depth": 4,
            "count_width": 32,
            "count_num_epochs": 100,
            "count_batch_size": 8,
            "count_lr": 3e-4,
            "bench_size": (768, 1024),
        },
    }

    def plan(self, data_root) -> list[str]:
        seg_size = _seg_size(self)
        lines = [
            f"segmentation: U-Net depth {self.depth}, width {self.width} on {self.dataset} at "
            f"{seg_size[0]}x{seg_size[1]}, {self.seg_num_epochs} epochs",
            f"counting on {', '.join(self.counting)}: U-Net (depth {self.count_depth}, width "
            f"{self.count_width}) and MCNN, {self.count_num_epochs} epochs each on "
            f"{self.crop_size}x{self.crop_size} crops, evaluated on whole images",
        ]
        from nndl.bench import count_flops

        num_classes = {"scenes": self.num_objects + 1, "pets": 3, "camvid": 11}[self.dataset]
        unet, _ = _seg_model(self, num_classes)
        gf = count_flops(unet.to("meta").eval(), _meta_input(seg_size)) / 1e9
        n = {"scenes": self.seg_num_train, "pets": 3680, "camvid": 367}[self.dataset]
        n = min(n, self.max_train) if self.max_train else n
        lines.append(
            f"segmentation: {gf:.2f} GFLOP per image forward; training "
            f"{_cost(3 * gf * n * self.seg_num_epochs)}"
        )  # forward + backward ~ 3x
        from nndl.models.mcnn import MCNN

        crop = (self.crop_size, self.crop_size)
        for label, model in (("U-Net", _count_unet(self)), ("MCNN", MCNN())):
            gf = count_flops(model.to("meta").eval(), _meta_input(crop)) / 1e9
            n = sum(
                {"crowds": self.crowd_num_train, "shanghaitech_A": 300, "shanghaitech_B": 400}.get(
                    c, 0
                )
                for c in self.counting
            )
            n = min(n, self.max_train * len(self.counting)) if self.max_train else n
            steps = n * self.crops_per_image * self.count_num_epochs
            lines.append(
                f"{label} counter: {gf:.2f} GFLOP per {crop[0]}x{crop[1]} crop forward; "
                f"training {_cost(3 * gf * steps)}"
            )
        return lines


def _cost(gflop: float) -> str:
    """A training cost in FLOPs and rough durations on a CPU and on a GPU."""

    def dur(seconds):
        return f"{seconds / 3600:.1f} h" if seconds > 5400 else f"{seconds / 60:.1f} min"

    return (
        f"~{gflop / 1e3:,.1f} TFLOP (~{dur(gflop / 20)} on a CPU at 20 GFLOP/s, "
        f"~{dur(gflop / 2e4)} on a GPU at 20 TFLOP/s)"
    )


def _meta_input(size):
    """A shapes-only input: FLOPs are counted without computing anything."""
    import torch

    return torch.zeros(1, 3, *size, device="meta")


def _seg_size(cfg: Config) -> tuple[int, int]:
    h = cfg.image_size
    return (h, round(h * 4 / 3)) if cfg.dataset == "camvid" else (h, h)


@study(
    "a08",
    "unet-mcnn",
    "U-Net segmentation; U-Net versus MCNN crowd counting",
    config=Config,
    datasets=("scenes", "pets", "camvid", *COUNTING_DATASETS),
    headline=("seg_miou", "seg_pixel_acc", "unet_mae", "mcnn_mae"),
)
def run(ctx) -> None:
    cfg: Config = ctx.config
    check_config(cfg)
    require_data(cfg, ctx.data_root)  # a missing dataset fails now, not after an hour of training
    rep = ctx.report
    rep.text(
        "Two dense-prediction tasks with networks written by hand: U-Net (an encoder-decoder whose "
        "skip connections carry fine detail to the decoder) for semantic segmentation, then the "
        "same U-Net with a density head against MCNN (three columns of different receptive "
        "fields) for crowd counting, where a network predicts a density map whose sum is the count."
    )
    ctx.provenance(
        "weights", f"random initialisation (seed {ctx.seed}), every model trained in this run"
    )
    data_notes = [segmentation(ctx, cfg)]
    results = {name: counting(ctx, cfg, name, first=i == 0) for i, name in enumerate(cfg.counting)}
    data_notes += [r["provenance"] for r in results.values()]
    ctx.provenance("data", "; ".join(data_notes))
    findings(ctx, cfg, results)


def check_config(cfg: Config) -> None:
    """Fail before any training on values the config types cannot rule out."""
    from nndl.errors import ConfigError, did_you_mean

    for name in cfg.counting:
        if name not in COUNTING_DATASETS:
            raise ConfigError(
                f"Unknown counting dataset '{name}'.{did_you_mean(name, COUNTING_DATASETS)}"
            )
    if cfg.crop_size < 4 or cfg.crop_size % 4:
        raise ConfigError(
            f"crop_size must be a positive multiple of 4 (MCNN's output stride); "
            f"got {cfg.crop_size}."
        )
    if cfg.depth < 1 or cfg.width < 1 or cfg.count_depth < 1 or cfg.count_width < 1:
        raise ConfigError("U-Net depth and width must be at least 1.")
    if not 1 <= cfg.num_objects <= 6:
        raise ConfigError(f"num_objects must be 1 to 6 (scenes' shapes); got {cfg.num_objects}.")
    if len(cfg.bench_size) != 2:
        raise ConfigError(f"bench_size is (height, width); got {cfg.bench_size}.")


def require_data(cfg: Config, data_root) -> None:
    """Raise the missing-data error of the first real dataset that is not under `data_root`."""
    from nndl import offline
    from nndl.data import get_dataset

    for name in (cfg.dataset, *cfg.counting):
        info = get_dataset(name)
        if info.kind == "real" and info.locate(data_root) is None:
            if name == "pets" and offline.online():
                continue  # torchvision downloads it
            raise info.missing_error(data_root)


# == segmentation =================================================================================


def segmentation(ctx, cfg: Config) -> str:
    from nndl import bench
    from nndl.methods.density import SegmentationScores
    from nndl.train import TorchTrainable, fit

    rep = ctx.report
    rep.section("Segmentation with U-Net")
    data = segmentation_data(cfg, ctx)
    names = data["class_names"]
    model, step = _seg_model(cfg, len(names), data["ignore_index"])
    optimizer, schedule = _adam_one_cycle(
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
    s = scores.compute()
    ctx.metrics.update(
        seg_miou=s["miou"],
        seg_mean_dice=s["mean_dice"],
        seg_pixel_acc=s["pixel_acc"],
        seg_num_train=len(data["train"]),
        seg_num_test=len(data["test"]),
    )
    ctx.metrics.update({f"seg_iou_{n}": v for n, v in zip(names, s["per_class_iou"], strict=True)})
    size = _seg_size(cfg)
    rep.text(
        f"U-Net with {cfg.depth} down-sampling levels and {cfg.width} channels at the first level "
        f"({bench.count_params(model):,} parameters), trained for {_n(cfg.seg_num_epochs, 'epoch')} with "
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
                names, s["per_class_iou"], s["per_class_dice"], scores.support.tolist(), strict=True
            )
        ],
        "seg_per_class",
        "Per-class IoU and Dice on the test split (nan: class absent)",
    )
    rep.figure(
        _seg_curves(history, data["val_label"]),
        "seg_curves",
        "Segmentation training: loss and pixel accuracy per epoch",
    )
    rep.figure(
        _seg_samples(samples, names, data["ignore_index"]),
        "seg_samples",
        "Test images, their true masks and the U-Net's predictions",
    )
    worst = int(np.nanargmin(s["per_class_iou"]))
    best = int(np.nanargmax(s["per_class_iou"]))
    rep.text(
        f"mIoU {s['miou']:.3f}, mean Dice {s['mean_dice']:.3f}, pixel accuracy "
        f"{s['pixel_acc']:.1%}. Pixel accuracy is flattered by the largest class "
        f"({names[int(scores.support.argmax())]}, {int(scores.support.max()) / max(int(total), 1):.0%}"
        f" of the test pixels); mIoU weighs every class equally: the best class is {names[best]} "
        f"(IoU {s['per_class_iou'][best]:.3f}), the worst {names[worst]} "
        f"(IoU {s['per_class_iou'][worst]:.3f})."
    )
    return data["provenance"]


def segmentation_data(cfg: Config, ctx) -> dict:
    """Train / val / test datasets, class names, void index, label and provenance."""
    from nndl.data.dense_sets import SegmentationSet, read_rgb

    size = _seg_size(cfg)
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
        read_mask, names, void, label = read_trimap, CLASS_NAMES, None, "Oxford-IIIT Pet"
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
            lambda i: (read_rgb(pairs[i][0], size), read_mask(pairs[i][1], size)), len(pairs), flip
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
        + _subset_note(cfg.dataset, {k: len(v) for k, v in splits.items()})
        + ")",
    }


def _subset_note(name: str, sizes: dict[str, int]) -> str:
    """'; a subset: the published release has ...' when fewer images were used."""
    full = PUBLISHED[name]
    if all(sizes.get(k, 0) >= v for k, v in full.items()):
        return ""
    published = " / ".join(f"{v} {k}" for k, v in full.items())
    return f"; a subset: the published release has {published}"


def _seg_model(cfg: Config, num_classes: int, ignore_index: int | None = None):
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


# == counting =====================================================================================


def counting(ctx, cfg: Config, name: str, first: bool) -> dict:
    """Train a U-Net and an MCNN counter on `name`; evaluate both on whole test images."""
    from nndl import bench
    from nndl.data.dense_sets import CrowdSet
    from nndl.models.mcnn import MCNN
    from nndl.train import TorchTrainable, fit

    rep = ctx.report
    data = counting_data(cfg, ctx, name)
    rep.section(f"Crowd counting on {data['label']}")
    if first:
        rep.text(
            "Each annotated head becomes a Gaussian of mass 1, so the ground-truth density map "
            "sums to the number of heads; a counter predicts the map and its count is the sum."
        )
        rep.math(
            r"D(x) = \sum_{i=1}^{N} \delta(x - x_i) * G_{\sigma_i}(x), \qquad "
            r"\sum_x D(x) = N, \qquad \sigma_i = \beta \, \bar d_i^{(k)}",
            "Density map; fixed kernels use one sigma, geometry-adaptive kernels take "
            "beta = 0.3 times the mean distance to the k = 3 nearest heads:",
        )
    rep.figure(
        _kernel_figure(data),
        f"{name}_kernels",
        "One training image, its head points and the two kinds of density map "
        "(titles give each map's sum)",
    )
    rep.text(data["note"])

    models = {"unet": ("U-Net", _count_unet(cfg), 1), "mcnn": ("MCNN", MCNN(), MCNN.downsample)}
    out: dict = {"label": data["label"], "provenance": data["provenance"], "models": {}}
    true = np.array([len(p) for p in data["test_points"]], np.float64)
    for key, (label, model, ds) in models.items():
        # targets in heads per input pixel (x density_scale) for both models: MCNN's output pixel
        # covers ds x ds input pixels, so its summed target is divided by ds**2
        scale = cfg.density_scale / ds**2
        train = CrowdSet(
            data["read_train"],
            data["num_train"],
            crop=cfg.crop_size,
            downsample=ds,
            scale=scale,
            crops_per_image=cfg.crops_per_image,
        )
        optimizer, schedule = _adam_one_cycle(
            model, cfg.count_lr, len(train), cfg.count_batch_size, cfg.count_num_epochs
        )
        trainable = TorchTrainable(
            model,
            optimizer,
            partial(density_step, scale=scale),
            device=ctx.device,
            scheduler=schedule,
        )
        history = fit(
            trainable,
            train,
            None,
            name=f"{name}_{key}",
            num_epochs=cfg.count_num_epochs,
            batch_size=cfg.count_batch_size,
            seed=ctx.seed,
            checkpoint_dir=ctx.checkpoint_dir,
            resume=ctx.resume,
        )
        with ctx.timer(f"{name}_{key}_eval_s"):
            maps = [
                predict_density(model, data["read_test"](i), ds, scale, ctx.device)
                for i in range(len(true))
            ]
        pred = np.array([m.sum(dtype=np.float64) for m in maps])
        errors = _count_errors(pred, true)
        measures = bench.benchmark_model(
            model, _bench_input(cfg), device=ctx.device, repeats=cfg.bench_repeats
        )
        counts, times = bench.split_timings(measures)
        out["models"][key] = {
            "label": label,
            "pred": pred,
            "maps": maps[:3],
            "history": history,
            **errors,
            **counts,
            **times,
        }
        prefix = f"{name}_{key}"
        ctx.metrics.update({f"{prefix}_{k}": v for k, v in {**errors, **counts}.items()})
        ctx.timings.update({f"{prefix}_{k}": v for k, v in times.items()})
        ctx.timings[f"{prefix}_epoch_s"] = history.epoch_seconds
        if first:
            ctx.metrics.update({f"{key}_mae": errors["mae"], f"{key}_rmse": errors["rmse"]})
    baseline = _count_errors(np.full_like(true, data["train_mean_count"]), true)
    ctx.metrics.update({f"{name}_mean_count_mae": baseline["mae"], f"{name}_num_test": len(true)})
    truth_maps = [
        data["make_density"](data["test_points"][i], img.shape[:2])
        for i, img in enumerate(data["test_images"])
    ]
    out.update(true=true, baseline=baseline, test_images=data["test_images"], truth_maps=truth_maps)

    u, m = out["models"]["unet"], out["models"]["mcnn"]
    bh, bw = cfg.bench_size
    rep.table(
        [
            {
                "model": r["label"],
                "MAE": r["mae"],
                "RMSE": r["rmse"],
                "params": r["params"],
                "size (MB)": r["size_bytes"] / 1e6,
                f"GFLOPs ({bh}x{bw})": r["flops"] / 1e9,
                "latency median (ms)": r["latency_median_ms"],
                "latency p90 (ms)": r["latency_p90_ms"],
                "output": "full resolution" if k == "unet" else "1/4 resolution",
            }
            for k, r in out["models"].items()
        ]
        + [
            {
                "model": "mean training count (no model)",
                "MAE": baseline["mae"],
                "RMSE": baseline["rmse"],
            }
        ],
        f"{name}_counting",
        f"Counting on {len(true)} whole test images of {data['label']}; "
        f"latency: batch 1, {_n(u['latency_threads'], 'thread')}, {ctx.device}",
    )
    rep.text(bench.FLOP_CONVENTION)
    rep.figure(_count_curves(out), f"{name}_curves", "Counting training: loss per epoch")
    rep.figure(_scatter(out), f"{name}_scatter", "Predicted versus true count, every test image")
    rep.figure(
        _density_figure(out),
        f"{name}_density",
        "Test images, true density and the two predicted maps (titles give the counts)",
    )
    rep.text(
        f"On {len(true)} test images of {data['label']} (true counts {int(true.min())} to "
        f"{int(true.max())}, mean {true.mean():.1f}), U-Net counts with MAE {u['mae']:.2f} / "
        f"RMSE {u['rmse']:.2f} and MCNN with MAE {m['mae']:.2f} / RMSE {m['rmse']:.2f}; always "
        f"answering the mean training count gives MAE {baseline['mae']:.2f}. "
        + _accuracy_sentence(u, m, baseline)
        + " "
        + _cost_sentence(u, m, f"{bh}x{bw}")
    )
    return out


def counting_data(cfg: Config, ctx, name: str) -> dict:
    """Readers of (image, density) for training and of test images, with the head points."""
    from nndl.methods import density as dm

    kernel = (
        cfg.kernel
        if cfg.kernel != "auto"
        else ("adaptive" if name == "shanghaitech_A" else "fixed")
    )
    scale = cfg.crowd_resize if name != "crowds" else 1.0
    sigma = cfg.sigma * scale

    def make_density(points, shape):
        if kernel == "fixed":
            return dm.fixed_density(points, shape, sigma)
        return dm.adaptive_density(points, shape, default_sigma=sigma)

    if name == "crowds":
        from nndl.data.synthetic.crowds import render_crowds

        with ctx.timer("render_crowds_s"):
            x_tr, p_tr, _ = render_crowds(
                cfg.crowd_num_train, cfg.crowd_image_size, max_count=cfg.max_count, seed=ctx.seed
            )
            x_te, p_te, _ = render_crowds(
                cfg.crowd_num_test,
                cfg.crowd_image_size,
                max_count=cfg.max_count,
                seed=ctx.seed + 1_000_003,
            )
            d_tr = [make_density(p, x.shape[:2]) for x, p in zip(x_tr, p_tr, strict=True)]
        label = "rendered crowds"
        read_train = lambda i: (x_tr[i], d_tr[i])  # noqa: E731
        read_test = lambda i: x_te[i]  # noqa: E731
        provenance = (
            f"counting: embedded stand-in `crowds` ({len(x_tr)} train / {len(x_te)} "
            f"test rendered {cfg.crowd_image_size}x{cfg.crowd_image_size} images)"
        )
        n_train, train_points, test_points = len(x_tr), p_tr, p_te
        test_images = x_te[:3]
    else:
        from nndl.data.shanghaitech import load_shanghaitech, read_image

        part = name[-1]
        tr_paths, train_points = load_shanghaitech(
            ctx.data_root, part, "train", scale, cfg.max_train
        )
        te_paths, test_points = load_shanghaitech(ctx.data_root, part, "test", scale, cfg.max_test)

        def read_train(i):
            image = read_image(tr_paths[i], scale)
            return image, make_density(train_points[i], image.shape[:2])

        read_test = lambda i: read_image(te_paths[i], scale)  # noqa: E731
        label = f"ShanghaiTech Part {part}"
        provenance = (
            f"counting: real {label} from {ctx.data_root} ({len(tr_paths)} train / "
            f"{len(te_paths)} test images, resized x{scale:g}"
            + _subset_note(name, {"train": len(tr_paths), "test": len(te_paths)})
            + ")"
        )
        n_train = len(tr_paths)
        test_images = [read_test(i) for i in range(min(3, len(te_paths)))]
    counts = np.array([len(p) for p in train_points])
    kernel_text = (
        f"a fixed Gaussian kernel (sigma {sigma:g} px)"
        if kernel == "fixed"
        else f"geometry-adaptive kernels (beta 0.3, k 3; sigma {sigma:g} px for a lone head)"
    )
    note = (
        f"{n_train} training images ({counts.sum():,} heads, {counts.min()} to {counts.max()} "
        f"per image) with density maps from {kernel_text}. Each epoch draws "
        f"{_n(cfg.crops_per_image, 'random crop')} of {cfg.crop_size}x{cfg.crop_size} per image (random horizontal flips); "
        f"evaluation runs on whole test images. Both models get the same standardised pixels and the "
        f"same budget: {_n(cfg.count_num_epochs, 'epoch')} of Adam (one-cycle schedule, peak lr "
        f"{cfg.count_lr}, batch {cfg.count_batch_size}) on the pixel-wise squared error of the "
        f"density map in heads per input pixel (x {cfg.density_scale:g}); MCNN's output is at 1/4 "
        f"resolution, so its target is the map averaged over 4x4 blocks and its count is 16x the "
        f"sum of its output."
    )
    return {
        "label": label,
        "provenance": provenance,
        "note": note,
        "read_train": read_train,
        "read_test": read_test,
        "num_train": n_train,
        "train_points": train_points,
        "test_points": test_points,
        "train_mean_count": float(counts.mean()),
        "test_images": test_images,
        "kernel": kernel,
        "sigma": sigma,
        "make_density": make_density,
    }


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _accuracy_sentence(u: dict, m: dict, baseline: dict) -> str:
    """Which counter is better, worded from the measured MAEs."""
    (wl, w), (ll, lo) = sorted((("U-Net", u), ("MCNN", m)), key=lambda t: t[1]["mae"])
    if w["mae"] >= baseline["mae"]:
        return "Neither counter beats the mean-count baseline in this run."
    return (
        f"{wl} is the better counter: its MAE is {lo['mae'] / max(w['mae'], 1e-9):.1f}x lower "
        f"than {ll}'s and {baseline['mae'] / max(w['mae'], 1e-9):.1f}x lower than the baseline's"
        + ("" if lo["mae"] < baseline["mae"] else f", while {ll} does not beat the baseline")
        + "."
    )


def _cost_sentence(u: dict, m: dict, size: str) -> str:
    """Parameters, FLOPs and latency of U-Net relative to MCNN."""

    def ratio(key):
        return f"{u[key] / m[key]:.2f}x"

    return (
        f"In cost, U-Net has {ratio('params')} MCNN's parameters ({u['params']:,} vs "
        f"{m['params']:,}) and {ratio('flops')} its FLOPs on a {size} image ({u['flops'] / 1e9:.2f}"
        f" vs {m['flops'] / 1e9:.2f} GFLOPs: MCNN's 9x9, 7x7 and 5x5 filters run at full and half "
        f"resolution, U-Net's 3x3 filters at every scale), and {ratio('latency_median_ms')} its "
        f"median latency ({u['latency_median_ms']:.1f} vs {m['latency_median_ms']:.1f} ms)."
    )


def _count_unet(cfg: Config):
    from nndl.models.unet import UNet

    return UNet(3, depth=cfg.count_depth, width=cfg.count_width, head="density")


def standardize(x):
    """Pixels in [0, 1] -> roughly zero mean, unit spread (MCNN has no batch normalisation)."""
    return (x - 0.5) / 0.25


def density_step(model, batch, scale: float):
    """Pixel-wise squared error between predicted and true (scaled) density maps."""
    import torch.nn.functional as F

    x, density = batch  # (B, 3, h, w), (B, 1, h / ds, w / ds)
    pred = model(standardize(x))
    loss = F.mse_loss(pred, density)
    err = (pred.sum((1, 2, 3)) - density.sum((1, 2, 3))).abs().mean() / scale  # count error
    return loss, {"loss": loss.item(), "count_mae": err.item()}


def predict_density(model, image: np.ndarray, downsample: int, scale: float, device: str):
    """The density map (float64 numpy, heads per output pixel) of one whole uint8 image."""
    import torch

    from nndl.data.dense_sets import pad_to

    x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()[None] / 255.0
    h, w = x.shape[-2:]
    x = pad_to(x, -(-h // downsample) * downsample, -(-w // downsample) * downsample)
    model.eval()
    with torch.no_grad():
        out = model(standardize(x).to(device))[0, 0].double().cpu().numpy()
    return out / scale


def _count_errors(pred, true) -> dict:
    from nndl.methods.density import count_errors

    return count_errors(pred, true)


def _bench_input(cfg: Config):
    import torch

    return torch.rand(1, 3, *cfg.bench_size, generator=torch.Generator().manual_seed(0))


def _adam_one_cycle(model, lr: float, num_examples: int, batch_size: int, num_epochs: int):
    """Adam with a one-cycle schedule (warm-up to `lr`, then cosine decay), stepped per batch."""
    import torch

    from nndl.train import epoch_batches

    steps = len(epoch_batches(num_examples, batch_size, 0, 0)) * num_epochs  # per rank
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, lr, total_steps=max(steps, 1), pct_start=0.2
    )
    return optimizer, schedule


# == findings =====================================================================================


def findings(ctx, cfg: Config, results: dict) -> None:
    rep = ctx.report
    rep.section("Findings")
    m = ctx.metrics
    items = [
        f"Segmentation: the U-Net reaches mIoU {m['seg_miou']:.3f}, mean Dice "
        f"{m['seg_mean_dice']:.3f} and pixel accuracy {m['seg_pixel_acc']:.1%} on "
        f"{m['seg_num_test']} test images after {_n(cfg.seg_num_epochs, 'epoch')}.",
    ]
    for r in results.values():
        u, mc = r["models"]["unet"], r["models"]["mcnn"]
        items.append(
            f"Counting on {r['label']}: U-Net MAE {u['mae']:.2f} (RMSE {u['rmse']:.2f}), MCNN "
            f"MAE {mc['mae']:.2f} (RMSE {mc['rmse']:.2f}); the mean-count baseline has MAE "
            f"{r['baseline']['mae']:.2f}. "
            + _accuracy_sentence(u, mc, r["baseline"])
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


# == figures ======================================================================================


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _seg_curves(history, val_label: str):
    plt = _plt()
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
    plt = _plt()
    from matplotlib.colors import ListedColormap

    base = plt.get_cmap("tab20" if num_classes > 10 else "tab10").colors
    return ListedColormap([base[i % len(base)] for i in range(num_classes)] + [(0, 0, 0)])


def _seg_samples(samples, names, ignore_index):
    plt = _plt()
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
        handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=9, frameon=False
    )
    fig.tight_layout(rect=(0, 0.06 if len(handles) <= 6 else 0.1, 1, 1))
    return fig


def _kernel_figure(data):
    from nndl.methods import density as dm

    plt = _plt()
    image, _ = data["read_train"](0)
    points = data["train_points"][0]
    shape = image.shape[:2]
    fixed = dm.fixed_density(points, shape, data["sigma"])
    adaptive = dm.adaptive_density(points, shape, default_sigma=data["sigma"])
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    axes[0].imshow(image)
    axes[0].scatter(points[:, 0] - 0.5, points[:, 1] - 0.5, s=6, c="red")
    axes[0].set_title(f"image, {len(points)} head points")
    for a, d, t in (
        (axes[1], fixed, f"fixed kernel (sigma {data['sigma']:g} px)"),
        (axes[2], adaptive, "geometry-adaptive kernels"),
    ):
        im = a.imshow(d, cmap="jet")
        a.set_title(f"{t}\nsum = {d.sum(dtype=np.float64):.2f}")
        fig.colorbar(im, ax=a, fraction=0.046, label="heads per pixel")
    for a in axes:
        a.set_xticks([])
        a.set_yticks([])
    fig.tight_layout()
    return fig


def _count_curves(out):
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for r in out["models"].values():
        h = r["history"]
        a1.plot(h.series("epoch"), h.series("train_loss"), "o-", label=r["label"])
        a2.plot(h.series("epoch"), h.series("train_count_mae"), "o-", label=r["label"])
    a1.set(xlabel="epoch", ylabel="density MSE (scaled maps)", yscale="log", title="training loss")
    a2.set(
        xlabel="epoch",
        ylabel="|predicted - true| count per crop",
        title="count error on the training crops",
    )
    for a in (a1, a2):
        a.grid(alpha=0.3)
        a.legend()
    fig.tight_layout()
    return fig


def _scatter(out):
    plt = _plt()
    true = out["true"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), sharex=True, sharey=True)
    hi = max(true.max(), *(r["pred"].max() for r in out["models"].values())) * 1.05
    for a, (key, r) in zip(axes, out["models"].items(), strict=True):
        a.scatter(true, r["pred"], s=14, alpha=0.7, c="C0" if key == "unet" else "C1")
        a.plot([0, hi], [0, hi], "k--", lw=1, label="perfect")
        a.set(
            xlim=(0, hi),
            ylim=(0, hi),
            xlabel="true count",
            ylabel="predicted count",
            title=f"{r['label']}: MAE {r['mae']:.2f}, RMSE {r['rmse']:.2f}",
        )
        a.set_aspect("equal")
        a.grid(alpha=0.3)
        a.legend(loc="upper left")
    fig.tight_layout()
    return fig


def _density_figure(out):
    """Image, true map and both predictions per row, on one colour scale: heads per input pixel.

    MCNN's map (heads per 4x4 block) is divided by 16 and drawn over the whole image.
    """
    plt = _plt()
    k = len(out["test_images"])
    fig, axes = plt.subplots(k, 4, figsize=(14, 3.3 * k), squeeze=False)
    for i in range(k):
        image, truth = out["test_images"][i], out["truth_maps"][i]
        h, w = truth.shape
        u, m = out["models"]["unet"]["maps"][i], out["models"]["mcnn"]["maps"][i]
        ds = -(-h // m.shape[0])  # the downsampling factor
        axes[i, 0].imshow(image)
        axes[i, 0].set_title(f"test image {i + 1}")
        vmax = max(float(truth.max()), 1e-6)
        panels = (
            (truth, 1, f"truth: {out['true'][i]:.0f} heads"),
            (u, 1, f"U-Net: {u.sum():.1f}"),
            (m / ds**2, ds, f"MCNN (1/{ds} resolution): {m.sum():.1f}"),
        )
        for a, (d, f, title) in zip(axes[i, 1:], panels, strict=True):
            im = a.imshow(
                d,
                cmap="jet",
                vmin=0,
                vmax=vmax,
                interpolation="nearest",
                extent=(0, d.shape[1] * f, d.shape[0] * f, 0),
            )  # in input pixels
            a.set(xlim=(0, w), ylim=(h, 0), title=title)
        fig.colorbar(im, ax=axes[i, 1:].tolist(), fraction=0.03, label="heads per pixel")
    for a in axes.flat:
        a.set_xticks([])
        a.set_yticks([])
    return fig
