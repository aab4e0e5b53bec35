"""a13's DCGAN and conditional GAN sections, the judge classifier and the shared GAN training."""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
import torch.nn.functional as F

from nndl.studies.a13_gans import figures
from nndl.studies.a13_gans.data import tensors

# == the judge: an attribute classifier trained on real images ====================================


def degrade(x: torch.Tensor, noise: float = 0.0, blur: bool = False, seed: int = 0):
    """Images in [0, 1], blurred (2x2 average, bilinear back up) and/or with Gaussian noise
    (drawn from its own seeded generator: the training's random stream is left alone)."""
    if blur:
        x = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="bilinear")
    if not noise:
        return x
    eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
    return (x + noise * eps.to(x.device)).clamp(0, 1)


def augment(x: torch.Tensor) -> torch.Tensor:
    """The judge's training augmentation: Gaussian noise of sigma ~ U(0, 0.1) on half the batch.
    Generated images are noisier than real ones; a judge trained on clean images only called
    97% of short-haired real faces long-haired once noise of sigma 0.1 was added (measured), so
    it scored artefacts, not hair. (Adding blurred copies as well cut its clean accuracy on
    long hair to 0.55-0.77 after 4 epochs; noise alone keeps 0.97.)"""
    sigma = (torch.rand(len(x), 1, 1, 1, device=x.device) < 0.5) * 0.1
    sigma = sigma * torch.rand(len(x), 1, 1, 1, device=x.device)
    return (x + sigma * torch.randn_like(x)).clamp(0, 1)


def multilabel_step(model, batch, *, train_augment: bool = True):
    """Binary cross-entropy on every attribute at once; logs the mean per-attribute accuracy."""
    x, y = batch
    if train_augment and model.training:
        x = augment(x)
    logits = model(x)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y.float())
    acc = ((logits > 0) == y.bool()).float().mean()
    return loss, {"loss": loss.item(), "acc": acc.item()}


class Judge:
    """A SmallCNN trained on real images to predict every attribute; its pooled features (before
    the head) are the space the Fréchet distance is measured in."""

    def __init__(self, model, device: str):
        self.model, self.device = model.eval(), device

    @torch.no_grad()
    def run(self, x: torch.Tensor, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
        """(features (N, d), attribute probabilities (N, K)) of images in [0, 1]."""
        feats, probs = [], []
        for i in range(0, len(x), batch_size):
            f = self.model.forward_head(
                self.model.forward_features(x[i : i + batch_size].to(self.device)), pre_logits=True
            )
            feats.append(f.cpu())
            probs.append(torch.sigmoid(self.model.head(f)).cpu())
        return torch.cat(feats).double().numpy(), torch.cat(probs).numpy()


def train_judge(ctx, cfg, data) -> Judge:
    from nndl.models.small_cnn import SmallCNN
    from nndl.train import ArrayData, TorchTrainable, fit

    names = data["attribute_names"]
    torch.manual_seed(ctx.seed)
    model = SmallCNN(len(names), cfg.judge_width)
    x, y = tensors(data["train_x"]), torch.from_numpy(data["train_attr"])
    trainable = TorchTrainable(
        model, torch.optim.Adam(model.parameters(), 3e-3), multilabel_step, device=ctx.device
    )
    history = fit(trainable, ArrayData(x, y), None, name="judge", num_epochs=cfg.judge_num_epochs,
                  batch_size=64, seed=ctx.seed, checkpoint_dir=ctx.checkpoint_dir,
                  resume=ctx.resume)  # fmt: skip
    ctx.timings["judge_epoch_s"] = history.epoch_seconds
    judge = Judge(model, ctx.device)
    test_x = tensors(data["test_x"])
    feats, probs = judge.run(test_x)
    acc = ((probs > 0.5) == data["test_attr"].astype(bool)).mean(0)
    judge.test_feats = feats
    judge.acc = dict(zip(names, acc.tolist(), strict=True))
    # does the judge still see the attribute in degraded real images (GAN samples are degraded)?
    k, y_k = data["attribute"], data["test_attr"][:, data["attribute"]].astype(bool)
    robust = []
    for label, kw in (("clean", {}), ("noise sigma 0.1", {"noise": 0.1}),
                      ("blurred", {"blur": True}),
                      ("blurred + noise 0.1", {"noise": 0.1, "blur": True})):  # fmt: skip
        said = judge.run(degrade(test_x, seed=ctx.seed + 9, **kw))[1][:, k] > 0.5
        robust.append({"real held-out images": label, "accuracy": float((said == y_k).mean()),
                       "judged to have it, among those with it": float(said[y_k].mean()),
                       "judged to have it, among those without": float(said[~y_k].mean())})  # fmt: skip
    judge.robust = robust
    ctx.metrics["judge_attr_acc_degraded"] = [r["accuracy"] for r in robust]
    # the floor of the score: as many real training images as generated ones, against the test set
    pick = np.random.default_rng([ctx.seed, 31]).permutation(len(data["train_x"]))[: cfg.num_score]
    judge.floor = _fd(judge.run(tensors(data["train_x"][pick]))[0], feats)
    ctx.metrics["fd_real_floor"] = judge.floor
    ctx.metrics.update({f"judge_acc_{k}": v for k, v in judge.acc.items()})
    rep = ctx.report
    rep.section("The score: a judge trained on real faces")
    rep.text(
        f"Every GAN below is scored by one network trained in this run on real {data['label']}: a "
        f"SmallCNN (width {cfg.judge_width}, {cfg.judge_num_epochs} epochs of Adam) that predicts "
        f"all {len(names)} attributes at once (binary cross-entropy per attribute). Two numbers "
        f"come from it. The Fréchet distance (FD) between Gaussians fitted to its "
        f"{feats.shape[1]}-dimensional pooled features of {cfg.num_score} generated images and of "
        f"{len(feats)} held-out real images, FID's formula in this judge's features rather than "
        f"Inception's (so the numbers are not comparable with published FIDs; Inception weights "
        f"are not at hand offline). And, for the conditional GAN, the share of samples in which "
        f"the judge finds the requested attribute."
    )
    rep.math(
        r"\mathrm{FD} = \lVert \mu_r - \mu_g \rVert^2 + "
        r"\mathrm{Tr}\big(\Sigma_r + \Sigma_g - 2 (\Sigma_r \Sigma_g)^{1/2}\big)",
        "Fréchet distance between N(mu_r, Sigma_r) (real) and N(mu_g, Sigma_g) (generated):",
    )
    rep.table(
        [{"attribute": k, "test accuracy": v, "share of test images with it":
          float(data["test_attr"][:, i].mean())} for i, (k, v) in enumerate(judge.acc.items())],
        "judge",
        f"The judge on {len(feats)} held-out real images (decision threshold 0.5); FD between "
        f"{cfg.num_score} real training images and the held-out set (the floor a perfect "
        f"generator would reach with this many samples): {judge.floor:.3f}",
    )  # fmt: skip
    attr = names[k]
    rep.text(
        f"Generated images are blurrier and noisier than real ones, so the judge is trained with "
        f"augmentation (Gaussian noise of sigma up to 0.1 on half of each batch). Trained on "
        f"clean images only, it had called most short-haired real faces long-haired once noise "
        f"was added (found while building this study, not measured in this run): it scored the "
        f"GANs' artefacts, not the hair. "
        f"Its verdict on '{attr}' for degraded real images:"
    )
    rep.table(robust, "judge_robustness",
              f"The judge's '{attr}' verdict on the {len(y_k)} held-out real images, degraded")  # fmt: skip
    return judge


def _fd(f1, f2) -> float:
    from nndl.methods.gan import feature_frechet

    return feature_frechet(f1, f2)


# == training one GAN through the loop ============================================================


@torch.no_grad()
def generate(G, z: torch.Tensor, c: torch.Tensor | None = None, batch_size: int = 500):
    """Images in [0, 1] from fixed noise (eval mode: batch norm uses its running statistics)."""
    G.eval()
    device = next(G.parameters()).device
    out = [
        G(z[i : i + batch_size].to(device), None if c is None else c[i : i + batch_size].to(device))
        for i in range(0, len(z), batch_size)
    ]
    return ((torch.cat(out).cpu() + 1) / 2).clamp(0, 1)


def train_gan(ctx, cfg, name: str, G, D, train, judge, *, loss="nonsaturating", num_epochs,
              score_c=None, snap_z, snap_c=None, optimizers=None, also_keep=(),
              aux_weight=0.0) -> dict:  # fmt: skip
    """Train (G, D) with `gan_step` for `num_epochs`; FD after every epoch, snapshots of `snap_z`.

    Scoring and snapshots use fixed noise drawn once from their own generator, so they consume
    nothing of the training's random stream and a resumed run matches an uninterrupted one.
    """
    from nndl.methods.gan import gan_step
    from nndl.train import ModulesTrainable, fit

    if optimizers is None:
        optimizers = {k: torch.optim.Adam(m.parameters(), cfg.lr, betas=(cfg.beta1, 0.999))
                      for k, m in (("G", G), ("D", D))}  # fmt: skip
    score_z = torch.randn(
        cfg.num_score, cfg.z_dim, generator=torch.Generator().manual_seed(ctx.seed + 5)
    )
    step = partial(gan_step, z_dim=cfg.z_dim, loss=loss, aux_weight=aux_weight)
    trainable = ModulesTrainable({"G": G, "D": D}, optimizers, step, device=ctx.device)
    keep = set(np.linspace(1, num_epochs, min(cfg.num_snapshots, num_epochs)).round().astype(int))
    keep |= {e for e in also_keep if e <= num_epochs}
    snapshots: dict[int, torch.Tensor] = {0: generate(G, snap_z, snap_c)}
    fd = {0: _fd(judge.run(generate(G, score_z, score_c))[0], judge.test_feats)}

    def on_epoch_end(epoch: int, record: dict) -> dict:  # kept in the checkpoints
        out = {"fd": _fd(judge.run(generate(G, score_z, score_c))[0], judge.test_feats)}
        if epoch in keep:
            out["snapshot"] = generate(G, snap_z, snap_c)
        return out

    history = fit(trainable, train, None, name=name, num_epochs=num_epochs,
                  batch_size=cfg.batch_size, seed=ctx.seed, checkpoint_dir=ctx.checkpoint_dir,
                  resume=ctx.resume, on_epoch_end=on_epoch_end)  # fmt: skip
    ctx.timings[f"{name}_epoch_s"] = history.epoch_seconds
    for epoch, extra in enumerate(history.extras, 1):
        fd[epoch] = extra["fd"]
        if "snapshot" in extra:
            snapshots[epoch] = extra["snapshot"]
    # per-epoch means of the training signals (what GAN failure checks read)
    ctx.metrics[f"{name}_curves"] = curves(history, GAN_SIGNALS)
    return {"history": history, "fd_curve": fd, "fd": fd[num_epochs], "fd_init": fd[0],
            "snapshots": snapshots, "score_z": score_z}  # fmt: skip


GAN_SIGNALS = ("d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm")


def curves(history, keys) -> dict:
    """{key: [per-epoch training mean]} of the logged signals present in `history`."""
    first = history.epochs[0] if history.epochs else {}
    return {k: history.series(f"train_{k}") for k in keys if f"train_{k}" in first}


def _fixed_noise(cfg, n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, cfg.z_dim, generator=torch.Generator().manual_seed(seed))


# == DCGAN ========================================================================================


def dcgan_section(ctx, cfg, data, judge) -> dict:
    from nndl import bench
    from nndl.models.gans import build_gan
    from nndl.train import ArrayData

    rep = ctx.report
    rep.section("DCGAN")
    torch.manual_seed(ctx.seed)
    G, D = build_gan("dcgan", z_dim=cfg.z_dim, width=cfg.width, image_size=cfg.image_size)
    rep.text(
        f"Radford et al.'s architecture at {cfg.image_size} px: the generator maps z ~ N(0, I) "
        f"({cfg.z_dim} dimensions) through fractionally-strided convolutions with batch norm and "
        f"ReLU to a tanh image; the discriminator mirrors it with strided convolutions, batch "
        f"norm (not on its input layer) and LeakyReLU(0.2); no pooling, no fully connected hidden "
        f"layer, weights from N(0, 0.02). G has {bench.count_params(G):,} parameters, D "
        f"{bench.count_params(D):,}. Adam (lr {cfg.lr}, beta1 {cfg.beta1}), batch "
        f"{cfg.batch_size}, {cfg.num_epochs} epochs over {len(data['train_x']):,} images; each "
        f"step updates D on a real and a fake batch, then G with the non-saturating loss."
    )
    snap_z = _fixed_noise(cfg, 10, ctx.seed + 3)
    r = train_gan(ctx, cfg, "dcgan", G, D, ArrayData(tensors(data["train_x"])), judge,
                  num_epochs=cfg.num_epochs, snap_z=snap_z, also_keep=(cfg.sat_num_epochs,))  # fmt: skip
    ctx.metrics.update(dcgan_fd=r["fd"], dcgan_fd_init=r["fd_init"])
    ctx.metrics["dcgan_fd_curve"] = [r["fd_curve"][k] for k in sorted(r["fd_curve"])]
    rep.figure(figures.over_training(r["snapshots"]), "dcgan_over_training",
               "DCGAN samples from the same 10 noise vectors after each listed epoch (0 = untrained)")  # fmt: skip
    final = generate(G, _fixed_noise(cfg, 40, ctx.seed + 4))
    rep.figure(figures.samples_vs_real(final, tensors(data["test_x"][:10])), "dcgan_samples",
               "Top: held-out real faces. Below: 40 DCGAN samples after training")  # fmt: skip
    rep.figure(figures.gan_curves({"DCGAN": r}, judge.floor), "dcgan_curves",
               "DCGAN per epoch: losses, D's mean output on real and generated images, and the FD")  # fmt: skip
    r["G"] = G
    return r


# == conditional GAN ==============================================================================


def cgan_section(ctx, cfg, data, judge) -> dict:
    from nndl import bench
    from nndl.models.gans import build_gan
    from nndl.train import ArrayData

    rep = ctx.report
    k = data["attribute"]
    attr = data["attribute_names"][k]
    rep.section(f"Conditional GAN: faces with '{attr}' on request")
    c_train = torch.from_numpy(data["train_attr"][:, k])
    torch.manual_seed(ctx.seed)
    G, D = build_gan("cgan", z_dim=cfg.z_dim, width=cfg.width, image_size=cfg.image_size)
    rep.text(
        f"The DCGAN above, conditioned on one attribute (Mirza & Osindero): G reads "
        f"[z, one-hot(c)]; D adds to its logit the inner product of a learned embedding of c "
        f"with its pooled last features (the projection discriminator of Miyato & Koyama), so D "
        f"must reject a real-looking face whose attribute does not match c. D also has an "
        f"auxiliary classifier on the same pooled features (AC-GAN, Odena et al.), trained to "
        f"tell c on real and on generated images; G is trained to make it find the requested c "
        f"(weight {cfg.cgan_aux_weight}). c = 1 means '{attr}' "
        f"({float(c_train.float().mean()):.1%} of the training images); the fakes' labels are "
        f"drawn 50/50, so G practises both equally. The attribute is configurable (--set "
        f"attribute=...). Same architecture ({bench.count_params(G):,} + "
        f"{bench.count_params(D):,} parameters), optimiser and {cfg.num_epochs} epochs as the "
        f"DCGAN."
    )
    # scoring: half the noise vectors asked with the attribute, half without
    n = cfg.num_score
    score_c = (torch.arange(n) % 2).long()
    snap_z = _fixed_noise(cfg, 10, ctx.seed + 3).repeat(2, 1)  # the same z, on then off
    snap_c = torch.cat([torch.ones(10), torch.zeros(10)]).long()
    r = train_gan(ctx, cfg, "cgan", G, D, ArrayData(tensors(data["train_x"]), c_train), judge,
                  num_epochs=cfg.num_epochs, score_c=score_c, snap_z=snap_z, snap_c=snap_c,
                  aux_weight=cfg.cgan_aux_weight)  # fmt: skip
    # -- attribute rate: the same noise asked with and without the attribute
    z = r["score_z"]
    _, p_on = judge.run(generate(G, z, torch.ones(n, dtype=torch.long)))
    _, p_off = judge.run(generate(G, z, torch.zeros(n, dtype=torch.long)))
    rate_on, rate_off = float((p_on[:, k] > 0.5).mean()), float((p_off[:, k] > 0.5).mean())
    rate_real = float(data["test_attr"][:, k].mean())
    judged_real = float((judge.run(tensors(data["test_x"]))[1][:, k] > 0.5).mean())
    out = {"attribute": attr, "rate_on": rate_on, "rate_off": rate_off, "rate_real": rate_real,
           "judge_acc": judge.acc[attr], **r}  # fmt: skip
    ctx.metrics.update(cgan_attribute=attr, cgan_attr_rate_on=rate_on, cgan_attr_rate_off=rate_off,
                       cgan_attr_rate_real=rate_real, cgan_fd=r["fd"], cgan_fd_init=r["fd_init"])  # fmt: skip
    rep.table(
        [
            {"images": f"generated, asked WITH '{attr}'", "judged to have it": rate_on},
            {"images": f"generated, asked WITHOUT '{attr}'", "judged to have it": rate_off},
            {"images": "real held-out (judge's verdict)", "judged to have it": judged_real},
            {"images": "real held-out (true labels)", "judged to have it": rate_real},
        ],
        "cgan_attribute",
        f"Share of images in which the judge (test accuracy {judge.acc[attr]:.3f} on '{attr}') "
        f"finds '{attr}': {n} noise vectors, each generated with c = 1 and with c = 0. FD of "
        f"the conditional samples (half asked with, half without): {r['fd']:.3f}",
    )
    rep.figure(figures.over_training(r["snapshots"], pairs=True), "cgan_over_training",
               f"Conditional samples over training: for each epoch, the same 10 noise vectors "
               f"with '{attr}' (upper row) and without (lower row)")  # fmt: skip
    z = _fixed_noise(cfg, 20, ctx.seed + 4)
    on = generate(G, z, torch.ones(20, dtype=torch.long))
    off = generate(G, z, torch.zeros(20, dtype=torch.long))
    rep.figure(figures.on_off(on, off, attr), "cgan_on_off",
               f"After training: the same noise vector (column) with '{attr}' asked for (rows "
               f"'on') and not (rows 'off')")  # fmt: skip
    rep.figure(figures.gan_curves({"conditional GAN": r}, judge.floor), "cgan_curves",
               "Conditional GAN per epoch")  # fmt: skip
    return out
