"""Face verification: the three Siamese losses, written by hand, and the LFW pairs protocol.

Losses (inputs are a batch of embeddings `emb` (B, D) and identity labels `y` (B,)):

- `pair_bce`: binary cross-entropy of a pair head's logit z for "same person",
  l = -[t log sigma(z) + (1 - t) log(1 - sigma(z))] = softplus(z) - t z   (the stable form).
- `contrastive_loss` (Hadsell, Chopra, LeCun 2006): l = t d^2 + (1 - t) max(0, m - d)^2 with d the
  Euclidean distance of the two embeddings.
- `triplet_loss` (Schroff et al. 2015, FaceNet): l = max(0, d(a, p) - d(a, n) + m), with
  batch-hard mining (Hermans et al. 2017): for each anchor, its farthest positive and its nearest
  negative in the batch.

The protocol (LFW "view 2"): `pairs.txt` holds 10 folds of matched and mismatched pairs. For each
fold the threshold is the one with the best accuracy on the other nine folds and is scored on that
fold; accuracy is reported as mean +- std over folds. ROC, AUC and TAR at fixed FAR use all pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nndl.errors import DataError

# -- losses ---------------------------------------------------------------------------------------


def pair_bce(logits: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of logits for 'same'; softplus(z) - t z = -log sigma(+-z)."""
    t = same.float()
    return (F.softplus(logits) - t * logits).mean()


def pairwise_distances(emb: torch.Tensor) -> torch.Tensor:
    """(B, B) Euclidean distances; the epsilon keeps the gradient of sqrt finite at 0."""
    diff = emb[:, None, :] - emb[None, :, :]
    return (diff.pow(2).sum(-1) + 1e-12).sqrt()


def all_pairs(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Index pairs i < j of a batch and whether they show the same identity."""
    i, j = torch.triu_indices(len(y), len(y), offset=1, device=y.device)
    return i, j, y[i] == y[j]


def contrastive_loss(emb: torch.Tensor, y: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Hadsell's contrastive loss over all pairs of the batch, positives and negatives balanced.

    l+ = d^2 for same-identity pairs, l- = max(0, m - d)^2 for different ones; the batch holds far
    more negatives than positives, so the loss is mean(l+) + mean(l-) (each set averaged alone).
    """
    i, j, same = all_pairs(y)
    d = pairwise_distances(emb)[i, j]
    pos = d[same].pow(2)
    neg = F.relu(margin - d[~same]).pow(2)
    return _mean_or_zero(pos) + _mean_or_zero(neg)


def triplet_loss(emb: torch.Tensor, y: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """Batch-hard triplet loss: mean over anchors of max(0, max_p d(a,p) - min_n d(a,n) + m)."""
    d = pairwise_distances(emb)
    same = y[:, None] == y[None, :]
    eye = torch.eye(len(y), dtype=torch.bool, device=y.device)
    hardest_pos = d.masked_fill(~same | eye, float("-inf")).amax(1)
    hardest_neg = d.masked_fill(same, float("inf")).amin(1)
    valid = torch.isfinite(hardest_pos) & torch.isfinite(hardest_neg)  # anchors with both
    return _mean_or_zero(F.relu(hardest_pos - hardest_neg + margin)[valid])


def triplet_loss_all(emb: torch.Tensor, y: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """Batch-all triplet loss: the mean of max(0, d(a,p) - d(a,n) + m) over the triplets of the
    batch where it is positive (Hermans et al. 2017's "batch all")."""
    d = pairwise_distances(emb)
    same = y[:, None] == y[None, :]
    eye = torch.eye(len(y), dtype=torch.bool, device=y.device)
    valid = (same & ~eye)[:, :, None] & ~same[:, None, :]  # (a, p, n)
    losses = F.relu(d[:, :, None] - d[:, None, :] + margin)[valid]
    return _mean_or_zero(losses[losses > 0])


def _mean_or_zero(t: torch.Tensor) -> torch.Tensor:
    return t.mean() if t.numel() else t.sum()


# -- the pairs protocol ---------------------------------------------------------------------------


@dataclass
class Pairs:
    """Pairs of (name, image number) read from a pairs.txt, with their fold and label."""

    left: list[tuple[str, int]]
    right: list[tuple[str, int]]
    same: np.ndarray  # (P,) bool
    fold: np.ndarray  # (P,) int


def write_pairs(path: Path, folds: list[tuple[list, list]]) -> None:
    """Write LFW's pairs.txt: 'num_folds<TAB>n', then per fold n matched lines
    'name<TAB>i<TAB>j' and n mismatched lines 'name1<TAB>i<TAB>name2<TAB>j' (1-based numbers)."""
    n = len(folds[0][0])
    lines = [f"{len(folds)}\t{n}"]
    for matched, mismatched in folds:
        if len(matched) != n or len(mismatched) != n:
            raise ValueError("every fold needs the same number of matched and mismatched pairs")
        lines += [f"{name}\t{i}\t{j}" for name, i, j in matched]
        lines += [f"{a}\t{i}\t{b}\t{j}" for a, i, b, j in mismatched]
    Path(path).write_text("\n".join(lines) + "\n")


def read_pairs(path: Path) -> Pairs:
    """Read pairs.txt in LFW's format (as torchvision's LFWPairs does); one-line errors."""
    path = Path(path)
    try:
        rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
        num_folds, n = int(rows[0][0]), int(rows[0][1])
    except (OSError, IndexError, ValueError) as e:
        raise DataError(f"{path} is not an LFW pairs file ('num_folds n' first line).") from e
    body = rows[1:]
    if len(body) != 2 * num_folds * n:
        raise DataError(
            f"{path}: expected {2 * num_folds * n} pair lines ({num_folds} folds x 2 x {n}); "
            f"found {len(body)} (truncated?)."
        )
    left, right, same, fold = [], [], [], []
    for k, row in enumerate(body):
        f, matched = divmod(k, 2 * n)[0], k % (2 * n) < n
        try:
            if matched and len(row) == 3:
                a, b = (row[0], int(row[1])), (row[0], int(row[2]))
            elif not matched and len(row) == 4:
                a, b = (row[0], int(row[1])), (row[2], int(row[3]))
            else:
                raise ValueError
        except ValueError as e:
            raise DataError(f"{path} line {k + 2}: malformed pair {' '.join(row)!r}.") from e
        left.append(a)
        right.append(b)
        same.append(matched)
        fold.append(f)
    return Pairs(left, right, np.array(same), np.array(fold))


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold (score >= t means 'same') with the highest accuracy on these pairs."""
    s = np.unique(scores)
    candidates = np.concatenate([[s[0] - 1], (s[1:] + s[:-1]) / 2, [s[-1] + 1]])
    acc = [((scores >= t) == same).mean() for t in candidates]
    return float(candidates[int(np.argmax(acc))])


def ten_fold_accuracy(scores: np.ndarray, same: np.ndarray, fold: np.ndarray) -> dict:
    """Per fold: the threshold chosen on the other folds, accuracy on this one."""
    accs, thresholds = [], []
    for f in np.unique(fold):
        test = fold == f
        t = best_threshold(scores[~test], same[~test])  # never looks at the test fold
        thresholds.append(t)
        accs.append(float(((scores[test] >= t) == same[test]).mean()))
    return {
        "acc_mean": float(np.mean(accs)),
        "acc_std": float(np.std(accs)),
        "fold_acc": accs,
        "thresholds": thresholds,
    }


def roc_scores(scores: np.ndarray, same: np.ndarray, fars=(1e-2, 1e-3)) -> dict:
    """ROC curve, AUC, and TAR at each FAR (the best true-accept rate with FPR <= FAR)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(same, scores)
    out = {"fpr": fpr, "tpr": tpr, "auc": float(roc_auc_score(same, scores))}
    for far in fars:
        out[f"tar@{far:g}"] = float(tpr[fpr <= far].max()) if (fpr <= far).any() else 0.0
    return out
