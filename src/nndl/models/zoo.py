"""The model zoo: timm and torchvision classifiers by their registered names.

    model = zoo.build("resnet50", num_classes=20)                   # random init
    model = zoo.build("resnet50", num_classes=20, pretrained=True)  # ImageNet weights, new head
    zoo.preprocessing("inception_v3")  # native input size (299) and normalisation
    zoo.family("mobilenetv3_small_050")  # "mobilenetv3"

A bare name is looked up in timm first, then in torchvision's classification models;
`timm:NAME` or `torchvision:NAME` picks the library. timm names may carry a pretrained tag
(`resnet50.a1_in1k`). An unknown name is a `ConfigError` listing the closest registered names.

Pretrained weights come from the library's cache (Hugging Face hub for timm, torch hub for
torchvision), from the network (checked first with `nndl.offline.require_online`, so an offline
machine fails in a second), or from a weights file the user names. The classifier is replaced by a
`num_classes` head in every case; the head is found generically as the parameters whose shapes
depend on `num_classes`.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from nndl.errors import ConfigError, WeightsError

TIMM, TORCHVISION = "timm", "torchvision"
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")


@dataclass(frozen=True)
class ModelRef:
    name: str  # as the user wrote it
    library: str  # "timm" | "torchvision"
    arch: str  # the library's name (a timm name may carry a pretrained tag)


@dataclass(frozen=True)
class Preprocessing:
    input_size: int  # side of the square input the pretrained weights expect
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str
    crop_pct: float  # resize to input_size / crop_pct, then centre-crop (ImageNet evaluation)
    source: str  # where these values were read


# -- names -----------------------------------------------------------------------------------------


@functools.cache
def _timm_names() -> tuple[str, ...]:
    import timm

    return tuple(timm.list_models())


@functools.cache
def _torchvision_names() -> tuple[str, ...]:
    import torchvision

    return tuple(torchvision.models.list_models(module=torchvision.models))


@functools.cache
def _segmentation_names() -> tuple[str, ...]:
    import torchvision

    return tuple(torchvision.models.list_models(module=torchvision.models.segmentation))


SEGMENTATION = "torchvision.segmentation"  # scanned for kernel types, not trained by a01


def registered_names(patterns) -> list[str]:
    """Registered names matching glob patterns `LIBRARY:GLOB` (timm, torchvision,
    torchvision.segmentation), each as `LIBRARY:NAME`, in the order the patterns are given."""
    import fnmatch

    sources = {
        TIMM: _timm_names,
        TORCHVISION: _torchvision_names,
        SEGMENTATION: _segmentation_names,
    }
    out: list[str] = []
    for pattern in patterns:
        library, _, glob = pattern.rpartition(":")
        if library not in sources:
            raise ConfigError(
                f"Pattern '{pattern}' needs a library prefix: {', '.join(sources)} (e.g. timm:*)."
            )
        matches = fnmatch.filter(sources[library](), glob)
        if not matches and not any(ch in glob for ch in "*?["):
            resolve(pattern)  # an exact name that does not exist: the usual error
        out += [f"{library}:{m}" for m in matches if f"{library}:{m}" not in out]
    return out


def close_matches(name: str, n: int = 5) -> list[str]:
    """The registered names closest to `name` (timm and torchvision classifiers)."""
    base = name.split(":", 1)[-1].split(".")[0].lower()
    return difflib.get_close_matches(
        base, sorted({*_timm_names(), *_torchvision_names()}), n=n, cutoff=0.6
    )


def resolve(name: str) -> ModelRef:
    """Which library builds `name`; `ConfigError` with the closest names when none does."""
    import timm

    library, _, arch = name.rpartition(":") if ":" in name else ("", "", name)
    if library == SEGMENTATION and arch in _segmentation_names():
        return ModelRef(name, SEGMENTATION, arch)
    if library not in ("", TIMM, TORCHVISION):
        raise ConfigError(
            f"Unknown model library '{library}' in '{name}'; use timm: or torchvision:."
        )
    if library in ("", TIMM) and timm.is_model(arch):
        return ModelRef(name, TIMM, arch)
    if library in ("", TORCHVISION) and arch in _torchvision_names():
        return ModelRef(name, TORCHVISION, arch)
    close = close_matches(name)
    hint = (
        f" Did you mean {', '.join(close)}?"
        if close
        else " See timm.list_models() and torchvision.models.list_models()."
    )
    where = {TIMM: " in timm", TORCHVISION: " in torchvision"}.get(library, "")
    raise ConfigError(f"Unknown model '{name}'{where}.{hint}")


def family(name: str) -> str:
    """The architecture family, read from the registered name: resnet18 -> resnet,
    mobilenetv3_small_050 -> mobilenetv3, shufflenet_v2_x0_5 -> shufflenet_v2."""
    arch = resolve(name).arch.split(".")[0].removeprefix("tf_")  # timm's TF ports: same family
    # the shortest lower-case stem (plus a version suffix like v3 / _v2) before the size digits
    match = re.match(r"[a-z]+?(?:_?v\d+)?(?=[\d_]|$)", arch)
    return match.group(0) if match else arch


# -- preprocessing and weights ---------------------------------------------------------------------


def _tv_weights(arch: str):
    """torchvision's default weights enum member for `arch` (None when it ships none)."""
    import torchvision

    try:
        return torchvision.models.get_model_weights(arch).DEFAULT
    except (ValueError, KeyError, AttributeError):
        return None


def preprocessing(name: str) -> Preprocessing:
    """Native input size and normalisation, from timm's pretrained cfg or torchvision's weights."""
    ref = resolve(name)
    if ref.library == TIMM:
        import timm

        cfg = timm.get_pretrained_cfg(ref.arch)
        if cfg is None:  # an architecture without released weights: its default cfg
            with _quiet(), _meta_device():
                cfg = timm.create_model(ref.arch, pretrained=False).pretrained_cfg
            cfg = _Namespace(**cfg)
        tag = f"{cfg.architecture}.{cfg.tag}" if getattr(cfg, "tag", None) else ref.arch
        return Preprocessing(
            int(cfg.input_size[-1]),
            tuple(cfg.mean),
            tuple(cfg.std),
            str(cfg.interpolation),
            float(cfg.crop_pct),
            f"timm pretrained_cfg of {tag}",
        )
    weights = _tv_weights(ref.arch)
    if ref.library == SEGMENTATION and weights is not None:  # resized, not cropped
        t = weights.transforms()
        return Preprocessing(
            int(t.resize_size[0]),
            tuple(t.mean),
            tuple(t.std),
            str(t.interpolation.value),
            1.0,
            f"torchvision {weights}.transforms()",
        )
    if weights is None:
        return Preprocessing(
            224,
            (0.485, 0.456, 0.406),
            (0.229, 0.224, 0.225),
            "bilinear",
            0.875,
            "ImageNet defaults (torchvision ships no weights for it)",
        )
    t = weights.transforms()
    return Preprocessing(
        int(t.crop_size[0]),
        tuple(t.mean),
        tuple(t.std),
        str(t.interpolation.value),
        t.crop_size[0] / t.resize_size[0],
        f"torchvision {weights}.transforms()",
    )


class _Namespace:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def library_param_count(name: str) -> int | None:
    """The parameter count the library publishes for the 1000-class model (torchvision's weights
    meta), or None where it publishes none (timm)."""
    ref = resolve(name)
    if ref.library == TORCHVISION:
        weights = _tv_weights(ref.arch)
        return int(weights.meta["num_params"]) if weights is not None else None
    return None


def weights_source(name: str) -> str:
    """Where the library downloads the ImageNet weights from (a hub id or a URL)."""
    ref = resolve(name)
    if ref.library == TIMM:
        import timm

        cfg = timm.get_pretrained_cfg(ref.arch)
        if cfg is None:
            raise WeightsError(f"timm has no pretrained weights for '{name}'.")
        return f"hf-hub:{cfg.hf_hub_id}" if cfg.hf_hub_id else cfg.url
    weights = _tv_weights(ref.arch)
    if weights is None:
        raise WeightsError(f"torchvision has no pretrained weights for '{name}'.")
    return weights.url


def weights_file_in(weights_dir: str | Path, name: str) -> Path | None:
    """`weights_dir/<name>{.safetensors,.pth,.pt,.bin}` if present (a user-provided file)."""
    if not weights_dir:
        return None
    stem = name.split(":", 1)[-1]
    for suffix in WEIGHT_SUFFIXES:
        path = Path(weights_dir) / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None


def cached_weights(name: str) -> Path | None:
    """The ImageNet weights on this machine: a bundled package file (`nndl.weights`), else the
    library's cached copy; None when neither is here."""
    import os

    from nndl import weights

    bundled = weights.bundled_for(name)
    if bundled is not None:
        return bundled.locate()
    ref = resolve(name)
    if ref.library == TIMM:
        import timm

        cfg = timm.get_pretrained_cfg(ref.arch)
        if cfg is None:
            return None
        if cfg.hf_hub_id:
            from huggingface_hub import try_to_load_from_cache

            for filename in (cfg.hf_hub_filename, "model.safetensors", "pytorch_model.bin"):
                found = filename and try_to_load_from_cache(cfg.hf_hub_id, filename)
                if isinstance(found, str):
                    return Path(found)
        url = cfg.url
    else:
        weights = _tv_weights(ref.arch)
        url = weights.url if weights is not None else None
    if url:
        import torch

        path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
        return path if path.is_file() else None
    return None


def weights_available(name: str, weights_dir: str | Path = "") -> str | None:
    """Where the pretrained weights would come from without a network, or None."""
    local = weights_file_in(weights_dir, name) or cached_weights(name)
    return str(local) if local else None


def missing_weights_message(names: list[str], weights_dir: str | Path = "") -> str:
    where = (
        f"save each as {weights_dir}/<model>.safetensors (or .pth)"
        if weights_dir
        else "save each as DIR/<model>.safetensors (or .pth) and pass --set weights_dir=DIR"
    )
    return (
        f"ImageNet weights for {', '.join(names)} are not on this machine and there is no network. "
        f"Run once with a network (timm caches them under ~/.cache/huggingface, torchvision under "
        f"~/.cache/torch/hub), or download them elsewhere and {where}. Sources: "
        + "; ".join(f"{n}: {weights_source(n)}" for n in names)
    )


# -- building --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def _meta_device():
    import torch

    with torch.device("meta"):
        yield


def _build_random(ref: ModelRef, num_classes: int):
    """The architecture with `num_classes` outputs and the library's own random initialisation."""
    if ref.library == TIMM:
        import timm

        return timm.create_model(ref.arch, pretrained=False, num_classes=num_classes)
    import torchvision

    if ref.library == SEGMENTATION:  # no ImageNet backbone download: weights_backbone=None
        return torchvision.models.get_model(
            ref.arch, weights=None, weights_backbone=None, num_classes=num_classes
        )
    # Inception-style torchvision models return auxiliary logits in training unless told not to;
    # the training loop expects one tensor of logits.
    try:
        return torchvision.models.get_model(
            ref.arch, weights=None, num_classes=num_classes, aux_logits=False, init_weights=True
        )
    except TypeError:  # a builder without these options
        return torchvision.models.get_model(ref.arch, weights=None, num_classes=num_classes)


def build_on_meta(name: str, num_classes: int = 1000):
    """The model with shapes only (no memory, no init): for scans and FLOP estimates.

    A few builders compute on tensors while constructing (torchvision's RegNets); those are built
    on the CPU instead.
    """
    ref = resolve(name)
    with _quiet():
        try:
            with _meta_device():
                return _build_random(ref, num_classes)
        except (NotImplementedError, RuntimeError):
            return _build_random(ref, num_classes)


@functools.cache
def head_keys(name: str, num_classes: int) -> frozenset[str]:
    """state_dict keys whose shapes depend on num_classes: the classifier head."""
    other = num_classes + 1
    a = build_on_meta(name, num_classes).state_dict()
    b = build_on_meta(name, other).state_dict()
    return frozenset(k for k in a if a[k].shape != b[k].shape)


def read_state_dict(path: Path) -> dict:
    import torch

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a truncated or foreign file
        raise WeightsError(f"Weights file {path} cannot be read ({type(e).__name__}: {e}).") from e
    for key in ("state_dict", "model", "model_state_dict"):  # common checkpoint wrappers
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise WeightsError(f"Weights file {path} holds no state_dict.")
    return state


def load_backbone_state(model, state: dict, head: frozenset[str], what: str) -> None:
    """Load every weight but the classifier head; anything else that does not fit is an error."""
    own = model.state_dict()
    kept = {
        k: v
        for k, v in state.items()
        if not (k in head and (k not in own or own[k].shape != v.shape))
    }
    bad_shape = [k for k, v in kept.items() if k in own and own[k].shape != v.shape]
    # BatchNorm's step counters carry no weights; files converted from TF have none
    missing = sorted(
        k for k in set(own) - set(kept) - head if not k.endswith("num_batches_tracked")
    )
    # torchvision's Inception weights carry an auxiliary classifier the model is built without
    unexpected = sorted(k for k in set(kept) - set(own) if not k.startswith("AuxLogits."))
    if bad_shape or missing or unexpected:
        detail = "; ".join(
            f"{label}: {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}"
            for label, keys in (
                ("wrong shape", bad_shape),
                ("missing", missing),
                ("unexpected", unexpected),
            )
            if keys
        )
        raise WeightsError(f"{what} does not fit {type(model).__name__}: {detail}.")
    model.load_state_dict({k: v for k, v in kept.items() if k in own}, strict=False)


def build(
    name: str, num_classes: int, *, pretrained: bool = False, weights_file: str | Path | None = None
):
    """A timm/torchvision classifier with a `num_classes` head.

    pretrained=False: the library's random initialisation. pretrained=True: ImageNet weights from
    `weights_file` if given, else a package's bundled file (`nndl.weights`), else the library's
    cache, else a download (fails at once offline). The head keeps the ImageNet classifier when
    num_classes is 1000 and the weights have one; otherwise it is new (random).
    """
    from nndl import offline, weights

    ref = resolve(name)
    with _quiet():
        model = _build_random(ref, num_classes)
    if not pretrained and weights_file is None:
        return model
    head = head_keys(name, num_classes)
    if weights_file is not None:
        path = Path(weights_file)
        if not path.is_file():
            raise WeightsError(f"Weights file {path} for '{name}' does not exist.")
        load_backbone_state(model, read_state_dict(path), head, f"Weights file {path}")
        return model
    bundled = weights.bundled_for(name)
    if bundled is not None:  # a real ImageNet file shipped in a package: no download
        load_backbone_state(model, bundled.state_dict(), head, f"Bundled weights {bundled.name}")
        return model
    if cached_weights(name) is None:
        offline.require_online(
            f"ImageNet weights for '{name}' ({weights_source(name)})",
            missing_weights_message([name]),
        )
    with _quiet():
        if ref.library == TIMM:
            import timm

            return timm.create_model(ref.arch, pretrained=True, num_classes=num_classes)
        import torchvision

        source = torchvision.models.get_model(ref.arch, weights="DEFAULT")
    load_backbone_state(model, source.state_dict(), head, f"torchvision weights of {name}")
    return model


def last_stage_prefix(model, head: frozenset[str] = frozenset()) -> str | None:
    """Module name of the last feature stage: timm's `feature_info`, else the last top-level child
    with non-head parameters (descending while one child holds most of the network)."""
    info = getattr(model, "feature_info", None)
    if isinstance(info, list) and info and "module" in info[-1]:
        return info[-1]["module"]

    def body_size(module, prefix: str) -> int:
        return sum(p.numel() for k, p in module.named_parameters() if f"{prefix}{k}" not in head)

    total = body_size(model, "")
    prefix, module = "", model
    while True:
        children = [(n, m) for n, m in module.named_children() if body_size(m, f"{prefix}{n}.")]
        if not children:
            return prefix.rstrip(".") or None
        name, child = children[-1]
        prefix += f"{name}."
        if body_size(child, prefix) < 0.6 * total or not list(child.children()):
            return prefix.rstrip(".")
        module = child


def trainable_names(model, name: str, num_classes: int, fine_tune: str) -> set[str]:
    """Parameter names that train: all, the head, or the head and the last stage."""
    params = dict(model.named_parameters())
    if fine_tune == "all":
        return set(params)
    head = {k for k in head_keys(name, num_classes) if k in params}
    if fine_tune == "head":
        return head
    stage = last_stage_prefix(model, frozenset(head))
    return head | {k for k in params if stage and k.startswith(f"{stage}.")}


def forward_features(model, x):
    """The last spatial feature map (B, C, H, W): timm's `forward_features`, or the `features`
    trunk of torchvision's VGG/MobileNet/EfficientNet/DenseNet-style models."""
    if hasattr(model, "forward_features"):
        return model.forward_features(x)
    if hasattr(model, "features"):
        return model.features(x)
    raise ConfigError(f"{type(model).__name__} exposes no feature trunk (forward_features).")
