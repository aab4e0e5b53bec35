"""`photos`: real photographs bundled with scikit-image and scikit-learn, the single ImageNet-class
images that a05 attacks and a06 explains (`chelsea` is a tabby cat, `coffee` an espresso cup,
`rocket` a missile on its pad, `motorcycle` a moped, `china` a palace, `flower` a daisy;
`astronaut` shows no ImageNet class). Any other colour image in `skimage.data` works by name.
"""

from __future__ import annotations

from nndl.data import DatasetInfo, register
from nndl.errors import ConfigError, did_you_mean

register(
    DatasetInfo(
        name="photos",
        kind="embedded",
        description="photographs of ImageNet classes bundled with scikit-image and scikit-learn "
        "(chelsea, coffee, rocket, motorcycle, china, flower, ...)",
        layout="",
        how_to_get="Ships with scikit-image and scikit-learn; nothing to download.",
    )
)

# photo -> (ImageNet-1k class index, class name); None where no ImageNet class fits. Where
# several classes fit (a tabby is also a 'tiger cat'), the first is the usual label.
PHOTO_CLASSES = {
    "chelsea": (281, "tabby"),
    "cat": (281, "tabby"),
    "coffee": (967, "espresso"),
    "rocket": (657, "missile"),
    "motorcycle": (665, "moped"),
    "china": (698, "palace"),
    "flower": (985, "daisy"),
    "astronaut": (None, "no ImageNet class (a person in a space suit)"),
}
# the photos the quick profile attacks: every one shows an ImageNet class
IMAGENET_PHOTOS = ("chelsea", "coffee", "rocket", "motorcycle", "china", "flower")


def _special(name: str):
    """Photos that are not a plain `skimage.data.<name>()` colour image."""
    if name == "motorcycle":  # the left view of scikit-image's stereo pair
        import skimage.data

        return skimage.data.stereo_motorcycle()[0]
    if name in ("china", "flower"):  # scikit-learn's two sample images
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    return None


def load_photo(name: str):
    """One bundled photograph as uint8 RGB (H, W, 3)."""
    import skimage.data

    img = _special(name)
    if img is None:
        if name not in PHOTO_CLASSES and not hasattr(skimage.data, name):
            raise ConfigError(
                f"Unknown photo '{name}'.{did_you_mean(name, PHOTO_CLASSES)} Any scikit-image "
                "image name works too; your own files go in images=."
            )
        img = getattr(skimage.data, name)()
    if img.ndim != 3 or img.shape[2] < 3:
        raise ConfigError(f"Photo '{name}' is not a colour photograph.")
    return img[..., :3]
