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
