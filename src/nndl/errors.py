"""Errors a user can meet. The CLI prints them as one line and exits non-zero (no traceback)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class NndlError(Exception):
    """A problem with the user's input or environment, shown as one line."""

    exit_code = 2


class ConfigError(NndlError):
    """Unknown study, unknown config key, a value of the wrong type."""


class DataError(NndlError):
    """A dataset that is missing, in the wrong layout, or corrupt."""


class WeightsError(NndlError):
    """Pretrained weights that cannot be had or do not fit the model."""


class TrainingError(NndlError):
    """Training diverged (NaN/inf loss) or could not continue."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' Did you mean x?' for the closest names, or the full list when nothing is close."""
    choices = sorted(choices)
    by_lower = {c.lower(): c for c in choices}  # 'relu' finds ReLU
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.5)
    if close:
        return f" Did you mean {', '.join(by_lower[c] for c in close)}?"
    return f" Valid: {', '.join(choices)}."
