"""a01's report sections: setup, results (with the count checks), pretraining, ranking."""

from __future__ import annotations

from . import figures


def setup_section(ctx, cfg, data, peak: float) -> None:
    import torch

    x_tr, _, x_te, _, class_names = data
    rep, bb = ctx.report, cfg.bench_batch_size
    ctx.provenance(
        "weights",
        (
            f"ImageNet-pretrained (timm / torchvision), {cfg.fine_tune} fine-tuned in this run "
            f"for {plural(cfg.num_epochs, 'epoch')}"
            if cfg.pretrained
            else f"the {len(cfg.models)} models: random initialisation, trained FROM SCRATCH in "
            f"this run ({plural(cfg.num_epochs, 'epoch')} on {len(x_tr):,} images), NOT "
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
        f"{cfg.batch_size}, {plural(cfg.num_epochs, 'epoch')}, parameters trained: "
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


def results_section(ctx, cfg, data, rows, results) -> None:
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
        figures.scatter(rows, "b1 median ms", "latency at batch 1 (ms, median)"),
        "accuracy_vs_latency",
        "Top-1 accuracy against latency (batch 1)",
    )
    rep.figure(
        figures.scatter(rows, "size MB", "size on disk (MB)"),
        "accuracy_vs_size",
        "Top-1 accuracy against size on disk",
    )
    per_class = {k: r["per_class"] for k, r in results.items()}
    rep.figure(
        figures.per_class_heatmap(per_class, class_names),
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
        figures.confusion(results[best]["confusion"], class_names, best),
        "confusion_best",
        f"Confusion matrix of the most accurate model, {best}",
    )


def pretraining_section(ctx, cfg, pair: dict, data) -> None:
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


def ranking_section(ctx, cfg, rows, num_classes: int) -> None:
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


def plural(n: int, word: str) -> str:
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
