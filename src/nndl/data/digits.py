"""`digits`: scikit-learn's 1,797 real 8x8 handwritten digits, resized to 28x28 (MNIST's size).

The embedded stand-in for MNIST: real handwriting from 43 writers, shipped with scikit-learn, so it
needs no download. Pixels are scaled to [0, 1] like MNIST's.
"""

from __future__ import annotations

from nndl.data import DatasetInfo, register

register(
    DatasetInfo(
        name="digits",
        kind="embedded",
        description="scikit-learn's 1,797 real 8x8 handwritten digits, resized to 28x28",
        layout="",
        how_to_get="Ships with scikit-learn; nothing to download.",
    )
)


def load_digits_28(test_fraction: float = 0.2, seed: int = 0):
    """(x_train, y_train, x_test, y_test): float32 images (N, 28, 28) in [0, 1], int64 labels.

    The split is stratified and fixed by `seed`.
    """
    import numpy as np
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = torch.from_numpy(bunch.images.astype(np.float32) / 16.0)[:, None]  # (N, 1, 8, 8)
    x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)[:, 0]
    x = x.clamp(0, 1).numpy()
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return x_tr, y_tr, x_te, y_te
