"""a02's kernel-type sections: which registered CNNs use which kernels, and what each costs."""

from __future__ import annotations

from .common import flops_note

MIN_CONVS = 3  # fewer convolutions than this: not counted as a CNN in the kernel-type summary


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


def measure_kernel_types(ctx, cfg) -> tuple[list[dict], dict]:
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


def kernel_types(ctx, cfg) -> None:
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


def kernel_costs(ctx, cfg) -> None:
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
        f"{flops_note()} For the deformable layer the bilinear sampling (4 multiply-adds per "
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
