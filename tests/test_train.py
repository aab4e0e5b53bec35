import math
import time

import numpy as np
import pytest
import torch

from nndl.errors import TrainingError
from nndl.train import ArrayData, TorchTrainable, epoch_batches, evaluate, fit


def _data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return ArrayData(x, y)


def _trainable(lr=0.1):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(6, 16), torch.nn.Dropout(0.2), torch.nn.ReLU(), torch.nn.Linear(16, 2)
    )
    return TorchTrainable(model, torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9))


def test_batches_depend_only_on_seed_and_epoch():
    a = epoch_batches(10, 4, seed=1, epoch=2)
    b = epoch_batches(10, 4, seed=1, epoch=2)
    assert [list(x) for x in a] == [list(x) for x in b]
    assert sorted(np.concatenate(a)) == list(range(10)) and [len(x) for x in a] == [4, 4, 2]
    assert [list(x) for x in epoch_batches(10, 4, 1, 3)] != [list(x) for x in a]


def test_length_grouped_batches_pad_less_and_cover_every_example_once():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 100, size=1000)
    plain = epoch_batches(1000, 8, seed=1, epoch=0)
    grouped = epoch_batches(1000, 8, seed=1, epoch=0, lengths=lengths)
    again = epoch_batches(1000, 8, seed=1, epoch=0, lengths=lengths)
    assert [list(b) for b in grouped] == [list(b) for b in again]  # (seed, epoch) decide it
    assert sorted(np.concatenate(grouped)) == list(range(1000)) and len(grouped) == len(plain)

    def padded(batches):  # tokens a batch costs when padded to its longest input
        return sum(len(b) * lengths[b].max() for b in batches)

    assert padded(grouped) < 0.7 * padded(plain)
    # the batch order is shuffled too: not longest-first throughout the epoch
    firsts = [lengths[b].max() for b in grouped[:20]]
    assert firsts != sorted(firsts, reverse=True)
    other = epoch_batches(1000, 8, seed=1, epoch=1, lengths=lengths)
    assert [list(b) for b in other] != [list(b) for b in grouped]


def test_fit_learns_and_records_history(tmp_path):
    train, val = _data(), _data(seed=1)
    t = _trainable()
    h = fit(t, train, val, name="m", num_epochs=5, batch_size=16, checkpoint_dir=tmp_path)
    assert [e["epoch"] for e in h.epochs] == [1, 2, 3, 4, 5] and len(h.epoch_seconds) == 5
    assert h.last("val_acc") > 0.85 and h.last("train_loss") < h.epochs[0]["train_loss"]
    assert (tmp_path / "m.pt").exists()
    assert evaluate(t, val, 32)["acc"] == pytest.approx(h.last("val_acc"))


class Crash(Exception):
    pass


def _crash_at(epoch_to_crash):
    """An on_epoch_end that dies in that epoch's callback, before its checkpoint."""

    def hook(epoch, record):
        if epoch == epoch_to_crash:
            raise Crash

    return hook


def test_resume_from_epoch_checkpoint_matches_uninterrupted_run(tmp_path):
    train, val = _data(), _data(seed=1)
    ref = fit(
        _trainable(),
        train,
        val,
        name="m",
        num_epochs=4,
        batch_size=16,
        checkpoint_dir=tmp_path / "ref",
    )
    torch.manual_seed(123)  # the process that crashed had consumed RNG differently
    with pytest.raises(Crash):
        fit(
            _trainable(),
            train,
            val,
            name="m",
            num_epochs=4,
            batch_size=16,
            checkpoint_dir=tmp_path / "run",
            on_epoch_end=_crash_at(3),
        )
    resumed_t = _trainable()
    resumed = fit(
        resumed_t,
        train,
        val,
        name="m",
        num_epochs=4,
        batch_size=16,
        checkpoint_dir=tmp_path / "run",
        resume=True,
    )
    assert resumed.resumed_from == 2
    assert resumed.epochs == ref.epochs  # same floats, bit for bit


def test_what_on_epoch_end_returns_survives_a_resume(tmp_path):
    """Per-epoch results of the caller (a score, a sample image) are checkpointed with the model:
    a resumed run has those of the epochs before the checkpoint too (a13's FD curve lost them)."""
    train = _data()

    def extras(t, crash_at=None):
        def hook(epoch, record):
            if epoch == crash_at:
                raise Crash
            w = next(t.model.parameters()).detach()
            return {"w_sum": float(w.sum()), "snapshot": w[:2].clone()} if epoch % 2 else None

        return hook

    ref_t = _trainable()
    ref = fit(ref_t, train, None, name="m", num_epochs=4, batch_size=16,
              checkpoint_dir=tmp_path / "ref", on_epoch_end=extras(ref_t))  # fmt: skip
    t = _trainable()
    with pytest.raises(Crash):
        fit(t, train, None, name="m", num_epochs=4, batch_size=16,
            checkpoint_dir=tmp_path / "run", on_epoch_end=extras(t, crash_at=4))  # fmt: skip
    t = _trainable()
    resumed = fit(t, train, None, name="m", num_epochs=4, batch_size=16,
                  checkpoint_dir=tmp_path / "run", resume=True, on_epoch_end=extras(t))  # fmt: skip
    assert resumed.resumed_from == 3 and len(resumed.extras) == 4
    assert [set(e) for e in resumed.extras] == [{"w_sum", "snapshot"}, set()] * 2
    for a, b in zip(resumed.extras, ref.extras, strict=True):
        assert a.get("w_sum") == b.get("w_sum")
        if "snapshot" in a:
            assert torch.equal(a["snapshot"], b["snapshot"])


def test_resume_mid_epoch_from_step_checkpoint(tmp_path):
    train = _data()
    ref_t = _trainable()
    fit(ref_t, train, None, name="m", num_epochs=2, batch_size=16, checkpoint_dir=tmp_path / "a")

    class StopAfter(TorchTrainable):
        calls = 0

        def train_step(self, batch):
            StopAfter.calls += 1
            if StopAfter.calls == 9:  # in epoch 2, after the step-8 checkpoint
                raise Crash
            return super().train_step(batch)

    t = _trainable()
    crashing = StopAfter(t.module, t.optimizer)
    with pytest.raises(Crash):
        fit(
            crashing,
            train,
            None,
            name="m",
            num_epochs=2,
            batch_size=16,
            checkpoint_dir=tmp_path / "b",
            checkpoint_every=2,
        )
    t2 = _trainable()
    fit(
        t2,
        train,
        None,
        name="m",
        num_epochs=2,
        batch_size=16,
        checkpoint_dir=tmp_path / "b",
        resume=True,
        checkpoint_every=2,
    )
    for p, q in zip(ref_t.module.parameters(), t2.module.parameters(), strict=True):
        assert torch.equal(p, q)


def test_nan_guard_stops_and_keeps_last_good_checkpoint(tmp_path):
    train = _data()
    t = _trainable(lr=1e30)
    with pytest.raises(TrainingError, match="loss became (nan|inf).*last good checkpoint"):
        fit(t, train, None, name="m", num_epochs=50, batch_size=16, checkpoint_dir=tmp_path)
    if (tmp_path / "m.pt").exists():
        state = torch.load(tmp_path / "m.pt", weights_only=False)
        assert all(torch.isfinite(v).all() for v in state["trainable"]["model"].values())
        assert all(math.isfinite(e["train_loss"]) for e in state["epochs"])


def test_finished_checkpoint_skips_training(tmp_path):
    train = _data()
    t = _trainable()
    fit(t, train, None, name="m", num_epochs=2, batch_size=16, checkpoint_dir=tmp_path)

    class NoTrain(TorchTrainable):
        def train_step(self, batch):
            raise AssertionError("training should have been skipped")

    t2 = _trainable()
    h = fit(
        NoTrain(t2.module, t2.optimizer),
        train,
        None,
        name="m",
        num_epochs=2,
        batch_size=16,
        checkpoint_dir=tmp_path,
        resume=True,
    )
    assert len(h.epochs) == 2
    for p, q in zip(t.module.parameters(), t2.module.parameters(), strict=True):
        assert torch.equal(p, q)


def test_a_batch_size_below_one_is_a_config_error():
    from nndl.errors import ConfigError
    from nndl.train import epoch_batches

    with pytest.raises(ConfigError, match="batch size must be at least 1"):
        epoch_batches(10, 0, seed=0, epoch=0)


def _two_player(lr=0.05):
    """Two modules updated in turn by one step function (the shape of a GAN step)."""
    from nndl.train import ModulesTrainable

    torch.manual_seed(0)
    modules = {"a": torch.nn.Linear(6, 2), "b": torch.nn.Linear(6, 2)}
    optimizers = {k: torch.optim.SGD(m.parameters(), lr=lr) for k, m in modules.items()}

    def step(modules, optimizers, batch):
        x, y = batch
        logs = {}
        for k in ("a", "b"):  # update a, then b, each with its own optimizer
            loss = torch.nn.functional.cross_entropy(modules[k](x), y)
            optimizers[k].zero_grad()
            loss.backward()
            optimizers[k].step()
            logs[f"loss_{k}"] = loss.item()
        return {"loss": logs["loss_a"] + logs["loss_b"], **logs}

    def evaluate(modules, batch):
        x, y = batch
        return {"acc_b": (modules["b"](x).argmax(1) == y).float().mean().item()}

    return ModulesTrainable(modules, optimizers, step, eval_fn=evaluate)


def test_modules_trainable_updates_each_module_and_resumes(tmp_path):
    train, val = _data(), _data(seed=1)
    ref = fit(_two_player(), train, val, name="ab", num_epochs=4, batch_size=16)
    assert ref.last("train_loss_a") < ref.epochs[0]["train_loss_a"]
    assert ref.last("train_loss_b") < ref.epochs[0]["train_loss_b"] and ref.last("val_acc_b") > 0.8
    with pytest.raises(Crash):
        fit(_two_player(), train, val, name="ab", num_epochs=4, batch_size=16,
            checkpoint_dir=tmp_path, on_epoch_end=_crash_at(3))  # fmt: skip
    resumed = fit(_two_player(), train, val, name="ab", num_epochs=4, batch_size=16,
                  checkpoint_dir=tmp_path, resume=True)  # fmt: skip
    assert resumed.resumed_from == 2 and resumed.epochs == ref.epochs


def test_a_checkpoint_holding_a_pickled_object_is_refused_not_executed(tmp_path):
    # a tampered run folder must not run code on --resume: torch.load(weights_only=True)
    import os

    import pytest
    import torch

    from nndl.errors import NndlError
    from nndl.train import load_checkpoint

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "ckpt.pt"
    torch.save({"epoch": 1, "payload": Evil()}, path)
    with pytest.raises(NndlError, match="cannot be read"):
        load_checkpoint(path)
    assert not marker.exists()


def test_a_sigint_that_a_library_swallows_still_stops_fit_after_the_epoch(tmp_path):
    """Ultralytics drops a KeyboardInterrupt raised in its data loader's __del__; the run
    remembers the SIGINT and fit stops at the end of that epoch, checkpointed."""
    import os
    import signal

    from nndl import interrupt

    def swallow_once(epoch, record):
        if epoch == 1:
            try:
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(100):
                    time.sleep(0.01)
            except KeyboardInterrupt:
                pass  # what a careless library does

    with interrupt.catching(), pytest.raises(KeyboardInterrupt):
        fit(_trainable(), _data(), None, name="m", num_epochs=3, batch_size=16,
            checkpoint_dir=tmp_path, on_epoch_end=swallow_once)  # fmt: skip
    interrupt.check()  # outside a run nothing is remembered
    resumed = fit(_trainable(), _data(), None, name="m", num_epochs=3, batch_size=16,
                  checkpoint_dir=tmp_path, resume=True)  # fmt: skip
    assert resumed.resumed_from == 1 and len(resumed.epochs) == 3


def test_a_sigint_that_a_library_turned_into_its_own_error_is_an_interrupt():
    """safetensors, interrupted while reading MiniLM's weights, raised a ValueError, and the run
    ended 'failed: Cannot read the weights' instead of 'interrupted'."""
    import os
    import signal

    from nndl import interrupt

    def read_weights():
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        except KeyboardInterrupt as e:
            raise ValueError("Error while deserializing header") from e

    with pytest.raises(KeyboardInterrupt), interrupt.catching():
        read_weights()
    with pytest.raises(ValueError), interrupt.catching():  # without a SIGINT: the error itself
        raise ValueError("a real error")


def test_a_sigint_inside_a_finalizer_is_kept_for_later_not_printed(monkeypatch):
    """Raised in a __del__, the KeyboardInterrupt would be printed as 'Exception ignored' with a
    traceback and dropped: the handler only records it there, and check() raises it after."""
    import gc
    import os
    import signal

    from nndl import interrupt

    class Loader:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler runs here, inside __del__

    import sys

    dropped = []  # what Python would print as 'Exception ignored in ...'
    monkeypatch.setattr(sys, "unraisablehook", dropped.append)
    with interrupt.catching():
        Loader()
        gc.collect()
        with pytest.raises(KeyboardInterrupt):
            interrupt.check()
    assert dropped == []
