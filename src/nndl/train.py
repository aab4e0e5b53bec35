"""The one training loop: epochs of batches, evaluation, history, checkpoints, resume, NaN guard.

What is trained is a `Trainable` (the protocol below): `train_step(batch) -> dict` (must hold
"loss"), `eval_step(batch) -> dict`, `state_dict()` and `load_state_dict()`, and optionally
`train_epoch` (a whole epoch in one call, as Keras' `model.fit`). `TorchTrainable` is the usual
one: forward, loss, backward and optimizer step, visible in `train_step`. A study customises it
with a step function (distillation, contrastive, GAN, denoising) instead of copying the loop.

A step's logs may be Python floats or 0-dim tensors. Tensors are summed where they are (on the
GPU: no host synchronisation per step) in float64, and read once per epoch; on the CPU the sums
are the same float64 arithmetic as summing `.item()` values, so metrics do not depend on which
a step function returns.

Batches come from a seeded permutation per epoch (`epoch_batches`), so the order of epoch e
depends only on (seed, e): a run resumed from a checkpoint sees exactly the batches an
uninterrupted run would, and on CPU ends with the same metrics. Arrays (`ArrayData`) are sliced
in the main process; a torch `Dataset` (decoded and augmented per item) goes through a
`DataLoader` whose batch sampler yields exactly those batches, with worker processes, pinned
memory on CUDA and workers kept across epochs. Under `torchrun` each rank takes its share of
every epoch's batches, `TorchTrainable` wraps the model in DDP, and only rank 0 writes
checkpoints.

Settings of the loop itself, the same for every study (`--set num_workers=2`, `--set amp=off`,
`--set compile=true`, `--set channels_last=true`), are `LoopOptions`; `nndl.run` applies them.
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
from typing import Any, Literal, Protocol

from nndl import interrupt
from nndl.errors import ConfigError, NndlError, TrainingError
from nndl.run import dist_info

log = logging.getLogger("nndl")


class Trainable(Protocol):
    """What `fit` trains. Subclass it to inherit the defaults of the two optional methods."""

    def train_step(self, batch) -> dict[str, float]:
        """One optimisation step on one batch; the logs hold "loss" (floats or 0-dim tensors)."""
        ...

    def eval_step(self, batch) -> dict[str, float]: ...
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> None: ...

    def train_epoch(self, data, batches) -> dict[str, float] | None:
        """A whole epoch in one call over `batches` (Keras' `model.fit`), returning the epoch's
        mean logs; None (the default) means `fit` calls `train_step` batch by batch."""
        return None

    def learning_rate(self) -> float | None:
        """The current learning rate, recorded per epoch in `History.lr` (None: not known)."""
        return None


@dataclass
class LoopOptions:
    """Settings of the training loop, the same for every study (`--set key=value`)."""

    # DataLoader worker processes for torch Datasets; -1: from the cores on a GPU, 0 on the CPU
    # (there the workers would take cores from the model, and a Dataset's random augmentation
    # would draw from the workers' RNGs: CPU results stay those of in-process loading)
    num_workers: int = -1
    amp: Literal["auto", "off", "bf16", "fp16"] = (
        "auto"  # auto (bf16 where the GPU has it, else fp16 + GradScaler; off on CPU) | off
    )
    channels_last: bool | None = None  # NHWC for CNNs; None: CUDA, or a model's cpu_channels_last
    compile: bool = False  # torch.compile the model
    device: str = "cpu"  # the run's device (set by nndl.run, not a --set key)

    def workers(self) -> int:
        if self.num_workers >= 0:
            return self.num_workers
        return 0 if self.device == "cpu" else self.auto_workers()

    @staticmethod
    def auto_workers() -> int:
        """One core for the main process, the rest (up to 8) decode; per rank under torchrun."""
        cores = (os.cpu_count() or 1) // dist_info()[1]
        return max(0, min(8, cores - 1))


_LOOP = {"options": LoopOptions()}


def split_loop_overrides(config_cls: type, overrides: dict) -> tuple[dict, LoopOptions]:
    """(the study's `--set` values, the loop's): a key of `LoopOptions` that the study's config
    does not declare itself sets the loop, type-checked like any config value."""
    import dataclasses
    import typing

    from nndl.config import coerce

    own = {f.name for f in dataclasses.fields(config_cls)}
    hints = typing.get_type_hints(LoopOptions)
    loop = {k: v for k, v in overrides.items() if k in hints and k not in own and k != "device"}
    rest = {k: v for k, v in overrides.items() if k not in loop}
    return rest, LoopOptions(**{k: coerce(v, hints[k], k) for k, v in loop.items()})


def loop_options() -> LoopOptions:
    return _LOOP["options"]


def set_loop_options(options: LoopOptions) -> LoopOptions:
    """Make `options` the loop's settings; returns the previous ones (to restore)."""
    previous, _LOOP["options"] = _LOOP["options"], options
    return previous


# -- data -----------------------------------------------------------------------------------------


GROUP_BATCHES = 50  # length grouping sorts windows of this many batches (as Hugging Face's)


def epoch_batches(
    n: int,
    batch_size: int,
    seed: int,
    epoch: int,
    *,
    shuffle: bool = True,
    drop_last=False,
    lengths=None,
) -> list:
    """Index batches for one epoch: a permutation seeded by (seed, epoch), split for DDP ranks.

    With `lengths` (one per example, e.g. tokens) the shuffled examples are grouped by length:
    each window of GROUP_BATCHES batches is sorted by length before it is cut, and the batches
    are shuffled again, so a batch pads to similar lengths (Hugging Face's group_by_length).
    """
    import numpy as np

    if batch_size < 1:
        raise ConfigError(f"The batch size must be at least 1; got {batch_size}.")

    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(n) if shuffle else np.arange(n)
    rank, world = dist_info()
    if world > 1:  # every rank gets the same number of batches (pad by wrapping around)
        per_rank = math.ceil(n / world)
        order = np.resize(order, per_rank * world)[rank::world]
    stop = len(order) - (len(order) % batch_size if drop_last else 0)
    if lengths is not None and shuffle:
        lengths, window = np.asarray(lengths), batch_size * GROUP_BATCHES
        order = np.concatenate(
            [
                chunk[np.argsort(-lengths[chunk], kind="stable")]
                for chunk in np.split(order, range(window, len(order), window))
            ]
        )
        batches = [order[i : i + batch_size] for i in range(0, stop, batch_size)]
        return [batches[i] for i in rng.permutation(len(batches))]
    return [order[i : i + batch_size] for i in range(0, stop, batch_size)]


class ArrayData:
    """Tensors or arrays indexed together: `ArrayData(x, y)[idx] -> (x[idx], y[idx])`.

    `lengths` (one per example, e.g. tokens): `fit` then batches examples of similar length
    together (`epoch_batches`), which saves the padding of variable-length inputs.
    """

    def __init__(self, *arrays, lengths=None):
        self.arrays = arrays
        self.lengths = lengths

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, idx):
        return tuple(a[idx] for a in self.arrays)


def iterate(data, batches: Sequence, *, num_workers: int = 0) -> Iterator:
    """Batches from `ArrayData` (sliced in place) or a torch Dataset (collated, in this process
    or, with `num_workers`, in a `DataLoader`'s workers)."""
    if isinstance(data, ArrayData):
        for idx in batches:
            yield data[idx]
        return
    if num_workers > 0:
        loader = BatchLoader(data, num_workers=num_workers, seed=0)
        yield from loader(batches)
        return
    from torch.utils.data import default_collate

    for idx in batches:
        yield default_collate([data[int(i)] for i in idx])


class _ListBatchSampler:
    """A batch sampler over a list of index batches, replaced before each epoch."""

    def __init__(self):
        self.batches: Sequence = []

    def __iter__(self):
        return (idx.tolist() if hasattr(idx, "tolist") else list(idx) for idx in self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class BatchLoader:
    """`loader(batches)` yields the batches of `epoch_batches` from `data`, in that order.

    `ArrayData` is sliced in place. A torch Dataset goes through one `DataLoader` whose batch
    sampler yields exactly `batches`: `num_workers` processes decode and collate (kept alive
    across epochs), pinned memory where CUDA is present. Its generator is seeded from `seed`, so
    creating it draws nothing from torch's global RNG (dropout after it is unchanged); items that
    draw random numbers in a worker use that worker's seeded RNG.
    """

    def __init__(self, data, *, num_workers: int, seed: int = 0):
        self.data, self.num_workers, self.seed = data, num_workers, seed
        self.sampler, self.loader = None, None

    def __call__(self, batches: Sequence) -> Iterator:
        if isinstance(self.data, ArrayData) or self.num_workers <= 0:
            return iterate(self.data, batches)
        if self.loader is None:
            import torch
            from torch.utils.data import DataLoader

            self.sampler = _ListBatchSampler()
            self.loader = DataLoader(
                self.data,
                batch_sampler=self.sampler,
                num_workers=self.num_workers,
                pin_memory=torch.cuda.is_available(),
                persistent_workers=True,
                generator=torch.Generator().manual_seed(self.seed),
            )
        self.sampler.batches = batches
        return iter(self.loader)


# -- the loop -------------------------------------------------------------------------------------


@dataclass
class History:
    """Per-epoch metrics (deterministic) and per-epoch wall-clock seconds (timings)."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    lr: list[float | None] = field(default_factory=list)  # at the start of each epoch
    samples_per_s: list[float] = field(default_factory=list)  # training examples / epoch seconds
    # what `fit`'s on_epoch_end returned after each epoch (floats, tensors): checkpointed with
    # the rest, so that a resumed run still has the values of the epochs before the checkpoint
    extras: list[dict] = field(default_factory=list)
    resumed_from: int = 0  # epochs already done when this process started

    def last(self, key: str) -> float:
        return self.epochs[-1][key]

    def series(self, key: str) -> list[float]:
        return [e[key] for e in self.epochs]


class RunningMean:
    """Batch-size-weighted means of step logs, summed where the values are.

    A tensor on a GPU stays there (float64; float32 on MPS, which has no float64): adding it does
    not wait for the device, and `means()` reads the sums once. A CPU tensor is read at once (no
    wait there, and a Python float add costs less than a tensor op). Either way the result is bit
    for bit `sum(n * value) / sum(n)` over the values as Python floats. `keep_tensors` keeps CPU
    tensors as tensors too (to test the GPU path on a CPU).
    """

    def __init__(self, sums: dict | None = None, count: int = 0, keep_tensors: bool = False):
        self.sums: dict[str, Any] = dict(sums or {})
        self.count = count
        self.keep_tensors = keep_tensors

    def add(self, n: int, logs: dict) -> None:
        for k, v in logs.items():
            if hasattr(v, "detach"):
                if v.device.type == "cpu" and not self.keep_tensors:
                    v = v.item()
                else:  # no .item(): it would wait for the GPU
                    v = v.detach()
                    v = v.to(v.dtype if v.device.type == "mps" else _float64())
            self.sums[k] = self.sums.get(k, 0) + n * v
        self.count += n

    def means(self) -> dict[str, float]:
        total = self.count or 1
        return {k: float(v) / total for k, v in self.sums.items()}

    def state(self) -> dict:
        """Plain floats (a host read), for checkpoints."""
        return {"sums": {k: float(v) for k, v in self.sums.items()}, "count": self.count}

    def finite(self, key: str = "loss") -> bool:
        """Whether the sum of `key` is finite (a host read)."""
        return key not in self.sums or math.isfinite(float(self.sums[key]))


def _float64():
    import torch

    return torch.float64


def _on_accelerator(value) -> bool:
    device = getattr(value, "device", None)
    return device is not None and device.type != "cpu"


def _batch_len(batch) -> int:
    first = batch[0] if isinstance(batch, list | tuple) else batch
    return len(first)


def evaluate(trainable: Trainable, data, batch_size: int) -> dict[str, float]:
    """Mean of `eval_step` over `data`, weighted by batch size (all of it, on every rank)."""
    mean = RunningMean()
    for batch in iterate(data, epoch_batches(len(data), batch_size, 0, 0, shuffle=False)):
        mean.add(_batch_len(batch), trainable.eval_step(batch))
    return mean.means()


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


class _Progress:
    """The progress bar of `fit` (rich, transient); every method does nothing when disabled.

    The bar shows the running mean loss, read from the device every `refresh_every` steps only.
    """

    def __init__(self, enabled: bool, refresh_every: int = 10):
        self.bar, self.task, self.refresh_every = None, None, refresh_every
        if enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TextColumn("{task.fields[info]}"),
                TimeRemainingColumn(),
                transient=True,
            )

    def __enter__(self):
        if self.bar:
            self.bar.start()
        return self

    def __exit__(self, *exc):
        if self.bar:
            self.bar.stop()

    def start_epoch(self, description: str, total: int) -> None:
        if self.bar:
            self.task = self.bar.add_task(description, total=total, info="")

    def step(self, step: int, mean: RunningMean) -> None:
        if not self.bar:
            return
        info = {}
        if (step + 1) % self.refresh_every == 0 and "loss" in mean.sums:
            info["info"] = f"loss {mean.means()['loss']:.4f}"
        self.bar.update(self.task, advance=1, **info)

    def end_epoch(self) -> None:
        if self.bar:
            self.bar.remove_task(self.task)


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
    on_epoch_end: Callable[[int, dict], dict | None] | None = None,
    num_workers: int | None = None,
) -> History:
    """Train for `num_epochs`, evaluating `val_data` after each epoch.

    A scheduler (given to `TorchTrainable`) steps once per batch, not per epoch: build it with
    the number of steps (`len(epoch_batches(...)) * num_epochs`). Checkpoints go to
    `checkpoint_dir/NAME.pt` after every epoch (and every `checkpoint_every` steps when > 0).
    With `resume`, training continues from that file; a finished checkpoint means training is
    skipped and the trained state restored. `num_workers` (default: `LoopOptions`) applies to a
    torch Dataset only. Per epoch, `History` records the metrics, the wall time, the learning
    rate and the samples per second. `on_epoch_end(epoch, record)` runs after each epoch, before
    its checkpoint; what it returns (a dict: scores, sample images) is kept in `history.extras`
    and survives a resume.
    """
    rank, _ = dist_info()
    ckpt = Path(checkpoint_dir) / f"{name}.pt" if checkpoint_dir else None
    history = History()
    start_epoch, skip_steps, partial = 0, 0, None
    if resume and ckpt is not None and ckpt.exists():
        start_epoch, skip_steps, partial = _restore(trainable, ckpt, history)
        log.info("%s: resumed at epoch %d step %d from %s", name, start_epoch, skip_steps, ckpt)

    def checkpoint(epoch: int, step: int, mean: RunningMean | None = None) -> None:
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
                "lr": history.lr,
                "samples_per_s": history.samples_per_s,
                "extras": history.extras,
                "rng": _rng_state(),
                "partial": mean.state() if mean else None,
            },
        )

    if quiet is None:
        quiet = not sys.stderr.isatty() or os.environ.get("NNDL_QUIET") == "1"
    workers = loop_options().workers() if num_workers is None else num_workers
    loader = BatchLoader(train_data, num_workers=workers, seed=seed)
    with _Progress(not quiet and rank == 0) as progress:
        for epoch in range(start_epoch, num_epochs):
            t0 = time.perf_counter()
            batches = epoch_batches(
                len(train_data),
                batch_size,
                seed,
                epoch,
                lengths=getattr(train_data, "lengths", None),
            )
            lr = trainable.learning_rate()
            progress.start_epoch(f"{name} {epoch + 1}/{num_epochs}", len(batches))
            done = trainable.train_epoch(train_data, batches)  # e.g. Keras model.fit
            if done is not None:
                mean = RunningMean()
                mean.add(len(train_data), done)
            else:
                mean = _train_one_epoch(
                    trainable, loader, batches, skip_steps, partial, progress, checkpoint,
                    checkpoint_every, name=name, epoch=epoch, ckpt=ckpt,
                )  # fmt: skip
            skip_steps, partial = 0, None
            record = {"epoch": epoch + 1, **{f"train_{k}": v for k, v in mean.means().items()}}
            if not math.isfinite(record.get("train_loss", 0.0)):
                raise TrainingError(
                    f"{name}: loss became {record['train_loss']} in epoch {epoch + 1}."
                )
            if val_data is not None:
                record.update(
                    {f"val_{k}": v for k, v in evaluate(trainable, val_data, batch_size).items()}
                )
            seconds = time.perf_counter() - t0
            history.epochs.append(record)
            history.epoch_seconds.append(seconds)
            history.lr.append(lr)
            history.samples_per_s.append(sum(len(b) for b in batches) / seconds)
            history.extras.append((on_epoch_end(epoch + 1, record) if on_epoch_end else None) or {})
            checkpoint(epoch + 1, 0)
            interrupt.check()  # a Ctrl-C swallowed inside the epoch stops here, checkpointed
            progress.end_epoch()
            log.info(
                "%s epoch %d/%d %s lr=%s %.0f samples/s",
                name,
                epoch + 1,
                num_epochs,
                " ".join(f"{k}={v:.4f}" for k, v in record.items() if k != "epoch"),
                "-" if lr is None else f"{lr:.3g}",
                history.samples_per_s[-1],
            )
    return history


def _restore(trainable: Trainable, ckpt: Path, history: History) -> tuple[int, int, dict | None]:
    """Load a checkpoint into `trainable`, `history` and the RNGs: (epochs done, steps done in
    the next epoch, that epoch's partial sums)."""
    state = load_checkpoint(ckpt)
    trainable.load_state_dict(state["trainable"])
    history.epochs, history.epoch_seconds = state["epochs"], state["epoch_seconds"]
    history.lr = state.get("lr", [])
    history.samples_per_s = state.get("samples_per_s", [])
    history.extras = state.get("extras") or [{} for _ in history.epochs]
    history.resumed_from = state["epoch"]
    partial = state.get("partial")  # the sums of the steps already done in that epoch
    if state.get("rows"):  # a checkpoint written before the sums: its per-step logs
        old = RunningMean()
        for n, row in state["rows"]:
            old.add(n, row)
        partial = old.state()
    _set_rng_state(state["rng"])
    return state["epoch"], state.get("step", 0), partial


def _train_one_epoch(
    trainable: Trainable,
    loader: BatchLoader,
    batches: list,
    skip_steps: int,
    partial: dict | None,
    progress: _Progress,
    checkpoint: Callable,
    checkpoint_every: int,
    *,
    name: str,
    epoch: int,
    ckpt: Path | None,
) -> RunningMean:
    """`train_step` over the epoch's batches (from `skip_steps` on, when resuming mid-epoch).

    The NaN guard reads the loss every step where that costs nothing (floats, CPU tensors);
    on a GPU it reads the running sum at the progress bar's refresh, at checkpoints and at the
    end of the epoch, so that no step waits for the device.
    """
    mean = RunningMean(**partial) if partial else RunningMean()
    every = progress.refresh_every
    for step, batch in enumerate(loader(batches[skip_steps:]), skip_steps):
        logs = trainable.train_step(batch)  # forward, loss, backward, optimizer step
        mean.add(_batch_len(batch), logs)
        due = checkpoint_every and (step + 1) % checkpoint_every == 0
        exact = not _on_accelerator(logs["loss"])  # free to read: checked at every step
        if (exact or due or (step + 1) % every == 0) and not mean.finite():
            value = float(logs["loss"]) if exact else mean.means()["loss"]
            kept = f"the last good checkpoint is kept at {ckpt}" if ckpt else "no checkpoint"
            raise TrainingError(
                f"{name}: loss became {value} at epoch {epoch + 1}, "
                f"{'' if exact else 'by '}step {step + 1}; {kept}. Lower the learning rate "
                "(--set lr=...)."
            )
        progress.step(step, mean)
        if due:
            checkpoint(epoch, step + 1, mean)
    return mean


# -- torch ----------------------------------------------------------------------------------------

StepFn = Callable[[Any, Any], tuple[Any, dict[str, float]]]


def classification_step(model, batch) -> tuple[Any, dict[str, float]]:
    """Cross-entropy on (x, y): returns the loss tensor and logs (loss, acc) as tensors, which
    the loop sums on the device."""
    import torch.nn.functional as F

    x, y = batch
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    acc = (logits.argmax(1) == y).float().mean()
    return loss, {"loss": loss.detach(), "acc": acc}


def amp_dtype(device: str, amp: str = "auto"):
    """The autocast dtype for `device`, or None for full precision.

    CUDA: bfloat16 where the GPU supports it (Ampere and later: no loss scaling needed), else
    float16 with a GradScaler. CPU and MPS: None under "auto" (float32, unchanged results);
    `amp` "bf16" or "fp16" asks for one explicitly, "off" for none.
    """
    import torch

    if amp == "off" or (amp == "auto" and device != "cuda"):
        return None
    if amp == "bf16" or (amp == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    if amp in ("fp16", "auto"):
        return torch.float16
    raise ConfigError(f"'amp' must be one of auto, off, bf16, fp16; got '{amp}'.")


def _has_conv2d(model) -> bool:
    import torch

    return any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


class TorchTrainable(Trainable):
    """A torch model, its optimizer and a step function: the common case of `Trainable`.

    On CUDA (from `LoopOptions` unless given): autocast in bf16 where supported, else fp16 with a
    GradScaler; a CNN's weights and 4-D inputs in channels_last memory; optionally compiled.
    On the CPU none of these is on by default, so results there do not change, except
    channels_last for a model measured faster in it on a CPU (`cpu_channels_last=True`: SmallCNN
    1.1-1.45x, RegNetX-200MF 1.5x per training step on 2 cores; ResNet-18 at 64 px 0.92x, so not
    for every CNN). `--set channels_last=...` overrides both defaults.
    """

    def __init__(
        self,
        model,
        optimizer,
        step_fn: StepFn = classification_step,
        *,
        device: str = "cpu",
        scheduler=None,
        amp: bool | str | None = None,
        grad_clip: float | None = None,
        channels_last: bool | None = None,
        cpu_channels_last: bool = False,
        compile: bool | None = None,
    ):
        import torch

        options = loop_options()
        self.device = device
        self.module = model.to(device)  # the unwrapped model: checkpoints, evaluation
        if channels_last is None:
            channels_last = options.channels_last
            if channels_last is None:
                channels_last = device == "cuda" or cpu_channels_last
        self.channels_last = channels_last and _has_conv2d(self.module)
        if self.channels_last:
            self.module = self.module.to(memory_format=torch.channels_last)
        self.model = self.module
        if dist_info()[1] > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [torch.cuda.current_device()] if device == "cuda" else None
            self.model = DistributedDataParallel(self.module, device_ids=ids)
        if options.compile if compile is None else compile:
            self.model = torch.compile(self.model)
        self.optimizer, self.scheduler, self.step_fn = optimizer, scheduler, step_fn
        if amp is None or isinstance(amp, str):
            self.amp_dtype = amp_dtype(device, amp or options.amp)
        else:  # True: the device's default half precision; False: none
            self.amp_dtype = (
                amp_dtype(device, "auto" if device == "cuda" else "bf16") if amp else None
            )
        self.amp = self.amp_dtype is not None
        # loss scaling only for float16 (bfloat16 has float32's exponent range)
        use_scaler = self.amp_dtype == torch.float16 and device == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
        self.grad_clip = grad_clip
        self._device = torch.device(device)

    def _autocast(self):
        import contextlib

        import torch

        if not self.amp:  # entering a disabled autocast still costs microseconds per step
            return contextlib.nullcontext()
        return torch.autocast(self.device, dtype=self.amp_dtype)

    def _to_device(self, batch):
        import torch

        if isinstance(batch, torch.Tensor):
            if batch.device != self._device:
                batch = batch.to(self.device, non_blocking=True)
            if self.channels_last and batch.dim() == 4 and batch.is_floating_point():
                batch = batch.contiguous(memory_format=torch.channels_last)
            return batch
        if isinstance(batch, list | tuple):
            return type(batch)(self._to_device(b) for b in batch)
        return batch

    def learning_rate(self) -> float | None:
        return float(self.optimizer.param_groups[0]["lr"])

    def train_step(self, batch) -> dict[str, float]:
        import torch

        self.model.train()  # every step: a study may have put a submodule in eval mode
        batch = self._to_device(batch)
        with self._autocast():
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
        with torch.no_grad(), self._autocast():
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


class ModulesTrainable(Trainable):
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
        return tuple(b.to(self.device, non_blocking=True) for b in batch)

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
