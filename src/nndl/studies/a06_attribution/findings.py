"""Section 5: the findings, a bullet per question, each written by the section that measured it."""

from __future__ import annotations

from . import adversarial, completeness, saturation


def findings_section(ctx, cfg, regions, sat, comp) -> None:
    rep = ctx.report
    rep.section("Findings")
    rep.bullets(
        adversarial.findings(cfg, regions.rows, ctx.metrics["num_images"])
        + saturation.findings(sat)
        + completeness.findings(cfg, comp)
    )
