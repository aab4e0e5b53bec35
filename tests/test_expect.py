"""Expected ranges and the verdict, failure-mode detectors, the seed summary."""

import json
import math

import numpy as np
import pytest

from nndl import detectors as D
from nndl.expect import Expect, exceeds_spread, headline_line, lookup, summary, verdict
from nndl.report import Report


def test_expect_refuses_best_on_test_and_a_full_range_without_a_source():
    with pytest.raises(ValueError, match="never best on test"):
        Expect("acc", epoch_rule="best-test")
    with pytest.raises(ValueError, match="source"):
        Expect("acc", full=(0.9, 1.0))
    with pytest.raises(ValueError, match="low, high"):
        Expect("acc", quick=(0.9, 0.1))


def test_verdict_in_out_missing_and_no_range():
    expectations = [
        Expect("acc", quick=(0.8, 1.0), full=(0.9, 1.0), source="paper"),
        Expect("loss", quick=(0.0, 0.5)),
        Expect("sweep.1.success", quick=(0.5, 1.0)),
        Expect("absent", quick=(0, 1)),
        Expect("nan", quick=(0, 1)),
    ]
    metrics = {
        "acc": 0.85,
        "loss": 0.7,
        "sweep": [{"success": 0.1}, {"success": 0.9}],
        "nan": math.nan,
    }
    rows = verdict(expectations, metrics, "quick")
    assert [r["status"] for r in rows] == ["in", "out", "in", "missing", "out"]
    assert summary(rows) == {"checked": 4, "in": 2, "out": 2, "missing": 1}
    line = headline_line(rows, "quick")
    assert "2 of 4" in line and "OUTSIDE: loss, nan" in line and "not produced: absent" in line
    full = verdict(expectations, metrics, "full")
    assert [r["status"] for r in full][:2] == ["out", "no range"]  # 0.85 < 0.9; no full range
    assert full[0]["source"] == "paper"
    assert lookup({"a.b": 1, "a": {"b": 2}}, "a.b") == 1  # a flat key with a dot wins


def test_exceeds_spread_is_paired_over_seeds():
    # arm a beats b by 0.02 on every seed, noise in both arms cancels when paired
    a, b = [0.70, 0.75, 0.80], [0.68, 0.73, 0.78]
    assert exceeds_spread(a, b)["exceeds"] is True
    noisy = exceeds_spread([0.70, 0.60, 0.80], [0.72, 0.70, 0.66])
    assert noisy["exceeds"] is False and "within the seed spread" in noisy["text"]
    assert exceeds_spread(0.9, 0.8)["exceeds"] is None  # one seed: nothing can be said
    with pytest.raises(ValueError):
        exceeds_spread([1, 2], [1])


def test_gan_detectors_fire_on_a_winning_discriminator_and_collapsed_samples():
    assert D.discriminator_loss_near_zero([1.4, 1.2, 1.3, 1.1]).passed
    fired = D.discriminator_loss_near_zero([1.0, 0.1, 0.01, 0.002, 0.001])
    assert not fired.passed and fired.line().startswith("FAIL")
    assert D.generator_gradient_vanishing([5.0, 6.0, 7.0, 8.0]).passed
    assert not D.generator_gradient_vanishing([9.0, 1.0, 0.01, 0.001, 0.001]).passed
    rng = np.random.default_rng(0)
    real = rng.normal(size=(32, 3, 8, 8))
    assert D.diversity_collapse(rng.normal(size=(32, 3, 8, 8)), real).passed
    one_mode = np.repeat(rng.normal(size=(1, 3, 8, 8)), 32, 0) + 0.01 * rng.normal(
        size=(32, 3, 8, 8)
    )
    assert not D.diversity_collapse(one_mode, real).passed


def test_embedding_and_margin_detectors():
    rng = np.random.default_rng(0)
    assert D.embedding_collapse(rng.normal(size=(50, 16))).passed
    collapsed = np.ones((50, 16)) + 1e-4 * rng.normal(size=(50, 16))
    assert not D.embedding_collapse(collapsed).passed
    assert not D.loss_at_margin(0.2001, margin=0.2).passed
    assert D.loss_at_margin(0.05, margin=0.2).passed


def test_posterior_collapse_counts_active_dimensions():
    mu = np.zeros((100, 8))
    logvar = np.zeros((100, 8))
    kl = D.kl_per_dimension(mu, logvar)
    assert np.allclose(kl, 0) and not D.posterior_collapse(kl).passed
    mu[:, 3] = np.random.default_rng(0).normal(size=100) * 2  # one informative dimension
    check = D.posterior_collapse(D.kl_per_dimension(mu, logvar))
    assert check.passed and check.value == 1.0
    # the closed form against a Monte Carlo estimate of KL(N(1, 0.5^2) || N(0, 1))
    z = np.random.default_rng(1).normal(1.0, 0.5, size=200_000)
    log_q = -0.5 * ((z - 1) / 0.5) ** 2 - np.log(0.5)
    log_p = -0.5 * z**2
    mc = float((log_q - log_p).mean())
    assert D.kl_per_dimension([[1.0]], [[2 * np.log(0.5)]])[0] == pytest.approx(mc, abs=0.01)


def test_unigram_entropy_and_mlm_check():
    assert D.unigram_entropy([0, 1, 2, 3] * 10) == pytest.approx(math.log(4))
    assert D.unigram_entropy([5] * 7) == pytest.approx(0.0)
    h = D.unigram_entropy([0, 0, 1, 2])
    assert D.mlm_beats_unigram(h - 0.5, h).passed and not D.mlm_beats_unigram(h, h).passed


def test_comparison_masking_and_attribution_detectors():
    assert not D.better_than("kd", 0.40, 0.41, "kd", "alone").passed
    assert D.better_than("kd", 0.45, 0.41, "kd", "alone").passed
    assert not D.within_of("vit", 0.12, 0.49, "ViT", "CNN").passed
    assert D.gradient_masking(0.6, 0.9).passed and not D.gradient_masking(0.6, 0.3).passed
    rng = np.random.default_rng(0)
    m = rng.random((14, 14))
    assert not D.attribution_randomisation(m, m * 2 + 1e-6).passed  # same ranks: insensitive
    assert D.attribution_randomisation(m, rng.random((14, 14))).passed


def test_report_opens_with_the_verdict_and_checks(tmp_path):
    rep = Report(tmp_path, "t")
    rep.section("Body")
    rows = verdict(
        [
            Expect("acc", quick=(0.5, 1.0), definition="correct / all"),
            Expect("loss", quick=(0, 0.1)),
        ],
        {"acc": 0.7, "loss": 0.3},
        "quick",
    )
    rep.verdict = (headline_line(rows, "quick"), rows)
    rep.checks = [D.posterior_collapse([0.0, 0.0]).line()]
    md = rep.to_markdown()
    assert md.index("## Verdict") < md.index("## Checks") < md.index("## Body")
    assert "| loss | 0.3 | 0 to 0.1 | OUT |" in md
    assert "FAIL VAE posterior collapse" in md
    assert "- acc: correct / all" in md  # the metric's definition, under the table
    html = rep.to_html()
    assert '<tr class="out">' in html and 'class="fail"' in html


def test_seeds_summary_over_separate_runs(tmp_path):
    from nndl.registry import Study
    from nndl.seeds import parse_seeds, summarize

    assert parse_seeds("0,1,2") == [0, 1, 2] and parse_seeds("3-5") == [3, 4, 5]
    from nndl.errors import ConfigError

    for bad in ("a,b", "1,1", ""):
        with pytest.raises(ConfigError):
            parse_seeds(bad)
    study = Study(
        "z99",
        "z",
        "Z",
        object,
        lambda ctx: None,
        headline=("acc",),
        expect=(Expect("acc", quick=(0.5, 0.7)),),
    )
    folders = []
    for seed, acc in enumerate((0.6, 0.7, 0.8)):
        f = tmp_path / f"run{seed}"
        f.mkdir()
        (f / "manifest.json").write_text(json.dumps({"seed": seed}))
        fired = [{"name": "x", "passed": seed != 2}]
        (f / "metrics.json").write_text(json.dumps({"acc": acc, "detectors": fired}))
        folders.append(f)
    out = summarize(study, folders, tmp_path / "runs", "quick")
    s = json.loads((out / "summary.json").read_text())
    assert s["numbers"]["acc"]["mean"] == pytest.approx(0.7)
    assert s["numbers"]["acc"]["std"] == pytest.approx(0.1)
    assert s["verdict"]["acc"] == {"range": [0.5, 0.7], "mean_in_range": True, "seeds_in_range": 2}
    assert s["detectors_fired"] == {"x": 1}
    assert "0.7 +- 0.1" in (out / "summary.md").read_text()


def test_pgd_stays_in_its_ball_and_beats_fgsm_on_an_honest_gradient():
    import torch

    from nndl.methods.fgsm import fgsm, pgd

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(48, 32), torch.nn.Tanh(), torch.nn.Linear(32, 4)
    )
    x = torch.rand(64, 3, 4, 4)
    y = model(x).argmax(1)  # attack the model's own predictions
    eps = 0.03
    x_pgd = pgd(model, x, y, eps, steps=10)
    assert (x_pgd - x).abs().max() <= eps + 1e-6 and x_pgd.min() >= 0 and x_pgd.max() <= 1
    flipped = {
        "fgsm": (model(fgsm(model, x, y, eps)).argmax(1) != y).float().mean().item(),
        "pgd": (model(x_pgd).argmax(1) != y).float().mean().item(),
    }
    assert 0 < flipped["fgsm"] <= flipped["pgd"], flipped
    assert D.gradient_masking(flipped["fgsm"], flipped["pgd"]).passed


def test_run_with_seeds_writes_one_summary_and_a_verdict_per_run(tmp_path):
    from dataclasses import dataclass

    from typer.testing import CliRunner

    from nndl import registry
    from nndl.cli import app
    from nndl.config import opt

    @dataclass(frozen=True)
    class Cfg:
        value: int = opt(3, "a number")

    def run(ctx):
        ctx.metrics["acc"] = 0.5 + 0.1 * ctx.seed  # seed 2 lands outside the range below
        ctx.metrics["loss"] = 1.0
        ctx.check(D.posterior_collapse([0.0, 0.5]))

    registry.study(
        "z97",
        "fake-seeds",
        "Seeds",
        config=Cfg,
        headline=("acc",),
        expect=(Expect("acc", quick=(0.4, 0.65)),),
        checks=(
            lambda m: D.better_than("acc vs loss", m["acc"], m["loss"], "acc", "loss"),
            lambda m: D.better_than("absent", m["nothing"], 0, "a", "b"),  # skipped: no input
        ),
    )(run)
    try:
        result = CliRunner().invoke(app, ["run", "z97", "--seeds", "0,1,2", "--out", str(tmp_path)])
    finally:
        registry._STUDIES.pop("z97")
    assert result.exit_code == 0, result.output  # out of range is not an error
    said = " ".join(result.output.split())  # the console wraps long lines
    assert "OUTSIDE: acc" in said and "check fired: acc vs loss" in said
    runs = sorted(p for p in (tmp_path / "z97").iterdir() if (p / "manifest.json").exists())
    assert [json.loads((p / "manifest.json").read_text())["seed"] for p in runs] == [0, 1, 2]
    metrics = json.loads((runs[2] / "metrics.json").read_text())
    assert metrics["verdict"]["summary"] == {"checked": 1, "in": 0, "out": 1, "missing": 0}
    assert [c["name"] for c in metrics["detectors"]] == ["VAE posterior collapse", "acc vs loss"]
    md = (runs[0] / "report.md").read_text()
    assert md.index("## Verdict") < md.index("## Checks")

    # a run whose settings differ from the profile's: its numbers are shown, not judged
    registry.study("z97", "fake-seeds", "Seeds", config=Cfg, headline=("acc",),
                   expect=(Expect("acc", quick=(0.4, 0.45)),))(run)  # fmt: skip
    try:
        out = tmp_path / "changed"
        result = CliRunner().invoke(app, ["run", "z97", "--set", "value=4", "--out", str(out)])
    finally:
        registry._STUDIES.pop("z97")
    assert result.exit_code == 0, result.output
    (folder,) = (out / "z97").iterdir()
    v = json.loads((folder / "metrics.json").read_text())["verdict"]
    assert v["changed"] == ["value=4"] and v["rows"][0]["status"] == "changed settings"
    assert (
        v["summary"]["out"] == 0 and "changed the quick profile's settings (value=4)" in v["line"]
    )
    assert "not judged (settings changed)" in (folder / "report.md").read_text()
    (summary,) = (tmp_path / "z97").glob("seeds-*/summary.json")
    s = json.loads(summary.read_text())
    assert s["seeds"] == [0, 1, 2] and s["numbers"]["acc"]["mean"] == pytest.approx(0.6)
    assert s["verdict"]["acc"]["seeds_in_range"] == 2 and s["detectors_fired"] == {"acc vs loss": 3}
