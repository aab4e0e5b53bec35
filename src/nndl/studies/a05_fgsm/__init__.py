"""a05: FGSM adversarial attack.

Question: how little must an image change for a CNN to misclassify it, when the change follows
the sign of the loss gradient (FGSM, written by hand, untargeted and targeted)? And can random
Gaussian noise of the same size do the same?

    nndl run a05                          # quick: real ImageNet EfficientNet-Lite0, 6 photos, ~2 min
    nndl run a05 --set images=a.jpg,b.png # your photographs too
    nndl run a05 --profile full           # ResNet-50 ImageNet weights (download or weights_file)

What to expect (quick, seed 0): EfficientNet-Lite0's real ImageNet weights (bundled in a package)
classify the six bundled photographs as their ImageNet classes (tiger cat, espresso, missile,
moped, palace, daisy). FGSM flips five of the six at eps = 0.25/255 and all at 2/255, while
Gaussian noise of the same L-infinity norm flips none below 8/255, and noise of the same L2 norm
needs tens of times FGSM's L2 norm to flip as many. One targeted FGSM step does not reach the least-likely
of 1,000 classes. The smoke profile attacks a small CNN trained on rendered shapes instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from nndl import classifiers, detectors
from nndl.classifiers import ClassifierOptions
from nndl.config import opt
from nndl.data.photos import PHOTO_CLASSES
from nndl.expect import Expect
from nndl.registry import study
from nndl.studies.a05_fgsm import figures


@dataclass(frozen=True)
class Config(ClassifierOptions):
    num_attack: int = opt(
        250, "held-out images for the sweeps (the correctly classified are attacked)"
    )
    epsilons: tuple[float, ...] = opt(
        (0.0625, 0.125, 0.25, 0.5, 1.0, 2.0, 8.0, 32.0),
        "FGSM step sizes eps, in 1/255 pixel units",
    )
    demo_epsilon: float = opt(2.0, "eps (1/255) of the image / perturbation / adversarial figure")
    target_class: str = opt(
        "", "targeted FGSM goal: a class name; '' = each image's least-likely class"
    )
    noise_draws: int = opt(24, "Gaussian noise draws per image and perturbation size")
    batch_size_eval: int = opt(48, "images per forward pass when evaluating")

    PROFILES: ClassVar[dict] = classifiers.merge_profiles(
        classifiers.PROFILES,
        {
            "smoke": {
                "num_attack": 60,
                "epsilons": (2.0, 8.0, 32.0),
                "demo_epsilon": 8.0,
                "noise_draws": 2,
                "batch_size_eval": 512,
            },
            "full": {"noise_draws": 32, "batch_size_eval": 32},
        },
    )

    def plan(self, data_root) -> list[str]:
        lines = [f"classifier: {classifiers.weights_plan(self)}"]
        if classifiers.is_small_cnn(self):
            lines.append(
                f"train SmallCNN (width {self.width}) on {self.num_train:,} rendered shapes "
                f"for {self.num_epochs} epochs (skipped when cached), attack "
                f"{self.num_attack} held-out images"
            )
            n = self.num_attack
        else:
            n = len(self.photos) + len(self.images)
            lines.append(
                f"images: photos {', '.join(self.photos) or '-'}; "
                f"yours: {', '.join(self.images) or '-'}"
            )
        k = len(self.epsilons)
        lines.append(
            f"{k} eps x (untargeted + targeted FGSM) and 2 x {self.noise_draws} noise draws "
            f"per image: ~{n * k * (4 + 2 * self.noise_draws):,} forward passes"
        )
        return lines


# What the headline numbers should be (the verdict table that opens the report; nndl.expect).
# Quick: EfficientNet-Lite0 (bundled ImageNet weights) on the bundled photos, measured clean 6/6,
# FGSM 100% and L2-matched noise 15% at eps 2/255. Full: ResNet-50 on ImageNet-class photos.
EXPECT = (
    Expect(
        "clean_acc",
        quick=(0.8, 1.0),
        full=(0.7, 1.0),
        source="ResNet-50 top-1 on ImageNet val 76.1% (torchvision IMAGENET1K_V1); single photos "
        "of common classes are mostly right",
    ),
    Expect(
        "fgsm_success_demo",
        quick=(0.8, 1.0),
        full=(0.8, 1.0),
        source="Goodfellow et al. 2015 / Kurakin et al. 2017: FGSM at eps 2-8/255 fools an "
        "undefended ImageNet CNN on most images",
    ),
    Expect(
        "noise_l2_success_demo",
        quick=(0.0, 0.4),
        full=(0.0, 0.3),
        source="random noise of the same size rarely flips a prediction (Szegedy et al. 2014; "
        "Fawzi et al. 2016: robustness to random noise ~sqrt(d) times larger)",
    ),
)


@study(
    "a05",
    "fgsm",
    "FGSM adversarial attack",
    config=Config,
    datasets=("shapes", "photos"),
    headline=("clean_acc", "fgsm_success_demo", "noise_l2_success_demo"),
    expect=EXPECT,
)
def run(ctx) -> None:
    cfg: Config = ctx.config
    classifiers.check_options(cfg)
    s = attack_set(ctx, cfg)  # the classifier, its images, the ones it gets right
    _classifier_section(ctx, cfg, s)
    if len(s.x) == 0:
        raise RuntimeError("the classifier gets no image right; nothing to attack")
    s.targets = _targets(cfg, s.clf, s.x, s.y)
    with ctx.timer("demo_s"):
        _demo_section(ctx, cfg, s)
    with ctx.timer("sweep_s"):
        rows = _sweep(ctx, cfg, s)
    _sweep_section(ctx, cfg, s.clf, rows, len(s.x))
    with ctx.timer("masking_check_s"):
        _masking_check(ctx, s.clf, s.x, s.y, rows)


@dataclass
class AttackSet:
    """The classifier, its images and clean predictions; the correctly classified ones (x, y in
    the model's input space) are what FGSM attacks, `targets` the targeted attack's goals."""

    clf: Any
    images: Any
    probs: Any  # clean class probabilities of every image
    correct: Any  # which images the classifier gets right
    x: Any
    y: Any
    targets: Any = None

    def fgsm(self, eps255: float, targeted: bool = False):
        from nndl.methods.fgsm import fgsm

        clf = self.clf
        goal = self.targets if targeted else self.y
        return fgsm(clf.model, self.x, goal, eps255 / 255, targeted=targeted, lo=clf.lo,
                    hi=clf.hi, pixel_scale=clf.pixel_scale)  # fmt: skip


def attack_set(ctx, cfg: Config) -> AttackSet:
    with ctx.timer("classifier_s"):
        clf = classifiers.load_classifier(cfg, ctx)
    images = classifiers.attack_images(cfg, clf, ctx, max_images=cfg.num_attack)
    x_all = clf.normalize(images.pixels.to(ctx.device))  # input space (N, 3, H, W)
    y_all = images.labels.to(ctx.device)
    probs = clf.predict(x_all, cfg.batch_size_eval)
    correct = probs.argmax(1) == y_all
    s = AttackSet(clf, images, probs, correct, x_all[correct], y_all[correct])
    ctx.metrics.update(
        clean_acc=correct.float().mean().item(), num_images=len(x_all), num_attacked=len(s.x)
    )
    return s


# -- sections --------------------------------------------------------------------------------------


def _classifier_section(ctx, cfg, s: AttackSet) -> None:
    clf, images, probs = s.clf, s.images, s.probs
    clean_acc, num_correct = ctx.metrics["clean_acc"], len(s.x)
    rep = ctx.report
    rep.section("The classifier under attack")
    if classifiers.is_small_cnn(cfg):
        meta = clf.meta
        how = (
            f"loaded from the artifact cache, trained earlier by {meta['trained_in_run']}"
            if clf.cached
            else "trained in this run and stored in the artifact cache for a06"
        )
        rep.text(
            f"No ImageNet weights exist offline, so the classifier is a SmallCNN "
            f"({sum(p.numel() for p in clf.model.parameters()):,} parameters) trained from random "
            f"initialisation on {meta['num_train']:,} rendered shapes images "
            f"({cfg.num_classes} classes, 32x32) for {cfg.num_epochs} epoch"
            f"{'s' if cfg.num_epochs > 1 else ''}: {how}. Every number below is about this "
            f"stand-in, not about an ImageNet model."
        )
        rep.table(
            [{k: v for k, v in e.items()} for e in meta["history"]],
            "training",
            "Training of the classifier (shared loop; loss and accuracy on the training images)",
        )
        ctx.timings["classifier_train_s"] = meta["train_seconds"] if not clf.cached else 0.0
    else:
        rep.text(
            f"{clf.weights}. Preprocessing: shorter side resized to {clf.resize_size}, centre "
            f"crop {clf.image_size} ({clf.interpolation}), normalised with mean "
            f"{_triple(clf.mean)} and std {_triple(clf.std)}. Each image's clean "
            f"top-1 class is the label the attack moves away from; for the bundled photographs "
            f"the ImageNet class they show is given for comparison."
        )
        rows = []
        for name, p in zip(images.names, probs.cpu(), strict=True):
            expected = PHOTO_CLASSES.get(name)
            rows.append(
                {
                    "image": name,
                    "clean top-1": clf.class_names[int(p.argmax())],
                    "p": float(p.max()),
                    "ImageNet class shown": "" if expected is None else expected[1],
                    "p of that class": None
                    if not expected or expected[0] is None
                    else float(p[expected[0]]),
                }
            )
        rep.table(rows, "images", "The images and the model's clean predictions")
    rep.text(
        f"Clean top-1 accuracy on {len(images.names)} images: {clean_acc:.1%} (labels: "
        f"{images.label_note}). The {num_correct} correctly classified images are attacked. FGSM "
        f"works in the model's input space (normalised), moves every pixel by exactly eps in pixel "
        f"units (eps/std per channel in input space) and clamps to the valid pixel range [0, 1]."
    )
    rep.math(
        r"x_{adv} = \mathrm{clip}_{[0,1]}\big(x + \epsilon\,\mathrm{sign}(\nabla_x "
        r"\mathcal{L}(f(x), y))\big), \qquad x_{adv}^{(t)} = \mathrm{clip}_{[0,1]}\big(x - "
        r"\epsilon\,\mathrm{sign}(\nabla_x \mathcal{L}(f(x), t))\big)",
        "Untargeted (away from the true class y) and targeted (towards class t) FGSM:",
    )


def _triple(t) -> str:
    return "(" + ", ".join(f"{float(v):.3g}" for v in t.flatten()) + ")"


def _targets(cfg, clf, x, y):
    """Targeted FGSM's goal per image: the named class, else the least-likely class."""
    import torch

    from nndl.errors import ConfigError, did_you_mean

    if cfg.target_class:
        if cfg.target_class not in clf.class_names:
            raise ConfigError(
                f"Unknown target_class '{cfg.target_class}'."
                f"{did_you_mean(cfg.target_class, clf.class_names)}"
            )
        t = torch.full_like(y, clf.class_names.index(cfg.target_class))
        return torch.where(t == y, (t + 1) % clf.num_classes, t)  # never the true class
    return clf.predict(x).argmin(1)


def _demo_section(ctx, cfg, s: AttackSet) -> None:
    import torch

    clf, images, x, y, targets, attack, correct = (
        s.clf, s.images, s.x, s.y, s.targets, s.fgsm, s.correct
    )  # fmt: skip
    rep = ctx.report
    eps = cfg.demo_epsilon
    x_adv, x_tgt = attack(eps), attack(eps, targeted=True)
    p_adv, p_tgt = clf.predict(x_adv), clf.predict(x_tgt)
    # the most confidently classified image that both attacks fool (else that the untargeted
    # one flips, else any): the clearest example
    p_true = clf.predict(x).gather(1, y[:, None]).squeeze(1)
    flips = p_adv.argmax(1) != y
    for candidates in (flips & (p_tgt.argmax(1) == targets), flips, torch.ones_like(flips)):
        if candidates.any():
            i = int(torch.where(candidates, p_true, -1.0).argmax())
            break
    name = [n for n, c in zip(images.names, correct.tolist(), strict=True) if c][i]
    batch = torch.stack([x[i], x_adv[i], x_tgt[i]])
    pixels = clf.to_pixels(batch).cpu()
    probs = clf.predict(batch).cpu()
    t = int(targets[i])
    rep.section("One image, its perturbation and its adversarial twin")
    rep.figure(
        figures.triptych(pixels, probs, clf.class_names, eps, int(y[i]), t, name),
        "triptych",
        f"{name}: clean image, FGSM perturbation (amplified to fill the colour range) and "
        f"adversarial image at eps = {eps:g}/255, untargeted (top) and targeted towards "
        f"'{clf.class_names[t]}' (bottom), with the top-5 predictions",
    )
    rows = []
    for k in range(5):
        row = {"rank": k + 1}
        for label, p in (("clean", probs[0]), ("untargeted", probs[1]), ("targeted", probs[2])):
            c = int(p.argsort(descending=True)[k])
            row[f"{label} class"], row[f"{label} p"] = clf.class_names[c], float(p[c])
        rows.append(row)
    rep.table(rows, "top5", f"Top-5 predictions for {name} (eps = {eps:g}/255)")
    delta = (pixels[1] - pixels[0]).abs()
    ctx.metrics.update(
        demo_linf=float(delta.max()),
        demo_true_p_clean=float(probs[0, y[i]]),
        demo_true_p_adv=float(probs[1, y[i]]),
        demo_target_p=float(probs[2, t]),
    )
    rep.text(
        f"The perturbation changes no pixel by more than {float(delta.max()) * 255:.2f}/255 (its "
        f"L-infinity norm is eps, as FGSM's definition requires), yet the probability of the true "
        f"class '{clf.class_names[int(y[i])]}' falls from {float(probs[0, y[i]]):.1%} to "
        f"{float(probs[1, y[i]]):.1%} and the model now says "
        f"'{clf.class_names[int(probs[1].argmax())]}'"
        f" ({float(probs[1].max()):.1%}). The targeted step brings '{clf.class_names[t]}' from "
        f"{float(probs[0, t]):.2%} to {float(probs[2, t]):.1%}"
        f"{' and makes it the top-1' if int(probs[2].argmax()) == t else ''}. Over all "
        f"{len(x)} attacked images at this eps, the untargeted step flips "
        f"{float((p_adv.argmax(1) != y).float().mean()):.1%} and the targeted step reaches its "
        f"target on {float((p_tgt.argmax(1) == targets).float().mean()):.1%}."
    )


def _sweep(ctx, cfg, s: AttackSet) -> list[dict]:
    """Per eps: FGSM (untargeted, targeted) and Gaussian noise of matched L-inf and L2 norms."""
    import torch

    clf, x, y, targets, attack = s.clf, s.x, s.y, s.targets, s.fgsm

    from nndl.methods.fgsm import clamp, matched_gaussian_noise

    gen = torch.Generator().manual_seed(ctx.seed)
    p_clean_true = clf.predict(x).gather(1, y[:, None]).squeeze(1)
    dim = x[0].numel()
    rows = []
    for eps in cfg.epsilons:
        x_adv = attack(eps)
        p = clf.predict(x_adv, cfg.batch_size_eval)
        p_t = clf.predict(attack(eps, targeted=True), cfg.batch_size_eval)
        delta = clf.to_pixels(x_adv) - clf.to_pixels(x)  # pixel units, after the clamp
        row = {
            "eps (/255)": eps,
            "fgsm success": _rate(p.argmax(1) != y),
            "fgsm true p": p.gather(1, y[:, None]).mean().item(),
            "targeted success": _rate(p_t.argmax(1) == targets),
            "fgsm L2": delta.flatten(1).norm(dim=1).mean().item(),
            "fgsm Linf": delta.flatten(1).abs().amax(1).mean().item(),
        }
        for norm in ("linf", "l2"):
            noise = matched_gaussian_noise(delta.cpu(), norm, cfg.noise_draws, gen).to(x.device)
            pix = clf.to_pixels(x)
            noisy = torch.cat([clf.normalize(clamp(pix + n, 0.0, 1.0)) for n in noise])
            applied = (clf.to_pixels(noisy) - pix.repeat(cfg.noise_draws, 1, 1, 1)).flatten(1)
            pn = clf.predict(noisy, cfg.batch_size_eval)
            yy = y.repeat(cfg.noise_draws)
            row[f"{norm} noise success"] = _rate(pn.argmax(1) != yy)
            row[f"{norm} noise true p"] = pn.gather(1, yy[:, None]).mean().item()
            row[f"{norm} noise L2"] = applied.norm(dim=1).mean().item()
            row[f"{norm} noise Linf"] = applied.abs().amax(1).mean().item()
        rows.append(row)
    ctx.metrics["clean_true_p"] = p_clean_true.mean().item()
    ctx.metrics["input_dim"] = dim
    ctx.metrics["sweep"] = rows
    return rows


def _rate(hit) -> float:
    return hit.float().mean().item()


def size_for_success(sizes, success, goal: float) -> tuple[float, str]:
    """The perturbation size at which the success rate first reaches `goal`.

    Log-linear interpolation along the curve's monotone envelope. Returns (size, how): how "="
    (interpolated), "<=" (already reached at the smallest size) or ">" (never reached: size is
    the largest one tried, a lower bound).
    """
    sizes = np.asarray(sizes, float)
    succ = np.maximum.accumulate(np.asarray(success, float))
    if succ[-1] < goal:
        return float(sizes[-1]), ">"
    k = int(np.argmax(succ >= goal))
    if k == 0:
        return float(sizes[0]), "<="
    s0, s1 = succ[k - 1], succ[k]
    w = (goal - s0) / (s1 - s0) if s1 > s0 else 1.0
    return float(np.exp(np.log(sizes[k - 1]) + w * np.log(sizes[k] / sizes[k - 1]))), "="


def noise_factors(rows: list[dict], shares=(0.25, 0.5, 0.75)) -> list[dict]:
    """For each share of flipped predictions: the size FGSM needs, the size matched Gaussian
    noise needs (L2 for L2-matched noise, L-infinity for L-infinity-matched), and their ratio
    (how many times larger the noise must be), with ">=" / ">" where it is only a lower bound."""
    out = []
    for share in shares:
        row: dict = {"share flipped": share}
        for norm, fgsm_key, noise_key in (
            ("l2", "fgsm L2", "l2 noise L2"),
            ("linf", "fgsm Linf", "linf noise Linf"),
        ):
            f = size_for_success(
                [r[fgsm_key] for r in rows], [r["fgsm success"] for r in rows], share
            )
            n = size_for_success(
                [r[noise_key] for r in rows], [r[f"{norm} noise success"] for r in rows], share
            )
            row[f"fgsm_{norm}"], row[f"noise_{norm}"] = f, n
            if f[1] == ">":  # FGSM itself never gets there: nothing to compare
                row[f"factor_{norm}"], row[f"factor_{norm}_bound"] = None, None
            else:  # FGSM's size is exact or an upper bound, the noise's exact or a lower bound
                row[f"factor_{norm}"] = n[0] / f[0]
                row[f"factor_{norm}_bound"] = (
                    ">" if n[1] == ">" else "=" if (f[1], n[1]) == ("=", "=") else ">="
                )
        out.append(row)
    return out


def _size(v, scale: float = 1.0, unit: str = "") -> str:
    return f"{'' if v[1] == '=' else v[1] + ' '}{v[0] * scale:.3g}{unit}"


def _factor(row, norm) -> str:
    f, bound = row[f"factor_{norm}"], row[f"factor_{norm}_bound"]
    if f is None:
        return ""
    return f"{'' if bound == '=' else bound + ' '}{f:.1f}x"


def _sweep_section(ctx, cfg, clf, rows, n) -> None:
    rep = ctx.report
    rep.section("Epsilon sweep")
    rep.text(
        f"FGSM at every eps on the {n} correctly classified images: the share whose top-1 "
        f"prediction changes (untargeted) or becomes the target (targeted), and the mean "
        f"probability of the true class (clean: {ctx.metrics['clean_true_p']:.1%})."
    )
    rep.figure(
        figures.sweep_figure(rows),
        "eps_sweep",
        "FGSM success rate and true-class confidence versus eps",
    )
    rep.table(
        [
            {
                "eps (/255)": r["eps (/255)"],
                "FGSM success": r["fgsm success"],
                "targeted success": r["targeted success"],
                "FGSM true p": r["fgsm true p"],
                "noise Linf-matched success": r["linf noise success"],
                "noise Linf-matched true p": r["linf noise true p"],
                "noise L2-matched success": r["l2 noise success"],
                "noise L2-matched true p": r["l2 noise true p"],
                "FGSM L2 (px)": r["fgsm L2"],
            }
            for r in rows
        ],
        "sweep",
        "FGSM and Gaussian noise of matched norm at every eps (success = "
        "share of the correctly classified images whose prediction changes; true p = mean "
        "true-class probability)",
    )

    rep.section("Can Gaussian noise do the same?")
    rep.text(
        f"For every image and eps, {cfg.noise_draws} Gaussian noise draws are rescaled to the "
        f"L-infinity norm of that image's FGSM perturbation (the same largest pixel change) and "
        f"another {cfg.noise_draws} to its L2 norm (the same energy), added in pixel space and "
        f"clamped to [0, 1] like FGSM ({n} images x {cfg.noise_draws} draws = "
        f"{n * cfg.noise_draws:,} noisy images per point)."
    )
    rep.figure(
        figures.noise_figure(rows, ctx.metrics["clean_true_p"]),
        "noise_vs_fgsm",
        "FGSM versus Gaussian noise of matched L-infinity and L2 norm: success rate and "
        "drop of the true-class probability versus eps, and success rate versus the L2 norm "
        "each perturbation actually has (after clamping)",
    )
    factors = noise_factors(rows)
    rep.table(
        [
            {
                "share flipped": f"{r['share flipped']:.0%}",
                "FGSM L2": _size(r["fgsm_l2"]),
                "noise L2": _size(r["noise_l2"]),
                "L2 factor": _factor(r, "l2"),
                "FGSM eps": _size(r["fgsm_linf"], 255, "/255"),
                "noise Linf": _size(r["noise_linf"], 255, "/255"),
                "Linf factor": _factor(r, "linf"),
            }
            for r in factors
        ],
        "noise_factor",
        "Perturbation size needed to flip a given share of the predictions (interpolated along "
        "the sweep; L2 in pixel units, 0-1 scale; '>': not reached even by the largest size of "
        "the sweep) and how many times larger Gaussian noise must be than FGSM",
    )
    demo = min(rows, key=lambda r: abs(r["eps (/255)"] - cfg.demo_epsilon))
    ctx.metrics.update(
        fgsm_success_demo=demo["fgsm success"],
        noise_l2_success_demo=demo["l2 noise success"],
        noise_linf_success_demo=demo["linf noise success"],
        noise_factors=[{k: v for k, v in r.items()} for r in factors],
    )
    rep.section("Findings")
    rep.bullets(_findings(rows, factors, demo, n))


def _masking_check(ctx, clf, x, y, rows) -> None:
    """Gradient-masking check: 5 steps of PGD at the eps where FGSM flips closest to half."""
    from nndl.methods.fgsm import pgd

    row = min(rows, key=lambda r: abs(r["fgsm success"] - 0.5))
    eps255 = row["eps (/255)"]
    x_adv = pgd(clf.model, x, y, eps255 / 255, lo=clf.lo, hi=clf.hi, pixel_scale=clf.pixel_scale)
    pred = clf.predict(x_adv, ctx.config.batch_size_eval).argmax(1)
    pgd_success = (pred != y).float().mean().item()
    ctx.metrics.update(pgd_eps_check=eps255, pgd_success_check=pgd_success)
    ctx.check(detectors.gradient_masking(row["fgsm success"], pgd_success))


def _findings(rows, factors, demo, n) -> list[str]:
    first = next((r for r in rows if r["fgsm success"] >= 0.5), None)
    peak = max(rows, key=lambda r: r["fgsm success"])
    lines = []
    if first:
        lines.append(
            f"FGSM flips half or more of the {n} correctly classified images from eps = "
            f"{first['eps (/255)']:g}/255 on ({first['fgsm success']:.1%}; mean true-class "
            f"probability {first['fgsm true p']:.1%}); at most {peak['fgsm success']:.1%} "
            f"(eps = {peak['eps (/255)']:g}/255)."
        )
    else:
        lines.append(
            f"FGSM never flips half of the images in this sweep; at most "
            f"{peak['fgsm success']:.1%} (eps = {peak['eps (/255)']:g}/255)."
        )
    last = rows[-1]
    if last["fgsm success"] < peak["fgsm success"] - 0.02:
        lines.append(
            f"Larger is not always better for one linear step: at eps = {last['eps (/255)']:g}/255 "
            f"FGSM flips {last['fgsm success']:.1%}, less than its peak, because the loss is not "
            f"linear that far from the image."
        )
    e = demo["eps (/255)"]
    lines.append(
        f"At eps = {e:g}/255 FGSM flips {demo['fgsm success']:.1%}; Gaussian noise with the same "
        f"L-infinity norm flips {demo['linf noise success']:.1%} and noise with the same L2 norm "
        f"{demo['l2 noise success']:.1%} (true-class probability {demo['fgsm true p']:.1%} under "
        f"FGSM against {demo['linf noise true p']:.1%} and {demo['l2 noise true p']:.1%})."
    )
    said = []
    for r in factors:
        if r["factor_l2"] is None:
            continue
        said.append(
            f"to flip {r['share flipped']:.0%} of the predictions FGSM needs an L2 norm of "
            f"{_size(r['fgsm_l2'])}, Gaussian noise {_size(r['noise_l2'])}: "
            f"{_factor(r, 'l2')} larger; in L-infinity FGSM needs eps "
            f"{_size(r['fgsm_linf'], 255, '/255')} and noise of matched L-infinity norm "
            f"{_size(r['noise_linf'], 255, '/255')}, {_factor(r, 'linf')}"
        )
    if said:
        lines.append(
            "So no, Gaussian noise does not do the same: " + "; ".join(said) + " ('>' where "
            "even the largest noise of the sweep falls short, so the factor is a lower bound). "
            "FGSM spends its whole budget along the gradient sign; random noise spreads it over "
            "directions the model hardly responds to."
        )
    return lines
