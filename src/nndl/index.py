"""`nndl report`: runs/index.html, every study's latest run linked, with headline numbers."""

from __future__ import annotations

import html
from pathlib import Path

from nndl.io import atomic_write, read_json
from nndl.report import CSS, fmt


def _latest_runs(out: Path) -> list[tuple[str, Path, dict]]:
    rows = []
    for study_dir in sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith("_")):
        runs = sorted(
            (p for p in study_dir.iterdir() if (p / "manifest.json").exists()), reverse=True
        )
        complete = [r for r in runs if read_json(r / "manifest.json").get("status") == "complete"]
        chosen = (complete or runs or [None])[0]
        if chosen is not None:
            rows.append((study_dir.name, chosen, read_json(chosen / "manifest.json")))
    return rows


def build_index(out: Path) -> Path:
    out = Path(out)
    if not out.is_dir():
        from nndl.errors import NndlError

        raise NndlError(f"No runs folder at {out}; run a study first (nndl run a04).")
    e = html.escape
    rows = []
    for study_id, folder, m in _latest_runs(out):
        headline = m.get("headline") or {}
        numbers = ", ".join(f"{k} = {fmt(v)}" for k, v in headline.items())
        link = folder.relative_to(out) / "report.html"
        report = f'<a href="{e(str(link))}">report</a>' if (folder / "report.html").exists() else ""
        status = m.get("status", "?")
        error = f" ({e(m['error'])})" if m.get("error") else ""
        rows.append(
            f"<tr><td>{e(study_id)}</td><td>{e(m.get('title', ''))}</td><td>{e(m.get('profile', ''))}</td>"
            f"<td>{e(status)}{error}</td><td>{e(m.get('finished') or m.get('started') or '')}</td>"
            f"<td>{e(numbers)}</td><td>{report}</td></tr>"
        )
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>nndl runs</title>'
        f"<style>{CSS}</style></head><body><h1>nndl: latest run of every study</h1>"
        "<table><tr><th>study</th><th>title</th><th>profile</th><th>status</th><th>when</th>"
        "<th>headline</th><th></th></tr>" + "\n".join(rows) + "</table></body></html>\n"
    )
    return atomic_write(out / "index.html", page)
