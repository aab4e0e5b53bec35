"""The three ways study a04 trains one network, each as a `Trainable` for the shared loop.

- `NumpyTrainable`: gradients by hand (nndl.methods.backprop), plain SGD in NumPy.
- `KerasTapeTrainable`: a custom gradient-tape loop, `tf.GradientTape` on the TensorFlow backend,
  the same loop through torch autograd on Keras 3's torch backend.
- `KerasFitTrainable`: Keras `model.fit`, one call per epoch over the loop's batches, so all three
  see the same batches in the same order.

All three are evaluated by the same NumPy function on their logits.
"""

from __future__ import annotations

import os

import numpy as np

from nndl.train import Trainable


def softmax_xent(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) from logits (B, C) and labels (B,), in float64."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))  # log softmax
    loss = -log_p[np.arange(len(y)), y].mean()
    return float(loss), float((logits.argmax(1) == y).mean())


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1)


class NumpyTrainable(Trainable):
    def __init__(self, mlp, lr: float):
        self.mlp, self.lr = mlp, lr

    def train_step(self, batch) -> dict[str, float]:
        x, y = batch
        loss, acc, grads = self.mlp.loss_and_grads(_flat(x), y)  # forward + backward by hand
        self.mlp.sgd_step(grads, self.lr)  # W <- W - lr * dL/dW
        return {"loss": float(loss), "acc": float(acc)}

    def logits(self, x: np.ndarray) -> np.ndarray:
        return self.mlp.predict_logits(_flat(x))

    def eval_step(self, batch) -> dict[str, float]:
        x, y = batch
        loss, acc = softmax_xent(self.logits(x), y)
        return {"loss": loss, "acc": acc}

    def state_dict(self) -> dict:
        return {k: v.copy() for k, v in self.mlp.state_dict().items()}

    def load_state_dict(self, state: dict) -> None:
        self.mlp.load_state_dict(state)

    def weights(self) -> list[np.ndarray]:
        return self.mlp.get_weights()


def keras_backend() -> str:
    import keras

    return keras.backend.backend()


def build_keras_mlp(layer_sizes: list[int], weights: list[np.ndarray]):
    """The same MLP in Keras (Dense + ReLU, linear output), with the given initial weights."""
    import keras

    inputs = keras.Input(shape=(layer_sizes[0],))
    h = inputs
    for units in layer_sizes[1:-1]:
        h = keras.layers.Dense(units, activation="relu")(h)
    logits = keras.layers.Dense(layer_sizes[-1])(h)
    model = keras.Model(inputs, logits)
    model.set_weights(weights)
    return model


class _KerasBase(Trainable):
    def __init__(self, model, lr: float):
        import keras

        self.model = model
        self.optimizer = keras.optimizers.SGD(learning_rate=lr)
        self.optimizer.build(model.trainable_variables)
        self.loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def logits(self, x: np.ndarray) -> np.ndarray:
        import keras

        return keras.ops.convert_to_numpy(self.model(_flat(x), training=False))

    def eval_step(self, batch) -> dict[str, float]:
        x, y = batch
        loss, acc = softmax_xent(self.logits(x), y)
        return {"loss": loss, "acc": acc}

    def state_dict(self) -> dict:
        return {
            "weights": [w.copy() for w in self.model.get_weights()],
            "optimizer": [np.array(v.numpy()) for v in self.optimizer.variables],
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.set_weights(state["weights"])
        for var, value in zip(self.optimizer.variables, state["optimizer"], strict=True):
            var.assign(value)

    def weights(self) -> list[np.ndarray]:
        return self.model.get_weights()


class KerasTapeTrainable(_KerasBase):
    """forward under a tape, gradients of the loss, optimizer.apply: the custom training loop."""

    def train_step(self, batch) -> dict[str, float]:
        x, y = batch
        x = _flat(x)
        if keras_backend() == "tensorflow":
            import tensorflow as tf

            with tf.GradientTape() as tape:
                logits = self.model(x, training=True)
                loss = self.loss_fn(y, logits)
            grads = tape.gradient(loss, self.model.trainable_weights)
            self.optimizer.apply(grads, self.model.trainable_weights)
        else:  # Keras 3 on torch: torch autograd records the tape
            import torch

            logits = self.model(torch.as_tensor(x), training=True)
            loss = self.loss_fn(torch.as_tensor(y), logits)
            self.model.zero_grad()
            loss.backward()
            grads = [v.value.grad for v in self.model.trainable_weights]
            with torch.no_grad():
                self.optimizer.apply(grads, self.model.trainable_weights)
        import keras

        logits, loss = keras.ops.convert_to_numpy(logits), keras.ops.convert_to_numpy(loss)
        return {"loss": float(loss), "acc": float((logits.argmax(1) == y).mean())}


class KerasFitTrainable(_KerasBase):
    """Keras' own loop: `model.fit` over this epoch's batches, in the loop's order."""

    def __init__(self, model, lr: float):
        super().__init__(model, lr)
        model.compile(optimizer=self.optimizer, loss=self.loss_fn, metrics=["accuracy"])

    def train_epoch(self, data, batches) -> dict[str, float]:
        x, y = data[np.concatenate(batches)]
        batch_size = len(batches[0])
        hist = self.model.fit(
            _flat(x), y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0
        )
        return {"loss": float(hist.history["loss"][-1]), "acc": float(hist.history["accuracy"][-1])}


def select_keras_backend(tape: str) -> str:
    """Choose Keras' backend before it is imported: TensorFlow for a literal tf.GradientTape."""
    import importlib.util
    import sys

    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    has_tf = importlib.util.find_spec("tensorflow") is not None
    if tape == "tensorflow" and not has_tf:
        from nndl.errors import ConfigError

        raise ConfigError("tape=tensorflow needs TensorFlow: pip install 'nndl[tf]'.")
    wanted = "tensorflow" if (tape == "tensorflow" or (tape == "auto" and has_tf)) else "torch"
    os.environ["KERAS_BACKEND"] = wanted
    return wanted
