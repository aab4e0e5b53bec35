"""Section 3: softmax versus logits, the course's question. What differs, and why (saturation)?

Three measurements, one function and one result each:

- `gradcam_scale`: Grad-CAM of the true class through the softmax against the logit on many clean
  images (size ratio, sign, similarity), and the exact identity that links the two;
- `logit_vs_softmax_maps`: Grad-CAM and IG maps of both outputs on the most confident images;
- `ig_path`: the logit and the probability along IG's straight path from the black baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import figures
from .images import Batch, Images
from .measures import ig_kwargs, nanmean


@dataclass(frozen=True)
class GradcamScale:
    """Grad-CAM of the true class through the softmax versus the logit, per image (n,)."""

    p: np.ndarray  # true-class probability
    ratio: np.ndarray  # ||GC softmax|| / ||GC logit|| (L2 norms of the signed maps)
    rank_corr: np.ndarray  # Spearman rho of the two maps after the ReLU
    iou: np.ndarray  # top-k IoU of the two maps after the ReLU
    neg_logit: np.ndarray  # share of the signed logit map's absolute mass that is negative
    neg_softmax: np.ndarray  # the same for the softmax map
    identity_error: float | None  # see `softmax_identity_error`; None above 20 classes

    @property
    def log_corr(self) -> float:
        """Correlation of log(size ratio) with log p(1 - p): the saturation argument's test."""
        pq = self.p * (1 - self.p)
        return float(np.corrcoef(np.log(self.ratio + 1e-30), np.log(pq + 1e-30))[0, 1])


@dataclass(frozen=True)
class OutputMaps:
    """Maps of the true class through one output (logit or softmax) on the confident images."""

    gradcam: np.ndarray  # (B, H, W), with the ReLU
    ig: np.ndarray  # (B, H, W), |IG| summed over channels
    ig_sum: np.ndarray  # (B,) sum of the IG attributions
    diff: np.ndarray  # (B,) F(x) - F(baseline): what ig_sum should equal (completeness)


@dataclass(frozen=True)
class LogitVsSoftmax:
    maps: dict[str, OutputMaps]  # "logit", "softmax"
    ig_rank_corr: np.ndarray  # (B,) Spearman rho between the two IG maps
    ig_iou: np.ndarray  # (B,) top-k IoU between the two IG maps


@dataclass(frozen=True)
class IGPath:
    """The true-class logit z and probability p along x' + alpha (x - x'), per image."""

    alphas: np.ndarray  # (A,) from 0 (baseline) to 1 (image)
    z: np.ndarray  # (B, A)
    p: np.ndarray  # (B, A)
    p_image: np.ndarray  # (B,) p at the image itself
    alpha90_p: np.ndarray  # (B,) first alpha where p has covered 90% of its change
    alpha90_z: np.ndarray  # (B,) the same for z


@dataclass(frozen=True)
class Saturation:
    gradcam: GradcamScale  # on every correctly classified image (up to num_saturation)
    maps: LogitVsSoftmax  # on the confident images
    path: IGPath  # on the confident images


def softmax_vs_logit(cfg, clf, images: Images) -> Saturation:
    """Grad-CAM and IG of the true class through the logit and through the softmax."""
    confident = images.confident
    return Saturation(
        gradcam=gradcam_scale(cfg, clf, images.correct),
        maps=logit_vs_softmax_maps(cfg, clf, confident, images.baseline),
        path=ig_path(clf, confident, images.baseline),
    )


def gradcam_scale(cfg, clf, correct: Batch) -> GradcamScale:
    """Raw (signed) Grad-CAMs of both outputs on clean images, so scale and sign can be measured."""
    from nndl.methods import attribution as A

    n = min(cfg.num_saturation, len(correct))
    xm, ym = correct.x[:n], correct.y[:n]
    gc = {
        o: A.gradcam(clf.model, clf.cam_layer, xm, ym, output=o, relu=False).cpu().numpy()
        for o in A.OUTPUTS
    }
    p = clf.predict(xm).gather(1, ym[:, None]).squeeze(1).cpu().numpy()
    ratio = np.linalg.norm(gc["softmax"].reshape(n, -1), axis=1) / np.maximum(
        np.linalg.norm(gc["logit"].reshape(n, -1), axis=1), 1e-30
    )
    relu = {o: np.clip(gc[o], 0, None) for o in A.OUTPUTS}
    return GradcamScale(
        p=p,
        ratio=ratio,
        rank_corr=np.array(
            [A.rank_correlation(relu["logit"][i], relu["softmax"][i]) for i in range(n)]
        ),
        iou=np.array(
            [A.topk_iou(relu["logit"][i], relu["softmax"][i], cfg.topk) for i in range(n)]
        ),
        neg_logit=_negative_share(gc["logit"]),
        neg_softmax=_negative_share(gc["softmax"]),
        identity_error=(
            softmax_identity_error(clf, xm, ym, gc["logit"], gc["softmax"])
            if clf.num_classes <= 20
            else None
        ),
    )


def _negative_share(m: np.ndarray) -> np.ndarray:
    """Per map (n, H, W): the share of its absolute mass that is negative (ReLU removes it)."""
    return np.clip(-m, 0, None).reshape(len(m), -1).sum(1) / np.maximum(
        np.abs(m).reshape(len(m), -1).sum(1), 1e-30
    )


def softmax_identity_error(clf, x, y, gc_logit, gc_softmax) -> float:
    """The exact link between the two Grad-CAMs, checked: its worst relative error.

    Grad-CAM is linear in the gradient of the explained output, and the softmax's gradient is

        d p_c / dA = p_c (d z_c / dA - sum_j p_j d z_j / dA)
        =>  GC_softmax(c) = p_c (GC_logit(c) - sum_j p_j GC_logit(j))

    so the signed softmax map is rebuilt from the K per-class logit maps (K forward-backward
    passes per image: only for small K).
    """
    import torch

    from nndl.methods import attribution as A

    probs = clf.predict(x).cpu().numpy()  # (n, K)
    per_class = np.stack(
        [
            A.gradcam(clf.model, clf.cam_layer, x, torch.full_like(y, j), relu=False).cpu().numpy()
            for j in range(clf.num_classes)
        ],
        1,
    )  # (n, K, H, W)
    p = probs[np.arange(len(x)), y.cpu().numpy()]  # (n,) p_c
    mix = np.einsum("nk,nkhw->nhw", probs, per_class)  # sum_j p_j GC_j
    predicted = p[:, None, None] * (gc_logit - mix)
    return float(np.abs(predicted - gc_softmax).max() / np.abs(gc_softmax).max())


def logit_vs_softmax_maps(cfg, clf, batch: Batch, baseline) -> LogitVsSoftmax:
    """Grad-CAM (with the ReLU) and IG of the true class through each output, and their IG sums."""
    from nndl.methods import attribution as A

    maps = {}
    for o in A.OUTPUTS:
        gc = A.gradcam(clf.model, clf.cam_layer, batch.x, batch.y, output=o).cpu().numpy()
        ig, _ = A.integrated_gradients(
            clf.model, batch.x, batch.y, baseline, output=o, **ig_kwargs(cfg)
        )
        check = A.completeness(clf.model, batch.x, baseline, batch.y, ig, output=o)
        maps[o] = OutputMaps(
            gradcam=gc, ig=A.pixel_map(ig), ig_sum=check["sum"], diff=check["diff"]
        )
    logit, soft = maps["logit"].ig, maps["softmax"].ig
    return LogitVsSoftmax(
        maps=maps,
        ig_rank_corr=np.array([A.rank_correlation(logit[i], soft[i]) for i in range(len(batch))]),
        ig_iou=np.array([A.topk_iou(logit[i], soft[i], cfg.topk) for i in range(len(batch))]),
    )


def ig_path(clf, batch: Batch, baseline) -> IGPath:
    """Where along IG's straight path do the logit and the probability change?"""
    from nndl.methods import attribution as A

    alphas = np.linspace(0, 1, 41)
    z, p = A.path_outputs(clf.model, batch.x, baseline, batch.y, alphas)
    return IGPath(
        alphas=alphas,
        z=z,
        p=p,
        p_image=clf.predict(batch.x).gather(1, batch.y[:, None]).squeeze(1).cpu().numpy(),
        alpha90_p=_alpha_reaching(alphas, p, 0.9),
        alpha90_z=_alpha_reaching(alphas, z, 0.9),
    )


def _alpha_reaching(alphas, path, frac) -> np.ndarray:
    """Per row: the first alpha where the path has covered `frac` of its total change."""
    start, end = path[:, :1], path[:, -1:]
    covered = (path - start) / np.where(np.abs(end - start) > 1e-12, end - start, 1.0)
    return np.array([alphas[int(np.argmax(row >= frac))] for row in covered])


# -- the section -----------------------------------------------------------------------------------


def saturation_section(ctx, cfg, clf, images: Images, sat: Saturation) -> None:
    rep = ctx.report
    st, path, x = sat.gradcam, sat.path, images.confident
    rep.section("Softmax versus logits")
    rep.text(
        "Grad-CAM weighs each channel of the feature map A by the mean gradient of the explained "
        "output. Through the logit z_c that gradient is dz_c/dA. Through the softmax probability "
        "it is the chain rule below. Because Grad-CAM is linear in the gradient, the softmax map "
        "is exactly the logit map of c minus the probability-weighted mean of every class's "
        "logit map, scaled by p_c. For a confident prediction the bracket shrinks with 1 - p_c, "
        "so the softmax map is roughly p_c(1 - p_c) times a contrastive map, class c against "
        "the others."
    )
    rep.math(
        r"\frac{\partial p_c}{\partial A} = p_c\Big(\frac{\partial z_c}{\partial A} - "
        r"\sum_j p_j \frac{\partial z_j}{\partial A}\Big) \;\Rightarrow\; "
        r"\mathrm{GC}^{\mathrm{softmax}}_c = p_c\Big(\mathrm{GC}_c - \sum_j p_j\, "
        r"\mathrm{GC}_j\Big)"
    )
    if st.identity_error is not None:
        rep.text(
            f"Checked on {len(st.p)} images: the right-hand side, built from the "
            f"{clf.num_classes} per-class logit maps, matches Captum's softmax Grad-CAM to a "
            f"relative error of {st.identity_error:.1e}."
        )
        ctx.metrics["gradcam_softmax_identity_err"] = st.identity_error
    k = min(cfg.num_show, len(x))
    rep.text(
        f"Maps and IG paths use the {len(x)} most confidently (and correctly) classified "
        f"images, true-class probability {figures.p_text(float(path.p_image.min()))} to "
        f"{figures.p_text(float(path.p_image.max()))}: saturation is a question about confident "
        f"predictions. The Grad-CAM statistics use {len(st.p)} correctly classified images "
        f"of every confidence."
    )
    rep.figure(
        _softmax_figure(clf, x[:k], sat.maps, path),
        "softmax_vs_logit",
        "Grad-CAM and IG of the true class, through the logit and through the softmax "
        "(each map scaled to its own maximum, printed above it)",
    )
    rep.figure(
        _saturation_figure(st, path),
        "saturation",
        "Left: size of the softmax Grad-CAM relative to the logit Grad-CAM against "
        "p(1 - p) of the true class (dashed: equal). Middle and right: the true-class "
        "probability and logit along IG's straight path from the black baseline (alpha 0) "
        "to the image (alpha 1)",
    )
    rep.table(
        _gradcam_rows(st),
        "gradcam_softmax_vs_logit",
        "Grad-CAM of the true class through the softmax versus the logit (size ratio: L2 "
        "norms of the signed maps; negative share: the part of a map's absolute mass that "
        "the ReLU removes)",
    )
    m = sat.maps.maps
    rep.table(
        [
            {
                "image": x.names[i],
                "p": float(path.p_image[i]),
                "z(x) - z(b)": float(m["logit"].diff[i]),
                "IG logit sum": float(m["logit"].ig_sum[i]),
                "p(x) - p(b)": float(m["softmax"].diff[i]),
                "IG softmax sum": float(m["softmax"].ig_sum[i]),
                "alpha, p at 90%": float(path.alpha90_p[i]),
                "alpha, z at 90%": float(path.alpha90_z[i]),
                "IG rank corr.": float(sat.maps.ig_rank_corr[i]),
                "IG top-k IoU": float(sat.maps.ig_iou[i]),
            }
            for i in range(len(x))
        ],
        "ig_softmax_vs_logit",
        "IG of the true class, logit versus probability: totals (completeness: each IG sum equals "
        "its output difference to the black baseline b), the alpha at which each output has "
        "covered 90% of its change along the path, and how similar the two IG maps are",
    )
    ctx.metrics.update(
        gradcam_ratio_median=float(np.median(st.ratio)),
        gradcam_ratio_vs_pq_logcorr=st.log_corr,
        gradcam_softmax_logit_rankcorr=float(np.nanmean(st.rank_corr)),
        ig_alpha90_p_mean=float(path.alpha90_p.mean()),
        ig_alpha90_z_mean=float(path.alpha90_z.mean()),
        ig_softmax_logit_rankcorr=float(np.nanmean(sat.maps.ig_rank_corr)),
    )


def _gradcam_rows(st: GradcamScale) -> list[dict]:
    """The Grad-CAM statistics over all images and split at p = 0.9."""
    conf = st.p >= 0.9
    rows = []
    for label, sel in (
        ("all", np.ones_like(conf)),
        ("p >= 0.9", conf),
        ("p < 0.9", ~conf),
    ):
        if sel.sum() == 0:
            continue
        rows.append(
            {
                "images": label,
                "n": int(sel.sum()),
                "mean p": float(st.p[sel].mean()),
                "median p(1-p)": float(np.median((st.p * (1 - st.p))[sel])),
                "median size ratio softmax/logit": float(np.median(st.ratio[sel])),
                "rank corr. (ReLU maps)": float(np.nanmean(st.rank_corr[sel])),
                "top-k IoU": nanmean(st.iou[sel]),
                "negative share, logit": float(st.neg_logit[sel].mean()),
                "negative share, softmax": float(st.neg_softmax[sel].mean()),
            }
        )
    return rows


def findings(sat: Saturation) -> list[str]:
    """What the softmax does to Grad-CAM, and to IG."""
    st, path, m = sat.gradcam, sat.path, sat.maps.maps
    pq = st.p * (1 - st.p)
    conf = st.p >= 0.9
    conf_text = (
        f"; on the {int(conf.sum())} image{'' if int(conf.sum()) == 1 else 's'} with p >= 0.9 "
        f"the median ratio is "
        f"{np.median(st.ratio[conf]):.3g} (median p(1 - p) {np.median(pq[conf]):.3g})"
        if conf.any()
        else ""
    )
    corr = st.log_corr
    gradcam = (
        f"Softmax versus logit Grad-CAM: the softmax map is a median {np.median(st.ratio):.3g} "
        f"times the size of the logit map{conf_text}. Across {len(st.p)} images the log size "
        f"ratio correlates with log p(1 - p) at r = {corr:.2f}"
        + (
            ", because dp/dz = p(1 - p) goes to 0 as p goes to 1: a saturated softmax leaves a "
            "faint map."
            if corr > 0.3
            else ", no clear relation on these images."
        )
        + f" What is left is contrastive (class c against the probability-weighted others): "
        f"{np.mean(st.neg_softmax):.0%} of the softmax map is negative against "
        f"{np.mean(st.neg_logit):.0%} of the logit map, and after the ReLU the two maps have "
        f"rank correlation {np.nanmean(st.rank_corr):.2f} and top-k IoU "
        f"{nanmean(st.iou):.2f}."
    )
    a_p, a_z = path.alpha90_p, path.alpha90_z
    earlier = int((a_p < a_z).sum())
    saturates = (
        f"the probability has covered 90% of its change by alpha = {a_p.mean():.2f} on "
        f"average, the logit by alpha = {a_z.mean():.2f}"
    )
    if path.p_image.min() < 0.9:
        verdict = (
            f"These predictions are not confident (p at most {path.p_image.max():.3f}), so the "
            f"softmax is not saturated and the saturation argument has little to act on here."
        )
    elif earlier > len(a_p) / 2:
        verdict = (
            f"On {earlier} of {len(a_p)} images the probability saturates earlier. Its gradient "
            f"then vanishes, so probability-IG collects its attribution on the dim stretch of the "
            f"path near the baseline, while logit-IG keeps collecting up to the image."
        )
    else:
        verdict = (
            f"Only on {earlier} of {len(a_p)} images does the probability saturate earlier, so "
            f"on this model the two IG maps differ less than the saturation argument suggests."
        )
    ig = (
        f"IG, logit versus probability (the {len(a_p)} most confident images, p "
        f"{figures.p_text(float(path.p_image.min()))} to "
        f"{figures.p_text(float(path.p_image.max()))}): along the path from black, {saturates}. "
        f"{verdict} The two IG maps correlate at {np.nanmean(sat.maps.ig_rank_corr):.2f} "
        f"(rank), top-k IoU {nanmean(sat.maps.ig_iou):.2f}. Their totals follow completeness: the "
        f"logit-IG sums to z(x) - z(b) = {np.mean(m['logit'].diff):.2f} on average, the "
        f"probability-IG to p(x) - p(b) = {np.mean(m['softmax'].diff):.3f}, which can never "
        f"exceed 1."
    )
    return [gradcam, ig]


# -- figures ---------------------------------------------------------------------------------------


def _softmax_figure(clf, x: Batch, maps: LogitVsSoftmax, path: IGPath):
    """Per image: Grad-CAM and IG through the logit and through the softmax."""
    plt = figures.plt()
    k = len(x)
    fig, axes = plt.subplots(k, 5, figsize=(11, 2.3 * k + 0.3), squeeze=False)
    img = figures.image(clf, x.x)
    p = clf.predict(x.x).cpu()
    for i in range(k):
        c = int(x.y[i])
        ax = axes[i]
        ax[0].imshow(img[i], interpolation="nearest")
        ax[0].set_title(
            f"{x.names[i]}\n{clf.class_names[c]}: p = {figures.p_text(float(p[i, c]))}",
            fontsize=8,
        )
        ax[0].axis("off")
        for j, (o, method) in enumerate(
            (
                ("logit", "gradcam"),
                ("softmax", "gradcam"),
                ("logit", "ig"),
                ("softmax", "ig"),
            )
        ):
            mp = getattr(maps.maps[o], method)[i]
            name = "Grad-CAM" if method == "gradcam" else "IG"
            figures.show_map(
                ax[j + 1],
                mp,
                img[i] if method == "gradcam" else None,
                f"{name}, {o}\nmax {mp.max():.2e}",
                cmap="jet" if method == "gradcam" else "inferno",
            )
    fig.tight_layout()
    return fig


def _saturation_figure(st: GradcamScale, path: IGPath):
    """Softmax Grad-CAM size against p(1 - p); the probability and the logit along IG's path."""
    plt = figures.plt()
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4))
    pq = np.clip(st.p * (1 - st.p), 1e-9, None)
    ax1.scatter(pq, st.ratio, s=14, alpha=0.7, c=st.p, cmap="viridis", vmin=0, vmax=1)
    grid = np.logspace(np.log10(pq.min()), np.log10(pq.max()), 20)
    ax1.plot(grid, grid, "k--", lw=1, label="ratio = p(1 - p)")
    ax1.set(
        xscale="log",
        yscale="log",
        xlabel="p(1 - p) of the true class (colour: p)",
        ylabel="||GC softmax|| / ||GC logit||",
        title="softmax Grad-CAM fades with saturation",
    )
    ax1.legend(fontsize=8)
    a = path.alphas
    for p_row, z_row in zip(path.p, path.z, strict=True):
        ax2.plot(a, p_row, color="tab:red", alpha=0.7)
        ax3.plot(a, z_row - z_row[0], color="tab:blue", alpha=0.7)
    ax2.set(
        xlabel="alpha (0 = black baseline, 1 = image)",
        ylabel="true-class probability",
        title="probability along IG's path",
        ylim=(-0.02, 1.02),
    )
    ax3.set(
        xlabel="alpha (0 = black baseline, 1 = image)",
        ylabel="true-class logit - its value at alpha 0",
        title="logit along IG's path",
    )
    for ax in (ax1, ax2, ax3):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
