"""One typed config per study, with profile values and validated `--set key=value` overrides.

A study declares a dataclass whose defaults are the `quick` profile; `PROFILES` holds the values
that differ in `smoke` and `full`. Profiles are values of the same config, never copies of code:

    @dataclass
    class Config:
        num_epochs: int = opt(10, "passes over the training set")
        PROFILES: ClassVar[dict] = {"smoke": {"num_epochs": 1}, "full": {"num_epochs": 20}}
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import field
from typing import Any, Literal, get_args, get_origin

from nndl.errors import ConfigError, did_you_mean

PROFILE_NAMES = ("smoke", "quick", "full")


def opt(default: Any, help: str) -> Any:
    """A config field with its explanation (shown by `nndl run X --dry-run` and in errors)."""
    if isinstance(default, list | dict | set):
        raise TypeError("use a tuple for sequence defaults; configs are immutable values")
    return field(default=default, metadata={"help": help})


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
    for source, items in (("profile", profiles.get(profile, {})), ("--set", overrides or {})):
        for key, value in items.items():
            if key not in names:
                where = "--set key" if source == "--set" else f"profile key in {cls.__name__}"
                raise ConfigError(f"Unknown {where} '{key}'. Valid keys: {', '.join(names)}.")
            values[key] = coerce(value, hints[key], key)
            default = defaults[key]
            # a profile may empty a list (smoke attacks no photos); a user's empty --set is a slip
            if source == "--set" and values[key] == () and isinstance(default, tuple) and default:
                shown = ",".join(map(str, default))
                raise ConfigError(f"'{key}' needs at least one value (default: {shown}).")
    return cls(**values)


def to_dict(config) -> dict[str, Any]:
    """Plain, YAML-friendly values (tuples become lists)."""

    def plain(v):
        return list(v) if isinstance(v, tuple) else v

    return {f.name: plain(getattr(config, f.name)) for f in dataclasses.fields(config)}
