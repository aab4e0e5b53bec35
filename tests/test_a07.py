"""a07: the one mAP implementation on hand-made boxes, YOLOv1's loss against its definition and
its target round trip, the WIDER FACE loader on files in the official format (and on the real
subset when ../shared/data has it), and one-line errors for a bad video."""

from __future__ import annotations

import tarfile

import numpy as np
import pytest
import torch

from nndl.errors import DataError
from nndl.methods.detection import agreement, box_iou, match_count, mean_average_precision
from nndl.models.yolov1 import YOLOv1, decode, encode, yolo_v1_loss

# -- mAP --------------------------------------------------------------------------------------------

GT = [{"boxes": [[0, 0, 10, 10], [20, 20, 40, 40]], "labels": [0, 0]}]


def _pred(boxes, scores, labels=None):
    return [{"boxes": boxes, "scores": scores, "labels": labels or [0] * len(scores)}]


def test_map_is_one_for_perfect_boxes_and_half_when_one_is_missed():
    assert mean_average_precision(_pred([[0, 0, 10, 10], [20, 20, 40, 40]], [0.9, 0.8]), GT) == {
        "map_50": 1.0,
        "map": 1.0,
        "mar_300": 1.0,
    }
    # one of two found: recall stops at 0.5, 51 of the 101 recall points have precision 1
    r = mean_average_precision(_pred([[0, 0, 10, 10]], [0.9]), GT)
    assert r["map_50"] == pytest.approx(51 / 101) and r["mar_300"] == pytest.approx(0.5)


def test_map_ranks_by_score_and_a_loose_box_counts_only_at_low_iou():
    # a false positive scored above the true one halves the precision at every recall point
    r = mean_average_precision(_pred([[0, 0, 10, 10], [50, 50, 60, 60]], [0.9, 0.95]), GT)
    assert r["map_50"] == pytest.approx(0.5 * 51 / 101)
    # IoU 100/120 = 0.83: a match at thresholds 0.50..0.80 (7 of 10, AP 1); at 0.85..0.95 it is
    # a false positive ranked above the exact box (AP 0.5 * 51/101)
    r = mean_average_precision(_pred([[0, 0, 10, 12], [20, 20, 40, 40]], [0.9, 0.8]), GT)
    assert r["map_50"] == pytest.approx(1.0)
    assert r["map"] == pytest.approx((7 * 1 + 3 * 0.5 * 51 / 101) / 10)


def test_ignored_ground_truth_is_neither_required_nor_a_false_positive():
    gt = [{"boxes": [[0, 0, 10, 10], [20, 20, 40, 40]], "labels": [0, 0], "ignore": [0, 1]}]
    assert mean_average_precision(_pred([[0, 0, 10, 10]], [0.9]), gt)["map_50"] == pytest.approx(1)
    both = _pred([[0, 0, 10, 10], [20, 20, 40, 40]], [0.5, 0.9])
    assert mean_average_precision(both, gt)["map_50"] == pytest.approx(1.0)


def test_box_iou_and_agreement():
    assert box_iou([[0, 0, 10, 10]], [[5, 0, 15, 10]])[0, 0] == pytest.approx(50 / 150)
    a = [[0, 0, 10, 10], [20, 20, 30, 30]]
    b = [[21, 20, 31, 30], [0, 1, 10, 11], [50, 50, 60, 60]]
    assert match_count(a, b) == 2
    assert agreement(a, b) == pytest.approx(2 * 2 / 5)
    assert match_count(a, b, labels_a=[0, 1], labels_b=[0, 0, 0]) == 1
    assert agreement(np.zeros((0, 4)), np.zeros((0, 4))) == 1.0


# -- YOLOv1 -----------------------------------------------------------------------------------------

S, B, C, SIZE = 4, 2, 2, 128
BOXES = np.array([[0, 10, 12, 50, 60], [1, 70, 64, 120, 126]], np.float64)


def _perfect(target: torch.Tensor) -> torch.Tensor:
    """A prediction whose first predictor is the truth (IoU 1, confidence 1) and whose other
    predictors say 'no object' with confidence 0."""
    n = target.shape[0]
    pred = torch.zeros(n, S, S, 5 * B + C)
    pred[..., :5] = target[..., :5]
    pred[..., 5 * B :] = target[..., 5:]
    return pred


def test_target_encoding_round_trips_through_decoding():
    t = torch.from_numpy(encode(BOXES, SIZE, S, C))[None]
    assert t[..., 4].sum() == 2  # two cells hold a centre
    out = decode(_perfect(t), B, SIZE, score_threshold=0.5)[0]
    order = np.argsort(out["labels"])
    np.testing.assert_allclose(out["boxes"][order], BOXES[:, 1:], atol=1e-3)
    np.testing.assert_array_equal(out["labels"][order], [0, 1])
    np.testing.assert_allclose(out["scores"], 1.0)


def test_a_perfect_prediction_has_zero_loss():
    t = torch.from_numpy(encode(BOXES, SIZE, S, C))[None]
    total, terms = yolo_v1_loss(_perfect(t), t, B)
    assert float(total) == pytest.approx(0.0, abs=1e-6)
    assert all(float(v) == pytest.approx(0.0, abs=1e-6) for v in terms.values())


def test_each_loss_term_moves_as_its_definition_says():
    t = torch.from_numpy(encode(BOXES, SIZE, S, C))[None]
    perfect = _perfect(t)
    row, col = 1, 0  # the cell of the first box's centre (30, 36) on a 32-px grid
    assert t[0, row, col, 4] == 1

    def terms(pred, **kw):
        return {k: float(v) for k, v in yolo_v1_loss(pred, t, B, **kw)[1].items()}

    p = perfect.clone()
    p[0, row, col, 0] += 0.1  # x off by 0.1 cell: lambda_coord * 0.01 in xy (and IoU < 1)
    got = terms(p)
    assert got["xy"] == pytest.approx(5 * 0.01, rel=1e-4) and got["wh"] == 0
    assert got["conf_obj"] > 0  # the confidence target is now the IoU, below 1
    p = perfect.clone()
    p[0, row, col, 2] += 0.1  # sqrt(w) off by 0.1
    assert terms(p)["wh"] == pytest.approx(5 * 0.01, rel=1e-4)
    assert terms(p, lambda_coord=1.0)["wh"] == pytest.approx(0.01, rel=1e-4)
    p = perfect.clone()
    p[0, 3, 3, 4] = 0.4  # confidence in an empty cell: lambda_noobj * 0.16
    assert terms(p)["conf_noobj"] == pytest.approx(0.5 * 0.16, rel=1e-4)
    p[0, row, col, 9] = 0.3  # the second (not responsible) predictor of an object cell
    assert terms(p)["conf_noobj"] == pytest.approx(0.5 * (0.16 + 0.09), rel=1e-4)
    p = perfect.clone()
    p[0, row, col, 5 * B] = 0.8  # class 0 probability 0.8 instead of 1
    p[0, 3, 3, 5 * B] = 0.7  # class outputs of an empty cell cost nothing
    assert terms(p)["cls"] == pytest.approx(0.04, rel=1e-4)


def test_the_responsible_predictor_is_the_one_with_the_higher_iou():
    t = torch.from_numpy(encode(BOXES[:1], SIZE, S, C))[None]
    row, col = 1, 0
    p = _perfect(t)
    p[0, row, col, :4] = t[0, row, col, :4] + torch.tensor([0.3, 0.3, 0.0, 0.0])  # worse box
    p[0, row, col, 4] = 0.0
    p[0, row, col, 5:9] = t[0, row, col, :4]  # the second predictor is exact
    p[0, row, col, 9] = 1.0
    total, got = yolo_v1_loss(p, t, B)
    # the exact predictor is responsible: no coordinate loss; the other one is "no object"
    assert float(got["xy"]) == pytest.approx(0.0, abs=1e-6)
    assert float(total) == pytest.approx(0.0, abs=1e-6)


def test_yolov1_shapes_and_backward():
    model = YOLOv1(num_classes=C, grid=S, boxes_per_cell=B, width=4, hidden=32, image_size=SIZE)
    x = torch.rand(2, 3, SIZE, SIZE)
    y = model(x)
    assert y.shape == (2, S, S, 5 * B + C) and y.min().item() >= 0 and y.max().item() <= 1
    t = torch.from_numpy(np.stack([encode(BOXES, SIZE, S, C)] * 2))
    loss, _ = yolo_v1_loss(y, t, B)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


# -- WIDER FACE -------------------------------------------------------------------------------------


def _write_wider(root, blocks: dict[str, list[str]]):
    import cv2

    (root / "wider_face_split").mkdir(parents=True)
    for split, lines in blocks.items():
        (root / "wider_face_split" / f"wider_face_{split}_bbx_gt.txt").write_text(
            "\n".join(lines) + "\n"
        )
        for ln in lines:
            if ln.endswith(".jpg"):
                path = root / f"WIDER_{split}" / "images" / ln
                path.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(path), np.full((40, 60, 3), 128, np.uint8))


TRAIN_BLOCKS = [
    "0--Parade/0_Parade_a_1.jpg",
    "2",
    "10 5 20 30 0 0 0 0 0 0 ",
    "1 1 4 4 2 0 0 1 0 0 ",
    "1--Handshaking/1_Handshaking_b_2.jpg",
    "0",
    "0 0 0 0 0 0 0 0 0 0 ",
    "1--Handshaking/1_Handshaking_c_3.jpg",
    "1",
    "3 3 0 7 0 0 0 0 0 0 ",
]


def test_wider_face_reads_the_official_format(tmp_path):
    from nndl.data.wider_face import load_split, read_image, split_train_val

    _write_wider(tmp_path, {"train": TRAIN_BLOCKS, "val": TRAIN_BLOCKS[:4]})
    images = load_split(tmp_path, "train")
    assert [im.name for im in images] == [
        "0--Parade/0_Parade_a_1.jpg",
        "1--Handshaking/1_Handshaking_b_2.jpg",
        "1--Handshaking/1_Handshaking_c_3.jpg",
    ]
    np.testing.assert_array_equal(images[0].boxes, [[10, 5, 30, 35], [1, 1, 5, 5]])
    np.testing.assert_array_equal(images[0].invalid, [False, True])
    assert images[0].attributes[1, 0] == 2 and images[0].event == "0--Parade"
    assert images[1].boxes.shape == (0, 4)  # no face: its line of zeros is not a box
    assert images[2].boxes.shape == (0, 4)  # a zero-width box is dropped
    assert read_image(images[0]).shape == (40, 60, 3)
    train, val = split_train_val(images, 0.34, seed=0)
    assert len(train) == 2 and len(val) == 1
    assert split_train_val(images, 0.34, seed=0) == (train, val)


def test_wider_face_errors_name_the_problem(tmp_path):
    from nndl.data.wider_face import load_split

    with pytest.raises(DataError, match="wider_face.*WIDER_"):
        load_split(tmp_path, "train")
    _write_wider(tmp_path, {"train": TRAIN_BLOCKS[:3], "val": TRAIN_BLOCKS[:4]})  # cut short
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_split(tmp_path, "train")


def test_wider_face_reads_the_real_subset(shared_data, tmp_path):
    from nndl.data.wider_face import load_split, read_image

    with tarfile.open(shared_data / "wider_face_subset.tar") as tar:
        tar.extractall(tmp_path, filter="data")
    train, val = load_split(tmp_path, "train"), load_split(tmp_path, "val")
    assert len(train) == 250 and len(val) == 150
    assert sum(len(im.boxes) for im in train) == 1364
    # 1,768 official val boxes, one of which has zero width
    assert sum(len(im.boxes) for im in val) == 1767
    assert any(len(im.boxes) == 0 for im in val)
    img = read_image(val[0])
    assert img.ndim == 3 and (val[0].boxes[:, 2] <= img.shape[1] + 1).all()


# -- bad input ----------------------------------------------------------------------------------------


def test_a_missing_or_undecodable_video_is_a_one_line_data_error(tmp_path):
    from nndl.studies.a07_yolo.video import check_video

    with pytest.raises(DataError, match="does not exist"):
        check_video(tmp_path / "nope.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(DataError, match="cannot be decoded"):
        check_video(bad)


def test_rendered_video_moves_objects_and_keeps_their_classes():
    from nndl.data.synthetic.scenes import render_video

    frames, boxes = render_video(8, 64, 3, 2, seed=0)
    assert frames.shape == (8, 64, 64, 3) and len(boxes) == 8
    assert not np.array_equal(boxes[0], boxes[-1])  # they move
    assert set(boxes[0][:, 0]) <= {0, 1, 2}
