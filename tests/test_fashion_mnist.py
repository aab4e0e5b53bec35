"""Fashion-MNIST loader on small IDX files written in torchvision's layout."""

from __future__ import annotations

import numpy as np
import pytest

from nndl.data import get_dataset
from nndl.data.fashion_mnist import load_fashion_mnist
from nndl.errors import DataError
from tests.test_data import write_idx


def make_fashion(root, n_train=12, n_test=6, compress=False):
    rng = np.random.default_rng(0)
    raw = root / "FashionMNIST" / "raw"
    for split, n in (("train", n_train), ("t10k", n_test)):
        write_idx(raw / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), compress)
        write_idx(raw / f"{split}-labels-idx1-ubyte", np.arange(n) % 10, compress)
    return raw


@pytest.mark.parametrize("compress", [False, True])
def test_reads_idx_files_in_torchvisions_layout(tmp_path, compress):
    raw = make_fashion(tmp_path, compress=compress)
    x_tr, y_tr, x_te, y_te = load_fashion_mnist(tmp_path)
    assert x_tr.shape == (12, 28, 28) and x_te.shape == (6, 28, 28)
    assert x_tr.dtype == np.float32 and x_tr.min() >= 0 and x_tr.max() <= 1
    assert y_tr.tolist() == [i % 10 for i in range(12)] and y_te.dtype == np.int64
    assert get_dataset("fashion_mnist").locate(tmp_path) == raw
    if not compress:  # the same pixels as torchvision's own reader (it reads unpacked files)
        import torchvision

        ref = torchvision.datasets.FashionMNIST(str(tmp_path), train=True, download=False)
        assert np.array_equal((x_tr * 255).round().astype(np.uint8), ref.data.numpy())


def test_missing_and_truncated_files_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="FashionMNIST/raw/.*zalandoresearch"):
        load_fashion_mnist(tmp_path)
    raw = make_fashion(tmp_path)
    path = raw / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(DataError, match="Corrupt Fashion-MNIST file .*train-labels"):
        load_fashion_mnist(tmp_path)
