import torch
import torchvision

from nndl import bench


def test_params_equal_the_library_count_and_size_on_disk_is_plausible():
    model = torchvision.models.resnet18(num_classes=10)
    assert bench.count_params(model) == sum(p.numel() for p in model.parameters()) == 11181642
    assert 4 * 11181642 < bench.size_on_disk(model) < 4 * 11181642 * 1.05


def test_flops_follow_the_stated_convention():
    # Linear 100 -> 50 on batch 8: 8*100*50 multiply-adds = 80,000 FLOPs at 2 per MAC
    assert bench.count_flops(torch.nn.Linear(100, 50), torch.randn(8, 100)) == 80_000
    # Conv 3->16, 3x3, on 1x3x32x32 with padding 1: 16*32*32 outputs x 27 MACs each
    conv = torch.nn.Conv2d(3, 16, 3, padding=1)
    assert bench.count_flops(conv, torch.randn(1, 3, 32, 32)) == 2 * 16 * 32 * 32 * 27


def test_latency_warms_up_and_reports_median_and_p90():
    calls = []
    lat = bench.latency(lambda: calls.append(1), warmup=4, repeats=7)
    assert len(calls) == 11 and lat.repeats == 7
    assert 0 <= lat.median_ms <= lat.p90_ms and lat.threads == torch.get_num_threads()


def test_peak_memory_counts_live_activations():
    x = torch.randn(256, 256)

    def two_live():  # two 256x256 float32 results alive together: 2 x 256 KiB
        a = x * 2
        b = a + 1
        return a, b

    assert bench.peak_memory(two_live) == 2 * 256 * 256 * 4

    def one_at_a_time():
        for _ in range(3):
            x * 2  # each result dies at once

    assert bench.peak_memory(one_at_a_time) == 256 * 256 * 4


def test_benchmark_model_splits_counts_from_timings():
    m = bench.benchmark_model(torch.nn.Linear(10, 4), torch.randn(2, 10), repeats=3)
    counts, times = bench.split_timings(m)
    assert counts["params"] == 44 and counts["flops"] == 2 * 2 * 10 * 4
    assert set(times) >= {"latency_median_ms", "latency_p90_ms", "throughput_per_s"}


def test_kernel_time_states_threads_and_times_blocks_of_calls():
    import torch

    from nndl.bench import kernel_time

    x = torch.randn(256, 256)
    lat = kernel_time(lambda: torch.relu(x), num_threads=1, min_run_time=0.05)
    assert lat.threads == 1 and lat.repeats > 10  # many calls per block for a ~10 us kernel
    assert 0 < lat.median_ms < 5 and lat.p90_ms >= lat.median_ms * 0.5


def test_alternating_times_each_function_in_turns():
    import time

    from nndl.bench import alternating

    order = []
    fns = {"a": lambda: order.append("a"), "b": lambda: (order.append("b"), time.sleep(0.002))}
    out = alternating(fns, warmup=1, repeats=3)
    assert order == ["a", "b"] + ["a", "b"] * 3
    assert out["b"].median_ms > out["a"].median_ms and out["b"].repeats == 3


def test_train_step_time_splits_forward_backward_optimizer():
    import torch

    from nndl.bench import train_step_time

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 10))
    before = [p.clone() for p in model.parameters()]
    t = train_step_time(model, torch.randn(8, 3, 4, 4), torch.randint(0, 10, (8,)), repeats=3)
    assert {"forward_ms", "backward_ms", "optimizer_ms", "step_ms"} <= set(t)
    assert t["step_ms"] == t["forward_ms"] + t["backward_ms"] + t["optimizer_ms"]
    assert not torch.equal(before[0], next(model.parameters()))  # the optimizer stepped
