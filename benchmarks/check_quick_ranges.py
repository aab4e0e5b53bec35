"""Run studies in the quick profile and print their verdicts: how many numbers are in range.

    python benchmarks/check_quick_ranges.py a03 a05          # runs them (minutes each)
    python benchmarks/check_quick_ranges.py --runs runs      # reads the latest quick runs there

Exit 1 when a number lies outside its expected quick range (or was not produced), else 0. The
same check is the test suite's slow tier (tests/test_quick_ranges.py, `pytest --slow`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def latest_quick(runs: Path, study_id: str) -> Path | None:
    folders = sorted((runs / study_id).glob("*-quick-*"), reverse=True)
    for f in folders:
        m = f / "manifest.json"
        if m.exists() and json.loads(m.read_text()).get("status") == "complete":
            return f
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("studies", nargs="*", help="study ids (default: every registered study)")
    ap.add_argument("--runs", type=Path, help="read the latest quick runs in this folder")
    ap.add_argument("--out", type=Path, default=Path("runs"), help="where new runs go")
    args = ap.parse_args()
    from nndl.registry import all_studies, get_study
    from nndl.run import RunOptions, execute

    studies = [get_study(s) for s in args.studies] if args.studies else all_studies()
    total = {"in": 0, "out": 0, "missing": 0}
    fired = []
    for study in studies:
        if args.runs:
            folder = latest_quick(args.runs, study.id)
            if folder is None:
                print(f"{study.id}: no complete quick run in {args.runs}")
                total["missing"] += len(study.expect)
                continue
        else:
            folder = execute(study, RunOptions(profile="quick", out=args.out))
        metrics = json.loads((folder / "metrics.json").read_text())
        verdict = metrics.get("verdict", {})
        for r in verdict.get("rows", []):
            if r["status"] in total:
                total[r["status"]] += 1
            mark = {"in": "  in", "out": " OUT", "missing": "MISS"}.get(r["status"], "   -")
            print(f"{study.id} {mark} {r['metric']} = {r['value']} (range {r['low']}..{r['high']})")
        fired += [
            f"{study.id}: {c['name']}" for c in metrics.get("detectors", []) if not c["passed"]
        ]
    print(f"\n{total['in']} in range, {total['out']} out, {total['missing']} not produced")
    print("detectors fired: " + ("; ".join(fired) if fired else "none"))
    return 1 if total["out"] or total["missing"] else 0


if __name__ == "__main__":
    sys.exit(main())
