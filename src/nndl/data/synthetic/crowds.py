"""`crowds`: rendered crowd images with one head point per person, for crowd counting.

The embedded stand-in for ShanghaiTech. A camera looks down at a ground plane: people stand at
random depths (uniform on the ground, in loose groups or spread out) and are drawn with the
perspective of a pinhole camera, so size shrinks toward the horizon and far people crowd together
in fewer pixels, as in Part A's dense scenes. A person is a body (clothing colour), legs and a head
(skin or hair tones); people are drawn back to front, so near bodies occlude far heads. Clutter
that is not a person: sky and buildings above the horizon, poles, signs, and round distractors in
colours that are not skin tones.

    points[i]: (N_i, 2) float array of head centres (x, y) in pixels, x = column, y = row,
               the same convention as ShanghaiTech's ground truth; only heads inside the image
    head_radius[i]: (N_i,) head radius in pixels (a crowd-density kernel may use it)

Deterministic: the same arguments give the same bytes.
"""

from __future__ import annotations

import numpy as np

from nndl.data import DatasetInfo, register

register(
    DatasetInfo(
        name="crowds",
        kind="embedded",
        description="rendered crowds with perspective, occlusion and clutter; one point per head",
        layout="",
        how_to_get="Rendered by nndl from a seed; nothing to download.",
    )
)

SKIN = np.array(
    [
        [0.96, 0.80, 0.69],
        [0.87, 0.67, 0.53],
        [0.76, 0.55, 0.40],
        [0.55, 0.37, 0.24],
        [0.36, 0.23, 0.15],
    ]
)
HAIR = np.array([[0.10, 0.08, 0.06], [0.25, 0.16, 0.09], [0.45, 0.32, 0.18], [0.70, 0.60, 0.40]])


def _window(cx: float, cy: float, rx: float, ry: float, shape) -> tuple[slice, slice]:
    h, w = shape
    return (
        slice(max(int(cy - ry) - 1, 0), min(int(cy + ry) + 2, h)),
        slice(max(int(cx - rx) - 1, 0), min(int(cx + rx) + 2, w)),
    )


def _ellipse(canvas, cx, cy, rx, ry, colour) -> None:
    """Fill an ellipse (pixel centres at i + 0.5) with `colour`, in place."""
    rows, cols = _window(cx, cy, rx, ry, canvas.shape[:2])
    if rows.start >= rows.stop or cols.start >= cols.stop:
        return
    yy = np.arange(rows.start, rows.stop)[:, None] + 0.5
    xx = np.arange(cols.start, cols.stop)[None, :] + 0.5
    inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < 1
    canvas[rows, cols][inside] = colour


def _rect(canvas, x0, y0, x1, y1, colour) -> None:
    h, w = canvas.shape[:2]
    r0, r1 = max(int(round(y0)), 0), min(int(round(y1)), h)
    c0, c1 = max(int(round(x0)), 0), min(int(round(x1)), w)
    if r0 < r1 and c0 < c1:
        canvas[r0:r1, c0:c1] = colour


def _colour(rng, lo=0.15, hi=0.95) -> np.ndarray:
    return rng.uniform(lo, hi, 3)


def _render_one(rng, height: int, width: int, count: int):
    ss = 2  # supersampling factor
    H, W = height * ss, width * ss
    horizon = rng.uniform(-0.6, 0.15) * H  # row of the horizon (often above the image)
    near = rng.uniform(0.3, 0.5) * H  # height in pixels of a person standing at the bottom row
    k = near / (H - horizon)  # person height = k * (foot row - horizon)
    # -- background: sky above the horizon, ground below it, buildings, poles, signs
    yy = np.arange(H)[:, None, None] + 0.5
    ground_top, ground_bottom = _colour(rng, 0.3, 0.7), _colour(rng, 0.2, 0.6)
    t = np.clip((yy - horizon) / (H - horizon), 0, 1)
    img = np.broadcast_to(ground_top * (1 - t) + ground_bottom * t, (H, W, 3)).copy()
    if horizon > 0:
        img[: int(horizon)] = _colour(rng, 0.5, 0.95)
    for _ in range(rng.integers(0, 4)):  # buildings standing on the horizon
        x0, bw = rng.uniform(0, W), rng.uniform(0.1, 0.4) * W
        _rect(img, x0, horizon - rng.uniform(0.1, 0.5) * H, x0 + bw, horizon + 2, _colour(rng))
    for _ in range(rng.integers(1, 5)):  # poles and signs
        x0, y_foot = rng.uniform(0, W), rng.uniform(max(horizon, 0), H)
        tall = 1.8 * k * (y_foot - horizon)
        _rect(img, x0, y_foot - tall, x0 + max(tall * 0.03, 1.5), y_foot, _colour(rng, 0.1, 0.5))
        if rng.random() < 0.5:
            _rect(
                img,
                x0 - tall * 0.1,
                y_foot - tall,
                x0 + tall * 0.12,
                y_foot - tall * 0.8,
                _colour(rng),
            )
    for _ in range(rng.integers(2, 8)):  # round distractors: saturated, never skin-coloured
        y_foot = rng.uniform(max(horizon, 0), H * 1.05)
        r = 0.08 * k * (y_foot - horizon) * rng.uniform(0.6, 1.6)
        c = np.zeros(3)
        c[rng.integers(3)] = rng.uniform(0.7, 1.0)
        c[rng.integers(3)] += rng.uniform(0, 0.3)
        _ellipse(img, rng.uniform(0, W), y_foot - 2 * r, r, r, c)
    # -- people: ground positions at depth z (1 = the bottom row), drawn far to near
    z_far = rng.uniform(3.0, 6.0)
    if rng.random() < 0.5:  # spread out
        z = rng.uniform(0.9, z_far, count)
        x = rng.uniform(-0.05, 1.05, count) * W
    else:  # in a few groups
        groups = rng.integers(1, 5)
        centres_z, centres_x = rng.uniform(1.0, z_far, groups), rng.uniform(0.1, 0.9, groups) * W
        g = rng.integers(groups, size=count)
        z = np.clip(centres_z[g] + rng.normal(0, 0.5, count) * centres_z[g] / 3, 0.9, z_far * 1.2)
        x = centres_x[g] + rng.normal(0, 0.15, count) * W / centres_z[g]
    foot = horizon + (H - horizon) / z  # perspective: y - horizon is proportional to 1 / depth
    order = np.argsort(foot)  # far (small foot row) first: near people occlude them
    heads, radii = [], []
    for i in order:
        tall = k * (foot[i] - horizon) * rng.uniform(0.85, 1.15)
        r = 0.075 * tall  # head radius: a head is about 1/7 of a person's height
        cx, cy = x[i], foot[i] - tall + r
        shoulders = 1.8 * r * rng.uniform(0.85, 1.2)  # half the shoulder width
        _rect(
            img,
            cx - shoulders * 0.7,
            cy + 0.35 * tall,
            cx + shoulders * 0.7,
            foot[i],
            _colour(rng, 0.05, 0.4),
        )  # legs
        _ellipse(img, cx, cy + r + 0.2 * tall, shoulders, 0.22 * tall, _colour(rng))  # torso
        skin = SKIN[rng.integers(len(SKIN))] * rng.uniform(0.9, 1.05)
        _ellipse(img, cx, cy, r, r * 1.1, skin)
        if rng.random() < 0.7:  # hair on top of the head (or a hat)
            hair = HAIR[rng.integers(len(HAIR))] if rng.random() < 0.8 else _colour(rng)
            _ellipse(img, cx, cy - 0.45 * r, r * 1.02, r * 0.6, hair)
        heads.append((cx, cy))
        radii.append(r)
    # -- average the supersamples, add noise; keep the heads that are inside the image
    img = img.reshape(height, ss, width, ss, 3).mean((1, 3))
    img = img * rng.uniform(0.7, 1.15) + rng.normal(0, 0.025, img.shape)  # exposure, noise
    image = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
    heads = np.array(heads, np.float64).reshape(-1, 2) / ss
    radii = np.array(radii, np.float64) / ss
    inside = (
        (heads[:, 0] >= 0) & (heads[:, 0] < width) & (heads[:, 1] >= 0) & (heads[:, 1] < height)
    )
    return image, heads[inside], radii[inside]


def render_crowds(
    n: int,
    size: int | tuple[int, int] = 128,
    min_count: int = 5,
    max_count: int = 150,
    seed: int = 0,
):
    """(images uint8 (n, H, W, 3), points: list of (N_i, 2) (x, y), head radii: list of (N_i,)).

    Each image places a number of people drawn uniformly from [min_count, max_count]; those
    whose heads fall outside the frame are not counted, so counts can be a little lower.
    """
    height, width = (size, size) if isinstance(size, int) else size
    rng = np.random.default_rng([seed, height, width, min_count, max_count, 13])
    images = np.empty((n, height, width, 3), np.uint8)
    points, radii = [], []
    for i in range(n):
        count = int(rng.integers(min_count, max_count + 1))
        images[i], p, r = _render_one(rng, height, width, count)
        points.append(p)
        radii.append(r)
    return images, points, radii
