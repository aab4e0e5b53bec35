"""What a study's headline numbers should be, and the verdict a run reaches on them.

Each study declares its expectations beside its config and passes them to `@study(expect=...)`:

    EXPECT = (
        Expect("test_acc", quick=(0.90, 1.0), full=(0.99, 1.0), split="test", epoch_rule="last",
               source="Keras mnist_convnet example: ~99% test accuracy"),
    )

- `quick`: the range measured runs of the quick profile land in on a 2-core CPU (embedded data),
  wide enough for seed noise; checked by `benchmarks/check_quick_ranges.py` and the slow tests.
- `full`: the range the real datasets and weights give, from the paper or library cited in
  `source`; a full run outside it is worth a look.
- `split`: the data split the number is measured on; `epoch_rule`: which epoch's model is
  reported ("last", or "best-val": best on a validation split; never best on the test split).

`verdict(expectations, metrics, profile)` gives one row per number: value, range, in / out (or
"missing" when the run did not produce it, "no range" for a profile without one, "changed
settings" when `--set` moved the run away from the settings the ranges were measured with). A number out of
range is not an error: the run still exits 0, the report flags it at the top, `nndl report` and the
run's manifest show the count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

EPOCH_RULES = ("last", "best-val", "n/a")  # best on the test split is not a rule: it leaks
SPLITS = ("test", "val", "train", "all", "n/a")


@dataclass(frozen=True)
class Expect:
    """The expected range of one headline number, per profile."""

    metric: str  # path into metrics.json: "test_acc", "sweep.2.fgsm_success" (dots, list indices)
    quick: tuple[float, float] | None = None  # (low, high), inclusive; None: no range for quick
    full: tuple[float, float] | None = None
    source: str = ""  # where the full range comes from (paper, library, model card)
    split: str = "test"  # the split the number is measured on
    epoch_rule: str = "last"  # which epoch's model is reported
    quick_source: str = "measured quick runs on 2 CPU cores, widened for seed noise"
    note: str = ""  # anything a reader needs to read the number (units, direction)
    definition: str = ""  # the metric's exact definition, stated under the verdict table

    def __post_init__(self):
        if self.epoch_rule not in EPOCH_RULES:
            raise ValueError(
                f"{self.metric}: epoch_rule must be one of {', '.join(EPOCH_RULES)} "
                f"(never best on test); got {self.epoch_rule!r}"
            )
        if self.split not in SPLITS:
            raise ValueError(f"{self.metric}: split must be one of {', '.join(SPLITS)}")
        for name in ("quick", "full"):
            r = getattr(self, name)
            if r is not None and not (len(r) == 2 and r[0] <= r[1]):
                raise ValueError(f"{self.metric}: {name} range must be (low, high); got {r}")
        if self.full is not None and not self.source:
            raise ValueError(f"{self.metric}: a full range needs its source (paper, library)")

    def range_for(self, profile: str) -> tuple[float, float] | None:
        return {"quick": self.quick, "full": self.full}.get(profile)


def lookup(metrics: dict, path: str) -> Any:
    """metrics["a"]["b"][2] for path "a.b.2"; a flat key containing dots is tried first."""
    if path in metrics:
        return metrics[path]
    node: Any = metrics
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list | tuple) and part.lstrip("-").isdigit():
            try:
                node = node[int(part)]
            except IndexError:
                return None
        else:
            return None
    return node


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def verdict(expectations, metrics: dict, profile: str, changed=()) -> list[dict]:
    """One row per expectation: metric, value, range, status (in | out | missing | no range |
    changed settings). `changed`: the config fields this run set away from the profile's values
    (`--set dataset=cifar10`); the profile's ranges were measured without them, so the numbers
    are shown beside the ranges but not judged."""
    rows = []
    for e in expectations:
        value = _number(lookup(metrics, e.metric))
        rng = e.range_for(profile)
        if value is None:
            status = "missing"
        elif rng is None:
            status = "no range"
        elif changed:
            status = "changed settings"
        elif math.isnan(value):
            status = "out"
        else:
            status = "in" if rng[0] <= value <= rng[1] else "out"
        rows.append(
            {
                "metric": e.metric,
                "value": value,
                "low": None if rng is None else rng[0],
                "high": None if rng is None else rng[1],
                "status": status,
                "split": e.split,
                "epoch": e.epoch_rule,
                "source": (e.source if profile == "full" else e.quick_source) if rng else "",
                "definition": e.definition,
            }
        )
    return rows


def summary(rows: list[dict]) -> dict:
    """Counts of a verdict: {"checked", "in", "out", "missing"}."""
    count = {s: sum(r["status"] == s for r in rows) for s in ("in", "out", "missing")}
    return {"checked": count["in"] + count["out"], **count}


def headline_line(rows: list[dict], profile: str, changed=()) -> str:
    """The sentence at the top of a report."""
    s = summary(rows)
    if not rows:
        return "This study declares no expected ranges."
    if changed and any(r["status"] == "changed settings" for r in rows):
        return (
            f"This run changed the {profile} profile's settings ({', '.join(changed)}): its "
            f"expected ranges, measured with the profile's settings, are shown for reference, "
            f"not judged; {len(rows) - s['missing']} of {len(rows)} headline numbers were "
            "produced."
        )
    if s["checked"] == 0:
        return (
            f"No expected ranges for the {profile} profile (ranges exist for quick and full); "
            f"{len(rows) - s['missing']} of {len(rows)} headline numbers were produced."
        )
    line = f"{s['in']} of {s['checked']} headline numbers inside their expected {profile} range"
    out = [r["metric"] for r in rows if r["status"] == "out"]
    if out:
        line += f"; OUTSIDE: {', '.join(out)} (not an error: read the findings)"
    if s["missing"]:
        missing = [r["metric"] for r in rows if r["status"] == "missing"]
        line += f"; not produced: {', '.join(missing)}"
    return line + "."


# -- seeds -----------------------------------------------------------------------------------------


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for one value)."""
    v = [float(x) for x in values]
    m = sum(v) / len(v)
    s = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return m, s


def exceeds_spread(a, b, k: float = 2.0) -> dict:
    """Does the difference of two numbers over seeds exceed their seed spread?

    `a`, `b`: the values of one number per seed for two arms (same seeds, same length) or
    single values. With per-seed values the difference d_i = a_i - b_i is paired (same seeds,
    same data order); it "exceeds the spread" when |mean(d)| > k * std(d) / sqrt(n) (k = 2: about
    a 95% interval) and n >= 2. With single values nothing can be said: "one seed".
    """
    a = [float(x) for x in (a if isinstance(a, list | tuple) else [a])]
    b = [float(x) for x in (b if isinstance(b, list | tuple) else [b])]
    if len(a) != len(b):
        raise ValueError("exceeds_spread: both arms need one value per seed (same seeds)")
    d = [x - y for x, y in zip(a, b, strict=True)]
    mean, std = mean_std(d)
    n = len(d)
    if n < 2:
        return {"diff": mean, "std": None, "n": n, "exceeds": None, "text": "one seed: no spread"}
    half = k * std / math.sqrt(n)
    exceeds = abs(mean) > half
    text = f"{mean:+.4g} +- {half:.2g} over {n} seeds: " + (
        "exceeds the seed spread" if exceeds else "within the seed spread"
    )
    return {"diff": mean, "std": std, "n": n, "exceeds": exceeds, "text": text}
