"""The diagrams of study a04: what each figure draws, where the layout puts it, and saving."""

from __future__ import annotations

import pytest

from nndl import diagrams

SIZES = [784, 128, 64, 32, 10]


def gids(fig, prefix: str, texts: bool = False) -> list[str]:
    """gids starting with `prefix` among the figure's patches (or texts)."""
    artists = fig.axes[0].texts if texts else fig.axes[0].patches
    return [a.get_gid() for a in artists if (a.get_gid() or "").startswith(prefix)]


def box(fig, node_id: str):
    """(x centre, y centre) of a node's box, inches from the bottom left."""
    (patch,) = [p for p in fig.axes[0].patches if p.get_gid() == f"node:{node_id}"]
    return patch.get_x() + patch.get_width() / 2, patch.get_y() + patch.get_height() / 2


@pytest.fixture(scope="module")
def forward():
    return diagrams.forward_graph_spec(4), diagrams.forward_graph(4)


@pytest.fixture(scope="module")
def backward():
    return diagrams.backward_graph_spec(4), diagrams.backward_graph(4)


def test_forward_graph_draws_every_node_and_edge(forward):
    (nodes, edges, rows), fig = forward
    # per hidden layer W, input, b, matmul, + bias, Z, ReLU; the output layer adds y, xent, loss
    assert len(nodes) == 3 * 7 + 9
    assert sorted(gids(fig, "node:")) == sorted(f"node:{n}" for n, _, _ in nodes)
    assert len(gids(fig, "label:", texts=True)) == len(nodes)
    assert len(gids(fig, "edge:")) == len(edges)
    assert set(rows.values()) == {0, 1, 2, 3}  # one row per layer


def test_forward_layering_runs_from_x_through_the_products_to_the_loss(forward):
    (nodes, edges, _), fig = forward
    layer = diagrams.layer_nodes(nodes, edges)
    chain = ["x"] + [f"matmul{i}" for i in range(1, 5)] + ["xent", "loss"]
    assert [layer[n] for n in chain] == sorted(layer[n] for n in chain)
    assert len({layer[n] for n in chain}) == len(chain)
    for i in range(1, 5):  # each parameter sits just before its consumer
        assert layer[f"W{i}"] == layer[f"matmul{i}"] - 1
        assert layer[f"b{i}"] == layer[f"add{i}"] - 1
    # drawn: x left of the first product on the top row, the loss on the bottom row
    assert box(fig, "x")[0] < box(fig, "matmul1")[0] < box(fig, "add1")[0]
    assert box(fig, "x")[1] == pytest.approx(box(fig, "matmul1")[1])  # the chain is a line
    assert box(fig, "W1")[1] > box(fig, "x")[1]  # parameters above it
    assert box(fig, "loss")[1] < box(fig, "A3")[1] + 0.5 < box(fig, "x")[1]


def test_backward_graph_shows_the_forward_values_each_gradient_uses(backward):
    (nodes, edges, rows), fig = backward
    assert len(nodes) == 3 + 7 + 8 + 8 + 6  # loss/P/Y, then layers 4, 3, 2, 1
    assert sorted(gids(fig, "node:")) == sorted(f"node:{n}" for n, _, _ in nodes)
    assert len(gids(fig, "edge:")) == len(edges)
    pairs = {(s, d) for s, d, *_ in edges}
    for layer in range(1, 5):
        prev = "x" if layer == 1 else f"A{layer - 1}"
        assert {(prev, f"dW{layer}"), (f"dW{layer}", f"sgd{layer}")} <= pairs
        if layer > 1:
            assert {(f"W{layer}", f"dA{layer - 1}"), (f"Z{layer - 1}", f"dZ{layer - 1}")} <= pairs
    layer = diagrams.layer_nodes(nodes, edges)
    chain = ["loss", "dZ4", "dA3", "dZ3", "dA2", "dZ2", "dA1", "dZ1", "dW1", "sgd1"]
    assert [layer[n] for n in chain] == sorted(layer[n] for n in chain)
    assert rows["dZ4"] == 0 and rows["dW1"] == 3
    assert box(fig, "loss")[1] > box(fig, "dZ3")[1] > box(fig, "dW1")[1]  # rows top to bottom


def test_shapes_are_labelled_when_sizes_are_given():
    nodes, _, _ = diagrams.forward_graph_spec(4, SIZES)
    labels = {n: label for n, label, _ in nodes}
    assert "784×128" in labels["W1"] and "B×784" in labels["x"]
    nodes, _, _ = diagrams.backward_graph_spec(4, SIZES)
    assert "32×10" in {n: label for n, label, _ in nodes}["dW4"]
    with pytest.raises(ValueError, match="num_layers \\+ 1"):
        diagrams.forward_graph_spec(4, [784, 10])


def test_network_figure_truncates_wide_layers():
    fig = diagrams.network_figure(SIZES)
    assert len(gids(fig, "neuron:")) == 5 * 8  # at most 8 circles per layer
    assert {"neuron:0:0", "neuron:0:783", "neuron:4:9"} <= set(gids(fig, "neuron:"))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts.count(r"$\vdots$") == 5
    assert {"input", "hidden 1", "output", "784", "128 ReLU", "10 softmax"} <= set(texts)
    small = diagrams.network_figure([4, 3, 2])
    assert len(gids(small, "neuron:")) == 9
    assert r"$\vdots$" not in [t.get_text() for t in small.axes[0].texts]


def test_draw_graph_generic_with_edge_labels_and_a_skip_edge():
    nodes = [
        ("x", "$x$", "input"),
        ("w", "$w$", "param"),
        ("m", "matmul", "op"),
        ("h", "$h$", "value"),
        ("L", r"$\mathcal{L}$", "loss"),
    ]
    edges = [("x", "m"), ("w", "m", "weights"), ("m", "h"), ("h", "L"), ("x", "L", "skip")]
    fig = diagrams.draw_graph(nodes, edges, "generic")
    assert len(gids(fig, "node:")) == 5 and len(gids(fig, "edge:")) == 5
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert {"weights", "skip", "generic"} <= set(texts)
    assert box(fig, "x")[0] < box(fig, "m")[0] < box(fig, "h")[0] < box(fig, "L")[0]


@pytest.mark.parametrize(
    "nodes, edges, rows, match",
    [
        ([("a", "a", "op"), ("b", "b", "op")], [("a", "b"), ("b", "a")], None, "cycle"),
        ([("a", "a", "tensor")], [], None, "unknown kind"),
        ([("a", "a", "op")], [("a", "z")], None, "unknown node"),
        ([("a", "a", "op"), ("b", "b", "op")], [("a", "b")], {"a": 0}, "missing b"),
        ([("a", "a", "op"), ("b", "b", "op")], [("a", "b")], {"a": 1, "b": 0}, "earlier row"),
    ],
)
def test_draw_graph_rejects_bad_graphs(nodes, edges, rows, match):
    with pytest.raises(ValueError, match=match):
        diagrams.draw_graph(nodes, edges, "bad", rows=rows)


def test_figures_save_as_png(tmp_path, forward):
    _, fig = forward
    for name, figure in [("forward", fig), ("network", diagrams.network_figure([6, 4, 3]))]:
        path = tmp_path / f"{name}.png"
        figure.savefig(path, dpi=40)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 2000
