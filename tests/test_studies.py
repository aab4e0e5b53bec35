"""Every registered study runs in the smoke profile and honours the run contract.

The runs are those of the session's `nndl run all --profile smoke` (conftest's smoke_runs, made
once through the real command line and also read by the site's browser test).
"""

import json
import re

import pytest

from nndl.registry import all_studies


@pytest.mark.parametrize("study", all_studies(), ids=lambda s: s.id)
def test_smoke_run_completes_with_a_full_report(study, smoke_runs):
    folders = [
        p
        for p in sorted((smoke_runs / study.id).glob("*-smoke-s0"))
        if (p / "manifest.json").is_file()
    ]
    assert len(folders) == 1, f"{study.id}: no single smoke run in {smoke_runs}"
    folder = folders[0]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["error"] is None, (
        manifest.get("error"),
        (folder / "log.txt").read_text()[-2000:] if (folder / "log.txt").exists() else "",
    )
    for name in (
        "config.yaml",
        "metrics.json",
        "timings.json",
        "report.md",
        "report.html",
        "env.json",
        "log.txt",
    ):
        assert (folder / name).is_file(), name
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics and all(k in metrics for k in study.headline)
    md = (folder / "report.md").read_text()
    figures = re.findall(r"\]\((figures/[^)]+\.png)\)", md)
    assert figures and all((folder / f).stat().st_size > 1000 for f in figures)
    assert "**data**" in md  # provenance is stated
    assert not list(folder.rglob("*.tmp"))
    # the report opens with the verdict table; every declared number was produced and named right
    first_section = re.search(r"^## (.+)$", md, re.M).group(1)
    assert first_section == "Verdict", first_section
    assert study.expect, f"{study.id} declares no expected ranges (nndl.expect)"
    rows = metrics["verdict"]["rows"]
    assert [r["metric"] for r in rows] == [e.metric for e in study.expect]
    # a number may be None where the profile skips its measurement, but its name must exist
    missing = [r["metric"] for r in rows if r["status"] == "missing" and r["metric"] not in metrics]
    assert not missing, f"{study.id}: expected numbers not in metrics.json: {missing}"
    assert manifest["verdict"] == metrics["verdict"]["summary"]
    for check in metrics["detectors"]:
        assert isinstance(check["passed"], bool) and check["rule"], check
