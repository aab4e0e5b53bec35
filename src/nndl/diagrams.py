"""Diagrams for the reports, drawn with matplotlib alone (no graphviz: dependencies stay pip-only).

- `draw_graph(nodes, edges, title)`: a small layered-DAG drawer. Columns by longest path, nodes
  ordered within a column by barycentre sweeps (fewer crossings), chains kept on one row,
  boxes coloured by kind, arrows as `FancyArrowPatch`. Long graphs can wrap onto several rows.
- `network_figure(layer_sizes)`: the classic neuron diagram of a fully connected network.
- `forward_graph(num_layers)` / `backward_graph(num_layers)`: the computation graphs of the MLP
  of study a04, forward (x to the loss) and backward (the loss to every dW_l, db_l).

All functions return a `matplotlib.figure.Figure` built without pyplot (no GUI backend, no global
figure list): save it with `fig.savefig(path, dpi=...)`. Coordinates inside a figure are inches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Node = tuple[str, str, str]  # (id, label, kind); labels may use mathtext, "$W_1$"
Edge = tuple[str, str] | tuple[str, str, str]  # (src, dst) or (src, dst, label)

# kind: (fill, outline, legend name); light fills keep black text readable
KINDS: dict[str, tuple[str, str, str]] = {
    "input": ("#dbeafe", "#1d4ed8", "input"),
    "param": ("#fef3c7", "#b45309", "parameter"),
    "op": ("#f1f5f9", "#475569", "operation"),
    "value": ("#dcfce7", "#15803d", "value"),
    "loss": ("#fee2e2", "#b91c1c", "loss"),
    "grad": ("#ede9fe", "#6d28d9", "gradient"),
}
# Which predecessor a node stays level with (lower = preferred): the data path (values,
# gradients, ops) rather than the parameters feeding into it from the side.
_ALIGN_RANK = {"loss": 0, "grad": 1, "op": 2, "value": 3, "input": 4, "param": 5}

EDGE_COLOR = "#4b5563"
FONT_SIZE = 11.0  # node labels, points
PT = 1 / 72  # inches per point


# -- graph structure ------------------------------------------------------------------------------
def _parse(nodes: Sequence[Node], edges: Sequence[Edge]):
    """ids in order, {id: (label, kind)}, predecessor and successor lists, [(src, dst, label)]."""
    info: dict[str, tuple[str, str]] = {}
    for node in nodes:
        if len(node) != 3:
            raise ValueError(f"a node is (id, label, kind); got {node!r}")
        nid, label, kind = node
        if kind not in KINDS:
            raise ValueError(f"node {nid!r} has unknown kind {kind!r}; valid: {', '.join(KINDS)}")
        if nid in info:
            raise ValueError(f"duplicate node id {nid!r}")
        info[nid] = (label, kind)
    preds: dict[str, list[str]] = {n: [] for n in info}
    succs: dict[str, list[str]] = {n: [] for n in info}
    norm = []
    for edge in edges:
        if len(edge) not in (2, 3):
            raise ValueError(f"an edge is (src, dst) or (src, dst, label); got {edge!r}")
        src, dst = edge[0], edge[1]
        for end in (src, dst):
            if end not in info:
                raise ValueError(f"edge {src!r} -> {dst!r} names unknown node {end!r}")
        preds[dst].append(src)
        succs[src].append(dst)
        norm.append((src, dst, edge[2] if len(edge) == 3 else ""))
    return list(info), info, preds, succs, norm


def layer_nodes(nodes: Sequence[Node], edges: Sequence[Edge]) -> dict[str, int]:
    """Column of every node: longest path from the sources, left to right.

    A source (a parameter, an input) is then moved right, to the column just before its first
    consumer, so that W_3 sits next to the product that uses it, not in column 0.
    Raises ValueError if the graph has a cycle.
    """
    ids, _, preds, succs, _ = _parse(nodes, edges)
    indegree = {n: len(preds[n]) for n in ids}
    ready = [n for n in ids if indegree[n] == 0]
    layer: dict[str, int] = {}
    while ready:  # Kahn's topological order; layer(v) = 1 + max layer(u) over predecessors
        v = ready.pop(0)
        layer[v] = max((layer[u] + 1 for u in preds[v]), default=0)
        for w in succs[v]:
            indegree[w] -= 1
            if indegree[w] == 0:
                ready.append(w)
    if len(layer) != len(ids):
        stuck = sorted(set(ids) - set(layer))
        raise ValueError(f"the graph has a cycle through {', '.join(stuck)}")
    for v in ids:
        if not preds[v] and succs[v]:
            layer[v] = min(layer[w] for w in succs[v]) - 1
    return layer


def _crossings(order: list[list[str]], succs: dict[str, list[str]]) -> int:
    """Edge crossings between neighbouring columns (edges that skip a column are ignored)."""
    total = 0
    for left, right in zip(order[:-1], order[1:], strict=True):
        pos = {v: i for i, v in enumerate(right)}
        pairs = [(i, pos[w]) for i, v in enumerate(left) for w in succs[v] if w in pos]
        total += sum(1 for a, b in pairs for c, d in pairs if a < c and b > d)
    return total


def _order_columns(columns, preds, succs, sweeps: int = 4) -> list[list[str]]:
    """Order nodes within columns by the barycentre heuristic, keeping the best order seen.

    Each sweep sorts a column by the mean position of the node's neighbours in the columns
    already placed (left-to-right with predecessors, then right-to-left with successors).
    Ties keep the current order, so the caller's node order decides when nothing else does.
    """
    order = [list(col) for col in columns]
    best, best_cross = [list(c) for c in order], _crossings(order, succs)
    for sweep in range(sweeps):
        down = sweep % 2 == 0
        for c in range(1, len(order)) if down else range(len(order) - 2, -1, -1):
            pos = {v: i for col in order for i, v in enumerate(col)}
            neighbours = preds if down else succs

            def barycentre(v, pos=pos, neighbours=neighbours):
                near = [pos[u] for u in neighbours[v]]
                return sum(near) / len(near) if near else pos[v]

            order[c] = sorted(order[c], key=lambda v, pos=pos, bc=barycentre: (bc(v), pos[v]))
        cross = _crossings(order, succs)
        if cross < best_cross:
            best, best_cross = [list(c) for c in order], cross
    return best


def _depths(order, layer, preds, succs, kind) -> dict[str, float]:
    """Vertical slot of every node (0 = top), keeping chains of nodes on one row.

    A simplified Brandes-Koepf placement: each node is aligned with one predecessor in the
    previous column (the median of its preferred kind, without crossing earlier alignments);
    aligned nodes form blocks that share a row. Blocks are packed from the top so that nodes in
    a column keep their order at least one slot apart; single nodes then move toward the median
    of their neighbours within the room their column leaves them.
    """
    pos = {v: i for col in order for i, v in enumerate(col)}
    aligned_to: dict[str, str] = {}
    for c in range(1, len(order)):
        claimed, last = set(), -1
        for v in order[c]:
            cands = [u for u in preds[v] if layer[u] == c - 1]
            if not cands:
                continue
            best = min(_rank(kind[v], kind[u]) for u in cands)
            cands = sorted((u for u in cands if _rank(kind[v], kind[u]) == best), key=pos.get)
            for u in (cands[(len(cands) - 1) // 2], cands[len(cands) // 2]):  # the medians
                if u not in claimed and pos[u] > last:
                    aligned_to[v], last = u, pos[u]
                    claimed.add(u)
                    break
    root: dict[str, str] = {}
    for col in order:
        for v in col:
            root[v] = root[aligned_to[v]] if v in aligned_to else v
    size = {r: 0 for r in root.values()}
    for v in root:
        size[root[v]] += 1

    # block b below block a in some column -> depth(b) >= depth(a) + 1; longest path from the top
    below: dict[str, set[str]] = {r: set() for r in size}
    for col in order:
        for a, b in zip(col[:-1], col[1:], strict=True):
            below[root[a]].add(root[b])
    indegree = {r: 0 for r in size}
    for r in below:
        for s in below[r]:
            indegree[s] += 1
    ready = [r for r in size if indegree[r] == 0]
    block_depth = {r: 0.0 for r in size}
    seen = 0
    while ready:
        r = ready.pop()
        seen += 1
        for s in below[r]:
            block_depth[s] = max(block_depth[s], block_depth[r] + 1)
            indegree[s] -= 1
            if indegree[s] == 0:
                ready.append(s)
    if seen != len(size):  # cannot happen with non-crossing alignments; say so if it does
        raise RuntimeError("graph layout: inconsistent row constraints (alignment crossing)")
    depth = {v: block_depth[root[v]] for v in root}

    for _ in range(3):  # pull lone nodes toward their neighbours, inside their column's room
        for col in order:
            for i, v in enumerate(col):
                near = sorted(depth[u] for u in preds[v] + succs[v])
                if size[root[v]] > 1 or not near:
                    continue
                target = near[(len(near) - 1) // 2]
                lo = depth[col[i - 1]] + 1 if i > 0 else float("-inf")
                hi = depth[col[i + 1]] - 1 if i + 1 < len(col) else float("inf")
                depth[v] = min(max(target, lo), hi)
    return depth


def _rank(kind_v: str, kind_u: str) -> int:
    return -1 if kind_u == kind_v else _ALIGN_RANK[kind_u]


# -- drawing --------------------------------------------------------------------------------------
def _text_size(label: str, fontsize: float) -> tuple[float, float]:
    """(width, height) in inches of a possibly multi-line, possibly mathtext label."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    prop = FontProperties(size=fontsize)
    width, height = 0.0, 0.0
    lines = label.split("\n")
    for line in lines:
        ext = TextPath((0, 0), line or " ", size=fontsize, prop=prop).get_extents()
        width = max(width, ext.width * PT)
        height += max(ext.height, fontsize) * PT
    return width, height + (len(lines) - 1) * 0.35 * fontsize * PT


def _new_figure(width: float, height: float):
    """A figure whose single axes spans it, with 1 data unit = 1 inch on both axes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), facecolor="white")
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    return fig, ax


def draw_graph(
    nodes: Sequence[Node],
    edges: Sequence[Edge],
    title: str,
    *,
    row_breaks: Sequence[int] = (),
    fontsize: float = FONT_SIZE,
) -> Figure:
    """Draw a DAG left to right: nodes (id, label, kind), edges (src, dst[, label]).

    kind is one of input, param, op, value, loss, grad (each its own colour, with a legend).
    `row_breaks`: columns at which to start a new row, for long chains; an edge into the next
    row runs around the right end, below the row, and back in from the left.
    Node boxes carry gid "node:<id>", their texts "label:<id>".
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import BoxStyle, FancyArrowPatch, FancyBboxPatch

    ids, info, preds, succs, edge_list = _parse(nodes, edges)
    if not ids:
        raise ValueError("draw_graph needs at least one node")
    layer = layer_nodes(nodes, edges)
    shift = min(layer.values())
    layer = {v: c - shift for v, c in layer.items()}
    num_cols = max(layer.values()) + 1
    columns = [[v for v in ids if layer[v] == c] for c in range(num_cols)]
    kind = {v: info[v][1] for v in ids}
    order = _order_columns(columns, preds, succs)
    depth = _depths(order, layer, preds, succs, kind)

    # -- sizes (inches) -----------------------------------------------------------------------
    pad_x, pad_y, h_gap, v_gap, band_gap = 0.16, 0.11, 0.42, 0.26, 0.62
    box = {}
    for v in ids:
        w, h = _text_size(info[v][0], fontsize)
        box[v] = (max(w + 2 * pad_x, 0.55), max(h + 2 * pad_y, 0.4))
    edge_fs = fontsize - 2
    breaks = sorted({int(b) for b in row_breaks if 0 < int(b) < num_cols})
    starts = [0, *breaks]
    bands = [list(range(a, b)) for a, b in zip(starts, [*breaks, num_cols], strict=True)]
    band_of = {c: i for i, cols in enumerate(bands) for c in cols}
    wraps = any(band_of[layer[s]] != band_of[layer[d]] for s, d, _ in edge_list)
    margin_x = 0.55 if wraps else 0.3

    # -- x: columns left to right within each row, widened where an edge label needs room ------
    x_of_col, col_width, band_width = {}, {}, []
    for cols in bands:
        cursor = margin_x
        for c in cols:
            col_width[c] = max(box[v][0] for v in order[c])
            x_of_col[c] = cursor + col_width[c] / 2
            labels = [lab for s, d, lab in edge_list if lab and layer[s] == c and layer[d] == c + 1]
            gap = max([h_gap] + [_text_size(lab, edge_fs)[0] + 0.3 for lab in labels])
            cursor += col_width[c] + gap
        band_width.append(cursor - gap + margin_x)

    # -- y: rows of slots within each band, bands stacked top to bottom --------------------------
    title_h, legend_h = 0.75, 0.55
    band_top, pitch, band_height = [], [], []
    cursor = title_h
    for cols in bands:
        members = [v for c in cols for v in order[c]]
        d0 = min(depth[v] for v in members)
        tallest = max(box[v][1] for v in members)
        rows = max(depth[v] for v in members) - d0
        pitch.append(tallest + v_gap)
        band_top.append((cursor, d0, tallest))
        band_height.append(rows * (tallest + v_gap) + tallest)
        cursor += band_height[-1] + band_gap
    fig_w = max(max(band_width), _text_size(title, 13)[0] + 0.6, 4.0)
    fig_h = cursor - band_gap + legend_h + 0.15
    fig, ax = _new_figure(fig_w, fig_h)

    center = {}
    for v in ids:
        b = band_of[layer[v]]
        top, d0, tallest = band_top[b]
        center[v] = (x_of_col[layer[v]], fig_h - top - tallest / 2 - (depth[v] - d0) * pitch[b])

    # -- nodes --------------------------------------------------------------------------------
    patches = {}
    for v in ids:
        (x, y), (w, h) = center[v], box[v]
        label, k = info[v]
        fill, outline, _ = KINDS[k]
        rounding = h / 2 if k == "op" else 0.07  # operations are pills, the rest rounded boxes
        patch = FancyBboxPatch(
            (x - w / 2, y - h / 2), w, h,
            boxstyle=BoxStyle("Round", pad=0, rounding_size=rounding),
            facecolor=fill, edgecolor=outline, linewidth=1.3, zorder=3, gid=f"node:{v}",
        )  # fmt: skip
        ax.add_patch(patch)
        patches[v] = patch
        ax.text(x, y, label, ha="center", va="center", ma="center", fontsize=fontsize,
                color="#111827", zorder=4, gid=f"label:{v}")  # fmt: skip

    # -- edges --------------------------------------------------------------------------------
    arrow = dict(arrowstyle="-|>", mutation_scale=13, color=EDGE_COLOR, linewidth=1.1, zorder=2)
    for src, dst, label in edge_list:
        (xs, ys), (xd, yd) = center[src], center[dst]
        bs, bd = band_of[layer[src]], band_of[layer[dst]]
        if bs == bd:
            span = layer[dst] - layer[src]
            style = "arc3,rad=0" if span == 1 else f"arc3,rad={-0.15 if yd <= ys else 0.15}"
            ax.add_patch(FancyArrowPatch((xs, ys), (xd, yd), patchA=patches[src],
                                         patchB=patches[dst], shrinkA=1, shrinkB=1.5,
                                         connectionstyle=style, gid=f"edge:{src}->{dst}",
                                         **arrow))  # fmt: skip
            lx, ly = (xs + xd) / 2, (ys + yd) / 2
        else:  # into a later row: right, down into the gap below the row, left, down, in
            out_x = xs + box[src][0] / 2
            right = x_of_col[bands[bs][-1]] + col_width[bands[bs][-1]] / 2 + 0.25
            top, d0, tallest = band_top[bs]
            gap_y = fig_h - top - band_height[bs] - band_gap / 2
            left = x_of_col[layer[dst]] - box[dst][0] / 2 - 0.3
            ax.add_line(Line2D([out_x, right, right, left, left], [ys, ys, gap_y, gap_y, yd],
                               color=EDGE_COLOR, linewidth=1.1, zorder=2,
                               solid_joinstyle="round", gid=f"edge:{src}->{dst}"))  # fmt: skip
            ax.add_patch(FancyArrowPatch((left, yd), (xd, yd), patchB=patches[dst], shrinkA=0,
                                         shrinkB=1.5, **arrow))  # fmt: skip
            lx, ly = (right + left) / 2, gap_y
        if label:
            ax.text(lx, ly, label, ha="center", va="center", fontsize=edge_fs, color="#374151",
                    zorder=5, bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none"))  # fmt: skip

    # -- title and legend ---------------------------------------------------------------------
    ax.text(fig_w / 2, fig_h - 0.38, title, ha="center", va="center", fontsize=13,
            fontweight="bold", color="#111827")  # fmt: skip
    _legend(ax, [k for k in KINDS if k in kind.values()], fig_w / 2, 0.15 + legend_h / 2)
    return fig


def _legend(ax, kinds: list[str], x_center: float, y: float, fontsize: float = 9.5) -> None:
    """One row of coloured swatches with their kind names, centred at (x_center, y)."""
    from matplotlib.patches import BoxStyle, FancyBboxPatch

    swatch, gap = 0.26, 0.3
    widths = [swatch + 0.08 + _text_size(KINDS[k][2], fontsize)[0] for k in kinds]
    x = x_center - (sum(widths) + gap * (len(kinds) - 1)) / 2
    for k, w in zip(kinds, widths, strict=True):
        fill, outline, name = KINDS[k]
        ax.add_patch(FancyBboxPatch((x, y - 0.09), swatch, 0.18, facecolor=fill, edgecolor=outline,
                                    boxstyle=BoxStyle("Round", pad=0, rounding_size=0.04),
                                    linewidth=1.1, gid=f"legend:{k}"))  # fmt: skip
        ax.text(x + swatch + 0.08, y, name, ha="left", va="center", fontsize=fontsize,
                color="#374151")  # fmt: skip
        x += w + gap


# -- the network of study a04 -------------------------------------------------------------------
def network_figure(layer_sizes: Sequence[int], max_drawn: int = 8) -> Figure:
    """Neurons as circles, one column per layer, every drawn pair of neighbours connected.

    A layer wider than `max_drawn` shows its first and last max_drawn / 2 neurons around a
    vertical ellipsis; its true size is written under the column. Circles carry gid
    "neuron:<layer>:<index>".
    """
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Circle

    sizes = [int(n) for n in layer_sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"layer_sizes needs an input and an output size, all >= 1; got {sizes}")
    if max_drawn < 2:
        raise ValueError(f"max_drawn must be >= 2; got {max_drawn}")

    radius, pitch, col_gap = 0.16, 0.44, 1.85
    shown = []  # per layer: [(neuron index, slot)], the ellipsis takes slot max_drawn // 2
    for n in sizes:
        if n <= max_drawn:
            shown.append([(j, j) for j in range(n)])
        else:
            top = max_drawn // 2
            bottom = max_drawn - top
            shown.append(
                [(j, j) for j in range(top)]
                + [(n - bottom + j, top + 1 + j) for j in range(bottom)]
            )
    slots = [s[-1][1] + 1 for s in shown]
    net_h = (max(slots) - 1) * pitch + 2 * radius
    title_h, weights_h, captions_h, margin_x = 0.7, 0.45, 0.8, 0.75
    fig_w = 2 * margin_x + (len(sizes) - 1) * col_gap
    fig_h = title_h + weights_h + net_h + captions_h
    fig, ax = _new_figure(fig_w, fig_h)
    mid_y = captions_h + net_h / 2

    def slot_y(layer: int, slot: int) -> float:
        return mid_y + ((slots[layer] - 1) / 2 - slot) * pitch

    xs = [margin_x + i * col_gap for i in range(len(sizes))]
    points = [[(xs[i], slot_y(i, s)) for _, s in shown[i]] for i in range(len(sizes))]
    segments = [(a, b) for i in range(len(sizes) - 1) for a in points[i] for b in points[i + 1]]
    ax.add_collection(LineCollection(segments, colors="#c4c4c4", linewidths=0.6, zorder=1))

    last = len(sizes) - 1
    for i, n in enumerate(sizes):
        role = "input" if i == 0 else "loss" if i == last else "value"
        fill, outline, _ = KINDS[role]
        for (j, _), (x, y) in zip(shown[i], points[i], strict=True):
            ax.add_patch(Circle((x, y), radius, facecolor=fill, edgecolor=outline, linewidth=1.2,
                                zorder=3, gid=f"neuron:{i}:{j}"))  # fmt: skip
            if i == 0:  # pixel index, left of the inputs
                ax.text(x - radius - 0.08, y, f"$x_{{{j + 1}}}$", ha="right", va="center",
                        fontsize=9, color="#374151")  # fmt: skip
            elif i == last:  # class index, right of the outputs
                ax.text(x + radius + 0.08, y, str(j), ha="left", va="center", fontsize=9,
                        color="#374151")  # fmt: skip
        if n > max_drawn:
            ax.text(xs[i], slot_y(i, max_drawn // 2), r"$\vdots$", ha="center", va="center",
                    fontsize=15, color="#4b5563")  # fmt: skip
        name = "input" if i == 0 else "output" if i == last else f"hidden {i}"
        detail = f"{n}" if i == 0 else f"{n} softmax" if i == last else f"{n} ReLU"
        ax.text(xs[i], captions_h - 0.22, name, ha="center", va="center", fontsize=11,
                fontweight="bold", color="#111827", gid=f"caption:{i}")  # fmt: skip
        ax.text(xs[i], captions_h - 0.5, detail, ha="center", va="center", fontsize=10.5,
                color="#374151")  # fmt: skip
        if i > 0:  # the weight matrix between two columns, above its connections
            ax.text((xs[i - 1] + xs[i]) / 2, fig_h - title_h - weights_h / 2,
                    f"$W_{{{i}}}$: {sizes[i - 1]}×{n}", ha="center", va="center", fontsize=10,
                    color="#374151")  # fmt: skip
    arrow = " → ".join(map(str, sizes))
    ax.text(fig_w / 2, fig_h - 0.38, f"Fully connected network {arrow}", ha="center",
            va="center", fontsize=13, fontweight="bold", color="#111827")  # fmt: skip
    return fig


def _shape(*dims) -> str:
    return "×".join(str(d) for d in dims)


def _check_sizes(num_layers: int, layer_sizes: Sequence[int] | None) -> list[int] | None:
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1; got {num_layers}")
    if layer_sizes is None:
        return None
    sizes = [int(n) for n in layer_sizes]
    if len(sizes) != num_layers + 1:
        raise ValueError(
            f"layer_sizes must have num_layers + 1 = {num_layers + 1} entries; got {sizes}"
        )
    return sizes


def forward_graph_spec(
    num_layers: int, layer_sizes: Sequence[int] | None = None
) -> tuple[list[Node], list[Edge]]:
    """Nodes and edges of the forward pass: x -> [matmul, + bias, ReLU] per layer -> loss.

    Ids: x, y, loss, xent and W<l>, b<l>, matmul<l>, add<l>, Z<l>, relu<l>, A<l> for l = 1..L.
    With `layer_sizes`, parameters and values show their shapes (B = batch size).
    """
    sizes = _check_sizes(num_layers, layer_sizes)
    L = num_layers

    def shape(text: str, *dims) -> str:
        return f"{text}\n{_shape(*dims)}" if sizes else text

    nodes: list[Node] = []
    edges: list[Edge] = []
    for layer in range(1, L + 1):
        d_in, d_out = (sizes[layer - 1], sizes[layer]) if sizes else (0, 0)
        prev = "x" if layer == 1 else f"A{layer - 1}"
        # listed parameter first: within a column the first node goes on top
        nodes.append((f"W{layer}", shape(f"$W_{{{layer}}}$", d_in, d_out), "param"))
        if layer == 1:
            nodes.append(("x", shape("$x$", "B", d_in), "input"))
        else:
            nodes.append((prev, shape(f"$A_{{{layer - 1}}}$", "B", d_in), "value"))
        nodes += [
            (f"b{layer}", shape(f"$b_{{{layer}}}$", d_out), "param"),
            (f"matmul{layer}", "matmul", "op"),
            (f"add{layer}", "+ bias", "op"),
        ]
        if layer == L:
            nodes.append(("y", "labels $y$", "input"))
        nodes.append((f"Z{layer}", shape(f"$Z_{{{layer}}}$", "B", d_out), "value"))
        edges += [
            (prev, f"matmul{layer}"),
            (f"W{layer}", f"matmul{layer}"),
            (f"matmul{layer}", f"add{layer}"),
            (f"b{layer}", f"add{layer}"),
            (f"add{layer}", f"Z{layer}"),
        ]
        if layer < L:
            nodes.append((f"relu{layer}", "ReLU", "op"))
            edges += [(f"Z{layer}", f"relu{layer}"), (f"relu{layer}", f"A{layer}")]
    nodes += [
        ("xent", "softmax +\ncross-entropy", "op"),
        ("loss", r"loss $\mathcal{L}$", "loss"),
    ]
    edges += [(f"Z{L}", "xent"), ("y", "xent"), ("xent", "loss")]
    return nodes, edges


def forward_graph(num_layers: int, layer_sizes: Sequence[int] | None = None) -> Figure:
    """The forward computation graph of the MLP, one row per layer (see `forward_graph_spec`)."""
    nodes, edges = forward_graph_spec(num_layers, layer_sizes)
    layer = layer_nodes(nodes, edges)
    breaks = [layer[f"A{i}"] for i in range(1, num_layers)]  # each row starts at A_{l-1}, W_l
    title = f"Forward pass: computation graph of the {num_layers}-layer network"
    return draw_graph(nodes, edges, title, row_breaks=breaks)


def backward_graph_spec(
    num_layers: int, layer_sizes: Sequence[int] | None = None
) -> tuple[list[Node], list[Edge]]:
    """Nodes and edges of the backward pass, from the loss down to dW_1 and db_1.

    Gradient nodes dZ<l>, dA<l>, dW<l>, db<l> and an SGD update node sgd<l> per layer; the
    forward values each gradient uses appear as their own nodes: A<l-1> (for dW_l), W<l>
    (for dA_{l-1}) and Z<l-1> (the ReLU mask of dZ_{l-1}); also loss, probs, onehot.
    """
    sizes = _check_sizes(num_layers, layer_sizes)
    L = num_layers

    def shape(text: str, *dims) -> str:
        return f"{text}\n{_shape(*dims)}" if sizes else text

    nodes: list[Node] = [
        ("probs", f"$P = \\mathrm{{softmax}}(Z_{{{L}}})$", "value"),
        ("loss", r"loss $\mathcal{L}$", "loss"),
        ("onehot", r"$Y = \mathrm{onehot}(y)$", "input"),
    ]
    edges: list[Edge] = [("loss", f"dZ{L}"), ("probs", f"dZ{L}"), ("onehot", f"dZ{L}")]
    for layer in range(L, 0, -1):
        p = layer - 1
        d_in, d_out = (sizes[p], sizes[layer]) if sizes else (0, 0)
        a_prev = "x" if layer == 1 else f"A{p}"
        a_label = "$x$" if layer == 1 else f"$A_{{{p}}}$"
        if layer == L:
            nodes.append((f"dZ{L}", f"$dZ_{{{L}}} = (P - Y)\\,/\\,B$", "grad"))
        if layer > 1:  # W_l is needed only to pass the gradient on to A_{l-1}
            nodes.append((f"W{layer}", f"$W_{{{layer}}}$", "param"))
        nodes.append((a_prev, a_label, "input" if layer == 1 else "value"))
        if layer > 1:
            nodes += [
                (f"Z{p}", f"$Z_{{{p}}}$", "value"),
                (f"dA{p}", f"$dA_{{{p}}} = dZ_{{{layer}}}\\, W_{{{layer}}}^{{\\top}}$", "grad"),
            ]
        nodes += [
            (f"dW{layer}", shape(f"$dW_{{{layer}}} = {a_label[1:-1]}^{{\\top}} dZ_{{{layer}}}$",
                                 d_in, d_out), "grad"),  # fmt: skip
            (f"db{layer}", shape(f"$db_{{{layer}}} = \\sum_i\\, dZ_{{{layer},i}}$", d_out),
             "grad"),  # fmt: skip
            (
                f"sgd{layer}",
                f"$W_{{{layer}}} \\leftarrow W_{{{layer}}} - \\eta\\, dW_{{{layer}}}$\n"
                f"$b_{{{layer}}} \\leftarrow b_{{{layer}}} - \\eta\\, db_{{{layer}}}$",
                "op",
            ),
        ]
        edges += [
            (f"dZ{layer}", f"dW{layer}"),
            (a_prev, f"dW{layer}"),
            (f"dZ{layer}", f"db{layer}"),
            (f"dW{layer}", f"sgd{layer}"),
            (f"db{layer}", f"sgd{layer}"),
        ]
        if layer > 1:
            nodes.append(
                (f"dZ{p}", f"$dZ_{{{p}}} = dA_{{{p}}} \\odot \\mathbb{{1}}[Z_{{{p}}} > 0]$", "grad")
            )
            edges += [
                (f"dZ{layer}", f"dA{p}"),
                (f"W{layer}", f"dA{p}"),
                (f"dA{p}", f"dZ{p}"),
                (f"Z{p}", f"dZ{p}"),
            ]
    return nodes, edges


def backward_graph(num_layers: int, layer_sizes: Sequence[int] | None = None) -> Figure:
    """The backward computation graph of the MLP (see `backward_graph_spec`)."""
    nodes, edges = backward_graph_spec(num_layers, layer_sizes)
    title = "Backward pass: the gradient of every layer, and the forward values it uses"
    return draw_graph(nodes, edges, title)
