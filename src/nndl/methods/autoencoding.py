"""Train an autoencoder of `nndl.models.autoencoders` once, and share it through the artifact cache.

a09 and a10 both call `trained_autoencoder`; the cache key is everything that defines the trained
weights (variant, latent size, width, corruption, dataset and its size, epochs, batch, lr, seed), so
a model trained by one study with the same config is loaded, not retrained, by the other.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from nndl.models.autoencoders import AESpec


@dataclass
class TrainedAE:
    model: object  # AutoEncoder, in eval mode, on the run's device
    history: list[dict]  # per-epoch metrics of the training (train_loss, train_rec, val_...)
    cached: bool  # loaded from the artifact cache (trained by an earlier run or another study)
    folder: Path  # the cache folder
    trained_by: str  # study id and run id that trained it


def trained_autoencoder(
    ctx,
    spec: AESpec,
    data_key: dict,
    train,
    val,
    *,
    num_epochs: int,
    batch_size: int,
    lr: float,
) -> TrainedAE:
    """The trained model for (spec, data, schedule, seed): from the cache, else trained now.

    `train`/`val`: float tensors (N, C, S, S) in [0, 1]; `data_key` names the data they hold
    (dataset, sizes, seed), so that equal keys mean equal training images.
    """
    import torch

    from nndl.io import read_json, write_json
    from nndl.models.autoencoders import build

    in_channels, image_size = int(train.shape[1]), int(train.shape[-1])
    key = {
        "spec": dataclasses.asdict(spec),
        "data": data_key,
        "shape": [in_channels, image_size],
        "num_epochs": num_epochs,
        "batch_size": batch_size,
        "lr": lr,
        "seed": ctx.seed,
    }

    def train_now(folder: Path) -> dict:
        model, epochs = _fit(ctx, spec, key, train, val, num_epochs, batch_size, lr)
        torch.save(model.state_dict(), folder / "model.pt")
        write_json(folder / "history.json", {"epochs": epochs}, digits=None)
        return {"trained_by": f"{ctx.study.id} run {ctx.folder.name}"}

    name = f"autoencoder-{spec.variant}"
    folder, cached = ctx.cache.get_or_build(name, key, train_now)
    meta = read_json(folder / "meta.json")
    model = build(spec, in_channels, image_size)
    model.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
    return TrainedAE(
        model.to(ctx.device).eval(),
        read_json(folder / "history.json")["epochs"],
        cached,
        folder,
        meta.get("trained_by", "?"),
    )


def _fit(ctx, spec, key, train, val, num_epochs, batch_size, lr):
    import torch

    from nndl.cache import key_hash
    from nndl.models.autoencoders import build, step
    from nndl.train import ArrayData, TorchTrainable, fit

    torch.manual_seed(ctx.seed)
    model = build(spec, int(train.shape[1]), int(train.shape[-1]))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    name = f"{spec.variant}_{key_hash(key)[:8]}"
    history = fit(
        TorchTrainable(model, optimizer, step, device=ctx.device),
        ArrayData(train),
        ArrayData(val),
        name=name,
        num_epochs=num_epochs,
        batch_size=batch_size,
        seed=ctx.seed,
        checkpoint_dir=ctx.checkpoint_dir,
        resume=ctx.resume,
    )
    ctx.timings[f"{name}_epoch_s"] = history.epoch_seconds
    return model.cpu(), history.epochs
