"""a02's first sections: which activation each a01 CNN uses, then one architecture trained under
several activations and seeds (the same recipe, initial weights and batch order for each)."""

from __future__ import annotations

import functools
from collections import Counter

import numpy as np

from . import common
from .common import on_meta, plural


def a01_config(profile: str):
    """a01's config for this profile: the inventory reuses its model list, not a copy."""
    from nndl.config import resolve
    from nndl.studies.a01_cnn_benchmark import Config as A01Config

    return resolve(A01Config, profile)


def load_activation_data(cfg, ctx):
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
        from nndl.data.synthetic.shapes import cached_shapes

        n_train, n_test = cfg.num_train or 5000, cfg.num_test or 1000
        x_tr, y_tr, x_te, y_te = cached_shapes(ctx, 20, n_train, n_test)
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


def train_with_activation(ctx, cfg, data, activation: str, seed: int) -> dict:
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
    check = kernels.scan(on_meta(model), cfg.input_size)
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
    trainable = TorchTrainable(
        model, optimizer, step, device=ctx.device, scheduler=scheduler, cpu_channels_last=True
    )
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


def activation_inventory(ctx, cfg) -> None:
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


def activation_study(ctx, cfg) -> dict[str, list[dict]]:
    """The section: every activation trained once per seed: {activation: [run per seed]}."""
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
    rows = [_summary_row(ctx, act, per_seed) for act, per_seed in runs.items()]
    best = max(rows, key=lambda r: r["test accuracy % (mean)"])
    ctx.metrics.update(
        best_activation=best["activation"],
        best_activation_acc=best["test accuracy % (mean)"] / 100,
    )
    activation_study_report(ctx, cfg, data, runs, rows)
    return runs


def _summary_row(ctx, act: str, per_seed: list[dict]) -> dict:
    """One activation over its seeds: accuracy spread, losses, times; records its metrics."""
    acc = np.array([100 * r["history"].last("val_acc") for r in per_seed])
    loss = np.array([r["history"].last("val_loss") for r in per_seed])
    first = per_seed[0]
    ctx.metrics[f"act_{act}_test_acc"] = [float(a) / 100 for a in acc]
    ctx.metrics[f"act_{act}_test_loss"] = [float(v) for v in loss]
    ctx.timings[f"act_{act}"] = {
        "epoch_s": [r["epoch_seconds"] for r in per_seed],
        "latency_ms": first["latency_ms"],
    }
    return {
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
        "outputs exactly 0 %": 100 * float(np.mean([s["zeros"] for s in first["final_stats"]])),
    }


def activation_study_report(ctx, cfg, data, runs: dict[str, list[dict]], rows: list[dict]):
    """The section's text, table and figures."""
    rep = ctx.report
    rep.section(f"One architecture, {len(runs)} activations, {plural(len(cfg.seeds), 'seed')}")
    rep.text(
        f"{cfg.activation_model} (timm/torchvision) with every activation module replaced, "
        f"trained with the same recipe: AdamW (peak lr {cfg.lr}, one-cycle, so the last epochs "
        f"anneal the learning rate to zero and the curves flatten), batch {cfg.batch_size}, "
        f"{plural(cfg.num_epochs, 'epoch')} on {len(data[0]):,} images at {cfg.input_size} px, "
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


def separated(a, b) -> tuple[float, float, bool]:
    """(difference of means, its standard error, whether it exceeds twice that error): Welch's
    standard error sqrt(sd_a^2/n_a + sd_b^2/n_b) over the seeds."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    se = float(np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))) if len(a) > 1 else 0.0
    diff = float(a.mean() - b.mean())
    return diff, se, abs(diff) > 2 * se and len(a) > 1


def activation_findings(ctx, cfg, runs: dict[str, list[dict]]) -> None:
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


# -- figures ---------------------------------------------------------------------------------------


def _activation_curves(runs: dict[str, list[dict]]):
    """Loss per step (mean over seeds, smoothed) and test accuracy per epoch (mean, range)."""
    plt = common.plt()
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
    plt = common.plt()
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
