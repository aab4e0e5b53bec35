"""The one report module: headings, text, tables, figures and math -> report.md and report.html.

Studies add blocks in reading order and never format tables or HTML themselves:

    rep = ctx.report
    rep.section("Gradient check")
    rep.table(rows, "gradcheck", "Relative error of the hand-written gradients")
    rep.figure(fig, "curves", "Loss per epoch")
    rep.math(r"\\frac{\\partial L}{\\partial W_1} = X^{\\top} \\delta_1")

`report.md` renders on GitHub ($$ math, relative image links); `report.html` is self-contained
apart from its figure files (no CDN: math is converted to MathML), and all text is HTML-escaped.
"""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path
from typing import Any

from nndl.io import atomic_write


def fmt(value: Any) -> str:
    """A table cell: 4 significant digits for floats, thousands separators for big ints."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.3e}"
        return f"{value:.4g}"
    return str(value)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1000px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.5}
h1{border-bottom:2px solid #ddd;padding-bottom:.3em}h2{border-bottom:1px solid #eee;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
caption{caption-side:top;text-align:left;font-weight:600;padding:.3em 0}
figure{margin:1.5em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.9em;color:#555}
.facts{background:#f7f7fb;border:1px solid #dde;padding:.6em 1em;border-radius:4px}
.math{overflow-x:auto;margin:.6em 0}.note{color:#555;font-style:italic}
tr.out td{background:#fde8e8}li.fail{color:#a00;font-weight:600}
"""


class Report:
    """Blocks in reading order, rendered to Markdown and HTML by `write()`."""

    def __init__(self, folder: Path, title: str):
        self.folder = Path(folder)
        self.title = title
        self.blocks: list[tuple] = []
        self.provenance: dict[str, str] = {}  # what -> where it came from
        self.header_facts: dict[str, Any] = {}
        self.verdict: tuple[str, list[dict]] | None = None  # (line, rows) of nndl.expect.verdict
        self.checks: list[str] = []  # nndl.detectors.Check.line() of each detector the run ran

    # -- building -------------------------------------------------------------------------------
    def section(self, title: str, level: int = 2) -> None:
        self.blocks.append(("heading", level, title))

    def text(self, paragraph: str) -> None:
        self.blocks.append(("text", paragraph))

    def bullets(self, items: list[str]) -> None:
        self.blocks.append(("bullets", list(items)))

    def math(self, latex: str, caption: str | None = None) -> None:
        self.blocks.append(("math", latex, caption))

    def table(self, rows: list[dict], name: str, caption: str = "") -> None:
        """A table from rows of dicts (columns in first-seen order); also saved as tables/NAME.csv."""
        columns: list[str] = []
        for row in rows:
            columns += [k for k in row if k not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write(self.folder / "tables" / f"{name}.csv", buf.getvalue())
        self.blocks.append(("table", columns, rows, caption))

    def figure(self, fig, name: str, caption: str = "", dpi: int = 110) -> Path:
        """Save a matplotlib figure as figures/NAME.png (atomically) and close it."""
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        path = atomic_write(self.folder / "figures" / f"{name}.png", buf.getvalue())
        self.blocks.append(("figure", f"figures/{name}.png", caption))
        return path

    # -- rendering ------------------------------------------------------------------------------
    def _facts(self) -> list[str]:
        facts = [f"{k}: {v}" for k, v in self.header_facts.items()]
        facts += [f"{k}: {v}" for k, v in self.provenance.items()]
        return facts

    def _verdict_rows(self) -> list[dict]:
        """The verdict table's rows as shown: number, value, expected range, in/out, how measured."""
        rows = []
        for r in self.verdict[1] if self.verdict else []:
            rng = "-" if r["low"] is None else f"{fmt(r['low'])} to {fmt(r['high'])}"
            status = {
                "in": "in",
                "out": "OUT",
                "missing": "not produced",
                "changed settings": "not judged (settings changed)",
            }.get(r["status"], "-")
            rows.append(
                {
                    "number": r["metric"],
                    "value": r["value"],
                    "expected": rng,
                    "verdict": status,
                    "split": r["split"],
                    "epoch": r["epoch"],
                    "range from": r["source"],
                }
            )
        return rows

    def _definitions(self) -> list[str]:
        """'number: exact definition' for the verdict rows that state one."""
        rows = self.verdict[1] if self.verdict else []
        return [f"{r['metric']}: {r['definition']}" for r in rows if r.get("definition")]

    def to_markdown(self) -> str:
        out = [f"# {self.title}", ""]
        out += [f"- **{f.split(': ', 1)[0]}**: {f.split(': ', 1)[1]}" for f in self._facts()]
        out.append("")
        if self.verdict is not None:
            out += ["## Verdict", "", self.verdict[0], ""]
            rows = self._verdict_rows()
            if rows:
                columns = list(rows[0])
                out.append("| " + " | ".join(columns) + " |")
                out.append("|" + "|".join("---" for _ in columns) + "|")
                for row in rows:
                    out.append("| " + " | ".join(_md_escape(fmt(row[c])) for c in columns) + " |")
                out.append("")
            out += [f"- {line}" for line in self._definitions()] + [""] * bool(self._definitions())
        if self.checks:
            out += ["## Checks", "", "Failure-mode detectors run on this training:", ""]
            out += [f"- {line}" for line in self.checks] + [""]
        for block in self.blocks:
            kind = block[0]
            if kind == "heading":
                out += ["#" * block[1] + " " + block[2], ""]
            elif kind == "text":
                out += [block[1], ""]
            elif kind == "bullets":
                out += [f"- {item}" for item in block[1]] + [""]
            elif kind == "math":
                if block[2]:
                    out += [block[2], ""]
                out += ["$$", block[1], "$$", ""]
            elif kind == "table":
                _, columns, rows, caption = block
                if caption:
                    out += [f"**{caption}**", ""]
                out.append("| " + " | ".join(_md_escape(c) for c in columns) + " |")
                out.append("|" + "|".join("---" for _ in columns) + "|")
                for row in rows:
                    out.append(
                        "| " + " | ".join(_md_escape(fmt(row.get(c))) for c in columns) + " |"
                    )
                out.append("")
            elif kind == "figure":
                out += [f"![{block[2]}]({block[1]})", "", f"*{block[2]}*" if block[2] else "", ""]
        return "\n".join(out).rstrip() + "\n"

    def to_html(self) -> str:
        from latex2mathml.converter import convert

        e = html.escape
        body = [f"<h1>{e(self.title)}</h1>", '<div class="facts"><ul>']
        for f in self._facts():
            k, v = f.split(": ", 1)
            body.append(f"<li><b>{e(k)}</b>: {e(str(v))}</li>")
        body.append("</ul></div>")
        if self.verdict is not None:
            body += ["<h2>Verdict</h2>", f'<p class="verdict">{e(self.verdict[0])}</p>']
            rows = self._verdict_rows()
            if rows:
                body.append("<table>")
                body.append("<tr>" + "".join(f"<th>{e(c)}</th>" for c in rows[0]) + "</tr>")
                for row in rows:
                    cls = ' class="out"' if row["verdict"] == "OUT" else ""
                    cells = "".join(f"<td>{e(fmt(v))}</td>" for v in row.values())
                    body.append(f"<tr{cls}>{cells}</tr>")
                body.append("</table>")
            if self._definitions():
                body.append(
                    "<ul>" + "".join(f"<li>{e(d)}</li>" for d in self._definitions()) + "</ul>"
                )
        if self.checks:
            body.append("<h2>Checks</h2><ul>")
            for line in self.checks:
                cls = "fail" if line.startswith("FAIL") else "pass"
                body.append(f'<li class="{cls}">{e(line)}</li>')
            body.append("</ul>")
        for block in self.blocks:
            kind = block[0]
            if kind == "heading":
                body.append(f"<h{block[1]}>{e(block[2])}</h{block[1]}>")
            elif kind == "text":
                body.append(f"<p>{e(block[1])}</p>")
            elif kind == "bullets":
                body.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in block[1]) + "</ul>")
            elif kind == "math":
                if block[2]:
                    body.append(f"<p>{e(block[2])}</p>")
                try:
                    mathml = convert(block[1], display="block")
                except Exception:  # noqa: BLE001 - show the source rather than lose the equation
                    mathml = f"<code>{e(block[1])}</code>"
                body.append(f'<div class="math">{mathml}</div>')
            elif kind == "table":
                _, columns, rows, caption = block
                body.append("<table>")
                if caption:
                    body.append(f"<caption>{e(caption)}</caption>")
                body.append("<tr>" + "".join(f"<th>{e(c)}</th>" for c in columns) + "</tr>")
                for row in rows:
                    cells = "".join(f"<td>{e(fmt(row.get(c)))}</td>" for c in columns)
                    body.append(f"<tr>{cells}</tr>")
                body.append("</table>")
            elif kind == "figure":
                body.append(
                    f'<figure><img src="{e(block[1])}" alt="{e(block[2])}">'
                    f"<figcaption>{e(block[2])}</figcaption></figure>"
                )
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{e(self.title)}</title><style>{CSS}</style></head><body>"
            + "\n".join(body)
            + "</body></html>\n"
        )

    def write(self) -> None:
        atomic_write(self.folder / "report.md", self.to_markdown())
        atomic_write(self.folder / "report.html", self.to_html())
