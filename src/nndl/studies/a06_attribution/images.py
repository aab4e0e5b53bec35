"""The images a06 explains, and the report's first section (the classifier and the images)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nndl import classifiers


@dataclass(frozen=True)
class Batch:
    """Images in the classifier's input space with their true classes and names."""

    x: Any  # (B, 3, H, W), normalised: x = (pixels - mean) / std
    y: Any  # (B,) true classes
    names: list[str]

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, s: slice) -> Batch:
        return Batch(self.x[s], self.y[s], self.names[s])


@dataclass(frozen=True)
class Images:
    """The three sets of correctly classified images the sections use."""

    explained: Batch  # explained clean and adversarial (section 2)
    confident: Batch  # the most confident: softmax question and completeness (sections 3, 4)
    correct: Batch  # every correctly classified image: Grad-CAM size statistics (section 3)
    baseline: Any  # IG's baseline x': a black image in input space (1, 3, H, W)
    label_note: str  # where the labels come from
    clean_acc: float  # accuracy over every candidate image


def fgsm(clf, x, y, eps255: float):
    """FGSM twin of x at eps in 1/255 pixel units (`nndl.methods.fgsm` has the math)."""
    from nndl.methods.fgsm import fgsm

    return fgsm(clf.model, x, y, eps255 / 255, lo=clf.lo, hi=clf.hi, pixel_scale=clf.pixel_scale)


def choose_images(ctx, cfg, clf) -> Images:
    """The classifier's attack images (a05's), of which the correctly classified ones."""
    source = classifiers.attack_images(cfg, clf, ctx)
    x_all = clf.normalize(source.pixels.to(ctx.device))
    y_all = source.labels.to(ctx.device)
    probs = clf.predict(x_all)
    correct = (probs.argmax(1) == y_all).nonzero().flatten()
    if len(correct) == 0:
        raise RuntimeError("the classifier gets no image right; nothing to explain")

    def batch(index) -> Batch:
        return Batch(x_all[index], y_all[index], [source.names[int(i)] for i in index])

    explained = batch(_pick_images(cfg, clf, x_all, y_all, correct))
    # the softmax question is about confident predictions: the most confident correct images
    p_true = probs.gather(1, y_all[:, None]).squeeze(1)
    confident = correct[p_true[correct].argsort(descending=True)][: cfg.num_images]
    images = Images(
        explained=explained,
        confident=batch(confident),
        correct=batch(correct),
        baseline=clf.lo.expand_as(explained.x[:1]),
        label_note=source.label_note,
        clean_acc=float((probs.argmax(1) == y_all).float().mean()),
    )
    ctx.metrics.update(num_images=len(explained), clean_acc=images.clean_acc)
    return images


def _pick_images(cfg, clf, x_all, y_all, correct):
    """The first `num_images` correctly classified images, preferring those FGSM flips at the
    demo eps (their twins have a different predicted class to explain). ImageNet: all images."""
    import torch

    if not classifiers.is_small_cnn(cfg):
        return correct
    flipped = clf.predict(fgsm(clf, x_all[correct], y_all[correct], cfg.demo_epsilon)).argmax(1)
    flipped = flipped != y_all[correct]
    order = torch.cat([correct[flipped], correct[~flipped]])
    return order[: cfg.num_images].sort().values


def intro_section(ctx, cfg, clf, images: Images) -> None:
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
        f"{len(images.explained)} correctly classified images (labels: {images.label_note}) are "
        f"explained clean and after FGSM at eps = {', '.join(f'{e:g}' for e in cfg.epsilons)}/255. "
        f"Grad-CAM and Integrated Gradients are Captum's (LayerGradCam with the ReLU of the "
        f"original algorithm, upsampled bilinearly; IntegratedGradients, {cfg.ig_steps} steps of "
        f"{cfg.ig_method}, from a black image). An IG map is |attribution| summed over the colour "
        f"channels. The 'important region' of a map is its top {cfg.topk:.0%} of pixels."
    )
