"""The CIFAR-10 loader: the pickled batches of cifar-10-python.tar.gz (written here in that
format), the image-folder layout, the real pack in ../shared/data, and one-line errors."""

from __future__ import annotations

import pickle
import tarfile

import numpy as np
import pytest
from PIL import Image

from nndl.data.cifar10 import CLASS_NAMES, PICKLE_FOLDER, load_cifar10
from nndl.errors import DataError


def _write_pickles(root, n_per_file=20):
    folder = root / PICKLE_FOLDER
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n_per_file, 3072), dtype=np.uint8)
        labels = [int(i % 10) for i in range(n_per_file)]
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": labels, "batch_label": name}, f)
    return folder


def test_pickles_read_as_nchw_floats_with_channel_planes(tmp_path):
    folder = _write_pickles(tmp_path)
    x_tr, y_tr, x_te, y_te, names = load_cifar10(tmp_path, download=False)
    assert x_tr.shape == (100, 3, 32, 32) and x_te.shape == (20, 3, 32, 32)
    assert names == list(CLASS_NAMES) and x_tr.dtype == np.float32
    raw = pickle.loads((folder / "data_batch_1").read_bytes())["data"][0]
    # the first 1024 values of a row are the red plane, row-major
    assert np.allclose(x_tr[0, 0].ravel() * 255, raw[:1024])
    assert np.allclose(x_tr[0, 2].ravel() * 255, raw[2048:])
    x, y, *_ = load_cifar10(tmp_path, max_train=30, download=False)
    assert len(x) == 30 and np.bincount(y).tolist() == [3] * 10  # balanced subset


def test_image_folder_layout(tmp_path):
    for split in ("train", "test"):
        for c, name in enumerate(CLASS_NAMES):
            d = tmp_path / "cifar10" / split / name
            d.mkdir(parents=True)
            for i in range(2):
                Image.fromarray(np.full((32, 32, 3), c * 20 + i, np.uint8)).save(d / f"{i}.png")
    x_tr, y_tr, x_te, y_te, _ = load_cifar10(tmp_path, download=False)
    assert x_tr.shape == (20, 3, 32, 32) and y_tr.tolist() == sorted(list(range(10)) * 2)
    assert x_tr[2, 0, 0, 0] * 255 == pytest.approx(20)  # class 1 ("automobile"), first image


def test_missing_and_corrupt_files_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="cifar-10-batches-py"):
        load_cifar10(tmp_path / "nothing", download=False)
    folder = _write_pickles(tmp_path)
    (folder / "data_batch_3").write_bytes(b"\x80\x04truncated")
    with pytest.raises(DataError, match="data_batch_3"):
        load_cifar10(tmp_path, download=False)


def test_real_image_folder_pack(shared_data, tmp_path):
    with tarfile.open(shared_data / "cifar10.tar") as tar:
        tar.extractall(tmp_path, filter="data")
    x_tr, y_tr, x_te, y_te, names = load_cifar10(tmp_path, max_train=200, max_test=100)
    assert x_tr.shape == (200, 3, 32, 32) and x_te.shape == (100, 3, 32, 32)
    assert np.bincount(y_tr).tolist() == [20] * 10
    assert 0.3 < x_tr.mean() < 0.6  # real photographs, not blank files
