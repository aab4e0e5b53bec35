"""The one training loop: epochs of batches, evaluation, history, checkpoints, resume, NaN guard.

What is trained is a `Trainable`: anything with `train_step(batch) -> dict` (must hold "loss"),
`eval_step(batch) -> dict`, `state_dict()` and `load_state_dict()`. `TorchTrainable` is the usual
one: forward, loss, backward and optimizer step, visible in `train_step`. A study customises it
with a step function (distillation, contrastive, GAN, denoising) instead of copying the loop.

Batches come from a seeded permutation per epoch (`epoch_batches`), so the order of epoch e
depends only on (seed, e): a run resumed from a checkpoint sees exactly the batches an
uninterrupted run would, and on CPU ends with the same metrics. Under `torchrun` each rank takes
its share of every epoch's batches, `TorchTrainable` wraps the model in DDP, and only rank 0
writes checkpoints.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from nndl.errors import ConfigError, NndlError, TrainingError
from nndl.run import dist_info

log = logging.getLogger("nndl")


class Trainable(Protocol):
    def train_step(self, batch) -> dict[str, float]: ...
    def eval_step(self, batch) -> dict[str, float]: ...
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> None: ...


# -- data -----------------------------------------------------------------------------------------


def epoch_batches(
    n: int, batch_size: int, seed: int, epoch: int, *, shuffle: bool = True, drop_last=False
) -> list:
    """Index batches for one epoch: a permutation seeded by (seed, epoch), split for DDP ranks."""
    import numpy as np

    if batch_size < 1:
        raise ConfigError(f"The batch size must be at least 1; got {batch_size}.")

    order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
    rank, world = dist_info()
    if world > 1:  # every rank gets the same number of batches (pad by wrapping around)
        per_rank = math.ceil(n / world)
        order = np.resize(order, per_rank * world)[rank::world]
    stop = len(order) - (len(order) % batch_size if drop_last else 0)
    return [order[i : i + batch_size] for i in range(0, stop, batch_size)]


class ArrayData:
    """Tensors or arrays indexed together: `ArrayData(x, y)[idx] -> (x[idx], y[idx])`."""

    def __init__(self, *arrays):
        self.arrays = arrays

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, idx):
        return tuple(a[idx] for a in self.arrays)


def iterate(data, batches: Sequence) -> Iterator:
    """Batches from `ArrayData` (sliced in place) or a torch Dataset (collated)."""
    if isinstance(data, ArrayData):
        for idx in batches:
            yield data[idx]
        return
    from torch.utils.data import default_collate

    for idx in batches:
        yield default_collate([data[int(i)] for i in idx])


# -- the loop -------------------------------------------------------------------------------------


@dataclass
class History:
    """Per-epoch metrics (deterministic) and per-epoch wall-clock seconds (timings)."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    resumed_from: int = 0  # epochs already done when this process started

    def last(self, key: str) -> float:
        return self.epochs[-1][key]

    def series(self, key: str) -> list[float]:
        return [e[key] for e in self.epochs]


def _mean(rows: list[tuple[int, dict]]) -> dict[str, float]:
    total = sum(n for n, _ in rows) or 1
    keys = rows[0][1].keys() if rows else []
    return {k: sum(n * r[k] for n, r in rows) / total for k in keys}


def _batch_len(batch) -> int:
    first = batch[0] if isinstance(batch, list | tuple) else batch
    return len(first)


def evaluate(trainable: Trainable, data, batch_size: int) -> dict[str, float]:
    """Mean of `eval_step` over `data`, weighted by batch size (all of it, on every rank)."""
    rows = []
    for batch in iterate(data, epoch_batches(len(data), batch_size, 0, 0, shuffle=False)):
        rows.append((_batch_len(batch), trainable.eval_step(batch)))
    return _mean(rows)


def _rng_state() -> dict:
    import random

    import numpy as np
    import torch

    # numpy's state as plain values and a tensor: checkpoints load with weights_only=True
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), gauss],
        "py": random.getstate(),
    }


def _set_rng_state(state: dict) -> None:
    import random

    import numpy as np
    import torch

    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(state["py"])


_NDARRAY = "__ndarray__"  # marks a NumPy array stored as a tensor in a checkpoint


def _to_tensors(obj):
    """NumPy arrays (a04's hand-written and Keras trainables) become marked tensors, so the file
    holds nothing that weights-only loading refuses."""
    import numpy as np
    import torch

    if isinstance(obj, np.ndarray):
        return {_NDARRAY: torch.from_numpy(obj.copy())}  # copy: contiguous, same shape
    if isinstance(obj, dict):
        return {k: _to_tensors(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_tensors(v) for v in obj)
    return obj


def _from_tensors(obj):
    if isinstance(obj, dict):
        if set(obj) == {_NDARRAY}:
            return obj[_NDARRAY].numpy()
        return {k: _from_tensors(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_from_tensors(v) for v in obj)
    return obj


def save_checkpoint(path: Path, payload: dict) -> None:
    import io

    import torch

    from nndl.io import atomic_write

    buf = io.BytesIO()
    torch.save(_to_tensors(payload), buf)
    atomic_write(path, buf.getvalue())


def load_checkpoint(path: Path) -> dict:
    """weights_only=True: tensors, numbers, strings and containers only, so a tampered run
    folder cannot execute code on --resume (a pickled object is refused, not run)."""
    import torch

    try:
        return _from_tensors(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as e:  # noqa: BLE001 - a truncated, foreign or unsafe file
        raise NndlError(f"Checkpoint {path} cannot be read ({type(e).__name__}); delete it.") from e


def _progress(enabled: bool):
    if not enabled:
        return None
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
        transient=True,
    )


def fit(
    trainable: Trainable,
    train_data,
    val_data=None,
    *,
    name: str,
    num_epochs: int,
    batch_size: int,
    seed: int = 0,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    checkpoint_every: int = 0,
    quiet: bool | None = None,
    on_epoch_end: Callable[[int, dict], None] | None = None,
) -> History:
    """Train for `num_epochs`, evaluating `val_data` after each epoch.

    Checkpoints go to `checkpoint_dir/NAME.pt` after every epoch (and every `checkpoint_every`
    steps when > 0). With `resume`, training continues from that file; a finished checkpoint
    means training is skipped and the trained state restored.
    """
    rank, world = dist_info()
    ckpt = Path(checkpoint_dir) / f"{name}.pt" if checkpoint_dir else None
    history = History()
    start_epoch, skip_steps, partial_rows = 0, 0, []
    if resume and ckpt is not None and ckpt.exists():
        state = load_checkpoint(ckpt)
        trainable.load_state_dict(state["trainable"])
        history.epochs, history.epoch_seconds = state["epochs"], state["epoch_seconds"]
        start_epoch, skip_steps = state["epoch"], state.get("step", 0)
        partial_rows = state.get("rows", [])  # the logs of the steps already done in that epoch
        history.resumed_from = start_epoch
        _set_rng_state(state["rng"])
        log.info("%s: resumed at epoch %d step %d from %s", name, start_epoch, skip_steps, ckpt)

    def checkpoint(epoch: int, step: int, rows: list | None = None) -> None:
        if ckpt is None or rank != 0:
            return
        save_checkpoint(
            ckpt,
            {
                "epoch": epoch,  # epochs completed
                "step": step,  # steps completed within `epoch` (0 at a boundary)
                "trainable": trainable.state_dict(),
                "epochs": history.epochs,
                "epoch_seconds": history.epoch_seconds,
                "rng": _rng_state(),
                "rows": rows or [],
            },
        )

    if quiet is None:
        quiet = not sys.stderr.isatty() or os.environ.get("NNDL_QUIET") == "1"
    bar = _progress(not quiet and rank == 0)
    if bar:
        bar.start()
    try:
        for epoch in range(start_epoch, num_epochs):
            t0 = time.perf_counter()
            batches = epoch_batches(len(train_data), batch_size, seed, epoch)
            task = (
                bar.add_task(f"{name} {epoch + 1}/{num_epochs}", total=len(batches), info="")
                if bar
                else None
            )
            if hasattr(trainable, "train_epoch"):  # e.g. Keras model.fit over the epoch's batches
                rows = [(len(train_data), trainable.train_epoch(train_data, batches))]
            else:
                rows, partial_rows = partial_rows, []
                for step, batch in enumerate(iterate(train_data, batches[skip_steps:]), skip_steps):
                    logs = trainable.train_step(batch)
                    if not math.isfinite(logs["loss"]):
                        kept = (
                            f"the last good checkpoint is kept at {ckpt}"
                            if ckpt
                            else "no checkpoint"
                        )
                        raise TrainingError(
                            f"{name}: loss became {logs['loss']} at epoch {epoch + 1}, step "
                            f"{step + 1}; {kept}. Lower the learning rate (--set lr=...)."
                        )
                    rows.append((_batch_len(batch), logs))
                    if bar:
                        bar.update(task, advance=1, info=f"loss {logs['loss']:.4f}")
                    if checkpoint_every and (step + 1) % checkpoint_every == 0:
                        checkpoint(epoch, step + 1, rows)
            skip_steps = 0
            record = {"epoch": epoch + 1, **{f"train_{k}": v for k, v in _mean(rows).items()}}
            if not math.isfinite(record.get("train_loss", 0.0)):
                raise TrainingError(
                    f"{name}: loss became {record['train_loss']} in epoch {epoch + 1}."
                )
            if val_data is not None:
                record.update(
                    {f"val_{k}": v for k, v in evaluate(trainable, val_data, batch_size).items()}
                )
            history.epochs.append(record)
            history.epoch_seconds.append(time.perf_counter() - t0)
            checkpoint(epoch + 1, 0)
            if bar:
                bar.remove_task(task)
            log.info(
                "%s epoch %d/%d %s",
                name,
                epoch + 1,
                num_epochs,
                " ".join(f"{k}={v:.4f}" for k, v in record.items() if k != "epoch"),
            )
            if on_epoch_end:
                on_epoch_end(epoch + 1, record)
    finally:
        if bar:
            bar.stop()
    return history


# -- torch ----------------------------------------------------------------------------------------

StepFn = Callable[[Any, Any], tuple[Any, dict[str, float]]]


def classification_step(model, batch) -> tuple[Any, dict[str, float]]:
    """Cross-entropy on (x, y): returns the loss tensor and logs (loss, acc)."""
    import torch.nn.functional as F

    x, y = batch
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    acc = (logits.argmax(1) == y).float().mean()
    return loss, {"loss": loss.item(), "acc": acc.item()}


class TorchTrainable:
    """A torch model, its optimizer and a step function: the common case of `Trainable`."""

    def __init__(
        self,
        model,
        optimizer,
        step_fn: StepFn = classification_step,
        *,
        device: str = "cpu",
        scheduler=None,
        amp: bool | None = None,
        grad_clip: float | None = None,
    ):
        import torch

        self.device = device
        self.module = model.to(device)  # the unwrapped model: checkpoints, evaluation
        self.model = self.module
        if dist_info()[1] > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [torch.cuda.current_device()] if device == "cuda" else None
            self.model = DistributedDataParallel(self.module, device_ids=ids)
        self.optimizer, self.scheduler, self.step_fn = optimizer, scheduler, step_fn
        self.amp = (device == "cuda") if amp is None else amp  # mixed precision on CUDA
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.grad_clip = grad_clip

    def _to_device(self, batch):
        import torch

        if isinstance(batch, torch.Tensor):
            return batch.to(self.device, non_blocking=True)
        if isinstance(batch, list | tuple):
            return type(batch)(self._to_device(b) for b in batch)
        return batch

    def train_step(self, batch) -> dict[str, float]:
        import torch

        self.model.train()
        batch = self._to_device(batch)
        with torch.autocast(self.device, enabled=self.amp):
            loss, logs = self.step_fn(self.model, batch)  # forward + loss
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()  # backward
        if self.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.grad_clip)
        self.scaler.step(self.optimizer)  # step
        self.scaler.update()
        if self.scheduler is not None:
            self.scheduler.step()
        return logs

    def eval_step(self, batch) -> dict[str, float]:
        import torch

        self.module.eval()
        with torch.no_grad(), torch.autocast(self.device, enabled=self.amp):
            _, logs = self.step_fn(self.module, self._to_device(batch))
        return logs

    def state_dict(self) -> dict:
        return {
            "model": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
        }

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        if self.scheduler is not None and state.get("scheduler"):
            self.scheduler.load_state_dict(state["scheduler"])


class ModulesTrainable:
    """Several torch modules and their optimizers, and a step function that owns the updates.

    For training where one step updates more than one network in turn (a GAN updates D, then G;
    a CycleGAN two generators and two discriminators): `step_fn(modules, optimizers, batch)` does
    its own forward, backward and optimizer steps and returns the logs (holding "loss"), so the
    order of the updates stays visible in the study's step function. `eval_fn(modules, batch)`
    (optional) runs under `torch.no_grad()` with the modules in eval mode.
    """

    def __init__(self, modules: dict, optimizers: dict, step_fn, *, device="cpu", eval_fn=None):
        self.modules = {k: m.to(device) for k, m in modules.items()}
        self.optimizers, self.step_fn = optimizers, step_fn
        self.eval_fn, self.device = eval_fn, device

    def _to_device(self, batch):
        return tuple(b.to(self.device) for b in batch)

    def train_step(self, batch) -> dict[str, float]:
        for m in self.modules.values():
            m.train()
        return self.step_fn(self.modules, self.optimizers, self._to_device(batch))

    def eval_step(self, batch) -> dict[str, float]:
        import torch

        if self.eval_fn is None:
            raise TypeError("This ModulesTrainable has no eval_fn; pass val_data=None to fit.")
        for m in self.modules.values():
            m.eval()
        with torch.no_grad():
            return self.eval_fn(self.modules, self._to_device(batch))

    def state_dict(self) -> dict:
        return {
            "modules": {k: m.state_dict() for k, m in self.modules.items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        for k, m in self.modules.items():
            m.load_state_dict(state["modules"][k])
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
