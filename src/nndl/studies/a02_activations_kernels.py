"""a02: Activations, kernel types, feature maps.

Questions: (1) which activation function does each of the ten a01 CNNs use, and what changes when
one architecture is trained the same way under other activations? (2) which registered CNNs use
regular, dilated, depthwise-separable, modified depthwise-separable (inverted residual, ghost,
shuffle), pointwise and deformable kernels, and what does each kernel type cost for the same
input and output shape? (3) what do the feature maps of one CNN look like at several depths, and
how large is the receptive field there?

    nndl run a02                                  # quick: ~3.5 min on 2 idle cores
    nndl run a02 --profile full --data-root DATA  # every registered timm/torchvision model scanned

What to expect: the inventory is read from the models' graphs (ReLU for the classic CNNs, ReLU6
for MobileNet v2, Hardswish for MobileNet v3, SiLU for EfficientNet, GELU for ConvNeXt, with
Sigmoid/Hardsigmoid gates in squeeze-excitation blocks). The quick activation study (RegNetX-200MF
on the real scikit-learn digits, 8 epochs, 3 seeds each) ends near 90% test accuracy for ReLU,
ELU, GELU, SiLU and Tanh, whose differences stay within the seed-to-seed spread; Hardswish starts
slowest and trails (after 5 epochs it was 78% +- 4, 12 points behind). No timm or torchvision model contains a deformable convolution: the layer is
measured on its own and is an order of magnitude slower than a regular 3x3 convolution on a CPU.
Ghost, shuffle and depthwise-separable blocks need 8-16x fewer FLOPs than a regular 3x3
convolution of the same shape but run only 2-5x faster. The feature maps are those of the real
ImageNet EfficientNet-Lite0 on a photograph of a cat (which it calls a tiger cat).
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from nndl.config import opt
from nndl.errors import ConfigError, did_you_mean
from nndl.registry import study

MIN_CONVS = 3  # fewer convolutions than this: not counted as a CNN in the kernel-type summary
ACTIVATIONS = ("ReLU", "ELU", "GELU", "SiLU", "Hardswish", "Tanh")

# quick: the torchvision classifiers of the families with special kernels, its segmentation
# models (dilated backbones), and a few timm families (ghost, selective-kernel, MobileNet v1,
# Xception); full scans every registered model of both libraries
QUICK_SCAN = (
    "torchvision:resnet18",
    "torchvision:googlenet",
    "torchvision:mobilenet_v2",
    "torchvision:mobilenet_v3_small",
    "torchvision:efficientnet_b0",
    "torchvision:shufflenet_v2_*",
    "torchvision:squeezenet1_1",
    "torchvision:convnext_tiny",
    "torchvision.segmentation:*",
    "timm:ghostnet_*",
    "timm:skresnet*",
    "timm:mobilenetv1_100",
    "timm:xception41",
)


@dataclass(frozen=True)
class Config:
    dataset: Literal["digits", "shapes", "cifar100"] = opt(
        "digits", "data of the activation study: digits / shapes (embedded), cifar100 (real)"
    )
    activation_model: str = opt("regnetx_002", "the architecture trained under every activation")
    activations: tuple[str, ...] = opt(ACTIVATIONS, "torch.nn activation classes to compare")
    input_size: int = opt(24, "input side in pixels for the activation study")
    num_train: int = opt(800, "training images (0 = all)")
    num_test: int = opt(0, "test images (0 = all)")
    num_epochs: int = opt(8, "passes over the training images, the same for every activation")
    seeds: tuple[int, ...] = opt(
        (0, 1, 2), "each activation is trained once per seed (initial weights, batch order)"
    )
    batch_size: int = opt(32, "mini-batch size")
    lr: float = opt(3e-3, "AdamW peak learning rate (one-cycle schedule)")
    scan: tuple[str, ...] = opt(QUICK_SCAN, "models scanned for kernel types (LIBRARY:GLOB)")
    kernel_channels: int = opt(64, "channels in and out of every kernel-type layer")
    kernel_hw: int = opt(32, "height and width of the kernel-type input")
    kernel_batch: int = opt(8, "batch of the kernel-type input")
    kernel_repeats: int = opt(10, "timed passes per kernel type (median reported)")
    feature_model: str = opt(
        "tf_efficientnet_lite0", "ImageNet-pretrained model whose feature maps are shown"
    )
    feature_photo: str = opt("chelsea", "the bundled photograph shown to it (nndl.data.photos)")
    feature_image_size: int = opt(0, "side of the image shown to it (0 = the model's native)")
    feature_channels: int = opt(16, "channels shown per depth (the most active ones)")

    def __post_init__(self):
        usable = drop_in_activations()
        for name in self.activations:
            if name not in usable:
                raise ConfigError(
                    f"'{name}' is not a torch.nn activation that can replace ReLU in place."
                    f"{did_you_mean(name, usable)}"
                )

    PROFILES: ClassVar[dict] = {
        "smoke": {
            "activations": ("ReLU", "GELU"),
            "num_train": 64,
            "num_test": 64,
            "num_epochs": 1,
            "activation_model": "squeezenet1_1",
            "scan": (
                "torchvision:shufflenet_v2_x0_5",
                "timm:ghostnet_050",
                "torchvision:mobilenet_v2",
            ),
            "kernel_channels": 16,
            "kernel_hw": 16,
            "kernel_batch": 2,
            "seeds": (0,),
            "feature_image_size": 64,
            "feature_channels": 4,
        },
        "full": {
            "dataset": "cifar100",
            "activation_model": "resnet18",
            "activations": (
                "ReLU",
                "LeakyReLU",
                "ELU",
                "GELU",
                "SiLU",
                "Hardswish",
                "Mish",
                "Tanh",
            ),
            "input_size": 32,
            "num_train": 0,
            "num_epochs": 15,
            "seeds": (0, 1, 2),
            "batch_size": 128,
            "lr": 2e-3,
            "scan": ("timm:*", "torchvision:*", "torchvision.segmentation:*"),
            "kernel_hw": 56,
            "kernel_batch": 32,
            "feature_model": "resnet50",
            "feature_image_size": 0,
        },
    }

    def plan(self, data_root) -> list[str]:
        from nndl.models import zoo

        sizes = {p: len(a01_config(p).models) for p in ("quick", "full")}
        return [
            f"inventory: a01's model list of the same profile ({sizes['quick']} models in quick, "
            f"{sizes['full']} in full)",
            f"activation study: {self.activation_model} x {len(self.activations)} activations, "
            f"{self.num_epochs} epochs on {self.dataset}",
            f"kernel scan: {len(zoo.registered_names(self.scan))} registered models",
            f"activation seeds: {', '.join(map(str, self.seeds))} "
            f"({len(self.activations) * len(self.seeds)} trainings)",
            f"feature maps: {self.feature_model} with ImageNet weights on the photo "
            f"'{self.feature_photo}'",
        ]


def a01_config(profile: str):
    """a01's config for this profile: the inventory reuses its model list, not a copy."""
    from nndl.config import resolve
    from nndl.studies.a01_cnn_benchmark import Config as A01Config

    return resolve(A01Config, profile)


# -- data ------------------------------------------------------------------------------------------


def load_activation_data(cfg: Config, ctx):
    """(x_train, y_train, x_test, y_test, num_classes): RGB float32 NCHW at input_size."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    if cfg.dataset == "digits":
        from nndl.data.digits import load_digits_28

        x_tr, y_tr, x_te, y_te = load_digits_28(seed=ctx.seed)
        x_tr, x_te = x_tr[:, None].repeat(3, 1), x_te[:, None].repeat(3, 1)  # grey -> RGB
        source, num_classes = "embedded: scikit-learn's real handwritten digits, 10 classes", 10
    elif cfg.dataset == "shapes":
        from nndl.studies.a01_cnn_benchmark import shapes_data

        n_train, n_test = cfg.num_train or 5000, cfg.num_test or 1000
        x_tr, y_tr, x_te, y_te = shapes_data(ctx, 20, n_train, n_test)
        source, num_classes = "embedded: rendered shapes, 20 classes", 20
    else:
        from nndl.data.cifar100 import DEFAULT_CLASSES, load_cifar100

        x_tr, y_tr, x_te, y_te, names = load_cifar100(ctx.data_root, DEFAULT_CLASSES)
        source, num_classes = f"real CIFAR-100 from {ctx.data_root}, {len(names)} classes", 20
    x_tr, y_tr = x_tr[: cfg.num_train or None], y_tr[: cfg.num_train or None]
    x_te, y_te = x_te[: cfg.num_test or None], y_te[: cfg.num_test or None]

    def resize(x):
        x = torch.from_numpy(np.ascontiguousarray(x))
        if x.shape[-1] != cfg.input_size:
            x = F.interpolate(x, size=cfg.input_size, mode="bilinear", align_corners=False)
        return ((x - 0.5) / 0.25).float()  # roughly zero-mean, unit-variance pixels

    ctx.provenance(
        "data",
        f"activation study: {source}, {len(x_tr):,} train / {len(x_te):,} test "
        f"images at {cfg.input_size} px",
    )
    return resize(x_tr), torch.from_numpy(y_tr), resize(x_te), torch.from_numpy(y_te), num_classes


# -- (1) activations -------------------------------------------------------------------------------


def inventory(names: list[str]) -> list[dict]:
    """The activations of each model, read from its module graph and the operators it runs."""
    from nndl.methods import kernels
    from nndl.models import zoo

    rows = []
    for name in names:
        result = kernels.scan(zoo.build_on_meta(name), zoo.preprocessing(name).input_size)
        gates = sorted(k for k in result.activation_ops if k in kernels.GATES)
        rows.append(
            {
                "model": name,
                "family": zoo.family(name),
                "main activation": result.main_activation(),
                "activation modules": _counts(result.activation_modules)
                or "none (functional calls)",
                "activation operators run": _counts(result.activation_ops),
                "gates": ", ".join(gates) or "-",
            }
        )
    return rows


def _counts(counter) -> str:
    return ", ".join(f"{k} x{v}" for k, v in counter.most_common())


def layer_statistics(model, x, y, activation: str) -> list[dict]:
    """Per activation layer, on one batch: output mean/std, share of exact zeros, and the RMS of
    d loss / d output (the gradient arriving at that layer)."""
    import torch.nn.functional as F

    from nndl.methods import kernels

    stats, handles = [], []

    def hook(index):
        def fn(module, args, out):
            row = {
                "layer": index,
                "activation": activation,
                "mean": out.mean().item(),
                "std": out.std().item(),
                "zeros": (out == 0).float().mean().item(),
            }
            stats.append(row)
            if out.requires_grad:
                out.register_hook(
                    lambda g: row.__setitem__("grad_rms", g.pow(2).mean().sqrt().item())
                )

        return fn

    acts = [
        m
        for m in model.modules()
        if kernels.is_activation_module(m) and type(m).__name__ not in kernels.GATES
    ]
    handles = [m.register_forward_hook(hook(i)) for i, m in enumerate(acts)]
    try:
        model.train()  # batch statistics, as during training
        F.cross_entropy(model(x), y).backward()
        model.zero_grad(set_to_none=True)
    finally:
        for h in handles:
            h.remove()
    return stats


@functools.cache
def drop_in_activations() -> tuple[str, ...]:
    """The torch.nn activation classes that build without arguments and keep the shape of their
    input: the ones that can replace a ReLU module (not Softmax/Softmin over a dimension, not GLU)."""
    import inspect

    import torch

    x = torch.linspace(-2, 2, 16).view(1, 4, 2, 2)
    usable = []
    for name, cls in vars(torch.nn.modules.activation).items():
        if (
            not (inspect.isclass(cls) and issubclass(cls, torch.nn.Module))
            or "softm" in name.lower()
        ):
            continue
        try:
            out = cls()(x)
        except Exception:  # needs arguments, or is not element-wise
            continue
        if isinstance(out, torch.Tensor) and out.shape == x.shape:
            usable.append(name)
    return tuple(usable)


def train_with_activation(ctx, cfg: Config, data, activation: str, seed: int) -> dict:
    """Train `activation_model` with every activation module replaced by `activation`; `seed`
    sets the initial weights and the batch order (the same for every activation)."""
    import torch

    from nndl import bench
    from nndl.methods import kernels
    from nndl.models import zoo
    from nndl.train import ArrayData, TorchTrainable, classification_step, fit

    x_tr, y_tr, x_te, y_te, num_classes = data
    torch.manual_seed(seed)  # the same initial weights for every activation
    model = zoo.build(cfg.activation_model, num_classes)
    factory = getattr(torch.nn, activation)
    replaced = kernels.swap_activations(model, factory)
    # read the graph back: the new activation runs, the old one no longer does
    check = kernels.scan(_on_meta(model), cfg.input_size)
    losses = []

    def step(model, batch):  # the usual step, recording every training loss for the curves
        loss, logs = classification_step(model, batch)
        if model.training:
            losses.append(logs["loss"])
        return loss, logs

    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.05)
    steps = cfg.num_epochs * -(-len(x_tr) // cfg.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, cfg.lr, total_steps=steps, pct_start=0.25
    )
    trainable = TorchTrainable(model, optimizer, step, device=ctx.device, scheduler=scheduler)
    history = fit(
        trainable,
        ArrayData(x_tr, y_tr),
        ArrayData(x_te, y_te),
        name=f"a02-{activation}-s{seed}",
        num_epochs=cfg.num_epochs,
        batch_size=cfg.batch_size,
        seed=seed,
        checkpoint_dir=ctx.checkpoint_dir,
        resume=ctx.resume,
    )
    model.to("cpu")
    final_stats = layer_statistics(
        model, x_te[: cfg.batch_size], y_te[: cfg.batch_size], activation
    )
    model.eval()
    xb = x_te[: cfg.batch_size]
    act = factory()
    gen = torch.Generator().manual_seed(ctx.seed)
    values = torch.randn(16, 64, 32, 32, generator=gen)  # 2**20 values
    with torch.no_grad():
        lat = bench.latency(lambda: model(xb), warmup=2, repeats=10)
        act_lat = bench.kernel_time(lambda: act(values))  # blocks of calls, threads stated
    return {
        "activation": activation,
        "replaced": replaced,
        "ops": dict(check.activation_ops),
        "history": history,
        "losses": losses,
        "epoch_seconds": list(history.epoch_seconds),
        "final_stats": final_stats,
        "latency_ms": lat.median_ms,
        "activation_ms": act_lat.median_ms,
    }


def _on_meta(model):
    import copy

    return copy.deepcopy(model).to("meta")


# -- (2) kernel types ------------------------------------------------------------------------------


def scan_registered(patterns) -> tuple[list[dict], list[str]]:
    """One row of kernel-type counts per registered model matching `patterns`; failures listed."""
    from nndl.methods import kernels
    from nndl.models import zoo

    rows, failed = [], []
    for name in zoo.registered_names(patterns):
        try:
            model = zoo.build_on_meta(name)
            result = kernels.scan(model, min(zoo.preprocessing(name).input_size, 520))
        except Exception as e:  # noqa: BLE001 - a model this scanner cannot build is reported
            failed.append(f"{name} ({type(e).__name__})")
            continue
        rows.append(
            {
                "model": name,
                "family": zoo.family(name),
                **result.kernel_types(),
                **{k: result.blocks[k] for k in kernels.MODIFIED_DS},
                "grouped": result.conv_kinds["grouped"],
                "depthwise": result.conv_kinds["depthwise"],
                "main activation": result.main_activation(),
                "convolutions": sum(v for k, v in result.conv_kinds.items() if k != "linear"),
                "traced": result.traced,
            }
        )
        del model
    return rows, failed


def measure_kernel_types(ctx, cfg: Config) -> tuple[list[dict], dict]:
    """Params, FLOPs, latency and peak memory of each kernel type, same input and output shape."""
    import torch

    from nndl import bench
    from nndl.methods import kernels

    kernels.register_deform_conv_flops()
    torch.manual_seed(ctx.seed)
    c, hw, b = cfg.kernel_channels, cfg.kernel_hw, cfg.kernel_batch
    x = torch.randn(b, c, hw, hw)
    rows, times = [], {}
    for name, layer in kernels.kernel_type_layers(c).items():
        m = bench.benchmark_model(layer, x, device=ctx.device, warmup=3, repeats=cfg.kernel_repeats)
        counts, t = bench.split_timings(m)
        rows.append(
            {
                "kernel type": name,
                "params": counts["params"],
                "MFLOPs": counts["flops"] / 1e6,
                "peak memory MB": counts["peak_memory_bytes"] / 1e6,
                "median ms": t["latency_median_ms"],
                "p90 ms": t["latency_p90_ms"],
            }
        )
        times[name] = t
    regular = rows[0]
    for r in rows:
        r["FLOPs vs regular"] = r["MFLOPs"] / regular["MFLOPs"]
        r["time vs regular"] = r["median ms"] / regular["median ms"]
    return rows, times


# -- (3) feature maps ------------------------------------------------------------------------------


def feature_layers(model) -> list[str]:
    """One module per resolution: timm's feature_info stages, else each top-level child that
    changes the spatial size (found with a meta forward pass)."""
    info = getattr(model, "feature_info", None)
    if isinstance(info, list) and info and "module" in info[0]:
        return [i["module"] for i in info]
    import torch

    m = _on_meta(model).eval()
    sizes, handles = {}, []
    body = dict(m.named_children()).get("features", m)
    prefix = "features." if body is not m else ""
    for n, child in body.named_children():
        handles.append(
            child.register_forward_hook(
                lambda mod, a, o, n=n: (
                    sizes.__setitem__(n, tuple(o.shape[-2:]))
                    if isinstance(o, torch.Tensor) and o.dim() == 4
                    else None
                )
            )
        )
    with torch.no_grad():
        m(torch.zeros(1, 3, 64, 64, device="meta"))
    for h in handles:
        h.remove()
    names, last = [], None
    for n, size in sizes.items():  # the last module at each resolution
        if last is not None and size != sizes[last]:
            names.append(prefix + last)
        last = n
    return names + ([prefix + last] if last else [])


@study(
    "a02",
    "activations-kernels",
    "Activations, kernel types, feature maps",
    config=Config,
    datasets=("digits", "shapes", "cifar100"),
    headline=("best_activation", "best_activation_acc", "models_scanned"),
)
def run(ctx) -> None:
    cfg: Config = ctx.config
    activation_inventory(ctx, cfg)
    runs = activation_study(ctx, cfg)
    activation_findings(ctx, cfg, runs)
    kernel_types(ctx, cfg)
    kernel_costs(ctx, cfg)
    feature_maps(ctx, cfg)


# -- (1a) which activation each a01 model uses -----------------------------------------------------


def activation_inventory(ctx, cfg: Config) -> None:
    rep = ctx.report
    a01_cfg = a01_config(ctx.profile)
    rep.section(f"Activations of the {len(a01_cfg.models)} a01 models")
    with ctx.timer("inventory_s"):
        inv = inventory(list(a01_cfg.models))
    rep.text(
        f"Read from the module graph of each of a01's {len(inv)} models ({ctx.profile} profile "
        "list): the activation modules it contains, and the activation operators it actually runs "
        "in one forward pass (recorded on the meta device, which also catches functional calls "
        "such as torchvision GoogLeNet's F.relu). Gates = the sigmoid-like activations of "
        "squeeze-excitation blocks."
    )
    rep.table(inv, "activation_inventory", "Activation functions per model")
    ctx.metrics["inventory"] = {r["model"]: r["main activation"] for r in inv}


# -- (1b) one architecture, several activations, several seeds -------------------------------------


def activation_study(ctx, cfg: Config) -> dict[str, list[dict]]:
    """Every activation trained once per seed: {activation: [run per seed]}."""
    data = load_activation_data(cfg, ctx)
    ctx.provenance(
        "weights",
        f"activation study: random initialisation (seeds {', '.join(map(str, cfg.seeds))}), "
        "trained in this run; feature maps: ImageNet-pretrained (see that section)",
    )
    runs: dict[str, list[dict]] = {}
    for act in cfg.activations:
        with ctx.timer(f"train_{act}_s"):
            runs[act] = [train_with_activation(ctx, cfg, data, act, seed) for seed in cfg.seeds]
    rows = []
    for act, per_seed in runs.items():
        acc = np.array([100 * r["history"].last("val_acc") for r in per_seed])
        loss = np.array([r["history"].last("val_loss") for r in per_seed])
        first = per_seed[0]
        rows.append(
            {
                "activation": act,
                "modules replaced": first["replaced"],
                "operators run": _counts(Counter(first["ops"])),
                "test accuracy % (mean)": float(acc.mean()),
                "sd": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
                "min": float(acc.min()),
                "max": float(acc.max()),
                "test loss (mean)": float(loss.mean()),
                "final train loss (mean)": float(
                    np.mean([r["history"].last("train_loss") for r in per_seed])
                ),
                "s / epoch": float(np.median([s for r in per_seed for s in r["epoch_seconds"]])),
                "inference ms (batch)": first["latency_ms"],
                "activation alone ms (2^20 values)": first["activation_ms"],
                "outputs exactly 0 %": 100
                * float(np.mean([s["zeros"] for s in first["final_stats"]])),
            }
        )
        ctx.metrics[f"act_{act}_test_acc"] = [float(a) / 100 for a in acc]
        ctx.metrics[f"act_{act}_test_loss"] = [float(v) for v in loss]
        ctx.timings[f"act_{act}"] = {
            "epoch_s": [r["epoch_seconds"] for r in per_seed],
            "latency_ms": first["latency_ms"],
        }
    best = max(rows, key=lambda r: r["test accuracy % (mean)"])
    ctx.metrics.update(
        best_activation=best["activation"],
        best_activation_acc=best["test accuracy % (mean)"] / 100,
    )
    rep = ctx.report
    rep.section(f"One architecture, {len(runs)} activations, {_plural(len(cfg.seeds), 'seed')}")
    rep.text(
        f"{cfg.activation_model} (timm/torchvision) with every activation module replaced, "
        f"trained with the same recipe: AdamW (peak lr {cfg.lr}, one-cycle, so the last epochs "
        f"anneal the learning rate to zero and the curves flatten), batch {cfg.batch_size}, "
        f"{_plural(cfg.num_epochs, 'epoch')} on {len(data[0]):,} images at {cfg.input_size} px, "
        f"tested on {len(data[2]):,}. Each activation is trained once per seed "
        f"({', '.join(map(str, cfg.seeds))}): the seed sets the initial weights and the batch "
        "order, and every activation sees the same ones. The 'operators run' column is read back "
        "from the swapped model's graph: the new activation is what executes. Gates of "
        "squeeze-excitation blocks, where present, are kept."
    )
    rep.table(
        rows,
        "activation_study",
        f"Same architecture, same recipe, different activation: test accuracy over "
        f"{len(cfg.seeds)} seeds (mean, sample standard deviation, range); times measured in "
        "this run",
    )
    rep.figure(
        _activation_curves(runs),
        "activation_curves",
        "Training loss per step (mean over seeds) and test accuracy per epoch (mean, with the "
        "range over seeds shaded), per activation",
    )
    rep.figure(
        _layer_stats_figure({a: r[0] for a, r in runs.items()}),
        "activation_layer_stats",
        f"Per activation layer in execution order, after training (seed {cfg.seeds[0]}), on one "
        "test batch (batch statistics): output std and RMS of the gradient arriving there (log "
        "scale; in a residual network, layers inside the residual branches and at the block "
        "outputs alternate)",
    )
    # metrics.json holds what the seed decides; the measured times go to timings.json (the
    # findings read them from there), so the same seed gives the same metrics.json bytes
    timed = ("s / epoch", "inference ms (batch)", "activation alone ms (2^20 values)")
    ctx.metrics["activation_rows"] = [{k: v for k, v in r.items() if k not in timed} for r in rows]
    ctx.timings["activation_rows"] = rows
    return runs


def separated(a, b) -> tuple[float, float, bool]:
    """(difference of means, its standard error, whether it exceeds twice that error): Welch's
    standard error sqrt(sd_a^2/n_a + sd_b^2/n_b) over the seeds."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    se = float(np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))) if len(a) > 1 else 0.0
    diff = float(a.mean() - b.mean())
    return diff, se, abs(diff) > 2 * se and len(a) > 1


def activation_findings(ctx, cfg: Config, runs: dict[str, list[dict]]) -> None:
    rows = {r["activation"]: r for r in ctx.timings["activation_rows"]}
    acc = {a: [100 * r["history"].last("val_acc") for r in rs] for a, rs in runs.items()}
    ranked = sorted(acc, key=lambda a: -np.mean(acc[a]))
    best, worst = ranked[0], ranked[-1]
    apart, tied = [], []
    for act in ranked[1:]:
        diff, se, sep = separated(acc[best], acc[act])
        (apart if sep else tied).append(f"{act} ({-diff:+.1f} +- {se:.1f})")
    final_grad = {
        a: [s.get("grad_rms", float("nan")) for s in rs[0]["final_stats"]] for a, rs in runs.items()
    }
    decay = {a: g[0] / g[-1] for a, g in final_grad.items() if g and g[-1] > 0}
    alone = "activation alone ms (2^20 values)"
    fast = min(rows.values(), key=lambda r: r[alone])
    slow = max(rows.values(), key=lambda r: r[alone])
    relu = rows.get("ReLU", fast)
    n = len(cfg.seeds)
    lines = [
        f"Best: {best} at {np.mean(acc[best]):.1f}% mean test accuracy over {n} seeds "
        f"(sd {rows[best]['sd']:.1f}); worst: {worst} at {np.mean(acc[worst]):.1f}% "
        f"(sd {rows[worst]['sd']:.1f}).",
        "Against the best, a difference counts only when it exceeds twice its standard error "
        "over the seeds (Welch): "
        + (f"clearly behind: {', '.join(apart)}" if apart else "none is clearly behind")
        + (f"; within the seed-to-seed spread: {', '.join(tied)}" if tied else "")
        + " (points of accuracy, +- one standard error).",
    ]
    if decay:
        most, least = max(decay, key=decay.get), min(decay, key=decay.get)
        lines.append(
            f"Gradient flow after training (seed {cfg.seeds[0]}): the gradient reaching the first "
            f"activation layer has {decay[most]:.3g}x the RMS of that reaching the last one with "
            f"{most}, {decay[least]:.3g}x with {least}."
        )
    lines.append(
        f"Speed: on its own, {slow['activation']} takes {slow[alone]:.3f} ms per 2^20 values and "
        f"{fast['activation']} {fast[alone]:.3f} ms ({slow[alone] / fast[alone]:.1f}x); in the "
        f"whole network the inference time on a batch of {cfg.batch_size} ranges from "
        f"{min(r['inference ms (batch)'] for r in rows.values()):.1f} to "
        f"{max(r['inference ms (batch)'] for r in rows.values()):.1f} ms (ReLU: "
        f"{relu['inference ms (batch)']:.1f} ms), where convolutions dominate."
    )
    ctx.metrics["activations_behind_best"] = [a.split(" ")[0] for a in apart]
    ctx.report.bullets(lines)


# -- (2) kernel types ------------------------------------------------------------------------------


def kernel_types(ctx, cfg: Config) -> None:
    from nndl.methods import kernels

    rep = ctx.report
    rep.section("Kernel types in registered CNNs")
    with ctx.timer("scan_s"):
        scanned, failed = scan_registered(cfg.scan)
    ctx.metrics["models_scanned"] = len(scanned)
    rep.text(
        f"{len(scanned)} registered models built on the meta device (no weights, no memory) and "
        f"run once with hooks on every convolution and linear layer (patterns: "
        f"{', '.join(cfg.scan)}). Each convolution is classified from its hyper-parameters, "
        "blocks from the order in which the layers run: depthwise-separable = depthwise then "
        "pointwise; inverted residual = pointwise expansion, depthwise, pointwise projection; "
        "ghost = pointwise then a cheap depthwise whose output is concatenated with it; shuffle "
        "unit = constant-width pointwise, depthwise, pointwise in a graph with channel shuffles."
        + (f" Not scanned (build or forward failed): {', '.join(failed)}." if failed else "")
    )
    # a CNN: at least MIN_CONVS convolutions on feature maps (a ViT has one, its patch embedding)
    cnns = [r for r in scanned if r["convolutions"] >= MIN_CONVS]
    summary = []
    for kind in kernels.KERNEL_TYPES:
        users = [r["model"] for r in cnns if r[kind] > 0]
        summary.append(
            {
                "kernel type": kind,
                "models using it": len(users),
                "examples": ", ".join(users[:6]) or "NONE",
            }
        )
        ctx.metrics[f"models_with_{kind.replace(' ', '_')}"] = len(users)
    rep.table(
        summary,
        "kernel_type_summary",
        f"CNNs (the {len(cnns)} of {len(scanned)} scanned models with at least {MIN_CONVS} "
        "convolutions) that use each kernel type",
    )
    if not any(r["deformable"] for r in scanned):
        rep.text(
            f"Deformable: none of the {len(scanned)} scanned models contains a "
            "torchvision.ops.DeformConv2d; neither timm nor torchvision ships a classifier with "
            "deformable convolutions (they appear in detection codebases such as mmdetection). "
            "The layer itself is measured below."
        )
    rep.table(scanned, "kernel_scan", "Per model: number of layers or blocks of each type")


def kernel_costs(ctx, cfg: Config) -> None:
    rep = ctx.report
    rep.section("Cost of each kernel type, same input and output")
    with ctx.timer("kernel_bench_s"):
        krows, ktimes = measure_kernel_types(ctx, cfg)
    ctx.timings["kernel_types"] = ktimes
    ctx.metrics["kernel_types"] = {
        r["kernel type"]: {"params": r["params"], "mflops": r["MFLOPs"]} for r in krows
    }
    shape = f"({cfg.kernel_batch}, {cfg.kernel_channels}, {cfg.kernel_hw}, {cfg.kernel_hw})"
    rep.text(
        f"Every layer maps an input of shape {shape} to an output of the same shape, built from "
        "the libraries' own blocks with their normalisation and activation (torchvision's "
        "Conv2dNormActivation, MobileNet v2 InvertedResidual and ShuffleNet v2 unit; timm's "
        "DepthwiseSeparableConv and GhostModule); the deformable layer is a regular convolution "
        "predicting 2x3x3 offsets per pixel plus torchvision.ops.DeformConv2d. "
        f"{_flops_note()} For the deformable layer the bilinear sampling (4 multiply-adds per "
        f"sampled value) is counted as well. Latency: median of {cfg.kernel_repeats} passes after 3 "
        "warm-up passes."
    )
    rep.table(krows, "kernel_type_costs", f"Kernel types at input and output {shape}")
    cheap = min(krows, key=lambda r: r["MFLOPs"])
    deform = next(r for r in krows if r["kernel type"].startswith("deformable"))
    rep.bullets(
        [
            f"{cheap['kernel type']} needs {1 / cheap['FLOPs vs regular']:.1f}x fewer FLOPs than the "
            f"regular 3x3 convolution but runs only {1 / cheap['time vs regular']:.1f}x faster "
            f"({cheap['median ms']:.2f} ms against {krows[0]['median ms']:.2f} ms): depthwise and "
            "pointwise kernels do little arithmetic per byte moved, so memory traffic and "
            "per-operator overhead, not FLOPs, set their time.",
            f"The dilated 3x3 convolution has exactly the regular one's parameters and FLOPs and "
            f"sees a 5x5 window; it takes {krows[1]['time vs regular']:.2f}x the time.",
            f"The deformable convolution costs {deform['FLOPs vs regular']:.2f}x the FLOPs and "
            f"{deform['time vs regular']:.1f}x the time of the regular one (offset prediction plus "
            "bilinear sampling at fractional positions, which no vendor kernel accelerates).",
        ]
    )


# -- (3) feature maps at several depths ------------------------------------------------------------


def feature_maps(ctx, cfg: Config) -> None:
    import torch

    from nndl.data.photos import load_photo
    from nndl.methods import kernels
    from nndl.models import zoo

    rep = ctx.report
    rep.section(f"Feature maps of {cfg.feature_model} at several depths")
    model = zoo.build(cfg.feature_model, 1000, pretrained=True).eval()
    found = zoo.cached_weights(cfg.feature_model)
    ctx.provenance(
        "feature maps",
        f"{cfg.feature_model} with real ImageNet-1k weights ({found}), not trained here; "
        f"the real photograph '{cfg.feature_photo}'",
    )
    layers = feature_layers(model)
    image = _photo_tensor(load_photo(cfg.feature_photo), cfg.feature_image_size, cfg.feature_model)
    size = image.shape[-1]
    x = _normalise(image, cfg.feature_model)
    rf = kernels.receptive_fields(model, layers, size)
    maps = _capture(model, x, layers)
    with torch.no_grad():
        p = model(x).softmax(1)[0]
    top = int(p.argmax())
    label = _imagenet_name(top)
    ctx.metrics["feature_photo_top1"] = label
    rep.text(
        f"{cfg.feature_model} with its ImageNet weights (loaded, not trained in this run) is "
        f"shown the photograph '{cfg.feature_photo}' at {size}x{size} (shorter side resized, "
        f"centre crop, the model's own normalisation); it calls it '{label}' (p "
        f"{float(p[top]):.2f}). Forward hooks capture the output of each stage. The receptive "
        "field is the theoretical one, computed from the graph the model runs (kernel, stride "
        "and dilation of every convolution and pooling on the path). Early stages respond to "
        "edges and colour blobs at full detail; deeper stages to larger parts at coarse "
        "resolution."
    )
    rep.figure(
        _input_with_fields(image, rf, layers),
        "feature_input",
        "The input image with the receptive field of the centre unit of each depth",
    )
    fm_rows = []
    for layer in layers:
        fmap = maps[layer][0]
        side, stride = rf[layer]
        fm_rows.append(
            {
                "layer": layer,
                "channels": fmap.shape[0],
                "map": f"{fmap.shape[1]}x{fmap.shape[2]}",
                "stride": stride,
                "receptive field px": side,
            }
        )
        rep.figure(
            _feature_grid(fmap, cfg.feature_channels, layer, side, stride),
            f"features_{layer.replace('.', '_')}",
            f"{layer}: the {min(cfg.feature_channels, fmap.shape[0])} most active of "
            f"{fmap.shape[0]} channels at {fmap.shape[1]}x{fmap.shape[2]}, receptive "
            f"field {side} px",
        )
    rep.table(fm_rows, "feature_depths", "Depths shown: output size, stride and receptive field")
    ctx.metrics["receptive_fields"] = {k: v[0] for k, v in rf.items()}


def _imagenet_name(index: int) -> str:
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    return _IMAGENET_CATEGORIES[index]


def _photo_tensor(img, size: int, name: str):
    """uint8 (H, W, 3) -> (1, 3, S, S) in [0, 1]: shorter side to S / crop_pct, centre crop S."""
    import torch
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    from nndl.models import zoo

    pre = zoo.preprocessing(name)
    size = size or pre.input_size
    t = torch.from_numpy(img.copy()).permute(2, 0, 1)
    t = TF.resize(
        t, [round(size / pre.crop_pct)], InterpolationMode(pre.interpolation), antialias=True
    )
    return (TF.center_crop(t, [size, size]).float() / 255)[None]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _flops_note() -> str:
    from nndl.bench import FLOP_CONVENTION

    return FLOP_CONVENTION


def _normalise(image, name: str):
    """(image - mean) / std with the model's own normalisation (no resizing)."""
    import torch

    from nndl.models import zoo

    pre = zoo.preprocessing(name)
    mean, std = torch.tensor(pre.mean).view(1, 3, 1, 1), torch.tensor(pre.std).view(1, 3, 1, 1)
    return (image - mean) / std


def _capture(model, x, layers: list[str]) -> dict:
    import torch

    out, modules = {}, dict(model.named_modules())
    handles = [
        modules[la].register_forward_hook(lambda m, a, o, la=la: out.__setitem__(la, o.detach()))
        for la in layers
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return out


# -- figures ---------------------------------------------------------------------------------------


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _activation_curves(runs: dict[str, list[dict]]):
    """Loss per step (mean over seeds, smoothed) and test accuracy per epoch (mean, range)."""
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for act, per_seed in runs.items():
        curves = [np.array(r["losses"]) for r in per_seed if len(r["losses"])]
        if curves:  # empty when a resumed run found the training finished
            n = min(len(c) for c in curves)
            losses = np.mean([c[:n] for c in curves], axis=0)
            k = max(1, n // 20)  # moving average over ~5% of the steps
            smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
            ax1.plot(np.arange(len(smooth)) + k, smooth, lw=1.8, label=act)
        epochs = per_seed[0]["history"].series("epoch")
        acc = 100 * np.array([r["history"].series("val_acc") for r in per_seed])
        (line,) = ax2.plot(epochs, acc.mean(0), "o-", lw=1.8, label=act)
        if len(per_seed) > 1:
            ax2.fill_between(epochs, acc.min(0), acc.max(0), color=line.get_color(), alpha=0.15)
    ax1.set(xlabel="training step", ylabel="training loss (mean over seeds, moving average)")
    ax2.set(xlabel="epoch", ylabel="test accuracy (%): mean, range over seeds")
    ax2.xaxis.get_major_locator().set_params(integer=True)
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _layer_stats_figure(runs: dict[str, dict]):
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for r in runs.values():
        s = r["final_stats"]
        ax1.plot([x["layer"] for x in s], [x["std"] for x in s], ".-", label=r["activation"])
        # log scale: layers whose gradient is exactly 0 (or missing) are left out
        g = [(x["layer"], x["grad_rms"]) for x in s if x.get("grad_rms", 0) > 0]
        ax2.plot([a for a, _ in g], [b for _, b in g], ".-", label=r["activation"])
    ax1.set(xlabel="activation layer (input -> output)", ylabel="output std", yscale="log")
    ax2.set(
        xlabel="activation layer (input -> output)",
        ylabel="RMS of d loss / d output",
        yscale="log",
    )
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _input_with_fields(image, rf, layers):
    from matplotlib.patches import Rectangle

    plt = _plt()
    img = image[0].permute(1, 2, 0).numpy()
    size = img.shape[0]
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(img, extent=(0, size, size, 0))
    cmap = plt.get_cmap("autumn")
    for i, layer in enumerate(layers):
        side = rf[layer][0]
        c = size / 2
        colour = cmap(i / max(1, len(layers) - 1))
        ax.add_patch(
            Rectangle(
                (c - side / 2, c - side / 2),
                side,
                side,
                fill=False,
                lw=2,
                edgecolor=colour,
                label=f"{layer}: {side} px",
            )
        )
    ax.set(xlim=(-0.05 * size, 1.05 * size), ylim=(1.05 * size, -0.05 * size))
    ax.legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        fontsize=8,
        title="receptive field (clipped to the view)",
    )
    ax.set_title(f"input {size}x{size}")
    fig.tight_layout()
    return fig


def _feature_grid(fmap, n: int, layer: str, side: int, stride: int):
    import math

    plt = _plt()
    order = fmap.flatten(1).mean(1).argsort(descending=True)[:n]  # most active channels
    cols = math.ceil(math.sqrt(len(order)))
    rows = math.ceil(len(order) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.8 * cols, 1.8 * rows + 0.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, c in zip(axes.flat, order.tolist(), strict=False):
        ax.imshow(fmap[c].numpy(), cmap="viridis")
        ax.set_title(f"ch {c}", fontsize=8)
    fig.suptitle(
        f"{layer}: {fmap.shape[1]}x{fmap.shape[2]}, stride {stride}, receptive field {side} px",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
