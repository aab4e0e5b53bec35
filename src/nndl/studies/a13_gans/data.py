"""a13's data: faces (rendered) or CelebA with attribute labels, and the config checks."""

from __future__ import annotations

import numpy as np

# the rendered attributes' CelebA columns (CelebA has no long-hair label)
CELEBA_NAMES = {
    "glasses": "Eyeglasses",
    "smiling": "Smiling",
    "blond_hair": "Blond_Hair",
    "bangs": "Bangs",
}


def check_config(cfg, data_root) -> None:
    from nndl.data import get_dataset
    from nndl.data.synthetic.faces import ATTRIBUTES
    from nndl.errors import ConfigError, did_you_mean

    size = cfg.image_size
    if size < 8 or size & (size - 1):
        raise ConfigError(f"image_size must be a power of two >= 8 (DCGAN); got {size}.")
    if cfg.cycle_image_size < 8 or cfg.cycle_image_size % 4:
        raise ConfigError(
            f"cycle_image_size must be a multiple of 4, >= 8; got {cfg.cycle_image_size}."
        )
    for key in ("width", "z_dim", "batch_size", "judge_width", "cycle_width", "cycle_d_width"):
        if getattr(cfg, key) < 1:
            raise ConfigError(f"{key} must be at least 1.")
    if cfg.cycle_pool < 0 or cfg.cgan_aux_weight < 0:
        raise ConfigError("cycle_pool and cgan_aux_weight must be >= 0 (0 turns them off).")
    if cfg.cycle_d_layers < 1 or cfg.cycle_image_size < 2 ** (cfg.cycle_d_layers + 2):
        raise ConfigError(
            f"cycle_d_layers = {cfg.cycle_d_layers} needs images of at least "
            f"{2 ** (cfg.cycle_d_layers + 2)} px; cycle_image_size is {cfg.cycle_image_size}."
        )
    if cfg.sat_num_epochs > cfg.num_epochs:
        raise ConfigError(
            f"sat_num_epochs ({cfg.sat_num_epochs}) cannot exceed num_epochs ({cfg.num_epochs}): "
            f"the minimax run is compared with the DCGAN's first epochs."
        )
    if cfg.num_test < 2 or cfg.num_score < 2:
        raise ConfigError("num_test and num_score must be at least 2 (a covariance needs two).")
    if cfg.dataset == "faces" and cfg.attribute not in ATTRIBUTES:
        raise ConfigError(
            f"Unknown faces attribute '{cfg.attribute}'.{did_you_mean(cfg.attribute, ATTRIBUTES)}"
        )
    if cfg.dataset == "celeba" and cfg.attribute in ("long_hair", "beard"):
        raise ConfigError(
            f"CelebA has no '{cfg.attribute}' column; pick one of its 40 attributes, e.g. "
            f"--set attribute=Wavy_Hair (or Eyeglasses, Smiling, Bangs, Blond_Hair, No_Beard)."
        )
    for name in (cfg.dataset, "unpaired" if cfg.cycle_dataset == "unpaired" else "faces"):
        info = get_dataset(name)
        if info.kind == "real" and info.locate(data_root) is None:
            raise info.missing_error(data_root)


def gan_data(cfg, ctx) -> dict:
    """Training and held-out images (uint8 NHWC), attributes (N, K), the condition's column."""
    from nndl.errors import ConfigError, did_you_mean

    if cfg.dataset == "celeba":
        from nndl.data.celeba import load_celeba

        with ctx.timer("read_celeba_s"):
            d = load_celeba(ctx.data_root, cfg.image_size, cfg.max_images)
        names = d["attribute_names"]
        want = CELEBA_NAMES.get(cfg.attribute, cfg.attribute)
        if want not in names:
            raise ConfigError(
                f"CelebA has no attribute '{cfg.attribute}'.{did_you_mean(want, names)}"
            )
        n_test = min(cfg.num_test, len(d["x"]) // 5)
        x, attrs = d["x"], d["attributes"]
        out = {
            "train_x": x[:-n_test],
            "train_attr": attrs[:-n_test],
            "test_x": x[-n_test:],
            "test_attr": attrs[-n_test:],
            "attribute_names": names,
            "attribute": names.index(want),
            "label": "CelebA",
            "provenance": f"real CelebA from {d['folder']} ({len(x) - n_test:,} training and "
            f"{n_test:,} held-out images, centre-cropped to {cfg.image_size} px)",
        }
    else:
        from nndl.data.synthetic.faces import ATTRIBUTES, identity_list, render_faces

        with ctx.timer("render_faces_s"):
            tr = render_faces(
                identity_list(cfg.num_identities, cfg.images_per_identity, seed=ctx.seed),
                cfg.image_size,
                seed=ctx.seed,
            )
            first = 100_000  # held-out images are of other people
            te = render_faces(
                np.arange(first, first + cfg.num_test), cfg.image_size, seed=ctx.seed + 7
            )
        out = {
            "train_x": tr.x,
            "train_attr": tr.attributes,
            "test_x": te.x,
            "test_attr": te.attributes,
            "attribute_names": ATTRIBUTES,
            "attribute": ATTRIBUTES.index(cfg.attribute),
            "label": "rendered faces",
            "provenance": f"embedded stand-in `faces`, rendered (not real photographs): "
            f"{len(tr.x):,} training images of {cfg.num_identities} people and {cfg.num_test:,} "
            f"held-out images of other people, {cfg.image_size}x{cfg.image_size}",
        }
    return out


def tensors(x: np.ndarray):
    """uint8 NHWC -> float32 NCHW torch tensor in [0, 1]."""
    import torch

    from nndl.data.synthetic.faces import to_tensor_layout

    return torch.from_numpy(to_tensor_layout(x))
