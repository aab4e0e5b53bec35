"""a08's counting sections: a U-Net with a density head against MCNN (`nndl.models.mcnn`).

A counter predicts a density map whose sum is the count: each annotated head is a Gaussian of mass
1 (fixed sigma, or geometry-adaptive: beta = 0.3 times the mean distance to the 3 nearest heads).
Both models train on random crops with the same budget and are tested on whole images.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from . import common
from .common import adam_one_cycle, n_of, subset_note


def counting(ctx, cfg, name: str, first: bool) -> dict:
    """The section for one dataset: train a U-Net and an MCNN counter, test both on whole images."""
    data = counting_data(cfg, ctx, name)
    density_intro(ctx, name, data, first)
    # both models are initialised before either trains: the global RNG sees the same draws
    models = {"unet": ("U-Net", counting_unet(cfg), 1), "mcnn": ("MCNN", *_mcnn())}
    true = np.array([len(p) for p in data["test_points"]], np.float64)
    out: dict = {"label": data["label"], "provenance": data["provenance"], "models": {}}
    for key, (label, model, ds) in models.items():
        out["models"][key] = train_counter(ctx, cfg, name, data, key, label, model, ds, true)
        if first:
            r = out["models"][key]
            ctx.metrics.update({f"{key}_mae": r["mae"], f"{key}_rmse": r["rmse"]})
    baseline = _count_errors(np.full_like(true, data["train_mean_count"]), true)
    ctx.metrics.update({f"{name}_mean_count_mae": baseline["mae"], f"{name}_num_test": len(true)})
    truth_maps = [
        data["make_density"](data["test_points"][i], img.shape[:2])
        for i, img in enumerate(data["test_images"])
    ]
    out.update(
        true=true,
        baseline=baseline,
        test_images=data["test_images"],
        truth_maps=truth_maps,
    )
    counting_report(ctx, cfg, name, data, out)
    return out


def _mcnn():
    from nndl.models.mcnn import MCNN

    return MCNN(), MCNN.downsample


def density_intro(ctx, name: str, data: dict, first: bool) -> None:
    """The section's heading, the density-map definition (once), one image's two kinds of map."""
    rep = ctx.report
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


def train_counter(ctx, cfg, name: str, data: dict, key, label, model, ds: int, true) -> dict:
    """Train one counter on random crops, count every whole test image, benchmark it."""
    from nndl import bench
    from nndl.data.dense_sets import CrowdSet
    from nndl.train import TorchTrainable, fit

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
    optimizer, schedule = adam_one_cycle(
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
    prefix = f"{name}_{key}"
    ctx.metrics.update({f"{prefix}_{k}": v for k, v in {**errors, **counts}.items()})
    ctx.timings.update({f"{prefix}_{k}": v for k, v in times.items()})
    ctx.timings[f"{prefix}_epoch_s"] = history.epoch_seconds
    return {
        "label": label,
        "pred": pred,
        "maps": maps[:3],
        "history": history,
        **errors,
        **counts,
        **times,
    }


def counting_report(ctx, cfg, name: str, data: dict, out: dict) -> None:
    """Table, figures and text of one dataset's counting results."""
    from nndl import bench

    rep = ctx.report
    true, baseline = out["true"], out["baseline"]
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
        f"latency: batch 1, {n_of(u['latency_threads'], 'thread')}, {ctx.device}",
    )
    rep.text(bench.FLOP_CONVENTION)
    rep.figure(_count_curves(out), f"{name}_curves", "Counting training: loss per epoch")
    rep.figure(
        _scatter(out),
        f"{name}_scatter",
        "Predicted versus true count, every test image",
    )
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
        + accuracy_sentence(u, m, baseline)
        + " "
        + _cost_sentence(u, m, f"{bh}x{bw}")
    )


def counting_data(cfg, ctx, name: str) -> dict:
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
                cfg.crowd_num_train,
                cfg.crowd_image_size,
                max_count=cfg.max_count,
                seed=ctx.seed,
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
            + subset_note(name, {"train": len(tr_paths), "test": len(te_paths)})
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
        f"{n_of(cfg.crops_per_image, 'random crop')} of {cfg.crop_size}x{cfg.crop_size} per image (random horizontal flips); "
        f"evaluation runs on whole test images. Both models get the same standardised pixels and the "
        f"same budget: {n_of(cfg.count_num_epochs, 'epoch')} of Adam (one-cycle schedule, peak lr "
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


def accuracy_sentence(u: dict, m: dict, baseline: dict) -> str:
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


def counting_unet(cfg):
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


def _bench_input(cfg):
    import torch

    return torch.rand(1, 3, *cfg.bench_size, generator=torch.Generator().manual_seed(0))


# -- figures ---------------------------------------------------------------------------------------


def _kernel_figure(data):
    from nndl.methods import density as dm

    plt = common.plt()
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
    plt = common.plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for r in out["models"].values():
        h = r["history"]
        a1.plot(h.series("epoch"), h.series("train_loss"), "o-", label=r["label"])
        a2.plot(h.series("epoch"), h.series("train_count_mae"), "o-", label=r["label"])
    a1.set(
        xlabel="epoch",
        ylabel="density MSE (scaled maps)",
        yscale="log",
        title="training loss",
    )
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
    plt = common.plt()
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
    plt = common.plt()
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
