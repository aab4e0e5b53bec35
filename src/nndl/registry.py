"""The study registry: `@study("a04", "backprop", ...)` and lookup by id or slug.

A study module defines a config dataclass and a `run(ctx)` function; the decorator records both.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field

from nndl.errors import ConfigError, did_you_mean


@dataclass(frozen=True)
class Study:
    id: str  # "a04"
    slug: str  # "backprop"
    title: str  # "Backpropagation by hand"
    config: type  # the study's config dataclass (profile values included)
    run: Callable  # run(ctx: nndl.run.RunContext) -> None
    datasets: tuple[str, ...] = field(default=())  # dataset registry names it may read
    headline: tuple[str, ...] = field(default=())  # metrics.json keys shown in summaries
    expect: tuple = field(default=())  # nndl.expect.Expect: ranges -> the report's verdict table
    checks: tuple = field(default=())  # metrics -> nndl.detectors.Check | None, run after the study


_STUDIES: dict[str, Study] = {}


def study(
    id: str,
    slug: str,
    title: str,
    *,
    config: type,
    datasets=(),
    headline=(),
    expect=(),
    checks=(),
):
    """Register `run` as study `id`.

    `expect`: the headline numbers' expected ranges (nndl.expect.Expect), shown as the verdict
    table that opens the report. `checks`: failure-mode detectors that need only metrics.json,
    functions metrics -> nndl.detectors.Check (or None when the run did not produce their inputs).
    """

    def register(fn: Callable) -> Callable:
        _STUDIES[id] = Study(
            id,
            slug,
            title,
            config,
            fn,
            tuple(datasets),
            tuple(headline),
            tuple(expect),
            tuple(checks),
        )
        return fn

    return register


def _load_all() -> None:
    import nndl.studies

    for mod in pkgutil.iter_modules(nndl.studies.__path__):
        importlib.import_module(f"nndl.studies.{mod.name}")


def all_studies() -> list[Study]:
    _load_all()
    return [_STUDIES[k] for k in sorted(_STUDIES)]


def get_study(name: str) -> Study:
    """Look a study up by id ("a04") or slug ("backprop")."""
    studies = all_studies()
    for s in studies:
        if name.lower() in (s.id, s.slug):
            return s
    names = [s.id for s in studies] + [s.slug for s in studies]
    raise ConfigError(f"Unknown study '{name}'.{did_you_mean(name, names)}")
