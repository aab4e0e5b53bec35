"""One typed config per study, with profile values and validated `--set key=value` overrides.

A study declares a dataclass whose defaults are the `quick` profile; `PROFILES` holds the values
that differ in `smoke` and `full`. Profiles are values of the same config, never copies of code:

    @dataclass
    class Config:
        num_epochs: int = opt(10, "passes over the training set")
        PROFILES: ClassVar[dict] = {"smoke": {"num_epochs": 1}, "full": {"num_epochs": 20}}

Values a study cannot use are refused here, at config time, before a run folder exists:

- every number is finite and >= 0 (each setting is a count, a size, a rate or a probability);
- bounds per field: `opt(..., min=, max=)` where a study declares them, otherwise read from the
  fixed vocabulary: an integer (or list of integers) is a count or a size and must be >= 1, unless
  its help says what 0 means ("0 = all") or a profile uses 0; a float whose name or help says it is
  a probability, fraction or share lies in [0, 1];
- `--set` never empties a list the study needs;
- a config class may define `validate(self)` (raise ConfigError for combinations it cannot run)
  and `memory_bytes(self)` (the plan's size estimate): a configuration estimated to need more
  memory than the machine has is refused instead of dying in a MemoryError mid-run.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import field
from typing import Any, Literal, get_args, get_origin

from nndl.errors import ConfigError, did_you_mean

PROFILE_NAMES = ("smoke", "quick", "full")


def opt(default: Any, help: str, *, min: float | None = None, max: float | None = None) -> Any:
    """A config field with its explanation (shown by `nndl run X --dry-run` and in errors).

    `min` / `max` bound a number (or every item of a tuple); without them the bounds are read
    from the field's name and help (see `bounds`)."""
    if isinstance(default, list | dict | set):
        raise TypeError("use a tuple for sequence defaults; configs are immutable values")
    meta = {"help": help}
    if min is not None:
        meta["min"] = min
    if max is not None:
        meta["max"] = max
    return field(default=default, metadata=meta)


def field_help(cls: type) -> dict[str, str]:
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}


def _type_name(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    return getattr(tp, "__name__", str(tp)).replace("NoneType", "None")


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert `value` (a string from the command line, or a Python value) to annotation `tp`."""
    origin, args = get_origin(tp), get_args(tp)
    if origin in (typing.Union, types.UnionType):
        is_none = value is None or (
            isinstance(value, str) and value.lower() in ("none", "null", "")
        )
        if is_none and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"'{key}' cannot be {value!r}")
    if origin is Literal:
        for a in args:
            if value == a or str(value) == str(a):
                return a
        raise ConfigError(f"'{key}' must be one of {', '.join(map(str, args))}; got '{value}'.")
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else list(value)
        items = [i.strip() if isinstance(i, str) else i for i in items if i != ""]
        item_tp = args[0] if args else str
        return tuple(coerce(i, item_tp, key) for i in items)
    if tp is bool:
        if isinstance(value, bool):
            return value
        s = str(value).lower()
        if s in ("1", "true", "yes", "on"):
            return True
        if s in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"'{key}' expects true or false; got '{value}'.")
    if tp in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"'{key}' expects {tp.__name__}; got '{value}'.")
        out = _number(value, tp)
        if out is None:
            raise ConfigError(f"'{key}' expects {tp.__name__}; got '{value}'.")
        # every numeric setting is a count, a size, a rate or a probability
        if not math.isfinite(out) or out < 0:
            raise ConfigError(f"'{key}' must be a finite number >= 0; got '{value}'.")
        return out
    if tp is str:
        return str(value)
    raise ConfigError(f"'{key}' has unsupported type {_type_name(tp)}")


def _number(value: Any, tp: type) -> int | float | None:
    """`value` as an int or float, or None when it is not one ("1e3" is an int when integral)."""
    try:
        return tp(value) if tp is float else int(str(value), 10)
    except (TypeError, ValueError):
        pass
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return int(f) if tp is int and f.is_integer() else None


_ZERO_MEANS = re.compile(r"\b0\s*(=|means)")  # "(0 = all)", "0 means the native size"
_UNIT_WORDS = re.compile(r"probabilit|fraction|\bshares? of\b")
_UNIT_NAMES = ("_prob", "_fraction", "fractions")


def _item_type(tp: Any) -> Any:
    """int for `int`, `tuple[int, ...]` and `int | None`; float likewise; else None."""
    if get_origin(tp) is tuple:
        tp = (get_args(tp) or (str,))[0]
    if get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        tp = args[0] if len(args) == 1 else None
    return tp if tp in (int, float) else None


def _declared(cls: type, name: str) -> list:
    """The values the study itself gives `name`: its default and every profile's value."""
    values = [f.default for f in dataclasses.fields(cls) if f.name == name]
    values += [p[name] for p in getattr(cls, "PROFILES", {}).values() if name in p]
    flat = []
    for v in values:
        flat += list(v) if isinstance(v, tuple | list) else [v]
    return flat


def bounds(cls: type) -> dict[str, tuple[float, float]]:
    """(lowest, highest) allowed per numeric field of config class `cls` (items of tuples too)."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        tp = _item_type(hints[f.name])
        if tp is None:
            continue
        help_text = f.metadata.get("help", "").lower()
        lo, hi = 0.0, math.inf
        if tp is int and not _ZERO_MEANS.search(help_text) and 0 not in _declared(cls, f.name):
            lo = 1  # a count or a size
        if tp is float and (f.name.endswith(_UNIT_NAMES) or _UNIT_WORDS.search(help_text)):
            hi = 1.0  # a probability, fraction or share
        out[f.name] = (f.metadata.get("min", lo), f.metadata.get("max", hi))
    return out


def _check_bounds(key: str, value: Any, lo: float, hi: float) -> None:
    for v in value if isinstance(value, tuple) else (value,):
        if v is None or lo <= v <= hi:
            continue
        if hi == math.inf:
            what = "a count or a size" if lo == 1 else "its lowest useful value"
            raise ConfigError(f"'{key}' must be at least {lo:g} ({what}); got '{v}'.")
        raise ConfigError(f"'{key}' must be between {lo:g} and {hi:g}; got '{v}'.")


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TiB"


def check_size(config) -> None:
    """Refuse a config whose `memory_bytes()` estimate exceeds this machine's memory."""
    estimate = getattr(config, "memory_bytes", None)
    if estimate is None:
        return
    import psutil

    need, have = float(estimate()), float(psutil.virtual_memory().total)
    if need > have:
        raise ConfigError(
            f"This configuration needs about {_fmt_bytes(need)} of memory by the plan's size "
            f"estimate, more than this machine's {_fmt_bytes(have)}; choose smaller sizes "
            "(--dry-run shows the plan)."
        )


MAX_SEED = 2**32 - 1  # what NumPy's legacy seeding (and so every library) accepts


def check_seed(seed: int) -> int:
    if not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"--seed must be between 0 and 2**32 - 1 (4294967295); got {seed}.")
    return seed


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value; got '{item}'.")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def resolve(cls: type, profile: str = "quick", overrides: dict[str, Any] | None = None):
    """The study's config for `profile`, with `overrides` applied and type-checked."""
    if profile not in PROFILE_NAMES:
        raise ConfigError(f"Unknown profile '{profile}'.{did_you_mean(profile, PROFILE_NAMES)}")
    hints = typing.get_type_hints(cls)
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    names = list(defaults)
    values: dict[str, Any] = {}
    profiles = getattr(cls, "PROFILES", {})
    limits = bounds(cls)
    for source, items in (("profile", profiles.get(profile, {})), ("--set", overrides or {})):
        for key, value in items.items():
            if key not in names:
                where = "--set key" if source == "--set" else f"profile key in {cls.__name__}"
                raise ConfigError(f"Unknown {where} '{key}'. Valid keys: {', '.join(names)}.")
            values[key] = coerce(value, hints[key], key)
            if source == "--set" and key in limits:
                _check_bounds(key, values[key], *limits[key])
            default = defaults[key]
            # a profile may empty a list (smoke attacks no photos); a user's empty --set is a slip
            emptied_by_profile = profiles.get(profile, {}).get(key) == ()  # (and so on --resume)
            if (
                source == "--set"
                and values[key] == ()
                and isinstance(default, tuple)
                and default
                and not emptied_by_profile
            ):
                shown = ",".join(map(str, default))
                raise ConfigError(f"'{key}' needs at least one value (default: {shown}).")
    config = cls(**values)
    if hasattr(config, "validate"):
        config.validate()  # combinations the study cannot run
    check_size(config)
    return config


def to_dict(config) -> dict[str, Any]:
    """Plain, YAML-friendly values (tuples become lists)."""

    def plain(v):
        return list(v) if isinstance(v, tuple) else v

    return {f.name: plain(getattr(config, f.name)) for f in dataclasses.fields(config)}
