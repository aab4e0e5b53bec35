import gzip
import struct
import tarfile

import numpy as np
import pytest

from nndl.data import all_datasets, get_dataset
from nndl.data.digits import load_digits_28
from nndl.data.imagefolder import load_imagefolder
from nndl.data.mnist import load_mnist
from nndl.errors import ConfigError, DataError


def write_idx(path, array: np.ndarray, compress=False):
    """An IDX file as MNIST publishes it: magic (0, 0, 0x08, ndim), big-endian dims, bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(f"{path}.gz", "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def make_mnist(root, n_train=20, n_test=10, compress=False):
    rng = np.random.default_rng(0)
    raw = root / "MNIST" / "raw"
    for split, n in (("train", n_train), ("t10k", n_test)):
        write_idx(raw / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), compress)
        write_idx(raw / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, (n,)), compress)
    return raw


def test_registry_lists_the_foundation_datasets():
    names = {d.name for d in all_datasets()}
    assert {"digits", "mnist", "imagefolder"} <= names
    with pytest.raises(DataError, match="Unknown dataset 'mnst'. Did you mean mnist"):
        get_dataset("mnst")


def test_digits_are_real_28x28_in_unit_range_and_stratified():
    x_tr, y_tr, x_te, y_te = load_digits_28()
    assert x_tr.shape[1:] == (28, 28) and len(x_tr) + len(x_te) == 1797
    assert x_tr.dtype == np.float32 and x_tr.min() >= 0 and x_tr.max() <= 1
    assert np.bincount(y_te).min() >= 35  # every class in the test split


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_reads_files_in_torchvisions_layout(tmp_path, compress):
    make_mnist(tmp_path, compress=compress)
    x_tr, y_tr, x_te, y_te = load_mnist(tmp_path)
    assert x_tr.shape == (20, 28, 28) and x_te.shape == (10, 28, 28)
    assert y_tr.dtype == np.int64 and x_tr.max() <= 1.0
    assert get_dataset("mnist").locate(tmp_path) == tmp_path / "MNIST" / "raw"


def test_missing_mnist_fails_at_once_with_where_and_how(tmp_path):
    with pytest.raises(DataError) as e:
        load_mnist(tmp_path)
    msg = str(e.value)
    assert str(tmp_path) in msg and "MNIST/raw/" in msg and "yann.lecun.com" in msg


def test_truncated_mnist_file_is_named(tmp_path):
    raw = make_mnist(tmp_path)
    path = raw / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="Corrupt MNIST file .*t10k-images-idx3-ubyte"):
        load_mnist(tmp_path)
    path.write_bytes(b"not an idx file at all")
    with pytest.raises(DataError, match="not an unsigned-byte IDX"):
        load_mnist(tmp_path)


def test_real_mnist_from_the_shared_pack(shared_data, tmp_path):
    with tarfile.open(shared_data / "mnist.tar.gz") as tar:
        tar.extractall(tmp_path, filter="data")
    x_tr, y_tr, x_te, y_te = load_mnist(tmp_path)
    assert x_tr.shape == (60000, 28, 28) and x_te.shape == (10000, 28, 28)
    assert np.bincount(y_tr).tolist()[:3] == [5923, 6742, 5958]  # MNIST's published counts


def test_imagefolder(tmp_path):
    from PIL import Image

    for cls in ("cat", "dog"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        Image.new("RGB", (8, 8), "red").save(tmp_path / "imgs" / cls / "a.png")
    ds = load_imagefolder(tmp_path / "imgs")
    assert ds.classes == ["cat", "dog"] and len(ds) == 2
    with pytest.raises(DataError, match="does not exist"):
        load_imagefolder(tmp_path / "nope")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="holds no images"):
        load_imagefolder(tmp_path / "empty")


def test_photos_are_rgb_and_a_typo_gets_a_suggestion():
    from nndl.data.photos import load_photo

    img = load_photo("chelsea")
    assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8
    with pytest.raises(ConfigError, match="chelsea"):
        load_photo("chelsee")
