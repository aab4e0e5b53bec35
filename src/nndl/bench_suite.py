"""`nndl bench`: every benchmark of the suite in one process, printed as one table of ratios.

Each row compares two ways of doing the same work (same model, weights, data, batches) and
states what a ratio of 1.0 means and which side is faster; absolute times are printed beside it,
but the ratio is the result (it survives a change of machine better than a time does). Times
come from `nndl.bench` (alternating calls, so that the shared machine's load hits both sides
alike). The table is also written as a report (report.md, report.html, tables/bench.csv) under
`--out`/bench/<run-id>/ by the one report module.

Rows:
- loop: `nndl.train.fit` against a bare PyTorch loop over the same batches (overhead in %);
- bert, vit: the scratch BERT against transformers' BertModel, the scratch ViT against timm's
  VisionTransformer (forward + backward, same weights);
- pipeline: a `DataLoader` with the default workers against decoding in the main process, on the
  CIFAR-10 image-folder pack (JPEG decoding + augmentation);
- fgsm, gradcam, ig: nndl.methods against Captum called directly, per image;
- flops: a01's model, achieved FLOP/s as a share of this machine's float32 matmul peak, and its
  train step split into forward / backward / optimizer;
- amp, compile: bf16/fp16 autocast against float32 (CUDA only), torch.compile against eager
  (with --compile: compiling takes a minute on a CPU).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Row:
    """One comparison: `ratio` = a / b for the two named sides."""

    name: str
    ratio: float | None
    meaning: str  # what the ratio is, and what 1.0 means
    a: str  # the side measured first, with its absolute number
    b: str
    note: str = ""
    note_faster: str = ""  # which side is faster, and by how much

    def faster(self) -> str:
        if self.ratio is None:
            return "-"
        if abs(self.ratio - 1) < 0.02:
            return "even (within 2 %)"
        return self.note_faster


def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _ratio_row(name, a_name, a_ms, b_name, b_ms, unit="ms", lower_is_better=True, note=""):
    """a / b of two times (or rates): the row says which side is faster."""
    ratio = a_ms / b_ms
    a_wins = (ratio < 1) if lower_is_better else (ratio > 1)
    return Row(
        name,
        ratio,
        f"{a_name} / {b_name} ({'time' if lower_is_better else 'rate'}); 1.0 = same speed",
        f"{a_name} {_num(a_ms)} {unit}",
        f"{b_name} {_num(b_ms)} {unit}",
        note,
        note_faster=f"{a_name if a_wins else b_name} by {max(ratio, 1 / ratio):.2f}x",
    )


@dataclass
class Settings:
    device: str = "cpu"
    repeats: int = 7
    data_root: Path = Path("data")
    compile: bool = False


# -- the rows -------------------------------------------------------------------------------------


def _small_cnn(num_classes: int = 10):
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # (B, 32, 16, 16)
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # (B, 64, 8, 8)
        nn.Flatten(),
        nn.Linear(64 * 8 * 8, num_classes),
    )


def loop_overhead(s: Settings) -> list[Row]:
    """One epoch of `fit` against a bare loop: same model, data, batches and logs (loss and
    accuracy summed), on two models: a small CNN (32x32 images, 8 steps of batch 64), where the
    overhead is a share of real work, and a tiny MLP (64 steps of batch 16), where a step does
    almost nothing and the loop's own cost per step shows."""
    import copy

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    from nndl.bench import alternating
    from nndl.train import ArrayData, TorchTrainable, epoch_batches, fit

    g = torch.Generator().manual_seed(0)
    cases = {
        "loop": (_small_cnn, torch.rand(512, 3, 32, 32, generator=g), 64),
        "loop, tiny model": (
            lambda: nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 10)),
            torch.randn(1024, 16, generator=g),
            16,
        ),
    }
    rows = []
    for name, (build, x, batch_size) in cases.items():
        y = torch.randint(0, 10, (len(x),), generator=g)
        torch.manual_seed(0)
        model_fit = build().to(s.device)
        model_bare = copy.deepcopy(model_fit)
        trainable = TorchTrainable(
            model_fit,
            torch.optim.SGD(model_fit.parameters(), lr=0.01, momentum=0.9),
            device=s.device,
        )
        opt = torch.optim.SGD(model_bare.parameters(), lr=0.01, momentum=0.9)
        data = ArrayData(x, y)

        def with_fit(trainable=trainable, data=data, batch_size=batch_size):
            fit(
                trainable, data, None, name="bench", num_epochs=1, batch_size=batch_size, quiet=True
            )

        def bare(model=model_bare, opt=opt, x=x, y=y, batch_size=batch_size):
            model.train()  # the loop as a PyTorch tutorial writes it
            loss_sum = acc_sum = 0
            for idx in epoch_batches(len(x), batch_size, 0, 0):
                xb, yb = x[idx].to(s.device), y[idx].to(s.device)
                logits = model(xb)
                loss = F.cross_entropy(logits, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss_sum = loss_sum + len(idx) * loss.detach()
                acc_sum = acc_sum + len(idx) * (logits.argmax(1) == yb).float().mean()
            return float(loss_sum), float(acc_sum)

        repeats = max(s.repeats, 11) if s.repeats > 1 else 1  # a few % is hard to see
        t = alternating({"fit": with_fit, "bare": bare}, warmup=1, repeats=repeats, device=s.device)
        fit_ms, bare_ms = t["fit"].median_ms, t["bare"].median_ms
        row = _ratio_row(name, "nndl fit", fit_ms, "bare loop", bare_ms)
        row.meaning = "fit / bare PyTorch loop, one epoch (time); 1.0 = no overhead"
        steps = -(-len(x) // batch_size)
        per_step_us = (fit_ms - bare_ms) / steps * 1e3
        row.note = f"overhead {100 * (row.ratio - 1):+.1f} %, {per_step_us:+.0f} us/step"
        if name == "loop":
            row.note += " (goal <= 3 %)"
        rows.append(row)
    return rows


def speed_against_transformers(
    *, layers=2, hidden=128, heads=2, vocab=30522, batch=8, seq=64, repeats=7, device="cpu"
) -> dict:
    """Forward + backward of the scratch BERT and transformers' BertModel, same configuration
    and weights, half the batch padded (masks used), both on torch's SDPA attention: median ms."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import BertModel as HFBertModel
    from transformers.utils import logging as hf_logging

    from nndl.bench import alternating
    from nndl.models.bert import BertConfig, BertModel, load_hf_state_dict, param_count

    hf_logging.set_verbosity_error()
    cfg = BertConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        num_layers=layers,
        num_heads=heads,
        intermediate_size=4 * hidden,
        max_position=max(512, seq),
    )
    torch.manual_seed(0)
    hf_cfg = cfg.to_hf()
    hf_cfg._attn_implementation = "sdpa"
    hf = HFBertModel(hf_cfg)
    ours = BertModel(cfg)
    load_hf_state_dict(ours, hf.state_dict())
    ids = torch.randint(1000, vocab, (batch, seq))
    mask = torch.ones_like(ids)
    mask[: batch // 2, seq * 3 // 4 :] = 0  # half the batch padded: masks are used
    types = torch.zeros_like(ids)
    hf, ours = hf.to(device).train(), ours.to(device).train()
    ids, mask, types = ids.to(device), mask.to(device), types.to(device)

    def step_hf():
        hf.zero_grad(set_to_none=True)
        out = hf(input_ids=ids, attention_mask=mask, token_type_ids=types)
        out.last_hidden_state.sum().backward()

    def step_ours():
        ours.zero_grad(set_to_none=True)
        ours(ids, types, mask).last_hidden_state.sum().backward()

    t = alternating({"hf": step_hf, "ours": step_ours}, repeats=repeats, device=device)
    return {
        "hf_ms": t["hf"].median_ms,
        "scratch_ms": t["ours"].median_ms,
        "hf_p90_ms": t["hf"].p90_ms,
        "scratch_p90_ms": t["ours"].p90_ms,
        "threads": t["ours"].threads,
        "params": param_count(ours),
    }


def bert(s: Settings) -> list[Row]:
    r = speed_against_transformers(repeats=s.repeats, device=s.device)
    row = _ratio_row("bert", "scratch BERT", r["scratch_ms"], "transformers", r["hf_ms"])
    row.note = "fwd+bwd, L=2 H=128, batch 8 x 64 tokens"
    return [row]


def vit(s: Settings) -> list[Row]:
    from nndl.models.vit import ViTConfig, speed_against_timm

    cfg = ViTConfig(
        image_size=32, patch_size=4, num_classes=10, dim=64, depth=4, num_heads=4, mlp_ratio=2.0
    ).check()
    r = speed_against_timm(cfg, batch=32, repeats=s.repeats, device=s.device)
    row = _ratio_row("vit", "scratch ViT", r["scratch_ms"], "timm", r["timm_ms"])
    row.note = "fwd+bwd, a14's quick ViT (32 px, patch 4, D=64, depth 4), batch 32"
    return [row]


def find_cifar10_folder(data_root: Path) -> Path | None:
    """The image-folder layout of ../shared/data/cifar10.tar, extracted under `data_root`."""
    for base in (data_root / "cifar10", data_root):
        if (base / "train" / "airplane").is_dir():
            return base / "train"
    return None


def pipeline(s: Settings) -> list[Row]:
    """Images per second through the input pipeline alone (no model): JPEG decode, random crop
    and flip, collate, for 2,048 images in batches of 64; 0 workers against the default."""
    from torchvision import transforms as T

    from nndl.data.imagefolder import load_imagefolder
    from nndl.train import BatchLoader, LoopOptions, epoch_batches

    folder = find_cifar10_folder(Path(s.data_root))
    if folder is None:
        return [
            Row(
                "pipeline",
                None,
                "DataLoader with workers / in-process decoding (rate)",
                "-",
                "-",
                f"skipped: no CIFAR-10 image folder under {s.data_root} (extract "
                "../shared/data/cifar10.tar there, or pass --data-root)",
            )
        ]
    augment = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor()])
    data = load_imagefolder(folder, transform=augment)
    workers = LoopOptions.auto_workers()  # the default on a GPU (the CPU's default is 0)
    n = min(2048, len(data))
    rates = {}
    for w in (0, workers):
        loader = BatchLoader(data, num_workers=w, seed=0)
        times = []
        for epoch in range(1 + max(1, s.repeats // 3)):  # epoch 0 starts the workers: untimed
            batches = [b[b < len(data)] for b in epoch_batches(n, 64, 0, epoch)]
            t0 = time.perf_counter()
            for _ in loader(batches):
                pass
            times.append(time.perf_counter() - t0)
        rates[w] = n / min(times[1:])
        del loader
    row = _ratio_row(
        "pipeline",
        f"{workers} worker{'s' if workers != 1 else ''}",
        rates[workers],
        "0 workers",
        rates[0],
        unit="img/s",
        lower_is_better=False,
    )
    row.note = f"default workers = min(8, cores - 1) = {workers} on {os.cpu_count()} cores"
    return [row]


def _attack_model(device):
    import torch

    torch.manual_seed(0)
    model = _small_cnn().to(device).eval()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(8, 3, 32, 32, generator=g).to(device)
    y = torch.randint(0, 10, (8,), generator=g).to(device)
    return model, x, y


def attacks(s: Settings) -> list[Row]:
    """FGSM, Grad-CAM and IG on 8 images: nndl.methods against Captum called directly."""
    import torch
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam
    from captum.robust import FGSM

    from nndl.bench import alternating
    from nndl.methods.attribution import gradcam, integrated_gradients
    from nndl.methods.fgsm import fgsm

    model, x, y = _attack_model(s.device)
    layer = model[3]  # the second convolution
    captum_fgsm = FGSM(model, lower_bound=0.0, upper_bound=1.0)
    cam, ig = LayerGradCam(model, layer), IntegratedGradients(model)
    base = torch.zeros_like(x)
    pairs = {
        "fgsm": (
            lambda: fgsm(model, x, y, 8 / 255),
            lambda: captum_fgsm.perturb(x, 8 / 255, y),
        ),
        "gradcam": (
            lambda: gradcam(model, layer, x, y),
            lambda: LayerAttribution.interpolate(
                cam.attribute(x, target=y), (32, 32), interpolate_mode="bilinear"
            ),
        ),
        "ig": (
            lambda: integrated_gradients(model, x, y, base, n_steps=16),
            lambda: ig.attribute(
                x, baselines=base, target=y, n_steps=16, return_convergence_delta=True
            ),
        ),
    }
    rows = []
    for name, (ours, theirs) in pairs.items():
        t = alternating({"ours": ours, "captum": theirs}, repeats=s.repeats, device=s.device)
        per = len(x)
        row = _ratio_row(
            name, "nndl", t["ours"].median_ms / per, "Captum", t["captum"].median_ms / per
        )
        row.a, row.b = row.a + "/img", row.b + "/img"
        row.note = "8 images, small CNN" + (", 16 IG steps" if name == "ig" else "")
        rows.append(row)
    return rows


def flops(s: Settings) -> list[Row]:
    """a01's measures on a01's first quick model: achieved FLOP/s (nndl.bench's FLOP count over
    the inference time) against the float32 matmul peak (`cnn_bench.matmul_peak`'s product,
    timed in turns with the model), and the train step's backward against its forward."""
    import torch

    from nndl import bench
    from nndl.models import zoo
    from nndl.studies.a01_cnn_benchmark import Config

    name = Config().models[0]
    torch.manual_seed(0)
    model = zoo.build(name, 10).to(s.device).eval()
    x = torch.rand(16, 3, 32, 32).to(s.device)
    n = 1024  # matmul_peak's product, timed here in turns with the model (same machine load)
    a, b = torch.randn(n, n, device=s.device), torch.randn(n, n, device=s.device)

    def infer():
        with torch.inference_mode():
            model(x)

    t = bench.alternating(
        {"model": infer, "matmul": lambda: a @ b}, repeats=s.repeats, device=s.device
    )
    achieved = bench.count_flops(model, x) / (t["model"].median_ms / 1e3)
    peak = 2 * n**3 / (t["matmul"].median_ms / 1e3)
    share = Row(
        "flops",
        achieved / peak,
        "achieved FLOP/s / float32 matmul peak (share); 1.0 = the model runs at matmul speed",
        f"{name} b16: {achieved / 1e9:,.1f} GFLOP/s",
        f"matmul 1024^3: {peak / 1e9:,.1f} GFLOP/s",
        "inference at 32 px, batch 16",
        note_faster="matmul (as expected)" if achieved < peak else name,
    )
    step = bench.train_step_time(model, x, torch.randint(0, 10, (16,)), repeats=s.repeats)
    split = Row(
        "train step",
        step["backward_ms"] / step["forward_ms"],
        "backward / forward time of one train step; ~2 is typical",
        f"fwd {step['forward_ms']:.3g} ms, bwd {step['backward_ms']:.3g} ms",
        f"optimizer {step['optimizer_ms']:.3g} ms of {step['step_ms']:.3g} ms",
        f"{name}, batch 16, SGD with momentum",
        note_faster=f"backward takes {step['backward_ms'] / step['forward_ms']:.1f}x forward",
    )
    return [share, split]


def amp(s: Settings) -> list[Row]:
    """Autocast (bf16 where supported, else fp16 + GradScaler) against float32, CUDA only."""
    import torch

    from nndl.bench import alternating
    from nndl.train import ArrayData, TorchTrainable, amp_dtype, fit

    if s.device != "cuda":
        return [
            Row(
                "amp",
                None,
                "autocast / float32 train epoch (time)",
                "-",
                "-",
                "skipped: needs CUDA (no GPU here)",
            )
        ]
    g = torch.Generator().manual_seed(0)
    data = ArrayData(torch.rand(2048, 3, 32, 32, generator=g), torch.randint(0, 10, (2048,)))
    fns = {}
    for key, setting in (("amp", "auto"), ("fp32", "off")):
        torch.manual_seed(0)
        model = _small_cnn()
        t = TorchTrainable(model, torch.optim.SGD(model.parameters(), lr=0.01), device="cuda")
        t.amp_dtype = amp_dtype("cuda", setting)
        t.amp = t.amp_dtype is not None
        t.scaler = torch.amp.GradScaler("cuda", enabled=t.amp_dtype == torch.float16)
        fns[key] = lambda t=t: fit(t, data, name="b", num_epochs=1, batch_size=256, quiet=True)
    r = alternating(fns, warmup=1, repeats=s.repeats, device="cuda")
    row = _ratio_row("amp", "autocast", r["amp"].median_ms, "float32", r["fp32"].median_ms)
    row.note = f"{amp_dtype('cuda')}, small CNN, channels_last"
    return [row]


def compiled(s: Settings) -> list[Row]:
    """torch.compile against eager: one train step of the small CNN (compile time excluded)."""
    import torch

    from nndl.bench import train_step_time

    if not s.compile:
        return [
            Row(
                "compile",
                None,
                "compiled / eager train step (time)",
                "-",
                "-",
                "not asked (--compile)",
            )
        ]
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(64, 3, 32, 32, generator=g), torch.randint(0, 10, (64,), generator=g)
    torch.manual_seed(0)
    eager = _small_cnn()
    t0 = time.perf_counter()
    comp = torch.compile(_small_cnn())
    fast = train_step_time(comp, x, y, warmup=2, repeats=s.repeats, device=s.device)
    compile_s = time.perf_counter() - t0
    slow = train_step_time(eager, x, y, warmup=2, repeats=s.repeats, device=s.device)
    row = _ratio_row("compile", "compiled", fast["step_ms"], "eager", slow["step_ms"])
    row.note = f"small CNN batch 64; compiling took {compile_s:.0f} s"
    return [row]


BENCHMARKS: dict[str, Callable[[Settings], list[Row]]] = {
    "loop": loop_overhead,
    "bert": bert,
    "vit": vit,
    "pipeline": pipeline,
    "attacks": attacks,
    "flops": flops,
    "amp": amp,
    "compile": compiled,
}


# -- running and printing ------------------------------------------------------------------------


def run_suite(s: Settings, only: list[str] | None = None, log=print) -> list[Row]:
    rows = []
    for key, fn in BENCHMARKS.items():
        if only and key not in only:
            continue
        t0 = time.perf_counter()
        got = fn(s)
        log(f"{key}: {time.perf_counter() - t0:.1f} s")
        rows.extend(got)
    return rows


def as_dicts(rows: list[Row]) -> list[dict]:
    return [
        {
            "benchmark": r.name,
            "ratio": None if r.ratio is None else round(r.ratio, 3),
            "faster": r.faster(),
            "what 1.0 means": r.meaning,
            "side a": r.a,
            "side b": r.b,
            "note": r.note,
        }
        for r in rows
    ]


def print_table(rows: list[Row], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=True)
    for col in ("benchmark", "ratio", "faster", "what 1.0 means", "side a", "side b", "note"):
        table.add_column(col, justify="right" if col == "ratio" else "left", overflow="fold")
    for d in as_dicts(rows):
        table.add_row(*("-" if v is None else str(v) for v in d.values()))
    Console(width=200).print(table)


def write_report(rows: list[Row], out: Path, facts: dict) -> Path:
    from nndl.io import write_json
    from nndl.report import Report

    folder = Path(out) / "bench" / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    rep = Report(folder, title="nndl bench: the loop, the models and the methods as ratios")
    rep.header_facts = facts
    rep.text(
        "Each row compares two ways of doing the same work; the ratio is side a / side b, and "
        "its meaning column says what 1.0 is. Times are medians of alternating calls on a "
        "shared machine: read the ratios, not the absolute times."
    )
    rep.table(as_dicts(rows), "bench", "Benchmarks as ratios")
    rep.write()
    write_json(folder / "timings.json", {"rows": as_dicts(rows), **facts}, digits=None)
    return folder


def main(argv: list[str] | None = None) -> int:
    """`python benchmarks/run.py` (the same as `nndl bench`)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(p)
    p.add_argument("--data-root", type=Path, default=Path("data"))
    p.add_argument("--out", type=Path, default=Path("runs"))
    p.add_argument("--only", default="", help=f"comma-separated: {', '.join(BENCHMARKS)}")
    p.add_argument("--compile", action="store_true", help="also time torch.compile")
    args = p.parse_args(argv)
    s = Settings(args.device, args.repeats, args.data_root, args.compile)
    apply_threads(args)
    run_and_report(s, [k for k in args.only.split(",") if k], args.out)
    return 0


def run_and_report(s: Settings, only: list[str], out: Path) -> tuple[list[Row], dict]:
    import torch

    unknown = [k for k in only if k not in BENCHMARKS]
    if unknown:
        from nndl.errors import ConfigError

        raise ConfigError(f"Unknown benchmark {unknown[0]!r}. Valid: {', '.join(BENCHMARKS)}.")
    t0 = time.perf_counter()
    rows = run_suite(s, only)
    facts = {
        "device": s.device,
        "threads": torch.get_num_threads(),
        "cores": os.cpu_count(),
        "load average": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "repeats": s.repeats,
        "wall time": f"{time.perf_counter() - t0:.0f} s",
        "torch": torch.__version__,
    }
    title = ", ".join(f"{k} {v}" for k, v in facts.items())
    print_table(rows, title)
    folder = write_report(rows, out, facts)
    print(f"report: {folder / 'report.html'}")
    return rows, facts


# -- shared by the benchmark scripts --------------------------------------------------------------


def add_common_arguments(p: argparse.ArgumentParser, repeats: int = 7) -> None:
    """--repeats, --threads and --device, as every benchmark script takes them."""
    import torch

    p.add_argument("--repeats", type=int, default=repeats, help="timed calls per side")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")


def apply_threads(args) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)


def print_comparison(title: str, sides: list[tuple[str, float, float]], per: str, n: int) -> None:
    """A two-model table: name, median and p90 ms, `per`/s for `n` items, time vs the first."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in ("model", "median ms", "p90 ms", f"{per} / s", f"time vs {sides[0][0]}"):
        table.add_column(col, justify="left" if col == "model" else "right")
    base = sides[0][1]
    for name, median, p90 in sides:
        table.add_row(
            name,
            f"{median:.1f}",
            f"{p90:.1f}",
            f"{n / (median / 1e3):,.0f}",
            f"{median / base:.2f}x",
        )
    Console().print(table)
