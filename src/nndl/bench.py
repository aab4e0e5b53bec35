"""One way to measure a model: parameters, size on disk, FLOPs, latency, throughput, peak memory.

Conventions (stated in every report that uses them):
- FLOPs: counted by `torch.utils.flop_counter` for one forward pass; a multiply-add is 2 FLOPs
  (matmul, convolution, attention); element-wise ops (activations, norms, adds) are not counted.
- Latency: `warmup` untimed calls, then `repeats` timed calls, each ended by a device
  synchronisation (CUDA, MPS); median and 90th percentile in ms, with the torch intra-op thread
  count recorded. Inference is timed under `torch.inference_mode()`. Calls under a millisecond
  (one activation function) are timed by `kernel_time`: `torch.utils.benchmark.Timer`'s
  `blocked_autorange`, which runs blocks of many calls, with the thread count set explicitly.
- Training: `train_step_time` splits one optimisation step into forward (with the loss),
  backward and optimizer step, as timm's benchmark.py does; `alternating` times several
  functions in turns, so that a change in machine load hits all alike.
- Peak memory: on CUDA, `torch.cuda.max_memory_allocated`; on CPU, the peak bytes of tensors
  alive during the call that were allocated by it (activations, outputs, temporaries), tracked
  per operator; parameters are reported separately.
"""

from __future__ import annotations

import io
import statistics
import time
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass

FLOP_CONVENTION = (
    "FLOPs counted by torch.utils.flop_counter for one forward pass: a multiply-add is 2 FLOPs "
    "(matmul, convolution, attention); element-wise ops are not counted."
)


def count_params(model, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def size_on_disk(model) -> int:
    """Bytes of the serialised state_dict (what `torch.save` writes)."""
    import torch

    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getbuffer().nbytes


def count_flops(model, x) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    return int(counter.get_total_flops())


def _sync(device) -> None:
    """Wait for the device: CUDA and MPS calls return before the work is done."""
    import torch

    kind = torch.device(device).type
    if kind == "cuda":
        torch.cuda.synchronize()
    elif kind == "mps":
        torch.mps.synchronize()


@dataclass
class Latency:
    median_ms: float
    p90_ms: float
    mean_ms: float
    repeats: int
    threads: int

    def as_dict(self, prefix: str = "") -> dict:
        return {f"{prefix}{k}": v for k, v in asdict(self).items()}


def latency(
    fn: Callable[[], object], *, warmup: int = 3, repeats: int = 10, device="cpu"
) -> Latency:
    """Time `fn()` after `warmup` untimed calls; median and p90 over `repeats` calls."""
    import numpy as np
    import torch

    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - t0) * 1e3)
    return Latency(
        median_ms=statistics.median(times),
        p90_ms=float(np.percentile(times, 90)),
        mean_ms=statistics.fmean(times),
        repeats=repeats,
        threads=torch.get_num_threads(),
    )


def kernel_time(
    fn: Callable[[], object], *, num_threads: int | None = None, min_run_time: float = 0.2
) -> Latency:
    """Time a sub-millisecond call with `torch.utils.benchmark.Timer.blocked_autorange`.

    The Timer picks how many calls make a block (so that the clock's resolution and the loop's
    own cost vanish) and runs blocks for `min_run_time` seconds; the statistics are over the
    per-call times of the blocks. `num_threads` defaults to torch's current setting (the Timer's
    own default would be 1 thread).
    """
    import numpy as np
    import torch
    from torch.utils import benchmark as torch_benchmark

    threads = num_threads or torch.get_num_threads()
    timer = torch_benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads)
    m = timer.blocked_autorange(min_run_time=min_run_time)
    per_call_ms = [t * 1e3 for t in m.times]
    return Latency(
        median_ms=m.median * 1e3,
        p90_ms=float(np.percentile(per_call_ms, 90)),
        mean_ms=m.mean * 1e3,
        repeats=len(m.times) * m.number_per_run,
        threads=threads,
    )


def alternating(
    fns: dict[str, Callable[[], object]], *, warmup: int = 2, repeats: int = 10, device="cpu"
) -> dict[str, Latency]:
    """Time several functions in turns (a, b, a, b, ...) after warming each up: a change in the
    machine's load during the measurement hits all of them alike."""
    import numpy as np
    import torch

    for fn in fns.values():
        for _ in range(warmup):
            fn()
    _sync(device)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {
        name: Latency(
            median_ms=statistics.median(t),
            p90_ms=float(np.percentile(t, 90)),
            mean_ms=statistics.fmean(t),
            repeats=repeats,
            threads=torch.get_num_threads(),
        )
        for name, t in times.items()
    }


def train_step_time(
    model,
    x,
    y,
    *,
    optimizer=None,
    loss_fn=None,
    warmup: int = 2,
    repeats: int = 10,
    device="cpu",
    amp_dtype=None,
) -> dict[str, float]:
    """One training step split into forward (+ loss), backward and optimizer step: the median
    ms of each part and of the whole, over `repeats` steps after `warmup` (each part ends with a
    device synchronisation, which a real loop would not need). `amp_dtype` (torch.bfloat16 or
    torch.float16) runs the forward under autocast."""
    import contextlib

    import torch
    import torch.nn.functional as F

    model = model.to(device).train()
    x, y = x.to(device), y.to(device)
    optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    loss_fn = loss_fn or F.cross_entropy
    parts: dict[str, list[float]] = {"forward_ms": [], "backward_ms": [], "optimizer_ms": []}
    for i in range(warmup + repeats):
        marks = [time.perf_counter()]
        autocast = (
            torch.autocast(torch.device(device).type, dtype=amp_dtype)
            if amp_dtype is not None
            else contextlib.nullcontext()
        )
        with autocast:
            loss = loss_fn(model(x), y)
        _sync(device)
        marks.append(time.perf_counter())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        _sync(device)
        marks.append(time.perf_counter())
        optimizer.step()
        _sync(device)
        marks.append(time.perf_counter())
        if i >= warmup:
            for key, a, b in zip(parts, marks, marks[1:], strict=False):
                parts[key].append((b - a) * 1e3)
    out = {k: statistics.median(v) for k, v in parts.items()}
    out["step_ms"] = sum(out.values())
    out["batch_size"] = len(x)
    return out


def peak_memory(fn: Callable[[], object], device: str = "cpu") -> int:
    """Peak bytes allocated by `fn()` (see the module docstring for the convention)."""
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return int(torch.cuda.max_memory_allocated() - base)
    tracker = _TensorMemoryTracker()
    with tracker:
        fn()
    return tracker.peak


def _tensor_memory_mode():
    from torch.utils._python_dispatch import TorchDispatchMode

    return TorchDispatchMode


class _TensorMemoryTracker:
    """Tracks bytes of tensor storages created inside the block, freed when collected."""

    def __init__(self):
        import torch
        from torch.utils._pytree import tree_flatten

        tracker = self

        class Mode(_tensor_memory_mode()):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                for t in tree_flatten(out)[0]:
                    if isinstance(t, torch.Tensor) and t.device.type == "cpu":
                        tracker._add(t)
                return out

        self.mode = Mode()
        self.live: dict[int, int] = {}
        self.current = 0
        self.peak = 0

    def _add(self, t) -> None:
        storage = t.untyped_storage()
        key, nbytes = storage.data_ptr(), storage.nbytes()
        if nbytes == 0 or key in self.live:
            return
        self.live[key] = nbytes
        self.current += nbytes
        self.peak = max(self.peak, self.current)
        weakref.finalize(t, self._free, key)

    def _free(self, key: int) -> None:
        self.current -= self.live.pop(key, 0)

    def __enter__(self):
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        return self.mode.__exit__(*exc)


def benchmark_model(model, x, *, device: str = "cpu", warmup: int = 3, repeats: int = 10) -> dict:
    """Every measurement of one model on input `x`, as a flat dict.

    Deterministic counts (params, bytes, FLOPs) and timings are in one dict; the caller puts the
    counts in metrics.json and the timings in timings.json (see `split_timings`).
    """
    import torch

    model = model.to(device).eval()
    x = x.to(device)

    def forward():
        with torch.no_grad():
            return model(x)

    def infer():
        with torch.inference_mode():
            return model(x)

    lat = latency(infer, warmup=warmup, repeats=repeats, device=device)
    batch = x.shape[0]
    return {
        "params": count_params(model),
        "size_bytes": size_on_disk(model),
        "flops": count_flops(model, x),
        "peak_memory_bytes": peak_memory(forward, device),
        "batch_size": batch,
        **lat.as_dict("latency_"),
        "throughput_per_s": batch / (lat.median_ms / 1e3),
    }


TIMING_KEYS = ("latency_", "throughput")


def split_timings(measures: dict) -> tuple[dict, dict]:
    """(deterministic counts, wall-clock timings) of a `benchmark_model` result."""
    counts = {k: v for k, v in measures.items() if not k.startswith(TIMING_KEYS)}
    times = {k: v for k, v in measures.items() if k.startswith(TIMING_KEYS)}
    return counts, times
