"""`faces`: rendered faces with identities and attributes, and a "painted" style.

The embedded stand-in for LFW (verification) and CelebA (generation, attributes). An identity is a
fixed set of traits drawn from `(population, identity)`: face width and height, skin tone, eye
spacing, size and colour, nose length and width, mouth width, hair colour, style (short, long,
receding) and fringe, eyebrows, beard, glasses and their frame colour. Every image of that person
changes what a photograph changes: head position, scale, roll and yaw (features slide sideways and
the far half of the face narrows), expression (smile, raised brows), lighting direction and
brightness, background, clothing and sensor noise. So the same person recurs under nuisances, and
raw-pixel distance is a poor verifier while a small trained embedding is a good one (tested).

Attributes (0/1 labels, CelebA-like names): long_hair, glasses, smiling, beard, blond_hair, bangs.
`smiling` changes per image; the others belong to the identity.

`paint(images, seed)` turns photographs into paintings: brush strokes (smoothing along a
direction that varies in patches), a reduced palette, warmer colours and canvas texture; the
second domain of the faces -> paintings translation.

Deterministic: the same arguments give the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nndl.data import DatasetInfo, register

register(
    DatasetInfo(
        name="faces",
        kind="embedded",
        description="rendered faces: identities seen under pose/light/expression changes, "
        "6 attributes, and a painted style",
        layout="",
        how_to_get="Rendered by nndl from a seed; nothing to download.",
    )
)

ATTRIBUTES = ("long_hair", "glasses", "smiling", "beard", "blond_hair", "bangs")
SKIN = np.array(
    [
        [0.98, 0.84, 0.74],
        [0.92, 0.72, 0.58],
        [0.80, 0.58, 0.42],
        [0.60, 0.41, 0.28],
        [0.40, 0.26, 0.18],
    ]
)
HAIR = np.array(
    [
        [0.08, 0.06, 0.05],
        [0.28, 0.17, 0.09],
        [0.50, 0.33, 0.17],
        [0.55, 0.20, 0.08],
        [0.88, 0.76, 0.45],
    ]
)  # black, dark brown, brown, auburn, blond (the last is `blond_hair`)
EYES = np.array([[0.25, 0.15, 0.08], [0.15, 0.35, 0.55], [0.25, 0.45, 0.25], [0.08, 0.06, 0.05]])


@dataclass
class Faces:
    x: np.ndarray  # (N, size, size, 3) uint8
    identity: np.ndarray  # (N,) int64
    attributes: np.ndarray  # (N, len(ATTRIBUTES)) int64, 0/1
    attribute_names: tuple[str, ...] = ATTRIBUTES


def identity_traits(identity: int, population: int = 0) -> dict:
    """The fixed traits of one person (the same for every image of them)."""
    rng = np.random.default_rng([population, int(identity), 11])
    hair_colour = int(rng.integers(len(HAIR)))
    style = ("short", "long", "receding")[rng.choice(3, p=[0.5, 0.38, 0.12])]
    return {
        "face_w": rng.uniform(0.42, 0.56),
        "face_h": rng.uniform(0.56, 0.70),
        "skin": np.clip(SKIN[rng.integers(len(SKIN))] + rng.normal(0, 0.03, 3), 0, 1),
        "eye_dx": rng.uniform(0.15, 0.25),
        "eye_y": rng.uniform(-0.10, 0.0),
        "eye_r": rng.uniform(0.05, 0.08),
        "eye_colour": EYES[rng.integers(len(EYES))],
        "brow_w": rng.uniform(0.015, 0.035),
        "nose_len": rng.uniform(0.14, 0.26),
        "nose_w": rng.uniform(0.04, 0.09),
        "mouth_y": rng.uniform(0.32, 0.42),
        "mouth_w": rng.uniform(0.12, 0.22),
        "hair": np.clip(HAIR[hair_colour] + rng.normal(0, 0.03, 3), 0, 1),
        "blond": hair_colour == len(HAIR) - 1,
        "style": style,
        "hair_len": rng.uniform(0.35, 0.75),
        "bangs": style != "receding" and rng.random() < 0.35,
        "beard": rng.random() < 0.25,
        "glasses": rng.random() < 0.3,
        "frame": np.array([[0.05, 0.05, 0.05], [0.55, 0.1, 0.1], [0.6, 0.5, 0.2]])[rng.integers(3)],
    }


def attributes_of(traits: dict, smiling: bool) -> np.ndarray:
    values = {
        "long_hair": traits["style"] == "long",
        "glasses": traits["glasses"],
        "smiling": smiling,
        "beard": traits["beard"],
        "blond_hair": traits["blond"],
        "bangs": traits["bangs"],
    }
    return np.array([int(values[a]) for a in ATTRIBUTES], np.int64)


def _ellipse(u, v, cx, cy, rx, ry):
    return ((u - cx) / rx) ** 2 + ((v - cy) / ry) ** 2 < 1


def _render_one(rng, t: dict, size: int) -> tuple[np.ndarray, bool]:
    s = 2 * size  # render at 2x, average 2x2 blocks (anti-aliasing)
    yy, xx = np.mgrid[0:s, 0:s] / s * 2 - 1 + 1 / s  # pixel centres in [-1, 1]
    # -- background: a gradient between two muted colours, and a few blurry blobs
    c0, c1 = rng.uniform(0.1, 0.9, 3), rng.uniform(0.1, 0.9, 3)
    a = rng.uniform(0, 2 * np.pi)
    g = (np.cos(a) * xx + np.sin(a) * yy + 1.5) / 3
    img = c0 * (1 - g[..., None]) + c1 * g[..., None]
    for _ in range(rng.integers(0, 3)):
        m = _ellipse(xx, yy, *rng.uniform(-1, 1, 2), *rng.uniform(0.1, 0.4, 2))
        img[m] = img[m] * 0.5 + rng.uniform(0, 1, 3) * 0.5
    # -- pose: position, scale, roll (in-plane) and yaw (features slide, far side narrows)
    cx, cy = rng.normal(0, 0.05, 2)
    sc = rng.uniform(0.9, 1.1)
    roll, yaw = rng.normal(0, 0.1), rng.uniform(-0.35, 0.35)
    u = (np.cos(roll) * (xx - cx) + np.sin(roll) * (yy - cy)) / sc
    v = (-np.sin(roll) * (xx - cx) + np.cos(roll) * (yy - cy)) / sc
    fw, fh = t["face_w"], t["face_h"]
    # features move with yaw; the half of the face turned away is compressed
    uf = u - yaw * fw * 0.6
    uf = np.where(uf * yaw > 0, uf / (1 - abs(yaw) * 0.5), uf)
    smile = rng.uniform(0.6, 1.0) if rng.random() < 0.5 else rng.uniform(-0.15, 0.2)
    brow_raise = rng.uniform(0, 0.04)

    def paint_(mask, colour):
        img[mask] = colour

    hair, skin = t["hair"], t["skin"]
    # -- long hair falls behind the face, neck and shoulders
    if t["style"] == "long":
        back = _ellipse(u, v, 0, 0.0, fw + 0.16, fh + 0.08) | (
            (abs(u) < fw + 0.16) & (v > 0) & (v < 0.15 + t["hair_len"])
        )
        paint_(back, hair * 0.85)
    clothing = rng.uniform(0.05, 0.95, 3)
    paint_((abs(u) < 0.17) & (v > 0.3) & (v < 1.2), skin * 0.85)  # neck
    paint_(_ellipse(u, v, 0, 1.35, 1.0, 0.55), clothing)  # shoulders
    if t["style"] == "long":  # strands in front of the shoulders
        strands = (abs(abs(u) - fw - 0.05) < 0.1) & (v > 0.2) & (v < 0.15 + t["hair_len"])
        paint_(strands, hair)
    # -- face and ears
    face = _ellipse(u, v, 0, 0.05, fw, fh)
    for side in (-1, 1):
        paint_(_ellipse(uf, v, side * fw * 0.98, 0.0, 0.07, 0.12), skin * 0.92)
    paint_(face, skin)
    # -- hair on top: the part of a larger ellipse above the hairline
    if t["style"] != "receding":
        line = -0.18 if t["bangs"] else -0.22 - 0.1 * (abs(uf) / fw) ** 2
        cap = _ellipse(u, v, 0, -0.02, fw + 0.06, fh + 0.06) & (v < line)
        if t["bangs"]:  # a fringe: a straight cut low on the forehead
            cap |= face & (v < -0.2)
    else:
        cap = _ellipse(u, v, 0, -0.02, fw + 0.05, fh + 0.05) & (v < -0.5) & (abs(u) > fw * 0.55)
    paint_(cap, hair)
    # -- eyes, irises and brows
    ey, er = t["eye_y"], t["eye_r"]
    for side in (-1, 1):
        ex = side * t["eye_dx"]
        paint_(_ellipse(uf, v, ex, ey, er * 1.2, er * 0.65), np.array([0.95, 0.95, 0.93]))
        paint_(_ellipse(uf, v, ex + yaw * 0.03, ey, er * 0.55, er * 0.55), t["eye_colour"])
        by = ey - er - 0.05 - brow_raise
        brow = _ellipse(uf, v, ex, by, er * 1.4, t["brow_w"])
        paint_(brow, hair * 0.7)
    # -- nose: a shaded wedge down from between the eyes, nostrils at the bottom
    top, nl, nw = ey + 0.03, t["nose_len"], t["nose_w"]
    wedge = (v > top) & (v < top + nl) & (abs(uf - yaw * 0.05) < nw * (v - top) / nl)
    paint_(wedge & face, skin * 0.8)
    for side in (-1, 1):
        paint_(_ellipse(uf, v, side * nw * 0.6, top + nl, 0.025, 0.015), skin * 0.45)
    # -- mouth: a curve whose centre drops when smiling; an open smile shows teeth
    my, mw = t["mouth_y"], t["mouth_w"] * (1 + 0.25 * max(smile, 0))
    rel = np.clip(uf / mw, -1.5, 1.5)
    curve = my + smile * 0.1 * (1 - rel**2)
    lips = (abs(v - curve) < 0.022 + 0.035 * max(smile, 0)) & (abs(uf) < mw)
    if t["beard"]:
        beard = face & (v > my - 0.06) & ~(abs(uf) < mw * 0.8) | (face & (v > my + 0.08))
        paint_(beard, hair * 0.9)
    paint_(lips, skin * np.array([0.75, 0.4, 0.4]))
    if smile > 0.5:
        teeth = (abs(v - curve + 0.01) < 0.022) & (abs(uf) < mw * 0.75)
        paint_(teeth, np.array([0.97, 0.97, 0.92]))
    # -- glasses: two rings and a bridge, lenses slightly tinted
    if t["glasses"]:
        gr = er * 1.5 + 0.02
        for side in (-1, 1):
            d = np.hypot(uf - side * t["eye_dx"], (v - ey) * 1.15)
            img[d < gr] = img[d < gr] * 0.85 + 0.15 * np.array([0.6, 0.75, 0.85])
            paint_(abs(d - gr) < 0.022, t["frame"])
        bridge = (abs(uf) < t["eye_dx"] - gr) & (abs(v - ey + 0.02) < 0.015)
        paint_(bridge, t["frame"])
    # -- lighting: directional shading over the whole image and an overall exposure
    la = rng.uniform(0, 2 * np.pi)
    shade = 1 + rng.uniform(0.1, 0.4) * (np.cos(la) * xx + np.sin(la) * yy)
    img = img * shade[..., None] * rng.uniform(0.7, 1.15)
    img = img.reshape(size, 2, size, 2, 3).mean((1, 3))
    img = img + rng.normal(0, 0.03, img.shape)  # sensor noise
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8), bool(smile > 0.5)


def render_faces(
    identities, size: int = 32, seed: int = 0, population: int = 0, painted: bool = False
) -> Faces:
    """One image per entry of `identities` (ints; repeat an id for several images of a person).

    `population` fixes who the people are; `seed` the nuisances of these images.
    """
    identities = np.asarray(identities, np.int64)
    rng = np.random.default_rng([seed, size, 13])
    cache: dict[int, dict] = {}
    x = np.empty((len(identities), size, size, 3), np.uint8)
    attrs = np.empty((len(identities), len(ATTRIBUTES)), np.int64)
    for i, k in enumerate(identities):
        t = cache.setdefault(int(k), identity_traits(int(k), population))
        x[i], smiling = _render_one(rng, t, size)
        attrs[i] = attributes_of(t, smiling)
    if painted:
        x = paint(x, seed)
    return Faces(x, identities, attrs)


def identity_list(num_identities: int, per_identity: int, first: int = 0, seed: int = 0):
    """`per_identity` copies of ids first..first+num_identities-1, shuffled."""
    ids = np.repeat(np.arange(first, first + num_identities), per_identity)
    return np.random.default_rng([seed, 17]).permutation(ids)


def _shift(a, dy: int, dx: int):
    return np.roll(np.roll(a, dy, axis=-3), dx, axis=-2)


def paint(images: np.ndarray, seed: int = 0) -> np.ndarray:
    """Photographs (N, H, W, 3) uint8 -> paintings: strokes, reduced palette, warmth, canvas."""
    rng = np.random.default_rng([seed, 19])
    x = images.astype(np.float32) / 255
    n, h, w, _ = x.shape
    # brush strokes: average along one of four directions, chosen per 4x4 patch at random
    reach = max(1, h // 32)
    dirs = ((0, 1), (1, 0), (1, 1), (1, -1))
    strokes = []
    for dy, dx in dirs:
        acc = sum(_shift(x, k * dy, k * dx) for k in range(-reach, reach + 1))
        strokes.append(acc / (2 * reach + 1))
    pick = rng.integers(0, 4, (n, h // 4 + 1, w // 4 + 1)).repeat(4, 1).repeat(4, 2)[:, :h, :w]
    x = np.choose(pick[..., None], strokes)
    # warmer, more saturated colours, then a palette of 7 levels per channel
    grey = x.mean(-1, keepdims=True)
    x = grey + 1.25 * (x - grey)
    x = x * np.array([1.08, 1.0, 0.85]) + np.array([0.04, 0.02, 0.0])
    x = np.round(np.clip(x, 0, 1) * 6) / 6
    # canvas weave
    yy, xx = np.mgrid[0:h, 0:w]
    weave = 1 + 0.05 * np.sin(yy * np.pi / 1.5) * np.sin(xx * np.pi / 1.5)
    x = x * weave[None, ..., None] + rng.normal(0, 0.015, x.shape)
    return (np.clip(x, 0, 1) * 255).round().astype(np.uint8)


def to_tensor_layout(x: np.ndarray) -> np.ndarray:
    """uint8 NHWC -> float32 NCHW in [0, 1]."""
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
