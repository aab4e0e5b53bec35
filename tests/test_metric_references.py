"""The project's metric code against reference implementations on small fixtures.

- mAP (methods/detection.py) against pycocotools' COCOeval called directly (COCO conventions:
  iscrowd regions, 100 detections per image, area "all").
- SQuAD v1.1 EM/F1 (methods/squad.py) against torchmetrics' port of the official evaluate-v1.1.py.
- ROC AUC and TAR@FAR (methods/verification.py) against the Mann-Whitney statistic and a
  brute-force threshold scan; the 10-fold protocol against a brute-force search.
"""

import numpy as np
import pytest


def _detection_fixture(seed: int):
    """Eight images, two classes; noisy copies of the ground truth, misses, false alarms, crowds."""
    rng = np.random.default_rng(seed)
    preds, targets = [], []
    for _ in range(8):
        n = int(rng.integers(1, 6))
        xy = rng.uniform(0, 80, size=(n, 2))
        wh = rng.uniform(8, 40, size=(n, 2))
        gt = np.concatenate([xy, xy + wh], 1)
        labels = rng.integers(0, 2, size=n)
        ignore = rng.random(n) < 0.15
        keep = rng.random(n) > 0.2  # some objects are missed
        boxes = gt[keep] + rng.normal(0, 3, size=(int(keep.sum()), 4))
        p_labels = labels[keep].copy()
        k = int(rng.integers(0, 4))  # false alarms
        fxy = rng.uniform(0, 90, size=(k, 2))
        boxes = np.concatenate([boxes, np.concatenate([fxy, fxy + 15], 1)])
        p_labels = np.concatenate([p_labels, rng.integers(0, 2, size=k)])
        scores = rng.uniform(0.05, 1, size=len(boxes))
        # half-pixel coordinates: exact in float32, which torchmetrics converts to
        preds.append({"boxes": np.round(boxes * 2) / 2, "scores": scores, "labels": p_labels})
        targets.append({"boxes": np.round(gt * 2) / 2, "labels": labels, "ignore": ignore})
    return preds, targets


def _cocoeval(preds, targets) -> tuple[float, float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, anns, dets = [], [], []
    for i, (p, t) in enumerate(zip(preds, targets, strict=True)):
        images.append({"id": i, "width": 128, "height": 128})
        for box, label, crowd in zip(t["boxes"], t["labels"], t["ignore"], strict=True):
            w, h = box[2] - box[0], box[3] - box[1]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": int(label),
                    "bbox": [float(box[0]), float(box[1]), float(w), float(h)],
                    "area": float(w * h),
                    "iscrowd": int(crowd),
                }
            )
        for box, label, score in zip(p["boxes"], p["labels"], p["scores"], strict=True):
            dets.append(
                {
                    "image_id": i,
                    "category_id": int(label),
                    "bbox": [
                        float(box[0]),
                        float(box[1]),
                        float(box[2] - box[0]),
                        float(box[3] - box[1]),
                    ],
                    "score": float(score),
                }
            )
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": 0}, {"id": 1}]}
    gt.createIndex()
    dt = gt.loadRes(dets)
    ev = COCOeval(gt, dt, "bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return float(ev.stats[1]), float(ev.stats[0])  # mAP@0.5, mAP@0.5:0.95


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_map_equals_pycocotools_cocoeval(seed, capsys):
    from nndl.methods.detection import mean_average_precision

    preds, targets = _detection_fixture(seed)
    ours = mean_average_precision(preds, targets)
    ref_50, ref = _cocoeval(preds, targets)
    capsys.readouterr()  # COCOeval prints its summary table
    assert 0.05 < ref < ref_50 < 1  # a fixture that exercises partial matches
    assert ours["map_50"] == pytest.approx(ref_50, abs=1e-6)
    assert ours["map"] == pytest.approx(ref, abs=1e-6)


SQUAD_FIXTURE = [
    ("q1", "the Denver Broncos", ["Denver Broncos", "Broncos"]),
    ("q2", "Denver Broncos won", ["the Denver Broncos"]),
    ("q3", "Carolina Panthers", ["Denver Broncos"]),
    ("q4", "Saint-Louis, Missouri!", ["Saint Louis Missouri", "St. Louis"]),
    ("q5", "an apple and a pear", ["apple, pear"]),
    ("q6", "1,000 people", ["1000 people", "a thousand people"]),
    ("q7", "  Levi's   Stadium ", ["Levi's Stadium in Santa Clara"]),
    ("q8", "THE END", ["end"]),
]


def test_squad_em_f1_equal_the_official_v11_logic():
    from torchmetrics.functional.text import squad as reference

    from nndl.methods import squad

    gold = {qid: answers for qid, _, answers in SQUAD_FIXTURE}
    predictions = {qid: pred for qid, pred, _ in SQUAD_FIXTURE}
    ours = squad.evaluate(gold, predictions)
    ref = reference(
        [{"prediction_text": p, "id": q} for q, p, _ in SQUAD_FIXTURE],
        [
            {"answers": {"answer_start": [0] * len(a), "text": a}, "id": q}
            for q, _, a in SQUAD_FIXTURE
        ],
    )
    assert ours["exact_match"] == pytest.approx(float(ref["exact_match"]), abs=1e-4)
    assert ours["f1"] == pytest.approx(float(ref["f1"]), abs=1e-4)
    assert 0 < ours["exact_match"] < ours["f1"] < 100  # partial credit exercised


def test_roc_auc_and_tar_at_far_against_definitions():
    from scipy.stats import mannwhitneyu

    from nndl.methods.verification import roc_scores

    rng = np.random.default_rng(0)
    same = rng.random(600) < 0.5
    scores = rng.normal(size=600) + 1.2 * same
    scores[:40] = np.round(scores[:40], 1)  # ties
    r = roc_scores(scores, same, fars=(1e-2, 1e-1))
    u = mannwhitneyu(scores[same], scores[~same]).statistic  # ties count one half
    assert r["auc"] == pytest.approx(u / (same.sum() * (~same).sum()), abs=1e-12)
    for far in (1e-2, 1e-1):
        best = 0.0
        for t in np.unique(scores):  # "same" when score >= t
            fpr = ((scores >= t) & ~same).sum() / (~same).sum()
            if fpr <= far:
                best = max(best, ((scores >= t) & same).sum() / same.sum())
        assert r[f"tar@{far:g}"] == pytest.approx(best, abs=1e-12)


def test_ten_fold_threshold_is_chosen_without_the_test_fold():
    from nndl.methods.verification import ten_fold_accuracy

    rng = np.random.default_rng(1)
    same = rng.random(400) < 0.5
    scores = rng.normal(size=400) + same
    fold = np.repeat(np.arange(10), 40)
    r = ten_fold_accuracy(scores, same, fold)
    for f, (acc, t) in enumerate(zip(r["fold_acc"], r["thresholds"], strict=True)):
        train = fold != f
        best = max(((scores[train] >= c) == same[train]).mean() for c in np.unique(scores))
        assert ((scores[train] >= t) == same[train]).mean() == pytest.approx(best)
        assert acc == pytest.approx(((scores[~train] >= t) == same[~train]).mean())
