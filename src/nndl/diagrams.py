"""Diagrams for the reports, drawn with matplotlib alone (no graphviz: dependencies stay pip-only).

- `draw_graph(nodes, edges, title)`: a small layered-DAG drawer. Columns by longest path, nodes
  ordered within a column by barycentre sweeps (fewer crossings), chains kept on one line,
  boxes coloured by kind, arrows as `FancyArrowPatch`. A long graph can be split into rows.
- `network_figure(layer_sizes)`: the classic neuron diagram of a fully connected network.
- `forward_graph(num_layers)` / `backward_graph(num_layers)`: the computation graphs of the MLP
  of study a04, one row per layer: forward from x to the loss, backward from the loss to every
  dW_l and db_l.

All functions return a `matplotlib.figure.Figure` built without pyplot (no GUI backend, no global
figure list): save it with `fig.savefig(path, dpi=...)`. Coordinates inside a figure are inches.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
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
# Which predecessor a node stays level with (lower = preferred; the same kind comes first):
# the data path (loss, gradients, ops, values) rather than what feeds into it from the side.
_ALIGN_RANK = {"loss": 0, "grad": 1, "op": 2, "value": 3, "input": 4, "param": 5}

EDGE_COLOR = "#4b5563"
TEXT_COLOR = "#111827"
FONT_SIZE = 11.0  # node labels, points
PT = 1 / 72  # inches per point

# layout, inches
PAD_X, PAD_Y = 0.16, 0.11  # text to box edge
COL_GAP, ROW_GAP = 0.5, 0.26  # between columns (room for the arrows), between stacked boxes
BAND_GAP = 0.62  # between rows of the graph; the wrap-around arrows run in it
LANE = 0.1  # between edges that pass around the same columns
TITLE_H, LEGEND_H = 0.75, 0.55


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
    """Column of every node: the longest path from a source, left to right.

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

    Each sweep sorts a column by the mean position of the node's neighbours (left to right with
    predecessors, then right to left with successors). Ties keep the current order, so the
    caller's node order decides where nothing else does.
    """
    order = [list(col) for col in columns]
    best, best_cross = [list(c) for c in order], _crossings(order, succs)
    for sweep in range(sweeps):
        down = sweep % 2 == 0
        for c in range(1, len(order)) if down else range(len(order) - 2, -1, -1):
            pos = {v: i for col in order for i, v in enumerate(col)}
            neighbours = preds if down else succs

            def key(v, pos=pos, neighbours=neighbours):
                near = [pos[u] for u in neighbours[v]]
                return (sum(near) / len(near) if near else pos[v], pos[v])

            order[c] = sorted(order[c], key=key)
        cross = _crossings(order, succs)
        if cross < best_cross:
            best, best_cross = [list(c) for c in order], cross
    return best


def _depths(order, col, band, preds, succs, kind) -> dict[str, float]:
    """Vertical slot of every node (0 = top, in units of one box plus gap), per row of the graph.

    A simplified Brandes-Koepf placement: each node is aligned with one predecessor in the
    previous column of its row (the preferred kind first, its median, without crossing earlier
    alignments); aligned nodes form blocks that share a line. Blocks are packed from the top so
    that a column keeps its order, one slot apart. Single nodes then move toward their
    neighbours within the room their column leaves; a side input of a row's entry node (the
    node an arrow from the previous row comes into) goes just above it.
    """
    pos = {v: i for c in order for i, v in enumerate(c)}
    entry = {v for v in pos if any(band[u] != band[v] for u in preds[v])}
    aligned_to: dict[str, str] = {}
    for c in range(1, len(order)):
        claimed, last = set(), -1
        for v in order[c]:
            if v in entry:  # arrives from the row above: starts its own line
                continue
            cands = [u for u in preds[v] if col[u] == c - 1 and band[u] == band[v]]
            for rank in sorted({_rank(kind[v], kind[u]) for u in cands}):
                group = sorted((u for u in cands if _rank(kind[v], kind[u]) == rank), key=pos.get)
                medians = dict.fromkeys((group[(len(group) - 1) // 2], group[len(group) // 2]))
                free = [u for u in medians if u not in claimed and pos[u] > last]
                if free:
                    aligned_to[v], last = free[0], pos[free[0]]
                    claimed.add(free[0])
                    break
    root: dict[str, str] = {}
    for c in order:
        for v in c:
            root[v] = root[aligned_to[v]] if v in aligned_to else v
    size = dict.fromkeys(root.values(), 0)
    for v in root:
        size[root[v]] += 1

    # block b under block a in some column: depth(b) >= depth(a) + 1; longest path from the top
    below: dict[str, set[str]] = {r: set() for r in size}
    for c in order:
        for a, b in zip(c[:-1], c[1:], strict=True):
            below[root[a]].add(root[b])
    indegree = dict.fromkeys(size, 0)
    for r in below:
        for s in below[r]:
            indegree[s] += 1
    ready = [r for r in size if indegree[r] == 0]
    block_depth = dict.fromkeys(size, 0.0)
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
        raise RuntimeError("graph layout: inconsistent row constraints (crossing alignments)")
    depth = {v: block_depth[root[v]] for v in root}

    for _ in range(3):  # move single nodes toward their neighbours, inside their column's room
        for c in order:
            for i, v in enumerate(c):
                near = sorted(depth[u] for u in preds[v] + succs[v] if band[u] == band[v])
                if size[root[v]] > 1 or not near:
                    continue
                side_of_entry = [depth[w] for w in succs[v] if w in entry and band[w] == band[v]]
                if not preds[v] and side_of_entry:
                    target = min(side_of_entry) - 1
                else:
                    target = near[(len(near) - 1) // 2]
                lo = depth[c[i - 1]] + 1 if i > 0 else float("-inf")
                hi = depth[c[i + 1]] - 1 if i + 1 < len(c) else float("inf")
                depth[v] = min(max(target, lo), hi)
    return depth


def _rank(kind_v: str, kind_u: str) -> int:
    return -1 if kind_u == kind_v else _ALIGN_RANK[kind_u]


# -- drawing helpers ------------------------------------------------------------------------------
@functools.lru_cache(maxsize=512)
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


def _corner(kind: str, h: float) -> float:
    """Corner radius of a node box: operations are pills (radius h / 2)."""
    return h / 2 if kind == "op" else 0.07


def _text(ax, x: float, y: float, s: str, size: float, color: str = "#374151", **kw):
    """Text centred on (x, y) unless ha / va say otherwise."""
    kw = {"ha": "center", "va": "center", **kw}
    return ax.text(x, y, s, fontsize=size, color=color, **kw)


def _new_figure(width: float, height: float):
    """A figure whose single axes spans it, with 1 data unit = 1 inch on both axes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), facecolor="white")
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    return fig, ax


def _rounded_path(points: list[tuple[float, float]], radius: float = 0.1):
    """A polyline with its corners rounded by quadratic curves of `radius` inches."""
    import numpy as np
    from matplotlib.path import Path

    pts = [np.asarray(p, dtype=float) for p in points]
    verts, codes = [pts[0]], [Path.MOVETO]
    for prev, corner, nxt in zip(pts[:-2], pts[1:-1], pts[2:], strict=True):
        d_in, d_out = corner - prev, nxt - corner
        r = min(radius, np.linalg.norm(d_in) / 2, np.linalg.norm(d_out) / 2)
        if r <= 1e-9:
            continue
        verts += [
            corner - r * d_in / np.linalg.norm(d_in),
            corner,
            corner + r * d_out / np.linalg.norm(d_out),
        ]
        codes += [Path.LINETO, Path.CURVE3, Path.CURVE3]
    verts.append(pts[-1])
    codes.append(Path.LINETO)
    return Path(np.array(verts), codes)


def _legend(ax, kinds: list[str], x_center: float, y: float, fontsize: float = 9.5) -> None:
    """One line of coloured swatches with the names of the node kinds, centred at (x_center, y)."""
    from matplotlib.patches import BoxStyle, FancyBboxPatch

    swatch, gap = 0.26, 0.3
    widths = [swatch + 0.08 + _text_size(KINDS[k][2], fontsize)[0] for k in kinds]
    x = x_center - (sum(widths) + gap * (len(kinds) - 1)) / 2
    for k, w in zip(kinds, widths, strict=True):
        fill, outline, name = KINDS[k]
        style = BoxStyle("Round", pad=0, rounding_size=0.04)
        patch = FancyBboxPatch((x, y - 0.09), swatch, 0.18, boxstyle=style, facecolor=fill)
        patch.set(edgecolor=outline, linewidth=1.1, gid=f"legend:{k}")
        ax.add_patch(patch)
        _text(ax, x + swatch + 0.08, y, name, fontsize, ha="left")
        x += w + gap


# -- the graph drawer -----------------------------------------------------------------------------
def draw_graph(
    nodes: Sequence[Node],
    edges: Sequence[Edge],
    title: str,
    *,
    rows: Mapping[str, int] | None = None,
    fontsize: float = FONT_SIZE,
) -> Figure:
    """Draw a DAG left to right: nodes (id, label, kind), edges (src, dst[, label]).

    kind is one of input, param, op, value, loss, grad (each its own colour, in the legend).
    `rows` (optional) puts each node on a row of the figure, {id: row}, 0 at the top, to fold a
    long chain: each row is laid out on its own, and an edge into a later row runs right past
    the end of its row (or down the gap after its source, if a box is in the way), along the
    gap above the target's row and in from the left margin. An edge that skips columns runs
    around the boxes between, just above or below them.
    Node boxes carry gid "node:<id>", their texts "label:<id>", edges "edge:<src>-><dst>".
    """
    from matplotlib.patches import BoxStyle, FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path

    ids, info, preds, succs, edge_list = _parse(nodes, edges)
    if not ids:
        raise ValueError("draw_graph needs at least one node")
    layer = layer_nodes(nodes, edges)
    kind = {v: info[v][1] for v in ids}
    if rows is None:
        band = dict.fromkeys(ids, 0)
    else:
        missing = [v for v in ids if v not in rows]
        if missing:
            raise ValueError(f"rows must give a row for every node; missing {', '.join(missing)}")
        band = {v: int(rows[v]) for v in ids}
    for src, dst, _ in edge_list:
        if band[dst] < band[src]:
            raise ValueError(f"edge {src!r} -> {dst!r} goes back to an earlier row")

    # columns: the layers present in each row, numbered across the rows one after the other
    col: dict[str, int] = {}
    band_cols: list[list[int]] = []
    num_cols = 0
    for b in sorted(set(band.values())):
        present = sorted({layer[v] for v in ids if band[v] == b})
        index = {c: num_cols + i for i, c in enumerate(present)}
        col.update({v: index[layer[v]] for v in ids if band[v] == b})
        band_cols.append(list(range(num_cols, num_cols + len(present))))
        num_cols += len(present)
    order = _order_columns([[v for v in ids if col[v] == c] for c in range(num_cols)], preds, succs)
    depth = _depths(order, col, band, preds, succs, kind)

    # -- sizes and x positions (inches) ------------------------------------------------------------
    box = {}
    for v in ids:
        w, h = _text_size(info[v][0], fontsize)
        box[v] = (max(w + 2 * PAD_X, 0.55), max(h + 2 * PAD_Y, 0.4))
    edge_fs = fontsize - 2
    wraps = any(band[s] != band[d] for s, d, _ in edge_list)
    margin_x = 0.55 if wraps else 0.3
    x_col, col_w, gap_after, band_w = {}, {}, {}, []
    for cols in band_cols:
        cursor = margin_x
        for c in cols:
            col_w[c] = max(box[v][0] for v in order[c])
            x_col[c] = cursor + col_w[c] / 2
            labels = [lab for s, d, lab in edge_list if lab and col[s] == c and col[d] == c + 1]
            gap_after[c] = max([COL_GAP] + [_text_size(lab, edge_fs)[0] + 0.3 for lab in labels])
            cursor += col_w[c] + gap_after[c]
        gap_after[cols[-1]] = 0.5  # room for an arrow that leaves the row on the right
        band_w.append(x_col[cols[-1]] + col_w[cols[-1]] / 2 + (0.6 if wraps else 0.3))

    # -- y positions: rows of slots within each band, bands stacked from the top -------------------
    band_top, lane, slot, d0, tallest = [], [], [], [], []
    cursor = TITLE_H
    for i, cols in enumerate(band_cols):
        members = [v for c in cols for v in order[c]]
        d0.append(min(depth[v] for v in members))
        tallest.append(max(box[v][1] for v in members))
        slot.append(tallest[-1] + ROW_GAP)
        skips = sum(
            col[d] - col[s] > 1 for s, d, _ in edge_list if band[s] == band[d] and s in members
        )
        pad = ROW_GAP / 2 + LANE * skips + 0.1 if skips else 0.0  # for edges passing around
        cursor += BAND_GAP if i else 0.0
        lane.append(cursor - BAND_GAP / 2)  # the gap above the row, for edges wrapping into it
        band_top.append(cursor + pad)
        cursor += pad + (max(depth[v] for v in members) - d0[-1]) * slot[-1] + tallest[-1] + pad
    fig_w = max(max(band_w), _text_size(title, 13)[0] + 0.6, 4.0)
    fig_h = cursor + LEGEND_H + 0.15
    fig, ax = _new_figure(fig_w, fig_h)
    bands = sorted(set(band.values()))
    bi = {v: bands.index(band[v]) for v in ids}  # position of the node's row, 0 at the top
    center = {
        v: (
            x_col[col[v]],
            fig_h - band_top[bi[v]] - tallest[bi[v]] / 2 - (depth[v] - d0[bi[v]]) * slot[bi[v]],
        )
        for v in ids
    }

    # -- nodes: operations are pills, the rest rounded boxes -----------------------------------
    for v in ids:
        (x, y), (w, h), (label, k) = center[v], box[v], info[v]
        fill, outline, _ = KINDS[k]
        style = BoxStyle("Round", pad=0, rounding_size=_corner(k, h))
        patch = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle=style, facecolor=fill)
        patch.set(edgecolor=outline, linewidth=1.3, zorder=3, gid=f"node:{v}")
        ax.add_patch(patch)
        _text(ax, x, y, label, fontsize, TEXT_COLOR, ma="center", zorder=4, gid=f"label:{v}")

    # -- edges: ports spread along the box sides, so arrowheads never overlap --------------------
    def ports(v: str, ends: list[str], key) -> dict[str, float]:
        """y of each edge's end on v's side, top to bottom in the order of `key`; an edge to a
        node level with v keeps the middle, so a chain stays a straight line."""
        ranked = sorted(ends, key=key)
        y = center[v][1]
        level = [
            i for i, u in enumerate(ranked) if band[u] == band[v] and abs(center[u][1] - y) < 1e-6
        ]
        mid = level[0] if level else (len(ranked) - 1) / 2
        reach = max(mid, len(ranked) - 1 - mid, 1)  # ports on the longer side of the middle
        step = min(0.13, 0.4 * box[v][1] / reach)
        return {u: y + step * (mid - i) for i, u in enumerate(ranked)}

    def channel(src: str, dst: str) -> float | None:
        """For an edge that skips columns: the height it passes the columns between at, just
        above or just below their boxes (whichever is nearer)."""
        between = [v for c in range(col[src] + 1, col[dst]) for v in order[c]]
        if band[src] != band[dst] or not between:
            return None
        above = max(center[v][1] + box[v][1] / 2 for v in between) + ROW_GAP / 2
        below = min(center[v][1] - box[v][1] / 2 for v in between) - ROW_GAP / 2
        mean = (center[src][1] + center[dst][1]) / 2
        side = 1 if abs(above - mean) <= abs(below - mean) else -1
        used[band[src], side] = used.get((band[src], side), -1) + 1  # one lane per edge
        return (above if side > 0 else below) + side * LANE * used[band[src], side]

    used: dict[tuple[int, int], int] = {}
    via = {(s, d): channel(s, d) for s, d, _ in edge_list}

    def heading(a: str, b: str, y_other: float) -> tuple[bool, float]:
        """Sort key of edge a-b at a's side: a wrap-around edge last (lowest), else top first."""
        y = via.get((a, b), via.get((b, a)))
        return band[a] != band[b], -(y_other if y is None else y)

    out_y = {v: ports(v, succs[v], lambda u, v=v: heading(v, u, center[u][1])) for v in ids}
    in_y = {v: ports(v, preds[v], lambda u, v=v: heading(u, v, center[u][1])) for v in ids}

    def wrap_x(src: str, y: float) -> float:
        """Where an edge into a later row goes down: past the row's right end when nothing is in
        the way at height y, else in the gap right after the source's column."""
        cols = band_cols[bi[src]]
        right = max(x_col[c] + col_w[c] / 2 for c in cols)
        blocked = any(
            abs(center[v][1] - y) < box[v][1] / 2 + 0.08
            for c in cols
            if c > col[src]
            for v in order[c]
        )
        c = col[src]
        return x_col[c] + col_w[c] / 2 + gap_after[c] / 2 if blocked else right + 0.25

    def side_x(v: str, y: float, side: int) -> float:
        """x of v's left (side=-1) or right (+1) outline at height y; pills have round ends."""
        (cx, cy), (w, h) = center[v], box[v]
        r = _corner(kind[v], h)
        dy = max(abs(y - cy) - (h / 2 - r), 0.0)  # into the rounded corner, from its start
        return cx + side * (w / 2 - r + (r * r - min(dy, r) ** 2) ** 0.5)

    arrow = dict(arrowstyle="-|>", mutation_scale=13, color=EDGE_COLOR, linewidth=1.1, zorder=2)
    for src, dst, label in edge_list:
        y0, y3 = out_y[src][dst], in_y[dst][src]
        x0, x3 = side_x(src, y0, +1), side_x(dst, y3, -1) - 0.01
        if via[(src, dst)] is not None:  # around the columns it skips, in the gaps beside them
            y_via = via[(src, dst)]
            xa = x_col[col[src]] + col_w[col[src]] / 2 + gap_after[col[src]] / 2
            xb = x_col[col[dst]] - col_w[col[dst]] / 2 - gap_after[col[dst] - 1] / 2
            path = _rounded_path([(x0, y0), (xa, y0), (xa, y_via), (xb, y_via), (xb, y3), (x3, y3)])
            lx, ly = (xa + xb) / 2, y_via
        elif band[src] == band[dst]:  # an S-curve that leaves and enters horizontally
            bend = (x3 - x0) / 2
            path = Path(
                [(x0, y0), (x0 + bend, y0), (x3 - bend, y3), (x3, y3)],
                [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4],
            )
            lx, ly = (x0 + x3) / 2, (y0 + y3) / 2
        else:  # right, down, left along the gap above the target's row, and in from the left
            x1 = wrap_x(src, y0)
            y_gap = fig_h - lane[bi[dst]]
            x2 = margin_x / 2
            path = _rounded_path([(x0, y0), (x1, y0), (x1, y_gap), (x2, y_gap), (x2, y3), (x3, y3)])
            lx, ly = (x1 + x2) / 2, y_gap
        ax.add_patch(FancyArrowPatch(path=path, gid=f"edge:{src}->{dst}", **arrow))
        if label:
            white = dict(boxstyle="round,pad=0.15", fc="white", ec="none")
            _text(ax, lx, ly, label, edge_fs, zorder=5, bbox=white)

    # -- title and legend -------------------------------------------------------------------------
    _text(ax, fig_w / 2, fig_h - 0.38, title, 13, TEXT_COLOR, fontweight="bold")
    _legend(ax, [k for k in KINDS if k in kind.values()], fig_w / 2, 0.15 + LEGEND_H / 2)
    return fig


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
            circle = Circle((x, y), radius, facecolor=fill, edgecolor=outline, linewidth=1.2)
            circle.set(zorder=3, gid=f"neuron:{i}:{j}")
            ax.add_patch(circle)
            if i == 0:  # pixel index, left of the inputs
                _text(ax, x - radius - 0.08, y, f"$x_{{{j + 1}}}$", 9, ha="right")
            elif i == last:  # class index, right of the outputs
                _text(ax, x + radius + 0.08, y, str(j), 9, ha="left")
        if n > max_drawn:
            _text(ax, xs[i], slot_y(i, max_drawn // 2), r"$\vdots$", 15, EDGE_COLOR)
        name = "input" if i == 0 else "output" if i == last else f"hidden {i}"
        detail = f"{n}" if i == 0 else f"{n} softmax" if i == last else f"{n} ReLU"
        _text(
            ax,
            xs[i],
            captions_h - 0.22,
            name,
            11,
            TEXT_COLOR,
            fontweight="bold",
            gid=f"caption:{i}",
        )
        _text(ax, xs[i], captions_h - 0.5, detail, 10.5)
        if i > 0:  # the weight matrix between two columns, above its connections
            y = fig_h - title_h - weights_h / 2
            _text(ax, (xs[i - 1] + xs[i]) / 2, y, f"$W_{{{i}}}$: {sizes[i - 1]}×{n}", 10)
    title = f"Fully connected network {' → '.join(map(str, sizes))}"
    _text(ax, fig_w / 2, fig_h - 0.38, title, 13, TEXT_COLOR, fontweight="bold")
    return fig


# -- the computation graphs of study a04 ----------------------------------------------------------
GraphSpec = tuple[list[Node], list[Edge], dict[str, int]]  # nodes, edges, {id: row}


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


def forward_graph_spec(num_layers: int, layer_sizes: Sequence[int] | None = None) -> GraphSpec:
    """Nodes, edges and rows of the forward pass: x -> [matmul, + bias, ReLU] per layer -> loss.

    Ids: x, y, xent, loss and W<l>, b<l>, matmul<l>, add<l>, Z<l>, relu<l>, A<l>. Row l - 1
    holds layer l, from its input (x or A_{l-1}) to its ReLU. With `layer_sizes`, parameters and
    values show their shapes (B = batch size).
    """
    sizes = _check_sizes(num_layers, layer_sizes)
    L = num_layers

    def shaped(text: str, *dims) -> str:
        return text + "\n" + "×".join(map(str, dims)) if sizes else text

    nodes: list[Node] = []
    edges: list[Edge] = []
    rows: dict[str, int] = {}
    for layer in range(1, L + 1):
        d_in, d_out = (sizes[layer - 1], sizes[layer]) if sizes else (0, 0)
        prev = "x" if layer == 1 else f"A{layer - 1}"
        prev_label = "$x$" if layer == 1 else f"$A_{{{layer - 1}}}$"
        new = [  # within a column the node listed first goes on top: parameters above the data
            (f"W{layer}", shaped(f"$W_{{{layer}}}$", d_in, d_out), "param"),
            (prev, shaped(prev_label, "B", d_in), "input" if layer == 1 else "value"),
            (f"b{layer}", shaped(f"$b_{{{layer}}}$", d_out), "param"),
            (f"matmul{layer}", "matmul", "op"),
            (f"add{layer}", "+ bias", "op"),
        ]
        if layer == L:
            new.append(("y", "labels $y$", "input"))
        new.append((f"Z{layer}", shaped(f"$Z_{{{layer}}}$", "B", d_out), "value"))
        edges += [
            (prev, f"matmul{layer}"),  # A_{l-1} W_l
            (f"W{layer}", f"matmul{layer}"),
            (f"matmul{layer}", f"add{layer}"),  # + b_l
            (f"b{layer}", f"add{layer}"),
            (f"add{layer}", f"Z{layer}"),
        ]
        if layer < L:
            new.append((f"relu{layer}", "ReLU", "op"))  # A_l = ReLU(Z_l), drawn on the next row
            edges += [(f"Z{layer}", f"relu{layer}"), (f"relu{layer}", f"A{layer}")]
        else:
            new += [
                ("xent", "softmax +\ncross-entropy", "op"),
                ("loss", r"loss $\mathcal{L}$", "loss"),
            ]
            edges += [(f"Z{L}", "xent"), ("y", "xent"), ("xent", "loss")]
        nodes += new
        rows.update({nid: layer - 1 for nid, _, _ in new})
    return nodes, edges, rows


def forward_graph(num_layers: int, layer_sizes: Sequence[int] | None = None) -> Figure:
    """The forward computation graph of the MLP, one row per layer (see `forward_graph_spec`)."""
    nodes, edges, rows = forward_graph_spec(num_layers, layer_sizes)
    title = f"Forward pass of the {num_layers}-layer network, one row per layer"
    return draw_graph(nodes, edges, title, rows=rows)


def backward_graph_spec(num_layers: int, layer_sizes: Sequence[int] | None = None) -> GraphSpec:
    """Nodes, edges and rows of the backward pass, from the loss down to dW_1 and db_1.

    Row L - l holds layer l: dZ_l, then dW_l, db_l and their SGD update sgd<l>, and the gradient
    dA_{l-1} passed on to the row below. The forward values each gradient uses are nodes of
    their own: A<l-1> (for dW_l), W<l> (for dA_{l-1}) and Z<l> (the ReLU mask in dZ_l); the
    first row also has loss, probs (P = softmax(Z_L)) and onehot (Y). With `layer_sizes`, dW_l
    and db_l show their shapes.
    """
    sizes = _check_sizes(num_layers, layer_sizes)
    L = num_layers

    def shaped(text: str, *dims) -> str:
        return text + "\n" + "×".join(map(str, dims)) if sizes else text

    nodes: list[Node] = [
        ("probs", f"$P = \\mathrm{{softmax}}(Z_{{{L}}})$", "value"),
        ("loss", r"loss $\mathcal{L}$", "loss"),
        ("onehot", r"$Y = \mathrm{onehot}(y)$", "input"),
    ]
    edges: list[Edge] = [("loss", f"dZ{L}"), ("probs", f"dZ{L}"), ("onehot", f"dZ{L}")]
    rows = {nid: 0 for nid, _, _ in nodes}
    updates: list[Node] = []  # listed last: an SGD update goes to the bottom of its column
    for layer in range(L, 0, -1):
        p = layer - 1
        d_in, d_out = (sizes[p], sizes[layer]) if sizes else (0, 0)
        a_prev, a_label = ("x", "x") if layer == 1 else (f"A{p}", f"A_{{{p}}}")
        new: list[Node] = []
        if layer < L:  # dZ_l = dA_l * 1[Z_l > 0]: Z_l's mask, dA_l from the row above
            new.append((f"Z{layer}", f"$Z_{{{layer}}}$", "value"))
            dz = f"$dZ_{{{layer}}} = dA_{{{layer}}} \\odot \\mathbb{{1}}[Z_{{{layer}}} > 0]$"
        else:  # the output layer: softmax minus one-hot, from the loss
            dz = f"$dZ_{{{L}}} = (P - Y)\\,/\\,B$"
        # the column of dZ_l, top to bottom: W_l (used by dA_{l-1}), dZ_l, A_{l-1} (used by dW_l)
        if layer > 1:
            new.append((f"W{layer}", f"$W_{{{layer}}}$", "param"))
        new += [
            (f"dZ{layer}", dz, "grad"),
            (a_prev, f"${a_label}$", "input" if layer == 1 else "value"),
        ]
        if layer > 1:  # no gradient for the input x
            new.append(
                (f"dA{p}", f"$dA_{{{p}}} = dZ_{{{layer}}}\\, W_{{{layer}}}^{{\\top}}$", "grad")
            )
        new += [
            (
                f"dW{layer}",
                shaped(f"$dW_{{{layer}}} = {a_label}^{{\\top}} dZ_{{{layer}}}$", d_in, d_out),
                "grad",
            ),
            (
                f"db{layer}",
                shaped(f"$db_{{{layer}}} = \\Sigma_i\\, dZ_{{{layer},i}}$", d_out),
                "grad",
            ),
        ]
        sgd = (
            f"sgd{layer}",
            f"$W_{{{layer}}} \\leftarrow W_{{{layer}}} - \\eta\\, dW_{{{layer}}}$\n"
            f"$b_{{{layer}}} \\leftarrow b_{{{layer}}} - \\eta\\, db_{{{layer}}}$",
            "op",
        )
        updates.append(sgd)
        nodes += new
        rows.update({nid: L - layer for nid, _, _ in [*new, sgd]})
        if layer < L:
            edges += [(f"dA{layer}", f"dZ{layer}"), (f"Z{layer}", f"dZ{layer}")]
        edges += [
            (f"dZ{layer}", f"dW{layer}"),
            (a_prev, f"dW{layer}"),
            (f"dZ{layer}", f"db{layer}"),
            (f"dW{layer}", f"sgd{layer}"),
            (f"db{layer}", f"sgd{layer}"),
        ]
        if layer > 1:
            edges += [(f"dZ{layer}", f"dA{p}"), (f"W{layer}", f"dA{p}")]
    return nodes + updates, edges, rows


def backward_graph(num_layers: int, layer_sizes: Sequence[int] | None = None) -> Figure:
    """The backward computation graph of the MLP, one row per layer (see `backward_graph_spec`)."""
    nodes, edges, rows = backward_graph_spec(num_layers, layer_sizes)
    title = "Backward pass: each layer's gradients and the forward values they use"
    return draw_graph(nodes, edges, title, rows=rows)
