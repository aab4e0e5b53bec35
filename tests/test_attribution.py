"""Captum wrappers and region metrics: completeness, the softmax Grad-CAM identity, map measures."""

import numpy as np
import pytest
import torch
from torch import nn

from nndl.methods import attribution as A
from nndl.models.small_cnn import SmallCNN


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    model = SmallCNN(num_classes=5, width=4).eval()
    for m in model.modules():  # non-trivial batch-norm statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    return model


@pytest.fixture(scope="module")
def x():
    return torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def test_ig_of_a_linear_model_is_exact_and_complete(x):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 4)).eval()
    baseline = torch.zeros(1, 3, 32, 32)
    attr, delta = A.integrated_gradients(model, x, 2, baseline, n_steps=3, method="gausslegendre")
    w = model[1].weight[2].view(3, 32, 32)
    assert torch.allclose(attr, (x - baseline) * w, atol=1e-6)  # IG = (x - x') * w exactly
    check = A.completeness(model, x, baseline, 2, attr)
    assert check["rel_error"].max() < 1e-5


def test_captum_trapezoid_weights_sum_to_n_minus_1_over_n(x):
    # Captum 0.9: nodes linspace(0, 1, n) but weights 1/n (halved at the ends): total (n-1)/n,
    # so even a linear model keeps a relative completeness error of 1/n (reported by a06)
    assert A.quadrature_weight_sum("riemann_trapezoid", 10) == pytest.approx(0.9)
    assert A.quadrature_weight_sum("gausslegendre", 10) == pytest.approx(1.0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 4)).eval()
    baseline = torch.zeros(1, 3, 32, 32)
    attr, _ = A.integrated_gradients(model, x, 2, baseline, n_steps=10, method="riemann_trapezoid")
    check = A.completeness(model, x, baseline, 2, attr)
    np.testing.assert_allclose(check["rel_error"], 0.1, rtol=1e-4)


def test_our_completeness_check_agrees_with_captums_delta(cnn, x):
    baseline = torch.zeros(1, 3, 32, 32)
    target = torch.tensor([0, 1, 2])
    for output in A.OUTPUTS:
        errors = []
        for steps in (4, 32):
            attr, delta = A.integrated_gradients(
                cnn, x, target, baseline, output=output, n_steps=steps
            )
            check = A.completeness(cnn, x, baseline, target, attr, output=output)
            np.testing.assert_allclose(check["sum"] - check["diff"], delta.numpy(), atol=1e-5)
            errors.append(check["rel_error"].max())
        assert errors[1] < errors[0]  # more steps, smaller completeness error


def test_softmax_gradcam_is_the_contrastive_logit_gradcam(cnn, x):
    # d p_c / dA = p_c (d z_c / dA - sum_j p_j d z_j / dA), and Grad-CAM is linear in the gradient
    y = torch.tensor([0, 3, 4])
    soft = A.gradcam(cnn, cnn.cam_layer, x, y, output="softmax", relu=False).numpy()
    logit = A.gradcam(cnn, cnn.cam_layer, x, y, output="logit", relu=False).numpy()
    per_class = np.stack(
        [
            A.gradcam(cnn, cnn.cam_layer, x, torch.full_like(y, j), relu=False).numpy()
            for j in range(5)
        ],
        1,
    )
    with torch.no_grad():
        p = cnn(x).softmax(1).numpy()
    expected = p[np.arange(3), y.numpy()][:, None, None] * (
        logit - np.einsum("nk,nkhw->nhw", p, per_class)
    )
    np.testing.assert_allclose(soft, expected, atol=1e-6 * np.abs(soft).max())


def test_gradcam_is_upsampled_and_relu_is_non_negative(cnn, x):
    m = A.gradcam(cnn, cnn.cam_layer, x, 1)
    assert m.shape == (3, 32, 32) and (m >= 0).all()


def test_steps_needed_requires_staying_below():
    assert A.steps_needed([4, 8, 16, 32], [0.2, 0.005, 0.02, 0.001]) == 32
    assert A.steps_needed([4, 8], [0.2, 0.1]) is None


def test_region_metrics():
    a = np.zeros((10, 10))
    a[:2, :5] = 1.0  # 10 pixels, the top 10%
    assert A.topk_iou(a, a, 0.1) == 1.0
    b = np.roll(a, 5, axis=0)  # the same blob five rows down
    assert A.topk_iou(a, b, 0.1) == 0.0
    assert A.mass_shift(a, b) == pytest.approx(0.5)  # five rows of a 10-pixel image
    assert A.mass_inside(a, b, 0.1) == 0.0 and A.mass_inside(a, a, 0.1) == 1.0
    rng = np.random.default_rng(0)
    r = rng.random((10, 10))
    assert A.rank_correlation(r, 2 * r + 1) == pytest.approx(1.0)
    assert A.rank_correlation(r, -r) == pytest.approx(-1.0)
    assert np.isnan(A.rank_correlation(r, np.zeros_like(r)))
    assert A.topk_mask(r, 0.2).sum() == 20


@pytest.mark.parametrize("profile", ["smoke", "quick", "full"])
def test_a05_and_a06_attack_the_same_cached_classifier(profile):
    # a06 reuses a05's trained SmallCNN only if both compute the same artifact-cache key
    from nndl.classifiers import cache_key
    from nndl.config import resolve
    from nndl.studies import a05_fgsm, a06_attribution

    a05, a06 = resolve(a05_fgsm.Config, profile), resolve(a06_attribution.Config, profile)
    assert a05.model == a06.model
    assert cache_key(a05, seed=0) == cache_key(a06, seed=0)
    assert cache_key(a05, seed=0) != cache_key(a05, seed=1)
