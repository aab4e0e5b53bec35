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
