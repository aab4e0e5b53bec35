"""a02: Activations, kernel types, feature maps.

Questions: (1) which activation function does each of the ten a01 CNNs use, and what changes when
one architecture is trained the same way under other activations? (2) which registered CNNs use
regular, dilated, depthwise-separable, modified depthwise-separable (inverted residual, ghost,
shuffle), pointwise and deformable kernels, and what does each kernel type cost for the same
input and output shape? (3) what do the feature maps of one CNN look like at several depths, and
how large is the receptive field there?

    nndl run a02                                  # quick: ~4.5 min on 2 idle cores
    nndl run a02 --profile full --data-root DATA  # every registered timm/torchvision model scanned

What to expect: the inventory is read from the models' graphs (ReLU for the classic CNNs, ReLU6 for
MobileNet v2, Hardswish for MobileNet v3, SiLU for EfficientNet, GELU for ConvNeXt, with
Sigmoid/Hardsigmoid gates in squeeze-excitation blocks). The quick activation study (RegNetX-200MF
on the real scikit-learn digits, 6 epochs, 3 seeds each; channels_last, 1.5x faster on a CPU) ends
at 90-92% test accuracy for ReLU, ELU, GELU, SiLU and Tanh (seed spread 1-2 points; 93-94% after 8
epochs), whose differences stay within about twice that spread; Hardswish starts slowest and trails
(82%; 90% after 8 epochs). No timm or torchvision model contains a deformable convolution: the
layer is measured on its own and is an order of magnitude slower than a regular 3x3 convolution on
a CPU. Ghost, shuffle and depthwise-separable blocks need 8-16x fewer FLOPs than a regular 3x3
convolution of the same shape but run only 2-5x faster. The feature maps are those of the real
ImageNet EfficientNet-Lite0 on a photograph of a cat (which it calls a tiger cat).

The report's sections, one module each: `activations` (the inventory of a01's models, the study
of one architecture under several activations, its findings), `kernel_types` (the scan of
registered models, the cost of each kernel type), `feature_maps`; `common` holds what they share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from nndl.config import opt
from nndl.errors import ConfigError, did_you_mean
from nndl.expect import Expect
from nndl.registry import study

from .activations import (
    a01_config,
    activation_findings,
    activation_inventory,
    activation_study,
    drop_in_activations,
)
from .feature_maps import feature_maps
from .kernel_types import kernel_costs, kernel_types

__all__ = ["Config", "a01_config", "drop_in_activations", "run"]
ACTIVATIONS = ("ReLU", "ELU", "GELU", "SiLU", "Hardswish", "Tanh")

# quick: the torchvision classifiers of the families with special kernels, its segmentation
# models (dilated backbones), and a few timm families (ghost, selective-kernel, MobileNet v1,
# Xception); full scans every registered model of both libraries
QUICK_SCAN = (
    "torchvision:resnet18",
    "torchvision:googlenet",
    "torchvision:mobilenet_v2",
    "torchvision:mobilenet_v3_small",
    "torchvision:efficientnet_b0",
    "torchvision:shufflenet_v2_*",
    "torchvision:squeezenet1_1",
    "torchvision:convnext_tiny",
    "torchvision.segmentation:*",
    "timm:ghostnet_*",
    "timm:skresnet*",
    "timm:mobilenetv1_100",
    "timm:xception41",
)


@dataclass(frozen=True)
class Config:
    dataset: Literal["digits", "shapes", "cifar100"] = opt(
        "digits", "data of the activation study: digits / shapes (embedded), cifar100 (real)"
    )
    activation_model: str = opt("regnetx_002", "the architecture trained under every activation")
    activations: tuple[str, ...] = opt(ACTIVATIONS, "torch.nn activation classes to compare")
    input_size: int = opt(24, "input side in pixels for the activation study")
    num_train: int = opt(800, "training images (0 = all)")
    num_test: int = opt(0, "test images (0 = all)")
    num_epochs: int = opt(6, "passes over the training images, the same for every activation")
    seeds: tuple[int, ...] = opt(
        (0, 1, 2), "each activation is trained once per seed (initial weights, batch order)"
    )
    batch_size: int = opt(32, "mini-batch size")
    lr: float = opt(3e-3, "AdamW peak learning rate (one-cycle schedule)")
    scan: tuple[str, ...] = opt(QUICK_SCAN, "models scanned for kernel types (LIBRARY:GLOB)")
    kernel_channels: int = opt(64, "channels in and out of every kernel-type layer")
    kernel_hw: int = opt(32, "height and width of the kernel-type input")
    kernel_batch: int = opt(8, "batch of the kernel-type input")
    kernel_repeats: int = opt(10, "timed passes per kernel type (median reported)")
    feature_model: str = opt(
        "tf_efficientnet_lite0", "ImageNet-pretrained model whose feature maps are shown"
    )
    feature_photo: str = opt("chelsea", "the bundled photograph shown to it (nndl.data.photos)")
    feature_image_size: int = opt(0, "side of the image shown to it (0 = the model's native)")
    feature_channels: int = opt(16, "channels shown per depth (the most active ones)")

    def __post_init__(self):
        usable = drop_in_activations()
        for name in self.activations:
            if name not in usable:
                raise ConfigError(
                    f"'{name}' is not a torch.nn activation that can replace ReLU in place."
                    f"{did_you_mean(name, usable)}"
                )

    PROFILES: ClassVar[dict] = {
        "smoke": {
            "activations": ("ReLU", "GELU"),
            "num_train": 64,
            "num_test": 64,
            "num_epochs": 1,
            "activation_model": "squeezenet1_1",
            "scan": (
                "torchvision:shufflenet_v2_x0_5",
                "timm:ghostnet_050",
                "torchvision:mobilenet_v2",
            ),
            "kernel_channels": 16,
            "kernel_hw": 16,
            "kernel_batch": 2,
            "seeds": (0,),
            "feature_image_size": 64,
            "feature_channels": 4,
        },
        "full": {
            "dataset": "cifar100",
            "activation_model": "resnet18",
            "activations": (
                "ReLU",
                "LeakyReLU",
                "ELU",
                "GELU",
                "SiLU",
                "Hardswish",
                "Mish",
                "Tanh",
            ),
            "input_size": 32,
            "num_train": 0,
            "num_epochs": 15,
            "seeds": (0, 1, 2),
            "batch_size": 128,
            "lr": 2e-3,
            "scan": ("timm:*", "torchvision:*", "torchvision.segmentation:*"),
            "kernel_hw": 56,
            "kernel_batch": 32,
            "feature_model": "resnet50",
            "feature_image_size": 0,
        },
    }

    def plan(self, data_root) -> list[str]:
        from nndl.models import zoo

        sizes = {p: len(a01_config(p).models) for p in ("quick", "full")}
        return [
            f"inventory: a01's model list of the same profile ({sizes['quick']} models in quick, "
            f"{sizes['full']} in full)",
            f"activation study: {self.activation_model} x {len(self.activations)} activations, "
            f"{self.num_epochs} epochs on {self.dataset}",
            f"kernel scan: {len(zoo.registered_names(self.scan))} registered models",
            f"activation seeds: {', '.join(map(str, self.seeds))} "
            f"({len(self.activations) * len(self.seeds)} trainings)",
            f"feature maps: {self.feature_model} with ImageNet weights on the photo "
            f"'{self.feature_photo}'",
        ]


# What the headline numbers should be (the verdict table that opens the report; nndl.expect).
# Test accuracy of the best activation, last epoch. Quick: real digits, measured 0.937 (GELU;
# ReLU, SiLU, ELU, Tanh within the seed spread). Full: 20 CIFAR-100 classes.
EXPECT = (
    Expect(
        "best_activation_acc",
        quick=(0.85, 1.0),
        full=(0.5, 0.95),
        source="ReLU, Swish/SiLU and GELU end within ~1 point of each other on CIFAR ResNets "
        "(Ramachandran et al. 2017, Table 3; Hendrycks & Gimpel 2016)",
    ),
)


@study(
    "a02",
    "activations-kernels",
    "Activations, kernel types, feature maps",
    config=Config,
    datasets=("digits", "shapes", "cifar100"),
    headline=("best_activation", "best_activation_acc", "models_scanned"),
    expect=EXPECT,
)
def run(ctx) -> None:
    cfg: Config = ctx.config
    activation_inventory(ctx, cfg)
    runs = activation_study(ctx, cfg)
    activation_findings(ctx, cfg, runs)
    kernel_types(ctx, cfg)
    kernel_costs(ctx, cfg)
    feature_maps(ctx, cfg)
