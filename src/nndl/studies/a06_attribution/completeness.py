"""Section 4: IG's completeness axiom, and how many steps each quadrature rule needs for it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import figures
from .images import Images
from .measures import ig_kwargs

IG_METHODS = (
    "riemann_trapezoid",
    "gausslegendre",
)  # Captum's quadrature rules compared


@dataclass(frozen=True)
class Completeness:
    rows: list[dict]  # one per (output, method, steps): mean and max relative error
    needed: dict[tuple[str, str], int | None]  # (output, method) -> steps for < 1% (None: never)
    captum_gap: float  # largest gap between Captum's convergence delta and our own check
    num_images: int


def measure_completeness(cfg, clf, images: Images) -> Completeness:
    """Relative completeness error of IG per (output, method, steps), with our forward passes.

    sum_i IG_i(x) = F(x) - F(x'); relative error = |sum_i IG_i - (F(x) - F(x'))| / |F(x) - F(x')|,
    worst over the `num_completeness` most confident images.
    """
    from nndl.methods import attribution as A

    batch = images.confident[: cfg.num_completeness]
    x, y, baseline = batch.x, batch.y, images.baseline
    rows, captum_gap = [], 0.0
    for output in A.OUTPUTS:
        for method in IG_METHODS:
            for steps in cfg.completeness_steps:
                attr, delta = A.integrated_gradients(
                    clf.model,
                    x,
                    y,
                    baseline,
                    output=output,
                    **ig_kwargs(cfg, steps, method),
                )
                check = A.completeness(clf.model, x, baseline, y, attr, output=output)
                # Captum's convergence delta is sum - difference: it must agree with ours
                ours = check["sum"] - check["diff"]
                captum_gap = max(captum_gap, float(np.abs(ours - delta.cpu().numpy()).max()))
                rows.append(
                    {
                        "output": output,
                        "method": method,
                        "steps": steps,
                        "mean rel. error": float(check["rel_error"].mean()),
                        "max rel. error": float(check["rel_error"].max()),
                    }
                )
    needed = {}
    for output in A.OUTPUTS:
        for method in IG_METHODS:
            sel = [r for r in rows if r["output"] == output and r["method"] == method]
            needed[(output, method)] = A.steps_needed(
                [r["steps"] for r in sel], [r["max rel. error"] for r in sel]
            )
    return Completeness(rows, needed, captum_gap, len(x))


def completeness_section(ctx, cfg, comp: Completeness) -> None:
    from nndl.methods.attribution import quadrature_weight_sum

    rep = ctx.report
    rep.section("Completeness of Integrated Gradients")
    rep.math(
        r"\sum_i \mathrm{IG}_i(x) = F(x) - F(x') \qquad \text{relative error} = "
        r"\frac{|\sum_i \mathrm{IG}_i - (F(x) - F(x'))|}{|F(x) - F(x')|}"
    )
    n = min(cfg.completeness_steps)
    w = quadrature_weight_sum("riemann_trapezoid", n)
    rep.text(
        f"IG of the true class from the black baseline x' on the {comp.num_images} most "
        f"confident images, for F = the logit and F = the softmax probability, with Captum's "
        f"riemann_trapezoid and gausslegendre rules. Sums and output differences come from our own "
        f"forward passes; Captum's convergence delta agrees with them to {comp.captum_gap:.1e}. "
        f"Note that Captum's riemann_trapezoid weights sum to (n - 1)/n, not 1 "
        f"({w:.4f} for n = {n}): its nodes are linspace(0, 1, n) but each weight is 1/n, halved "
        f"at the ends. So even a linear model keeps a relative error of 1/n under that rule "
        f"(tested in tests/test_attribution.py)."
    )
    rep.figure(
        _completeness_figure(comp),
        "completeness",
        "Worst relative completeness error over the images versus the number of IG steps "
        "(dotted: 1%)",
    )
    rep.table(comp.rows, "completeness", "Relative completeness error of IG")
    rep.table(
        [
            {"output": o, "method": m, "steps for < 1%": _steps_text(cfg, s)}
            for (o, m), s in comp.needed.items()
        ],
        "completeness_steps",
        "Steps needed before the worst error stays under 1%",
    )
    ctx.metrics.update(
        completeness=comp.rows,
        ig_captum_delta_gap=comp.captum_gap,
        ig_steps_for_1pct=comp.needed.get(("logit", cfg.ig_method)),
    )


def _steps_text(cfg, steps: int | None):
    return steps if steps else f"> {max(cfg.completeness_steps)}"


def findings(cfg, comp: Completeness) -> list[str]:
    return [
        "Completeness: the worst relative error stays under 1% from "
        + "; ".join(f"{_steps_text(cfg, s)} steps ({o}, {m})" for (o, m), s in comp.needed.items())
        + f". Captum's convergence delta matches our own check to {comp.captum_gap:.1e}."
    ]


def _completeness_figure(comp: Completeness):
    """Worst relative error against steps, a line per (output, quadrature rule)."""
    plt = figures.plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    styles = {"logit": "-", "softmax": "--"}
    markers = {"riemann_trapezoid": "o", "gausslegendre": "s"}
    for o, m in comp.needed:
        sel = [r for r in comp.rows if r["output"] == o and r["method"] == m]
        ax.plot(
            [r["steps"] for r in sel],
            [max(r["max rel. error"], 1e-9) for r in sel],
            styles[o],
            marker=markers[m],
            label=f"{o}, {m}",
        )
    ax.axhline(0.01, color="k", ls=":", lw=1)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="IG steps (n_steps)",
        ylabel="worst relative completeness error",
    )
    steps = sorted({r["steps"] for r in comp.rows})
    ax.set_xticks(steps, [str(s) for s in steps])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
