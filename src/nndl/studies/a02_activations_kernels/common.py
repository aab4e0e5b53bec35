"""What a02's sections share: plotting, wording, a model copy on the meta device."""

from __future__ import annotations


def plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def on_meta(model):
    """A copy of `model` on the meta device: shapes without memory or arithmetic."""
    import copy

    return copy.deepcopy(model).to("meta")


def flops_note() -> str:
    from nndl.bench import FLOP_CONVENTION

    return FLOP_CONVENTION
