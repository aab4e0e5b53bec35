"""a01's data: CIFAR-100's 20 classes, or an embedded stand-in (digits, rendered shapes)."""

from __future__ import annotations


def load_data(cfg, ctx, *, state_provenance: bool = True):
    """(x_train, y_train, x_test, y_test, class names): float32 NCHW in [0, 1], int64 labels."""
    say = ctx.provenance if state_provenance else (lambda what, text: None)
    if cfg.dataset == "cifar100":
        from nndl.data.cifar100 import load_cifar100

        x_tr, y_tr, x_te, y_te, names = load_cifar100(ctx.data_root, cfg.classes)
        x_tr, y_tr = x_tr[: cfg.num_train or None], y_tr[: cfg.num_train or None]
        x_te, y_te = x_te[: cfg.num_test or None], y_te[: cfg.num_test or None]
        say(
            "data",
            f"real CIFAR-100 from {ctx.data_root}: {len(names)} fine classes, "
            f"{len(x_tr):,} train / {len(x_te):,} test images",
        )
        return x_tr, y_tr, x_te, y_te, names
    from nndl.data.synthetic.shapes import cached_shapes, class_names

    n_train, n_test = cfg.num_train or 5000, cfg.num_test or 1000
    if cfg.dataset == "digits":
        from nndl.data.digits import load_digits_28

        x_tr, y_tr, x_te, y_te = load_digits_28(seed=ctx.seed)
        x_tr, y_tr = _rgb(x_tr[: cfg.num_train or None]), y_tr[: cfg.num_train or None]
        x_te, y_te = _rgb(x_te[: cfg.num_test or None]), y_te[: cfg.num_test or None]
        say(
            "data",
            f"embedded stand-in for CIFAR-100: scikit-learn's real handwritten digits (10 "
            f"classes, 8x8 scans resized to 28x28, grey as RGB), {len(x_tr):,} train / "
            f"{len(x_te):,} test images",
        )
        return x_tr, y_tr, x_te, y_te, [str(d) for d in range(10)]
    k = cfg.num_classes
    x_tr, y_tr, x_te, y_te = cached_shapes(ctx, k, n_train, n_test)
    say(
        "data",
        f"embedded stand-in for CIFAR-100: rendered shapes ({k} classes), 32x32, "
        f"{n_train:,} train / {n_test:,} test images",
    )
    return x_tr, y_tr, x_te, y_te, class_names(k)


def _rgb(x):
    """(N, H, W) grey -> (N, 3, H, W) float32."""
    import numpy as np

    return np.ascontiguousarray(np.repeat(x[:, None], 3, axis=1), dtype=np.float32)


def input_size_of(cfg, name: str) -> int:
    """The side a model is trained and measured at: `input_size`, or the model's native one."""
    from nndl.models import zoo

    return cfg.input_size or zoo.preprocessing(name).input_size
