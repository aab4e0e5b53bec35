"""a01's pieces on real models: the bench harness against independent counts, the model zoo,
the CIFAR-100 loader on files written in the real format, and the full profile's fail-fast paths."""

import pickle
import time

import numpy as np
import pytest
import torch
import torchvision

from nndl import bench
from nndl.data import cifar100
from nndl.errors import ConfigError, DataError, WeightsError
from nndl.methods import cnn_bench
from nndl.models import zoo

# -- the bench harness against the libraries' own counts -------------------------------------------


@pytest.mark.parametrize("name", ["resnet18", "shufflenet_v2_x0_5", "mobilenet_v3_small"])
def test_params_equal_torchvision_published_count(name):
    # torchvision publishes num_params with each set of ImageNet weights (1000 classes)
    model = torchvision.models.get_model(name)
    published = torchvision.models.get_model_weights(name).DEFAULT.meta["num_params"]
    assert bench.count_params(model) == published == zoo.library_param_count(f"torchvision:{name}")
    assert bench.count_params(model) == cnn_bench.reference_params(model)


@pytest.mark.parametrize(
    "name", ["torchvision:resnet18", "mobilenetv3_small_050", "convnext_atto", "googlenet"]
)
def test_flops_equal_twice_fvcore_multiply_adds(name):
    # Conventions differ by design: fvcore counts one multiply-add as 1 "flop" (and, by default,
    # also charges batch norm, pooling and upsampling), nndl.bench counts a multiply-add as 2 FLOPs
    # and nothing element-wise. With fvcore's extra handles set to count 0, the two independent
    # counters (a torch.jit trace vs torch's FlopCounterMode) must agree: nndl == 2 * fvcore.
    # ConvNeXt's 1x1 convolutions are nn.Linear on channels-last maps; GoogLeNet has 1x1, 3x3,
    # 5x5 branches: both exercise more than plain convolutions.
    model = zoo.build(name, num_classes=20).eval()
    x = torch.rand(1, 3, 64, 64)
    ours, ref = bench.count_flops(model, x), cnn_bench.reference_flops(model, x)
    assert ours > 0 and abs(ours - ref) <= 1e-3 * ref


def test_fvcore_default_counts_more_than_the_convention():
    # the reason for switching handles off: by default fvcore adds normalisation and pooling
    from fvcore.nn import FlopCountAnalysis

    model = zoo.build("torchvision:resnet18", num_classes=20).eval()
    x = torch.rand(1, 3, 64, 64)
    default = FlopCountAnalysis(model, x).unsupported_ops_warnings(False).total()
    assert 2 * default > bench.count_flops(model, x)


def test_latency_skips_warmup_and_reports_the_median():
    # two slow warm-up calls, then five timed calls with one slow outlier
    durations = iter([0.05, 0.05, 0.002, 0.002, 0.04, 0.002, 0.002])
    lat = bench.latency(lambda: time.sleep(next(durations)), warmup=2, repeats=5)
    assert lat.repeats == 5
    assert 0.002 * 1e3 <= lat.median_ms < 0.02 * 1e3  # neither the warm-up nor the outlier
    assert lat.p90_ms >= lat.median_ms and lat.mean_ms > lat.median_ms


def test_matmul_peak_is_measured():
    peak = cnn_bench.matmul_peak(n=256, warmup=1, repeats=3)
    assert 1e8 < peak < 1e15


# -- the model zoo ---------------------------------------------------------------------------------


def test_unknown_model_lists_close_registered_names():
    with pytest.raises(ConfigError, match=r"Unknown model 'resnt18'.*resnet18"):
        zoo.resolve("resnt18")
    with pytest.raises(ConfigError, match="in timm.*shufflenet_v2_x0_5"):
        zoo.resolve("timm:shufflenet_v2_x0_5")  # torchvision-only architecture
    with pytest.raises(ConfigError, match="library"):
        zoo.resolve("keras:resnet18")


def test_names_resolve_to_their_library_and_family():
    assert zoo.resolve("resnet50.a1_in1k").library == "timm"  # a pretrained tag is accepted
    assert zoo.resolve("shufflenet_v2_x0_5").library == "torchvision"
    assert zoo.resolve("torchvision:resnet18").library == "torchvision"
    assert [
        zoo.family(n)
        for n in (
            "mobilenetv3_small_050",
            "shufflenet_v2_x1_0",
            "vgg16_bn",
            "regnet_y_800mf",
            "inception_v3",
        )
    ] == ["mobilenetv3", "shufflenet_v2", "vgg", "regnet", "inception_v3"]


def test_native_preprocessing_comes_from_the_libraries():
    inc = zoo.preprocessing("inception_v3")  # timm's pretrained cfg
    assert inc.input_size == 299 and inc.mean == (0.5, 0.5, 0.5)
    tv = zoo.preprocessing("shufflenet_v2_x1_0")  # torchvision weights' transforms
    assert tv.input_size == 224 and tv.crop_pct == pytest.approx(224 / 256)


def test_head_is_found_from_shapes_and_inception_has_no_aux_head():
    assert zoo.head_keys("torchvision:vgg11", 20) == {"classifier.6.weight", "classifier.6.bias"}
    model = zoo.build("googlenet", 20).train()
    assert model(torch.rand(2, 3, 64, 64)).shape == (2, 20)  # plain logits, not GoogLeNetOutputs


def test_pretrained_without_network_fails_fast_with_the_source():
    t0 = time.perf_counter()
    with pytest.raises(WeightsError, match=r"resnet18.*no network.*weights_dir"):
        zoo.build("resnet18", 20, pretrained=True)
    assert time.perf_counter() - t0 < 10


def test_weights_file_loads_backbone_and_replaces_head(tmp_path):
    source = torchvision.models.squeezenet1_1()  # "ImageNet" weights: 1000 classes
    torch.save(source.state_dict(), tmp_path / "squeezenet1_1.pth")
    found = zoo.weights_file_in(tmp_path, "squeezenet1_1")
    model = zoo.build("squeezenet1_1", 20, weights_file=found)
    assert torch.equal(model.features[0].weight, source.features[0].weight)
    assert model.classifier[1].weight.shape[0] == 20
    torch.save(torchvision.models.shufflenet_v2_x0_5().state_dict(), tmp_path / "other.pth")
    with pytest.raises(WeightsError, match="does not fit"):
        zoo.build("squeezenet1_1", 20, weights_file=tmp_path / "other.pth")


def test_trainable_names_head_and_last_stage():
    model = zoo.build("resnet18", 20)
    head = zoo.trainable_names(model, "resnet18", 20, "head")
    assert head == {"fc.weight", "fc.bias"}
    stage = zoo.trainable_names(model, "resnet18", 20, "head+last_stage") - head
    assert stage and all(n.startswith("layer4.") for n in stage)


# -- CIFAR-100 in its published layout -------------------------------------------------------------


def _write_cifar100(root, n_train=30, n_test=10):
    """cifar-100-python/{train,test,meta} pickles with the real keys, dtypes and pixel layout."""
    folder = root / cifar100.FOLDER
    folder.mkdir(parents=True)
    fine = [f"class_{i:02d}" for i in range(100)]
    fine[3], fine[7], fine[42] = "apple", "bicycle", "maple_tree"
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        labels = [3, 7, 42, 5][: min(4, n)] * (n // 4) + [3] * (n % 4)
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        data[0, :1024] = 255  # image 0: red plane saturated, green and blue from the rng
        batch = {
            "filenames": [f"{i}.png" for i in range(n)],
            "batch_label": split,
            "fine_labels": labels,
            "coarse_labels": [0] * n,
            "data": data,
        }
        (folder / split).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {"fine_label_names": fine, "coarse_label_names": [f"c{i}" for i in range(20)]}
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def test_cifar100_reads_chosen_classes_in_the_real_layout(tmp_path):
    _write_cifar100(tmp_path)
    assert cifar100.INFO.locate(tmp_path) == tmp_path / cifar100.FOLDER
    x_tr, y_tr, x_te, y_te, names = cifar100.load_cifar100(
        tmp_path, ("maple_tree", "apple", "bicycle"), download=False
    )
    assert names == ["maple_tree", "apple", "bicycle"]
    assert x_tr.shape[1:] == (3, 32, 32) and x_tr.dtype == np.float32
    assert set(y_tr) == {0, 1, 2} and len(x_tr) == len(y_tr) < 30  # class 5 dropped
    assert len(x_te) == len(y_te) > 0
    assert (x_tr[0, 0] == 1.0).all()  # the first 1024 values are the red plane


def test_cifar100_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match="cifar-100-python"):
        cifar100.load_cifar100(tmp_path, download=False)
    folder = _write_cifar100(tmp_path)
    with pytest.raises(ConfigError, match="not a CIFAR-100 class.*maple_tree"):
        cifar100.load_cifar100(tmp_path, ("maple_tre",), download=False)
    (folder / "train").write_bytes((folder / "train").read_bytes()[:500])  # truncated
    with pytest.raises(DataError, match="Corrupt CIFAR-100 file .*train"):
        cifar100.load_cifar100(tmp_path, ("apple",), download=False)


# -- the study's full profile ----------------------------------------------------------------------


def test_full_plan_lists_models_weights_and_cost(tmp_path):
    from nndl.config import resolve
    from nndl.studies.a01_cnn_benchmark import Config

    cfg = resolve(Config, "full", {"models": "resnet18,shufflenet_v2_x0_5"})
    lines = "\n".join(cfg.plan(tmp_path))
    assert "resnet18 (resnet): 224x224" in lines and "shufflenet_v2_x0_5" in lines
    assert "weights not here, downloaded from hf-hub:timm/resnet18" in lines and "TFLOP" in lines


def test_full_run_without_weights_fails_fast(tmp_path):
    from nndl.registry import get_study
    from nndl.run import RunOptions, execute

    opts = RunOptions(
        profile="full",
        out=tmp_path / "runs",
        data_root=tmp_path,
        overrides={"models": "resnet18,squeezenet1_1"},
    )
    t0 = time.perf_counter()
    with pytest.raises(WeightsError, match=r"resnet18, squeezenet1_1.*weights_dir"):
        execute(get_study("a01"), opts)
    assert time.perf_counter() - t0 < 15
