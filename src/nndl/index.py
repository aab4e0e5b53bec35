"""`nndl report`: the runs folder as a static site, the front page of the suite.

runs/index.html            one card per registered study (and per unregistered folder of runs):
                           status, profile, seed, when, wall time, headline numbers, where the
                           data and weights came from, the report's first figure, links to the
                           latest report and to the study's history; "not run yet" with the command
runs/<study>/history.html  every run of the study side by side: headline numbers per run (quick
                           against full, seed against seed), mean +- sd over seeds per profile,
                           an expected-range verdict where a run recorded one, and the summaries
                           `nndl run --seeds` wrote (runs/<study>/seeds-*/summary.json)

Static files only: no script, no CDN, relative links (it works from file://), every text escaped.
Everything shown is read from the run folders (manifest.json, metrics.json, timings.json, the
header of report.md, summary.json); the one number computed here is the history's mean +- sample
sd over the complete runs of a profile with two or more seeds.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import os
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from nndl.errors import NndlError
from nndl.io import atomic_write, read_json
from nndl.report import fmt

# The facts the run writes at the top of every report; the others in that list are provenance.
_RUN_FACTS = ("study", "profile", "seed", "device", "threads", "run", "wall time")
_PROFILE_ORDER = {"full": 0, "quick": 1, "smoke": 2}
_RECENT = 6  # runs shown as dots on a card


def e(value: Any) -> str:
    """HTML-escape any value (quotes too: the result may sit in an attribute)."""
    return html.escape(str(value), quote=True)


def _href(*parts: str) -> str:
    """A relative link from path segments, each percent-encoded, then escaped for the attribute."""
    return e("/".join(quote(str(p), safe="") for p in parts))


# -- what the run folders hold ----------------------------------------------------------------------


def _read_json_or(path: Path, default: Any) -> Any:
    try:
        return read_json(path)
    except (OSError, ValueError):
        return default


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError):
        return False
    return True


def report_facts(md: str) -> dict[str, str]:
    """The `- **key**: value` list that report.md opens with (run facts and provenance)."""
    facts: dict[str, str] = {}
    for line in md.splitlines()[1:]:
        if line.startswith("#"):
            break
        m = re.match(r"^- \*\*(.+?)\*\*: (.*)$", line)
        if m:
            facts[m.group(1)] = m.group(2)
    return facts


def lookup(metrics: Any, path: str) -> Any:
    """metrics["a"]["b"][2] for "a.b.2"; a flat key containing dots is tried first."""
    if isinstance(metrics, dict) and path in metrics:
        return metrics[path]
    node = metrics
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif (
            isinstance(node, list)
            and part.lstrip("-").isdigit()
            and -len(node) <= int(part) < len(node)
        ):
            node = node[int(part)]
        else:
            return None
    return node


def _first_figure(folder: Path, md: str) -> tuple[str, str] | None:
    """The figure report.md shows first, as (path in the run folder, caption)."""
    images = (".png", ".jpg", ".jpeg", ".svg", ".gif", ".webp")
    files = sorted(p for p in (folder / "figures").glob("*") if p.suffix.lower() in images)
    found = []
    for p in files:
        path = f"figures/{p.name}"
        m = re.search(r"!\[([^\]\n]*)\]\(" + re.escape(path) + r"\)", md)
        if m:
            found.append((m.start(), path, m.group(1)))
    if found:
        return min(found)[1:]
    return (f"figures/{files[0].name}", "") if files else None


@dataclass
class RunInfo:
    """One run folder, as the site shows it."""

    folder: Path
    manifest: dict
    metrics: dict
    total_s: float | None
    facts: dict[str, str]  # report header: run facts and provenance
    figure: tuple[str, str] | None  # (path relative to the run folder, caption)

    @classmethod
    def read(cls, folder: Path) -> RunInfo:
        manifest = _read_json_or(folder / "manifest.json", {})
        metrics = _read_json_or(folder / "metrics.json", {})
        timings = _read_json_or(folder / "timings.json", {})
        try:
            md = (folder / "report.md").read_text(errors="replace")
        except OSError:  # not written (a failed run) or unreadable: no facts, no figure
            md = ""
        figure = _first_figure(folder, md)
        total = timings.get("total_s") if isinstance(timings, dict) else None
        return cls(
            folder=folder,
            manifest=manifest if isinstance(manifest, dict) else {},
            metrics=metrics if isinstance(metrics, dict) else {},
            total_s=total if isinstance(total, int | float) else None,
            facts=report_facts(md),
            figure=figure,
        )

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def status(self) -> str:
        status = str(self.manifest.get("status") or "unknown")
        same_host = self.manifest.get("host") in (None, platform.node())
        if status == "running" and same_host and not _alive(self.manifest.get("pid")):
            return "interrupted"
        return status

    @property
    def profile(self) -> str:
        return str(self.manifest.get("profile", ""))

    @property
    def seed(self) -> Any:
        return self.manifest.get("seed", "")

    @property
    def when(self) -> str:
        stamp = self.manifest.get("finished") or self.manifest.get("started") or ""
        return str(stamp).replace("T", " ")[:16]

    @property
    def wall(self) -> str:
        return f"{self.total_s:.1f} s" if self.total_s is not None else "-"

    @property
    def provenance(self) -> dict[str, str]:
        return {k: v for k, v in self.facts.items() if k not in _RUN_FACTS}

    @property
    def verdict(self) -> Any:
        """An expected-range verdict, where the run recorded one: metrics.json's (rows per
        number) first, else the manifest's (often only counts)."""
        v = self.metrics.get("verdict")
        return v if v is not None else self.manifest.get("verdict")

    def value(self, key: str) -> Any:
        v = lookup(self.metrics, key)
        if v is None:
            v = (self.manifest.get("headline") or {}).get(key)
        return v

    def link(self) -> str | None:
        """The file a person opens for this run: its report, else its log, else its manifest."""
        for name in ("report.html", "log.txt", "manifest.json"):
            if (self.folder / name).is_file():
                return name
        return None


@dataclass
class StudyInfo:
    id: str
    title: str
    registered: bool
    headline: tuple[str, ...] = ()
    runs: list[RunInfo] = field(default_factory=list)  # newest first
    summaries: list[tuple[Path, dict]] = field(default_factory=list)  # seeds-*/summary.json

    @property
    def dir(self) -> Path:
        return (self.runs[0].folder if self.runs else self.summaries[0][0]).parent

    @property
    def shown(self) -> RunInfo | None:
        """The run a card shows: the newest complete one, else the newest."""
        complete = [r for r in self.runs if r.status == "complete"]
        return (complete or self.runs or [None])[0]

    @property
    def keys(self) -> list[str]:
        """Headline numbers: the registered ones, then any a run's manifest recorded."""
        keys = list(self.headline)
        for run in self.runs:
            more = list(run.manifest.get("headline") or {}) + list(verdict_by_metric(run.verdict))
            keys += [k for k in dict.fromkeys(more) if k not in keys]
        return keys


def collect(out: Path) -> list[StudyInfo]:
    """Every registered study (run or not) and every other folder of runs under `out`."""
    from nndl.registry import all_studies

    studies = {s.id: StudyInfo(s.id, s.title, True, s.headline) for s in all_studies()}
    for folder in sorted(
        p for p in out.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
    ):
        runs = [RunInfo.read(p) for p in folder.iterdir() if (p / "manifest.json").is_file()]
        summaries = [  # `nndl run --seeds`: one summary over the runs of several seeds
            (p.parent, s)
            for p in sorted(folder.glob("*/summary.json"), reverse=True)
            if isinstance(s := _read_json_or(p, None), dict)
        ]
        if not runs and not summaries:
            continue
        runs.sort(key=lambda r: (str(r.manifest.get("started") or ""), r.name), reverse=True)
        if folder.name not in studies:
            title = next((str(r.manifest["title"]) for r in runs if r.manifest.get("title")), "")
            studies[folder.name] = StudyInfo(folder.name, title, False)
        studies[folder.name].runs = runs
        studies[folder.name].summaries = summaries
    return [studies[k] for k in sorted(studies, key=lambda k: (not studies[k].registered, k))]


# -- values as text ---------------------------------------------------------------------------------


def plain(value: Any, limit: int = 160) -> str:
    """Any metrics value as short text: numbers via report.fmt, mean/std pairs as m +- s."""
    if isinstance(value, dict) and {"mean", "std"} <= value.keys():
        text = f"{fmt(value['mean'])} ± {fmt(value['std'])}"
        if "n" in value:
            text += f" (n={fmt(value['n'])})"
    elif isinstance(value, dict):
        text = ", ".join(f"{k}: {plain(v, limit)}" for k, v in value.items())
    elif isinstance(value, list):
        text = "[" + ", ".join(plain(v, limit) for v in value) + "]"
    else:
        text = fmt(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def verdict_by_metric(verdict: Any) -> dict[str, str]:
    """{metric: status} from a verdict that is a list of rows with `metric` and `status`."""
    if isinstance(verdict, dict) and isinstance(verdict.get("rows"), list):
        verdict = verdict["rows"]
    if not isinstance(verdict, list):
        return {}
    return {
        str(r["metric"]): str(r["status"])
        for r in verdict
        if isinstance(r, dict) and "metric" in r and "status" in r
    }


def verdict_text(verdict: Any) -> str:
    """One line for a verdict of any shape: its own `line`, else counts per status of its rows,
    else the value itself."""
    if isinstance(verdict, dict) and isinstance(verdict.get("line"), str):
        return verdict["line"]
    by_metric = verdict_by_metric(verdict)
    if by_metric:
        counts: dict[str, int] = {}
        for status in by_metric.values():
            counts[status] = counts.get(status, 0) + 1
        text = ", ".join(f"{n} {s}" for s, n in counts.items())
        out = [m for m, s in by_metric.items() if s == "out"]
        return text + (f" (outside: {', '.join(out)})" if out else "")
    return plain(verdict)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


# -- pages ------------------------------------------------------------------------------------------

SITE_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;
background:#f4f5f8;line-height:1.45}
header.top{background:#1d2330;color:#fff;padding:1.2em 2em}
header.top h1{margin:0;font-size:1.5em}header.top p{margin:.3em 0 0;color:#c9cfdc}
header.top a{color:#9cc3ff}header.top code{background:#2e3750;color:#fff}
main{max-width:1400px;margin:0 auto;padding:1.2em 2em 3em}
a{color:#1a56b0}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:1.1em}
.card{background:#fff;border:1px solid #dde1ea;border-radius:8px;padding:.9em 1em;display:flex;
flex-direction:column;gap:.5em;min-width:0}
.card h2{margin:0;font-size:1.05em;line-height:1.3}.card h2 .id{color:#6a7385;margin-right:.4em}
.card.none{background:#fafbfc;border-style:dashed}
.thumb{display:block;height:170px;background:#fafafa;border:1px solid #eee;border-radius:4px;
overflow:hidden;text-align:center}
.thumb img{width:100%;height:100%;object-fit:contain}
.pill{display:inline-block;padding:.05em .6em;border-radius:1em;font-size:.8em;font-weight:600;
color:#fff;background:#7a8394;vertical-align:middle}
.complete{background:#1f8a4c}.failed{background:#c0392b}.running{background:#2f6fd6}
.interrupted{background:#d18b00}.not-run{background:#9aa1ad}
.meta{font-size:.85em;color:#4a5263;margin:0}
.error{font-size:.85em;color:#a12a1e;overflow-wrap:anywhere;margin:0}
table.nums{border-collapse:collapse;font-size:.85em;width:100%;table-layout:fixed}
table.nums td{padding:.1em .3em;border-bottom:1px solid #eef0f4;overflow-wrap:break-word}
table.nums td:first-child{width:62%}
table.nums td:last-child{text-align:right;font-variant-numeric:tabular-nums}
.verdict{font-size:.85em;margin:0;background:#f4f6fb;border-radius:4px;padding:.2em .5em}
.prov{font-size:.78em;color:#4a5263;margin:0;padding-left:1.1em}
.prov li{overflow-wrap:anywhere}
.links{margin-top:auto;font-size:.88em;display:flex;gap:.9em;flex-wrap:wrap;align-items:center}
.dots a{display:inline-block;width:.75em;height:.75em;border-radius:50%;margin-right:.2em}
code{background:#eef0f4;padding:.1em .35em;border-radius:3px;font-size:.9em}
.wide{overflow-x:auto;width:fit-content;max-width:100%;background:#fff;border:1px solid #dde1ea;border-radius:8px}
table.history{border-collapse:collapse;font-size:.88em}
table.history th,table.history td{border:1px solid #e1e4ea;padding:.3em .6em;text-align:right;
vertical-align:top}
table.history th{background:#f0f2f6;position:sticky;left:0}
table.history td.in{background:#e3f4e9}table.history td.out{background:#fbe3e0}
table.history tr.group th,table.history tr.group td{background:#f7f8fb;font-weight:600}
table.history td.spread{background:#f2f5ff;white-space:nowrap}
table.history td.text{text-align:left;min-width:14em;max-width:32em}
.legend{font-size:.85em;color:#4a5263}
"""


def _page(title: str, header: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title><style>{SITE_CSS}</style></head><body>"
        f'<header class="top">{header}</header><main>{body}</main></body></html>\n'
    )


def _pill(status: str) -> str:
    cls = re.sub(r"[^a-z-]", "", status.lower().replace(" ", "-")) or "unknown"
    return f'<span class="pill {cls}">{e(status)}</span>'


def _command(study_id: str, out: Path) -> str:
    cmd = f"nndl run {study_id}"
    return cmd if Path(out) == Path("runs") else f"{cmd} --out {out}"


def _card(study: StudyInfo, out: Path) -> str:
    run = study.shown
    head = f'<h2><span class="id">{e(study.id)}</span>{e(study.title or "(no title)")}</h2>'
    if run is None:
        return (
            f'<article class="card none" id="{e(study.id)}">{head}<div>{_pill("not run yet")}</div>'
            f'<p class="meta">Run it with <code>{e(_command(study.id, out))}</code></p></article>'
        )
    parts = [head]
    status = run.status
    unregistered = "" if study.registered else " <span class=meta>(not in the registry)</span>"
    parts.append(f"<div>{_pill(status)}{unregistered}</div>")
    device = run.facts.get("device")
    meta = [f"profile <b>{e(run.profile)}</b>", f"seed {e(run.seed)}", e(run.when or "-")]
    meta += [f"wall {e(run.wall)}"] + ([e(device)] if device else [])
    parts.append(f'<p class="meta">{" · ".join(meta)}</p>')
    newest = study.runs[0]
    if newest is not run:
        note = f"newest run ({newest.when}): {newest.status}"
        if newest.manifest.get("error"):
            note += f": {newest.manifest['error']}"
        parts.append(f'<p class="error">{e(plain(note, 300))}</p>')
    if run.manifest.get("error"):
        parts.append(f'<p class="error">{e(plain(run.manifest["error"], 300))}</p>')
    report = run.folder / "report.html"
    if run.figure:
        path, caption = run.figure
        target = "report.html" if report.is_file() else path
        parts.append(
            f'<a class="thumb" href="{_href(study.id, run.name, *target.split("/"))}">'
            f'<img src="{_href(study.id, run.name, *path.split("/"))}" alt="{e(caption)}" '
            f'title="{e(caption)}"></a>'
        )
    rows = []
    by_metric = verdict_by_metric(run.verdict)
    for key in study.keys:
        value = run.value(key)
        if value is None:
            continue
        mark = {"in": " ✓", "out": " ✗"}.get(by_metric.get(key, ""), "")
        rows.append(f"<tr><td>{e(key)}</td><td>{e(plain(value, 60))}{e(mark)}</td></tr>")
    if rows:
        parts.append(f'<table class="nums">{"".join(rows)}</table>')
    if run.verdict is not None:
        parts.append(f'<p class="verdict"><b>verdict</b>: {e(verdict_text(run.verdict))}</p>')
    if run.provenance:
        items = "".join(f"<li><b>{e(k)}</b>: {e(v)}</li>" for k, v in run.provenance.items())
        parts.append(f'<ul class="prov">{items}</ul>')
    links = []
    link = run.link()
    if link:
        label = "latest report" if link == "report.html" else link
        links.append(f'<a href="{_href(study.id, run.name, link)}">{e(label)}</a>')
    n = len(study.runs)
    links.append(
        f'<a href="{_href(study.id, "history.html")}">history ({n} run{"s" if n != 1 else ""})</a>'
    )
    if study.summaries:
        k = len(study.summaries)
        links.append(
            f'<a href="{_href(study.id, "history.html")}#seeds">'
            f"seed summar{'ies' if k != 1 else 'y'} ({k})</a>"
        )
    dots = []
    for r in study.runs[:_RECENT]:
        target = r.link()
        tip = f"{r.when} {r.profile} seed {r.seed}: {r.status}"
        if target:
            dots.append(
                f'<a class="{e(r.status)}" href="{_href(study.id, r.name, target)}" '
                f'title="{e(tip)}" aria-label="{e(tip)}"></a>'
            )
    if dots:
        links.append(f'<span class="dots" title="recent runs, newest first">{"".join(dots)}</span>')
    parts.append(f'<div class="links">{"".join(links)}</div>')
    return f'<article class="card" id="{e(study.id)}">{"".join(parts)}</article>'


def index_page(studies: list[StudyInfo], out: Path) -> str:
    counts: dict[str, int] = {}
    for s in studies:
        status = s.shown.status if s.shown else "not run yet"
        counts[status] = counts.get(status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    built = dt.datetime.now().isoformat(timespec="seconds").replace("T", " ")
    header = (
        f"<h1>nndl: {len(studies)} deep-learning studies</h1>"
        f"<p>{e(summary)} · runs folder {e(Path(out).resolve())} · built {e(built)} by "
        "<code>nndl report</code></p>"
    )
    body = (
        '<p class="legend">Each card shows the newest complete run of a study (or the newest run '
        "when none completed). Numbers are the study's headline metrics from that run's "
        "metrics.json; the list under them says where the data and weights came from. A quick or "
        "smoke number comes from embedded data and short training: compare it with a full run on "
        "the history page.</p>"
        f'<div class="cards">{"".join(_card(s, out) for s in studies)}</div>'
    )
    return _page("nndl: studies", header, body)


def _spread(values: list[float]) -> str:
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return f"{fmt(mean)} ± {fmt(sd)} (n={n})"


def _summaries(study: StudyInfo) -> str:
    """`nndl run --seeds` summaries: per number, mean +- sd, each seed's value, range verdict."""
    if not study.summaries:
        return ""
    out = ['<h2 id="seeds">Seed summaries</h2>']
    for folder, s in study.summaries:
        seeds = s.get("seeds") if isinstance(s.get("seeds"), list) else []
        numbers = s.get("numbers") if isinstance(s.get("numbers"), dict) else {}
        verdict = s.get("verdict") if isinstance(s.get("verdict"), dict) else {}
        files = [n for n in ("summary.md", "summary.json") if (folder / n).is_file()]
        link = " · ".join(f'<a href="{_href(folder.name, n)}">{e(n)}</a>' for n in files)
        title = f"{s.get('profile', '?')} profile, seeds {', '.join(map(str, seeds))}"
        out.append(f"<h3>{e(title)} <small>({e(folder.name)}; {link})</small></h3>")
        head = ["number", "mean ± sd"] + [f"seed {k}" for k in seeds] + ["expected range"]
        rows = ["<tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"]
        for name, n in numbers.items():
            n = n if isinstance(n, dict) else {"mean": n}
            values = n.get("values") if isinstance(n.get("values"), list) else []
            v = verdict.get(name)
            cls = ""
            if isinstance(v, dict) and isinstance(v.get("mean_in_range"), bool):
                cls = "in" if v["mean_in_range"] else "out"
            cells = [e(name), e(plain({k: n[k] for k in ("mean", "std") if k in n}))]
            cells += [e(plain(x)) for x in values] + [""] * (len(seeds) - len(values))
            cells.append(e(plain(v)) if v is not None else "")
            rows.append(
                f"<tr><th>{cells[0]}</th><td class='{cls}'>{cells[1]}</td>"
                + "".join(f"<td>{c}</td>" for c in cells[2:])
                + "</tr>"
            )
        out.append(f'<div class="wide"><table class="history">{"".join(rows)}</table></div>')
        fired = s.get("detectors_fired")
        if fired:
            out.append(f'<p class="legend">Detectors that fired: {e(plain(fired))}</p>')
    return "".join(out)


def history_page(study: StudyInfo) -> str:
    """Every run of one study in columns: full, quick, smoke; seed by seed; newest first."""
    runs = sorted(
        study.runs,
        key=lambda r: (
            _PROFILE_ORDER.get(r.profile, 9),
            r.profile,
            (0, r.seed, "") if isinstance(r.seed, int) else (1, 0, str(r.seed)),
            study.runs.index(r),
        ),
    )
    # Columns: the runs of each profile, then (with two or more complete seeds) their spread.
    columns: list[tuple[str, Any]] = []
    for profile in dict.fromkeys(r.profile for r in runs):
        group = [r for r in runs if r.profile == profile]
        columns += [("run", r) for r in group]
        complete = [r for r in group if r.status == "complete"]
        if len({str(r.seed) for r in complete}) >= 2:
            columns.append(("spread", (profile, complete)))

    def row(label: str, cell, cls: str = "") -> str:
        cells = []
        for kind, item in columns:
            text, td_cls = cell(kind, item)
            cells.append(f'<td class="{e(td_cls)}">{text}</td>' if td_cls else f"<td>{text}</td>")
        return f'<tr class="{cls}"><th>{e(label)}</th>{"".join(cells)}</tr>'

    def run_head(kind, item):
        if kind == "spread":
            return f"mean ± sd over seeds ({e(item[0])})", "spread"
        target = item.link()
        name = e(item.name)
        return (f'<a href="{_href(item.name, target)}">{name}</a>' if target else name), ""

    def fact(getter, cls: str = ""):
        return lambda kind, item: (e(getter(item)), cls) if kind == "run" else ("", "spread")

    def metric(key):
        def cell(kind, item):
            if kind == "spread":
                values = [_number(r.value(key)) for r in item[1]]
                values = [v for v in values if v is not None]
                return (e(_spread(values)) if len(values) >= 2 else ""), "spread"
            value = item.value(key)
            status = verdict_by_metric(item.verdict).get(key, "")
            cls = status if status in ("in", "out") else ""
            return ("" if value is None else e(plain(value))), cls

        return cell

    rows = [
        row("run", run_head, "group"),
        row("status", lambda k, r: (_pill(r.status), "") if k == "run" else ("", "spread")),
        row("profile", fact(lambda r: r.profile)),
        row("seed", fact(lambda r: r.seed)),
        row("when", fact(lambda r: r.when)),
        row("wall time", fact(lambda r: r.wall)),
        row("device", fact(lambda r: r.facts.get("device", ""))),
    ]
    keys = study.keys
    if keys:
        rows.append(f'<tr class="group"><th>headline</th><td colspan="{len(columns)}"></td></tr>')
        rows += [row(key, metric(key)) for key in keys]
    if any(r.verdict is not None for r in study.runs):
        rows.append(
            row(
                "verdict",
                lambda k, r: (
                    (e(verdict_text(r.verdict)) if r.verdict is not None else "", "")
                    if k == "run"
                    else ("", "spread")
                ),
            )
        )
    if any(r.manifest.get("detectors") is not None for r in study.runs):
        rows.append(row("detectors", fact(lambda r: plain(r.manifest.get("detectors") or ""))))
    prov_keys = list(dict.fromkeys(k for r in study.runs for k in r.provenance))
    if prov_keys:
        rows.append(f'<tr class="group"><th>provenance</th><td colspan="{len(columns)}"></td></tr>')
        rows += [row(k, fact(lambda r, k=k: r.provenance.get(k, ""), "text")) for k in prov_keys]
    errors = [r for r in study.runs if r.manifest.get("error")]
    if errors:
        rows.append(row("error", fact(lambda r: plain(r.manifest.get("error") or "", 400), "text")))
    header = (
        f'<p><a href="../index.html">← all studies</a></p>'
        f"<h1>{e(study.id)}: {e(study.title)}: every run</h1>"
        f"<p>{len(study.runs)} runs under {e(study.dir.resolve())}</p>"
    )
    body = (
        '<p class="legend">One column per run, grouped by profile (full, quick, smoke) and seed; '
        "a green cell is inside the expected range the run's verdict recorded, a red one outside. "
        "Where a profile has complete runs with two or more seeds, a blue column gives the mean "
        "± sample standard deviation over them.</p>"
        f'<div class="wide"><table class="history">{"".join(rows)}</table></div>'
        + _summaries(study)
    )
    return _page(f"{study.id}: history", header, body)


def build_index(out: Path) -> Path:
    """Write runs/index.html and runs/<study>/history.html; returns the index's path."""
    out = Path(out)
    if not out.is_dir():
        raise NndlError(f"No runs folder at {out}; run a study first (nndl run a04).")
    studies = collect(out)
    for study in studies:
        if study.runs or study.summaries:
            atomic_write(out / study.id / "history.html", history_page(study))
    return atomic_write(out / "index.html", index_page(studies, out))
