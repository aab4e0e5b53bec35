"""FGSM against its definition: the input gradient's sign, L-inf norm exactly eps, valid range."""

import pytest
import torch
from torch import nn

from nndl.methods.fgsm import clamp, fgsm, input_gradient, matched_gaussian_noise
from nndl.studies.a05_fgsm import noise_factors, size_for_success


@pytest.fixture
def model():
    torch.manual_seed(0)
    return (
        nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 5)
        )
        .double()
        .eval()
    )


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    pixels = 0.2 + 0.6 * torch.rand(
        6, 3, 8, 8, generator=g, dtype=torch.float64
    )  # away from 0 and 1
    return pixels, torch.tensor([0, 1, 2, 3, 4, 0])


MEAN = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).view(1, 3, 1, 1)


def test_untargeted_step_is_eps_times_gradient_sign(model, batch):
    x, y = batch
    eps = 4 / 255
    grad = input_gradient(model, x, y)
    x_adv = fgsm(model, x, y, eps)
    assert torch.allclose(x_adv - x, eps * grad.sign(), atol=1e-12)
    assert (x_adv - x).abs().amax().item() == pytest.approx(eps, abs=1e-12)  # L-inf exactly eps
    # against autograd of the mean loss: same direction
    xr = x.clone().requires_grad_(True)
    nn.functional.cross_entropy(model(xr), y).backward()
    assert torch.equal(xr.grad.sign(), grad.sign())


def test_targeted_step_descends_the_target_loss(model, batch):
    x, _ = batch
    t = torch.full((len(x),), 2)
    eps = 1e-3
    x_t = fgsm(model, x, t, eps, targeted=True)
    assert torch.allclose(x_t - x, -eps * input_gradient(model, x, t).sign(), atol=1e-12)
    ce = nn.functional.cross_entropy
    loss_before = ce(model(x), t, reduction="none")
    loss_after = ce(model(x_t), t, reduction="none")
    assert (loss_after < loss_before).all()  # a small step along -sign(grad) lowers every loss


def test_untargeted_step_raises_the_true_class_loss(model, batch):
    x, y = batch
    ce = nn.functional.cross_entropy
    x_adv = fgsm(model, x, y, 1e-3)
    assert (ce(model(x_adv), y, reduction="none") > ce(model(x), y, reduction="none")).all()


def test_normalised_input_space_eps_in_pixels_and_clamped(model, batch):
    pixels, y = batch
    pixels = pixels.clone()
    pixels[:, :, 0, 0] = 0.0  # black and white pixels: the clamp must bite there
    pixels[:, :, 0, 1] = 1.0
    x = (pixels - MEAN) / STD
    lo, hi = (0 - MEAN) / STD, (1 - MEAN) / STD
    eps = 8 / 255
    x_adv = fgsm(model, x, y, eps, lo=lo, hi=hi, pixel_scale=1 / STD)
    adv_pixels = x_adv * STD + MEAN
    delta = adv_pixels - pixels
    assert adv_pixels.min() >= -1e-12 and adv_pixels.max() <= 1 + 1e-12  # valid image
    assert delta.abs().amax().item() == pytest.approx(eps, abs=1e-9)  # in pixel units
    inside = (pixels > eps) & (pixels < 1 - eps)
    grad = input_gradient(model, x, y)
    assert torch.allclose(delta[inside], (eps * grad.sign())[inside], atol=1e-9)
    assert torch.all(delta[~inside].abs() <= eps + 1e-9)


def test_clamp_per_channel():
    x = torch.tensor([[-5.0, 0.5, 5.0]]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    out = clamp(
        x,
        torch.tensor([0.0, 0.0, 0.0]).view(1, 3, 1, 1),
        torch.tensor([1.0, 0.4, 2.0]).view(1, 3, 1, 1),
    )
    assert out[0, :, 0, 0].tolist() == pytest.approx([0.0, 0.4, 2.0])


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_matched_noise_has_the_perturbation_norm(norm):
    g = torch.Generator().manual_seed(0)
    delta = torch.randn(4, 3, 8, 8, generator=g) * torch.tensor([1, 2, 3, 4.0]).view(4, 1, 1, 1)
    noise = matched_gaussian_noise(delta, norm, 5, g)
    assert noise.shape == (5, 4, 3, 8, 8)
    if norm == "linf":
        want, got = delta.abs().amax((1, 2, 3)), noise.abs().amax((2, 3, 4))
    else:
        want, got = delta.flatten(1).norm(dim=1), noise.flatten(2).norm(dim=2)
    assert torch.allclose(got, want.expand(5, 4))
    assert not torch.allclose(noise[0], noise[1])  # independent draws


def test_size_for_success_interpolates_on_a_log_scale():
    sizes, success = [1.0, 2.0, 4.0, 8.0], [0.0, 0.2, 0.6, 0.9]
    size, how = size_for_success(sizes, success, 0.4)
    assert how == "=" and size == pytest.approx(2 * 2**0.5)  # halfway between 2 and 4 in log
    assert size_for_success(sizes, success, 0.95) == (8.0, ">")  # a lower bound
    assert size_for_success(sizes, [0.5, 0.6, 0.7, 0.8], 0.25) == (1.0, "<=")


def test_noise_factor_is_the_ratio_of_sizes_at_equal_success():
    rows = [
        {
            "fgsm L2": s,
            "fgsm Linf": s / 10,
            "fgsm success": f,
            "l2 noise L2": s,
            "l2 noise success": n,
            "linf noise Linf": s / 10,
            "linf noise success": 0.0,
        }
        for s, f, n in (
            (1.0, 0.1, 0.0),
            (2.0, 0.6, 0.1),
            (4.0, 0.9, 0.2),
            (8.0, 0.95, 0.6),
            (16.0, 0.95, 0.9),
        )
    ]
    f = noise_factors(rows, shares=(0.5,))[0]
    # FGSM reaches 0.5 between 1 and 2 (80% of the way), noise between 4 and 8 (75%)
    assert f["fgsm_l2"] == (pytest.approx(2**0.8), "=")
    assert f["noise_l2"] == (pytest.approx(4 * 2**0.75), "=")
    assert f["factor_l2"] == pytest.approx(4 * 2**0.75 / 2**0.8)
    # matched-L-inf noise never flips any: only a lower bound, largest noise / FGSM's size
    assert f["noise_linf"] == (1.6, ">")
    assert f["factor_linf"] == pytest.approx(1.6 / (2**0.8 / 10))
    assert f["factor_linf_bound"] == ">"
