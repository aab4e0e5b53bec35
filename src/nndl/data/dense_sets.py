"""Torch datasets for dense prediction: (image, class mask) pairs and crowd images with density
maps, over in-memory arrays or files read on demand.

Both take `read(i)`, a function returning sample i as NumPy arrays, so the same dataset serves an
embedded renderer's arrays and a real dataset's files. Random crops and flips draw from torch's
global generator, which the training loop seeds and checkpoints, so a resumed run sees the same
crops as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from nndl.errors import DataError


def read_rgb(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """RGB uint8 (H, W, 3), resized (bilinear) to size = (height, width) when given."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if size is not None and im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.BILINEAR)
            return np.asarray(im, np.uint8)
    except OSError as e:
        raise DataError(f"Corrupt image {path}: {e}.") from e


def read_label_png(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """A label mask PNG (one class index per pixel) as uint8 (H, W), resized with nearest."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.mode not in ("L", "P", "I", "I;16"):
                raise DataError(f"Label mask {path} has mode {im.mode}; expected one channel.")
            if size is not None and im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.NEAREST)
            return np.asarray(im).astype(np.uint8)
    except OSError as e:
        raise DataError(f"Corrupt label mask {path}: {e}.") from e


def _to_tensor(image: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float() / 255.0


class SegmentationSet:
    """Items (x float32 (3, H, W) in [0, 1], y int64 (H, W)); optional random horizontal flip."""

    def __init__(
        self, read: Callable[[int], tuple[np.ndarray, np.ndarray]], n: int, flip: bool = False
    ):
        self.read, self.n, self.flip = read, n, flip

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        import torch

        image, mask = self.read(int(i))
        x, y = _to_tensor(image), torch.from_numpy(mask.astype(np.int64))
        if self.flip and torch.rand(()) < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        return x, y


def pad_to(array, height: int, width: int):
    """Zero-pad the last two dims of an array/tensor on the bottom and right to (height, width)."""
    h, w = array.shape[-2:]
    if isinstance(array, np.ndarray):
        pad = [(0, 0)] * (array.ndim - 2) + [(0, height - h), (0, width - w)]
        return np.pad(array, pad)
    import torch.nn.functional as F

    return F.pad(array, (0, width - w, 0, height - h))


class CrowdSet:
    """Random crops of crowd images with their density maps, for training a counter.

    Item: (x float32 (3, crop, crop), density float32 (1, crop / downsample, crop / downsample)),
    the density multiplied by `scale` (maps have tiny values; the scale keeps the loss away from
    float rounding) and sum-pooled by `downsample` (MCNN predicts at 1/4 resolution), which keeps
    its integral. `crops_per_image` crops are drawn from each image per epoch. An image smaller than
    the crop is zero-padded. `crop = 0` returns whole images (padded to a multiple of downsample).
    """

    def __init__(
        self,
        read: Callable[[int], tuple[np.ndarray, np.ndarray]],
        n: int,
        *,
        crop: int,
        downsample: int = 1,
        scale: float = 1.0,
        flip: bool = True,
        crops_per_image: int = 1,
    ):
        if crop % max(downsample, 1):
            raise ValueError(f"crop {crop} must be a multiple of the downsampling {downsample}")
        self.read, self.n, self.crop = read, n, crop
        self.downsample, self.scale, self.flip = downsample, scale, flip
        self.crops_per_image = crops_per_image

    def __len__(self) -> int:
        return self.n * self.crops_per_image

    def __getitem__(self, i: int):
        import torch

        from nndl.methods.density import sum_pool

        image, density = self.read(int(i) // self.crops_per_image)
        h, w = density.shape
        c, ds = self.crop, self.downsample
        if c:
            if h < c or w < c:  # pad small images up to the crop
                image, density = (
                    pad_to(image.transpose(2, 0, 1), max(h, c), max(w, c)),
                    pad_to(density, max(h, c), max(w, c)),
                )
                image = image.transpose(1, 2, 0)
                h, w = density.shape
            top = int(torch.randint(0, h - c + 1, ()))
            left = int(torch.randint(0, w - c + 1, ()))
            image = image[top : top + c, left : left + c]
            density = density[top : top + c, left : left + c]
        x = _to_tensor(image)
        d = sum_pool(density, ds) * self.scale  # (H / ds, W / ds), same integral * scale
        if c == 0:
            x = pad_to(x, d.shape[0] * ds, d.shape[1] * ds)
        y = torch.from_numpy(np.ascontiguousarray(d, np.float32))[None]
        if self.flip and torch.rand(()) < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        return x, y
