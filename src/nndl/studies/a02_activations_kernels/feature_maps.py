"""a02's last section: the feature maps of one ImageNet CNN at several depths, with the
theoretical receptive field of each."""

from __future__ import annotations

from . import common
from .common import on_meta


def feature_maps(ctx, cfg) -> None:
    import torch

    from nndl.data.photos import load_photo
    from nndl.methods import kernels
    from nndl.models import zoo

    rep = ctx.report
    rep.section(f"Feature maps of {cfg.feature_model} at several depths")
    model = zoo.build(cfg.feature_model, 1000, pretrained=True).eval()
    found = zoo.cached_weights(cfg.feature_model)
    ctx.provenance(
        "feature maps",
        f"{cfg.feature_model} with real ImageNet-1k weights ({found}), not trained here; "
        f"the real photograph '{cfg.feature_photo}'",
    )
    layers = feature_layers(model)
    image = _photo_tensor(load_photo(cfg.feature_photo), cfg.feature_image_size, cfg.feature_model)
    size = image.shape[-1]
    x = _normalise(image, cfg.feature_model)
    rf = kernels.receptive_fields(model, layers, size)
    maps = _capture(model, x, layers)
    with torch.no_grad():
        p = model(x).softmax(1)[0]
    top = int(p.argmax())
    label = _imagenet_name(top)
    ctx.metrics["feature_photo_top1"] = label
    rep.text(
        f"{cfg.feature_model} with its ImageNet weights (loaded, not trained in this run) is "
        f"shown the photograph '{cfg.feature_photo}' at {size}x{size} (shorter side resized, "
        f"centre crop, the model's own normalisation); it calls it '{label}' (p "
        f"{float(p[top]):.2f}). Forward hooks capture the output of each stage. The receptive "
        "field is the theoretical one, computed from the graph the model runs (kernel, stride "
        "and dilation of every convolution and pooling on the path). Early stages respond to "
        "edges and colour blobs at full detail; deeper stages to larger parts at coarse "
        "resolution."
    )
    rep.figure(
        _input_with_fields(image, rf, layers),
        "feature_input",
        "The input image with the receptive field of the centre unit of each depth",
    )
    fm_rows = []
    for layer in layers:
        fmap = maps[layer][0]
        side, stride = rf[layer]
        fm_rows.append(
            {
                "layer": layer,
                "channels": fmap.shape[0],
                "map": f"{fmap.shape[1]}x{fmap.shape[2]}",
                "stride": stride,
                "receptive field px": side,
            }
        )
        rep.figure(
            _feature_grid(fmap, cfg.feature_channels, layer, side, stride),
            f"features_{layer.replace('.', '_')}",
            f"{layer}: the {min(cfg.feature_channels, fmap.shape[0])} most active of "
            f"{fmap.shape[0]} channels at {fmap.shape[1]}x{fmap.shape[2]}, receptive "
            f"field {side} px",
        )
    rep.table(fm_rows, "feature_depths", "Depths shown: output size, stride and receptive field")
    ctx.metrics["receptive_fields"] = {k: v[0] for k, v in rf.items()}


def _imagenet_name(index: int) -> str:
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    return _IMAGENET_CATEGORIES[index]


def _photo_tensor(img, size: int, name: str):
    """uint8 (H, W, 3) -> (1, 3, S, S) in [0, 1]: shorter side to S / crop_pct, centre crop S."""
    import torch
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    from nndl.models import zoo

    pre = zoo.preprocessing(name)
    size = size or pre.input_size
    t = torch.from_numpy(img.copy()).permute(2, 0, 1)
    t = TF.resize(
        t, [round(size / pre.crop_pct)], InterpolationMode(pre.interpolation), antialias=True
    )
    return (TF.center_crop(t, [size, size]).float() / 255)[None]


def _normalise(image, name: str):
    """(image - mean) / std with the model's own normalisation (no resizing)."""
    import torch

    from nndl.models import zoo

    pre = zoo.preprocessing(name)
    mean, std = torch.tensor(pre.mean).view(1, 3, 1, 1), torch.tensor(pre.std).view(1, 3, 1, 1)
    return (image - mean) / std


def _capture(model, x, layers: list[str]) -> dict:
    import torch

    out, modules = {}, dict(model.named_modules())
    handles = [
        modules[la].register_forward_hook(lambda m, a, o, la=la: out.__setitem__(la, o.detach()))
        for la in layers
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return out


def feature_layers(model) -> list[str]:
    """One module per resolution: timm's feature_info stages, else each top-level child that
    changes the spatial size (found with a meta forward pass)."""
    info = getattr(model, "feature_info", None)
    if isinstance(info, list) and info and "module" in info[0]:
        return [i["module"] for i in info]
    import torch

    m = on_meta(model).eval()
    sizes, handles = {}, []
    body = dict(m.named_children()).get("features", m)
    prefix = "features." if body is not m else ""
    for n, child in body.named_children():
        handles.append(
            child.register_forward_hook(
                lambda mod, a, o, n=n: (
                    sizes.__setitem__(n, tuple(o.shape[-2:]))
                    if isinstance(o, torch.Tensor) and o.dim() == 4
                    else None
                )
            )
        )
    with torch.no_grad():
        m(torch.zeros(1, 3, 64, 64, device="meta"))
    for h in handles:
        h.remove()
    names, last = [], None
    for n, size in sizes.items():  # the last module at each resolution
        if last is not None and size != sizes[last]:
            names.append(prefix + last)
        last = n
    return names + ([prefix + last] if last else [])


# -- figures ---------------------------------------------------------------------------------------


def _input_with_fields(image, rf, layers):
    from matplotlib.patches import Rectangle

    plt = common.plt()
    img = image[0].permute(1, 2, 0).numpy()
    size = img.shape[0]
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(img, extent=(0, size, size, 0))
    cmap = plt.get_cmap("autumn")
    for i, layer in enumerate(layers):
        side = rf[layer][0]
        c = size / 2
        colour = cmap(i / max(1, len(layers) - 1))
        ax.add_patch(
            Rectangle(
                (c - side / 2, c - side / 2),
                side,
                side,
                fill=False,
                lw=2,
                edgecolor=colour,
                label=f"{layer}: {side} px",
            )
        )
    ax.set(xlim=(-0.05 * size, 1.05 * size), ylim=(1.05 * size, -0.05 * size))
    ax.legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        fontsize=8,
        title="receptive field (clipped to the view)",
    )
    ax.set_title(f"input {size}x{size}")
    fig.tight_layout()
    return fig


def _feature_grid(fmap, n: int, layer: str, side: int, stride: int):
    import math

    plt = common.plt()
    order = fmap.flatten(1).mean(1).argsort(descending=True)[:n]  # most active channels
    cols = math.ceil(math.sqrt(len(order)))
    rows = math.ceil(len(order) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.8 * cols, 1.8 * rows + 0.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, c in zip(axes.flat, order.tolist(), strict=False):
        ax.imshow(fmap[c].numpy(), cmap="viridis")
        ax.set_title(f"ch {c}", fontsize=8)
    fig.suptitle(
        f"{layer}: {fmap.shape[1]}x{fmap.shape[2]}, stride {stride}, receptive field {side} px",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
