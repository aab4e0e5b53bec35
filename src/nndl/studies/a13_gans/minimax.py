"""a13's theory question: why the generator is trained with BCE on "real" labels (non-saturating)
rather than by minimising log(1 - D(G(z))) (minimax). The derivation, then the experiment."""

from __future__ import annotations

import copy

import numpy as np
import torch

from nndl.studies.a13_gans import figures
from nndl.studies.a13_gans.data import tensors


def derivation(rep) -> None:
    rep.text(
        "Goodfellow et al. (2014) define the game V(D, G) below; D maximises it, G minimises it, "
        "and only the second term depends on G. Write the discriminator's output through its "
        "logit l, D = sigma(l), and differentiate each generator loss with respect to l (the "
        "rest of the chain rule, dl/dtheta_G through D and G, is shared by both losses):"
    )
    rep.math(
        r"\min_G \max_D V(D,G) = \mathbb{E}_{x\sim p_{data}}[\log D(x)] + "
        r"\mathbb{E}_{z\sim p_z}[\log(1 - D(G(z)))],\qquad D = \sigma(l)",
        "The minimax game:",
    )
    rep.math(
        r"L_{mm} = \log\big(1 - \sigma(l)\big) = -\log(1 + e^{l}),\qquad "
        r"\frac{\partial L_{mm}}{\partial l} = -\sigma(l) = -D(G(z))",
        "Minimax generator loss (minimised by G):",
    )
    rep.math(
        r"L_{ns} = -\log \sigma(l) = \mathrm{BCE}(D(G(z)), 1),\qquad "
        r"\frac{\partial L_{ns}}{\partial l} = -\big(1 - \sigma(l)\big) = -\big(1 - D(G(z))\big)",
        "Non-saturating generator loss, i.e. BCE with the label 'real':",
    )
    rep.math(
        r"\nabla_{\theta_G} L = \frac{\partial L}{\partial l}\,\frac{\partial l}{\partial \theta_G}"
        r"\;\Rightarrow\;\frac{\lVert\nabla_{\theta_G} L_{ns}\rVert}{\lVert\nabla_{\theta_G} "
        r"L_{mm}\rVert} = \frac{1 - D(G(z))}{D(G(z))}\ \text{(per sample)}",
        "Both gradients point the same way (both losses fall as D(G(z)) rises); only the scale "
        "differs:",
    )
    rep.text(
        "Early in training the generator's samples are poor and D rejects them confidently: "
        "D(G(z)) -> 0. There the minimax gradient vanishes with D(G(z)) (the loss saturates: "
        "log(1 - D) is flat near D = 0), exactly when G most needs a signal, while the "
        "non-saturating loss gives its largest gradient, -(1 - D) -> -1. Both losses have the same "
        "fixed point (p_g = p_data, D = 1/2), which is why the swap is a heuristic that keeps the "
        "game's solution: 'G maximises log D(G(z))' instead of 'G minimises log(1 - D(G(z)))'. The "
        "price: the non-saturating loss no longer minimises the Jensen-Shannon divergence; with an "
        "optimal D it minimises KL(p_g || p_data) - 2 JSD (Arjovsky & Bottou 2017), which favours "
        "dropping modes over covering them. In code, BCE against the label 1 for the fakes is "
        "the non-saturating loss, which is why implementations write it that way."
    )


def _grad_norms(G, D, z: torch.Tensor) -> tuple[float, float, float]:
    """(mean D(G(z)), |grad_theta_G L_ns|, |grad_theta_G L_mm|) on one batch; G, D unchanged."""
    from nndl.methods.gan import g_loss, grad_norm

    out = []
    for kind in ("nonsaturating", "minimax"):
        G.zero_grad(set_to_none=True)
        logits = D(G(z))
        g_loss(logits, kind).backward()
        out.append(grad_norm(G))
    G.zero_grad(set_to_none=True)
    D.zero_grad(set_to_none=True)
    return float(torch.sigmoid(logits.detach()).mean()), out[0], out[1]


def head_start(ctx, cfg, G, D, x_train: torch.Tensor) -> list[dict]:
    """Train D alone against the frozen initial G; after each step, both generator gradients.

    Measured as training sees them: both in train mode (batch statistics in batch norm). G's
    running statistics, which that updates, are restored at the end; D never runs in eval mode.
    """
    from nndl.methods.gan import d_loss, to_tanh

    opt = torch.optim.Adam(D.parameters(), cfg.lr, betas=(cfg.beta1, 0.999))
    g = torch.Generator().manual_seed(ctx.seed + 11)
    z_eval = torch.randn(256, cfg.z_dim, generator=g)
    G_state = copy.deepcopy(G.state_dict())
    rows = []
    for step in range(cfg.sat_head_start + 1):
        G.train(), D.train()
        d, ns, mm = _grad_norms(G, D, z_eval)
        rows.append({"step": step, "d_fake": d, "grad_ns": ns, "grad_mm": mm})
        if step == cfg.sat_head_start:
            break
        idx = torch.randint(len(x_train), (cfg.batch_size,), generator=g)
        with torch.no_grad():
            fake = G(torch.randn(cfg.batch_size, cfg.z_dim, generator=g))
        loss = d_loss(D(to_tanh(x_train[idx])), D(fake))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    G.load_state_dict(G_state)  # G's batch-norm statistics back to the untrained state
    return rows


def minimax_section(ctx, cfg, data, judge, dcgan: dict) -> dict:
    from nndl.models.gans import build_gan
    from nndl.studies.a13_gans.dcgan import _fixed_noise, train_gan
    from nndl.train import ArrayData

    rep = ctx.report
    rep.section("Why BCE on 'real' labels instead of the minimax loss")
    derivation(rep)
    torch.manual_seed(ctx.seed + 1)
    G, D = build_gan("dcgan", z_dim=cfg.z_dim, width=cfg.width, image_size=cfg.image_size)
    x_train = tensors(data["train_x"])
    with ctx.timer("sat_head_start_s"):
        rows = head_start(ctx, cfg, G, D, x_train)
    start, first = rows[-1], rows[0]
    ratio = start["grad_ns"] / max(start["grad_mm"], 1e-30)
    rep.text(
        f"Experiment 1, the gradient: a fresh DCGAN generator is frozen and its discriminator "
        f"trained alone for {cfg.sat_head_start} steps, so that it learns to reject the fakes, as "
        f"it does early in every GAN training. Before each step, the norm of the generator's "
        f"parameter gradient is measured for both losses on the same 256 noise vectors."
    )
    rep.table(
        [{"D steps": r["step"], "mean D(G(z))": r["d_fake"], "|grad| non-saturating (BCE)":
          r["grad_ns"], "|grad| minimax": r["grad_mm"], "ratio ns / mm":
          r["grad_ns"] / max(r["grad_mm"], 1e-30)}
         for r in rows if r["step"] in _table_steps(cfg.sat_head_start)],
        "saturation_gradient",
        "Generator gradient norms as D learns to reject the untrained generator's samples",
    )  # fmt: skip
    rep.figure(figures.saturation(rows), "saturation_gradient",
               "Left: |grad_theta_G| of both losses against the mean D(G(z)) of the batch, as D "
               "learns; dashed: the per-sample factors 1 - D and D of d/dl, scaled to meet the "
               "curves at the start. Right: the same against D's training steps")  # fmt: skip
    # -- experiment 2: the DCGAN above (non-saturating) against the same start with minimax
    torch.manual_seed(ctx.seed)  # the DCGAN's initial weights, noise and batches
    G, D = build_gan("dcgan", z_dim=cfg.z_dim, width=cfg.width, image_size=cfg.image_size)
    snap_z = _fixed_noise(cfg, 10, ctx.seed + 3)
    mm_run = train_gan(ctx, cfg, "dcgan_minimax", G, D, ArrayData(x_train), judge, loss="minimax",
                       num_epochs=cfg.sat_num_epochs, snap_z=snap_z)  # fmt: skip
    k = cfg.sat_num_epochs
    h = dcgan["history"]
    ns_run = {"history": type(h)(h.epochs[:k], h.epoch_seconds[:k]), "fd_init": dcgan["fd_init"],
              "fd": dcgan["fd_curve"][k], "fd_curve": {e: v for e, v in dcgan["fd_curve"].items()
                                                       if e <= k}}  # fmt: skip
    runs = {"nonsaturating": ns_run, "minimax": mm_run}
    ns, mm = runs["nonsaturating"], runs["minimax"]
    rep.text(
        f"Experiment 2, the training: the DCGAN above is retrained from the same initial weights "
        f"with the same noise, batches and optimiser for {k} epochs, the generator minimising "
        f"log(1 - D(G(z))) instead; its non-saturating counterpart is the DCGAN's own first {k} "
        f"epochs (identical up to the loss, so not trained twice)."
    )
    last = {k: r["history"].epochs[-1] for k, r in runs.items()}
    rep.table(
        [{"generator loss": k, "mean D(G(z)), first epoch": r["history"].epochs[0]["train_d_fake"],
          "mean |grad G|, first epoch": r["history"].epochs[0]["train_g_grad_norm"],
          "mean D(G(z)), last epoch": last[k]["train_d_fake"],
          "mean |grad G|, last epoch": last[k]["train_g_grad_norm"],
          "FD at start": r["fd_init"], "FD at end": r["fd"]} for k, r in runs.items()],
        "saturation_training",
        f"The two short trainings (FD floor with real images: {judge.floor:.3f})",
    )  # fmt: skip
    rep.figure(figures.saturation_training(runs), "saturation_training",
               "The two trainings per epoch: mean D(G(z)) after D's update, the generator's "
               "gradient norm, and the FD")  # fmt: skip
    if k in dcgan["snapshots"] and k in mm["snapshots"]:  # (a resumed run may lack them)
        rep.figure(figures.two_rows({"non-saturating": dcgan["snapshots"][k],
                                     "minimax": mm["snapshots"][k]}), "saturation_samples",
                   f"Samples of both generators after {k} epochs, from the same noise")  # fmt: skip
    out = {"d_start": start["d_fake"], "d_first": first["d_fake"], "grad_ns": start["grad_ns"],
           "grad_mm": start["grad_mm"], "ratio": ratio, "fd_ns": ns["fd"], "fd_mm": mm["fd"],
           "d_end_ns": last["nonsaturating"]["train_d_fake"],
           "d_end_mm": last["minimax"]["train_d_fake"]}  # fmt: skip
    ctx.metrics.update({f"sat_{k}": v for k, v in out.items()})
    ctx.metrics["sat_grad_ratio"] = ratio
    return out


def _table_steps(n: int) -> set[int]:
    return {0, n} | {int(s) for s in np.geomspace(1, max(n, 1), 6).round()}
