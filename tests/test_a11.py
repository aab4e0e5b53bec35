"""Study a11: the three verification losses against their definitions, the pairs protocol, LFW."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nndl.errors import DataError
from nndl.methods import verification as V


def test_pair_bce_is_the_binary_cross_entropy_formula():
    z = torch.tensor([2.0, -1.0, 0.0, 8.0, -8.0])
    t = torch.tensor([1, 0, 1, 0, 1])
    p = torch.sigmoid(z.double())
    by_hand = -(t * p.log() + (1 - t) * (1 - p).log()).mean()
    assert V.pair_bce(z.double(), t).item() == pytest.approx(by_hand.item(), rel=1e-12)
    assert V.pair_bce(z, t).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(z, t.float()).item(), rel=1e-6
    )
    # where the textbook formula overflows, the stable form still equals |z| for a wrong sign
    big = torch.tensor([100.0, -100.0])
    assert V.pair_bce(big, torch.tensor([0, 1])).item() == pytest.approx(100.0)


def test_contrastive_loss_on_hand_made_points():
    # three points on a line: a=0, b=0.3 (same person as a), c=2 (another person)
    emb = torch.tensor([[0.0, 0.0], [0.3, 0.0], [2.0, 0.0]])
    y = torch.tensor([0, 0, 1])
    m = 1.0
    # positive pair (a, b): d^2 = 0.09; negatives (a, c) d=2 -> 0, (b, c) d=1.7 -> 0
    assert V.contrastive_loss(emb, y, m).item() == pytest.approx(0.09, abs=1e-6)
    # c moved to 0.5: negatives d = 0.5 and 0.2 -> (0.5^2 + 0.8^2) / 2
    emb[2, 0] = 0.5
    expected = 0.09 + (0.25 + 0.64) / 2
    assert V.contrastive_loss(emb, y, m).item() == pytest.approx(expected, abs=1e-6)


def test_triplet_loss_is_batch_hard_against_brute_force():
    torch.manual_seed(0)
    emb = F.normalize(torch.randn(12, 5), dim=1)
    y = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 4])  # person 4 has no positive
    m = 0.3
    d = torch.cdist(emb, emb)
    terms = []
    for a in range(12):
        pos = [d[a, p] for p in range(12) if p != a and y[p] == y[a]]
        neg = [d[a, n] for n in range(12) if y[n] != y[a]]
        if pos:
            terms.append(max(0.0, max(pos).item() - min(neg).item() + m))
    assert V.triplet_loss(emb, y, m).item() == pytest.approx(np.mean(terms), abs=1e-5)


def test_losses_have_finite_gradients_even_for_identical_embeddings():
    emb = torch.zeros(4, 3, requires_grad=True)
    y = torch.tensor([0, 0, 1, 1])
    (V.contrastive_loss(emb, y) + V.triplet_loss(emb, y)).backward()
    assert torch.isfinite(emb.grad).all()


def test_pairs_file_round_trip_in_lfw_format(tmp_path):
    folds = [
        ([("Ann_B", 1, 2), ("Cy_D", 1, 3)], [("Ann_B", 1, "Cy_D", 2), ("Ed_F", 4, "Ann_B", 2)]),
        ([("Ed_F", 2, 3), ("Ed_F", 1, 4)], [("Cy_D", 3, "Ed_F", 1), ("Cy_D", 1, "Ann_B", 1)]),
    ]
    path = tmp_path / "pairs.txt"
    V.write_pairs(path, folds)
    lines = path.read_text().splitlines()
    assert lines[0] == "2\t2" and lines[1] == "Ann_B\t1\t2" and lines[3] == "Ann_B\t1\tCy_D\t2"
    p = V.read_pairs(path)
    assert p.left[2] == ("Ann_B", 1) and p.right[2] == ("Cy_D", 2)
    assert p.same.tolist() == [True, True, False, False] * 2
    assert p.fold.tolist() == [0] * 4 + [1] * 4
    path.write_text("\n".join(lines[:-1]))
    with pytest.raises(DataError, match="truncated"):
        V.read_pairs(path)


def test_ten_fold_threshold_never_looks_at_the_test_fold():
    # fold 0's scores are shifted: a threshold tuned on fold 0 itself would score 1.0 there
    rng = np.random.default_rng(0)
    same = np.tile([True, False], 50)
    fold = np.repeat(np.arange(10), 10)
    scores = np.where(same, 1.0, 0.0) + rng.normal(0, 0.1, 100)
    scores[fold == 0] += 5.0  # everything in fold 0 is above any threshold from folds 1..9
    out = V.ten_fold_accuracy(scores, same, fold)
    assert out["fold_acc"][0] == pytest.approx(0.5)  # all accepted: half right
    assert all(a == 1.0 for a in out["fold_acc"][1:])
    assert out["acc_mean"] == pytest.approx(0.95)
    assert 0.2 < out["thresholds"][0] < 0.8


def test_tar_at_far():
    same = np.array([1] * 4 + [0] * 100, bool)
    scores = np.concatenate([[10, 9, 0.5, 0.4], np.linspace(0, 1, 100)])
    r = V.roc_scores(scores, same, fars=(1e-2, 1e-3))
    assert r["tar@0.01"] == pytest.approx(0.5)  # 2 of 4 above every negative but one
    assert r["tar@0.001"] == pytest.approx(0.5)
    assert 0.5 < r["auc"] < 1


def _write_jpeg(path, seed):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (250, 250, 3), np.uint8)).save(path)


def test_lfw_loader_reads_the_torchvision_layout(tmp_path):
    from torchvision.datasets import LFWPairs

    from nndl.data.lfw import image_path, load_lfw

    base = tmp_path / "lfw-py"
    images = base / "lfw_funneled"
    people = {"Ann_B": 2, "Cy_D": 3, "Ed_F": 1, "Train_One": 2, "Train_Two": 3, "Solo_X": 1}
    for k, (name, n) in enumerate(people.items()):
        for i in range(1, n + 1):
            _write_jpeg(images / name / f"{name}_{i:04d}.jpg", k * 10 + i)
    V.write_pairs(base / "pairs.txt", [([("Ann_B", 1, 2), ("Cy_D", 1, 3)],
                                        [("Ann_B", 1, "Cy_D", 2), ("Ed_F", 1, "Ann_B", 2)])])  # fmt: skip
    d = load_lfw(tmp_path, size=32)
    assert d["test_x"].shape == (6, 32, 32, 3)  # the distinct images named in pairs.txt
    # training: people outside pairs.txt with >= 2 images
    assert d["train_x"].shape == (5, 32, 32, 3) and sorted(set(d["train_y"])) == [0, 1]
    assert d["pairs"].same.tolist() == [True, True, False, False]
    # torchvision reads the same folder (its checksums aside) with the same pairs
    tv = LFWPairs.__new__(LFWPairs)  # its constructor insists on the official checksums
    tv.root, tv.split, tv.labels_file, tv.images_dir = str(base), "10fold", "pairs.txt", str(images)
    _, files, targets = tv._get_pairs(str(images))
    ours = [
        (str(image_path(images, *a)), str(image_path(images, *b)))
        for a, b in zip(d["pairs"].left, d["pairs"].right, strict=True)
    ]
    assert files == ours and targets == d["pairs"].same.astype(int).tolist()
    (images / "Cy_D" / "Cy_D_0003.jpg").unlink()
    with pytest.raises(DataError, match="Cy_D_0003.jpg"):
        load_lfw(tmp_path, size=32)


def test_missing_lfw_is_one_clear_error(tmp_path):
    from nndl.data.lfw import load_lfw

    with pytest.raises(DataError, match="lfw-py"):
        load_lfw(tmp_path, size=32)


def test_batch_all_triplet_loss_against_brute_force():
    torch.manual_seed(1)
    emb = F.normalize(torch.randn(9, 4), dim=1)
    y = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 3])
    m = 0.3
    d = torch.cdist(emb, emb)
    terms = [
        d[a, p].item() - d[a, n].item() + m
        for a in range(9)
        for p in range(9)
        for n in range(9)
        if p != a and y[p] == y[a] and y[n] != y[a]
    ]
    positive = [t for t in terms if t > 0]
    assert V.triplet_loss_all(emb, y, m).item() == pytest.approx(np.mean(positive), abs=1e-5)
