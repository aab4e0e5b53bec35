"""a06: Grad-CAM and Integrated Gradients on adversarial examples.

Question: does an FGSM perturbation change where the model "looks"? Compare Grad-CAM and
Integrated Gradients (Captum) on clean images and their FGSM twins (top-k% IoU, rank correlation,
mass shift). Then the course's question: Grad-CAM through the softmax output versus the logits, and
IG attributed to the logit (the layer before the softmax) versus the probability: what differs and
why (saturation). Finally, check IG's completeness axiom and how many steps it needs.

    nndl run a06                  # quick: real ImageNet EfficientNet-Lite0 on 6 photos, ~2.5 min
    nndl run a06 --profile full   # ResNet-50 ImageNet weights on the photos and yours

What to expect (quick, seed 0): EfficientNet-Lite0's bundled ImageNet weights (the model a05
attacks) on six real photographs. The FGSM twin's maps for its new (wrong) class overlap the clean
maps less than a Gaussian-noise twin's of the same L2 norm, and less as eps grows (top-20% IoU
~0.6 for Grad-CAM and ~0.35 for IG at eps 0.5-2/255, against ~0.9 and ~0.55 for noise). The
softmax Grad-CAM is a median ~0.1 times the size of the logit map, and its log size tracks
log p(1 - p) (r ~ 0.7); these photographs are classified with p 0.27-0.95, so the softmax
saturates less than on a confident training-set image. IG's completeness error falls slowly on
this network (above 1% at 64 steps): the report says how many steps each rule needs.
The smoke profile uses a small CNN trained on rendered shapes instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from nndl import classifiers
from nndl.classifiers import ClassifierOptions
from nndl.config import opt
from nndl.registry import study

IG_METHODS = ("riemann_trapezoid", "gausslegendre")


@dataclass(frozen=True)
class Config(ClassifierOptions):
    num_images: int = opt(
        6,
        "correctly classified images explained, clean and adversarial; "
        "as many of the most confident ones for the softmax question",
    )
    num_completeness: int = opt(2, "of the most confident images, those in the completeness check")
    num_show: int = opt(4, "of which shown in the map figures")
    epsilons: tuple[float, ...] = opt((0.5, 1.0, 2.0), "FGSM eps (1/255) of the adversarial twins")
    demo_epsilon: float = opt(1.0, "eps (1/255) of the twins shown in the map figure")
    topk: float = opt(0.2, "share of pixels that makes up a map's 'important region'")
    ig_steps: int = opt(16, "Integrated Gradients steps (Captum n_steps) for the maps")
    ig_method: Literal["riemann_trapezoid", "gausslegendre", "riemann_middle"] = opt(
        "gausslegendre", "Captum's quadrature for the maps (its default)"
    )
    ig_batch: int = opt(32, "Captum internal_batch_size for IG (0 = all steps in one batch)")
    completeness_steps: tuple[int, ...] = opt(
        (8, 16, 32, 64), "IG step counts of the completeness check"
    )
    num_saturation: int = opt(8, "clean images for the softmax-versus-logit Grad-CAM statistics")
    cam_layer: str = opt("", "module for Grad-CAM ('' = the model's last spatial feature map)")

    PROFILES: ClassVar[dict] = classifiers.merge_profiles(
        classifiers.PROFILES,
        {
            "smoke": {
                "num_images": 3,
                "num_completeness": 2,
                "num_show": 2,
                "epsilons": (4.0, 16.0),
                "demo_epsilon": 16.0,
                "ig_steps": 16,
                "completeness_steps": (4, 16, 64),
                "num_saturation": 16,
                "ig_batch": 0,
            },
            "full": {
                "num_completeness": 4,
                "ig_steps": 128,
                "completeness_steps": (16, 32, 64, 128, 256, 512),
            },
        },
    )

    def plan(self, data_root) -> list[str]:
        n_steps = sum(self.completeness_steps) * 2 * len(IG_METHODS)
        n = (
            self.num_images
            if classifiers.is_small_cnn(self)
            else len(self.photos) + len(self.images)
        )
        return [
            f"classifier: {classifiers.weights_plan(self)}",
            f"{n} images x {len(self.epsilons)} eps: Grad-CAM and IG ({self.ig_steps} steps) on "
            f"clean, FGSM and noisy twins; completeness with {n_steps} IG steps per image",
            f"~{n * (len(self.epsilons) * 3 * 2 * self.ig_steps + n_steps):,} forward+backward "
            f"passes",
        ]


@study(
    "a06",
    "attribution",
    "Grad-CAM and Integrated Gradients on adversarial examples",
    config=Config,
    datasets=("shapes", "photos"),
    headline=("iou_gradcam_demo", "iou_ig_demo", "ig_steps_for_1pct"),
)
def run(ctx) -> None:
    cfg: Config = ctx.config

    classifiers.check_options(cfg)

    # -- the classifier (a05's, from the cache) and the images ------------------------------------
    with ctx.timer("classifier_s"):
        clf = classifiers.load_classifier(cfg, ctx)
    if cfg.cam_layer:
        clf.cam_layer_name, clf.cam_layer = classifiers.find_cam_layer(
            clf.model, clf.image_size, cfg.cam_layer
        )
    images = classifiers.attack_images(cfg, clf, ctx)
    x_all = clf.normalize(images.pixels.to(ctx.device))
    y_all = images.labels.to(ctx.device)
    probs = clf.predict(x_all)
    correct = (probs.argmax(1) == y_all).nonzero().flatten()
    if len(correct) == 0:
        raise RuntimeError("the classifier gets no image right; nothing to explain")
    pick = _pick_images(cfg, clf, x_all, y_all, correct)
    x, y = x_all[pick], y_all[pick]
    names = [images.names[int(i)] for i in pick]
    # the softmax question is about confident predictions: the most confident correct images
    p_true = probs.gather(1, y_all[:, None]).squeeze(1)
    confident = correct[p_true[correct].argsort(descending=True)][: cfg.num_images]
    x_conf, y_conf = x_all[confident], y_all[confident]
    names_conf = [images.names[int(i)] for i in confident]
    baseline = clf.lo.expand_as(x[:1])  # a black image, in input space (1, 3, H, W)
    ctx.metrics.update(
        num_images=len(x), clean_acc=float((probs.argmax(1) == y_all).float().mean())
    )
    _intro_section(ctx, cfg, clf, images, len(x))

    # -- clean versus adversarial maps ------------------------------------------------------------
    with ctx.timer("clean_vs_adversarial_s"):
        maps, region_rows = _clean_vs_adversarial(ctx, cfg, clf, x, y, baseline)
    _maps_section(ctx, cfg, clf, x, y, names, maps, region_rows)

    # -- softmax versus logits --------------------------------------------------------------------
    with ctx.timer("softmax_vs_logit_s"):
        sat = _softmax_vs_logit(
            ctx, cfg, clf, x_all[correct], y_all[correct], x_conf, y_conf, baseline
        )
    _saturation_section(ctx, cfg, clf, x_conf, y_conf, names_conf, sat)

    # -- completeness -----------------------------------------------------------------------------
    with ctx.timer("completeness_s"):
        k = cfg.num_completeness
        comp = _completeness(ctx, cfg, clf, x_conf[:k], y_conf[:k], baseline)
    _completeness_section(ctx, cfg, comp)
    _findings(ctx, cfg, region_rows, sat, comp)


# -- choosing images -------------------------------------------------------------------------------


def _fgsm(clf, x, y, eps255: float):
    from nndl.methods.fgsm import fgsm

    return fgsm(clf.model, x, y, eps255 / 255, lo=clf.lo, hi=clf.hi, pixel_scale=clf.pixel_scale)


def _pick_images(cfg, clf, x_all, y_all, correct):
    """The first `num_images` correctly classified images, preferring those FGSM flips at the
    demo eps (their twins have a different predicted class to explain). ImageNet: all images."""
    import torch

    if not classifiers.is_small_cnn(cfg):
        return correct
    flipped = clf.predict(_fgsm(clf, x_all[correct], y_all[correct], cfg.demo_epsilon)).argmax(1)
    flipped = flipped != y_all[correct]
    order = torch.cat([correct[flipped], correct[~flipped]])
    return order[: cfg.num_images].sort().values


# -- computations ----------------------------------------------------------------------------------


def _ig_kwargs(cfg, n_steps=None, method=None) -> dict:
    return {
        "n_steps": n_steps or cfg.ig_steps,
        "method": method or cfg.ig_method,
        "internal_batch_size": cfg.ig_batch or None,
    }


def _all_maps(cfg, clf, x, target, baseline) -> dict:
    """Grad-CAM (ReLU, upsampled) and IG (|attr| summed over channels) maps: each (B, H, W)."""
    from nndl.methods import attribution as A

    gc = A.gradcam(clf.model, clf.cam_layer, x, target).cpu().numpy()
    ig, _ = A.integrated_gradients(clf.model, x, target, baseline, **_ig_kwargs(cfg))
    return {"gradcam": gc, "ig": A.pixel_map(ig)}


def _clean_vs_adversarial(ctx, cfg, clf, x, y, baseline):
    """Maps of clean images and of their FGSM and Gaussian-noise twins; region measures."""
    import torch

    from nndl.methods import attribution as A
    from nndl.methods.fgsm import clamp, matched_gaussian_noise

    gen = torch.Generator().manual_seed(ctx.seed)
    clean = _all_maps(cfg, clf, x, y, baseline)
    maps = {"clean": clean}
    rows = []
    for eps in cfg.epsilons:
        x_adv = _fgsm(clf, x, y, eps)
        # control: one Gaussian draw with the same L2 norm as each FGSM perturbation
        delta = clf.to_pixels(x_adv) - clf.to_pixels(x)
        noise = matched_gaussian_noise(delta.cpu(), "l2", 1, gen)[0].to(x.device)
        x_noise = clf.normalize(clamp(clf.to_pixels(x) + noise, 0.0, 1.0))
        for twin, xt in (("FGSM", x_adv), ("noise (same L2)", x_noise)):
            pred = clf.predict(xt).argmax(1)
            for target_name, target in (("its prediction", pred), ("true class", y)):
                if twin != "FGSM" and target_name == "true class":
                    continue  # noise rarely changes the prediction: one row is enough
                tmaps = _all_maps(cfg, clf, xt, target, baseline)
                if twin == "FGSM" and target_name == "its prediction":
                    maps[eps] = {**tmaps, "x": xt, "pred": pred}
                for method in ("gradcam", "ig"):
                    per = [
                        A.compare_maps(clean[method][i], tmaps[method][i], cfg.topk)
                        for i in range(len(x))
                    ]
                    rows.append(
                        {
                            "eps (/255)": eps,
                            "twin": twin,
                            "explained class": target_name,
                            "method": "Grad-CAM" if method == "gradcam" else "IG",
                            "flipped": float((pred != y).float().mean()),
                            **{k: _nanmean([p[k] for p in per]) for k in per[0]},
                            "iou_sd": float(np.nanstd([p["iou"] for p in per])),
                            "empty maps": int(sum(np.ptp(m) == 0 for m in tmaps[method])),
                        }
                    )
    return maps, rows


def _nanmean(values) -> float:
    """Mean over the defined values (nan only when none is)."""
    v = np.asarray(values, float)
    return float(v[~np.isnan(v)].mean()) if (~np.isnan(v)).any() else float("nan")


def _softmax_vs_logit(ctx, cfg, clf, x_many, y_many, x, y, baseline) -> dict:
    """Grad-CAM and IG of the true class through the logit and through the softmax."""
    import torch

    from nndl.methods import attribution as A

    out: dict = {}
    # Grad-CAM on many clean images: raw (signed) maps, so the scale and the sign can be measured
    n = min(cfg.num_saturation, len(x_many))
    xm, ym = x_many[:n], y_many[:n]
    gc = {
        o: A.gradcam(clf.model, clf.cam_layer, xm, ym, output=o, relu=False).cpu().numpy()
        for o in A.OUTPUTS
    }
    p = clf.predict(xm).gather(1, ym[:, None]).squeeze(1).cpu().numpy()
    ratio = np.linalg.norm(gc["softmax"].reshape(n, -1), axis=1) / np.maximum(
        np.linalg.norm(gc["logit"].reshape(n, -1), axis=1), 1e-30
    )

    def neg_share(m):  # share of the map's absolute mass that is negative (ReLU removes it)
        return np.clip(-m, 0, None).reshape(len(m), -1).sum(1) / np.maximum(
            np.abs(m).reshape(len(m), -1).sum(1), 1e-30
        )

    relu = {o: np.clip(gc[o], 0, None) for o in A.OUTPUTS}
    out["gradcam_stats"] = {
        "p": p,
        "ratio": ratio,
        "rank_corr": np.array(
            [A.rank_correlation(relu["logit"][i], relu["softmax"][i]) for i in range(n)]
        ),
        "iou": np.array(
            [A.topk_iou(relu["logit"][i], relu["softmax"][i], cfg.topk) for i in range(n)]
        ),
        "neg_logit": neg_share(gc["logit"]),
        "neg_softmax": neg_share(gc["softmax"]),
    }
    # the exact relation, checked: Grad-CAM is linear in the gradient, and
    # d p_c / dA = p_c (d z_c / dA - sum_j p_j d z_j / dA)
    #   =>  GC_soft = p_c (GC_c - sum_j p_j GC_j)
    if clf.num_classes <= 20:
        probs = clf.predict(xm).cpu().numpy()  # (n, K)
        per_class = np.stack(
            [
                A.gradcam(clf.model, clf.cam_layer, xm, torch.full_like(ym, j), relu=False)
                .cpu()
                .numpy()
                for j in range(clf.num_classes)
            ],
            1,
        )  # (n, K, H, W)
        mix = np.einsum("nk,nkhw->nhw", probs, per_class)
        predicted = p[:, None, None] * (gc["logit"] - mix)
        err = np.abs(predicted - gc["softmax"]).max() / np.abs(gc["softmax"]).max()
        out["jacobian_check"] = float(err)
    # maps on the shown images: Grad-CAM with ReLU, IG of logit and probability
    out["maps"] = {}
    for o in A.OUTPUTS:
        gc_o = A.gradcam(clf.model, clf.cam_layer, x, y, output=o).cpu().numpy()
        ig, delta = A.integrated_gradients(clf.model, x, y, baseline, output=o, **_ig_kwargs(cfg))
        check = A.completeness(clf.model, x, baseline, y, ig, output=o)
        out["maps"][o] = {
            "gradcam": gc_o,
            "ig": A.pixel_map(ig),
            "ig_sum": check["sum"],
            "diff": check["diff"],
        }
    out["ig_rank_corr"] = np.array(
        [
            A.rank_correlation(out["maps"]["logit"]["ig"][i], out["maps"]["softmax"]["ig"][i])
            for i in range(len(x))
        ]
    )
    out["ig_iou"] = np.array(
        [
            A.topk_iou(out["maps"]["logit"]["ig"][i], out["maps"]["softmax"]["ig"][i], cfg.topk)
            for i in range(len(x))
        ]
    )
    # the straight-line path of IG: where along it do the logit and the probability change?
    alphas = np.linspace(0, 1, 41)
    z_path, p_path = A.path_outputs(clf.model, x, baseline, y, alphas)
    out["alphas"], out["z_path"], out["p_path"] = alphas, z_path, p_path
    out["p_conf"] = clf.predict(x).gather(1, y[:, None]).squeeze(1).cpu().numpy()
    out["alpha90_p"] = _alpha_reaching(alphas, p_path, 0.9)
    out["alpha90_z"] = _alpha_reaching(alphas, z_path, 0.9)
    return out


def _alpha_reaching(alphas, path, frac) -> np.ndarray:
    """Per row: the first alpha where the path has covered `frac` of its total change."""
    start, end = path[:, :1], path[:, -1:]
    covered = (path - start) / np.where(np.abs(end - start) > 1e-12, end - start, 1.0)
    return np.array([alphas[int(np.argmax(row >= frac))] for row in covered])


def _completeness(ctx, cfg, clf, x, y, baseline) -> dict:
    """Relative completeness error of IG per (output, method, steps), with our forward passes."""
    from nndl.methods import attribution as A

    rows, captum_gap = [], 0.0
    for output in A.OUTPUTS:
        for method in IG_METHODS:
            for steps in cfg.completeness_steps:
                attr, delta = A.integrated_gradients(
                    clf.model, x, y, baseline, output=output, **_ig_kwargs(cfg, steps, method)
                )
                check = A.completeness(clf.model, x, baseline, y, attr, output=output)
                # Captum's convergence delta is sum - difference: it must agree with ours
                ours = check["sum"] - check["diff"]
                captum_gap = max(captum_gap, float(np.abs(ours - delta.cpu().numpy()).max()))
                rows.append(
                    {
                        "output": output,
                        "method": method,
                        "steps": steps,
                        "mean rel. error": float(check["rel_error"].mean()),
                        "max rel. error": float(check["rel_error"].max()),
                    }
                )
    needed = {}
    for output in A.OUTPUTS:
        for method in IG_METHODS:
            sel = [r for r in rows if r["output"] == output and r["method"] == method]
            needed[(output, method)] = A.steps_needed(
                [r["steps"] for r in sel], [r["max rel. error"] for r in sel]
            )
    return {"rows": rows, "needed": needed, "captum_gap": captum_gap, "num_images": len(x)}


# -- report sections -------------------------------------------------------------------------------


def _intro_section(ctx, cfg, clf, images, n) -> None:
    rep = ctx.report
    rep.section("The classifier and the images")
    if classifiers.is_small_cnn(cfg):
        how = (
            f"loaded from the artifact cache, where a05 (run {clf.meta['trained_in_run']}) left "
            f"it: not trained again"
            if clf.cached
            else "not found in the artifact cache, so trained in this run (a05 will reuse it)"
        )
        rep.text(
            f"The classifier is the SmallCNN that a05 attacks, trained on "
            f"{clf.meta['num_train']:,} "
            f"rendered shapes images ({how}). Everything below is about this stand-in for an "
            f"ImageNet CNN. Grad-CAM uses its last convolution stage, {clf.cam_layer_name}."
        )
    else:
        rep.text(f"{clf.weights}. Grad-CAM uses the layer {clf.cam_layer_name}.")
    rep.text(
        f"{n} correctly classified images (labels: {images.label_note}) are explained clean and "
        f"after FGSM at eps = {', '.join(f'{e:g}' for e in cfg.epsilons)}/255. Grad-CAM and "
        f"Integrated Gradients are Captum's (LayerGradCam with the ReLU of the original algorithm, "
        f"upsampled bilinearly; IntegratedGradients, {cfg.ig_steps} steps of {cfg.ig_method}, from "
        f"a black image). An IG map is |attribution| summed over the colour channels. The "
        f"'important region' of a map is its top {cfg.topk:.0%} of pixels."
    )


def _maps_section(ctx, cfg, clf, x, y, names, maps, rows) -> None:
    rep = ctx.report
    rep.section("Clean versus adversarial: where the model looks")
    eps = min(cfg.epsilons, key=lambda e: abs(e - cfg.demo_epsilon))
    k = min(cfg.num_show, len(x))
    rep.figure(
        _maps_figure(
            clf,
            x[:k],
            y[:k],
            names[:k],
            maps["clean"],
            {key: v[:k] for key, v in maps[eps].items()},
            eps,
        ),
        "clean_vs_adversarial",
        f"Grad-CAM overlays and IG maps of the clean images (for their true class) and of "
        f"their FGSM twins at eps = {eps:g}/255 (for the class the model now predicts)",
    )
    chance = cfg.topk / (2 - cfg.topk)
    rep.text(
        f"Region measures between the clean map and the twin's map, averaged over the images: "
        f"IoU of the top-{cfg.topk:.0%} regions (two unrelated maps give {chance:.2f} on average), "
        f"Spearman rank correlation over all pixels, the distance between the centres of "
        f"attribution mass (in image widths), and the share of the twin's mass inside the clean "
        f"top-{cfg.topk:.0%} region (the clean map keeps 'clean mass' of its own there). The "
        f"Gaussian-noise twin, with the same L2 norm as the FGSM perturbation, separates the "
        f"effect "
        f"of an adversarial direction from that of any perturbation of that size. An 'empty' "
        f"twin map is a Grad-CAM the ReLU zeroes (no positive evidence for the class anywhere): it "
        f"has no important region and is left out of the means."
    )
    rep.table(
        [
            {
                "eps (/255)": r["eps (/255)"],
                "twin": r["twin"],
                "explained": r["explained class"],
                "method": r["method"],
                "twins misclassified": r["flipped"],
                "top-k IoU": r["iou"],
                "IoU sd": r["iou_sd"],
                "empty twin maps": r["empty maps"],
                "rank corr.": r["rank_corr"],
                "mass centre shift": r["com_shift"],
                "twin mass in clean top-k": r["mass_in_ref_topk"],
                "clean mass in clean top-k": r["ref_mass_in_ref_topk"],
            }
            for r in rows
        ],
        "regions",
        "Clean map versus twin map (means over the images)",
    )
    rep.figure(
        _regions_figure(rows, chance),
        "regions",
        "Top-k IoU and rank correlation between clean and twin maps versus eps",
    )
    demo = {
        (r["method"], r["twin"], r["explained class"]): r for r in rows if r["eps (/255)"] == eps
    }
    ctx.metrics.update(
        regions=rows,
        iou_gradcam_demo=demo[("Grad-CAM", "FGSM", "its prediction")]["iou"],
        iou_ig_demo=demo[("IG", "FGSM", "its prediction")]["iou"],
    )


def _saturation_section(ctx, cfg, clf, x, y, names, sat) -> None:
    rep = ctx.report
    st = sat["gradcam_stats"]
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
    if "jacobian_check" in sat:
        rep.text(
            f"Checked on {len(st['p'])} images: the right-hand side, built from the "
            f"{clf.num_classes} per-class logit maps, matches Captum's softmax Grad-CAM to a "
            f"relative error of {sat['jacobian_check']:.1e}."
        )
        ctx.metrics["gradcam_softmax_identity_err"] = sat["jacobian_check"]
    k = min(cfg.num_show, len(x))
    rep.text(
        f"Maps and IG paths use the {len(x)} most confidently (and correctly) classified "
        f"images, true-class probability {_p_text(float(sat['p_conf'].min()))} to "
        f"{_p_text(float(sat['p_conf'].max()))}: saturation is a question about confident "
        f"predictions. The Grad-CAM statistics use {len(st['p'])} correctly classified images "
        f"of every confidence."
    )
    rep.figure(
        _softmax_figure(clf, x[:k], y[:k], names[:k], sat, k),
        "softmax_vs_logit",
        "Grad-CAM and IG of the true class, through the logit and through the softmax "
        "(each map scaled to its own maximum, printed above it)",
    )
    rep.figure(
        _saturation_figure(sat),
        "saturation",
        "Left: size of the softmax Grad-CAM relative to the logit Grad-CAM against "
        "p(1 - p) of the true class (dashed: equal). Middle and right: the true-class "
        "probability and logit along IG's straight path from the black baseline (alpha 0) "
        "to the image (alpha 1)",
    )
    conf = st["p"] >= 0.9
    rows = []
    for label, sel in (("all", np.ones_like(conf)), ("p >= 0.9", conf), ("p < 0.9", ~conf)):
        if sel.sum() == 0:
            continue
        rows.append(
            {
                "images": label,
                "n": int(sel.sum()),
                "mean p": float(st["p"][sel].mean()),
                "median p(1-p)": float(np.median((st["p"] * (1 - st["p"]))[sel])),
                "median size ratio softmax/logit": float(np.median(st["ratio"][sel])),
                "rank corr. (ReLU maps)": float(np.nanmean(st["rank_corr"][sel])),
                "top-k IoU": _nanmean(st["iou"][sel]),
                "negative share, logit": float(st["neg_logit"][sel].mean()),
                "negative share, softmax": float(st["neg_softmax"][sel].mean()),
            }
        )
    rep.table(
        rows,
        "gradcam_softmax_vs_logit",
        "Grad-CAM of the true class through the softmax versus the logit (size ratio: L2 "
        "norms of the signed maps; negative share: the part of a map's absolute mass that "
        "the ReLU removes)",
    )
    pq = st["p"] * (1 - st["p"])
    corr = float(np.corrcoef(np.log(st["ratio"] + 1e-30), np.log(pq + 1e-30))[0, 1])
    m = sat["maps"]
    rep.table(
        [
            {
                "image": names[i],
                "p": float(sat["p_conf"][i]),
                "z(x) - z(b)": float(m["logit"]["diff"][i]),
                "IG logit sum": float(m["logit"]["ig_sum"][i]),
                "p(x) - p(b)": float(m["softmax"]["diff"][i]),
                "IG softmax sum": float(m["softmax"]["ig_sum"][i]),
                "alpha, p at 90%": float(sat["alpha90_p"][i]),
                "alpha, z at 90%": float(sat["alpha90_z"][i]),
                "IG rank corr.": float(sat["ig_rank_corr"][i]),
                "IG top-k IoU": float(sat["ig_iou"][i]),
            }
            for i in range(len(x))
        ],
        "ig_softmax_vs_logit",
        "IG of the true class, logit versus probability: totals (completeness: each IG sum equals "
        "its output difference to the black baseline b), the alpha at which each output has "
        "covered 90% of its change along the path, and how similar the two IG maps are",
    )
    ctx.metrics.update(
        gradcam_ratio_median=float(np.median(st["ratio"])),
        gradcam_ratio_vs_pq_logcorr=corr,
        gradcam_softmax_logit_rankcorr=float(np.nanmean(st["rank_corr"])),
        ig_alpha90_p_mean=float(sat["alpha90_p"].mean()),
        ig_alpha90_z_mean=float(sat["alpha90_z"].mean()),
        ig_softmax_logit_rankcorr=float(np.nanmean(sat["ig_rank_corr"])),
    )
    sat["summary"] = {"corr": corr}


def _completeness_section(ctx, cfg, comp) -> None:
    from nndl.methods.attribution import quadrature_weight_sum

    rep = ctx.report
    rep.section("Completeness of Integrated Gradients")
    rep.math(
        r"\sum_i \mathrm{IG}_i(x) = F(x) - F(x') \qquad \text{relative error} = "
        r"\frac{|\sum_i \mathrm{IG}_i - (F(x) - F(x'))|}{|F(x) - F(x')|}"
    )
    n = min(cfg.completeness_steps)
    w = quadrature_weight_sum("riemann_trapezoid", n)
    rep.text(
        f"IG of the true class from the black baseline x' on the {comp['num_images']} most "
        f"confident images, for F = the logit and F = the softmax probability, with Captum's "
        f"riemann_trapezoid and gausslegendre rules. Sums and output differences come from our own "
        f"forward passes; Captum's convergence delta agrees with them to {comp['captum_gap']:.1e}. "
        f"Note that Captum's riemann_trapezoid weights sum to (n - 1)/n, not 1 "
        f"({w:.4f} for n = {n}): its nodes are linspace(0, 1, n) but each weight is 1/n, halved "
        f"at the ends. So even a linear model keeps a relative error of 1/n under that rule "
        f"(tested in tests/test_attribution.py)."
    )
    rep.figure(
        _completeness_figure(comp),
        "completeness",
        "Worst relative completeness error over the images versus the number of IG steps "
        "(dotted: 1%)",
    )
    rep.table(comp["rows"], "completeness", "Relative completeness error of IG")
    rep.table(
        [
            {
                "output": o,
                "method": m,
                "steps for < 1%": s if s else f"> {max(cfg.completeness_steps)}",
            }
            for (o, m), s in comp["needed"].items()
        ],
        "completeness_steps",
        "Steps needed before the worst error stays under 1%",
    )
    need = comp["needed"].get(("logit", cfg.ig_method))
    ctx.metrics.update(
        completeness=comp["rows"], ig_captum_delta_gap=comp["captum_gap"], ig_steps_for_1pct=need
    )


def _findings(ctx, cfg, region_rows, sat, comp) -> None:
    rep = ctx.report
    rep.section("Findings")
    chance = cfg.topk / (2 - cfg.topk)
    lines = []
    for method in ("Grad-CAM", "IG"):

        def sel(twin, target, method=method):
            return [
                r
                for r in region_rows
                if r["method"] == method and r["twin"] == twin and r["explained class"] == target
            ]

        fg, tc, nz = (
            sel("FGSM", "its prediction"),
            sel("FGSM", "true class"),
            sel("noise (same L2)", "its prediction"),
        )
        lower = sum(a["iou"] < b["iou"] for a, b in zip(fg, nz, strict=True))
        lines.append(
            f"{method}: the FGSM twin's map for the class it is now given overlaps the clean map "
            f"with top-{cfg.topk:.0%} IoU "
            + ", ".join(
                f"{r['iou']:.2f} at eps {r['eps (/255)']:g} ({r['flipped']:.0%} misclassified)"
                for r in fg
            )
            + f" (unrelated maps: {chance:.2f}); its map for the true class keeps "
            + ", ".join(f"{r['iou']:.2f}" for r in tc)
            + ". A Gaussian-noise twin of the same L2 norm keeps "
            + ", ".join(f"{r['iou']:.2f}" for r in nz)
            + f": FGSM moves the important region more than noise at {lower} of {len(fg)} eps."
            + (
                f" {sum(r['empty maps'] for r in fg)} of the {len(fg) * ctx.metrics['num_images']}"
                f" twin maps for the new class are empty: no positive evidence for it anywhere."
                if any(r["empty maps"] for r in fg)
                else ""
            )
        )
    st, m = sat["gradcam_stats"], sat["maps"]
    pq = st["p"] * (1 - st["p"])
    conf = st["p"] >= 0.9
    conf_text = (
        f"; on the {int(conf.sum())} image{'' if int(conf.sum()) == 1 else 's'} with p >= 0.9 "
        f"the median ratio is "
        f"{np.median(st['ratio'][conf]):.3g} (median p(1 - p) {np.median(pq[conf]):.3g})"
        if conf.any()
        else ""
    )
    lines.append(
        f"Softmax versus logit Grad-CAM: the softmax map is a median {np.median(st['ratio']):.3g} "
        f"times the size of the logit map{conf_text}. Across {len(st['p'])} images the log size "
        f"ratio correlates with log p(1 - p) at r = {sat['summary']['corr']:.2f}"
        + (
            ", because dp/dz = p(1 - p) goes to 0 as p goes to 1: a saturated softmax leaves a "
            "faint map."
            if sat["summary"]["corr"] > 0.3
            else ", no clear relation on these images."
        )
        + f" What is left is contrastive (class c against the probability-weighted others): "
        f"{np.mean(st['neg_softmax']):.0%} of the softmax map is negative against "
        f"{np.mean(st['neg_logit']):.0%} of the logit map, and after the ReLU the two maps have "
        f"rank correlation {np.nanmean(st['rank_corr']):.2f} and top-k IoU "
        f"{_nanmean(st['iou']):.2f}."
    )
    a_p, a_z = sat["alpha90_p"], sat["alpha90_z"]
    earlier = int((a_p < a_z).sum())
    saturates = (
        f"the probability has covered 90% of its change by alpha = {a_p.mean():.2f} on "
        f"average, the logit by alpha = {a_z.mean():.2f}"
    )
    if sat["p_conf"].min() < 0.9:
        verdict = (
            f"These predictions are not confident (p at most {sat['p_conf'].max():.3f}), so the "
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
    lines.append(
        f"IG, logit versus probability (the {len(a_p)} most confident images, p "
        f"{_p_text(float(sat['p_conf'].min()))} to {_p_text(float(sat['p_conf'].max()))}): "
        f"along the path from black, {saturates}. {verdict} The two IG maps correlate at "
        f"{np.nanmean(sat['ig_rank_corr']):.2f} "
        f"(rank), top-k IoU {_nanmean(sat['ig_iou']):.2f}. Their totals follow completeness: the "
        f"logit-IG sums to z(x) - z(b) = {np.mean(m['logit']['diff']):.2f} on average, the "
        f"probability-IG to p(x) - p(b) = {np.mean(m['softmax']['diff']):.3f}, which can never "
        f"exceed 1."
    )
    lines.append(
        "Completeness: the worst relative error stays under 1% from "
        + "; ".join(
            f"{v if v else '> ' + str(max(cfg.completeness_steps))} steps ({o}, {mt})"
            for (o, mt), v in comp["needed"].items()
        )
        + f". Captum's convergence delta matches our own check to {comp['captum_gap']:.1e}."
    )
    rep.bullets(lines)


# -- figures ---------------------------------------------------------------------------------------


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _img(clf, x):
    return clf.to_pixels(x).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()


def _show_map(ax, m, image=None, title="", cmap="jet"):
    top = float(np.percentile(m, 99.5)) if m.max() > 0 else 1.0
    if image is not None:
        ax.imshow(image.mean(-1), cmap="gray", interpolation="nearest")
        ax.imshow(
            np.clip(m / max(top, 1e-30), 0, 1),
            cmap=cmap,
            alpha=0.5,
            vmin=0,
            vmax=1,
            interpolation="bilinear",
        )
    else:
        ax.imshow(
            np.clip(m / max(top, 1e-30), 0, 1), cmap=cmap, vmin=0, vmax=1, interpolation="nearest"
        )
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def _maps_figure(clf, x, y, names, clean, adv, eps):
    plt = _plt()
    k = len(x)
    fig, axes = plt.subplots(k, 6, figsize=(13, 2.6 * k + 0.5), squeeze=False)
    img, img_adv = _img(clf, x), _img(clf, adv["x"])
    p_clean, p_adv = clf.predict(x).cpu(), clf.predict(adv["x"]).cpu()
    cls = clf.class_names
    for i in range(k):
        c, a = int(y[i]), int(adv["pred"][i])
        ax = axes[i]
        ax[0].imshow(img[i], interpolation="nearest")
        ax[0].set_title(f"{names[i]}\nclean: {cls[c]} {float(p_clean[i, c]):.0%}", fontsize=8)
        ax[0].axis("off")
        _show_map(ax[1], clean["gradcam"][i], img[i], f"Grad-CAM ({cls[c]})")
        _show_map(ax[2], clean["ig"][i], None, f"IG ({cls[c]})", cmap="inferno")
        ax[3].imshow(img_adv[i], interpolation="nearest")
        ax[3].set_title(f"FGSM eps {eps:g}/255\nnow: {cls[a]} {float(p_adv[i, a]):.0%}", fontsize=8)
        ax[3].axis("off")
        _show_map(ax[4], adv["gradcam"][i], img_adv[i], f"Grad-CAM ({cls[a]})")
        _show_map(ax[5], adv["ig"][i], None, f"IG ({cls[a]})", cmap="inferno")
    fig.suptitle(
        "clean (left three) versus FGSM twin (right three); maps for the predicted class",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _regions_figure(rows, chance):
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    styles = {
        ("Grad-CAM", "FGSM", "its prediction"): ("o-", "tab:blue"),
        ("Grad-CAM", "FGSM", "true class"): ("o:", "tab:blue"),
        ("Grad-CAM", "noise (same L2)", "its prediction"): ("o--", "tab:gray"),
        ("IG", "FGSM", "its prediction"): ("s-", "tab:red"),
        ("IG", "FGSM", "true class"): ("s:", "tab:red"),
        ("IG", "noise (same L2)", "its prediction"): ("s--", "tab:brown"),
    }
    for (method, twin, target), (style, colour) in styles.items():
        sel = [
            r
            for r in rows
            if (r["method"], r["twin"], r["explained class"]) == (method, twin, target)
        ]
        if not sel:
            continue
        eps = [r["eps (/255)"] for r in sel]
        label = f"{method}, {twin} twin, " + (
            "true class" if target == "true class" else "its predicted class"
        )
        axes[0].plot(eps, [r["iou"] for r in sel], style, color=colour, label=label)
        axes[1].plot(eps, [r["rank_corr"] for r in sel], style, color=colour, label=label)
    axes[0].axhline(chance, color="k", lw=0.8, ls=":", label="unrelated maps")
    axes[0].set(ylabel="top-k IoU with the clean map", ylim=(0, 1.02))
    axes[1].set(ylabel="Spearman rank correlation with the clean map", ylim=(-0.2, 1.02))
    for ax in axes:
        ax.set(xscale="log", xlabel="eps (1/255)")
        ax.set_xticks(eps, [f"{e:g}" for e in eps])
        ax.minorticks_off()
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _p_text(p: float) -> str:
    """A probability that still shows how close to 1 it is: 0.9731, or 1 - 3.2e-05."""
    return f"1 - {1 - p:.1e}" if p > 0.999 else f"{p:.4f}"


def _softmax_figure(clf, x, y, names, sat, k):
    plt = _plt()
    fig, axes = plt.subplots(k, 5, figsize=(11, 2.3 * k + 0.3), squeeze=False)
    img = _img(clf, x)
    p = clf.predict(x).cpu()
    m = sat["maps"]
    for i in range(k):
        c = int(y[i])
        ax = axes[i]
        ax[0].imshow(img[i], interpolation="nearest")
        ax[0].set_title(
            f"{names[i]}\n{clf.class_names[c]}: p = {_p_text(float(p[i, c]))}", fontsize=8
        )
        ax[0].axis("off")
        for j, (o, method) in enumerate(
            (("logit", "gradcam"), ("softmax", "gradcam"), ("logit", "ig"), ("softmax", "ig"))
        ):
            mp = m[o][method][i]
            name = "Grad-CAM" if method == "gradcam" else "IG"
            _show_map(
                ax[j + 1],
                mp,
                img[i] if method == "gradcam" else None,
                f"{name}, {o}\nmax {mp.max():.2e}",
                cmap="jet" if method == "gradcam" else "inferno",
            )
    fig.tight_layout()
    return fig


def _saturation_figure(sat):
    plt = _plt()
    st = sat["gradcam_stats"]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4))
    pq = np.clip(st["p"] * (1 - st["p"]), 1e-9, None)
    ax1.scatter(pq, st["ratio"], s=14, alpha=0.7, c=st["p"], cmap="viridis", vmin=0, vmax=1)
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
    a = sat["alphas"]
    for p_row, z_row in zip(sat["p_path"], sat["z_path"], strict=True):
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


def _completeness_figure(comp):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    styles = {"logit": "-", "softmax": "--"}
    markers = {"riemann_trapezoid": "o", "gausslegendre": "s"}
    for o, m in comp["needed"]:
        sel = [r for r in comp["rows"] if r["output"] == o and r["method"] == m]
        ax.plot(
            [r["steps"] for r in sel],
            [max(r["max rel. error"], 1e-9) for r in sel],
            styles[o],
            marker=markers[m],
            label=f"{o}, {m}",
        )
    ax.axhline(0.01, color="k", ls=":", lw=1)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="IG steps (n_steps)",
        ylabel="worst relative completeness error",
    )
    steps = sorted({r["steps"] for r in comp["rows"]})
    ax.set_xticks(steps, [str(s) for s in steps])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
