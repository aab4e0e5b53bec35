"""What a machine with a GPU checks in under 8 minutes; `benchmarks/gpu_check.sh` runs it.

    bash benchmarks/gpu_check.sh                  # report under runs-gpu-check/
    python benchmarks/gpu_check.py --out /tmp/gc --budget 420

1. every registered study in the smoke profile on `--device cuda` (AMP on: the loop's default);
2. a reduced `full` step: one training step of each of a01's full models at their native input
   size (batch 64, bf16 autocast where supported, channels_last) and of a15's BERT-base
   (batch 32 x 128 tokens), forward / backward / optimizer times;
3. `nndl bench` on the GPU: the loop's overhead, autocast against float32, a01's FLOP/s share,
   torch.compile against eager;
4. `torchrun --nproc_per_node 2` on one study (a08 smoke): one run folder, complete (on CUDA
   when there are two GPUs, else on the CPU's gloo backend, and the table says so).

It prints one table (check, result, seconds, detail) and exits 1 if any check failed. Each step
has its own timeout, and steps that would start past `--budget` seconds are skipped (and
listed). Without a CUDA GPU it says so in one line and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROWS: list[tuple[str, str, float, str]] = []


def _add(check: str, ok: bool | None, seconds: float, detail: str) -> None:
    result = "skipped" if ok is None else ("ok" if ok else "FAILED")
    ROWS.append((check, result, seconds, detail))
    print(f"{check}: {result} ({seconds:.1f} s) {detail}", flush=True)


def _nndl(args: list[str], timeout: float, env: dict | None = None) -> tuple[int, float, str]:
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "nndl.cli", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "NNDL_QUIET": "1", **(env or {})},
        )
        code, tail = proc.returncode, (proc.stderr.strip().splitlines() or [""])[-1]
    except subprocess.TimeoutExpired:
        code, tail = 124, f"timed out after {timeout:.0f} s"
    return code, time.perf_counter() - t0, tail


def _complete(out: Path, study: str) -> bool:
    runs = sorted((out / study).glob("*/manifest.json"))
    return bool(runs) and json.loads(runs[-1].read_text()).get("status") == "complete"


def smoke_all(out: Path, deadline: float) -> None:
    from nndl.registry import all_studies

    for study in all_studies():
        if time.monotonic() > deadline:
            _add(f"smoke {study.id} cuda", None, 0, "over the time budget")
            continue
        code, secs, tail = _nndl(
            ["run", study.id, "--profile", "smoke", "--device", "cuda", "--out", str(out)], 120
        )
        ok = code == 0 and _complete(out, study.id)
        _add(f"smoke {study.id} cuda", ok, secs, "" if ok else tail)


def full_steps(deadline: float) -> None:
    """One training step of each full-profile model, with the loop's AMP and memory format."""
    import torch
    import torch.nn.functional as F

    from nndl.bench import train_step_time
    from nndl.models import zoo
    from nndl.models.bert import BertConfig, BertForMaskedLM
    from nndl.studies.a01_cnn_benchmark import FULL_MODELS
    from nndl.train import amp_dtype

    dtype = amp_dtype("cuda")
    for name in FULL_MODELS:
        if time.monotonic() > deadline:
            _add(f"a01 full step {name}", None, 0, "over the time budget")
            continue
        t0 = time.perf_counter()
        try:
            size = 299 if "inception" in name else 224
            model = zoo.build(name, 20).cuda().to(memory_format=torch.channels_last)
            x = torch.rand(64, 3, size, size, device="cuda").contiguous(
                memory_format=torch.channels_last
            )
            y = torch.randint(0, 20, (64,), device="cuda")
            t = train_step_time(model, x, y, repeats=5, device="cuda", amp_dtype=dtype)
            detail = (
                f"{t['step_ms']:.1f} ms/step (fwd {t['forward_ms']:.1f}, bwd "
                f"{t['backward_ms']:.1f}, opt {t['optimizer_ms']:.1f}), "
                f"{64 / t['step_ms'] * 1e3:,.0f} img/s at {size} px, {dtype}"
            )
            _add(f"a01 full step {name}", True, time.perf_counter() - t0, detail)
        except Exception as e:  # noqa: BLE001 - one row per model
            _add(
                f"a01 full step {name}", False, time.perf_counter() - t0, f"{type(e).__name__}: {e}"
            )
        finally:
            torch.cuda.empty_cache()
    t0 = time.perf_counter()
    try:
        model = BertForMaskedLM(BertConfig()).cuda()  # BERT-base: L=12, H=768, A=12
        ids = torch.randint(1000, 30522, (32, 128), device="cuda")

        def mlm_loss(logits, y):
            return F.cross_entropy(logits.flatten(0, 1).float(), y.flatten())

        t = train_step_time(
            model, ids, ids, loss_fn=mlm_loss, repeats=5, device="cuda", amp_dtype=dtype
        )
        detail = (
            f"{t['step_ms']:.1f} ms/step (fwd {t['forward_ms']:.1f}, bwd {t['backward_ms']:.1f}, "
            f"opt {t['optimizer_ms']:.1f}), {32 * 128 / t['step_ms'] * 1e3:,.0f} tokens/s, {dtype}"
        )
        _add("a15 full step BERT-base", True, time.perf_counter() - t0, detail)
    except Exception as e:  # noqa: BLE001
        _add("a15 full step BERT-base", False, time.perf_counter() - t0, f"{type(e).__name__}: {e}")


def bench_on_gpu(out: Path) -> None:
    code, secs, tail = _nndl(
        [
            "bench",
            "--device",
            "cuda",
            "--only",
            "loop,amp,flops,compile",
            "--compile",
            "--out",
            str(out),
        ],
        240,
    )
    reports = sorted((out / "bench").glob("*/timings.json"))
    detail = tail
    if code == 0 and reports:
        rows = json.loads(reports[-1].read_text())["rows"]
        detail = "; ".join(f"{r['benchmark']} {r['ratio']} ({r['faster']})" for r in rows)
    _add("nndl bench (cuda)", code == 0, secs, detail)


def torchrun(out: Path) -> None:
    import torch

    device = "cuda" if torch.cuda.device_count() >= 2 else "cpu"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd += ["-m", "nndl.cli", "run", "a08", "--profile", "smoke", "--device", device]
    cmd += ["--out", str(out)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=180,
            env={**os.environ, "NNDL_QUIET": "1", "OMP_NUM_THREADS": "1"},
        )
        code = proc.returncode
        tail = (proc.stderr.strip().splitlines() or [""])[-1]
    except subprocess.TimeoutExpired:
        code, tail = 124, "timed out after 180 s"
    folders = list((out / "a08").glob("*/manifest.json"))
    ok = code == 0 and len(folders) == 1 and _complete(out, "a08")
    where = "2 GPUs, nccl" if device == "cuda" else "one GPU here: 2 CPU processes, gloo"
    detail = f"{where}; {len(folders)} run folder(s)" + ("" if ok else f"; {tail}")
    _add("torchrun 2 procs a08 smoke", ok, time.perf_counter() - t0, detail)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("runs-gpu-check"))
    p.add_argument("--budget", type=float, default=420, help="seconds before steps are skipped")
    args = p.parse_args()
    import torch

    if not torch.cuda.is_available():
        print(
            f"gpu_check: no CUDA GPU on this machine (torch {torch.__version__}); nothing checked."
        )
        return 0
    os.environ.setdefault("NNDL_OFFLINE", "1")
    start, t_start = time.monotonic(), time.perf_counter()
    deadline = start + args.budget
    name = torch.cuda.get_device_name(0)
    bf16 = torch.cuda.is_bf16_supported()
    print(f"gpu_check on {name} ({torch.cuda.device_count()} GPU(s)), bf16 {bf16}", flush=True)
    smoke_all(args.out / "smoke", deadline - 200)  # leave time for the other steps
    full_steps(deadline - 120)
    if time.monotonic() < deadline - 60:
        bench_on_gpu(args.out)
    else:
        _add("nndl bench (cuda)", None, 0, "over the time budget")
    torchrun(args.out / "torchrun")

    from rich.console import Console
    from rich.table import Table

    total = time.perf_counter() - t_start
    table = Table(title=f"gpu_check: {name}, torch {torch.__version__}, {total:.0f} s in all")
    for col in ("check", "result", "seconds", "detail"):
        table.add_column(col, overflow="fold")
    for check, result, secs, detail in ROWS:
        colour = {"ok": "green", "FAILED": "red"}.get(result, "yellow")
        table.add_row(check, f"[{colour}]{result}[/]", f"{secs:.1f}", detail)
    Console(width=160).print(table)
    return 1 if any(r[1] == "FAILED" for r in ROWS) else 0


if __name__ == "__main__":
    sys.exit(main())
