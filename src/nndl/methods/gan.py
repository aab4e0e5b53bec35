"""GAN losses, the step functions that train GANs through the one loop, and the Fréchet distance.

Every discriminator returns a logit l, D = sigmoid(l). With softplus(a) = log(1 + e^a):

    D loss (both GANs)      -log D(x) - log(1 - D(G(z)))  = softplus(-l_real) + softplus(l_fake)
    G, minimax              log(1 - D(G(z)))               = -softplus(l_fake)
    G, non-saturating       -log D(G(z))                   = softplus(-l_fake)  (BCE, label "real")

d/dl of the minimax G loss is -D(G(z)): it vanishes when D confidently rejects the fakes (early in
training); the non-saturating loss has d/dl = -(1 - D(G(z))), largest exactly then. Same fixed
point, different gradients; `study a13` measures both.

The step functions have the `ModulesTrainable` signature `step(modules, optimizers, batch)`:
they update the discriminator(s), then the generator(s), and return the logs.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

G_LOSSES = ("nonsaturating", "minimax")


def d_loss(l_real: torch.Tensor, l_fake: torch.Tensor) -> torch.Tensor:
    """-mean[log D(x)] - mean[log(1 - D(G(z)))] on logits (BCE with labels 1 and 0)."""
    return F.softplus(-l_real).mean() + F.softplus(l_fake).mean()


def g_loss(l_fake: torch.Tensor, kind: str = "nonsaturating") -> torch.Tensor:
    """The generator's loss on D's logits for its samples: minimax or non-saturating."""
    if kind == "minimax":  # minimise log(1 - sigmoid(l)) = -softplus(l)
        return -F.softplus(l_fake).mean()
    if kind == "nonsaturating":  # minimise -log sigmoid(l) = softplus(-l) = BCE(l, "real")
        return F.softplus(-l_fake).mean()
    raise ValueError(f"Unknown generator loss '{kind}'; expected one of {G_LOSSES}.")


def grad_norm(module) -> float:
    """L2 norm of all parameter gradients of `module` (after a backward)."""
    sq = [p.grad.pow(2).sum() for p in module.parameters() if p.grad is not None]
    return float(torch.stack(sq).sum().sqrt()) if sq else 0.0


def to_tanh(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] images -> [-1, 1], the generator's tanh range."""
    return x * 2 - 1


def gan_step(modules, optimizers, batch, *, z_dim: int, loss: str = "nonsaturating",
             aux_weight: float = 0.0, num_classes: int = 2, aux_on_fakes: bool = True):  # fmt: skip
    """One DCGAN / conditional-GAN step: D on a real and a fake batch, then G on the same fakes.

    batch = (x,) or (x, c) with images in [0, 1] and, for a conditional GAN, class labels c. The
    fakes' labels are drawn uniformly from the `num_classes` classes, so G practises every class
    equally often however rare it is in the data. `aux_weight` > 0 adds the AC-GAN terms (Odena et
    al. 2017): D's auxiliary classifier learns c on the real batch, CE(C(x), c), and (with
    `aux_on_fakes`, as Odena et al.) the requested class on the fakes, CE(C(G(z, c')), c'); G is
    trained to make it find the requested class in the fakes. Measured on rendered faces (6
    epochs, long hair, a noise-robust judge): projection only, 50% long hair asked with / 58%
    asked without; + classifier on real images only, 84% / 55%; + on fakes too, 58% / 18%.
    """
    G, D = modules["G"], modules["D"]
    x = to_tanh(batch[0])
    c = batch[1] if len(batch) > 1 else None
    z = torch.randn(len(x), z_dim, device=x.device)
    c_fake = None if c is None else torch.randint(num_classes, (len(x),), device=x.device)
    fake = G(z, c_fake)
    aux = aux_weight > 0 and c is not None
    logs = {}
    # -- discriminator: maximise log D(x) + log(1 - D(G(z))); fakes detached from G
    if aux:
        (l_real, cls_real), (l_fake, cls_fake) = (D(x, c, with_class=True),
                                                   D(fake.detach(), c_fake, with_class=True))  # fmt: skip
        adv_d = d_loss(l_real, l_fake)
        ce = F.cross_entropy(cls_real, c)
        if aux_on_fakes:
            ce = ce + F.cross_entropy(cls_fake, c_fake)
        loss_d = adv_d + aux_weight * ce
        logs["aux_real_acc"] = (cls_real.argmax(1) == c).float().mean().detach()
    else:
        l_real, l_fake = D(x, c), D(fake.detach(), c_fake)
        loss_d = adv_d = d_loss(l_real, l_fake)
    optimizers["D"].zero_grad(set_to_none=True)
    loss_d.backward()
    d_norm = grad_norm(D)
    optimizers["D"].step()
    # -- generator: through the updated D
    if aux:
        l_gen, cls_gen = D(fake, c_fake, with_class=True)
        adv_g = g_loss(l_gen, loss)
        loss_g = adv_g + aux_weight * F.cross_entropy(cls_gen, c_fake)
        logs["aux_fake_acc"] = (cls_gen.argmax(1) == c_fake).float().mean().detach()
    else:
        l_gen = D(fake, c_fake)
        loss_g = adv_g = g_loss(l_gen, loss)
    optimizers["G"].zero_grad(set_to_none=True)
    loss_g.backward()
    g_norm = grad_norm(G)
    optimizers["G"].step()
    return {
        # tensors: the loop sums them on the device (float64, as Python adds the .item()s)
        "loss": loss_d.detach().double() + loss_g.detach().double(),
        "d_loss": adv_d.detach(),  # the adversarial parts (without the AC-GAN terms)
        "g_loss": adv_g.detach(),
        "d_real": torch.sigmoid(l_real).mean().detach(),  # D(x)
        "d_fake": torch.sigmoid(l_gen).mean().detach(),  # D(G(z)) after D's update
        "g_grad_norm": g_norm,
        "d_grad_norm": d_norm,
        **logs,
    }


def lsgan_loss(pred: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss (Mao et al. 2017), CycleGAN's choice: mean (pred - target)^2."""
    return (pred - (1.0 if real else 0.0)).pow(2).mean()


def cycle_step(modules, optimizers, batch, *, lambda_cycle: float, lambda_identity: float):
    """One CycleGAN step (Zhu et al. 2017) on unpaired batches a (faces), b (paintings) in [0, 1].

    G: a -> b and F: b -> a minimise the LSGAN losses against D_b and D_a, plus
    lambda_cycle (|F(G(a)) - a|_1 + |G(F(b)) - b|_1) and lambda_identity (|G(b) - b|_1 + |F(a) - a|_1);
    then each discriminator minimises (D(real) - 1)^2 + D(fake)^2 (halved, as in the paper), on
    fakes drawn through the image pools `pool_a`, `pool_b` when `modules` holds them.
    """
    G, Fb, Da, Db = modules["G"], modules["F"], modules["D_a"], modules["D_b"]
    a, b = to_tanh(batch[0]), to_tanh(batch[1])
    # -- generators
    fake_b, fake_a = G(a), Fb(b)
    adv = lsgan_loss(Db(fake_b), True) + lsgan_loss(Da(fake_a), True)
    cycle = (Fb(fake_b) - a).abs().mean() + (G(fake_a) - b).abs().mean()
    identity = (G(b) - b).abs().mean() + (Fb(a) - a).abs().mean()
    loss_g = adv + lambda_cycle * cycle + lambda_identity * identity
    optimizers["G"].zero_grad(set_to_none=True)
    loss_g.backward()
    g_norm = grad_norm(torch.nn.ModuleList([G, Fb]))
    optimizers["G"].step()
    # -- discriminators, on detached fakes (through the history pools when there are some)
    fake_b, fake_a = fake_b.detach(), fake_a.detach()
    if "pool_b" in modules:
        fake_b, fake_a = modules["pool_b"](fake_b), modules["pool_a"](fake_a)
    loss_d = 0.5 * (
        lsgan_loss(Db(b), True)
        + lsgan_loss(Db(fake_b), False)
        + lsgan_loss(Da(a), True)
        + lsgan_loss(Da(fake_a), False)
    )
    optimizers["D"].zero_grad(set_to_none=True)
    loss_d.backward()
    d_norm = grad_norm(torch.nn.ModuleList([Da, Db]))
    optimizers["D"].step()
    return {  # tensors, summed by the loop on the device
        "loss": loss_g.detach().double() + loss_d.detach().double(),
        "g_adv": adv.detach(),
        "cycle": cycle.detach(),
        "identity": identity.detach(),
        "d_loss": loss_d.detach(),
        "g_grad_norm": g_norm,  # G and F together
        "d_grad_norm": d_norm,  # D_a and D_b together
    }


# -- the score ------------------------------------------------------------------------------------


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased) of features (N, d), in float64."""
    f = np.asarray(features, np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)): the Fréchet (2-Wasserstein) distance between
    two Gaussians, FID's formula (Heusel et al. 2017) on whatever features it is given."""
    # Tr (S1 S2)^(1/2) = sum of sqrt(eigenvalues of S1^(1/2) S2 S1^(1/2)), a symmetric PSD
    # matrix: stable for the singular covariances of few samples (no complex square roots)
    w, v = np.linalg.eigh(sigma1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(root1 @ sigma2 @ root1)
    tr_covmean = np.sqrt(np.clip(inner, 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def feature_frechet(f1: np.ndarray, f2: np.ndarray) -> float:
    """Fréchet distance between the Gaussians fitted to two feature sets."""
    return frechet_distance(*gaussian_stats(f1), *gaussian_stats(f2))
