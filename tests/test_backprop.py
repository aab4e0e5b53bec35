"""The hand-written backpropagation of study a04 against autograd, finite differences and SGD."""

from __future__ import annotations

import numpy as np
import pytest

from nndl.methods import backprop

SIZES = [64, 32, 16, 16, 10]  # the study's shape (three hidden ReLU layers, 10 digits), smaller


@pytest.fixture(scope="module")
def grad_rows():
    pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.random((16, SIZES[0]))  # pixel-like inputs in [0, 1)
    y = rng.integers(0, SIZES[-1], size=16)
    return backprop.gradient_check(SIZES, x, y, seed=3, num_fd_entries=20)


def test_gradient_check_covers_every_parameter(grad_rows):
    assert [(r["layer"], r["param"]) for r in grad_rows] == [
        (layer, name) for layer in range(1, 5) for name in ("W", "b")
    ]
    assert grad_rows[0]["shape"] == "64x32"
    assert grad_rows[3]["shape"] == "16"


def test_manual_grads_match_autograd(grad_rows):
    for r in grad_rows:
        assert r["rel_err_autograd"] < 1e-6, r


def test_manual_grads_match_finite_differences(grad_rows):
    for r in grad_rows:
        assert r["rel_err_finite_diff"] < 1e-5, r


def test_backward_shapes_and_dtype():
    params = backprop.init_params([12, 8, 6, 3], seed=0)
    x = np.random.default_rng(0).random((5, 12), dtype=np.float32)
    logits, cache = backprop.forward(params, x)
    grads = backprop.backward(params, cache, np.array([0, 1, 2, 0, 1]))
    assert logits.shape == (5, 3)
    for p, g in zip(params, grads, strict=True):
        assert g["W"].shape == p["W"].shape and g["b"].shape == p["b"].shape
        assert g["W"].dtype == np.float32


def test_init_is_he_normal_and_seeded():
    a = backprop.init_params([784, 512, 10], seed=7)
    b = backprop.init_params([784, 512, 10], seed=7)
    np.testing.assert_array_equal(a[0]["W"], b[0]["W"])
    assert a[0]["W"].std() == pytest.approx(np.sqrt(2 / 784), rel=0.02)  # He: Var = 2 / fan_in
    assert not a[0]["b"].any()
    with pytest.raises(ValueError, match="layer_sizes"):
        backprop.init_params([784], seed=0)


def test_loss_is_stable_and_matches_definition():
    logits = np.array([[1000.0, 0.0], [0.0, 0.0]])  # a naive exp() would overflow
    loss = backprop.loss_fn(logits, np.array([0, 1]))
    assert loss == pytest.approx(np.log(2) / 2)  # rows: -log 1 = 0 and -log 1/2
    assert backprop.accuracy(logits, np.array([0, 1])) == 0.5  # argmax of a tie is class 0


def test_sgd_decreases_the_loss_on_separable_data():
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 3, size=(3, 10))  # three well separated clusters
    y = rng.integers(0, 3, size=60)
    x = (centers[y] + rng.normal(0, 0.5, size=(60, 10))).astype(np.float32)
    model = backprop.NumpyMLP.from_sizes([10, 16, 16, 16, 3], seed=0)
    losses = []
    for _ in range(20):
        loss, _, grads = model.loss_and_grads(x, y)
        model.sgd_step(grads, lr=0.05)
        losses.append(loss)
    assert losses[-1] < 0.5 * losses[0]
    assert backprop.accuracy(model.predict_logits(x), y) > 0.9


def test_state_dict_round_trip():
    a = backprop.NumpyMLP.from_sizes([6, 5, 4, 3], seed=1)
    b = backprop.NumpyMLP.from_sizes([6, 5, 4, 3], seed=2)
    state = a.state_dict()
    assert list(state) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    b.load_state_dict(state)
    x = np.random.default_rng(0).random((4, 6))
    np.testing.assert_array_equal(a.predict_logits(x), b.predict_logits(x))
    state["W1"][:] = 0  # the state dict is a copy, not a view
    assert a.params[0]["W"].any()
    with pytest.raises(KeyError, match="missing"):
        b.load_state_dict({"W1": state["W1"]})


def test_weights_round_trip_in_keras_order():
    a = backprop.NumpyMLP.from_sizes([6, 5, 3], seed=1)
    weights = a.get_weights()
    assert [w.shape for w in weights] == [(6, 5), (5,), (5, 3), (3,)]  # kernel (in, out), bias
    b = backprop.NumpyMLP.from_sizes([6, 5, 3], seed=9)
    b.set_weights(weights)
    for w, v in zip(b.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(w, v)
    with pytest.raises(ValueError, match="shape"):
        b.set_weights([w.T for w in weights])


def test_update_equations_cover_every_layer_and_convert_to_mathml():
    converter = pytest.importorskip("latex2mathml.converter")
    eqs = backprop.update_equations(4)
    tex = [t for _, t in eqs]
    for layer in range(1, 5):
        assert any(t.startswith(f"dW_{{{layer}}}") for t in tex), layer
        assert any(t.startswith(f"db_{{{layer}}}") for t in tex), layer
        assert any(t.startswith(f"W_{{{layer}}} \\leftarrow") for t in tex), layer
        assert any(t.startswith(f"dZ_{{{layer}}}") for t in tex), layer
    # the backward part runs from the output layer down: dW_4 comes before dW_1
    order = [t.split(" ")[0] for t in tex if t.startswith("dW_")]
    assert order == ["dW_{4}", "dW_{3}", "dW_{2}", "dW_{1}"]
    for caption, t in eqs:
        assert caption
        mathml = converter.convert(t)
        assert mathml.startswith("<math") and "merror" not in mathml, t
