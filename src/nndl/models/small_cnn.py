"""A small CNN for 32x32 images, following the model contract (`forward_features` / `forward_head`).

It is the classifier attacked in a05 and explained in a06 when no ImageNet weights are at hand:
per-image centring, three convolution stages (32 -> 16 -> 8 pixels) with batch norm and ReLU,
global average pooling and a linear head. The last stage (`cam_layer`, 8x8) is where Grad-CAM looks.

The centring subtracts each image's mean colour. On `shapes`, whose backgrounds have random colours,
it speeds up early training (train accuracy 0.36 against 0.25 after 5 epochs on 3,000 images in our
trial). Unlike instance normalisation it is linear, f(a x) = a f(x). This matters for Integrated
Gradients: a scale-invariant first layer would make the path from a black baseline flat everywhere
except next to the baseline.
"""

from __future__ import annotations

import torch
from torch import nn


class Centre(nn.Module):
    """x - mean over (H, W), per image and channel: removes the image's overall colour cast."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - x.mean(dim=(2, 3), keepdim=True)


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()
    )


class SmallCNN(nn.Module):
    """centre, conv(3->w), pool, conv(w->2w), conv(2w->2w), pool, conv(2w->4w), GAP, linear."""

    def __init__(self, num_classes: int = 10, width: int = 24, in_channels: int = 3):
        super().__init__()
        self.num_classes, self.num_features = num_classes, 4 * width
        self.centre = Centre()
        self.stem = _block(in_channels, width)  # (B, w, 32, 32)
        self.stage2 = nn.Sequential(
            nn.MaxPool2d(2), _block(width, 2 * width), _block(2 * width, 2 * width)
        )  # (B, 2w, 16, 16)
        self.stage3 = nn.Sequential(nn.MaxPool2d(2), _block(2 * width, 4 * width))  # (B, 4w, 8, 8)
        self.head = nn.Linear(4 * width, num_classes)

    @property
    def cam_layer(self) -> nn.Module:
        """The last spatial feature map: Grad-CAM's layer."""
        return self.stage3

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stage3(self.stage2(self.stem(self.centre(x))))  # (B, 4w, H/4, W/4)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        pooled = features.mean(dim=(2, 3))  # global average pooling: (B, 4w)
        return pooled if pre_logits else self.head(pooled)  # logits (B, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
