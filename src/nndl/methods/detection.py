"""Detection scoring: ONE mAP implementation for every detector, box matching, NMS.

Every detector in a07 (Ultralytics YOLOv8/11/12, the fine-tuned face YOLO, OpenCV's Haar cascade,
the hand-written YOLOv1) is scored by `mean_average_precision`, which is torchmetrics'
`MeanAveragePrecision` on the pycocotools backend: the COCO protocol (101-point interpolated
precision, greedy matching by score) at IoU 0.5 and averaged over IoU 0.50:0.05:0.95.

Boxes are (x0, y0, x1, y1) in pixels. A ground-truth box flagged `ignore` (WIDER FACE's
"invalid" faces) is passed as COCO `iscrowd`: a detection on it counts neither as a true nor as a
false positive, and missing it costs nothing.
"""

from __future__ import annotations

import numpy as np

MAX_DETECTIONS = 300  # per image: WIDER FACE has images with hundreds of faces (COCO uses 100)


def _as_tensor(a, dtype):
    import torch

    return torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=dtype)


def mean_average_precision(preds: list[dict], targets: list[dict]) -> dict[str, float]:
    """mAP@0.5 and mAP@0.5:0.95 over a whole evaluation set.

    preds[i]:   {"boxes": (N, 4) xyxy, "scores": (N,), "labels": (N,) int}
    targets[i]: {"boxes": (M, 4) xyxy, "labels": (M,) int, optional "ignore": (M,) bool}
    Returns {"map_50", "map", "mar_300"} (-1 where there is no ground truth at all, as COCO),
    with up to MAX_DETECTIONS detections per image.
    """
    import torch
    from torchmetrics.detection import MeanAveragePrecision

    if len(preds) != len(targets):
        raise ValueError(f"{len(preds)} predictions for {len(targets)} images")
    # COCO's own thresholds in float64: torchmetrics' defaults come from torch.linspace in float32
    # (0.55 -> 0.550000011..., recall 0.02 -> 0.0199999996), which moves recall points that fall
    # exactly on a threshold and made its mAP differ from COCOeval's (tests/test_metric_references).
    metric = MeanAveragePrecision(
        box_format="xyxy",
        iou_type="bbox",
        iou_thresholds=np.linspace(0.5, 0.95, 10).tolist(),
        rec_thresholds=np.linspace(0.0, 1.0, 101).tolist(),
        backend="pycocotools",
        max_detection_thresholds=[1, 10, MAX_DETECTIONS],
        extended_summary=True,  # the precision array, read at MAX_DETECTIONS below
    )
    p_list, t_list = [], []
    for p, t in zip(preds, targets, strict=True):
        boxes = _as_tensor(p["boxes"], torch.float32).reshape(-1, 4)
        p_list.append(
            {
                "boxes": boxes,
                "scores": _as_tensor(p["scores"], torch.float32).reshape(-1),
                "labels": torch.as_tensor(np.asarray(p["labels"], np.int64)).reshape(-1),
            }
        )
        gt = _as_tensor(t["boxes"], torch.float32).reshape(-1, 4)
        ignore = np.asarray(t.get("ignore", np.zeros(len(gt), bool)), bool).reshape(-1)
        t_list.append(
            {
                "boxes": gt,
                "labels": torch.as_tensor(np.asarray(t["labels"], np.int64)).reshape(-1),
                "iscrowd": torch.as_tensor(ignore.astype(np.int64)),
            }
        )
    metric.update(p_list, t_list)
    r = metric.compute()
    # precision: (IoU thresholds 0.50:0.05:0.95, 101 recall points, classes, area ranges, max
    # detections), -1 where a class has no ground truth. pycocotools' own summary reads it at 100
    # detections; here it is read at MAX_DETECTIONS with the same formula (mean over valid cells).
    precision = r["precision"][..., 0, -1].numpy()  # area "all", MAX_DETECTIONS per image

    def mean_valid(a):
        valid = a[a > -1]
        return float(valid.mean()) if valid.size else -1.0

    return {
        "map_50": mean_valid(precision[0]),
        "map": mean_valid(precision),
        f"mar_{MAX_DETECTIONS}": float(r[f"mar_{MAX_DETECTIONS}"]),
    }


def box_iou(a, b) -> np.ndarray:
    """(N, M) IoU between xyxy boxes a (N, 4) and b (M, 4)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def match_count(a, b, iou_threshold: float = 0.5, labels_a=None, labels_b=None) -> int:
    """How many boxes of `a` and `b` pair up one-to-one at IoU >= threshold (same label if given).

    The pairing maximises the number of matches (Hungarian assignment on the thresholded IoU),
    so the count does not depend on the order of the boxes.
    """
    from scipy.optimize import linear_sum_assignment

    iou = box_iou(a, b)
    if iou.size == 0:
        return 0
    ok = iou >= iou_threshold
    if labels_a is not None and labels_b is not None:
        ok &= np.asarray(labels_a)[:, None] == np.asarray(labels_b)[None, :]
    rows, cols = linear_sum_assignment(-ok.astype(np.float64))
    return int(ok[rows, cols].sum())


def agreement(a, b, iou_threshold: float = 0.5, labels_a=None, labels_b=None) -> float:
    """Dice-style agreement of two detectors on one image: 2 * matched / (|a| + |b|) (1 if both
    found nothing)."""
    n = len(np.asarray(a).reshape(-1, 4)) + len(np.asarray(b).reshape(-1, 4))
    if n == 0:
        return 1.0
    return 2 * match_count(a, b, iou_threshold, labels_a, labels_b) / n


def nms(boxes, scores, iou_threshold: float = 0.5, labels=None) -> np.ndarray:
    """Indices kept by non-maximum suppression (per label when given), highest score first."""
    import torch
    from torchvision.ops import batched_nms

    boxes = _as_tensor(boxes, torch.float32).reshape(-1, 4)
    scores = _as_tensor(scores, torch.float32).reshape(-1)
    if labels is None:
        labels = torch.zeros(len(boxes), dtype=torch.int64)
    labels = torch.as_tensor(np.asarray(labels, np.int64)).reshape(-1)
    return batched_nms(boxes, scores, labels, iou_threshold).numpy()
