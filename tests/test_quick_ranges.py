"""Slow tier: quick-profile runs land inside the ranges their studies declare (nndl.expect).

Deselected by default (minutes per study on 2 cores); run with `python -m pytest --slow
tests/test_quick_ranges.py` or `python benchmarks/check_quick_ranges.py a03 a05`. A number out of
range is not a bug by itself: the failure message lists the rows so the range or the recipe can
be looked at.
"""

import pytest

from nndl.registry import all_studies
from nndl.run import RunOptions, execute

WITH_QUICK_RANGES = [s for s in all_studies() if any(e.quick for e in s.expect)]


@pytest.mark.slow
@pytest.mark.parametrize("study", WITH_QUICK_RANGES, ids=lambda s: s.id)
def test_quick_run_lands_in_its_expected_ranges(study, tmp_path):
    import json

    folder = execute(study, RunOptions(profile="quick", out=tmp_path / "runs", data_root=tmp_path))
    verdict = json.loads((folder / "metrics.json").read_text())["verdict"]
    bad = [r for r in verdict["rows"] if r["status"] in ("out", "missing")]
    assert not bad, verdict["line"] + " " + str(bad)
