"""What a08's segmentation and counting sections share: the optimiser, data notes, wording, plt."""

from __future__ import annotations

# images per split in the published releases: a smaller folder is a subset, and the report says so
PUBLISHED = {
    "pets": {"train": 3680, "test": 3669},
    "camvid": {"train": 367, "val": 101, "test": 233},
    "shanghaitech_A": {"train": 300, "test": 182},
    "shanghaitech_B": {"train": 400, "test": 316},
}


def subset_note(name: str, sizes: dict[str, int]) -> str:
    """'; a subset: the published release has ...' when fewer images were used."""
    full = PUBLISHED[name]
    if all(sizes.get(k, 0) >= v for k, v in full.items()):
        return ""
    published = " / ".join(f"{v} {k}" for k, v in full.items())
    return f"; a subset: the published release has {published}"


def adam_one_cycle(model, lr: float, num_examples: int, batch_size: int, num_epochs: int):
    """Adam with a one-cycle schedule (warm-up to `lr`, then cosine decay), stepped per batch."""
    import torch

    from nndl.train import epoch_batches

    steps = len(epoch_batches(num_examples, batch_size, 0, 0)) * num_epochs  # per rank
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, lr, total_steps=max(steps, 1), pct_start=0.2
    )
    return optimizer, schedule


def n_of(count: int, noun: str) -> str:
    """'1 epoch', '8 epochs'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
