"""The fast gradient sign method (Goodfellow et al., 2015), written by hand.

One step along the sign of the input gradient of the loss:

    untargeted:  x' = clip(x + eps * sign(grad_x L(f(x), y)))   # away from the true class y
    targeted:    x' = clip(x - eps * sign(grad_x L(f(x), t)))   # towards the target class t

`x` lives in the model's input space (after normalisation: x = (pixels - mean) / std). `eps` is
measured in pixel units (a fraction of the [0, 1] range, e.g. 4/255), so one step moves every
pixel by exactly eps: in input space that is eps / std per channel (`pixel_scale` = 1 / std).
The clamp keeps the adversarial image a valid image: in input space [(0 - mean)/std, (1 - mean)/std]
per channel (`lo`, `hi`).

Gaussian noise of the same L-infinity or L2 norm as each FGSM perturbation (the "can noise do the
same?" control) is here too, so that both perturbations are made and clamped the same way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def input_gradient(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d CE(model(x), y) / dx, per example (the loss is summed so no 1/B scaling): (B, C, H, W)."""
    x = x.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def fgsm(
    model,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    targeted: bool = False,
    lo: torch.Tensor | float = 0.0,
    hi: torch.Tensor | float = 1.0,
    pixel_scale: torch.Tensor | float = 1.0,
) -> torch.Tensor:
    """The FGSM adversarial twin of `x` (B, C, H, W) in the model's input space.

    `y` holds the true labels (untargeted) or the target classes (targeted). `lo`/`hi` are the
    valid input range and `pixel_scale` the input-space size of one pixel unit, each a float or a
    tensor broadcastable to `x` (per channel: (1, C, 1, 1)).
    """
    grad = input_gradient(model, x, y)
    direction = -grad.sign() if targeted else grad.sign()  # descend towards t / ascend from y
    x_adv = x.detach() + eps * pixel_scale * direction
    return clamp(x_adv, lo, hi)


def pgd(
    model,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    steps: int = 5,
    lo: torch.Tensor | float = 0.0,
    hi: torch.Tensor | float = 1.0,
    pixel_scale: torch.Tensor | float = 1.0,
) -> torch.Tensor:
    """Projected gradient descent (Madry et al. 2018; iterated FGSM, Kurakin et al. 2017):
    `steps` sign steps of 2.5 eps / steps, each followed by projection onto the L-inf ball of
    radius eps around `x` and onto the valid range. Starts at x (no random start), so its first
    step points where FGSM's does: on an honest gradient it is at least as strong as FGSM."""
    radius = eps * torch.as_tensor(pixel_scale, dtype=x.dtype, device=x.device)
    step = 2.5 / steps
    x0 = x.detach()
    x_adv = x0.clone()
    for _ in range(steps):
        x_adv = x_adv + step * radius * input_gradient(model, x_adv, y).sign()
        x_adv = clamp(torch.maximum(torch.minimum(x_adv, x0 + radius), x0 - radius), lo, hi)
    return x_adv


def clamp(x: torch.Tensor, lo, hi) -> torch.Tensor:
    """Clip to [lo, hi]; lo and hi may be per-channel tensors."""
    lo = torch.as_tensor(lo, dtype=x.dtype, device=x.device)
    hi = torch.as_tensor(hi, dtype=x.dtype, device=x.device)
    return torch.maximum(torch.minimum(x, hi), lo)


def matched_gaussian_noise(
    delta: torch.Tensor, norm: str, num_draws: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """`num_draws` Gaussian perturbations per example with the norm of `delta` (B, C, H, W).

    norm="linf": each draw is rescaled so max|n| equals max|delta| of its example;
    norm="l2": so that ||n||_2 equals ||delta||_2. Returns (num_draws, B, C, H, W), in the units
    of `delta` (pixel units in a05).
    """
    noise = torch.randn((num_draws, *delta.shape), generator=generator, dtype=delta.dtype)
    noise = noise.to(delta.device)
    dims = tuple(range(2, noise.dim()))  # per draw and example
    if norm == "linf":
        target = delta.abs().amax(dim=tuple(range(1, delta.dim())))  # (B,)
        current = noise.abs().amax(dim=dims)  # (draws, B)
    elif norm == "l2":
        target = delta.flatten(1).norm(dim=1)
        current = noise.flatten(2).norm(dim=2)
    else:
        raise ValueError(f"norm must be 'linf' or 'l2', not {norm!r}")
    scale = target[None] / current.clamp_min(1e-12)  # (draws, B)
    return noise * scale.view(*scale.shape, *([1] * (noise.dim() - 2)))
