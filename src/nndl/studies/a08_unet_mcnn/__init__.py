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

The report's sections, one module each: `segmentation` (U-Net, its data, training and figures),
`counting` (U-Net and MCNN counters on each counting dataset), `findings`; `common` holds the
optimiser and the wording both use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from nndl.config import opt
from nndl.expect import Expect
from nndl.registry import study

from .counting import counting, counting_unet
from .findings import findings_section
from .segmentation import seg_model, seg_size, segmentation

COUNTING_DATASETS = ("crowds", "shanghaitech_A", "shanghaitech_B")


@dataclass(frozen=True)
class Config:
    # -- segmentation ---------------------------------------------------------------------------
    dataset: Literal["scenes", "pets", "camvid"] = opt(
        "scenes", "segmentation data: scenes (embedded), pets (Oxford-IIIT Pet), camvid"
    )
    image_size: int = opt(
        64,
        "image height in pixels; width is the same (scenes, pets) or 4/3 of it (camvid)",
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
        size = seg_size(self)
        lines = [
            f"segmentation: U-Net depth {self.depth}, width {self.width} on {self.dataset} at "
            f"{size[0]}x{size[1]}, {self.seg_num_epochs} epochs",
            f"counting on {', '.join(self.counting)}: U-Net (depth {self.count_depth}, width "
            f"{self.count_width}) and MCNN, {self.count_num_epochs} epochs each on "
            f"{self.crop_size}x{self.crop_size} crops, evaluated on whole images",
        ]
        from nndl.bench import count_flops

        num_classes = {"scenes": self.num_objects + 1, "pets": 3, "camvid": 11}[self.dataset]
        unet, _ = seg_model(self, num_classes)
        gf = count_flops(unet.to("meta").eval(), _meta_input(size)) / 1e9
        n = {"scenes": self.seg_num_train, "pets": 3680, "camvid": 367}[self.dataset]
        n = min(n, self.max_train) if self.max_train else n
        lines.append(
            f"segmentation: {gf:.2f} GFLOP per image forward; training "
            f"{_cost(3 * gf * n * self.seg_num_epochs)}"
        )  # forward + backward ~ 3x
        from nndl.models.mcnn import MCNN

        crop = (self.crop_size, self.crop_size)
        for label, model in (("U-Net", counting_unet(self)), ("MCNN", MCNN())):
            gf = count_flops(model.to("meta").eval(), _meta_input(crop)) / 1e9
            n = sum(
                {
                    "crowds": self.crowd_num_train,
                    "shanghaitech_A": 300,
                    "shanghaitech_B": 400,
                }.get(c, 0)
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


# What the headline numbers should be (the verdict table that opens the report; nndl.expect).
# Quick: rendered scenes and crowds, measured mIoU ~0.75, pixel accuracy ~0.96, MAE U-Net ~11,
# MCNN ~17 (answering the mean count: ~35). Full: Oxford-IIIT Pet trimaps; ShanghaiTech Part A.
EXPECT = (
    Expect(
        "seg_miou",
        definition=(
            "per class TP / (TP + FP + FN) counted over all test pixels together (not per image), "
            "then averaged over the classes that occur; pixels marked ignore are left out"
        ),
        quick=(0.55, 0.92),
        full=(0.6, 0.9),
        source="U-Nets trained from scratch on Oxford-IIIT Pet trimaps (3 classes): mIoU ~0.7-0.8 "
        "(TensorFlow's segmentation tutorial and Keras' oxford_pets example, ~0.9 pixel accuracy)",
    ),
    Expect(
        "seg_pixel_acc",
        definition="correct pixels / all scored pixels over the test set",
        quick=(0.9, 1.0),
        full=(0.85, 0.95),
        source="TensorFlow's image segmentation tutorial (U-Net on Oxford-IIIT Pet): ~0.9 "
        "pixel accuracy",
    ),
    Expect(
        "unet_mae",
        definition=(
            "mean over test images of |predicted count - true count|, the predicted count being the "
            "sum of the density map"
        ),
        quick=(3.0, 25.0),
        full=(60.0, 200.0),
        note="people per image, lower is better",
        source="ShanghaiTech Part A: MCNN 110.2 (Zhang et al. 2016), CSRNet 68.2 (Li et al. 2018)",
    ),
    Expect(
        "mcnn_mae",
        quick=(5.0, 32.0),
        full=(90.0, 200.0),
        note="people per image, lower is better",
        source="MCNN on ShanghaiTech Part A: MAE 110.2, RMSE 173.2 (Zhang et al. 2016, Table 2)",
    ),
)


@study(
    "a08",
    "unet-mcnn",
    "U-Net segmentation; U-Net versus MCNN crowd counting",
    config=Config,
    datasets=("scenes", "pets", "camvid", *COUNTING_DATASETS),
    headline=("seg_miou", "seg_pixel_acc", "unet_mae", "mcnn_mae"),
    expect=EXPECT,
)
def run(ctx) -> None:
    cfg: Config = ctx.config
    check_config(cfg)
    require_data(cfg, ctx.data_root)  # a missing dataset fails now, not after an hour of training
    intro(ctx)
    data_notes = [segmentation(ctx, cfg)]
    results = {name: counting(ctx, cfg, name, first=i == 0) for i, name in enumerate(cfg.counting)}
    data_notes += [r["provenance"] for r in results.values()]
    ctx.provenance("data", "; ".join(data_notes))
    findings_section(ctx, cfg, results)


def intro(ctx) -> None:
    ctx.report.text(
        "Two dense-prediction tasks with networks written by hand: U-Net (an encoder-decoder whose "
        "skip connections carry fine detail to the decoder) for semantic segmentation, then the "
        "same U-Net with a density head against MCNN (three columns of different receptive "
        "fields) for crowd counting, where a network predicts a density map whose sum is the count."
    )
    ctx.provenance(
        "weights",
        f"random initialisation (seed {ctx.seed}), every model trained in this run",
    )


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
