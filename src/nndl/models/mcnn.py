"""MCNN, the multi-column CNN of Zhang et al., "Single-Image Crowd Counting via Multi-Column
Convolutional Neural Network" (CVPR 2016), written by hand.

Three columns see the same image with filters of different sizes, so each responds to heads of a
different scale (large, medium, small receptive fields); their last feature maps are concatenated
and fused by a 1x1 convolution into one density map at a quarter of the input resolution:

    column   conv (ReLU) ............................................   receptive field
    large    9x9x16  -> pool -> 7x7x32 -> pool -> 7x7x16 -> 7x7x8         (biggest heads)
    medium   7x7x20  -> pool -> 5x5x40 -> pool -> 5x5x20 -> 5x5x10
    small    5x5x24  -> pool -> 3x3x48 -> pool -> 3x3x24 -> 3x3x12         (smallest heads)
    fuse     concat (8 + 10 + 12 = 30 channels) -> 1x1 conv -> density (B, 1, H/4, W/4)

Pools are 2x2 max-pools, so the output is (H // 4, W // 4); a ground-truth map is brought to that
size by summing 4x4 blocks (which keeps its integral, the count). The paper trains on grey images;
`in_channels=3` (the default here) feeds colour, as U-Net gets, so the two counters see the same
input. The fused output is linear (no ReLU), as in the paper's figure; the count is its sum.
"""

from __future__ import annotations

import torch
from torch import nn

# (kernel, channels) of the four convolutions of each column; pools after the first two
COLUMNS = {
    "large": ((9, 16), (7, 32), (7, 16), (7, 8)),
    "medium": ((7, 20), (5, 40), (5, 20), (5, 10)),
    "small": ((5, 24), (3, 48), (3, 24), (3, 12)),
}


def column(in_channels: int, spec) -> nn.Sequential:
    layers: list[nn.Module] = []
    c_in = in_channels
    for i, (k, c_out) in enumerate(spec):
        layers += [nn.Conv2d(c_in, c_out, k, padding=k // 2), nn.ReLU(inplace=True)]
        if i < 2:
            layers.append(nn.MaxPool2d(2))  # two halvings: quarter resolution
        c_in = c_out
    return nn.Sequential(*layers)


class MCNN(nn.Module):
    downsample = 4  # output side = input side // 4

    def __init__(self, in_channels: int = 3):
        super().__init__()
        self.columns = nn.ModuleDict({name: column(in_channels, s) for name, s in COLUMNS.items()})
        fused = sum(spec[-1][1] for spec in COLUMNS.values())  # 30
        self.fuse = nn.Conv2d(fused, 1, 1)
        # PyTorch's default (Kaiming-uniform) initialisation; the paper draws N(0, 0.01) weights
        # and trains for a long time with plain SGD.

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # each column: (B, C_col, H/4, W/4); concatenated: (B, 30, H/4, W/4)
        return torch.cat([col(x) for col in self.columns.values()], dim=1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fuse(features)  # density (B, 1, H/4, W/4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
