"""Section 2: clean versus adversarial maps. Does an FGSM twin move where the model "looks"?

Each image gets two twins per eps: its FGSM twin, and a Gaussian-noise twin with the same L2 norm
(the control: any perturbation of that size). `COMPARISONS` lists which twin's map, for which
class, is compared with the clean map; it drives the computation, the figure's styles and the
findings. A row of results is keyed by identifiers (eps, comparison, method); display names are
applied only where a table or the metrics are written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np

from . import figures
from .images import Batch, Images, fgsm
from .measures import attribution_maps, nanmean


@dataclass(frozen=True)
class Comparison:
    """The clean map of each image against the map of one twin, explaining one class."""

    key: str  # identifier of its rows
    twin: Literal["fgsm", "noise"]  # which twin
    target: Literal["prediction", "true"]  # the class explained: the twin's prediction or y
    linestyle: str  # in the regions figure (marker and colour: the method, and the twin)
    finding: str  # its sentence in the findings; {values}: one `value` per eps
    value: str = "{iou:.2f}"  # one eps of a row, in the findings


COMPARISONS = (
    Comparison(
        "fgsm_prediction",
        "fgsm",
        "prediction",
        "-",
        "the FGSM twin's map for the class it is now given overlaps the clean map with "
        "top-{topk:.0%} IoU {values} (unrelated maps: {chance:.2f})",
        value="{iou:.2f} at eps {eps:g} ({flipped:.0%} misclassified)",
    ),
    Comparison("fgsm_true", "fgsm", "true", ":", "Its map for the true class keeps {values}"),
    # noise rarely changes the prediction: its map for the true class would repeat this row
    Comparison(
        "noise_prediction",
        "noise",
        "prediction",
        "--",
        "A Gaussian-noise twin of the same L2 norm keeps {values}",
    ),
)
HEADLINE = "fgsm_prediction"  # the comparison shown in the maps figure and the headline metrics
CONTROL = "noise_prediction"  # what the headline is measured against


class Method(NamedTuple):
    name: str  # display name
    marker: str  # in the regions figure
    colours: dict[str, str]  # per twin, in the regions figure


METHODS = {
    "gradcam": Method("Grad-CAM", "o", {"fgsm": "tab:blue", "noise": "tab:gray"}),
    "ig": Method("IG", "s", {"fgsm": "tab:red", "noise": "tab:brown"}),
}
TWIN_NAMES = {"fgsm": "FGSM", "noise": "noise (same L2)"}
TARGET_NAMES = {"prediction": "its prediction", "true": "true class"}
_BY_KEY = {c.key: c for c in COMPARISONS}


@dataclass(frozen=True)
class Regions:
    rows: list[dict]  # one per (eps, comparison, method): region measures averaged over images
    clean: dict[str, np.ndarray]  # method -> clean maps (B, H, W) of the true class
    shown: dict[float, dict[str, Any]]  # eps -> the HEADLINE twin: gradcam, ig, x, pred


def series(rows: list[dict], comparison: str, method: str) -> list[dict]:
    """The rows of one comparison and method, one per eps."""
    return [r for r in rows if r["comparison"] == comparison and r["method"] == method]


def make_twins(clf, x, y, eps: float, gen) -> dict:
    """The FGSM twin of x at eps (1/255), and a noise twin of the same L2 norm: twin -> x."""
    from nndl.methods.fgsm import clamp, matched_gaussian_noise

    x_adv = fgsm(clf, x, y, eps)
    # control: one Gaussian draw with the same L2 norm as each FGSM perturbation
    delta = clf.to_pixels(x_adv) - clf.to_pixels(x)
    noise = matched_gaussian_noise(delta.cpu(), "l2", 1, gen)[0].to(x.device)
    return {
        "fgsm": x_adv,
        "noise": clf.normalize(clamp(clf.to_pixels(x) + noise, 0.0, 1.0)),
    }


def clean_vs_adversarial(ctx, cfg, clf, images: Images) -> Regions:
    """Maps of the clean images and of their twins; region measures per comparison."""
    import torch

    x, y, baseline = images.explained.x, images.explained.y, images.baseline
    gen = torch.Generator().manual_seed(ctx.seed)
    clean = attribution_maps(cfg, clf, x, y, baseline)
    rows, shown = [], {}
    for eps in cfg.epsilons:
        twins = make_twins(clf, x, y, eps, gen)
        preds = {twin: clf.predict(xt).argmax(1) for twin, xt in twins.items()}
        for c in COMPARISONS:
            pred = preds[c.twin]
            target = pred if c.target == "prediction" else y
            maps = attribution_maps(cfg, clf, twins[c.twin], target, baseline)
            if c.key == HEADLINE:
                shown[eps] = {**maps, "x": twins[c.twin], "pred": pred}
            for method in METHODS:
                rows.append(_region_row(cfg, eps, c, method, clean[method], maps[method], pred, y))
    return Regions(rows, clean, shown)


def _region_row(cfg, eps, c: Comparison, method, clean, twin, pred, y) -> dict:
    """Region measures between clean and twin maps (B, H, W), averaged over the images."""
    from nndl.methods import attribution as A

    per = [A.compare_maps(clean[i], twin[i], cfg.topk) for i in range(len(clean))]
    return {
        "eps": eps,
        "comparison": c.key,
        "method": method,
        "flipped": float((pred != y).float().mean()),  # share of twins misclassified
        **{k: nanmean([p[k] for p in per]) for k in per[0]},
        "iou_sd": float(np.nanstd([p["iou"] for p in per])),
        "empty_maps": int(sum(np.ptp(m) == 0 for m in twin)),  # Grad-CAMs the ReLU zeroed
    }


def _metrics_record(r: dict) -> dict:
    """A row as metrics.json stores it (the names it has always had there)."""
    c = _BY_KEY[r["comparison"]]
    return {
        "eps (/255)": r["eps"],
        "twin": TWIN_NAMES[c.twin],
        "explained class": TARGET_NAMES[c.target],
        "method": METHODS[r["method"]].name,
        "flipped": r["flipped"],
        "iou": r["iou"],
        "rank_corr": r["rank_corr"],
        "com_shift": r["com_shift"],
        "mass_in_ref_topk": r["mass_in_ref_topk"],
        "ref_mass_in_ref_topk": r["ref_mass_in_ref_topk"],
        "iou_sd": r["iou_sd"],
        "empty maps": r["empty_maps"],
    }


def _table_row(r: dict) -> dict:
    c = _BY_KEY[r["comparison"]]
    return {
        "eps (/255)": r["eps"],
        "twin": TWIN_NAMES[c.twin],
        "explained": TARGET_NAMES[c.target],
        "method": METHODS[r["method"]].name,
        "twins misclassified": r["flipped"],
        "top-k IoU": r["iou"],
        "IoU sd": r["iou_sd"],
        "empty twin maps": r["empty_maps"],
        "rank corr.": r["rank_corr"],
        "mass centre shift": r["com_shift"],
        "twin mass in clean top-k": r["mass_in_ref_topk"],
        "clean mass in clean top-k": r["ref_mass_in_ref_topk"],
    }


def demo_eps(cfg) -> float:
    """The eps of the twins shown: the one closest to `demo_epsilon`."""
    return min(cfg.epsilons, key=lambda e: abs(e - cfg.demo_epsilon))


def chance_iou(cfg) -> float:
    """Mean top-k IoU of two unrelated maps: k / (2 - k)."""
    return cfg.topk / (2 - cfg.topk)


def clean_vs_adversarial_section(ctx, cfg, clf, images: Images, regions: Regions) -> None:
    rep = ctx.report
    rep.section("Clean versus adversarial: where the model looks")
    eps = demo_eps(cfg)
    k = min(cfg.num_show, len(images.explained))
    rep.figure(
        _maps_figure(
            clf,
            images.explained[:k],
            regions.clean,
            {key: v[:k] for key, v in regions.shown[eps].items()},
            eps,
        ),
        "clean_vs_adversarial",
        f"Grad-CAM overlays and IG maps of the clean images (for their true class) and of "
        f"their FGSM twins at eps = {eps:g}/255 (for the class the model now predicts)",
    )
    chance = chance_iou(cfg)
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
        [_table_row(r) for r in regions.rows],
        "regions",
        "Clean map versus twin map (means over the images)",
    )
    rep.figure(
        _regions_figure(regions.rows, chance),
        "regions",
        "Top-k IoU and rank correlation between clean and twin maps versus eps",
    )
    demo = {(r["comparison"], r["method"]): r for r in regions.rows if r["eps"] == eps}
    ctx.metrics.update(
        regions=[_metrics_record(r) for r in regions.rows],
        iou_gradcam_demo=demo[(HEADLINE, "gradcam")]["iou"],
        iou_ig_demo=demo[(HEADLINE, "ig")]["iou"],
    )


def findings(cfg, rows: list[dict], num_images: int) -> list[str]:
    """One finding per method: each comparison's sentence, then the headline against control."""
    lines = []
    for method, m in METHODS.items():
        sentences = []
        for c in COMPARISONS:
            values = ", ".join(c.value.format(**r) for r in series(rows, c.key, method))
            sentences.append(
                c.finding.format(values=values, topk=cfg.topk, chance=chance_iou(cfg)) + "."
            )
        head, control = series(rows, HEADLINE, method), series(rows, CONTROL, method)
        lower = sum(a["iou"] < b["iou"] for a, b in zip(head, control, strict=True))
        sentences.append(
            f"FGSM moves the important region more than noise at {lower} of {len(head)} eps."
        )
        if any(r["empty_maps"] for r in head):
            sentences.append(
                f"{sum(r['empty_maps'] for r in head)} of the {len(head) * num_images} twin maps "
                f"for the new class are empty: no positive evidence for it anywhere."
            )
        lines.append(f"{m.name}: " + " ".join(sentences))
    return lines


# -- figures ---------------------------------------------------------------------------------------


def _maps_figure(clf, shown: Batch, clean, adv, eps):
    """Per image: the clean image and its maps, then its FGSM twin and the twin's maps."""
    plt = figures.plt()
    x, y, names = shown.x, shown.y, shown.names
    k = len(x)
    fig, axes = plt.subplots(k, 6, figsize=(13, 2.6 * k + 0.5), squeeze=False)
    img, img_adv = figures.image(clf, x), figures.image(clf, adv["x"])
    p_clean, p_adv = clf.predict(x).cpu(), clf.predict(adv["x"]).cpu()
    cls = clf.class_names
    for i in range(k):
        c, a = int(y[i]), int(adv["pred"][i])
        ax = axes[i]
        ax[0].imshow(img[i], interpolation="nearest")
        ax[0].set_title(f"{names[i]}\nclean: {cls[c]} {float(p_clean[i, c]):.0%}", fontsize=8)
        ax[0].axis("off")
        figures.show_map(ax[1], clean["gradcam"][i], img[i], f"Grad-CAM ({cls[c]})")
        figures.show_map(ax[2], clean["ig"][i], None, f"IG ({cls[c]})", cmap="inferno")
        ax[3].imshow(img_adv[i], interpolation="nearest")
        ax[3].set_title(f"FGSM eps {eps:g}/255\nnow: {cls[a]} {float(p_adv[i, a]):.0%}", fontsize=8)
        ax[3].axis("off")
        figures.show_map(ax[4], adv["gradcam"][i], img_adv[i], f"Grad-CAM ({cls[a]})")
        figures.show_map(ax[5], adv["ig"][i], None, f"IG ({cls[a]})", cmap="inferno")
    fig.suptitle(
        "clean (left three) versus FGSM twin (right three); maps for the predicted class",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _regions_figure(rows, chance):
    """Top-k IoU and rank correlation with the clean map against eps, a line per comparison."""
    plt = figures.plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    legend = {"prediction": "its predicted class", "true": "true class"}
    for method, m in METHODS.items():
        for c in COMPARISONS:
            sel = series(rows, c.key, method)
            if not sel:
                continue
            eps = [r["eps"] for r in sel]
            label = f"{m.name}, {TWIN_NAMES[c.twin]} twin, {legend[c.target]}"
            style, colour = m.marker + c.linestyle, m.colours[c.twin]
            axes[0].plot(eps, [r["iou"] for r in sel], style, color=colour, label=label)
            axes[1].plot(eps, [r["rank_corr"] for r in sel], style, color=colour, label=label)
    axes[0].axhline(chance, color="k", lw=0.8, ls=":", label="unrelated maps")
    axes[0].set(ylabel="top-k IoU with the clean map", ylim=(0, 1.02))
    axes[1].set(ylabel="Spearman rank correlation with the clean map", ylim=(-0.2, 1.02))
    eps = list(dict.fromkeys(r["eps"] for r in rows))
    for ax in axes:
        ax.set(xscale="log", xlabel="eps (1/255)")
        ax.set_xticks(eps, [f"{e:g}" for e in eps])
        ax.minorticks_off()
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig
