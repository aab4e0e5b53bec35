"""`nndl run aNN --seeds 0,1,2`: one run per seed, then one summary of them.

runs/<study>/seeds-<stamp>-<profile>/
    summary.json   {"study", "profile", "seeds", "runs", "numbers": {name: {"mean", "std",
                   "values"}}, "verdict": {...}, "detectors": {...}}
    summary.md     the same as a table: mean +- std (sample std, ddof 1) and the per-seed values

The numbers are the study's headline numbers and those its expected ranges name; "verdict" says,
for the profile's ranges, whether the mean lies in range and how many seeds did. The folder holds
no manifest.json, so run listings skip it; `nndl report` can link it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from nndl.errors import ConfigError
from nndl.expect import lookup, mean_std
from nndl.io import atomic_write, read_json, write_json


def parse_seeds(text: str) -> list[int]:
    """'0,1,2' or '0-4' -> [0, 1, 2]; one clear error otherwise."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            if "-" in part[1:]:
                lo, hi = part.split("-", 1) if part[0] != "-" else (part, part)
                seeds += list(range(int(lo), int(hi) + 1))
            else:
                seeds.append(int(part))
    except ValueError:
        raise ConfigError(f"--seeds expects integers like 0,1,2 or 0-4; got '{text}'.") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ConfigError(f"--seeds needs distinct non-negative seeds (0,1,2); got '{text}'.")
    return seeds


def _number(v):
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def summarize(study, folders: list[Path], out: Path, profile: str) -> Path:
    """Write the summary of one study's runs (one per seed); returns its folder."""
    metrics = [read_json(Path(f) / "metrics.json") for f in folders]
    seeds = [read_json(Path(f) / "manifest.json").get("seed") for f in folders]
    names = list(dict.fromkeys([*study.headline, *(e.metric for e in study.expect)]))
    numbers, rows = {}, []
    for name in names:
        values = [_number(lookup(m, name)) for m in metrics]
        if any(v is None for v in values):
            continue
        mean, std = mean_std(values)
        numbers[name] = {"mean": mean, "std": std, "values": values}
        rows.append((name, mean, std, values))
    verdict = {}
    for e in study.expect:
        rng = e.range_for(profile)
        if rng is None or e.metric not in numbers:
            continue
        n = numbers[e.metric]
        verdict[e.metric] = {
            "range": list(rng),
            "mean_in_range": rng[0] <= n["mean"] <= rng[1],
            "seeds_in_range": sum(rng[0] <= v <= rng[1] for v in n["values"]),
        }
    fired: dict[str, int] = {}
    for m in metrics:
        for c in m.get("detectors", []):
            if not c.get("passed", True):
                fired[c["name"]] = fired.get(c["name"], 0) + 1
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = Path(out) / study.id / f"seeds-{stamp}-{profile}"
    summary = {
        "study": study.id,
        "title": study.title,
        "profile": profile,
        "seeds": seeds,
        "runs": [Path(f).name for f in folders],
        "numbers": numbers,
        "verdict": verdict,
        "detectors_fired": fired,  # detector name -> number of seeds where it fired
    }
    write_json(folder / "summary.json", summary)
    atomic_write(folder / "summary.md", _markdown(summary, rows))
    return folder


def _markdown(s: dict, rows) -> str:
    from nndl.report import fmt

    seeds = s["seeds"]
    out = [
        f"# {s['study']}: {s['title']}, {len(seeds)} seeds ({s['profile']})",
        "",
        f"Seeds {', '.join(map(str, seeds))}; runs: {', '.join(s['runs'])}. "
        "Mean +- sample standard deviation (ddof 1) over seeds.",
        "",
        "| number | mean +- std | " + " | ".join(f"seed {k}" for k in seeds) + " | in range |",
        "|---|---|" + "---|" * len(seeds) + "---|",
    ]
    for name, mean, std, values in rows:
        v = s["verdict"].get(name)
        rng = f"{v['seeds_in_range']}/{len(seeds)} seeds" if v else "-"
        out.append(
            f"| {name} | {fmt(mean)} +- {fmt(std)} | "
            + " | ".join(fmt(x) for x in values)
            + f" | {rng} |"
        )
    out.append("")
    if s["detectors_fired"]:
        out += ["Detectors that fired:", ""]
        out += [f"- {k}: {n} of {len(seeds)} seeds" for k, n in s["detectors_fired"].items()]
    else:
        out.append("No failure-mode detector fired on any seed.")
    return "\n".join(out) + "\n"
