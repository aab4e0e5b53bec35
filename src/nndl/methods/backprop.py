"""A fully connected network with backpropagation written out by hand in NumPy (study a04).

The network for the 10 digits, layer_sizes = [784, 128, 64, 32, 10]: three hidden ReLU layers
and a linear output layer, L = 4 weight layers. Batches are rows (numpy's and Keras' Dense
convention), B images at a time:

    A_0 = x                        (B, d_0)           the flattened images
    Z_l = A_{l-1} W_l + b_l        (B, d_l)           W_l: (d_{l-1}, d_l), b_l: (d_l,)
    A_l = ReLU(Z_l)                (B, d_l)           hidden layers l = 1 .. L-1
    logits = Z_L                   (B, num_classes)
    loss = -(1/B) sum_i log softmax(Z_L)_{i, y_i}     softmax cross-entropy, batch mean

`backward` is the chain rule applied layer by layer from L down to 1, one commented line per
equation; `gradient_check` compares it with torch autograd and with central finite differences
in float64, and `update_equations` writes the same equations in LaTeX for the report.
"""

from __future__ import annotations

import numpy as np

Params = list[dict[str, np.ndarray]]  # [{"W": (d_{l-1}, d_l), "b": (d_l,)} for l = 1..L]


def init_params(layer_sizes: list[int], seed: int, dtype=np.float32) -> Params:
    """Random weights for `layer_sizes` = [d_0, d_1, ..., d_L]; biases start at zero.

    Layers followed by a ReLU use He-normal, W ~ N(0, 2 / fan_in): half of the units are zeroed
    by the ReLU, so the factor 2 keeps Var[Z_l] the same from layer to layer. The output layer
    has no ReLU and uses LeCun-normal, W ~ N(0, 1 / fan_in).
    """
    sizes = [int(n) for n in layer_sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(
            f"layer_sizes needs an input and an output size, all >= 1 (e.g. [784, 128, 10]); "
            f"got {list(layer_sizes)}"
        )
    rng = np.random.default_rng(seed)
    num_layers = len(sizes) - 1
    params = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        gain = 2.0 if i < num_layers - 1 else 1.0  # He for ReLU layers, LeCun for the logits
        W = rng.normal(0.0, np.sqrt(gain / fan_in), size=(fan_in, fan_out)).astype(dtype)
        b = np.zeros(fan_out, dtype=dtype)
        params.append({"W": W, "b": b})
    return params


def _as_batch(x, dtype) -> np.ndarray:
    """x as a (B, d_0) array of `dtype`; images (B, 28, 28) are flattened to (B, 784)."""
    x = np.asarray(x, dtype=dtype)
    return x.reshape(len(x), -1)


def _as_labels(y, batch_size: int, num_classes: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (batch_size,) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"y must hold {batch_size} integer class labels, shape ({batch_size},); "
            f"got shape {y.shape}, dtype {y.dtype}"
        )
    if y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}); got {y.min()}..{y.max()}")
    return y.astype(np.int64)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log softmax, (B, num_classes) -> (B, num_classes), without overflow."""
    # log softmax(z)_k = (z_k - m) - log sum_j exp(z_j - m) with m = max_j z_j, so exp() <= 1
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def forward(params: Params, x: np.ndarray) -> tuple[np.ndarray, dict[str, list[np.ndarray]]]:
    """logits (B, num_classes) and the cache backward needs: A_0..A_{L-1} and Z_1..Z_L."""
    A = _as_batch(x, params[0]["W"].dtype)  # A_0 = x: (B, d_0)
    cache: dict[str, list[np.ndarray]] = {"A": [], "Z": []}
    num_layers = len(params)
    for i, p in enumerate(params):  # layer l = i + 1
        cache["A"].append(A)  # A_{l-1}, kept for dW_l = A_{l-1}^T dZ_l
        # Z_l = A_{l-1} W_l + b_l: (B, d_{l-1}) @ (d_{l-1}, d_l) -> (B, d_l), b_l added to each row
        Z = A @ p["W"] + p["b"]
        cache["Z"].append(Z)  # Z_l, kept for the ReLU mask 1[Z_l > 0]
        if i < num_layers - 1:
            A = np.maximum(Z, 0)  # A_l = ReLU(Z_l) = max(0, Z_l): (B, d_l)
    logits = Z  # Z_L: (B, num_classes), no activation; softmax lives in the loss
    return logits, cache


def loss_fn(logits: np.ndarray, y: np.ndarray) -> float:
    """Softmax cross-entropy averaged over the batch: -(1/B) sum_i log softmax(logits)_{i, y_i}."""
    y = _as_labels(y, *logits.shape)
    log_p = log_softmax(logits)  # (B, num_classes)
    return float(-log_p[np.arange(len(y)), y].mean())


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    """Fraction of rows whose largest logit is the true class."""
    y = _as_labels(y, *logits.shape)
    return float((logits.argmax(axis=1) == y).mean())


def backward(params: Params, cache: dict[str, list[np.ndarray]], y: np.ndarray) -> Params:
    """Gradients of the batch-mean loss, the same structure as params: grads[l-1]["W"] = dL/dW_l.

    Notation: dX = dL/dX, an array of the same shape as X. The ReLU derivative at exactly 0 is
    taken as 0 (as torch does).
    """
    num_layers = len(params)
    Z_L = cache["Z"][-1]  # logits: (B, num_classes)
    B, num_classes = Z_L.shape
    y = _as_labels(y, B, num_classes)

    # dZ_L = (softmax(Z_L) - onehot(y)) / B: (B, num_classes); the 1/B comes from the batch mean
    dZ = np.exp(log_softmax(Z_L))  # softmax(Z_L)
    dZ[np.arange(B), y] -= 1.0  # - onehot(y)
    dZ /= B

    grads: Params = [{} for _ in range(num_layers)]
    for i in reversed(range(num_layers)):  # layer l = i + 1, from L down to 1; dZ holds dZ_l
        A_prev = cache["A"][i]  # A_{l-1}: (B, d_{l-1})
        dW = A_prev.T @ dZ  # dW_l = A_{l-1}^T dZ_l: (d_{l-1}, B) @ (B, d_l) -> (d_{l-1}, d_l)
        db = dZ.sum(axis=0)  # db_l = sum over the batch rows of dZ_l: (B, d_l) -> (d_l,)
        grads[i] = {"W": dW, "b": db}
        if i > 0:  # no gradient is needed for the input x = A_0
            dA_prev = dZ @ params[i]["W"].T  # dA_{l-1} = dZ_l W_l^T: (B, d_l) @ (d_l, d_{l-1})
            dZ = dA_prev * (cache["Z"][i - 1] > 0)  # dZ_{l-1} = dA_{l-1} * 1[Z_{l-1} > 0]
    return grads


class NumpyMLP:
    """The network's parameters and the three operations training needs: gradients, SGD, logits.

    Build it from parameters (`NumpyMLP(init_params(sizes, seed))`) or from sizes
    (`NumpyMLP.from_sizes(sizes, seed)`).
    """

    def __init__(self, params: Params):
        if not params or any(set(p) != {"W", "b"} for p in params):
            raise ValueError("params must be a non-empty list of {'W': ..., 'b': ...} dicts")
        self.params = params

    @classmethod
    def from_sizes(cls, layer_sizes: list[int], seed: int = 0, dtype=np.float32) -> NumpyMLP:
        return cls(init_params(layer_sizes, seed, dtype))

    @property
    def layer_sizes(self) -> list[int]:
        return [self.params[0]["W"].shape[0]] + [p["W"].shape[1] for p in self.params]

    @property
    def num_classes(self) -> int:
        return self.params[-1]["W"].shape[1]

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float, Params]:
        """(batch-mean loss, accuracy, grads) for one batch: forward, then backward by hand."""
        logits, cache = forward(self.params, x)
        grads = backward(self.params, cache, y)
        return loss_fn(logits, y), accuracy(logits, y), grads

    def sgd_step(self, grads: Params, lr: float) -> None:
        """Plain SGD in place: W_l <- W_l - lr * dW_l, b_l <- b_l - lr * db_l."""
        for p, g in zip(self.params, grads, strict=True):
            p["W"] -= lr * g["W"]
            p["b"] -= lr * g["b"]

    def predict_logits(self, x: np.ndarray) -> np.ndarray:
        """logits (B, num_classes) for a batch x (B, d_0) or images (B, H, W)."""
        return forward(self.params, x)[0]

    # -- saving and loading -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the parameters as {"W1": ..., "b1": ..., "W2": ...}."""
        return {
            f"{name}{i}": p[name].copy()
            for i, p in enumerate(self.params, start=1)
            for name in ("W", "b")
        }

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Load arrays laid out as `state_dict()`'s (the keys and shapes must match); copies."""
        expected = self.state_dict()
        if set(state) != set(expected):
            missing, unexpected = (
                sorted(set(expected) - set(state)),
                sorted(set(state) - set(expected)),
            )
            raise KeyError(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
        self.set_weights([state[k] for k in expected])  # expected is in W1, b1, W2, ... order

    def get_weights(self) -> list[np.ndarray]:
        """Copies as a flat list [W1, b1, W2, ...]: Keras' Dense order, kernel (in, out), bias."""
        return [p[name].copy() for p in self.params for name in ("W", "b")]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Set the parameters from a flat list [W1, b1, W2, b2, ...] (Keras' `get_weights()`)."""
        current = self.get_weights()
        if len(weights) != len(current):
            raise ValueError(
                f"expected {len(current)} arrays [W1, b1, ..., W{len(self.params)}, "
                f"b{len(self.params)}]; got {len(weights)}"
            )
        for k, (new, old) in enumerate(zip(weights, current, strict=True)):
            new = np.asarray(new)
            if new.shape != old.shape:
                name = f"{'Wb'[k % 2]}{k // 2 + 1}"
                raise ValueError(f"{name} has shape {new.shape}, the network needs {old.shape}")
        for k, new in enumerate(weights):
            p = self.params[k // 2]
            key = "W" if k % 2 == 0 else "b"
            p[key] = np.array(new, dtype=p[key].dtype)  # a copy: no aliasing with the caller


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / max(||a|| + ||b||, 1e-12): 0 for equal arrays, 1 for unrelated ones."""
    a, b = np.ravel(a), np.ravel(b)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-12))


def gradient_check(
    layer_sizes: list[int],
    x: np.ndarray,
    y: np.ndarray,
    seed: int = 0,
    num_fd_entries: int = 20,
) -> list[dict]:
    """Compare the hand-written gradients with torch autograd and with finite differences.

    Everything runs in float64 from `init_params(layer_sizes, seed)`. The relative error between
    the manual gradient g and a reference r is

        rel_err = ||g - r|| / max(||g|| + ||r||, 1e-12)    (Euclidean norms over the entries)

    Autograd is compared on the whole array; central finite differences,
    dL/dθ ≈ (L(θ + ε) - L(θ - ε)) / (2ε) with ε = 1e-6, on `num_fd_entries` entries per
    parameter chosen at random (seeded by `seed`). One row per parameter:
    {"layer": l, "param": "W" | "b", "shape": "128x64", "rel_err_autograd", "rel_err_finite_diff"}.
    """
    import torch

    params = init_params(layer_sizes, seed, dtype=np.float64)
    x = _as_batch(x, np.float64)  # (B, d_0)
    y = _as_labels(y, len(x), params[-1]["W"].shape[1])
    logits, cache = forward(params, x)
    manual = backward(params, cache, y)

    # The same computation in torch, from the same parameters, differentiated by autograd
    leaves = [{k: torch.tensor(v, requires_grad=True) for k, v in p.items()} for p in params]
    h = torch.from_numpy(x)
    for i, p in enumerate(leaves):
        h = h @ p["W"] + p["b"]  # Z_l = A_{l-1} W_l + b_l
        if i < len(leaves) - 1:
            h = torch.relu(h)  # A_l = ReLU(Z_l)
    torch.nn.functional.cross_entropy(h, torch.from_numpy(y)).backward()  # batch-mean loss

    eps = 1e-6
    rng = np.random.default_rng(seed)
    rows = []
    for i, (p, g, leaf) in enumerate(zip(params, manual, leaves, strict=True)):
        for name in ("W", "b"):
            flat = p[name].reshape(-1)  # a view: writing flat[k] perturbs the parameter itself
            idx = rng.choice(flat.size, size=min(num_fd_entries, flat.size), replace=False)
            g_fd = np.empty(len(idx))
            for j, k in enumerate(idx):
                old = flat[k]
                flat[k] = old + eps
                loss_plus = loss_fn(forward(params, x)[0], y)  # L(θ + ε)
                flat[k] = old - eps
                loss_minus = loss_fn(forward(params, x)[0], y)  # L(θ - ε)
                flat[k] = old
                g_fd[j] = (loss_plus - loss_minus) / (2 * eps)  # error O(ε²) + O(1e-16 / ε)
            rows.append(
                {
                    "layer": i + 1,
                    "param": name,
                    "shape": "x".join(map(str, p[name].shape)),
                    "rel_err_autograd": relative_error(g[name], leaf[name].grad.numpy()),
                    "rel_err_finite_diff": relative_error(g[name].reshape(-1)[idx], g_fd),
                }
            )
    return rows


def update_equations(num_layers: int) -> list[tuple[str, str]]:
    """(caption, LaTeX) pairs: forward pass, loss, then every layer's gradients and SGD update.

    Written out per layer for L = `num_layers` weight layers, from the output layer L down to 1.
    One equation per string, in LaTeX that latex2mathml converts (no environments).
    """
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1; got {num_layers}")
    L = num_layers

    def tex(template: str, layer: int) -> str:
        # @l -> l, @p -> l - 1 (the previous layer), @L -> L; avoids doubling every LaTeX brace
        return (
            template.replace("@l", str(layer)).replace("@p", str(layer - 1)).replace("@L", str(L))
        )

    eqs = [
        (
            "Input: a batch of B flattened images (d_l is the width of layer l)",
            r"A_{0} = x \in \mathbb{R}^{B \times d_{0}}",
        )
    ]
    for layer in range(1, L):
        eqs += [
            (f"Layer {layer} (hidden): affine map", tex(r"Z_{@l} = A_{@p} W_{@l} + b_{@l}", layer)),
            (f"Layer {layer} (hidden): ReLU", tex(r"A_{@l} = \max(0, Z_{@l})", layer)),
        ]
    eqs += [
        (f"Layer {L} (output): logits", tex(r"Z_{@l} = A_{@p} W_{@l} + b_{@l}", L)),
        (
            f"Softmax: the probability of class k for image i (K = d_{L} classes)",
            tex(r"\hat{y}_{ik} = \frac{e^{Z_{@L,ik}}}{\sum_{j=1}^{K} e^{Z_{@L,ij}}}", L),
        ),
        (
            "Loss: cross-entropy, averaged over the batch",
            r"\mathcal{L} = -\frac{1}{B} \sum_{i=1}^{B} \log \hat{y}_{i y_{i}}",
        ),
        (
            f"Layer {L} (output): derivative of the loss with respect to one logit",
            tex(
                r"\frac{\partial \mathcal{L}}{\partial Z_{@L,ik}} "
                r"= \frac{1}{B} \left( \hat{y}_{ik} - \mathbb{1}[k = y_{i}] \right)",
                L,
            ),
        ),
        (
            f"Layer {L} (output): the same for the whole batch, shape B × d_{L}",
            tex(
                r"dZ_{@L} = \frac{\partial \mathcal{L}}{\partial Z_{@L}} "
                r"= \frac{1}{B} \left( \mathrm{softmax}(Z_{@L}) - \mathrm{onehot}(y) \right)",
                L,
            ),
        ),
    ]
    for layer in range(L, 0, -1):
        prev = "the input x = A_0" if layer == 1 else f"A_{layer - 1}"
        eqs += [
            (
                f"Layer {layer}: weight gradient (uses {prev}), shape d_{layer - 1} × d_{layer}",
                tex(
                    r"dW_{@l} = \frac{\partial \mathcal{L}}{\partial W_{@l}} "
                    r"= A_{@p}^{\top} dZ_{@l}",
                    layer,
                ),
            ),
            (
                f"Layer {layer}: bias gradient, the sum of the rows of dZ_{layer}",
                tex(
                    r"db_{@l} = \frac{\partial \mathcal{L}}{\partial b_{@l}} "
                    r"= \sum_{i=1}^{B} dZ_{@l,i}",
                    layer,
                ),
            ),
            (
                f"Layer {layer}: SGD update of the weights (η is the learning rate lr)",
                tex(r"W_{@l} \leftarrow W_{@l} - \eta \, dW_{@l}", layer),
            ),
            (
                f"Layer {layer}: SGD update of the bias",
                tex(r"b_{@l} \leftarrow b_{@l} - \eta \, db_{@l}", layer),
            ),
        ]
        if layer > 1:
            eqs += [
                (
                    f"Layer {layer}: gradient passed back to A_{layer - 1} (uses W_{layer})",
                    tex(
                        r"dA_{@p} = \frac{\partial \mathcal{L}}{\partial A_{@p}} "
                        r"= dZ_{@l} W_{@l}^{\top}",
                        layer,
                    ),
                ),
                (
                    f"Layer {layer - 1}: through the ReLU (uses the mask of Z_{layer - 1})",
                    tex(r"dZ_{@p} = dA_{@p} \odot \mathbb{1}[Z_{@p} > 0]", layer),
                ),
            ]
    return eqs
