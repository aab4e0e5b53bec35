"""Grad-CAM and Integrated Gradients through Captum, and the numbers that compare their maps.

Attribution itself is Captum's (`LayerGradCam`, `IntegratedGradients`); written here are only
the choices around it (which output is explained: the logit or the softmax probability) and the
measurements:

- top-k% IoU: overlap of the k% most important pixels of two maps;
- rank correlation: Spearman's rho over all pixels;
- mass shift: how far the centre of the attribution mass moves (in image widths), and how much of
  one map's mass still lies in the other's top-k% region;
- completeness of IG: sum_i attr_i = F(x) - F(baseline), checked with our own forward passes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

OUTPUTS = ("logit", "softmax")


def output_fn(model, output: str) -> Callable:
    """The function attributed: the model's logits, or its softmax probabilities."""
    if output == "logit":
        return model
    if output == "softmax":
        return lambda x: model(x).softmax(dim=1)
    raise ValueError(f"output must be one of {OUTPUTS}, not {output!r}")


def gradcam(model, layer, x, target, *, output: str = "logit", relu: bool = True):
    """Grad-CAM of `target` at `layer`, upsampled to the input size: (B, H, W).

    Grad-CAM (Selvaraju et al., 2017) for the explained output y^c (the logit z_c, or the
    probability p_c when output="softmax") and the activations A^k (k = 1..K channels, (h, w)):

        alpha_k^c = 1/(h w) sum_ij  d y^c / d A^k_ij        (channel weight: mean gradient)
        L^c       = ReLU( sum_k alpha_k^c A^k )              (h, w) map

    Steps, as Captum's LayerGradCam takes them:
      1. forward x, keeping the activations A of `layer`;
      2. backward from y^c to get d y^c / d A;
      3. average the gradient over space: one weight per channel;
      4. weight the channels and sum them; the ReLU keeps positive evidence only;
      5. upsample the (h, w) map bilinearly to the input's (H, W) (here, not in Captum).

    relu=True is the original algorithm; relu=False keeps the sign (used to measure how much of
    the map is negative). L^c is linear in the gradient, which a06 uses to link the softmax map
    to the logit maps.
    """
    from captum.attr import LayerAttribution, LayerGradCam

    cam = LayerGradCam(output_fn(model, output), layer)
    attr = cam.attribute(x, target=target, relu_attributions=relu)  # (B, 1, h, w)
    up = LayerAttribution.interpolate(attr, tuple(x.shape[-2:]), interpolate_mode="bilinear")
    return up[:, 0].detach()


def integrated_gradients(
    model,
    x,
    target,
    baseline,
    *,
    output: str = "logit",
    n_steps: int = 64,
    method: str = "gausslegendre",
    internal_batch_size: int | None = None,
):
    """Captum's IG along the straight line baseline -> x: (attributions (B, C, H, W), delta (B,)).

    Integrated Gradients (Sundararajan et al., 2017) of the output F (the target's logit, or its
    probability when output="softmax") for input x and baseline x' (a black image in a06):

        IG_i(x) = (x_i - x'_i) * integral_0^1  dF(x' + a (x - x')) / dx_i  da
                ~ (x_i - x'_i) * sum_k w_k  dF(x' + a_k (x - x')) / dx_i

    with nodes a_k and weights w_k of the quadrature rule `method` (n_steps of them). The steps,
    numbered as in the keras-io example (less its preprocessing step: x is already normalised):
      1. interpolate: the n_steps images x' + a_k (x - x') along the straight path;
      2. compute the gradient of F with respect to each interpolated image (in batches of
         `internal_batch_size`);
      3. approximate the integral: the w_k-weighted sum of those gradients (keras-io uses the
         trapezoidal rule; Captum's default is Gauss-Legendre);
      4. scale by (x - x'): the attribution of every input element.
    Completeness: sum_i IG_i(x) = F(x) - F(x') when the integral is exact (see `completeness`).
    `delta` is Captum's convergence delta: sum(attributions) - (F(x) - F(baseline)).
    """
    from captum.attr import IntegratedGradients

    ig = IntegratedGradients(output_fn(model, output))
    attr, delta = ig.attribute(
        x,
        baselines=baseline,
        target=target,
        n_steps=n_steps,
        method=method,
        internal_batch_size=internal_batch_size,
        return_convergence_delta=True,
    )
    return attr.detach(), delta.detach()


def completeness(
    model, x, baseline, target, attr, *, output: str = "logit"
) -> dict[str, np.ndarray]:
    """IG's completeness axiom checked with our own forward passes, per example.

    sum_i attr_i should equal F(x) - F(baseline) for the attributed output F. Returns the sum, the
    output difference, and the relative error |sum - difference| / |difference|.
    """
    f = output_fn(model, output)
    target = torch.as_tensor(target, device=x.device).expand(len(x))
    with torch.no_grad():
        base = baseline.expand_as(x) if torch.is_tensor(baseline) else torch.full_like(x, baseline)
        diff = (f(x) - f(base)).gather(1, target[:, None]).squeeze(1)
    total = attr.flatten(1).sum(1)
    rel = (total - diff).abs() / diff.abs().clamp_min(1e-12)
    return {"sum": total.cpu().numpy(), "diff": diff.cpu().numpy(), "rel_error": rel.cpu().numpy()}


def quadrature_weight_sum(method: str, n_steps: int) -> float:
    """Sum of Captum's quadrature weights for `method` (1 for an exact rule on a constant)."""
    from captum.attr._utils.approximation_methods import approximation_parameters

    step_sizes, _ = approximation_parameters(method)
    return float(sum(step_sizes(n_steps)))


def steps_needed(steps: list[int], errors: list[float], tol: float = 0.01) -> int | None:
    """The smallest step count from which every larger one also has error < tol (None: never)."""
    ok = [e < tol for e in errors]
    for i, s in enumerate(steps):
        if all(ok[i:]):
            return s
    return None


def path_outputs(model, x, baseline, target, alphas) -> tuple[np.ndarray, np.ndarray]:
    """Target logit and probability along IG's path baseline + a (x - baseline).

    Returns two arrays of shape (B, len(alphas)).
    """
    target = torch.as_tensor(target, device=x.device).expand(len(x))
    logits, probs = [], []
    with torch.no_grad():
        for a in alphas:
            z = model(baseline + float(a) * (x - baseline))
            logits.append(z.gather(1, target[:, None]).squeeze(1))
            probs.append(z.softmax(1).gather(1, target[:, None]).squeeze(1))
    return torch.stack(logits, 1).cpu().numpy(), torch.stack(probs, 1).cpu().numpy()


# -- maps and region metrics -----------------------------------------------------------------


def pixel_map(attr) -> np.ndarray:
    """(B, C, H, W) input attributions -> (B, H, W) importance: |attr| summed over channels."""
    return attr.abs().sum(1).cpu().numpy()


def topk_mask(m: np.ndarray, frac: float) -> np.ndarray:
    """The `frac` most important pixels of a 2-D map (ties broken by position, so exactly k)."""
    k = max(1, int(round(frac * m.size)))
    idx = np.argsort(-m.ravel(), kind="stable")[:k]
    mask = np.zeros(m.size, bool)
    mask[idx] = True
    return mask.reshape(m.shape)


def topk_iou(a: np.ndarray, b: np.ndarray, frac: float) -> float:
    """IoU of the two top-`frac` regions; nan when a map is constant (no region to speak of,
    e.g. a Grad-CAM that the ReLU zeroed)."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    ma, mb = topk_mask(a, frac), topk_mask(b, frac)
    return float((ma & mb).sum() / (ma | mb).sum())


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho over all pixels (nan when a map is constant, e.g. an all-zero Grad-CAM)."""
    from scipy.stats import spearmanr

    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a.ravel(), b.ravel())[0])


def centre_of_mass(m: np.ndarray) -> np.ndarray:
    """(row, col) of the non-negative map's mass, in pixels."""
    w = np.clip(m, 0, None)
    total = w.sum()
    if total == 0:
        return np.array([np.nan, np.nan])
    rows, cols = np.indices(m.shape)
    return np.array([(rows * w).sum() / total, (cols * w).sum() / total])


def mass_shift(a: np.ndarray, b: np.ndarray) -> float:
    """Distance between the centres of mass of two maps, in image widths."""
    return float(np.linalg.norm(centre_of_mass(a) - centre_of_mass(b)) / max(a.shape))


def mass_inside(region_of: np.ndarray, m: np.ndarray, frac: float) -> float:
    """Share of map `m`'s (non-negative) mass inside the top-`frac` region of `region_of`."""
    w = np.clip(m, 0, None)
    total = w.sum()
    return float(w[topk_mask(region_of, frac)].sum() / total) if total > 0 else float("nan")


def compare_maps(a: np.ndarray, b: np.ndarray, frac: float) -> dict[str, float]:
    """Every region measure between a reference map `a` (clean) and `b` (adversarial)."""
    return {
        "iou": topk_iou(a, b, frac),
        "rank_corr": rank_correlation(a, b),
        "com_shift": mass_shift(a, b),
        "mass_in_ref_topk": mass_inside(a, b, frac),
        "ref_mass_in_ref_topk": mass_inside(a, a, frac),
    }
