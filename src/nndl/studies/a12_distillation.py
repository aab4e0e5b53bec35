"""a12: knowledge distillation from one and from two ImageNet-pretrained teachers.

Question: does a small CNN learn more from the softened outputs of big pretrained networks than
from the labels alone, and does a second teacher add anything? Five 10-class classifiers: the
small CNN trained alone; two big ImageNet-pretrained CNNs fine-tuned on their last two layers
(teachers); the small CNN distilled from one teacher; the small CNN distilled from both.

    nndl run a12                                   # quick: rendered shapes, real ImageNet teachers
    nndl run a12 --profile full --data-root DATA   # CIFAR-10; ResNet-50 and EfficientNet-B3

The quick teachers are real ImageNet networks whose weights ship inside packages (EfficientNet-
Lite0 and EfficientNet-Lite2, `nndl weights`); the quick data is the embedded shapes stand-in
for CIFAR-10 (stated in the report): 500 labelled images, 3,000 unlabelled ones (Hinton et al.'s
transfer set, which only the teachers label) and 1,000 test images. Every student takes the
same number of optimizer steps. What to expect (quick, measured: 206 s on an idle 2-core machine
with nothing cached, of which 30 s for the teachers' frozen-trunk features in channels_last):
teachers 51.5 % (Lite0) and 48.1 % (Lite2) (their ImageNet features generalise from 500
labels), the student alone 24.0 % (it overfits its 500 images), distilled from one teacher
35.0 % and from two 41.2 % (+11 and +17 points on each of two seeds, seed spread <= 4 points);
T sweep 1/2/4/8: 38.4/34.7/31.8/30.8 %, the teacher's hard labels on the transfer images 34.2 %.
With the 2,000 labelled images of earlier versions and the student trained to convergence, the
student alone (~62 %) matched the teachers and distillation could not help: it needs a teacher
that knows more than the student can learn from the labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from nndl import detectors
from nndl.config import opt
from nndl.expect import Expect, exceeds_spread
from nndl.registry import study


@dataclass(frozen=True)
class Config:
    dataset: Literal["shapes", "cifar10"] = opt(
        "shapes", "shapes (embedded stand-in, 10 classes) or cifar10 (real, --data-root)"
    )
    num_train: int = opt(
        500, "labelled training images (cifar10: a class-balanced subset; 0 = all)"
    )
    num_test: int = opt(1000, "test images (cifar10: a class-balanced subset; 0 = all)")
    transfer_images: int = opt(
        3000,
        "unlabelled images the teachers label for the distilled students (Hinton et al.'s "
        "transfer set; shapes: rendered from another seed, cifar10: training images beyond "
        "num_train, their labels unused); 0 = the labelled training images only",
        min=0,
    )
    teachers: tuple[str, ...] = opt(
        ("tf_efficientnet_lite0", "tf_efficientnet_lite2"),
        "two ImageNet-pretrained CNNs (zoo names); the first is the one-teacher student's",
    )
    weights_dir: str = opt(
        "", "folder of teacher ImageNet weights files <model>.safetensors|.pth ('' = caches)"
    )
    teacher_size: int = opt(128, "teachers see the images upsampled to this side")
    teacher_num_epochs: int = opt(
        12,
        "teachers: passes over the cached trunk features (few: a teacher that memorises the "
        "training set gives near one-hot soft targets on it)",
    )
    teacher_lr: float = opt(2e-3, "teachers: peak AdamW learning rate of the last two layers")
    teacher_folds: int = opt(
        1,
        "k > 1: soft targets on the training images from teachers fitted on the other k - 1 "
        "folds (cross-fitting, never memorised); 1: the teachers' own training images (Hinton)",
    )
    teacher_batch_size: int = opt(64, "teachers: mini-batch size")
    student_width: int = opt(16, "small CNN: channels of its first stage (then 2x, 4x)")
    num_epochs: int = opt(
        8, "students: passes over labelled + transfer images (the student alone: as many steps)"
    )
    batch_size: int = opt(32, "students: mini-batch size")
    lr: float = opt(1e-2, "students: peak AdamW learning rate (one-cycle schedule)")
    temperature: float = opt(2.0, "distillation temperature T of the main comparison")
    alpha: float = opt(0.1, "weight of the hard-label cross-entropy; the soft term gets 1 - alpha")
    temperatures: tuple[float, ...] = opt(
        (1.0, 2.0, 4.0, 8.0), "the T sweep of the one-teacher student (first seed)"
    )
    seeds: tuple[int, ...] = opt((0, 1), "seeds of the three small models (init and batch order)")
    bench_batch: int = opt(1, "latency: images per forward pass")
    bench_repeats: int = opt(10, "latency: timed forward passes (after 3 warm-up)")

    PROFILES: ClassVar[dict] = {
        "smoke": {
            "num_train": 200,
            "num_test": 100,
            "transfer_images": 100,
            "teacher_size": 32,
            "teacher_num_epochs": 1,
            "student_width": 8,
            "num_epochs": 1,
            "temperatures": (1.0, 4.0),
            "seeds": (0,),
            "bench_repeats": 2,
        },
        "full": {
            "dataset": "cifar10",
            "num_train": 0,
            "num_test": 0,
            "transfer_images": 0,
            "teachers": ("torchvision:resnet50", "torchvision:efficientnet_b3"),
            "teacher_size": 224,
            "teacher_num_epochs": 10,
            "teacher_lr": 1e-3,
            "num_epochs": 40,
            "batch_size": 128,
            "lr": 5e-3,
            "seeds": (0, 1, 2),
        },
    }

    def plan(self, data_root) -> list[str]:
        n = self.num_train or 50000
        return [
            f"data: {self.dataset}, {n:,} labelled train / {self.num_test or 10000:,} test "
            f"images, {self.transfer_images:,} unlabelled transfer images",
            f"teachers: {', '.join(self.teachers)} (ImageNet weights), last two layers "
            f"fine-tuned for {self.teacher_num_epochs} epochs at {self.teacher_size}px",
            f"students: SmallCNN width {self.student_width}, {self.num_epochs} epochs; alone, "
            f"one teacher, two teachers x {len(self.seeds)} seeds, T sweep "
            f"{', '.join(map(str, self.temperatures))}",
        ]


# What the headline numbers should be (the verdict table that opens the report; nndl.expect).
# Test accuracy (10 classes), last epoch. Quick: rendered shapes, frozen-feature teachers
# (measured alone 0.41, one teacher ~0.35, two ~0.36, teacher ~0.50-0.54). Full: CIFAR-10.
_KD = (
    "distillation adds ~0.5-2 points to a small CIFAR student (Hinton et al. 2015; Cho & "
    "Hariharan 2019, Table 1); small CNNs alone reach ~0.7-0.85 on CIFAR-10"
)
EXPECT = (
    Expect("acc_student_alone", quick=(0.15, 0.35), full=(0.65, 0.9), source=_KD),
    Expect("acc_student_kd1", quick=(0.28, 0.5), full=(0.65, 0.92), source=_KD),
    Expect("acc_student_kd2", quick=(0.28, 0.52), full=(0.65, 0.92), source=_KD),
    Expect(
        "acc_teacher_1",
        quick=(0.4, 0.65),
        full=(0.8, 0.97),
        source="ImageNet ResNet-50 features on CIFAR-10: linear probe ~0.9 (Kornblith et al. "
        "2019, Table A1); fine-tuning the last layers adds a little",
    ),
)
# The failure users meet: a distilled student no better than the same student trained alone
# (same seeds, same data order, same epochs); with several seeds the difference is paired.


def _kd_check(m: dict, arm: str, teachers: str):
    a, b = m.get(f"acc_student_{arm}_per_seed"), m.get("acc_student_alone_per_seed")
    spread = exceeds_spread(a, b) if a and b and len(a) == len(b) else None
    return detectors.better_than(
        f"distilled student ({teachers}) against the student alone",
        m[f"acc_student_{arm}"],
        m["acc_student_alone"],
        "distilled",
        "alone",
        spread=spread,
    )


CHECKS = (
    lambda m: _kd_check(m, "kd1", "one teacher"),
    lambda m: _kd_check(m, "kd2", "two teachers"),
)


@study(
    "a12",
    "distillation",
    "Knowledge distillation from one and from two teachers",
    config=Config,
    datasets=("shapes", "cifar10"),
    headline=("acc_student_alone", "acc_student_kd1", "acc_student_kd2", "acc_teacher_1"),
    expect=EXPECT,
    checks=CHECKS,
)
def run(ctx) -> None:
    cfg: Config = ctx.config
    check_config(cfg)
    data = load_data(cfg, ctx)
    ctx.report.text(
        "A small CNN is trained three ways: from the labelled images alone, and distilled from "
        "one or from two big ImageNet-pretrained CNNs whose last two layers were fine-tuned on "
        "those labelled images; the distilled students also learn from unlabelled images that "
        "only the teachers label. Distillation trains the student on the teachers' "
        "temperature-softened class distributions, which carry how similar the classes look to "
        "the teacher ('dark knowledge'), besides the hard labels."
    )
    teachers = [teacher(ctx, cfg, name, data, i) for i, name in enumerate(cfg.teachers)]
    students = compare_students(ctx, cfg, data, teachers)
    sweep = temperature_sweep(ctx, cfg, data, teachers, students)
    measured = models_table(ctx, cfg, teachers, students)
    findings(ctx, cfg, teachers, students, sweep, measured)


def check_config(cfg: Config) -> None:
    from nndl.errors import ConfigError

    if len(cfg.teachers) != 2:
        raise ConfigError(f"a12 needs exactly two teachers; got {len(cfg.teachers)}.")
    if not 0 <= cfg.alpha <= 1:
        raise ConfigError(f"alpha weighs the hard loss and must be in [0, 1]; got {cfg.alpha}.")
    if cfg.temperature <= 0 or any(t <= 0 for t in cfg.temperatures):
        raise ConfigError("Temperatures must be positive.")
    if not cfg.seeds:
        raise ConfigError("At least one seed is needed.")
    if cfg.teacher_size < 32:
        raise ConfigError(f"teacher_size must be at least 32; got {cfg.teacher_size}.")
    if cfg.dataset == "cifar10" and cfg.transfer_images and not cfg.num_train:
        raise ConfigError(
            "transfer_images on cifar10 come from the training images beyond num_train; with "
            "num_train=0 (all 50,000 labelled) set transfer_images=0."
        )
    from nndl import offline
    from nndl.errors import WeightsError
    from nndl.models import zoo

    for name in cfg.teachers:
        zoo.resolve(name)  # an unknown model name: the closest names, now
    missing = [n for n in cfg.teachers if not zoo.weights_available(n, cfg.weights_dir)]
    if missing and not offline.online():  # fail before any data is read or trained
        raise WeightsError(zoo.missing_weights_message(missing, cfg.weights_dir))


# == data =========================================================================================


def load_data(cfg: Config, ctx) -> dict:
    """float32 NCHW images in [0, 1] and int64 labels, with the class names and provenance."""
    if cfg.dataset == "cifar10":
        from nndl.data.cifar10 import balanced_first, describe, load_cifar10

        wanted = cfg.num_train + cfg.transfer_images if cfg.num_train else 0
        x_tr, y_tr, x_te, y_te, names = load_cifar10(
            ctx.data_root, max_train=wanted, max_test=cfg.num_test
        )
        labelled = np.zeros(len(y_tr), bool)  # a class-balanced labelled subset; the rest: transfer
        labelled[balanced_first(y_tr, cfg.num_train)] = True
        x_tf, x_tr, y_tr = x_tr[~labelled], x_tr[labelled], y_tr[labelled]
        full = len(x_tr) >= 50000 and len(x_te) >= 10000
        ctx.provenance(
            "data",
            f"real CIFAR-10 from {describe(ctx.data_root)}: {len(x_tr):,} labelled train / "
            f"{len(x_te):,} test images"
            + ("" if full else " (a class-balanced subset of 50,000 / 10,000)")
            + (
                f"; {len(x_tf):,} further training images as the unlabelled transfer set"
                if len(x_tf)
                else ""
            ),
        )
    else:
        from nndl.data.synthetic.shapes import cached_shapes, class_names

        x_tr, y_tr, x_te, y_te = cached_shapes(ctx, 10, cfg.num_train, cfg.num_test)
        x_tf = _transfer_shapes(ctx, cfg.transfer_images)
        names = class_names(10)
        ctx.provenance(
            "data",
            f"embedded stand-in for CIFAR-10: rendered shapes, 10 classes, 32x32, "
            f"{len(x_tr):,} labelled train / {len(x_te):,} test images"
            + (f", {len(x_tf):,} unlabelled transfer images (another seed)" if len(x_tf) else "")
            + " (not CIFAR-10)",
        )
    return {"x_tr": x_tr, "y_tr": y_tr, "x_te": x_te, "y_te": y_te, "x_tf": x_tf, "names": names}


def _transfer_shapes(ctx, n: int):
    """Rendered shapes from a seed no training or test image uses; their labels are dropped."""
    from nndl.data.synthetic.shapes import render_shapes

    def render(folder):
        x, _ = render_shapes(n, 10, 32, seed=ctx.seed + 2_000_003)
        np.save(folder / "x.npy", np.ascontiguousarray(x.transpose(0, 3, 1, 2)))

    if not n:
        return np.zeros((0, 3, 32, 32), np.float32)
    folder, _ = ctx.cache.get_or_build("shapes-transfer", {"n": n, "seed": ctx.seed}, render)
    return np.load(folder / "x.npy").astype(np.float32) / 255.0


# == teachers =====================================================================================


def _split_timm_efficientnet(m):
    from torch import nn

    return nn.Sequential(m.conv_stem, m.bn1, m.blocks), nn.Sequential(
        m.conv_head, m.bn2, m.global_pool, m.classifier
    )


def _split_features(m):  # torchvision MobileNetV2 / EfficientNet: features + pool + classifier
    from torch import nn

    return m.features[:-1], nn.Sequential(
        m.features[-1], nn.AdaptiveAvgPool2d(1), nn.Flatten(1), m.classifier
    )


def _split_resnet(m):  # torchvision ResNet: the last bottleneck block and the fc layer train
    from torch import nn

    trunk = nn.Sequential(
        m.conv1, m.bn1, m.relu, m.maxpool, m.layer1, m.layer2, m.layer3, m.layer4[:-1]
    )
    return trunk, nn.Sequential(m.layer4[-1], m.avgpool, nn.Flatten(1), m.fc)


# (library, class) -> (frozen trunk, trained top = the last two layers); registered, not branched
TEACHER_SPLITS = {
    ("timm", "EfficientNet"): _split_timm_efficientnet,
    ("torchvision", "EfficientNet"): _split_features,
    ("torchvision", "MobileNetV2"): _split_features,
    ("torchvision", "ResNet"): _split_resnet,
}


def split_teacher(name: str, model):
    from nndl.errors import ConfigError
    from nndl.models import zoo

    key = (zoo.resolve(name).library, type(model).__name__)
    if key not in TEACHER_SPLITS:
        known = ", ".join(f"{lib} {cls}" for lib, cls in TEACHER_SPLITS)
        raise ConfigError(f"Teacher '{name}' ({key[0]} {key[1]}) has no split; known: {known}.")
    return TEACHER_SPLITS[key](model)


def _build_teacher(cfg: Config, name: str, num_classes: int):
    """The ImageNet model with a new head: a file in weights_dir, a bundled file, or the cache."""
    from nndl.models import zoo

    weights_file = zoo.weights_file_in(cfg.weights_dir, name)
    return zoo.build(name, num_classes, pretrained=True, weights_file=weights_file)


def _prepare(x, name: str, size: int):
    """Images in [0, 1] -> the teacher's input: upsampled to `size`, ImageNet-normalised."""
    import torch
    import torch.nn.functional as F

    from nndl.models import zoo

    pre = zoo.preprocessing(name)
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    mean = torch.tensor(pre.mean).view(1, 3, 1, 1)
    return (x - mean) / torch.tensor(pre.std).view(1, 3, 1, 1)


def _batched(fn, x, batch_size: int = 32):
    """fn over `x` in batches without gradients (32: measured faster than 128 on a CPU)."""
    import torch

    with torch.no_grad():
        chunks = [fn(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        return torch.cat(chunks or [fn(x[:0])])  # no transfer images: an empty (0, ...) tensor


def teacher(ctx, cfg: Config, name: str, data: dict, index: int) -> dict:
    """Fine-tune the last two layers of an ImageNet CNN on features of its frozen trunk, computed
    once; returns its logits on train and test (the students' soft targets) and its model."""
    import torch

    from nndl.models import zoo
    from nndl.train import ArrayData, TorchTrainable, fit

    key = {
        "teacher": name,
        "weights": zoo.weights_available(name, cfg.weights_dir),  # which ImageNet file
        "dataset": cfg.dataset,
        "num_train": len(data["x_tr"]),
        "num_test": len(data["x_te"]),
        "num_transfer": len(data["x_tf"]),
        "data_seed": ctx.seed,
        "size": cfg.teacher_size,
        "epochs": cfg.teacher_num_epochs,
        "lr": cfg.teacher_lr,
        "batch_size": cfg.teacher_batch_size,
    }
    if cfg.teacher_folds > 1:  # keys of earlier artifacts stay valid for the default
        key["soft_targets"] = f"out-of-fold, {cfg.teacher_folds} folds"
    num_classes = len(data["names"])

    def fit_top(top, x, y, x_val, y_val, tag):
        optimizer = torch.optim.AdamW(top.parameters(), lr=cfg.teacher_lr, weight_decay=1e-2)
        steps = cfg.teacher_num_epochs * -(-len(y) // cfg.teacher_batch_size)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, cfg.teacher_lr, total_steps=steps, pct_start=0.2
        )
        history = fit(
            TorchTrainable(top, optimizer, device=ctx.device, scheduler=scheduler),
            ArrayData(x, y),
            ArrayData(x_val, y_val),
            name=f"a12-teacher-{index + 1}{tag}",
            num_epochs=cfg.teacher_num_epochs,
            batch_size=cfg.teacher_batch_size,
            seed=ctx.seed,
            checkpoint_dir=ctx.checkpoint_dir,
            resume=ctx.resume,
        )
        top.cpu().eval()
        return history

    def build(folder):
        import copy
        import time

        torch.manual_seed(ctx.seed)
        trunk, top = split_teacher(name, _build_teacher(cfg, name, num_classes))
        initial_top = copy.deepcopy(top)
        # channels_last: the frozen trunk's features 2.6x (Lite0) and 3x (Lite2) faster on a CPU
        trunk.eval().to(memory_format=torch.channels_last)
        t0 = time.perf_counter()
        feats = [
            _batched(
                lambda x: trunk(
                    _prepare(x, name, cfg.teacher_size).contiguous(
                        memory_format=torch.channels_last
                    )
                ),
                torch.from_numpy(x),
            ).contiguous()
            for x in (data["x_tr"], data["x_te"], data["x_tf"])
        ]
        features_s = time.perf_counter() - t0
        y_tr, y_te = torch.from_numpy(data["y_tr"]), torch.from_numpy(data["y_te"])
        history = fit_top(top, feats[0], y_tr, feats[1], y_te, "")
        # the students' soft targets on the training images come from teachers that did not
        # train on them (cross-fitting): a teacher that has memorised an image gives it a
        # near one-hot target with none of the class similarities distillation transfers
        logits_train = _batched(top, feats[0])
        if cfg.teacher_folds > 1:
            fold = torch.arange(len(y_tr)) % cfg.teacher_folds
            for k in range(cfg.teacher_folds):
                inside, held = fold != k, fold == k
                fold_top = copy.deepcopy(initial_top)
                fit_top(fold_top, feats[0][inside], y_tr[inside], feats[1], y_te, f"-fold{k}")
                logits_train[held] = _batched(fold_top, feats[0][held])
        torch.save(
            {
                "top": top.state_dict(),
                "logits_train": logits_train,
                "logits_test": _batched(top, feats[1]),
                "logits_transfer": _batched(top, feats[2]),
            },
            folder / "teacher.pt",
        )
        return {
            "history": history.epochs,
            "features_s": features_s,
            "train_s": sum(history.epoch_seconds),
            "trained_params": sum(p.numel() for p in top.parameters()),
        }

    folder, cached = ctx.cache.get_or_build(f"a12-teacher-{name}", key, build)
    saved = torch.load(folder / "teacher.pt", map_location="cpu", weights_only=True)
    meta = ctx.cache.meta(folder)
    trunk, top = split_teacher(name, _build_teacher(cfg, name, num_classes))
    top.load_state_dict(saved["top"])
    model = torch.nn.Sequential(trunk, top).eval()
    acc = float((saved["logits_test"].argmax(1).numpy() == data["y_te"]).mean())
    train_acc = float((saved["logits_train"].argmax(1).numpy() == data["y_tr"]).mean())
    ctx.metrics[f"acc_teacher_{index + 1}"] = acc
    ctx.timings[f"teacher_{index + 1}"] = {
        "features_s": meta["features_s"],
        "train_s": meta["train_s"],
        "cached": cached,
    }
    return {
        "name": name,
        "model": model,
        "acc": acc,
        "train_acc": train_acc,
        "history": meta["history"],
        "trained_params": meta["trained_params"],
        "logits_train": saved["logits_train"],
        "logits_test": saved["logits_test"],
        "logits_transfer": saved["logits_transfer"],
        "cached": cached,
    }


# == students =====================================================================================


def train_student(
    ctx,
    cfg: Config,
    data: dict,
    teachers: list,
    which: tuple,
    T: float,
    seed: int,
    *,
    pseudo: bool = False,
):
    """SmallCNN trained alone (which = ()) or distilled from the teachers at indices `which`.

    A distilled student learns from the labelled images and the unlabelled transfer images
    (label -1: only the soft term sees them); `pseudo` replaces the soft targets by the first
    teacher's hard labels on the transfer images (the control that isolates the soft targets).
    Every student takes the same number of optimizer steps: the student alone, with fewer
    images, makes more passes over them."""
    import torch

    from nndl.methods.distillation import make_step
    from nndl.models.small_cnn import SmallCNN
    from nndl.train import ArrayData, TorchTrainable, classification_step, fit

    x_tr, y_tr = torch.from_numpy(data["x_tr"]), torch.from_numpy(data["y_tr"])
    x_te, y_te = torch.from_numpy(data["x_te"]), torch.from_numpy(data["y_te"])
    x_tf = torch.from_numpy(data["x_tf"])
    x_all = torch.cat([x_tr, x_tf])
    if pseudo:
        y_tf = teachers[which[0]]["logits_transfer"].argmax(1)
        train, step = ArrayData(x_all, torch.cat([y_tr, y_tf])), classification_step
        val = ArrayData(x_te, y_te)
    elif which:  # teacher logits travel with each batch: (N, K, C)

        def logits(split):
            return torch.stack([teachers[i][f"logits_{split}"] for i in which], 1)

        unlabelled = torch.full((len(x_tf),), -1, dtype=y_tr.dtype)
        t_all = torch.cat([logits("train"), logits("transfer")])
        train = ArrayData(x_all, torch.cat([y_tr, unlabelled]), t_all)
        val, step = ArrayData(x_te, y_te, logits("test")), make_step(T, cfg.alpha)
    else:
        train, val, step = ArrayData(x_tr, y_tr), ArrayData(x_te, y_te), classification_step
    steps_per_epoch = -(-len(x_all) // cfg.batch_size)  # the distilled students' epoch
    num_epochs = round(cfg.num_epochs * steps_per_epoch / -(-len(train) // cfg.batch_size))
    torch.manual_seed(seed)
    model = SmallCNN(len(data["names"]), cfg.student_width)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=5e-4)
    steps = num_epochs * -(-len(train) // cfg.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, cfg.lr, total_steps=steps, pct_start=0.15
    )
    tag = (
        "alone"
        if not which
        else ("pseudo" if pseudo else "kd") + "+".join(str(i + 1) for i in which)
    )
    history = fit(
        TorchTrainable(model, optimizer, step, device=ctx.device, scheduler=scheduler),
        train,
        val,
        name=f"a12-student-{tag}-T{T:g}-s{seed}",
        num_epochs=num_epochs,
        batch_size=cfg.batch_size,
        seed=seed,
        checkpoint_dir=ctx.checkpoint_dir,
        resume=ctx.resume,
    )
    ctx.timings[f"student_{tag}_T{T:g}_seed{seed}_s"] = sum(history.epoch_seconds)
    return {
        "model": model.eval(),
        "acc": history.last("val_acc"),
        "history": history,
        "steps_per_epoch": -(-len(train) // cfg.batch_size),
    }


STUDENTS = {  # label -> teachers it learns from (indices into cfg.teachers)
    "student alone": (),
    "student, one teacher": (0,),
    "student, two teachers": (0, 1),
}
KEYS = {"student alone": "alone", "student, one teacher": "kd1", "student, two teachers": "kd2"}


def compare_students(ctx, cfg: Config, data: dict, teachers: list) -> dict:
    rep = ctx.report
    rep.section("The small CNN alone and distilled")
    rep.math(
        r"p_T = \frac{1}{K}\sum_{k=1}^{K} \mathrm{softmax}(z_k / T), \quad "
        r"q_T = \mathrm{softmax}(s / T), \quad "
        r"L = (1-\alpha)\, T^2\, \mathrm{KL}(p_T \,\|\, q_T) + \alpha\, \mathrm{CE}(s, y)",
        f"The student's loss (Hinton et al. 2015): z_k are teacher k's logits, s the student's; "
        f"two teachers are averaged in probability. Here T = {cfg.temperature:g} and alpha = "
        f"{cfg.alpha:g} (the hard labels weigh {cfg.alpha:g}, the soft targets "
        f"{1 - cfg.alpha:g}). T^2 keeps the soft gradients at the hard ones' scale.",
    )
    out = {label: [] for label in STUDENTS}
    for seed in cfg.seeds:
        for label, which in STUDENTS.items():
            out[label].append(train_student(ctx, cfg, data, teachers, which, cfg.temperature, seed))
    rows = []
    for label, runs in out.items():
        accs = [r["acc"] for r in runs]
        ctx.metrics[f"acc_student_{KEYS[label]}"] = float(np.mean(accs))
        ctx.metrics[f"acc_student_{KEYS[label]}_per_seed"] = accs
        rows.append(
            {
                "model": label,
                **{f"test acc, seed {s}": a for s, a in zip(cfg.seeds, accs, strict=True)},
                "mean": float(np.mean(accs)),
                "spread (max - min)": float(np.ptp(accs)),
            }
        )
    rep.table(rows, "students", f"Test accuracy of the small CNN (T = {cfg.temperature:g})")
    n_lab, n_tf = len(data["x_tr"]), len(data["x_tf"])
    rep.text(
        f"Every student: SmallCNN (width {cfg.student_width}), AdamW with a one-cycle schedule "
        f"(peak lr {cfg.lr:g}, batch {cfg.batch_size}), the same number of optimizer steps, no "
        f"augmentation; a seed sets the initial weights and the batch order, the same for the "
        f"three students. The student alone learns from the {n_lab:,} labelled images"
        + (
            f"; the distilled students also from {n_tf:,} unlabelled images of the same kind, "
            f"which only the teachers label (Hinton et al.'s transfer set: unlabelled data is "
            f"cheap, and soft targets are defined on any image). The distilled students make "
            f"{cfg.num_epochs} passes over the {n_lab + n_tf:,} images, the student alone the "
            f"same number of steps over its {n_lab:,}."
            if n_tf
            else f", as do the distilled ones ({cfg.num_epochs} epochs)."
        )
        + f" The one-teacher student learns from {teachers[0]['name']}. Teacher logits were "
        f"computed once and travel with each batch."
    )
    rep.figure(
        _curves(out, cfg),
        "student_curves",
        "Test accuracy of the three students per optimizer step",
    )
    return out


def temperature_sweep(ctx, cfg: Config, data: dict, teachers: list, students: dict) -> list[dict]:
    import torch

    rep = ctx.report
    rep.section("Temperature sweep (one teacher)")
    seed = cfg.seeds[0]
    rows = []
    for T in cfg.temperatures:
        if cfg.temperature == T:  # the main comparison's first-seed run
            r = students["student, one teacher"][0]
        else:
            r = train_student(ctx, cfg, data, teachers, (0,), T, seed)
        # how soft the targets are: the teacher's mean probability of its top class at T
        seen = torch.cat([teachers[0]["logits_train"], teachers[0]["logits_transfer"]])
        p = (seen / T).softmax(1).max(1).values.mean().item()  # on every image a student sees
        rows.append({"T": T, "teacher top-class probability at T": p, "student test acc": r["acc"]})
    ctx.metrics["t_sweep"] = {f"T{r['T']:g}": r["student test acc"] for r in rows}
    if len(data["x_tf"]):  # the control: the same images, the teacher's hard labels
        r = train_student(ctx, cfg, data, teachers, (0,), 0.0, seed, pseudo=True)
        ctx.metrics["acc_student_pseudo_labels"] = r["acc"]
        rows.append(
            {
                "T": "hard labels",
                "teacher top-class probability at T": 1.0,
                "student test acc": r["acc"],
            }
        )
    rep.table(
        rows,
        "t_sweep",
        f"Student distilled from {teachers[0]['name']} at several temperatures (alpha = "
        f"{cfg.alpha:g}, seed {seed})"
        + (
            "; last row: the teacher's hard labels (argmax) on the transfer images instead of "
            "its soft targets, the same images and steps"
            if len(data["x_tf"])
            else ""
        ),
    )
    return rows


# == all models: accuracy, parameters, latency ===================================================


def models_table(ctx, cfg: Config, teachers: list, students: dict) -> list[dict]:
    import torch

    from nndl import bench

    rep = ctx.report
    rep.section("Accuracy, size and latency")
    rows = []
    for i, t in enumerate(teachers):
        x = torch.rand(cfg.bench_batch, 3, cfg.teacher_size, cfg.teacher_size)
        rows.append(_measure(ctx, cfg, f"teacher {i + 1}: {t['name']}", t["model"], x, t["acc"]))
        ctx.metrics[f"train_acc_teacher_{i + 1}"] = t["train_acc"]
        rows[-1]["trained params"] = t["trained_params"]
    x = torch.rand(cfg.bench_batch, 3, 32, 32)
    for label, runs in students.items():
        acc = float(np.mean([r["acc"] for r in runs]))
        rows.append(_measure(ctx, cfg, label, runs[0]["model"], x, acc))
        rows[-1]["trained params"] = rows[-1]["params"]
    rep.table(rows, "models", "Every model: test accuracy (students: mean over seeds), size, speed")
    rep.text(
        f"Latency: median of {cfg.bench_repeats} forward passes of {cfg.bench_batch} image(s) "
        f"after 3 warm-up calls, {torch.get_num_threads()} CPU threads ({ctx.device}); teachers "
        f"at {cfg.teacher_size}x{cfg.teacher_size} (their input), students at 32x32. "
        + bench.FLOP_CONVENTION
    )
    for i, t in enumerate(teachers):
        rep.figure(
            _teacher_curves(t),
            f"teacher_{i + 1}_curves",
            f"Teacher {i + 1} ({t['name']}): fine-tuning its last two layers",
        )
    return rows


def _measure(ctx, cfg: Config, label: str, model, x, acc: float) -> dict:
    from nndl import bench

    m = bench.benchmark_model(model, x, device=ctx.device, repeats=cfg.bench_repeats)
    counts, times = bench.split_timings(m)
    key = label.split(":")[0].replace(" ", "_").replace(",", "")
    ctx.metrics[f"params_{key}"] = counts["params"]
    ctx.metrics[f"flops_{key}"] = counts["flops"]
    ctx.timings[f"latency_{key}"] = times
    return {
        "model": label,
        "test acc": acc,
        "params": counts["params"],
        "MFLOPs": counts["flops"] / 1e6,
        "latency ms (median)": times["latency_median_ms"],
    }


# == findings =====================================================================================


def findings(ctx, cfg, teachers, students, sweep, measured) -> None:
    rep = ctx.report
    rep.section("Findings")
    accs = {label: [r["acc"] for r in runs] for label, runs in students.items()}
    alone, kd1, kd2 = (accs[k] for k in STUDENTS)
    gain1 = [b - a for a, b in zip(alone, kd1, strict=True)]
    gain2 = [b - a for a, b in zip(alone, kd2, strict=True)]
    spread = max(np.ptp(v) for v in accs.values())
    hard = [r for r in sweep if r["T"] == "hard labels"]
    sweep = [r for r in sweep if r["T"] != "hard labels"]
    best_t = max(sweep, key=lambda r: r["student test acc"])
    worst_t = min(sweep, key=lambda r: r["student test acc"])
    t_acc = [t["acc"] for t in teachers]
    ratio = measured[0]["params"] / measured[2]["params"]
    lat = measured[0]["latency ms (median)"] / measured[2]["latency ms (median)"]

    def verdict(gains):
        if all(g > spread for g in gains):
            return "a gain larger than the seed-to-seed spread on every seed: a real effect"
        if all(g < -spread for g in gains):
            return "a loss larger than the seed-to-seed spread on every seed: distillation hurt"
        if all(g > 0 for g in gains) or all(g < 0 for g in gains):
            return "the same sign on every seed but within the seed-to-seed spread"
        return "not consistent across seeds: no effect distinguishable from noise"

    rep.bullets(
        [
            f"Teachers: {teachers[0]['name']} {t_acc[0]:.1%} and {teachers[1]['name']} "
            f"{t_acc[1]:.1%} test accuracy ({teachers[0]['train_acc']:.1%} and "
            f"{teachers[1]['train_acc']:.1%} on the training images whose soft targets the "
            f"students learn from, "
            + (
                f"each predicted by a teacher fitted on the other {cfg.teacher_folds - 1} of "
                f"{cfg.teacher_folds} folds"
                if cfg.teacher_folds > 1
                else "which the teachers trained on"
            )
            + f") after fine-tuning only their last two layers "
            f"({teachers[0]['trained_params']:,} and {teachers[1]['trained_params']:,} trained "
            f"parameters). The student alone reaches {np.mean(alone):.1%} (mean of "
            f"{len(alone)} seeds).",
            f"One teacher changes the student's accuracy by "
            f"{', '.join(f'{g:+.1%}' for g in gain1)} per seed; two teachers by "
            f"{', '.join(f'{g:+.1%}' for g in gain2)}. Largest seed spread of any student: "
            f"{spread:.1%}. One teacher: {verdict(gain1)}; two teachers: {verdict(gain2)}.",
            f"The second teacher against one: {np.mean(kd2) - np.mean(kd1):+.1%} on average; "
            f"averaging two teachers' distributions "
            + (
                "helps here."
                if np.mean(kd2) > np.mean(kd1) + spread
                else "makes no difference larger than the seed noise here."
            ),
            f"Temperature: best T = {best_t['T']:g} ({best_t['student test acc']:.1%}), worst "
            f"T = {worst_t['T']:g} ({worst_t['student test acc']:.1%}). At T = 1 the teacher's "
            f"top class holds {sweep[0]['teacher top-class probability at T']:.0%} of the "
            f"probability on average; at T = {sweep[-1]['T']:g}, "
            f"{sweep[-1]['teacher top-class probability at T']:.0%}: higher T exposes the "
            f"ranking of the wrong classes."
            + (
                f" The teacher's hard labels on the same transfer images give "
                f"{hard[0]['student test acc']:.1%} against {best_t['student test acc']:.1%} "
                f"for its soft targets at the best T: "
                + (
                    "the soft targets carry more than the extra images' labels."
                    if best_t["student test acc"] > hard[0]["student test acc"]
                    else "here the gain comes from the teacher labelling the extra images, not "
                    "from the softness of its targets."
                )
                if hard
                else ""
            ),
            f"Cost: the first teacher has {ratio:,.0f}x the student's parameters and takes "
            f"{lat:,.0f}x its latency per image; the distilled student keeps the student's size "
            f"and speed, and gets {np.mean(kd1) / max(t_acc[0], 1e-9):.0%} of the teacher's "
            f"accuracy.",
        ]
    )
    ctx.provenance(
        "weights",
        "teachers: real ImageNet-1k weights ("
        + "; ".join(_weights_source(t["name"]) for t in teachers)
        + "), last two layers fine-tuned in this run"
        + (" (cached from an earlier run)" if any(t["cached"] for t in teachers) else "")
        + f"; students: random initialisation (seeds {', '.join(map(str, cfg.seeds))}), "
        "trained in this run",
    )


def _weights_source(name: str) -> str:
    from nndl import weights

    w = weights.bundled_for(name)
    return f"{name} from package {w.package}" if w else f"{name} from the library's cache"


# == figures ======================================================================================


def _curves(out: dict, cfg: Config):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for (label, runs), colour in zip(out.items(), ("tab:grey", "tab:blue", "tab:red"), strict=True):
        for j, r in enumerate(runs):
            ys = r["history"].series("val_acc")
            ax.plot(
                [r["steps_per_epoch"] * (i + 1) for i in range(len(ys))],
                ys,
                color=colour,
                ls="-" if j == 0 else "--",
                label=f"{label} (seed {cfg.seeds[j]})",
            )
    ax.set(xlabel="optimizer steps (the same budget for every student)", ylabel="test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _teacher_curves(t: dict):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    epochs = [e["epoch"] for e in t["history"]]
    ax.plot(epochs, [e["train_acc"] for e in t["history"]], label="train")
    ax.plot(epochs, [e["val_acc"] for e in t["history"]], label="test")
    ax.set(xlabel="epoch", ylabel="accuracy", title=t["name"])
    ax.grid(alpha=0.3)
    ax.legend()
    return fig
