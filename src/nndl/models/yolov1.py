"""YOLOv1 (Redmon et al. 2016, "You Only Look Once"), architecture and loss written by hand.

The image is divided into an S x S grid. Each cell predicts B boxes (x, y, sqrt w, sqrt h,
confidence) and one set of C class probabilities, so the network ends in a tensor
(N, S, S, B * 5 + C). (x, y) is the box centre relative to its cell, w and h are relative to the
image. The paper's backbone is 24 convolutional layers on 448 x 448 inputs (S = 7); here a
smaller convolutional backbone (stated in the report) reduces the input by 32 to the S x S grid,
then two fully connected layers produce the output, as in the paper. Outputs go through a
sigmoid (the paper's last layer is linear): every target lies in [0, 1], and the bounded output
keeps the sum-squared loss stable in short training.

The loss (the paper's equation 3), with 1^obj_ij = "predictor j of cell i is responsible for an
object" (the one of the cell's B boxes with the highest IoU with the cell's object):

  lambda_coord sum_ij 1^obj_ij [(x - x^)^2 + (y - y^)^2]
+ lambda_coord sum_ij 1^obj_ij [(sqrt w - sqrt w^)^2 + (sqrt h - sqrt h^)^2]
+              sum_ij 1^obj_ij (C - C^)^2           C^ = IoU(predicted box, true box)
+ lambda_noobj sum_ij 1^noobj_ij (C - C^)^2         C^ = 0, every predictor not responsible
+              sum_i 1^obj_i sum_c (p(c) - p^(c))^2

summed over the grid and averaged over the batch. One object per cell: when several centres fall
in one cell the largest box is kept (a limit of YOLOv1 the paper states).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class YOLOv1(nn.Module):
    """Backbone (stride 32) -> S x S grid -> FC -> (N, S, S, B*5 + C) in [0, 1]."""

    def __init__(
        self,
        num_classes: int = 1,
        grid: int = 4,
        boxes_per_cell: int = 2,
        width: int = 16,
        hidden: int = 256,
        image_size: int = 128,
    ):
        super().__init__()
        if image_size != grid * 32:
            raise ValueError(f"image_size must be 32 x grid ({grid * 32}); got {image_size}")
        self.S, self.B, self.C = grid, boxes_per_cell, num_classes
        self.image_size = image_size
        chans = [3, width, width * 2, width * 4, width * 8, width * 16]
        layers = []
        for i in range(5):  # five stride-2 stages: image_size / 32 = S
            layers += [
                nn.Conv2d(chans[i], chans[i + 1], 3, padding=1, bias=False),
                nn.BatchNorm2d(chans[i + 1]),
                nn.LeakyReLU(0.1),  # the paper's activation
                nn.Conv2d(chans[i + 1], chans[i + 1], 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(chans[i + 1]),
                nn.LeakyReLU(0.1),
            ]
        self.features = nn.Sequential(*layers)
        out = grid * grid * (boxes_per_cell * 5 + num_classes)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(chans[-1] * grid * grid, hidden),
            nn.LeakyReLU(0.1),
            nn.Dropout(0.2),
            nn.Linear(hidden, out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.head(self.features(x))  # (N, S*S*(5B+C))
        return torch.sigmoid(y).view(-1, self.S, self.S, self.B * 5 + self.C)


# -- targets -----------------------------------------------------------------------------------


def encode(boxes: np.ndarray, image_size: int, grid: int, num_classes: int) -> np.ndarray:
    """(M, 5) (class, x0, y0, x1, y1) in pixels -> target (S, S, 5 + C):
    [x_cell, y_cell, sqrt w, sqrt h, 1 (object), one-hot class]."""
    t = np.zeros((grid, grid, 5 + num_classes), np.float32)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 5)
    area = (boxes[:, 3] - boxes[:, 1]) * (boxes[:, 4] - boxes[:, 2])
    for c, x0, y0, x1, y1 in boxes[np.argsort(area)]:  # largest last: it wins its cell
        cx, cy = (x0 + x1) / 2 / image_size, (y0 + y1) / 2 / image_size
        w, h = (x1 - x0) / image_size, (y1 - y0) / image_size
        col, row = min(int(cx * grid), grid - 1), min(int(cy * grid), grid - 1)
        t[row, col, :5] = (cx * grid - col, cy * grid - row, np.sqrt(w), np.sqrt(h), 1.0)
        t[row, col, 5:] = 0
        t[row, col, 5 + int(c)] = 1.0
    return t


def cell_boxes_xyxy(xywh: torch.Tensor, grid: int) -> torch.Tensor:
    """(..., S, S, k, 4) [x_cell, y_cell, sqrt w, sqrt h] -> (..., S, S, k, 4) xyxy in [0, 1]."""
    S = grid
    rows = torch.arange(S, dtype=xywh.dtype, device=xywh.device).view(S, 1, 1)
    cols = torch.arange(S, dtype=xywh.dtype, device=xywh.device).view(1, S, 1)
    cx, cy = (xywh[..., 0] + cols) / S, (xywh[..., 1] + rows) / S
    w, h = xywh[..., 2] ** 2, xywh[..., 3] ** 2
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)


def _iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Element-wise IoU of xyxy boxes (..., 4)."""
    lt, rb = torch.maximum(a[..., :2], b[..., :2]), torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area = lambda z: (z[..., 2:] - z[..., :2]).clamp(min=0).prod(-1)  # noqa: E731
    return inter / (area(a) + area(b) - inter).clamp(min=1e-9)


# -- loss --------------------------------------------------------------------------------------


def yolo_v1_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    boxes_per_cell: int,
    lambda_coord: float = 5.0,
    lambda_noobj: float = 0.5,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The paper's sum-squared loss. pred (N, S, S, 5B + C), target (N, S, S, 5 + C).

    Returns the total (summed over the grid, mean over the batch) and its five terms."""
    N, S, B = pred.shape[0], pred.shape[1], boxes_per_cell
    boxes = pred[..., : 5 * B].reshape(N, S, S, B, 5)  # (N, S, S, B, [x, y, sw, sh, conf])
    probs = pred[..., 5 * B :]  # (N, S, S, C)
    obj = target[..., 4]  # (N, S, S): 1 where a cell holds an object's centre
    true_box = target[..., None, :4]  # (N, S, S, 1, 4)

    # responsible predictor: the highest IoU with the true box (no gradient through the choice)
    with torch.no_grad():
        iou = _iou(cell_boxes_xyxy(boxes[..., :4], S), cell_boxes_xyxy(true_box, S))  # (N,S,S,B)
    best = iou.argmax(-1, keepdim=True)  # (N, S, S, 1)
    resp = torch.zeros_like(iou).scatter_(-1, best, 1.0) * obj[..., None]  # 1^obj_ij
    noobj = 1.0 - resp  # 1^noobj_ij

    sq = (boxes[..., :4] - true_box) ** 2  # (N, S, S, B, 4)
    xy = lambda_coord * (resp * sq[..., :2].sum(-1)).sum()
    wh = lambda_coord * (resp * sq[..., 2:].sum(-1)).sum()
    conf_obj = (resp * (boxes[..., 4] - iou) ** 2).sum()  # C^ = IoU(pred, truth)
    conf_noobj = lambda_noobj * (noobj * boxes[..., 4] ** 2).sum()
    cls = (obj[..., None] * (probs - target[..., 5:]) ** 2).sum()
    terms = {"xy": xy, "wh": wh, "conf_obj": conf_obj, "conf_noobj": conf_noobj, "cls": cls}
    total = sum(terms.values()) / N
    return total, {k: v / N for k, v in terms.items()}


# -- decoding ----------------------------------------------------------------------------------


def decode(
    pred: torch.Tensor,
    boxes_per_cell: int,
    image_size: int,
    score_threshold: float = 0.01,
    iou_threshold: float = 0.5,
    max_detections: int = 300,
) -> list[dict]:
    """(N, S, S, 5B + C) -> per image {boxes xyxy px, scores, labels}, after per-class NMS.

    score = confidence x class probability (the paper's class-specific confidence)."""
    from nndl.methods.detection import nms

    N, S, B = pred.shape[0], pred.shape[1], boxes_per_cell
    boxes = pred[..., : 5 * B].reshape(N, S, S, B, 5)
    probs = pred[..., 5 * B :]
    xyxy = cell_boxes_xyxy(boxes[..., :4], S).clamp(0, 1) * image_size  # (N, S, S, B, 4)
    cls_prob, label = probs.max(-1)  # (N, S, S)
    score = boxes[..., 4] * cls_prob[..., None]  # (N, S, S, B)
    out = []
    for i in range(N):
        b = xyxy[i].reshape(-1, 4).detach().cpu().numpy().astype(np.float64)
        s = score[i].reshape(-1).detach().cpu().numpy().astype(np.float64)
        lab = label[i][..., None].expand(S, S, B).reshape(-1).cpu().numpy()
        keep = s >= score_threshold
        b, s, lab = b[keep], s[keep], lab[keep]
        k = nms(b, s, iou_threshold, lab)[:max_detections]
        out.append({"boxes": b[k], "scores": s[k], "labels": lab[k].astype(np.int64)})
    return out
