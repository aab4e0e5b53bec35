"""The attribution maps every a06 section computes, and how their numbers are averaged."""

from __future__ import annotations

import numpy as np


def ig_kwargs(cfg, n_steps=None, method=None) -> dict:
    """Captum's IG options from the config (or the given step count and quadrature rule)."""
    return {
        "n_steps": n_steps or cfg.ig_steps,
        "method": method or cfg.ig_method,
        "internal_batch_size": cfg.ig_batch or None,
    }


def attribution_maps(cfg, clf, x, target, baseline) -> dict[str, np.ndarray]:
    """Grad-CAM (ReLU, upsampled) and IG (|attr| summed over channels) maps: each (B, H, W)."""
    from nndl.methods import attribution as A

    gc = A.gradcam(clf.model, clf.cam_layer, x, target).cpu().numpy()
    ig, _ = A.integrated_gradients(clf.model, x, target, baseline, **ig_kwargs(cfg))
    return {"gradcam": gc, "ig": A.pixel_map(ig)}


def nanmean(values) -> float:
    """Mean over the defined values (nan only when none is)."""
    v = np.asarray(values, float)
    return float(v[~np.isnan(v)].mean()) if (~np.isnan(v)).any() else float("nan")
