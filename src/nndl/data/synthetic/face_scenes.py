"""`face_scenes`: rendered faces placed in cluttered scenes, with a box per face (face detection).

The embedded stand-in for WIDER FACE. Each image is a `scenes` image (gradient background,
clutter and up to two shapes, which are distractors here, not faces) into which 1 to `max_faces`
heads from the `faces` renderer are pasted at random sizes and places. A head is cut out of its
portrait with an elliptical mask (hair and face, no shoulders), so no square tile edge gives it
away.

The face box is the face ellipse of the `faces` renderer in portrait coordinates (x from 25% to
75% of the portrait's width, y from 21% to 84% of its height: the mean face, since the renderer
does not return each portrait's pose); head pose moves a face by a few percent of the portrait
around it, so the boxes are slightly loose labels, as hand-drawn WIDER boxes are.

Deterministic: the same arguments give the same bytes.
"""

from __future__ import annotations

import numpy as np

from nndl.data import DatasetInfo, register

register(
    DatasetInfo(
        name="face_scenes",
        kind="embedded",
        description="rendered faces pasted into cluttered scenes, one box per face",
        layout="",
        how_to_get="Rendered by nndl from a seed; nothing to download.",
    )
)

PORTRAIT = 48  # the faces renderer's portrait size; heads are resized from it
FACE_BOX = (0.25, 0.21, 0.75, 0.84)  # x0, y0, x1, y1 of the face in a portrait, as fractions
HEAD = (0.5, 0.47, 0.40, 0.47)  # cx, cy, rx, ry of the cut-out ellipse (hair and face)


def render_face_scenes(
    n: int,
    size: int = 128,
    max_faces: int = 4,
    min_face: float = 0.12,
    max_face: float = 0.30,
    seed: int = 0,
):
    """(images uint8 (n, size, size, 3), boxes: list of (N_i, 5) (0, x0, y0, x1, y1) in pixels).

    A face box is `min_face` to `max_face` of the image side wide.
    """
    import cv2

    from nndl.data.synthetic.faces import render_faces
    from nndl.data.synthetic.scenes import render_scenes

    rng = np.random.default_rng([seed, size, max_faces, 31])
    images, _, _ = render_scenes(n, size, num_objects=4, max_objects=2, seed=seed + 1000)
    counts = rng.integers(1, max_faces + 1, n)
    portraits = render_faces(rng.integers(0, 10_000, int(counts.sum())), PORTRAIT, seed=seed).x
    yy, xx = np.mgrid[0:PORTRAIT, 0:PORTRAIT] / PORTRAIT + 0.5 / PORTRAIT
    cx, cy, rx, ry = HEAD
    alpha = (((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < 1).astype(np.float32)
    fw = FACE_BOX[2] - FACE_BOX[0]
    out_boxes, k = [], 0
    for i in range(n):
        boxes = []
        for _ in range(counts[i]):
            portrait = portraits[k]
            k += 1
            for _try in range(10):  # a place that does not cover an earlier face much
                side = int(round(rng.uniform(min_face, max_face) * size / fw))
                x, y = rng.integers(0, size - side + 1, 2)
                box = np.array([x, y, x, y]) + side * np.array(FACE_BOX)
                if all(_overlap(box, b) < 0.1 for b in boxes):
                    break
            else:
                continue
            head = cv2.resize(portrait, (side, side), interpolation=cv2.INTER_AREA)
            a = cv2.resize(alpha, (side, side), interpolation=cv2.INTER_AREA)[..., None]
            region = images[i, y : y + side, x : x + side].astype(np.float32)
            images[i, y : y + side, x : x + side] = (a * head + (1 - a) * region).round()
            boxes.append(box)
        b = np.array(boxes, np.float64).reshape(-1, 4).round()
        out_boxes.append(np.concatenate([np.zeros((len(b), 1)), b], 1).astype(np.int64))
    return images, out_boxes


def _overlap(a, b) -> float:
    """Intersection over the smaller box."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / small
