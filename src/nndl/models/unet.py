"""U-Net (Ronneberger et al. 2015), written by hand: an encoder-decoder with skip connections.

    x (B, C_in, H, W)
    encoder level l = 0..depth-1:  [conv3x3-BN-ReLU] x 2 at width * 2**l channels, then max-pool 2x2
    bottleneck:                    [conv3x3-BN-ReLU] x 2 at width * 2**depth channels
    decoder level l = depth-1..0:  up-conv 2x2 (stride 2) to width * 2**l channels,
                                   concatenate the encoder's level-l features (the skip),
                                   [conv3x3-BN-ReLU] x 2 at width * 2**l channels
    head:                          1x1 conv to `out_channels`

Two heads on the same body:
- `head="segmentation"`: `out_channels = num_classes` logits per pixel (B, num_classes, H, W).
- `head="density"`: one channel, the crowd density per pixel (B, 1, H, W); the count of an image
  is the sum of its map.

Deviations from the 2015 paper, both usual today: convolutions are padded ("same"), so the output
has the input's size and the skips need no cropping; batch normalisation follows each convolution.
Inputs whose sides are not multiples of 2**depth are zero-padded on the bottom/right inside
`forward` and the output is cropped back, so any image size works.

The model contract of nndl: `forward_features(x)` returns the last decoder features
(B, width, H, W) and `forward_head(features)` the per-pixel output.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn


def double_conv(c_in: int, c_out: int) -> nn.Sequential:
    """[conv3x3 (padded) - BN - ReLU] x 2: the building block of every level."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 2,
        *,
        depth: int = 4,
        width: int = 64,
        head: Literal["segmentation", "density"] = "segmentation",
    ):
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError("U-Net needs depth >= 1 and width >= 1")
        if head not in ("segmentation", "density"):
            raise ValueError(f"unknown U-Net head {head!r}: segmentation or density")
        self.depth, self.width, self.head_kind = depth, width, head
        self.num_classes = num_classes if head == "segmentation" else 1
        chans = [width * 2**level for level in range(depth + 1)]  # e.g. 64, 128, 256, 512, 1024
        self.down = nn.ModuleList(
            double_conv(c_in, c_out)
            for c_in, c_out in zip([in_channels, *chans[:-2]], chans[:-1], strict=True)
        )
        self.bottleneck = double_conv(chans[-2], chans[-1])
        # decoder, deepest first: up-conv halves the channels, the skip brings them back
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(chans[level + 1], chans[level], 2, stride=2)
            for level in reversed(range(depth))
        )
        self.dec = nn.ModuleList(
            double_conv(2 * chans[level], chans[level]) for level in reversed(range(depth))
        )
        self.head = nn.Conv2d(width, self.num_classes, 1)

    @property
    def multiple(self) -> int:
        """Input sides are padded to a multiple of this (one halving per level)."""
        return 2**self.depth

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = self.multiple
        pad_h, pad_w = (-h) % m, (-w) % m
        if pad_h or pad_w:  # zero-pad bottom/right so every pooling halves exactly
            x = F.pad(x, (0, pad_w, 0, pad_h))
        skips = []
        for block in self.down:
            x = block(x)  # (B, chans[l], H / 2**l, W / 2**l)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)  # (B, chans[depth], H / 2**depth, W / 2**depth)
        for up, block, skip in zip(self.up, self.dec, reversed(skips), strict=True):
            x = block(torch.cat([skip, up(x)], dim=1))  # (B, chans[l], H / 2**l, W / 2**l)
        return x[..., :h, :w]  # (B, width, H, W)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)  # logits (B, num_classes, H, W) or density (B, 1, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
