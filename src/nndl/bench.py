"""One way to measure a model: parameters, size on disk, FLOPs, latency, throughput, peak memory.

Conventions (stated in every report that uses them):
- FLOPs: counted by `torch.utils.flop_counter` for one forward pass; a multiply-add is 2 FLOPs
  (matmul, convolution, attention); element-wise ops (activations, norms, adds) are not counted.
- Latency: `warmup` untimed calls, then `repeats` timed calls; median and 90th percentile in ms,
  with the torch intra-op thread count recorded.
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


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


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

    lat = latency(forward, warmup=warmup, repeats=repeats, device=device)
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
