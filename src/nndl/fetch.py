"""`nndl fetch aNN --profile full`: every asset a run needs, whether it is here, and the download.

Prepare a machine before a long run (a GPU box with a network, or a laptop before a flight):

    nndl fetch a12 --profile full --data-root DATA     # lists, downloads what is missing
    nndl fetch all --profile full --list               # only lists

The assets come from the registries: the real datasets (`nndl.data`) that the resolved config names,
and the ImageNet weights (`nndl.models.zoo`, `nndl.weights`) of the models it names. Downloads go
through the libraries that own them (torchvision's dataset classes check the published MD5 sums;
torchvision's weight files carry the first digits of their SHA-256 in their names and torch.hub
checks them; timm's come from the Hugging Face hub by content hash). Assets without an automatic
source say how to get them. Without a network the command lists what is missing and exits 2 at
once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# torchvision dataset classes that download the registry's datasets (root = --data-root)
_TORCHVISION = {
    "mnist": "MNIST",
    "fashion_mnist": "FashionMNIST",
    "cifar10": "CIFAR10",
    "cifar100": "CIFAR100",
    "pets": "OxfordIIITPet",
}
# config fields that name classifiers whose ImageNet weights a run loads
_MODEL_FIELDS = ("model", "models", "teachers", "activation_model", "feature_model", "backbone")


@dataclass
class Asset:
    kind: str  # "dataset" | "weights"
    name: str
    where: str | None  # where it was found, None when missing
    source: str  # where it comes from (URL, hub id) or how to get it
    fetch: Callable[[], object] | None = None  # downloads it; None: no automatic source

    @property
    def present(self) -> bool:
        return self.where is not None


def _config_strings(config) -> list[tuple[str, str]]:
    from nndl import config as cfg

    out = []
    for key, value in cfg.to_dict(config).items():
        for v in value if isinstance(value, list | tuple) else [value]:
            if isinstance(v, str) and v:
                out.append((key, v))
    return out


def assets(study, profile: str, data_root: Path) -> list[Asset]:
    """The real datasets and pretrained weights a run of `study` in `profile` reads."""
    from nndl import config as cfg
    from nndl import weights as weights_registry
    from nndl.data import get_dataset

    config = cfg.resolve(study.config, profile, {})
    values = _config_strings(config)
    named = {v for _, v in values}
    found: list[Asset] = []
    for name in study.datasets:
        info = get_dataset(name)
        if info.kind != "real" or name not in named:
            continue
        where = info.locate(data_root)
        fetch = None
        if name in _TORCHVISION:
            cls_name = _TORCHVISION[name]

            def fetch(cls_name=cls_name):
                import torchvision.datasets as tvd

                Path(data_root).mkdir(parents=True, exist_ok=True)
                cls = getattr(tvd, cls_name)
                if cls_name == "OxfordIIITPet":
                    cls(
                        str(data_root), split="trainval", target_types="segmentation", download=True
                    )
                    return
                for train in (True, False):
                    cls(str(data_root), train=train, download=True)

        source = (
            f"torchvision.datasets.{_TORCHVISION[name]} (MD5 checked)"
            if name in _TORCHVISION
            else info.how_to_get
        )
        found.append(Asset("dataset", name, str(where) if where else None, source, fetch))
    weights_dir = getattr(config, "weights_dir", "") or ""
    for key, value in values:
        if key not in _MODEL_FIELDS:
            continue
        asset = _model_weights(value, weights_dir)
        if asset is not None:
            found.append(asset)
    for w in weights_registry.all_weights():
        if w.kind == "file" and study.id in w.used_by and Path(w.file).stem in named:
            where = w.locate(weights_dir or None)
            found.append(Asset("weights", w.name, str(where) if where else None, w.how_to_get))
    return found


def _model_weights(name: str, weights_dir: str) -> Asset | None:
    """The ImageNet weights of a timm/torchvision classifier; None for names the zoo does not
    know (YOLO files and the like are the weights registry's "file" entries)."""
    from nndl.errors import NndlError
    from nndl.models import zoo

    try:
        zoo.resolve(name)
    except NndlError:
        return None
    try:
        source = zoo.weights_source(name)
    except NndlError as e:  # the library has no pretrained weights for it
        return Asset("weights", name, None, str(e))
    where = zoo.weights_available(name, weights_dir)
    digest = re.search(r"-([0-9a-f]{8,64})\.pth$", source)
    if digest:  # torchvision names its files by the first digits of their SHA-256
        source += f" (SHA-256 {digest.group(1)}..., checked by torch.hub)"
    elif source.startswith("hf-hub:"):
        source += " (Hugging Face hub, content-addressed by SHA-256)"

    def fetch():
        zoo.build(name, 1000, pretrained=True)  # downloads into the library's cache

    return Asset("weights", name, where, source, fetch)


def describe(asset: Asset) -> str:
    state = f"present ({asset.where})" if asset.present else "MISSING"
    how = f" <- {asset.source}" if asset.source and not asset.present else ""
    return f"{asset.kind} {asset.name}: {state}{how}"
