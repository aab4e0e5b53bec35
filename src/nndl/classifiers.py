"""The classifier under attack in a05 (FGSM) and explained in a06 (Grad-CAM, Integrated Gradients).

- `tf_efficientnet_lite0` (quick): real ImageNet-1k weights that ship inside a package
  (`nndl.weights`), in timm's architecture, attacked on real photographs of ImageNet classes.
- any torchvision or timm ImageNet-1k model (full; ResNet-50 by default): the pretrained weights
  (a bundled file, the torchvision/timm cache or download, or a `weights_file`), the model's own
  ImageNet preprocessing and the 1,000 class names. Images: the bundled photographs plus the
  user's files.
- `small_cnn` (smoke, the test suite): `nndl.models.small_cnn.SmallCNN` trained with the shared
  loop on the embedded `shapes` images, stored in the artifact cache under (model, dataset, config
  hash, seed): whichever of a05/a06 runs first trains it, the other loads it.

Either way the model takes normalised input x = (pixels - mean) / std; `Classifier` knows the valid
range of x (pixels in [0, 1]) and how big one pixel unit is in x, which FGSM needs.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nndl.config import opt
from nndl.data.photos import IMAGENET_PHOTOS, load_photo
from nndl.errors import ConfigError, DataError, WeightsError, did_you_mean

log = logging.getLogger("nndl")

# scikit-image photographs of ImageNet classes: name -> (ImageNet-1k index, class) where one fits
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class ClassifierOptions:
    """The config fields a05 and a06 share: both study configs inherit them, with one default."""

    model: str = opt(
        "tf_efficientnet_lite0",
        "a torchvision/timm ImageNet model (tf_efficientnet_lite0: real weights bundled in a "
        "package; resnet50, convnext_tiny, vit_small_patch16_224 ...: downloaded or cached), or "
        "small_cnn (trained here on rendered shapes: the smoke profile)",
    )
    weights_file: str = opt(
        "",
        "ImageNet weights file (a state_dict saved by torch.save, or "
        ".safetensors) for machines without a model hub; '' = download/cache",
    )
    photos: tuple[str, ...] = opt(
        IMAGENET_PHOTOS,
        "bundled photographs of ImageNet classes attacked with an ImageNet model "
        "(nndl.data.photos)",
    )
    images: tuple[str, ...] = opt(
        (),
        "your image files or folders (comma-separated), attacked "
        "with an ImageNet model besides the photos",
    )
    num_classes: int = opt(10, "small_cnn: shapes classes (10 shapes, or 20 = shape x texture)")
    num_train: int = opt(4000, "small_cnn: rendered training images")
    num_epochs: int = opt(8, "small_cnn: passes over the training images")
    batch_size: int = opt(32, "small_cnn: training mini-batch size")
    lr: float = opt(1e-2, "small_cnn: peak AdamW learning rate (one-cycle schedule)")
    width: int = opt(16, "small_cnn: channels of the first stage (then 2x, 4x)")
    num_test: int = opt(1000, "small_cnn: held-out shapes images to draw attack images from")


# profile values of the shared fields; a study merges its own on top (`merge_profiles`)
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "model": "small_cnn",
        "photos": (),
        "num_train": 400,
        "num_epochs": 1,
        "num_test": 120,
        "width": 8,
        "batch_size": 64,
    },
    "full": {"model": "resnet50"},
}
TRAIN_FIELDS = ("num_classes", "num_train", "num_epochs", "batch_size", "lr", "width")


def merge_profiles(*profiles: dict[str, dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for p in profiles:
        for name, values in p.items():
            out.setdefault(name, {}).update(values)
    return out


@dataclass
class Classifier:
    """A model in eval mode that maps normalised images (B, 3, H, W) to logits (B, num_classes)."""

    name: str
    model: Any  # torch.nn.Module
    class_names: list[str]
    mean: Any  # (1, 3, 1, 1) tensor
    std: Any  # (1, 3, 1, 1) tensor
    cam_layer: Any  # the module whose output Grad-CAM uses
    cam_layer_name: str
    weights: str  # provenance of the weights
    image_size: int
    resize_size: int = 0  # ImageNet models: shorter side before the centre crop
    interpolation: str = "bilinear"
    meta: dict = dataclasses.field(default_factory=dict)  # training facts (small_cnn)
    cached: bool = False  # True when loaded from the artifact cache

    # input space <-> pixel space
    def normalize(self, pixels):
        return (pixels - self.mean) / self.std

    def to_pixels(self, x):
        return x * self.std + self.mean

    @property
    def lo(self):  # black, in input space (1, 3, 1, 1)
        return (0 - self.mean) / self.std

    @property
    def hi(self):  # white
        return (1 - self.mean) / self.std

    @property
    def pixel_scale(self):  # input-space length of one pixel unit, per channel
        return 1 / self.std

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def predict(self, x, batch_size: int = 256):
        """Softmax probabilities (N, num_classes) for input-space images, without gradients."""
        import torch

        with torch.no_grad():
            return torch.cat(
                [self.model(x[i : i + batch_size]).softmax(1) for i in range(0, len(x), batch_size)]
            )


@dataclass
class ImageSet:
    """Images to attack, as pixels in [0, 1] (N, 3, H, W), with labels and names."""

    pixels: Any
    labels: Any  # (N,) int64: the true class (shapes) or the clean top-1 (photos, your files)
    names: list[str]
    label_note: str  # how `labels` were obtained, for the report


# -- building the classifier -----------------------------------------------------------------------


def is_small_cnn(cfg) -> bool:
    return cfg.model == "small_cnn"


def check_options(cfg) -> None:
    """Fail before any work on settings that cannot be used: an unknown model, an unknown photo,
    an image file that does not decode, or images given to small_cnn (which attacks shapes and
    would ignore them)."""
    if is_small_cnn(cfg):
        if cfg.photos or cfg.images:
            raise ConfigError(
                "photos= and images= need an ImageNet model; small_cnn attacks rendered shapes "
                "(use --set model=tf_efficientnet_lite0, the quick default)."
            )
        return
    resolve_model_name(cfg.model)
    for photo in cfg.photos:
        load_photo(photo)
    for path in _image_files(cfg.images):
        _read_image(path)
    if not cfg.photos and not _image_files(cfg.images):
        raise ConfigError("No images to attack: set photos=... or images=a.jpg,b.png.")


def cache_key(cfg, seed: int) -> dict:
    """(model, dataset, config) of the cached classifier: a05 and a06 compute the same key.

    The architecture's printout is part of it, so a changed SmallCNN is never loaded from an
    artifact trained with an older one.
    """
    import hashlib

    from nndl.models.small_cnn import SmallCNN

    arch = repr(SmallCNN(cfg.num_classes, cfg.width))
    return {
        "model": "small_cnn",
        "dataset": "shapes",
        "seed": seed,
        "arch": hashlib.sha256(arch.encode()).hexdigest()[:12],
        "config": {k: getattr(cfg, k) for k in TRAIN_FIELDS},
    }


def load_classifier(cfg, ctx) -> Classifier:
    """The classifier the config names, on ctx.device, in eval mode; provenance recorded."""
    if is_small_cnn(cfg):
        clf = _shapes_classifier(cfg, ctx)
        how = (
            f"loaded from the artifact cache (trained by {clf.meta.get('trained_in_run')})"
            if clf.cached
            else "trained in this run and stored in the artifact cache"
        )
        ctx.provenance("weights", f"SmallCNN trained from random init on embedded shapes: {how}")
    else:
        clf = _imagenet_classifier(cfg)
        ctx.provenance("weights", clf.weights)
    clf.model.to(ctx.device).eval()
    clf.mean, clf.std = clf.mean.to(ctx.device), clf.std.to(ctx.device)
    for p in clf.model.parameters():
        p.requires_grad_(False)  # attacks and attributions need input gradients only
    return clf


def _shapes_classifier(cfg, ctx) -> Classifier:
    import torch

    from nndl.data.synthetic.shapes import class_names
    from nndl.models.small_cnn import SmallCNN

    folder, cached = ctx.cache.get_or_build(
        "classifier", cache_key(cfg, ctx.seed), lambda tmp: _train_small_cnn(tmp, cfg, ctx)
    )
    meta = ctx.cache.meta(folder)
    model = SmallCNN(cfg.num_classes, cfg.width)
    model.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
    stat = torch.tensor(meta["mean"]).view(1, 3, 1, 1), torch.tensor(meta["std"]).view(1, 3, 1, 1)
    return Classifier(
        name="small_cnn",
        model=model,
        class_names=class_names(cfg.num_classes),
        mean=stat[0],
        std=stat[1],
        cam_layer=model.cam_layer,
        cam_layer_name="stage3 (8x8)",
        weights=f"SmallCNN trained on shapes ({folder})",
        image_size=32,
        meta=meta,
        cached=cached,
    )


def _train_small_cnn(folder: Path, cfg, ctx) -> dict:
    """Render shapes, train SmallCNN with the shared loop, save model.pt; returns the metadata."""
    import time

    import torch

    from nndl.data.synthetic.shapes import load_shapes
    from nndl.models.small_cnn import SmallCNN
    from nndl.train import ArrayData, TorchTrainable, fit

    t0 = time.perf_counter()
    x_tr, y_tr, _, _ = load_shapes(cfg.num_classes, cfg.num_train, 0, 32, seed=ctx.seed)
    render_s = time.perf_counter() - t0
    # the input space: per-channel standardisation with the training set's statistics
    mean, std = x_tr.mean(axis=(0, 2, 3)), x_tr.std(axis=(0, 2, 3))
    x = torch.from_numpy((x_tr - mean[:, None, None]) / std[:, None, None])
    torch.manual_seed(ctx.seed)
    model = SmallCNN(cfg.num_classes, cfg.width)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=5e-4)
    steps = cfg.num_epochs * -(-cfg.num_train // cfg.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, cfg.lr, total_steps=steps, pct_start=0.15
    )
    history = fit(
        TorchTrainable(model, optimizer, device=ctx.device, scheduler=scheduler),
        ArrayData(x, torch.from_numpy(y_tr)),
        name="classifier",
        num_epochs=cfg.num_epochs,
        batch_size=cfg.batch_size,
        seed=ctx.seed,
        checkpoint_dir=ctx.checkpoint_dir,
        resume=ctx.resume,
    )
    torch.save(model.cpu().state_dict(), folder / "model.pt")
    return {
        "mean": mean.tolist(),
        "std": std.tolist(),
        "history": history.epochs,
        "train_seconds": sum(history.epoch_seconds),
        "render_seconds": render_s,
        "trained_in_run": str(ctx.folder),
        "num_train": cfg.num_train,
    }


# -- ImageNet models -------------------------------------------------------------------------------


def _torchvision_names() -> list[str]:
    import torchvision

    return torchvision.models.list_models(module=torchvision.models)


def _timm_names() -> set[str]:
    import timm

    return set(timm.list_models()) | set(timm.list_models(pretrained=True))


def resolve_model_name(name: str) -> str:
    """'torchvision' or 'timm' for a known name; otherwise a ConfigError with close matches."""
    if name in _torchvision_names():
        return "torchvision"
    if name.removeprefix("timm/") in _timm_names():
        return "timm"
    choices = sorted({"small_cnn", *_torchvision_names(), *_timm_names()})
    raise ConfigError(f"Unknown model '{name}'.{did_you_mean(name, choices)}")


def _weights_help(name: str, source: str) -> str:
    return (
        f"Download them once on a machine with a network ({source}), or pass "
        f"--set weights_file=PATH: a state_dict of {name} saved with torch.save (or a "
        f".safetensors file)."
    )


def weights_plan(cfg) -> str:
    """Where the weights will come from (for --dry-run), without loading anything."""
    if is_small_cnn(cfg):
        return "SmallCNN trained on shapes (or loaded from the artifact cache)"
    lib = resolve_model_name(cfg.model)
    if cfg.weights_file:
        state = "found" if Path(cfg.weights_file).is_file() else "MISSING"
        return f"{cfg.model} ({lib}) from weights_file {cfg.weights_file} ({state})"
    if lib == "torchvision":
        path = _torchvision_cache_path(cfg.model)
        if path.is_file():
            return f"{cfg.model} ImageNet weights (torchvision) cached at {path}"
        return f"{cfg.model} ImageNet weights (torchvision): not cached, download to {path}"
    from nndl import weights

    bundled = weights.bundled_for(cfg.model)
    if bundled is not None:
        return f"{cfg.model} ImageNet weights bundled in {bundled.package}: {bundled.locate()}"
    return f"{cfg.model} ImageNet weights (timm, Hugging Face hub or its cache)"


def _torchvision_cache_path(name: str) -> Path:
    import torch
    from torchvision.models import get_model_weights

    url = get_model_weights(name).DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _read_state_dict(path: Path) -> dict:
    import torch

    if not path.is_file():
        raise WeightsError(f"weights_file {path} does not exist.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise WeightsError(f"weights_file {path} cannot be read ({type(e).__name__}).") from e
    for key in ("state_dict", "model"):  # training checkpoints often wrap the weights
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return state


def _load_state(model, path: Path, name: str) -> None:
    state = _read_state_dict(path)
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shapes that differ
        lines = [ln.strip() for ln in str(e).splitlines() if "size mismatch" in ln]
        detail = lines[0] if lines else str(e)[:200]
        more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
        raise WeightsError(f"weights_file {path} does not fit {name}: {detail}{more}") from None
    if result.missing_keys or result.unexpected_keys:

        def some(keys):
            return f"{len(keys)} (e.g. {', '.join(keys[:3])})" if keys else "0"

        raise WeightsError(
            f"weights_file {path} does not fit {name}: missing keys {some(result.missing_keys)}, "
            f"unexpected keys {some(result.unexpected_keys)}."
        )


def _imagenet_classifier(cfg) -> Classifier:
    import torch

    from nndl import offline

    lib = resolve_model_name(cfg.model)
    weights_path = Path(cfg.weights_file).expanduser() if cfg.weights_file else None
    if weights_path and not weights_path.is_file():
        raise WeightsError(f"weights_file {weights_path} does not exist.")
    if lib == "torchvision":
        import torchvision
        from torchvision.models import get_model_weights

        weights = get_model_weights(cfg.model).DEFAULT
        cached = _torchvision_cache_path(cfg.model)
        if not weights_path and not cached.is_file():  # fail before building anything
            offline.require_online(
                f"ImageNet weights of {cfg.model} ({weights.url})",
                _weights_help(cfg.model, "torchvision download"),
            )
        model = torchvision.models.get_model(cfg.model, weights=None)
        if weights_path:
            _load_state(model, weights_path, cfg.model)
            source = f"ImageNet weights of {cfg.model} from {weights_path}"
        else:
            model.load_state_dict(weights.get_state_dict(progress=False))
            source = f"torchvision {weights} (pretrained on ImageNet-1k), {cached}"
        tf = weights.transforms()
        mean, std = tf.mean, tf.std
        size, resize = tf.crop_size[0], tf.resize_size[0]
        interpolation = tf.interpolation.value
        class_names = list(weights.meta["categories"])
    else:
        import timm
        from torchvision.models._meta import _IMAGENET_CATEGORIES

        from nndl import weights
        from nndl.models import zoo

        name = cfg.model.removeprefix("timm/")
        bundled = None if weights_path else weights.bundled_for(name)
        if weights_path:
            model = timm.create_model(name, pretrained=False)
            _load_state(model, weights_path, name)
            source = f"ImageNet weights of timm {name} from {weights_path}"
        elif bundled is not None:
            if bundled.prefix:
                raise WeightsError(
                    f"The bundled weights of {name} ({bundled.name}) have no ImageNet classifier."
                )
            model = zoo.build(name, 1000, pretrained=True)
            source = (
                f"real ImageNet-1k weights of {name}: {bundled.description}; file "
                f"{bundled.locate()} from the package {bundled.package}"
            )
        else:
            model = _timm_pretrained(name)
            source = f"timm {name} pretrained weights ({model.pretrained_cfg.get('hf_hub_id')})"
        dc = timm.data.resolve_data_config({}, model=model)
        mean, std = dc["mean"], dc["std"]
        size = dc["input_size"][-1]
        resize = int(round(size / dc.get("crop_pct", 0.875)))
        interpolation = dc.get("interpolation", "bilinear")
        class_names = list(_IMAGENET_CATEGORIES)
    with torch.no_grad():
        num_out = model.eval()(torch.zeros(1, 3, size, size)).shape[1]
    if num_out != 1000:
        raise WeightsError(f"{cfg.model} has {num_out} outputs; a05/a06 need an ImageNet-1k model.")
    layer_name, layer = find_cam_layer(model, size)
    return Classifier(
        name=cfg.model,
        model=model,
        class_names=class_names,
        mean=torch.tensor(mean).view(1, 3, 1, 1),
        std=torch.tensor(std).view(1, 3, 1, 1),
        cam_layer=layer,
        cam_layer_name=layer_name,
        weights=source,
        image_size=size,
        resize_size=resize,
        interpolation=interpolation,
    )


def _timm_pretrained(name: str):
    """timm.create_model(pretrained=True); offline (HF_HUB_OFFLINE set by nndl.offline) only its
    local cache is tried, which fails in about a second."""
    import timm

    from nndl import offline

    is_online = offline.configure()
    try:
        return timm.create_model(name, pretrained=True)
    except Exception as e:  # noqa: BLE001 - not in the cache, or the hub refused
        if is_online:
            raise WeightsError(f"timm could not load pretrained {name}: {e}") from e
        raise WeightsError(
            f"ImageNet weights of timm {name} must be downloaded, but there is no network here "
            f"and they are not in the Hugging Face cache. {_weights_help(name, 'timm / HF hub')}"
        ) from None


def find_cam_layer(model, size: int, name: str = "") -> tuple[str, Any]:
    """The module Grad-CAM uses: `name` (dotted), else the model's `cam_layer`, else the last
    top-level child whose output is a spatial map (B, C, H, W) with H > 1 (ResNet: layer4)."""
    import torch

    modules = dict(model.named_modules())
    if name:
        if name not in modules:
            raise ConfigError(f"Unknown cam_layer '{name}'.{did_you_mean(name, modules)}")
        return name, modules[name]
    if hasattr(model, "cam_layer"):
        return "cam_layer", model.cam_layer
    shapes: dict[str, tuple] = {}
    hooks = [
        m.register_forward_hook(
            lambda _m, _i, out, n=n: shapes.__setitem__(
                n, tuple(out.shape) if isinstance(out, torch.Tensor) else ()
            )
        )
        for n, m in model.named_children()
    ]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, size, size))
    finally:
        for h in hooks:
            h.remove()
    spatial = [n for n, s in shapes.items() if len(s) == 4 and s[2] > 1 and s[3] > 1]
    if not spatial:
        raise ConfigError(
            "No spatial feature map found for Grad-CAM; name one with --set cam_layer=MODULE."
        )
    last = spatial[-1]
    return f"{last} {shapes[last][2]}x{shapes[last][3]}", modules[last]


# -- images ---------------------------------------------------------------------------------------


def attack_images(cfg, clf: Classifier, ctx, max_images: int | None = None) -> ImageSet:
    """Held-out shapes images (small_cnn), or the photos and your images (ImageNet models)."""
    import torch

    if is_small_cnn(cfg):
        from nndl.data.synthetic.shapes import load_shapes

        # num_train=0: only the test split (seed + 1_000_003 inside load_shapes: never trained on)
        _, _, x_te, y_te = load_shapes(cfg.num_classes, 0, cfg.num_test, 32, seed=ctx.seed)
        n = min(len(x_te), max_images or len(x_te))
        ctx.provenance(
            "data",
            f"embedded stand-in: {n} held-out rendered shapes images "
            f"(32x32, {cfg.num_classes} classes), none seen in training",
        )
        return ImageSet(
            torch.from_numpy(x_te[:n]),
            torch.from_numpy(y_te[:n]),
            [f"test #{i}" for i in range(n)],
            "the true (rendered) class",
        )
    pixels, names = [], []
    for photo in cfg.photos:
        pixels.append(_prepare(load_photo(photo), clf))
        names.append(photo)
    for path in _image_files(cfg.images):
        pixels.append(_prepare(_read_image(path), clf))
        names.append(path.name)
    if not pixels:
        raise ConfigError("No images to attack: set photos=... or images=a.jpg,b.png.")
    x = torch.stack(pixels)
    labels = clf.predict(clf.normalize(x.to(ctx.device))).argmax(1).cpu()
    n_user = len(names) - len(cfg.photos)
    ctx.provenance(
        "data",
        f"real photographs: {len(cfg.photos)} bundled with scikit-image "
        f"({', '.join(cfg.photos)}) and {n_user} of yours",
    )
    return ImageSet(x, labels, names, "the model's clean top-1 prediction")


def _image_files(items) -> list[Path]:
    files = []
    for item in items:
        p = Path(item).expanduser()
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        elif p.is_file():
            files.append(p)
        else:
            raise DataError(f"Image {p} does not exist (images= takes files or folders).")
    return files


def _read_image(path: Path):
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"Image {path} cannot be read ({type(e).__name__}).") from e


def _prepare(img, clf: Classifier):
    """uint8 (H, W, 3) -> pixels (3, S, S) in [0, 1]: resize the shorter side, centre crop."""
    import torch
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    t = torch.from_numpy(img.copy()).permute(2, 0, 1)  # (3, H, W) uint8
    mode = InterpolationMode(clf.interpolation)
    t = TF.resize(t, [clf.resize_size or clf.image_size], interpolation=mode, antialias=True)
    t = TF.center_crop(t, [clf.image_size, clf.image_size])
    return t.float() / 255.0
