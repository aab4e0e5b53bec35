"""The loop's input pipeline and device-side sums: same batches, same numbers, exact resume."""

import pytest
import torch

from nndl.train import (
    ArrayData,
    BatchLoader,
    RunningMean,
    TorchTrainable,
    epoch_batches,
    fit,
    iterate,
)


class Items(torch.utils.data.Dataset):
    """A map-style Dataset collated item by item (as an image folder is), deterministic."""

    def __init__(self, n=80):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 6, generator=g)
        self.y = (self.x[:, 0] > 0).long()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def _trainable(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(6, 16), torch.nn.Dropout(0.2), torch.nn.ReLU(), torch.nn.Linear(16, 2)
    )
    return TorchTrainable(model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))


def test_dataloader_gives_exactly_the_in_process_batches():
    data = Items()
    loader = BatchLoader(data, num_workers=2, seed=3)
    for epoch in (0, 1):  # the same workers serve both epochs
        batches = epoch_batches(len(data), 16, seed=3, epoch=epoch)
        ours = list(iterate(data, batches))
        theirs = list(loader(batches))
        assert len(ours) == len(theirs) == 5
        for (xa, ya), (xb, yb) in zip(ours, theirs, strict=True):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)
    # and from a mid-epoch step on, as a resumed run asks
    batches = epoch_batches(len(data), 16, seed=3, epoch=1)
    tail = list(loader(batches[3:]))
    assert torch.equal(tail[0][0], data.x[batches[3]])


def test_the_dataloader_draws_nothing_from_the_global_rng():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    list(BatchLoader(Items(), num_workers=1)(epoch_batches(80, 16, 0, 0)))
    assert torch.equal(torch.rand(3), expected)


def test_workers_train_to_the_same_weights_and_metrics_as_one_process():
    runs = []
    for workers in (0, 2):
        t = _trainable()
        h = fit(t, Items(), Items(40), name="m", num_epochs=2, batch_size=16, num_workers=workers)
        runs.append((t.module.state_dict(), h.epochs))
    (a, ha), (b, hb) = runs
    assert ha == hb and all(torch.equal(a[k], b[k]) for k in a)


class Crash(Exception):
    pass


def test_resume_mid_epoch_with_workers_is_exact(tmp_path):
    ref = _trainable()
    h_ref = fit(ref, Items(), None, name="m", num_epochs=2, batch_size=16, num_workers=2)

    class StopAfter(TorchTrainable):
        calls = 0

        def train_step(self, batch):
            StopAfter.calls += 1
            if StopAfter.calls == 8:  # in epoch 2, after its step-2 checkpoint (5 steps / epoch)
                raise Crash
            return super().train_step(batch)

    t = _trainable()
    crashing = StopAfter(t.module, t.optimizer)
    kw = dict(name="m", num_epochs=2, batch_size=16, checkpoint_dir=tmp_path, num_workers=2)
    with pytest.raises(Crash):
        fit(crashing, Items(), None, checkpoint_every=2, **kw)
    t2 = _trainable(seed=1)  # other initial weights: the checkpoint must restore everything
    h = fit(t2, Items(), None, resume=True, checkpoint_every=2, **kw)
    assert h.resumed_from == 1
    assert h.epochs == h_ref.epochs  # the epoch's mean spans steps before and after the crash
    for p, q in zip(ref.module.parameters(), t2.module.parameters(), strict=True):
        assert torch.equal(p, q)


def test_running_mean_of_tensors_is_the_float_sum_of_their_items():
    g = torch.Generator().manual_seed(0)
    steps = [(int(n), {"loss": torch.rand((), generator=g) * 3}) for n in (16, 16, 16, 7)]
    total = sum(n for n, _ in steps)
    expected = sum(n * logs["loss"].item() for n, logs in steps) / total
    for keep in (False, True):  # CPU path (read at once) and GPU path (summed as tensors)
        mean = RunningMean(keep_tensors=keep)
        for n, logs in steps:
            mean.add(n, logs)
        assert mean.means()["loss"] == expected  # bit for bit
        assert isinstance(mean.sums["loss"], torch.Tensor) == keep


def test_history_records_learning_rate_and_samples_per_second():
    t = _trainable()
    sched = torch.optim.lr_scheduler.StepLR(t.optimizer, step_size=5, gamma=0.5)  # per batch
    t.scheduler = sched
    h = fit(t, ArrayData(Items().x, Items().y), None, name="m", num_epochs=3, batch_size=16)
    assert h.lr == pytest.approx([0.1, 0.05, 0.025])  # 5 batches per epoch
    assert len(h.samples_per_s) == 3 and all(s > 0 for s in h.samples_per_s)


def test_loop_settings_come_from_set_keys_the_study_does_not_declare():
    from dataclasses import dataclass

    from nndl.errors import ConfigError
    from nndl.train import split_loop_overrides

    @dataclass
    class Config:
        lr: float = 0.1
        compile: bool = False  # the study's own key wins

    rest, loop = split_loop_overrides(Config, {"lr": "0.5", "num_workers": "3", "compile": "1"})
    assert rest == {"lr": "0.5", "compile": "1"}
    assert loop.num_workers == 3 and loop.compile is False and loop.workers() == 3
    from nndl.train import LoopOptions

    # by default no workers on the CPU (same results as in-process loading), some on a GPU
    assert LoopOptions(device="cpu").workers() == 0
    assert LoopOptions(device="cuda").workers() == LoopOptions.auto_workers()
    with pytest.raises(ConfigError, match="amp"):
        split_loop_overrides(Config, {"amp": "fp8"})
    with pytest.raises(ConfigError, match="num_workers"):
        split_loop_overrides(Config, {"num_workers": "-1"})


KILLED_RUN = """
import os, signal, sys
import torch
sys.path.insert(0, {tests!r})
from test_loop_pipeline import Items, _trainable
from nndl.train import TorchTrainable, fit

class KillAfter(TorchTrainable):
    calls = 0
    def train_step(self, batch):
        KillAfter.calls += 1
        if KillAfter.calls == 8:  # epoch 2, step 3: after its step-2 checkpoint
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, workers orphaned
        return super().train_step(batch)

t = _trainable()
fit(KillAfter(t.module, t.optimizer), Items(), None, name="m", num_epochs=2, batch_size=16,
    checkpoint_dir={ckpt!r}, checkpoint_every=2, num_workers=2)
"""


def test_resume_after_kill_9_mid_epoch_with_workers_is_exact(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    ref = _trainable()
    h_ref = fit(ref, Items(), None, name="m", num_epochs=2, batch_size=16, num_workers=2)
    script = tmp_path / "killed.py"
    ckpt = tmp_path / "ckpt"
    script.write_text(KILLED_RUN.format(tests=str(Path(__file__).parent), ckpt=str(ckpt)))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr[-2000:]
    t = _trainable(seed=1)
    h = fit(t, Items(), None, name="m", num_epochs=2, batch_size=16, checkpoint_dir=ckpt,
            resume=True, checkpoint_every=2, num_workers=2)  # fmt: skip
    assert h.resumed_from == 1 and h.epochs == h_ref.epochs
    for p, q in zip(ref.module.parameters(), t.module.parameters(), strict=True):
        assert torch.equal(p, q)


def test_cpu_channels_last_is_a_default_that_the_loop_options_override():
    from nndl.models.small_cnn import SmallCNN
    from nndl.train import LoopOptions, set_loop_options

    def layout(**kwargs):
        model = SmallCNN(10, 8)
        t = TorchTrainable(model, torch.optim.SGD(model.parameters(), lr=0.1), **kwargs)
        weight = t.module.stem[0].weight
        return t.channels_last, weight.is_contiguous(memory_format=torch.channels_last)

    assert layout() == (False, False)  # CPU: contiguous unless the model asks
    assert layout(cpu_channels_last=True) == (True, True)
    previous = set_loop_options(LoopOptions(channels_last=False))  # --set channels_last=false
    try:
        assert layout(cpu_channels_last=True) == (False, False)
    finally:
        set_loop_options(previous)
