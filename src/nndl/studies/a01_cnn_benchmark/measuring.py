"""a01's cost measurements with `nndl.bench`: FLOPs, parameters, latency, throughput, memory,
checked against fvcore and the libraries' published counts; and the machine's matmul peak."""

from __future__ import annotations

from .data import input_size_of


def estimate_flops(name: str, size: int) -> int:
    """Forward FLOPs of one image, counted on the meta device (no memory, no arithmetic)."""
    import torch

    from nndl import bench
    from nndl.models import zoo

    model = zoo.build_on_meta(name, 1000)
    device = next(model.parameters()).device
    return bench.count_flops(model.eval(), torch.zeros(1, 3, size, size, device=device))


def measure(ctx, cfg, name: str, model) -> tuple[dict, dict]:
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


def machine_peak(ctx) -> float:
    from nndl.methods import cnn_bench

    with ctx.timer("matmul_peak_s"):
        peak = cnn_bench.matmul_peak(device=ctx.device)
    ctx.timings["matmul_peak_flop_s"] = peak
    return peak


def benchmark_rows(ctx, cfg, results: dict, peak: float) -> list[dict]:
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
