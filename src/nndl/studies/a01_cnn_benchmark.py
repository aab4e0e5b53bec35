"""a01: CNN benchmark, ten ImageNet CNNs on 20 CIFAR-100 classes.

Question: how do ten CNN families (VGG, ResNet, DenseNet, Inception, MobileNet v2/v3,
EfficientNet, ShuffleNet, SqueezeNet, RegNet, ConvNeXt) trade accuracy against parameters, size,
FLOPs, latency, throughput and memory when fine-tuned on 20 classes of CIFAR-100?

    nndl run a01                                    # quick: ~4 min on 2 idle cores
    nndl run a01 --profile full --dry-run           # the ten models, data, weights, cost
    nndl run a01 --profile full --data-root DATA    # ImageNet weights, CIFAR-100, native size

What to expect. quick: a small member of each family, trained FROM SCRATCH with one recipe
(AdamW, one-cycle, 3 epochs; SqueezeNet, which has no normalisation layer, at a lower peak rate)
on scikit-learn's real handwritten digits at 32x32, an embedded stand-in that this budget can
learn (on the rendered shapes the same recipe leaves every model at chance). Every model ends
well above chance (10%): ResNet-18, DenseNet-121, GoogLeNet and ConvNeXt-atto near 97-99%, the
depthwise models 60-85%, SqueezeNet ~45%. EfficientNet-Lite0 is trained twice with the same
recipe: from its real ImageNet weights (bundled in a package) ~92%, from random init ~64%.
The cost side is measured for real at that size: parameter counts equal fvcore's and
torchvision's published counts, FLOPs equal 2 x fvcore's multiply-adds, and the depthwise models
turn a far smaller share of the machine's matmul peak into FLOP/s than ResNet/DenseNet/GoogLeNet.
full: ImageNet weights, the head fine-tuned at each model's native resolution on CIFAR-100.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from nndl.config import opt
from nndl.data.cifar100 import DEFAULT_CLASSES
from nndl.registry import study

# the smallest registered member of ten families, except MobileNet v2 at width 1.0: at width 0.5
# (8-channel early layers) it stays near 30% on digits from scratch in this budget, at 1.0 ~60%
# for the same time (measured). VGG is left out of quick: VGG11-BN costs about seven ResNet-18s
# at 32x32 (129M parameters, mostly its 4096-wide classifier), so quick has SqueezeNet in its
# place; full benchmarks vgg16_bn.
QUICK_MODELS = (
    "resnet18",
    "densenet121",
    "googlenet",
    "mobilenetv2_100",
    "mobilenetv3_small_050",
    "efficientnet_b0",
    "shufflenet_v2_x0_5",
    "squeezenet1_1",
    "regnetx_002",
    "convnext_atto",
)
FULL_MODELS = (
    "vgg16_bn",
    "resnet50",
    "densenet121",
    "inception_v3",
    "mobilenetv2_100",
    "mobilenetv3_large_100",
    "efficientnet_b0",
    "shufflenet_v2_x1_0",
    "regnety_008",
    "convnext_tiny",
)


@dataclass(frozen=True)
class Config:
    models: tuple[str, ...] = opt(
        QUICK_MODELS, "timm/torchvision registered names (timm: or torchvision: picks the library)"
    )
    dataset: Literal["digits", "shapes", "cifar100"] = opt(
        "digits",
        "digits (embedded, real handwriting: learnable from scratch in quick's budget), "
        "shapes (embedded, rendered; harder), cifar100 (the real dataset)",
    )
    classes: tuple[str, ...] = opt(DEFAULT_CLASSES, "the CIFAR-100 fine classes (cifar100)")
    num_classes: Literal[10, 20] = opt(20, "shapes: 10 shapes, or 20 (shape x texture)")
    pretrained: bool = opt(False, "ImageNet weights (else random init, trained from scratch)")
    pretraining_pair: str = opt(
        "tf_efficientnet_lite0",
        "a model trained twice, same recipe: from its ImageNet weights and from random init "
        "('' = skip)",
    )
    weights_dir: str = opt(
        "",
        "folder of <model>.safetensors|.pth files used instead of the "
        "library's cache or a download",
    )
    input_size: int = opt(32, "input side in pixels; 0 = each model's native size")
    fine_tune: Literal["all", "head", "head+last_stage"] = opt("all", "which parameters train")
    num_train: int = opt(0, "training images (0 = all: digits 1,437, shapes 5,000)")
    num_test: int = opt(0, "test images (0 = all: digits 360, shapes 1,000)")
    num_epochs: int = opt(3, "passes over the training images, the same for every model")
    batch_size: int = opt(32, "mini-batch size")
    lr: float = opt(2e-3, "AdamW peak learning rate (one-cycle schedule)")
    lr_no_norm: float = opt(
        3e-4,
        "peak learning rate of networks without normalisation layers (SqueezeNet): from scratch "
        "at 2e-3 its final ReLU zeroes every logit within a few steps and it never leaves chance",
    )
    weight_decay: float = opt(0.05, "AdamW weight decay")
    bench_batch_size: int = opt(16, "the larger batch for latency and throughput")
    bench_warmup: int = opt(3, "untimed forward passes before timing")
    bench_repeats: int = opt(10, "timed forward passes (median and p90 reported)")

    PROFILES: ClassVar[dict] = {
        "smoke": {
            "models": ("shufflenet_v2_x0_5", "squeezenet1_1"),
            "num_train": 64,
            "num_test": 40,
            "num_epochs": 1,
            "bench_batch_size": 4,
            "bench_repeats": 3,
            "bench_warmup": 1,
        },
        "full": {
            "models": FULL_MODELS,
            "dataset": "cifar100",
            "pretrained": True,
            "input_size": 0,
            "fine_tune": "head",
            "num_train": 0,
            "num_test": 0,
            "num_epochs": 3,
            "batch_size": 64,
            "lr": 1e-3,
            "bench_batch_size": 32,
            "bench_warmup": 10,
            "bench_repeats": 50,
        },
    }

    def plan(self, data_root) -> list[str]:
        from nndl.models import zoo

        full_sizes = {"cifar100": (500 * len(self.classes), 100 * len(self.classes))}
        full_sizes.update(digits=(1437, 360), shapes=(5000, 1000))
        n_train = self.num_train or full_sizes[self.dataset][0]
        n_test = self.num_test or full_sizes[self.dataset][1]
        lines, total = [], 0.0
        for name in self.models:
            size = self.input_size or zoo.preprocessing(name).input_size
            flops = estimate_flops(name, size)
            # frozen backbone: one forward per image; training everything: ~3x (fwd + bwd)
            per_image = flops * (1 if self.fine_tune != "all" else 3)
            total += per_image * n_train * self.num_epochs + flops * n_test
            weights = ""
            if self.pretrained:
                found = zoo.weights_available(name, self.weights_dir)
                weights = (
                    f"; weights at {found}"
                    if found
                    else f"; weights not here, downloaded from {zoo.weights_source(name)}"
                )
            lines.append(
                f"{name} ({zoo.family(name)}): {size}x{size} input, "
                f"{flops / 1e9:.2f} GFLOPs/image{weights}"
            )
        lines.append(
            f"data: {self.dataset}, {n_train:,} train / {n_test:,} test images, "
            f"{self.num_epochs} epochs, fine-tune {self.fine_tune}"
        )
        lines.append(
            f"training + evaluation ~{total / 1e12:.1f} TFLOP: ~{total / 1e13 / 60:.1f} "
            f"min at 10 TFLOP/s (a GPU), ~{total / 2e10 / 3600:.1f} h at 20 GFLOP/s "
            "(a 2-core CPU); plus the benchmark"
        )
        return lines


def estimate_flops(name: str, size: int) -> int:
    """Forward FLOPs of one image, counted on the meta device (no memory, no arithmetic)."""
    import torch

    from nndl import bench
    from nndl.models import zoo

    model = zoo.build_on_meta(name, 1000)
    device = next(model.parameters()).device
    return bench.count_flops(model.eval(), torch.zeros(1, 3, size, size, device=device))


# -- data ------------------------------------------------------------------------------------------


def shapes_data(ctx, num_classes: int, num_train: int, num_test: int, size: int = 32):
    """The embedded shapes set, rendered once and kept in the artifact cache."""
    import numpy as np

    from nndl.data.synthetic.shapes import load_shapes

    key = {
        "num_classes": num_classes,
        "num_train": num_train,
        "num_test": num_test,
        "size": size,
        "seed": ctx.seed,
    }

    def render(folder):
        np.savez(
            folder / "shapes.npz",
            *load_shapes(num_classes, num_train, num_test, size, seed=ctx.seed),
        )

    folder, _ = ctx.cache.get_or_build("shapes", key, render)
    with np.load(folder / "shapes.npz") as f:
        return tuple(f[f"arr_{i}"] for i in range(4))


def load_data(cfg: Config, ctx, *, state_provenance: bool = True):
    """(x_train, y_train, x_test, y_test, class names): float32 NCHW in [0, 1], int64 labels."""
    say = ctx.provenance if state_provenance else (lambda what, text: None)
    if cfg.dataset == "cifar100":
        from nndl.data.cifar100 import load_cifar100

        x_tr, y_tr, x_te, y_te, names = load_cifar100(ctx.data_root, cfg.classes)
        x_tr, y_tr = x_tr[: cfg.num_train or None], y_tr[: cfg.num_train or None]
        x_te, y_te = x_te[: cfg.num_test or None], y_te[: cfg.num_test or None]
        say(
            "data",
            f"real CIFAR-100 from {ctx.data_root}: {len(names)} fine classes, "
            f"{len(x_tr):,} train / {len(x_te):,} test images",
        )
        return x_tr, y_tr, x_te, y_te, names
    from nndl.data.synthetic.shapes import class_names

    n_train, n_test = cfg.num_train or 5000, cfg.num_test or 1000
    if cfg.dataset == "digits":
        from nndl.data.digits import load_digits_28

        x_tr, y_tr, x_te, y_te = load_digits_28(seed=ctx.seed)
        x_tr, y_tr = _rgb(x_tr[: cfg.num_train or None]), y_tr[: cfg.num_train or None]
        x_te, y_te = _rgb(x_te[: cfg.num_test or None]), y_te[: cfg.num_test or None]
        say(
            "data",
            f"embedded stand-in for CIFAR-100: scikit-learn's real handwritten digits (10 "
            f"classes, 8x8 scans resized to 28x28, grey as RGB), {len(x_tr):,} train / "
            f"{len(x_te):,} test images",
        )
        return x_tr, y_tr, x_te, y_te, [str(d) for d in range(10)]
    k = cfg.num_classes
    x_tr, y_tr, x_te, y_te = shapes_data(ctx, k, n_train, n_test)
    say(
        "data",
        f"embedded stand-in for CIFAR-100: rendered shapes ({k} classes), 32x32, "
        f"{n_train:,} train / {n_test:,} test images",
    )
    return x_tr, y_tr, x_te, y_te, class_names(k)


def _rgb(x):
    """(N, H, W) grey -> (N, 3, H, W) float32."""
    import numpy as np

    return np.ascontiguousarray(np.repeat(x[:, None], 3, axis=1), dtype=np.float32)


# -- training --------------------------------------------------------------------------------------


def preprocess_step(size: int, mean, std):
    """A step function that resizes (B, 3, 32, 32) images in [0, 1] to the model's input size
    and normalises them with its mean/std, then takes the usual classification step."""
    import torch
    import torch.nn.functional as F

    from nndl.train import classification_step

    def prepare(x):
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        m = torch.tensor(mean, device=x.device).view(1, 3, 1, 1)
        s = torch.tensor(std, device=x.device).view(1, 3, 1, 1)
        return (x - m) / s

    def step(model, batch):
        x, y = batch
        return classification_step(model, (prepare(x), y))

    step.prepare = prepare
    return step


def input_size_of(cfg: Config, name: str) -> int:
    from nndl.models import zoo

    return cfg.input_size or zoo.preprocessing(name).input_size


def trained_model(
    ctx, cfg: Config, name: str, data, pretrained: bool | None = None, fine_tune: str = ""
) -> tuple:
    """(model, step function, info): trained with the shared loop, or found in the cache.

    The artifact key holds everything that changes the weights, so a02 (feature maps) and later
    runs reuse the same trained model.
    """
    import torch

    from nndl.models import zoo
    from nndl.train import ArrayData, TorchTrainable, fit

    x_tr, y_tr, _, _, names = data
    pretrained = cfg.pretrained if pretrained is None else pretrained
    fine_tune = fine_tune or cfg.fine_tune
    num_classes, size = len(names), input_size_of(cfg, name)
    pre = zoo.preprocessing(name)
    step = preprocess_step(size, pre.mean, pre.std)
    key = {
        "model": name,
        "dataset": cfg.dataset,
        "classes": list(cfg.classes) if cfg.dataset == "cifar100" else [cfg.dataset, len(names)],
        "num_train": len(x_tr),
        "size": size,
        "pretrained": pretrained,
        "fine_tune": fine_tune,
        "num_epochs": cfg.num_epochs,
        "batch_size": cfg.batch_size,
        "lr": cfg.lr,
        "weight_decay": cfg.weight_decay,
        "seed": ctx.seed,
    }

    def train(folder):
        torch.manual_seed(ctx.seed)  # each model's init is independent of the models before it
        weights_file = zoo.weights_file_in(cfg.weights_dir, name) if pretrained else None
        model = zoo.build(name, num_classes, pretrained=pretrained, weights_file=weights_file)
        train_names = zoo.trainable_names(model, name, num_classes, fine_tune)
        for pname, p in model.named_parameters():
            p.requires_grad_(pname in train_names)
        params = [p for p in model.parameters() if p.requires_grad]
        # frozen batch norms keep their (ImageNet) statistics: eval mode inside every train step
        frozen_norms = [
            m
            for m in model.modules()
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
            and not any(p.requires_grad for p in m.parameters(recurse=False))
        ]

        def train_step(model, batch):
            for m in frozen_norms:
                m.eval()
            return step(model, batch)

        lr = peak_lr(cfg, model)
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
        steps = cfg.num_epochs * -(-len(x_tr) // cfg.batch_size)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, lr, total_steps=steps, pct_start=0.25
        )
        trainable = TorchTrainable(
            model, optimizer, train_step, device=ctx.device, scheduler=scheduler
        )
        history = fit(
            trainable,
            ArrayData(torch.from_numpy(x_tr), torch.from_numpy(y_tr)),
            name=f"a01-{name}-{'in1k' if pretrained else 'scratch'}",
            num_epochs=cfg.num_epochs,
            batch_size=cfg.batch_size,
            seed=ctx.seed,
            checkpoint_dir=ctx.checkpoint_dir,
            resume=ctx.resume,
        )
        torch.save(model.state_dict(), folder / "model.pt")
        # the cached weights now serve a resumed run; the optimizer checkpoint is not needed
        (ctx.checkpoint_dir / f"a01-{name}-{'in1k' if pretrained else 'scratch'}.pt").unlink(
            missing_ok=True
        )
        return {
            "train_s": sum(history.epoch_seconds),
            "epochs": history.epochs,
            "trained_params": sum(p.numel() for p in params),
            "lr": lr,
        }

    folder, cached = ctx.cache.get_or_build(f"a01-{name}", key, train)
    model = zoo.build(name, num_classes)  # the architecture; the trained weights follow
    model.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
    return (
        model.to(ctx.device).eval(),
        step,
        {**ctx.cache.meta(folder), "cached": cached, "folder": str(folder)},
    )


def peak_lr(cfg: Config, model) -> float:
    """The recipe's learning rate: `lr`, or `lr_no_norm` for a network without any
    normalisation layer (nothing keeps its activations in range at the larger rate)."""
    import torch

    norms = (torch.nn.modules.batchnorm._NormBase, torch.nn.LayerNorm, torch.nn.GroupNorm)
    has_norm = any(isinstance(m, norms) for m in model.modules())
    return cfg.lr if has_norm else cfg.lr_no_norm


def predict(model, step, x, batch_size: int, device: str):
    """Predicted labels for float images x (N, 3, 32, 32)."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = torch.from_numpy(x[i : i + batch_size]).to(device)
            out.append(model(step.prepare(xb)).argmax(1).cpu())
    return torch.cat(out).numpy()


# -- measuring -------------------------------------------------------------------------------------


def measure(ctx, cfg: Config, name: str, model) -> tuple[dict, dict]:
    """(counts, timings) of one model with nndl.bench: batch 1 and the larger batch."""
    import torch

    from nndl import bench
    from nndl.methods import cnn_bench
    from nndl.models import zoo

    size = input_size_of(cfg, name)
    gen = torch.Generator().manual_seed(ctx.seed)
    counts, times = {}, {}
    for batch in (1, cfg.bench_batch_size):
        x = torch.rand(batch, 3, size, size, generator=gen)
        m = bench.benchmark_model(
            model, x, device=ctx.device, warmup=cfg.bench_warmup, repeats=cfg.bench_repeats
        )
        c, t = bench.split_timings(m)
        if batch == 1:  # per-image counts
            counts.update(params=c["params"], size_bytes=c["size_bytes"], flops=c["flops"])
        counts[f"b{batch}_peak_memory_bytes"] = c["peak_memory_bytes"]
        times.update({f"b{batch}_{k}": v for k, v in t.items()})
    # independent counts: fvcore, and the library's published count of the 1000-class model
    model_cpu = model.to("cpu")
    x1 = torch.rand(1, 3, size, size, generator=gen)
    counts.update(
        input_size=size,
        family=zoo.family(name),
        params_fvcore=cnn_bench.reference_params(model_cpu),
        flops_fvcore_x2=cnn_bench.reference_flops(model_cpu, x1),
        params_1000_classes=sum(p.numel() for p in zoo.build_on_meta(name, 1000).parameters()),
        params_library_1000=zoo.library_param_count(name),
    )
    model.to(ctx.device)
    return counts, times


# -- the study -------------------------------------------------------------------------------------


def check_weights(cfg: Config) -> None:
    """Full profile: every model's ImageNet weights are at hand or downloadable, else stop now."""
    from nndl import offline
    from nndl.errors import WeightsError
    from nndl.models import zoo

    if not cfg.pretrained or offline.online():
        return
    missing = [n for n in cfg.models if not zoo.weights_available(n, cfg.weights_dir)]
    if missing:
        raise WeightsError(zoo.missing_weights_message(missing, cfg.weights_dir))


@study(
    "a01",
    "cnn-benchmark",
    "CNN benchmark: ten ImageNet CNNs on 20 CIFAR-100 classes",
    config=Config,
    datasets=("shapes", "cifar100"),
    headline=("best_model", "best_top1"),
)
def run(ctx) -> None:
    cfg: Config = ctx.config
    check_config(cfg)
    data = load_data(cfg, ctx)
    peak = machine_peak(ctx)
    results = {name: train_and_measure(ctx, cfg, data, name, cfg.pretrained) for name in cfg.models}
    pair = pretraining_pair(ctx, cfg, data)
    rows = benchmark_rows(ctx, cfg, {**results, **pair}, peak)
    setup_section(ctx, cfg, data, peak)
    results_section(ctx, cfg, data, rows, {**results, **pair})
    pretraining_section(ctx, cfg, pair, data)
    ranking_section(ctx, cfg, rows, len(data[4]))


def check_config(cfg: Config) -> None:
    """Unknown model names and missing ImageNet weights fail here, before anything runs."""
    from nndl.models import zoo

    for name in cfg.models:
        zoo.resolve(name)
    if cfg.pretraining_pair:
        zoo.resolve(cfg.pretraining_pair)
        if zoo.cached_weights(cfg.pretraining_pair) is None:
            from nndl.errors import WeightsError

            raise WeightsError(
                f"pretraining_pair '{cfg.pretraining_pair}' needs ImageNet weights on this "
                f"machine; `nndl weights` lists the bundled ones (tf_efficientnet_lite0), or "
                f"--set pretraining_pair= skips the comparison."
            )
    check_weights(cfg)


def machine_peak(ctx) -> float:
    from nndl.methods import cnn_bench

    with ctx.timer("matmul_peak_s"):
        peak = cnn_bench.matmul_peak(device=ctx.device)
    ctx.timings["matmul_peak_flop_s"] = peak
    return peak


def train_and_measure(
    ctx, cfg: Config, data, name: str, pretrained: bool, label: str = "", fine_tune: str = ""
):
    """Train (or load from the cache), test and benchmark one model: its result dict."""
    import numpy as np

    _, _, x_te, y_te, class_names = data
    label = label or name
    model, step, info = trained_model(ctx, cfg, name, data, pretrained, fine_tune)
    y_pred = predict(model, step, x_te, cfg.batch_size, ctx.device)
    k = len(class_names)  # confusion matrix: rows true class, columns predicted
    cm = np.bincount(y_te * k + y_pred, minlength=k * k).reshape(k, k)
    class_acc = cm.diagonal() / np.maximum(cm.sum(1), 1)
    counts, times = measure(ctx, cfg, name, model)
    ctx.timings[label] = {**times, "train_s": info["train_s"], "from_cache": info["cached"]}
    result = {
        "top1": float((y_pred == y_te).mean()),
        "per_class_mean": float(class_acc.mean()),
        "per_class_min": float(class_acc.min()),
        **counts,
        "trained_params": info["trained_params"],
        "pretrained": pretrained,
        "final_train_acc": info["epochs"][-1].get("train_acc") if info["epochs"] else None,
    }
    ctx.metrics.setdefault("models", {})[label] = result
    return {**result, "per_class": class_acc, "confusion": cm}


def pretraining_pair(ctx, cfg: Config, data) -> dict:
    """The same model and recipe from its real ImageNet weights and from random init; every
    parameter trains in both (a random backbone with only its head trained says nothing)."""
    if not cfg.pretraining_pair:
        return {}
    name = cfg.pretraining_pair
    return {
        f"{name} ({init} init)": train_and_measure(
            ctx, cfg, data, name, init == "ImageNet", f"{name} ({init} init)", "all"
        )
        for init in ("ImageNet", "random")
    }


def benchmark_rows(ctx, cfg: Config, results: dict, peak: float) -> list[dict]:
    import torch

    bb, threads = cfg.bench_batch_size, torch.get_num_threads()
    rows = []
    for label, r in results.items():
        t = ctx.timings[label]
        achieved = r["flops"] * bb / (t[f"b{bb}_latency_median_ms"] / 1e3)
        t["achieved_flop_s"] = achieved
        rows.append(
            {
                "model": label,
                "family": r["family"],
                "init": "ImageNet" if r["pretrained"] else "random",
                "top-1 %": 100 * r["top1"],
                "per-class mean %": 100 * r["per_class_mean"],
                "per-class min %": 100 * r["per_class_min"],
                "params": r["params"],
                "size MB": r["size_bytes"] / 1e6,
                "MFLOPs": r["flops"] / 1e6,
                "b1 median ms": t["b1_latency_median_ms"],
                "b1 p90 ms": t["b1_latency_p90_ms"],
                f"b{bb} median ms": t[f"b{bb}_latency_median_ms"],
                f"b{bb} p90 ms": t[f"b{bb}_latency_p90_ms"],
                "images/s": t[f"b{bb}_throughput_per_s"],
                "peak MB b1": r["b1_peak_memory_bytes"] / 1e6,
                f"peak MB b{bb}": r[f"b{bb}_peak_memory_bytes"] / 1e6,
                "% of matmul peak": 100 * achieved / peak,
                "threads": threads,
            }
        )
    ctx.metrics["num_models"] = len(rows)
    return rows


def setup_section(ctx, cfg: Config, data, peak: float) -> None:
    import torch

    x_tr, _, x_te, _, class_names = data
    rep, bb = ctx.report, cfg.bench_batch_size
    ctx.provenance(
        "weights",
        (
            f"ImageNet-pretrained (timm / torchvision), {cfg.fine_tune} fine-tuned in this run "
            f"for {_plural(cfg.num_epochs, 'epoch')}"
            if cfg.pretrained
            else f"the {len(cfg.models)} models: random initialisation, trained FROM SCRATCH in "
            f"this run ({_plural(cfg.num_epochs, 'epoch')} on {len(x_tr):,} images), NOT "
            "ImageNet-pretrained: accuracies are not comparable to the full profile"
        )
        + (
            f"; {cfg.pretraining_pair}: once from its real ImageNet weights "
            f"({_weights_source(cfg.pretraining_pair)}) and once from random init, same recipe"
            if cfg.pretraining_pair
            else ""
        ),
    )
    size = cfg.input_size or "native"
    rep.section("Setup")
    rep.text(
        f"{len(cfg.models)} models, {len(class_names)} classes, {len(x_tr):,} training and "
        f"{len(x_te):,} test images at {size} px. Every model is trained with the same recipe: "
        f"AdamW (peak lr {cfg.lr}, weight decay {cfg.weight_decay}, one-cycle schedule), batch "
        f"{cfg.batch_size}, {_plural(cfg.num_epochs, 'epoch')}, parameters trained: "
        f"{cfg.fine_tune}, no augmentation; the test images are only used once, after training."
    )
    if not cfg.pretrained:
        rep.text(
            f"Quick profile: the models start from RANDOM weights and see "
            f"{len(x_tr) * cfg.num_epochs:,} images in total, on an embedded stand-in that such "
            f"a budget can learn (chance: {1 / len(class_names):.0%}). The accuracies rank how "
            "fast each architecture learns from scratch on little data, not what it reaches "
            "fine-tuned from ImageNet (`--profile full`); the cost columns are real measurements "
            "at this input size."
        )
    threads = torch.get_num_threads()
    rep.text(
        f"Measured in one process on {ctx.device} with {threads} torch threads: latency is the "
        f"median (and 90th percentile) of {cfg.bench_repeats} forward passes after "
        f"{cfg.bench_warmup} warm-up passes, at batch 1 and batch {bb}; throughput = batch "
        f"{bb} / median latency. {_flop_convention()} This machine's measured float32 matmul "
        f"peak is {peak / 1e9:.1f} GFLOP/s (1024x1024 products, median of 10); the last column is "
        f"the achieved FLOP/s at batch {bb} as a share of it. Peak memory is the {_memory_note()}."
    )


def results_section(ctx, cfg: Config, data, rows, results) -> None:
    class_names = data[4]
    rep = ctx.report
    size = cfg.input_size or "native"
    rep.section("Results")
    rep.table(
        rows,
        "benchmark",
        f"One row per model (accuracy on the test images; costs per forward pass at {size} px)",
    )
    _checks(rep, {k: v for k, v in results.items() if k in cfg.models})
    rep.figure(
        _scatter(rows, "b1 median ms", "latency at batch 1 (ms, median)"),
        "accuracy_vs_latency",
        "Top-1 accuracy against latency (batch 1)",
    )
    rep.figure(
        _scatter(rows, "size MB", "size on disk (MB)"),
        "accuracy_vs_size",
        "Top-1 accuracy against size on disk",
    )
    per_class = {k: r["per_class"] for k, r in results.items()}
    rep.figure(
        _per_class_heatmap(per_class, class_names),
        "per_class_accuracy",
        "Per-class test accuracy of every model",
    )
    rep.table(
        [
            {"model": n, **{c: float(a) for c, a in zip(class_names, acc, strict=True)}}
            for n, acc in per_class.items()
        ],
        "per_class_accuracy",
        "Per-class accuracy (also in tables/per_class_accuracy.csv)",
    )
    best = max(rows, key=lambda r: (r["top-1 %"], -r["b1 median ms"]))["model"]
    ctx.metrics.update(best_model=best, best_top1=results[best]["top1"])
    rep.figure(
        _confusion(results[best]["confusion"], class_names, best),
        "confusion_best",
        f"Confusion matrix of the most accurate model, {best}",
    )


def pretraining_section(ctx, cfg: Config, pair: dict, data) -> None:
    if not pair:
        return
    (pre_label, pre), (scratch_label, scratch) = pair.items()
    gap = 100 * (pre["top1"] - scratch["top1"])
    ctx.metrics["pretraining_gain_points"] = gap
    rep = ctx.report
    rep.section("What ImageNet pretraining buys")
    rep.table(
        [
            {
                "model": label,
                "top-1 %": 100 * r["top1"],
                "per-class min %": 100 * r["per_class_min"],
                "final train accuracy %": None
                if r["final_train_acc"] is None
                else 100 * r["final_train_acc"],
            }
            for label, r in pair.items()
        ],
        "pretraining",
        f"{cfg.pretraining_pair}, same data and recipe (every parameter trained), two "
        "initialisations",
    )
    rep.bullets(
        [
            f"{cfg.pretraining_pair} fine-tuned from its real ImageNet weights reaches "
            f"{100 * pre['top1']:.1f}% top-1; from random initialisation, with the same recipe "
            f"and the same {len(data[0]):,} images, {100 * scratch['top1']:.1f}%: pretraining "
            f"is worth {gap:+.1f} points here (chance {100 / len(data[4]):.0f}%)."
        ]
    )


def ranking_section(ctx, cfg: Config, rows, num_classes: int) -> None:
    rep = ctx.report
    rep.section("Ranking and trade-offs")
    ranking = _ranking(rows)
    rep.table(
        ranking,
        "ranking",
        "Ranked by top-1 accuracy; costs relative to the most accurate "
        "model; Pareto = no other model is both more accurate and faster",
    )
    rep.bullets(_tradeoffs(rows, ranking, num_classes, cfg.pretrained, cfg.bench_batch_size))


def _weights_source(name: str) -> str:
    from nndl import weights
    from nndl.models import zoo

    bundled = weights.bundled_for(name)
    return f"bundled in the package {bundled.package}" if bundled else str(zoo.cached_weights(name))


def _flop_convention() -> str:
    from nndl.bench import FLOP_CONVENTION

    return FLOP_CONVENTION


def _memory_note() -> str:
    return (
        "bytes of tensors allocated during one forward pass (activations, outputs, "
        "temporaries; parameters excluded), tracked per operator on CPU, "
        "torch.cuda.max_memory_allocated on CUDA"
    )


def _checks(rep, results: dict) -> None:
    """Parameters and FLOPs against independent counts (fvcore; torchvision's weights meta)."""
    rows = []
    for name, r in results.items():
        rows.append(
            {
                "model": name,
                "params (nndl.bench)": r["params"],
                "params (fvcore)": r["params_fvcore"],
                "equal": r["params"] == r["params_fvcore"],
                "params, 1000 classes": r["params_1000_classes"],
                "library's count": r["params_library_1000"],
                "FLOPs (nndl.bench)": r["flops"],
                "2 x fvcore MACs": r["flops_fvcore_x2"],
                "ratio": r["flops"] / r["flops_fvcore_x2"]
                if r["flops_fvcore_x2"]
                else float("nan"),
            }
        )
    rep.table(
        rows,
        "count_checks",
        "Counts against independent counters: fvcore (parameters, "
        "and multiply-adds of convolutions and matrix products: 1 fvcore flop = 1 "
        "multiply-add = 2 FLOPs here) and, for torchvision models, the parameter count "
        "published with the 1000-class weights",
    )
    ok_p = all(r["equal"] for r in rows)
    lib = [r for r in rows if r["library's count"] is not None]
    ok_lib = all(r["params, 1000 classes"] == r["library's count"] for r in lib)
    worst = max(abs(r["ratio"] - 1) for r in rows)
    rep.text(
        f"Parameter counts {'equal' if ok_p else 'DIFFER FROM'} fvcore's for every model"
        + (
            f", and the 1000-class counts {'equal' if ok_lib else 'DIFFER FROM'} torchvision's "
            f"published counts for its {len(lib)} model(s)"
            if lib
            else ""
        )
        + f"; FLOPs agree with 2 x fvcore's multiply-adds within {worst:.2%}."
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _ranking(rows: list[dict]) -> list[dict]:
    ranked = sorted(rows, key=lambda r: (-r["top-1 %"], r["b1 median ms"]))
    best = ranked[0]
    out = []
    for i, r in enumerate(ranked, 1):
        pareto = not any(
            o["top-1 %"] >= r["top-1 %"] and o["b1 median ms"] < r["b1 median ms"] and o is not r
            for o in rows
        )
        out.append(
            {
                "rank": i,
                "model": r["model"],
                "top-1 %": r["top-1 %"],
                "points behind best": best["top-1 %"] - r["top-1 %"],
                "b1 latency ms": r["b1 median ms"],
                "x faster than best": best["b1 median ms"] / r["b1 median ms"],
                "size MB": r["size MB"],
                "x smaller than best": best["size MB"] / r["size MB"],
                "MFLOPs": r["MFLOPs"],
                "Pareto": pareto,
            }
        )
    return out


def _tradeoffs(rows, ranking, num_classes: int, pretrained: bool, bb: int) -> list[str]:
    by = {r["model"]: r for r in rows}
    best = by[ranking[0]["model"]]
    fastest = min(rows, key=lambda r: r["b1 median ms"])
    smallest = min(rows, key=lambda r: r["size MB"])
    thrifty = max(rows, key=lambda r: r["% of matmul peak"])
    lean = min(rows, key=lambda r: r["% of matmul peak"])
    pareto = [r["model"] for r in ranking if r["Pareto"]]
    acc = [r["top-1 %"] for r in rows]

    def versus(other, what: str, ratio: float) -> str:
        if other is best:
            return f"{best['model']} is also the {what}"
        return (
            f"{ratio:.1f}x {'faster' if what == 'fastest' else 'smaller'} than "
            f"{best['model']}, for {best['top-1 %'] - other['top-1 %']:.1f} points less top-1"
        )

    return [
        f"Most accurate: {best['model']} at {best['top-1 %']:.1f}% top-1, "
        f"{best['b1 median ms']:.1f} ms per image at batch 1, {best['size MB']:.1f} MB, "
        f"{best['MFLOPs']:.0f} MFLOPs.",
        f"Fastest: {fastest['model']}, {fastest['b1 median ms']:.1f} ms at batch 1 ("
        + versus(fastest, "fastest", best["b1 median ms"] / fastest["b1 median ms"])
        + ").",
        f"Smallest: {smallest['model']}, {smallest['size MB']:.2f} MB ("
        + versus(smallest, "smallest", best["size MB"] / smallest["size MB"])
        + ").",
        f"Pareto-optimal for accuracy against latency: {', '.join(pareto)}.",
        f"FLOPs are not latency: {thrifty['model']} turns {thrifty['% of matmul peak']:.1f}% of "
        f"the matmul peak into useful FLOP/s at batch {bb}, {lean['model']} only "
        f"{lean['% of matmul peak']:.2f}% (depthwise and small convolutions are memory-bound).",
    ] + (
        []
        if pretrained
        else [
            f"Trained from random weights, accuracies span {min(acc):.1f}% to {max(acc):.1f}% "
            f"(chance {100 / num_classes:.0f}%; the weakest is {min(acc) / (100 / num_classes):.1f}x "
            "chance): this ranks how quickly each architecture learns a small, easy dataset from "
            "scratch, which favours the dense, well-normalised designs over the thin depthwise "
            "ones; fine-tuned from ImageNet (full profile) the order changes."
        ]
    )


# -- figures ---------------------------------------------------------------------------------------


def _scatter(rows, key: str, xlabel: str):
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


def _per_class_heatmap(per_class: dict, class_names: list[str]):
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


def _confusion(cm, class_names: list[str], name: str):
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
