"""`nndl report`'s pages from hand-made run folders: cards, history, verdicts, escaping (no browser)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nndl.errors import NndlError
from nndl.index import build_index, report_facts
from nndl.registry import all_studies
from nndl.report import Report

EVIL = "<script>alert(1)</script>"
PNG = (  # a 1x1 PNG
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f"
    b"\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


def make_run(
    out: Path,
    study: str,
    run_id: str,
    *,
    status="complete",
    profile="quick",
    seed=0,
    metrics=None,
    manifest=None,
    figure="figures/curves.png",
    facts=None,
) -> Path:
    folder = out / study / run_id
    folder.mkdir(parents=True)
    m = {"status": status, "study": study, "title": f"title of {study}", "profile": profile}
    m.update(seed=seed, run_id=run_id, started=f"2026-01-0{run_id[-1]}T10:00:00", error=None)
    if status == "complete":
        m["finished"] = m["started"]
    m.update(manifest or {})
    (folder / "manifest.json").write_text(json.dumps(m))
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics))
        (folder / "timings.json").write_text(json.dumps({"total_s": 12.34}))
    if status == "complete":
        rep = Report(folder, f"{study}: a title")
        rep.header_facts = {"study": study, "profile": profile, "device": "cpu"}
        rep.provenance = facts or {"data": "embedded digits", "weights": "trained in this run"}
        rep.section("Results")
        if figure:
            (folder / figure).parent.mkdir(parents=True, exist_ok=True)
            (folder / figure).write_bytes(PNG)
            rep.blocks.append(("figure", figure, "the curves"))
        rep.write()
    else:
        (folder / "log.txt").write_text("log\n")
    return folder


def test_report_facts_reads_the_header_that_report_writes(tmp_path):
    rep = Report(tmp_path, "t")
    rep.header_facts = {"study": "a04", "wall time": "3.0 s"}
    rep.provenance = {"data": "digits: real 8x8 scans", "weights": "random"}
    rep.section("Body")
    rep.bullets(["- **not**: a fact"])
    facts = report_facts(rep.to_markdown())
    assert facts == {
        "study": "a04",
        "wall time": "3.0 s",
        "data": "digits: real 8x8 scans",
        "weights": "random",
    }


def test_index_has_a_card_per_registered_study_and_says_how_to_run_the_others(tmp_path):
    make_run(tmp_path, "a04", "r1", metrics={"numpy_test_acc": 0.91, "other": 1})
    page = Path(build_index(tmp_path)).read_text()
    ids = re.findall(r'<article class="card[^"]*" id="([^"]+)"', page)
    assert ids == [s.id for s in all_studies()]
    card = page[page.index('id="a04"') : page.index('id="a05"')]
    assert '<span class="pill complete">complete</span>' in card
    assert "<td>numpy_test_acc</td><td>0.91</td>" in card and "other" not in card
    assert "embedded digits" in card and "trained in this run" in card and "12.3 s" in card
    assert '<img src="a04/r1/figures/curves.png" alt="the curves"' in card
    assert 'href="a04/r1/report.html">latest report' in card
    assert 'href="a04/history.html">history (1 run)' in card
    a05 = page[page.index('id="a05"') : page.index('id="a06"')]
    assert "not run yet" in a05 and "<code>nndl run a05 --out " in a05
    assert (tmp_path / "a04" / "history.html").is_file()
    assert not (tmp_path / "a05").exists()


def test_card_shows_the_newest_complete_run_and_a_newer_failure(tmp_path):
    make_run(tmp_path, "a04", "r1", metrics={"numpy_test_acc": 0.5})
    make_run(tmp_path, "a04", "r2", status="failed", manifest={"error": "DataError: gone"})
    make_run(tmp_path, "a04", "r3", status="running", manifest={"pid": 2**22 + 12345})
    page = Path(build_index(tmp_path)).read_text()
    card = page[page.index('id="a04"') : page.index('id="a05"')]
    assert "<td>numpy_test_acc</td><td>0.5</td>" in card and "a04/r1/report.html" in card
    # The newest run died without saying so (its pid is gone): interrupted, not running.
    assert "newest run (2026-01-03 10:00): interrupted" in card
    assert card.count('class="interrupted"') == 1 and card.count('class="failed"') == 1
    assert 'href="a04/r2/log.txt"' in card


def test_history_puts_profiles_and_seeds_side_by_side_with_their_spread(tmp_path):
    verdict = [
        {"metric": "numpy_test_acc", "status": "in", "low": 0.8, "high": 1.0},
        {"metric": "max_rel_err_autograd", "status": "out", "low": 0, "high": 1e-6},
    ]
    for i, (profile, seed, acc) in enumerate(
        [("quick", 0, 0.9), ("quick", 10, 0.8), ("full", 0, 0.98), ("quick", 2, 0.7)], 1
    ):
        make_run(
            tmp_path,
            "a04",
            f"r{i}",
            profile=profile,
            seed=seed,
            metrics={"numpy_test_acc": acc, "max_rel_err_autograd": 1e-3},
            manifest={"verdict": verdict} if i == 1 else {},
            facts={"data": f"{profile} data"},
        )
    build_index(tmp_path)
    page = (tmp_path / "a04" / "history.html").read_text()
    runs = re.findall(r'<a href="(r\d)/report.html">', page)
    assert runs == ["r3", "r1", "r4", "r2"]  # full, then quick seed by seed: 0, 2, 10
    # mean +- sample sd of 0.9, 0.8, 0.7 over three quick seeds; none for one full run
    assert page.count("mean ± sd over seeds") == 1 and "0.8 ± 0.1 (n=3)" in page
    acc_row = re.search(r"<th>numpy_test_acc</th>(.*?)</tr>", page).group(1)
    assert re.findall(r"<td[^>]*>([^<]*)</td>", acc_row) == [
        "0.98",
        "0.9",
        "0.7",
        "0.8",
        "0.8 ± 0.1 (n=3)",
    ]
    assert '<td class="in">0.9</td>' in page and '<td class="out">0.001</td>' in page
    assert "1 in, 1 out (outside: max_rel_err_autograd)" in page
    assert "full data" in page and "quick data" in page
    assert '<a href="../index.html">' in page


def test_verdict_and_summary_values_of_any_shape_are_shown(tmp_path):
    make_run(
        tmp_path,
        "a04",
        "r1",
        metrics={"numpy_test_acc": {"mean": 0.9, "std": 0.01, "n": 3}},
        manifest={"verdict": {"checked": 2, "in": 2, "out": 0}},
    )
    page = Path(build_index(tmp_path)).read_text()
    assert "0.9 ± 0.01 (n=3)" in page and "checked: 2, in: 2, out: 0" in page


def test_a_verdict_as_nndl_expect_writes_it(tmp_path):
    rows = [
        {"metric": "numpy_test_acc", "value": 0.9, "status": "in"},
        {"metric": "keras_fit_test_acc", "value": 0.5, "status": "out"},
    ]
    verdict = {"line": "1 of 2 inside; OUTSIDE: keras_fit_test_acc.", "rows": rows}
    metrics = {"numpy_test_acc": 0.9, "keras_fit_test_acc": 0.5, "verdict": verdict}
    summary = {"checked": 2, "in": 1, "out": 1, "missing": 0}
    make_run(tmp_path, "a04", "r1", metrics=metrics, manifest={"verdict": summary})
    page = Path(build_index(tmp_path)).read_text()
    card = page[page.index('id="a04"') : page.index('id="a05"')]
    # the verdict's own numbers join the headline, marked in or out of range
    assert "<td>numpy_test_acc</td><td>0.9 ✓</td>" in card
    assert "<td>keras_fit_test_acc</td><td>0.5 ✗</td>" in card
    assert "<b>verdict</b>: 1 of 2 inside; OUTSIDE: keras_fit_test_acc.</p>" in card
    history = (tmp_path / "a04" / "history.html").read_text()
    assert '<td class="out">0.5</td>' in history and '<td class="in">0.9</td>' in history


def test_seed_summaries_are_shown_on_the_history_page(tmp_path):
    make_run(tmp_path, "a04", "r1", metrics={"numpy_test_acc": 0.9})
    folder = tmp_path / "a04" / "seeds-20260101-100000-quick"
    folder.mkdir()
    summary = {  # as nndl.seeds writes it
        "study": "a04",
        "profile": "quick",
        "seeds": [0, 1],
        "numbers": {"numpy_test_acc": {"mean": 0.85, "std": 0.07071, "values": [0.9, 0.8]}},
        "verdict": {
            "numpy_test_acc": {"range": [0.9, 1.0], "mean_in_range": False, "seeds_in_range": 1}
        },
        "detectors_fired": {"collapse": 1},
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "summary.md").write_text("# summary\n")
    index = Path(build_index(tmp_path)).read_text()
    assert 'href="a04/history.html#seeds">seed summary (1)' in index
    page = (tmp_path / "a04" / "history.html").read_text()
    assert '<h2 id="seeds">' in page and "quick profile, seeds 0, 1" in page
    assert 'href="seeds-20260101-100000-quick/summary.md"' in page
    row = re.search(r"<th>numpy_test_acc</th><td class='out'>(.*?)</tr>", page).group(1)
    assert "0.85 ± 0.07071" in row and "<td>0.9</td><td>0.8</td>" in row
    assert "mean_in_range: False, seeds_in_range: 1" in row and "collapse: 1" in page


def test_every_text_is_escaped(tmp_path):
    make_run(
        tmp_path,
        "a04",
        "r1",
        metrics={"numpy_test_acc": EVIL},
        manifest={"headline": {EVIL: 1}, "verdict": EVIL},
        facts={EVIL: EVIL},
        figure=f"figures/{EVIL.replace('/', '_')}.png",
    )
    make_run(tmp_path, "a04", "r2", status="failed", manifest={"error": EVIL})
    make_run(tmp_path, "z00", "r1", manifest={"title": EVIL}, metrics={})
    (tmp_path / "a04" / "seeds-x").mkdir()
    summary = {"profile": EVIL, "seeds": [EVIL], "numbers": {EVIL: {"mean": EVIL}}}
    (tmp_path / "a04" / "seeds-x" / "summary.json").write_text(json.dumps(summary))
    build_index(tmp_path)
    for page in (tmp_path / "index.html", tmp_path / "a04" / "history.html"):
        text = page.read_text()
        assert "<script" not in text.lower(), page
        assert "&lt;script&gt;" in text
    index = (tmp_path / "index.html").read_text()
    assert 'src="a04/r1/figures/%3Cscript%3Ealert%281%29%3C_script%3E.png"' in index
    assert "(not in the registry)" in index


def test_a_missing_runs_folder_is_one_clear_error(tmp_path):
    with pytest.raises(NndlError, match="No runs folder at"):
        build_index(tmp_path / "nowhere")
