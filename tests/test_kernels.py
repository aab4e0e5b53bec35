"""The kernel-type scanner, activation inventory and receptive fields on known models."""

import pytest
import torch
from torch import nn
from torchvision.ops import DeformConv2d

from nndl import bench
from nndl.methods import kernels
from nndl.models import zoo


def _scan(name):
    return kernels.scan(zoo.build_on_meta(name), zoo.preprocessing(name).input_size)


def test_conv_kinds_from_hyper_parameters():
    kinds = [
        kernels.conv_kind(m)
        for m in (
            nn.Conv2d(8, 8, 3),
            nn.Conv2d(8, 8, 3, dilation=2),
            nn.Conv2d(8, 8, 3, groups=8),
            nn.Conv2d(8, 8, 3, groups=2),
            nn.Conv2d(8, 16, 1),
            DeformConv2d(8, 8, 3),
            nn.ReLU(),
        )
    ]
    assert kinds == ["regular", "dilated", "depthwise", "grouped", "pointwise", "deformable", None]


@pytest.mark.parametrize(
    "name, expected",
    [
        # (kernel types that must be present, types that must be absent, main activation)
        ("resnet18", ({"regular", "pointwise"}, {"depthwise-separable", "dilated"}, "ReLU")),
        ("mobilenetv1_100", ({"depthwise-separable"}, {"modified depthwise-separable"}, "ReLU6")),
        ("torchvision:mobilenet_v2", ({"modified depthwise-separable"}, {"dilated"}, "ReLU6")),
        ("skresnet18", ({"dilated", "regular"}, {"depthwise-separable"}, "ReLU")),
        ("convnext_atto", ({"depthwise-separable"}, {"modified depthwise-separable"}, "GELU")),
        ("torchvision.segmentation:deeplabv3_mobilenet_v3_large", ({"dilated"}, set(), None)),
    ],
)
def test_scanner_finds_the_kernel_types_of_known_models(name, expected):
    present, absent, activation = expected
    result = _scan(name)
    types = result.kernel_types()
    assert result.traced
    assert all(types[t] > 0 for t in present), types
    assert all(types[t] == 0 for t in absent), types
    assert types["deformable"] == 0
    if activation:
        assert result.main_activation() == activation


def test_modified_depthwise_separable_variants_are_told_apart():
    mbv2 = _scan("mobilenetv2_100").blocks
    assert mbv2["inverted residual"] == 16 and mbv2["depthwise-separable"] == 1  # expand_ratio 1
    shuffle = _scan("shufflenet_v2_x0_5")
    assert shuffle.blocks["shuffle unit"] == 16 and shuffle.channel_shuffles == 16
    assert shuffle.blocks["inverted residual"] == 0
    ghost = _scan("ghostnet_050").blocks
    assert ghost["ghost module"] > 0 and ghost["inverted residual"] == 0


def test_deformable_convolution_is_found():
    class Deform(nn.Module):
        def __init__(self):
            super().__init__()
            self.offset = nn.Conv2d(3, 18, 3, padding=1)
            self.conv = DeformConv2d(3, 8, 3, padding=1)

        def forward(self, x):
            return self.conv(x, self.offset(x))

    assert kernels.scan(Deform(), 16).kernel_types()["deformable"] == 1


def test_activation_inventory_reads_modules_and_functional_calls():
    eff = _scan("efficientnet_b0")
    assert eff.main_activation() == "SiLU" and eff.activation_ops["Sigmoid"] == 16  # SE gates
    mbv3 = _scan("mobilenetv3_large_100")
    assert mbv3.main_activation() == "Hardswish" and "ReLU" in mbv3.activation_ops
    goog = _scan("googlenet")  # torchvision's GoogLeNet calls F.relu: no activation modules
    assert not goog.activation_modules and goog.activation_ops["ReLU"] == 57


def test_swap_activations_changes_what_runs():
    model = zoo.build("resnet18", 10)
    assert kernels.swap_activations(model, nn.GELU) == 17
    ops = kernels.scan(model.to("meta"), 64).activation_ops
    assert set(ops) == {"GELU"} and ops["GELU"] == 17


def test_receptive_fields_match_the_textbook_values():
    rf = kernels.receptive_fields(
        zoo.build("torchvision:resnet18", 10),
        ["conv1", "maxpool", "layer1", "layer2", "layer3", "layer4"],
    )
    assert rf == {
        "conv1": (7, 2),
        "maxpool": (11, 4),
        "layer1": (43, 4),
        "layer2": (99, 8),
        "layer3": (211, 16),
        "layer4": (435, 32),
    }
    # 3x3 -> 3x3 stride 2 -> 5x5 dilation 2: r = 3, 3 + 2 = 5, 5 + 4 * 2 * 2 = 21
    seq = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2), nn.Conv2d(4, 4, 5, dilation=2)
    )
    assert kernels.receptive_fields(seq, ["0", "2", "3"], 32) == {
        "0": (3, 1),
        "2": (5, 2),
        "3": (21, 2),
    }


def test_kernel_type_layers_keep_the_shape_and_deformable_flops_are_counted():
    kernels.register_deform_conv_flops()
    kernels.register_deform_conv_flops()  # idempotent
    x = torch.randn(2, 16, 8, 8)
    for name, layer in kernels.kernel_type_layers(16).items():
        assert layer.eval()(x).shape == x.shape, name
    conv = DeformConv2d(16, 16, 3, padding=1, bias=False)
    offset = torch.zeros(2, 18, 8, 8)
    macs = 2 * 16 * 8 * 8 * 16 * 9  # like a regular 3x3 convolution
    samples = 2 * 16 * 9 * 8 * 8  # bilinear samples, 4 multiply-adds each
    flops = bench.count_flops(lambda t: conv(t, offset), x)
    assert flops == 2 * macs + 2 * 4 * samples


def test_a02_accepts_drop_in_activations_and_names_the_rest():
    from nndl import config
    from nndl.errors import ConfigError
    from nndl.studies.a02_activations_kernels import Config, drop_in_activations

    usable = drop_in_activations()
    assert {"ReLU", "GELU", "SiLU", "Hardswish", "ELU", "Tanh", "LeakyReLU"} <= set(usable)
    assert not {"Softmax", "GLU", "MultiheadAttention", "Threshold"} & set(usable)
    assert config.resolve(Config, "smoke", {"activations": "Mish,ReLU6"}).activations == (
        "Mish",
        "ReLU6",
    )
    with pytest.raises(ConfigError, match="Did you mean ReLU"):
        config.resolve(Config, "smoke", {"activations": "relu"})
