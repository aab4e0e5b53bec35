"""The distillation loss against its formula, written out in NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nndl.methods.distillation import distillation_loss, make_step


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("temperature,alpha", [(1.0, 0.5), (4.0, 0.1), (8.0, 0.0), (2.0, 1.0)])
@pytest.mark.parametrize("num_teachers", [1, 2])
def test_loss_matches_the_formula(temperature, alpha, num_teachers):
    rng = np.random.default_rng(0)
    b, c = 5, 6
    s = rng.normal(size=(b, c)) * 2
    t = rng.normal(size=(b, num_teachers, c)) * 3
    y = rng.integers(0, c, b)
    # p = mean_k softmax(t_k / T); KL(p || q) = sum p log(p / q), averaged over the batch
    p = _softmax(t / temperature).mean(1)
    q = _softmax(s / temperature)
    kl = (p * np.log(p / q)).sum(1).mean()
    ce = -np.log(_softmax(s)[np.arange(b), y]).mean()
    expected = (1 - alpha) * temperature**2 * kl + alpha * ce
    total, soft, hard = distillation_loss(
        torch.tensor(s), torch.tensor(t), torch.tensor(y), temperature, alpha
    )
    assert float(total) == pytest.approx(expected, rel=1e-9)
    assert float(soft) == pytest.approx(temperature**2 * kl, rel=1e-9)
    assert float(hard) == pytest.approx(ce, rel=1e-9)


def test_student_equal_to_teacher_has_no_soft_loss_and_step_logs():
    z = torch.randn(4, 10)
    _, soft, _ = distillation_loss(z, z, torch.zeros(4, dtype=torch.long), 4.0, 0.5)
    assert float(soft) == pytest.approx(0.0, abs=1e-6)
    model = torch.nn.Linear(3, 10)
    x = torch.randn(4, 3)
    loss, logs = make_step(2.0, 0.3)(model, (x, torch.arange(4), torch.randn(4, 2, 10)))
    assert loss.requires_grad and set(logs) == {"loss", "kd", "ce", "acc"}


def test_unlabelled_images_feed_only_the_soft_term():
    """Label -1 (the transfer set): the hard term is the mean over the labelled images only, and
    a batch without labels has a hard term of 0, not NaN."""
    rng = np.random.default_rng(1)
    s, t = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    y = np.array([2, -1, 0, -1, -1, 3])
    labelled = y >= 0
    ce = -np.log(_softmax(s)[labelled][np.arange(3), y[labelled]]).mean()
    _, soft, hard = distillation_loss(torch.tensor(s), torch.tensor(t), torch.tensor(y), 2.0, 0.5)
    assert float(hard) == pytest.approx(ce, rel=1e-9)
    p, q = _softmax(t / 2.0), _softmax(s / 2.0)  # the soft term still averages all six images
    assert float(soft) == pytest.approx(4.0 * (p * np.log(p / q)).sum(1).mean(), rel=1e-9)
    none = torch.full((6,), -1)
    total, _, hard = distillation_loss(torch.tensor(s), torch.tensor(t), none, 2.0, 0.5)
    assert float(hard) == 0.0 and torch.isfinite(total)
