"""`photos`: scikit-image's bundled colour photographs, the single ImageNet-class images that the
full profile of a05 and a06 attacks and explains (`chelsea` is a tabby cat, `coffee` an espresso
cup, `rocket` a missile on its pad; `astronaut` has no ImageNet class).
"""

from __future__ import annotations

from nndl.data import DatasetInfo, register
from nndl.errors import ConfigError, did_you_mean

register(
    DatasetInfo(
        name="photos",
        kind="embedded",
        description="scikit-image's colour photographs of ImageNet classes (chelsea, coffee, ...)",
        layout="",
        how_to_get="Ships with scikit-image; nothing to download.",
    )
)

# photo -> (ImageNet class index, class name); None where no ImageNet class fits
PHOTO_CLASSES = {
    "chelsea": (281, "tabby"),
    "cat": (281, "tabby"),
    "coffee": (967, "espresso"),
    "rocket": (657, "missile"),
    "astronaut": (None, "no ImageNet class (a person in a space suit)"),
}


def load_photo(name: str):
    """One of scikit-image's photographs as uint8 RGB (H, W, 3)."""
    import skimage.data

    if name not in PHOTO_CLASSES and not hasattr(skimage.data, name):
        raise ConfigError(
            f"Unknown scikit-image photo '{name}'.{did_you_mean(name, PHOTO_CLASSES)}"
        )
    img = getattr(skimage.data, name)()
    if img.ndim != 3 or img.shape[2] < 3:
        raise ConfigError(f"scikit-image's '{name}' is not a colour photograph.")
    return img[..., :3]
