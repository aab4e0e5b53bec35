"""Attribution sanity check (Adebayo et al. 2018, "Sanity checks for saliency maps").

The same Grad-CAM and Integrated Gradients maps, taken from a copy of the classifier whose every
weight was re-initialised ("full randomisation"), must differ from the trained model's maps: a
map that survives randomisation shows the input (edges, contrast), not what the model learnt.
Measured as Adebayo et al. do, by the Spearman rank correlation of |map|, per image, averaged.
"""

from __future__ import annotations

import copy

import numpy as np

from nndl import detectors

from .measures import attribution_maps


def randomised_copy(model, seed: int):
    """A deep copy with every parameterised module re-initialised (its own reset_parameters)."""
    import torch

    torch.manual_seed(seed)
    twin = copy.deepcopy(model)
    for module in twin.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return twin.eval()


def randomisation_check(ctx, cfg, clf, images, clean: dict) -> None:
    """One check per method: trained maps `clean` (method -> (B, H, W)) against randomised."""
    names = {id(m): n for n, m in clf.model.named_modules()}
    twin = copy.copy(clf)  # the same classifier record, with the randomised model and its layer
    twin.model = randomised_copy(clf.model, ctx.seed)
    twin.cam_layer = twin.model.get_submodule(names[id(clf.cam_layer)])
    x, y = images.explained.x, images.explained.y
    random_maps = attribution_maps(cfg, twin, x, y, images.baseline)
    for method, label in (("gradcam", "Grad-CAM"), ("ig", "Integrated Gradients")):
        rho = [
            detectors.spearman(np.abs(a), np.abs(b))
            for a, b in zip(clean[method], random_maps[method], strict=True)
        ]
        ctx.metrics[f"sanity_rank_corr_{method}"] = float(np.mean(rho))
        ctx.check(detectors.rank_correlation_below(float(np.mean(rho)), name=label))
