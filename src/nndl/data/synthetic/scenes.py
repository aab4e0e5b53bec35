"""`scenes`: rendered RGB scenes of a few object classes, with a pixel mask and boxes per image.

The embedded stand-in for semantic segmentation (Oxford-IIIT Pet, CamVid) and object detection.
Each image has a random gradient background, clutter (lines, small blobs and thin bars in random
colours that belong to the background class) and 1 to `max_objects` objects drawn back to front,
so later objects occlude earlier ones. Every object has a texture (solid or striped), scale,
rotation and position at random; its class is its shape, and its colour is drawn around a hue
typical of the class (as in real scenes, where colour is a cue but not the answer: hues overlap
and clutter comes in every hue). The shape outlines are those of the `shapes` renderer.

    mask[y, x] = 0 for background, c + 1 for object class c (the class drawn on top there)
    boxes[i]   = (N_i, 5) int array of (class, x0, y0, x1, y1) around each object's visible pixels

Deterministic: the same arguments give the same bytes.
"""

from __future__ import annotations

import numpy as np

from nndl.data import DatasetInfo, register
from nndl.data.synthetic.shapes import _random_colour, _shape_mask

OBJECTS = ("circle", "square", "triangle", "star", "cross", "ring")

register(
    DatasetInfo(
        name="scenes",
        kind="embedded",
        description="rendered scenes of a few object classes with pixel masks and boxes, clutter",
        layout="",
        how_to_get="Rendered by nndl from a seed; nothing to download.",
    )
)


def class_names(num_objects: int = 4) -> list[str]:
    """Segmentation class names: 'background' then the object shapes."""
    if not 1 <= num_objects <= len(OBJECTS):
        raise ValueError(f"scenes has 1 to {len(OBJECTS)} object classes")
    return ["background", *OBJECTS[:num_objects]]


def _class_colour(rng, label: int, num_objects: int) -> np.ndarray:
    """A colour whose hue is typical of the class (as sky is blue and grass green), with spread.

    Hues of neighbouring classes overlap a little and clutter takes any hue, so colour alone is
    not enough: the outline decides where colours mislead.
    """
    import colorsys

    hue = (label / num_objects + rng.normal(0, 0.06)) % 1.0
    return np.array(colorsys.hsv_to_rgb(hue, rng.uniform(0.45, 1), rng.uniform(0.45, 1)))


def _span(centre: float, radius: float, s: int) -> tuple[int, int]:
    """Pixel rows (or columns) of a 2s-grid within `radius` of `centre` (coordinates in [-1, 1])."""
    lo = int(np.floor((centre - radius + 1) / 2 * s)) - 1
    hi = int(np.ceil((centre + radius + 1) / 2 * s)) + 1
    return max(lo, 0), min(hi, s)


def _render_one(rng, size: int, num_objects: int, max_objects: int):
    img, yy, xx = _background(rng, size)
    objects = []
    for _ in range(rng.integers(1, max_objects + 1)):
        label = int(rng.integers(num_objects))
        scale = rng.uniform(0.25, 0.5)  # radius, as a fraction of the half-side
        cx, cy = rng.uniform(-1 + scale * 0.6, 1 - scale * 0.6, 2)
        a = rng.uniform(0, 2 * np.pi)
        colour = _class_colour(rng, label, num_objects)
        # striped texture: (frequency, phase), or None for a solid fill
        stripes = (rng.uniform(5, 8), rng.uniform(0, 1)) if rng.random() < 0.5 else None
        objects.append((label, scale, cx, cy, a, colour, stripes))
    return _compose(rng, img, yy, xx, size, objects)


def _background(rng, size: int):
    """A 2x-resolution gradient background with clutter, and its pixel-centre grids."""
    s = 2 * size  # render at 2x; the image is averaged down, the mask subsampled
    yy, xx = np.mgrid[0:s, 0:s] / s * 2 - 1  # pixel centres in [-1, 1]
    c0, c1 = _random_colour(rng) * 0.8, _random_colour(rng) * 0.8
    a = rng.uniform(0, 2 * np.pi)
    t = (np.cos(a) * xx + np.sin(a) * yy + 1) / 2
    img = c0 * (1 - t[..., None]) + c1 * t[..., None]
    for _ in range(rng.integers(3, 7)):  # clutter: background class
        colour, kind = _random_colour(rng), rng.integers(3)
        if kind == 0:  # a thin line
            a, off = rng.uniform(0, np.pi), rng.uniform(-1, 1)
            m = abs(np.cos(a) * xx + np.sin(a) * yy - off) < rng.uniform(0.01, 0.03)
        elif kind == 1:  # a small blob
            cx, cy = rng.uniform(-1, 1, 2)
            m = np.hypot(xx - cx, yy - cy) < rng.uniform(0.03, 0.08)
        else:  # an axis-aligned bar, long and thin (never square)
            cx, cy = rng.uniform(-1, 1, 2)
            w, h = rng.uniform(0.15, 0.4), rng.uniform(0.02, 0.05)
            w, h = (w, h) if rng.random() < 0.5 else (h, w)
            m = (abs(xx - cx) < w) & (abs(yy - cy) < h)
        img[m] = colour
    return img, yy, xx


def _compose(rng, background, yy, xx, size: int, objects: list):
    """Draw `objects` (label, scale, cx, cy, angle, colour, stripes) back to front on a copy of
    the 2x background, average it down, add noise; returns (image, mask, boxes)."""
    s = 2 * size
    img = background.copy()
    mask = np.zeros((s, s), np.uint8)
    instances = np.zeros((s, s), np.int16)  # which object is visible where (for boxes)
    for k, (label, scale, cx, cy, a, colour, stripes) in enumerate(objects, 1):
        # only the window that can hold the shape (radius <= scale) is computed
        r0, r1 = _span(cy, scale, s)
        c0_, c1_ = _span(cx, scale, s)
        wy, wx = yy[r0:r1, c0_:c1_], xx[r0:r1, c0_:c1_]
        u = (np.cos(a) * (wx - cx) + np.sin(a) * (wy - cy)) / scale
        v = (-np.sin(a) * (wx - cx) + np.cos(a) * (wy - cy)) / scale
        m = _shape_mask(OBJECTS[label], u, v)
        if stripes is not None:
            on = np.sin(stripes[0] * np.pi * (u + stripes[1])) > 0
            fill = np.where(on[..., None], colour, colour * 0.25)
        else:
            fill = np.broadcast_to(colour, m.shape + (3,))
        window = img[r0:r1, c0_:c1_]
        window[m] = fill[m]
        mask[r0:r1, c0_:c1_][m] = label + 1
        instances[r0:r1, c0_:c1_][m] = k
    img = img.reshape(size, 2, size, 2, 3).mean((1, 3))
    img = img + rng.normal(0, 0.03, img.shape)  # sensor noise
    image = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
    mask, instances = mask[1::2, 1::2], instances[1::2, 1::2]  # the centre sample of each 2x2
    boxes = []
    for k, obj in enumerate(objects, 1):
        ys, xs = np.nonzero(instances == k)
        if len(ys):  # fully occluded objects have no box
            boxes.append((obj[0], xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
    return image, mask, np.array(boxes, np.int64).reshape(-1, 5)


def render_scenes(
    n: int, size: int = 64, num_objects: int = 4, max_objects: int = 3, seed: int = 0
):
    """(images uint8 (n, size, size, 3), masks uint8 (n, size, size), boxes: list of (N_i, 5))."""
    class_names(num_objects)  # validates num_objects
    rng = np.random.default_rng([seed, size, num_objects, max_objects, 11])
    images = np.empty((n, size, size, 3), np.uint8)
    masks = np.empty((n, size, size), np.uint8)
    boxes = []
    for i in range(n):
        images[i], masks[i], b = _render_one(rng, size, num_objects, max_objects)
        boxes.append(b)
    return images, masks, boxes


def render_video(
    num_frames: int,
    size: int = 96,
    num_objects: int = 4,
    num_moving: int = 3,
    seed: int = 0,
):
    """A short video of objects moving over a fixed cluttered background.

    Each object keeps its class, colour, texture and size, moves at a constant velocity (bouncing
    off the borders) and turns slowly, so consecutive frames are alike as in a real clip and a
    detector's boxes can be compared frame to frame. Sensor noise is new in every frame.
    Returns (frames uint8 (T, size, size, 3), boxes: list of (N_t, 5) (class, x0, y0, x1, y1)).
    """
    class_names(num_objects)
    rng = np.random.default_rng([seed, size, num_objects, num_moving, 29])
    background, yy, xx = _background(rng, size)
    movers = []
    for _ in range(num_moving):
        label = int(rng.integers(num_objects))
        scale = rng.uniform(0.25, 0.4)
        lim = 1 - scale * 0.6
        pos = rng.uniform(-lim, lim, 2)
        speed = rng.uniform(0.02, 0.05)  # per frame, in half-sides
        heading = rng.uniform(0, 2 * np.pi)
        vel = speed * np.array([np.cos(heading), np.sin(heading)])
        a, spin = rng.uniform(0, 2 * np.pi), rng.normal(0, 0.05)
        colour = _class_colour(rng, label, num_objects)
        stripes = (rng.uniform(5, 8), rng.uniform(0, 1)) if rng.random() < 0.5 else None
        movers.append([label, scale, lim, pos, vel, a, spin, colour, stripes])
    frames = np.empty((num_frames, size, size, 3), np.uint8)
    boxes = []
    for t in range(num_frames):
        objects = []
        for m in movers:
            label, scale, lim, pos, vel, a, spin, colour, stripes = m
            objects.append((label, scale, pos[0], pos[1], a, colour, stripes))
            pos += vel  # move, bouncing off the borders
            for d in range(2):
                if abs(pos[d]) > lim:
                    pos[d] = np.sign(pos[d]) * (2 * lim - abs(pos[d]))
                    vel[d] = -vel[d]
            m[5] = a + spin
        frames[t], _, b = _compose(rng, background, yy, xx, size, objects)
        boxes.append(b)
    return frames, boxes
