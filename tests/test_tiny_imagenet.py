"""The Tiny ImageNet loader on files written in the published layout, and on the real dev pack."""

from __future__ import annotations

import tarfile

import numpy as np
import pytest
from PIL import Image

from nndl.data.tiny_imagenet import FOLDER, load_tiny_imagenet
from nndl.errors import ConfigError, DataError

WNIDS = ["n01443537", "n01629819", "n01641577"]


def _write(root, per_class=3):
    base = root / FOLDER
    (base / "val" / "images").mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    (base / "words.txt").write_text(
        "n01443537\tgoldfish, Carassius auratus\nn01629819\tEuropean fire salamander\n"
    )
    lines = []
    for c, w in enumerate(WNIDS):
        d = base / "train" / w / "images"
        d.mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(np.full((64, 64, 3), 10 * c + i, np.uint8)).save(d / f"{w}_{i}.JPEG")
        (base / "train" / w / f"{w}_boxes.txt").write_text("")
        name = f"val_{c}.JPEG"
        Image.fromarray(np.full((64, 64), 100 + c, np.uint8)).save(base / "val" / "images" / name)
        lines.append(f"{name}\t{w}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")


def test_reads_chosen_wnids_in_order(tmp_path):
    _write(tmp_path)
    x_tr, y_tr, x_va, y_va, names = load_tiny_imagenet(tmp_path, (WNIDS[2], WNIDS[0]), size=32)
    assert x_tr.shape == (6, 3, 32, 32) and y_tr.tolist() == [0, 0, 0, 1, 1, 1]
    assert names == [WNIDS[2], "goldfish"]  # words.txt names where listed
    assert y_va.tolist() == [1, 0] and x_va.shape == (2, 3, 32, 32)  # val in annotation order
    assert x_va[1, 0, 0, 0] * 255 == pytest.approx(102, abs=1)  # greyscale JPEG -> RGB
    x, y, *_ = load_tiny_imagenet(tmp_path, num_classes=2, max_train_per_class=2)
    assert x.shape == (4, 3, 64, 64) and y.tolist() == [0, 0, 1, 1]


def test_errors_are_one_line(tmp_path):
    with pytest.raises(DataError, match="tiny-imagenet-200"):
        load_tiny_imagenet(tmp_path)
    _write(tmp_path)
    with pytest.raises(ConfigError, match="wnids.txt"):
        load_tiny_imagenet(tmp_path, ("n09999999",))
    with pytest.raises(DataError, match="fewer than 20"):
        load_tiny_imagenet(tmp_path)


def test_real_dev_pack(shared_data, tmp_path):
    with tarfile.open(shared_data / "tiny_imagenet_dev20.tar") as tar:
        tar.extractall(tmp_path, filter="data")
    x_tr, y_tr, x_va, y_va, names = load_tiny_imagenet(tmp_path, max_train_per_class=10)
    assert x_tr.shape == (200, 3, 64, 64) and len(names) == 20
    assert np.bincount(y_va).tolist() == [50] * 20
    assert 0.3 < x_tr.mean() < 0.6
