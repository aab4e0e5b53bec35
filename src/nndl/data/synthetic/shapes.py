"""`shapes`: rendered 32x32 RGB images of 10 shapes (or 20 classes: shape x texture).

The embedded stand-in for CIFAR-10, CIFAR-100's 20 classes and 20 ImageNet classes. Each image is a
random-coloured shape at a random position, scale and rotation, on a random gradient background
with clutter (lines and blobs in other colours) and pixel noise. Colour carries no class
information, so a linear classifier on raw pixels stays far below a small CNN (tested).

Deterministic: the same (n, num_classes, size, seed) gives the same bytes.
"""

from __future__ import annotations

import numpy as np

from nndl.data import DatasetInfo, register

SHAPES = (
    "circle",
    "square",
    "triangle",
    "star",
    "cross",
    "ring",
    "hexagon",
    "diamond",
    "arrow",
    "crescent",
)
TEXTURES = ("solid", "striped")

register(
    DatasetInfo(
        name="shapes",
        kind="embedded",
        description="rendered 32x32 shapes, 10 classes (or 20: shape x texture), with clutter",
        layout="",
        how_to_get="Rendered by nndl from a seed; nothing to download.",
    )
)


def class_names(num_classes: int = 10) -> list[str]:
    if num_classes == 10:
        return list(SHAPES)
    if num_classes == 20:
        return [f"{t} {s}" for t in TEXTURES for s in SHAPES]
    raise ValueError("shapes has 10 or 20 classes")


def _regular_polygon(u, v, k: int, apothem: float):
    """Inside a regular k-gon: every edge normal's projection below the apothem."""
    angles = 2 * np.pi * np.arange(k) / k + np.pi / 2
    proj = u[..., None] * np.cos(angles) + v[..., None] * np.sin(angles)
    return proj.max(-1) < apothem


def _shape_mask(name: str, u, v) -> np.ndarray:
    """Boolean mask of `name` in shape-local coordinates (unit radius)."""
    r, phi = np.hypot(u, v), np.arctan2(v, u)
    if name == "circle":
        return r < 0.9
    if name == "square":
        return np.maximum(abs(u), abs(v)) < 0.72
    if name == "triangle":
        return _regular_polygon(u, v + 0.15, 3, 0.5)
    if name == "star":  # five points: the radius follows a triangle wave in the angle
        tri = np.abs(((phi - np.pi / 2) * 5 / (2 * np.pi)) % 1 - 0.5) * 2  # 1 at the points
        return r < 0.38 + 0.55 * tri**2
    if name == "cross":
        return ((abs(u) < 0.28) & (abs(v) < 0.9)) | ((abs(v) < 0.28) & (abs(u) < 0.9))
    if name == "ring":
        return (r < 0.92) & (r > 0.55)
    if name == "hexagon":
        return _regular_polygon(u, v, 6, 0.78)
    if name == "diamond":
        return abs(u) / 0.55 + abs(v) / 0.95 < 1
    if name == "arrow":
        shaft = (abs(v) < 0.18) & (u > -0.9) & (u < 0.15)
        head = (u >= 0.1) & (u < 0.9) & (abs(v) < (0.9 - u) * 0.85)
        return shaft | head
    if name == "crescent":
        return (r < 0.9) & (np.hypot(u - 0.45, v) > 0.7)
    raise KeyError(name)


def _random_colour(rng) -> np.ndarray:
    """A saturated colour of random hue (HSV -> RGB)."""
    import colorsys

    return np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.5, 1), rng.uniform(0.5, 1)))


def _render_one(rng, shape: str, texture: str, size: int) -> np.ndarray:
    s = 2 * size  # render at 2x, then average 2x2 blocks (anti-aliasing)
    yy, xx = np.mgrid[0:s, 0:s] / s * 2 - 1  # pixel centres in [-1, 1]
    # background: a linear gradient between two random colours
    c0, c1 = _random_colour(rng) * 0.8, _random_colour(rng) * 0.8
    t = (np.cos(rng.uniform(0, 2 * np.pi)) * xx + np.sin(rng.uniform(0, 2 * np.pi)) * yy + 1) / 2
    img = c0 * (1 - t[..., None]) + c1 * t[..., None]
    # clutter: thin lines and small blobs that are not the class shape
    for _ in range(rng.integers(2, 5)):
        colour = _random_colour(rng)
        if rng.random() < 0.5:
            a, off = rng.uniform(0, np.pi), rng.uniform(-1, 1)
            mask = abs(np.cos(a) * xx + np.sin(a) * yy - off) < rng.uniform(0.02, 0.05)
        else:
            cx, cy = rng.uniform(-1, 1, 2)
            mask = np.hypot(xx - cx, yy - cy) < rng.uniform(0.05, 0.15)
        img[mask] = colour
    # the shape: random scale, rotation and position, random colour
    scale = rng.uniform(0.38, 0.62)
    cx, cy = rng.uniform(-1 + scale, 1 - scale, 2)
    a = rng.uniform(0, 2 * np.pi)
    u = (np.cos(a) * (xx - cx) + np.sin(a) * (yy - cy)) / scale
    v = (-np.sin(a) * (xx - cx) + np.cos(a) * (yy - cy)) / scale
    mask = _shape_mask(shape, u, v)
    colour = _random_colour(rng)
    if texture == "striped":  # stripes of the shape's colour and a contrasting dark one
        freq = rng.uniform(5, 7)
        stripes = np.sin(freq * np.pi * (u + rng.uniform(0, 1))) > 0
        fill = np.where(stripes[..., None], colour, colour * 0.2)
    else:
        fill = np.broadcast_to(colour, img.shape)
    img = np.where(mask[..., None], fill, img)
    img = img.reshape(size, 2, size, 2, 3).mean((1, 3))
    img = img + rng.normal(0, 0.04, img.shape)  # sensor noise
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def render_shapes(n: int, num_classes: int = 10, size: int = 32, seed: int = 0):
    """(images uint8 (n, size, size, 3), labels int64 (n,)), classes balanced and shuffled."""
    rng = np.random.default_rng([seed, num_classes, size, 7])
    y = rng.permutation(np.arange(n) % num_classes).astype(np.int64)
    x = np.empty((n, size, size, 3), np.uint8)
    for i, label in enumerate(y):
        shape = SHAPES[label % 10]
        texture = TEXTURES[label // 10] if num_classes == 20 else TEXTURES[rng.integers(2)]
        x[i] = _render_one(rng, shape, texture, size)
    return x, y


def load_shapes(num_classes=10, num_train=5000, num_test=1000, size=32, seed=0):
    """(x_train, y_train, x_test, y_test): float32 NCHW in [0, 1] and int64 labels.

    Train and test come from different seeds, so no image is shared.
    """
    x_tr, y_tr = render_shapes(num_train, num_classes, size, seed=seed)
    x_te, y_te = render_shapes(num_test, num_classes, size, seed=seed + 1_000_003)

    def chw(x):
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0

    return chw(x_tr), y_tr, chw(x_te), y_te


def cached_shapes(ctx, num_classes: int, num_train: int, num_test: int, size: int = 32):
    """`load_shapes` rendered once per (classes, sizes, seed) and kept in the run's artifact
    cache, so the studies that train on shapes (a01, a02, a12, a14) share one rendering."""
    key = {
        "num_classes": num_classes,
        "num_train": num_train,
        "num_test": num_test,
        "size": size,
        "seed": ctx.seed,
    }

    def render(folder):
        np.savez(
            folder / "shapes.npz",
            *load_shapes(num_classes, num_train, num_test, size, seed=ctx.seed),
        )

    folder, _ = ctx.cache.get_or_build("shapes", key, render)
    with np.load(folder / "shapes.npz") as f:
        return tuple(f[f"arr_{i}"] for i in range(4))
