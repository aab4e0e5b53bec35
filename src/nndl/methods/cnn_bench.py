"""What the CNN benchmark (a01, a02) adds to `nndl.bench`: the machine's matmul peak and
independent reference counts (fvcore) for parameters and FLOPs.

Conventions. `nndl.bench.count_flops` counts 2 FLOPs per multiply-add of convolutions and matrix
products and nothing for element-wise work. fvcore counts 1 "flop" per multiply-add and, by
default, also charges normalisation, pooling and upsampling. `reference_flops` switches those
extra handles off, so that 2 x fvcore and nndl.bench count the same operations with two
independent tools (fvcore traces with torch.jit; nndl.bench dispatches through torch's
FlopCounterMode).
"""

from __future__ import annotations

import warnings

# fvcore handles for operators nndl.bench does not count (element-wise by its convention)
FVCORE_NOT_COUNTED = (
    "aten::batch_norm",
    "aten::group_norm",
    "aten::layer_norm",
    "aten::instance_norm",
    "aten::upsample_nearest2d",
    "aten::upsample_bilinear2d",
    "aten::adaptive_avg_pool2d",
    "aten::grid_sampler",
)


def matmul_peak(n: int = 1024, warmup: int = 3, repeats: int = 10, device: str = "cpu") -> float:
    """Achievable FLOP/s of this machine: median over `repeats` float32 (n x n) @ (n x n)
    products (2 n^3 FLOPs each), in the current thread setting, timed by `nndl.bench.latency`."""
    import torch

    from nndl.bench import latency

    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(device)
    b = torch.randn(n, n, generator=gen).to(device)
    lat = latency(lambda: a @ b, warmup=warmup, repeats=repeats, device=device)
    return 2 * n**3 / (lat.median_ms / 1e3)


def reference_flops(model, x) -> int:
    """2 x fvcore's multiply-adds of convolutions and matrix products (the nndl.bench convention)."""
    import torch

    model = model.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit deprecation and tracer warnings
        from fvcore.nn import FlopCountAnalysis

        analysis = FlopCountAnalysis(model, x)
        for op in FVCORE_NOT_COUNTED:  # a handle counting 0 (fvcore still counts ops set to None)
            analysis.set_op_handle(op, _zero)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return 2 * int(analysis.total())


def _zero(inputs, outputs) -> int:
    return 0


def reference_params(model) -> int:
    """fvcore's parameter count (an independent count of the same tensors)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fvcore's import touches the deprecated torch.jit
        from fvcore.nn import parameter_count

    return int(parameter_count(model)[""])
