"""Every registered study runs in the smoke profile and honours the run contract."""

import json
import re

import pytest

from nndl.registry import all_studies
from nndl.run import RunOptions, execute


@pytest.mark.parametrize("study", all_studies(), ids=lambda s: s.id)
def test_smoke_run_completes_with_a_full_report(study, tmp_path):
    folder = execute(study, RunOptions(profile="smoke", out=tmp_path / "runs", data_root=tmp_path))
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["error"] is None
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
