"""Studies a12 (distillation) and a14 (ViT): teacher splits, matched baselines, one-line errors."""

from __future__ import annotations

import pytest
import torch

from nndl.errors import ConfigError


@pytest.mark.parametrize(
    "name", ["tf_efficientnet_lite0", "torchvision:mobilenet_v2", "torchvision:resnet50"]
)
def test_teacher_split_is_the_whole_network(name):
    """trunk then top (the last two layers) computes exactly the library model's forward."""
    from nndl.models import zoo
    from nndl.studies.a12_distillation import split_teacher

    torch.manual_seed(0)
    model = zoo.build(name, 10).eval()
    trunk, top = split_teacher(name, model)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(top(trunk(x)), model(x), atol=1e-5)
    trained = sum(p.numel() for p in top.parameters())
    assert 0 < trained < 0.5 * sum(p.numel() for p in model.parameters())


def test_unknown_teacher_family_is_a_config_error():
    from nndl.models import zoo
    from nndl.studies.a12_distillation import split_teacher

    with pytest.raises(ConfigError, match="no split"):
        split_teacher("timm:resnet18", zoo.build("timm:resnet18", 10))


def test_baselines_match_the_vit_parameter_budget():
    from nndl import bench
    from nndl.models.small_cnn import SmallCNN
    from nndl.models.vit import ViT
    from nndl.studies.a14_vit import MLP, Config, cnn_matched_width, vit_config

    budget = bench.count_params(ViT(vit_config(Config(), 20)))
    fc = MLP.build(3072, MLP.matched_width(3072, 20, budget), 20)
    cnn = SmallCNN(20, cnn_matched_width(20, budget))
    for model in (fc, cnn):
        assert abs(bench.count_params(model) - budget) < 0.15 * budget


def test_sampling_noise_is_twice_the_standard_error_of_the_gap():
    from nndl.studies.a14_vit import sampling_noise

    assert sampling_noise(0.5, 0.5, 1000) == pytest.approx(2 * (0.5 / 1000) ** 0.5)
    # the same gap is noise on 100 test images and a difference on 10,000
    gap = 0.12 - 0.10
    assert sampling_noise(0.12, 0.10, 100) > gap
    assert sampling_noise(0.12, 0.10, 10_000) < gap


@pytest.mark.parametrize(
    "study,args,message",
    [
        ("a12", ["--set", "teachers=tf_efficientnet_lite0"], "exactly two teachers"),
        ("a12", ["--set", "alpha=2"], "alpha"),
        ("a12", ["--set", "dataset=cifar10"], "Dataset 'cifar10' not found"),
        ("a12", ["--set", "teachers=resnet50,efficientnet_b3"], "not on this machine"),
        (
            "a12",
            ["--set", "teachers=resnet50,efficientnet_b3", "--set", "weights_dir=/nonexistent"],
            "save each as /nonexistent/<model>",
        ),
        ("a12", ["--set", "teachers=resnt50,efficientnet_b3"], "Unknown model 'resnt50'"),
        ("a14", ["--set", "dataset=tiny_imagenet"], "tiny-imagenet-200"),
        ("a14", ["--set", "num_heads=3"], "divide"),
    ],
)
def test_bad_input_is_one_line(study, args, message, tmp_path):
    from typer.testing import CliRunner

    from nndl.cli import app

    result = CliRunner().invoke(
        app,
        ["run", study, "--profile", "smoke", "--out", str(tmp_path), "--data-root", str(tmp_path)]
        + args,
    )
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
