"""a04: Backpropagation by hand.

Question: derive and implement the weight updates of a network with three hidden layers for the
10 digits, check them against automatic differentiation, and compare training by hand with a
custom gradient-tape loop and with Keras `model.fit`.

    nndl run a04                                    # quick: scikit-learn digits, ~30 s on 2 cores
    nndl run a04 --profile full --data-root DATA    # real MNIST (downloaded if missing)

What to expect: relative gradient errors near 1e-15 against autograd (float64); the three trainings
start from the same weights, see the same batches and end within float32 rounding of each other
(~96% test accuracy on digits, ~97.5-98% on MNIST); NumPy is the fastest per epoch on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from nndl.config import opt
from nndl.errors import ConfigError
from nndl.expect import Expect
from nndl.registry import study


@dataclass(frozen=True)
class Config:
    dataset: Literal["digits", "mnist"] = opt("digits", "digits: embedded stand-in; mnist: real")
    hidden_sizes: tuple[int, ...] = opt((128, 64, 32), "units of the hidden layers (ReLU)")
    num_epochs: int = opt(15, "passes over the training set, for each of the three trainings")
    batch_size: int = opt(32, "mini-batch size (the same batches for all three)")
    lr: float = opt(0.05, "plain SGD learning rate, the same for all three")
    max_train: int = opt(0, "use at most this many training images (0 = all)")
    gradcheck_batch: int = opt(16, "images in the batch used for the gradient check")
    tape: Literal["auto", "tensorflow", "torch"] = opt(
        "auto", "gradient tape: tf.GradientTape if TensorFlow is installed (auto), else torch"
    )

    PROFILES: ClassVar[dict] = {
        "smoke": {"num_epochs": 2, "max_train": 256, "hidden_sizes": (32, 16, 16)},
        "full": {
            "dataset": "mnist",
            "hidden_sizes": (256, 128, 64),
            "num_epochs": 10,
            "batch_size": 64,
            "lr": 0.1,
        },
    }

    def num_params(self) -> int:
        sizes = [784, *self.hidden_sizes, 10]
        return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))

    def memory_bytes(self) -> int:
        """The size estimate that refuses an impossible network at config time: per parameter,
        NumPy float64 weights and gradients (16 B), the gradient check's autograd copy (16 B),
        Keras and tape float32 weights and gradients (16 B); activations of one batch per layer."""
        activations = 8 * 4 * max(self.batch_size, self.gradcheck_batch) * sum(self.hidden_sizes)
        return 48 * self.num_params() + activations

    def plan(self, data_root) -> list[str]:
        sizes = [784, *self.hidden_sizes, 10]
        n_params = self.num_params()
        n = {"digits": 1437, "mnist": 60000}[self.dataset]
        n = min(n, self.max_train) if self.max_train else n
        flops = 6 * n_params * n * self.num_epochs * 3  # fwd+bwd ~ 6 FLOPs/param/example, 3 runs
        return [
            f"network {' -> '.join(map(str, sizes))} ({n_params:,} parameters)",
            f"3 trainings x {self.num_epochs} epochs on {n:,} images: ~{flops / 1e9:.0f} GFLOP "
            f"(~{flops / 2e10:.0f} s at 20 GFLOP/s)",
        ]


# What the headline numbers should be (the report's verdict table; nndl.expect).
EXPECT = (
    Expect(
        "numpy_test_acc",
        quick=(0.93, 1.0),
        full=(0.97, 0.99),
        source="LeCun et al.'s MNIST table: 3-layer MLP 500+150 units 2.95% error (97.05%); "
        "Keras' mnist_mlp example ~98.4%",
    ),
    Expect("keras_fit_test_acc", quick=(0.93, 1.0), full=(0.97, 0.99), source="as numpy_test_acc"),
    Expect(
        "max_rel_err_autograd",
        quick=(0.0, 1e-10),
        full=(0.0, 1e-10),
        split="n/a",
        epoch_rule="n/a",
        source="float64 round-off: hand-written gradients equal autograd's to ~1e-15",
    ),
)


def load_data(cfg: Config, ctx):
    if cfg.dataset == "mnist":
        from nndl.data.mnist import load_mnist

        x_tr, y_tr, x_te, y_te = load_mnist(ctx.data_root)
        inverted = (
            " (these files have inverted pixels: light background)" if x_tr.mean() > 0.5 else ""
        )
        ctx.provenance(
            "data",
            f"real MNIST from {ctx.data_root} ({len(x_tr):,} train / {len(x_te):,} test){inverted}",
        )
    else:
        from nndl.data.digits import load_digits_28

        x_tr, y_tr, x_te, y_te = load_digits_28()
        ctx.provenance(
            "data", "embedded stand-in for MNIST: scikit-learn's real 8x8 digits resized to 28x28"
        )
    if cfg.max_train:
        x_tr, y_tr = x_tr[: cfg.max_train], y_tr[: cfg.max_train]
    # Standardise with the training set's statistics (as torchvision's MNIST examples do with
    # 0.1307 / 0.3081): plain SGD on raw [0, 1] pixels is badly conditioned, more so when the
    # background is bright.
    mean, std = float(x_tr.mean()), float(x_tr.std())
    x_tr, x_te = (x_tr - mean) / std, (x_te - mean) / std
    ctx.metrics.update(pixel_mean=mean, pixel_std=std)
    return x_tr, y_tr, x_te, y_te


@study(
    "a04",
    "backprop",
    "Backpropagation by hand",
    config=Config,
    datasets=("digits", "mnist"),
    headline=("numpy_test_acc", "max_rel_err_autograd"),
    expect=EXPECT,
)
def run(ctx) -> None:
    from nndl.methods import trainers

    cfg: Config = ctx.config
    if ctx.world_size > 1:
        raise ConfigError(
            "a04 trains NumPy and Keras models, which do not run data-parallel; "
            "run it in one process (without torchrun)."
        )
    backend = trainers.select_keras_backend(cfg.tape)
    train, test = datasets(ctx, cfg)
    layer_sizes = [28 * 28, *cfg.hidden_sizes, 10]
    network_section(ctx, cfg, layer_sizes, train, test)
    equations_section(ctx, layer_sizes)
    check = gradient_check_section(ctx, cfg, layer_sizes, train)
    runs = three_trainings(ctx, cfg, layer_sizes, backend, train, test)
    comparison_section(ctx, cfg, runs, backend)
    findings(ctx, cfg, check, runs)


# == report sections ==============================================================================


@dataclass
class Training:
    """One of the three trainings: its label, trainable and history."""

    label: str
    trainable: object
    history: object = None


def datasets(ctx, cfg: Config):
    from nndl.train import ArrayData

    x_tr, y_tr, x_te, y_te = load_data(cfg, ctx)
    ctx.provenance(
        "weights",
        f"random (He-normal hidden, LeCun-normal output; seed {ctx.seed}), trained in this run",
    )
    train, test = ArrayData(x_tr, y_tr), ArrayData(x_te, y_te)
    ctx.metrics.update(num_train=len(train), num_test=len(test))
    return train, test


def network_section(ctx, cfg: Config, layer_sizes, train, test) -> None:
    from nndl import diagrams

    rep = ctx.report
    rep.section("The network")
    rep.text(
        f"A fully connected network {' → '.join(map(str, layer_sizes))}: "
        f"{len(cfg.hidden_sizes)} hidden ReLU layers and a softmax output, trained with "
        f"cross-entropy on {len(train):,} images, tested on {len(test):,}. Pixels are "
        f"standardised with the training set's mean {ctx.metrics['pixel_mean']:.4f} and standard "
        f"deviation {ctx.metrics['pixel_std']:.4f}."
    )
    rep.figure(diagrams.network_figure(layer_sizes), "network", "The network")
    rep.figure(
        diagrams.forward_graph(len(layer_sizes) - 1, layer_sizes),
        "forward_graph",
        "Forward computation graph",
    )
    rep.figure(
        diagrams.backward_graph(len(layer_sizes) - 1, layer_sizes),
        "backward_graph",
        "Backward computation graph: which forward values each gradient uses",
    )


def equations_section(ctx, layer_sizes) -> None:
    from nndl.methods import backprop

    ctx.report.section("Weight-update equations")
    for caption, latex in backprop.update_equations(len(layer_sizes) - 1):
        ctx.report.math(latex, caption)


def gradient_check_section(ctx, cfg: Config, layer_sizes, train) -> dict:
    """The hand-written gradients against torch autograd and central finite differences."""
    from nndl.methods import backprop

    rep = ctx.report
    rep.section("Gradient check")
    n = cfg.gradcheck_batch
    x, y = train[:n]
    rows = backprop.gradient_check(layer_sizes, x.reshape(n, -1), y, seed=ctx.seed)
    rep.table(
        rows, "gradient_check", f"Relative error of the NumPy gradients (float64, batch of {n})"
    )
    worst = {
        "autograd": max(r["rel_err_autograd"] for r in rows),
        "finite_diff": max(r["rel_err_finite_diff"] for r in rows),
    }
    ctx.metrics.update(
        max_rel_err_autograd=worst["autograd"], max_rel_err_finite_diff=worst["finite_diff"]
    )
    rep.text(
        f"Every layer's hand-derived gradient matches torch autograd to a relative error of at most "
        f"{worst['autograd']:.1e} and central finite differences to {worst['finite_diff']:.1e}"
        + (
            " (both within the 1e-6 tolerance)."
            if worst["autograd"] < 1e-6 and worst["finite_diff"] < 1e-4
            else ": ABOVE the tolerance (1e-6 autograd, 1e-4 finite differences); the derivation is wrong."
        )
    )
    return worst


def three_trainings(ctx, cfg: Config, layer_sizes, backend, train, test) -> dict[str, Training]:
    """NumPy by hand, a gradient tape and model.fit from the same weights on the same batches."""
    from nndl.methods import backprop, trainers
    from nndl.train import fit

    init = backprop.NumpyMLP(backprop.init_params(layer_sizes, seed=ctx.seed))
    weights0 = init.get_weights()
    runs = {
        "numpy": Training("NumPy by hand", trainers.NumpyTrainable(init, cfg.lr)),
        "keras_tape": Training(
            _tape_name(backend),
            trainers.KerasTapeTrainable(trainers.build_keras_mlp(layer_sizes, weights0), cfg.lr),
        ),
        "keras_fit": Training(
            f"Keras model.fit ({backend})",
            trainers.KerasFitTrainable(trainers.build_keras_mlp(layer_sizes, weights0), cfg.lr),
        ),
    }
    for key, r in runs.items():
        r.history = h = fit(
            r.trainable,
            train,
            test,
            name=key,
            num_epochs=cfg.num_epochs,
            batch_size=cfg.batch_size,
            seed=ctx.seed,
            checkpoint_dir=ctx.checkpoint_dir,
            resume=ctx.resume,
        )
        ctx.metrics.update(
            {
                f"{key}_train_loss": h.last("train_loss"),
                f"{key}_test_loss": h.last("val_loss"),
                f"{key}_test_acc": h.last("val_acc"),
            }
        )
        ctx.timings[f"{key}_epoch_s"] = h.epoch_seconds
    numpy_w = runs["numpy"].trainable.weights()
    ctx.metrics.update(
        {
            f"max_weight_diff_numpy_vs_{k}": max(
                float(np.abs(a - b).max())
                for a, b in zip(numpy_w, runs[k].trainable.weights(), strict=True)
            )
            for k in ("keras_tape", "keras_fit")
        }
    )
    return runs


def _tape_name(backend: str) -> str:
    return "tf.GradientTape" if backend == "tensorflow" else "Keras 3 (torch backend) tape"


def comparison_section(ctx, cfg: Config, runs: dict[str, Training], backend: str) -> None:
    rep = ctx.report
    rep.section("Three trainings: by hand, gradient tape, model.fit")
    rep.text(
        f"All three start from the same random weights (seed {ctx.seed}), see the same "
        f"{cfg.batch_size}-image batches in the same order for {cfg.num_epochs} epochs and use plain "
        f"SGD with lr = {cfg.lr}. The tape loop is {_tape_name(backend)}"
        + (
            ""
            if backend == "tensorflow"
            else " (TensorFlow is not installed: pip install 'nndl[tf]' for a literal tf.GradientTape)"
        )
        + "."
    )
    rep.table(
        _comparison_rows(runs), "comparison", "Final results (time per epoch measured in this run)"
    )
    rep.figure(
        _curves({k: r.history for k, r in runs.items()}, {k: r.label for k, r in runs.items()}),
        "curves",
        "Training loss and test accuracy per epoch",
    )


def _comparison_rows(runs: dict[str, Training]) -> list[dict]:
    numpy_s = np.median(runs["numpy"].history.epoch_seconds)
    return [
        {
            "training": r.label,
            "final train loss": r.history.last("train_loss"),
            "test loss": r.history.last("val_loss"),
            "test accuracy": r.history.last("val_acc"),
            "median s / epoch": float(np.median(r.history.epoch_seconds)),
            "vs NumPy": float(np.median(r.history.epoch_seconds) / numpy_s),
        }
        for r in runs.values()
    ]


def findings(ctx, cfg: Config, worst: dict, runs: dict[str, Training]) -> None:
    rows = _comparison_rows(runs)
    fastest = min(rows, key=lambda r: r["median s / epoch"])
    slowest = max(rows, key=lambda r: r["median s / epoch"])
    accs = [r["test accuracy"] for r in rows]
    drift = {k: ctx.metrics[f"max_weight_diff_numpy_vs_{k}"] for k in ("keras_tape", "keras_fit")}
    ctx.report.section("Findings")
    ctx.report.bullets(
        [
            f"The hand-derived gradients are right: worst relative error {worst['autograd']:.1e} "
            f"against autograd, {worst['finite_diff']:.1e} against finite differences.",
            f"Same start, same batches, same updates: after {cfg.num_epochs} epochs the NumPy weights "
            f"differ from the tape loop's by at most {drift['keras_tape']:.1e} and from model.fit's by "
            f"{drift['keras_fit']:.1e} (float32 rounding in a different order), and test accuracies "
            f"span {min(accs):.2%} to {max(accs):.2%}.",
            f"Speed: {fastest['training']} is the fastest at {fastest['median s / epoch']:.3f} s per "
            f"epoch; {slowest['training']} takes {slowest['median s / epoch']:.3f} s "
            f"({slowest['median s / epoch'] / fastest['median s / epoch']:.1f}x). For a network this "
            f"small the framework's per-batch overhead, not the arithmetic, dominates.",
        ]
    )


def _curves(histories, labels):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    styles = {"numpy": "-", "keras_tape": "--", "keras_fit": ":"}
    for key, h in histories.items():
        epochs = h.series("epoch")
        ax1.plot(epochs, h.series("train_loss"), styles[key], lw=2, label=labels[key])
        ax2.plot(epochs, h.series("val_acc"), styles[key], lw=2, label=labels[key])
    ax1.set(xlabel="epoch", ylabel="training loss (cross-entropy)", yscale="log")
    ax2.set(xlabel="epoch", ylabel="test accuracy")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig
