"""Failure-mode detectors for the three GANs (nndl.detectors), from their training histories.

Per GAN: the discriminator's BCE loss near 0 (it wins and G learns nothing), the generator's
gradient norm vanishing, and, for the DCGAN, sample diversity against held-out real faces (mode
collapse). CycleGAN's least-squares D loss has another scale: only its gradient is checked.
"""

from __future__ import annotations

import dataclasses

from nndl import detectors

LABELS = {"dcgan": "DCGAN", "cgan": "conditional GAN", "cycle": "CycleGAN"}


def _named(check: detectors.Check, label: str) -> detectors.Check:
    return dataclasses.replace(check, name=f"{label}: {check.name}")


def gan_checks(ctx, cfg, data, results: dict) -> None:
    for key, label in LABELS.items():
        r = results.get(key)
        if not isinstance(r, dict) or "history" not in r:
            continue
        h = r["history"]
        if key != "cycle" and "train_d_loss" in h.epochs[-1]:
            ctx.check(
                _named(detectors.discriminator_loss_near_zero(h.series("train_d_loss")), label)
            )
        if "train_g_grad_norm" in h.epochs[-1]:
            ctx.check(
                _named(detectors.generator_gradient_vanishing(h.series("train_g_grad_norm")), label)
            )
    if "G" in results.get("dcgan", {}):
        import torch

        from .data import tensors
        from .dcgan import generate

        n = min(64, len(data["test_x"]))
        z = torch.randn(n, cfg.z_dim, generator=torch.Generator().manual_seed(ctx.seed + 7))
        fake = generate(results["dcgan"]["G"], z)
        real = tensors(data["test_x"][:n])
        ctx.check(_named(detectors.diversity_collapse(fake.numpy(), real.numpy()), "DCGAN"))
