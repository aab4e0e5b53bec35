"""a01's training: one recipe for every model with the shared loop, the trained weights kept in
the artifact cache; then each model's test predictions, confusion matrix and benchmark."""

from __future__ import annotations

from .data import input_size_of
from .measuring import measure


def preprocess_step(size: int, mean, std):
    """A step function that resizes (B, 3, 32, 32) images in [0, 1] to the model's input size
    and normalises them with its mean/std, then takes the usual classification step."""
    import torch
    import torch.nn.functional as F

    from nndl.train import classification_step

    def prepare(x):
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        m = torch.tensor(mean, device=x.device).view(1, 3, 1, 1)
        s = torch.tensor(std, device=x.device).view(1, 3, 1, 1)
        return (x - m) / s

    def step(model, batch):
        x, y = batch
        return classification_step(model, (prepare(x), y))

    step.prepare = prepare
    return step


def trained_model(
    ctx, cfg, name: str, data, pretrained: bool | None = None, fine_tune: str = ""
) -> tuple:
    """(model, step function, info): trained with the shared loop, or found in the cache.

    The artifact key holds everything that changes the weights, so a02 (feature maps) and later
    runs reuse the same trained model.
    """
    import torch

    from nndl.models import zoo
    from nndl.train import ArrayData, TorchTrainable, fit

    x_tr, y_tr, _, _, names = data
    pretrained = cfg.pretrained if pretrained is None else pretrained
    fine_tune = fine_tune or cfg.fine_tune
    num_classes, size = len(names), input_size_of(cfg, name)
    pre = zoo.preprocessing(name)
    step = preprocess_step(size, pre.mean, pre.std)
    key = {
        "model": name,
        "dataset": cfg.dataset,
        "classes": list(cfg.classes) if cfg.dataset == "cifar100" else [cfg.dataset, len(names)],
        "num_train": len(x_tr),
        "size": size,
        "pretrained": pretrained,
        "fine_tune": fine_tune,
        "num_epochs": cfg.num_epochs,
        "batch_size": cfg.batch_size,
        "lr": cfg.lr,
        "weight_decay": cfg.weight_decay,
        "seed": ctx.seed,
    }

    def train(folder):
        torch.manual_seed(ctx.seed)  # each model's init is independent of the models before it
        weights_file = zoo.weights_file_in(cfg.weights_dir, name) if pretrained else None
        model = zoo.build(name, num_classes, pretrained=pretrained, weights_file=weights_file)
        train_names = zoo.trainable_names(model, name, num_classes, fine_tune)
        for pname, p in model.named_parameters():
            p.requires_grad_(pname in train_names)
        params = [p for p in model.parameters() if p.requires_grad]
        # frozen batch norms keep their (ImageNet) statistics: eval mode inside every train step
        frozen_norms = [
            m
            for m in model.modules()
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
            and not any(p.requires_grad for p in m.parameters(recurse=False))
        ]

        def train_step(model, batch):
            for m in frozen_norms:
                m.eval()
            return step(model, batch)

        lr = peak_lr(cfg, model)
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
        steps = cfg.num_epochs * -(-len(x_tr) // cfg.batch_size)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, lr, total_steps=steps, pct_start=0.25
        )
        trainable = TorchTrainable(
            model, optimizer, train_step, device=ctx.device, scheduler=scheduler
        )
        history = fit(
            trainable,
            ArrayData(torch.from_numpy(x_tr), torch.from_numpy(y_tr)),
            name=f"a01-{name}-{'in1k' if pretrained else 'scratch'}",
            num_epochs=cfg.num_epochs,
            batch_size=cfg.batch_size,
            seed=ctx.seed,
            checkpoint_dir=ctx.checkpoint_dir,
            resume=ctx.resume,
        )
        torch.save(model.state_dict(), folder / "model.pt")
        # the cached weights now serve a resumed run; the optimizer checkpoint is not needed
        (ctx.checkpoint_dir / f"a01-{name}-{'in1k' if pretrained else 'scratch'}.pt").unlink(
            missing_ok=True
        )
        return {
            "train_s": sum(history.epoch_seconds),
            "epochs": history.epochs,
            "trained_params": sum(p.numel() for p in params),
            "lr": lr,
        }

    folder, cached = ctx.cache.get_or_build(f"a01-{name}", key, train)
    model = zoo.build(name, num_classes)  # the architecture; the trained weights follow
    model.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
    return (
        model.to(ctx.device).eval(),
        step,
        {**ctx.cache.meta(folder), "cached": cached, "folder": str(folder)},
    )


def peak_lr(cfg, model) -> float:
    """The recipe's learning rate: `lr`, or `lr_no_norm` for a network without any
    normalisation layer (nothing keeps its activations in range at the larger rate)."""
    import torch

    norms = (torch.nn.modules.batchnorm._NormBase, torch.nn.LayerNorm, torch.nn.GroupNorm)
    has_norm = any(isinstance(m, norms) for m in model.modules())
    return cfg.lr if has_norm else cfg.lr_no_norm


def predict(model, step, x, batch_size: int, device: str):
    """Predicted labels for float images x (N, 3, 32, 32)."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = torch.from_numpy(x[i : i + batch_size]).to(device)
            out.append(model(step.prepare(xb)).argmax(1).cpu())
    return torch.cat(out).numpy()


def train_and_measure(
    ctx, cfg, data, name: str, pretrained: bool, label: str = "", fine_tune: str = ""
):
    """Train (or load from the cache), test and benchmark one model: its result dict."""
    import numpy as np

    _, _, x_te, y_te, class_names = data
    label = label or name
    model, step, info = trained_model(ctx, cfg, name, data, pretrained, fine_tune)
    y_pred = predict(model, step, x_te, cfg.batch_size, ctx.device)
    k = len(class_names)  # confusion matrix: rows true class, columns predicted
    cm = np.bincount(y_te * k + y_pred, minlength=k * k).reshape(k, k)
    class_acc = cm.diagonal() / np.maximum(cm.sum(1), 1)
    counts, times = measure(ctx, cfg, name, model)
    ctx.timings[label] = {**times, "train_s": info["train_s"], "from_cache": info["cached"]}
    result = {
        "top1": float((y_pred == y_te).mean()),
        "per_class_mean": float(class_acc.mean()),
        "per_class_min": float(class_acc.min()),
        **counts,
        "trained_params": info["trained_params"],
        "pretrained": pretrained,
        "final_train_acc": info["epochs"][-1].get("train_acc") if info["epochs"] else None,
    }
    ctx.metrics.setdefault("models", {})[label] = result
    return {**result, "per_class": class_acc, "confusion": cm}


def pretraining_pair(ctx, cfg, data) -> dict:
    """The same model and recipe from its real ImageNet weights and from random init; every
    parameter trains in both (a random backbone with only its head trained says nothing)."""
    if not cfg.pretraining_pair:
        return {}
    name = cfg.pretraining_pair
    return {
        f"{name} ({init} init)": train_and_measure(
            ctx, cfg, data, name, init == "ImageNet", f"{name} ({init} init)", "all"
        )
        for init in ("ImageNet", "random")
    }
