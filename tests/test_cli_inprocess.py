"""CLI behaviour that needs studies of its own: `run` going on past a failure, offline mode."""

import os
import time
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from nndl import offline, registry
from nndl.cli import app
from nndl.config import opt
from nndl.errors import DataError, WeightsError


@dataclass(frozen=True)
class TinyConfig:
    value: int = opt(3, "a number")


@pytest.fixture
def fake_studies():
    def ok(ctx):
        ctx.metrics["answer"] = ctx.config.value * 2
        ctx.report.text(f"value doubled: {ctx.metrics['answer']}")

    def broken(ctx):
        raise DataError("Dataset 'nothing' not found under /nowhere.")

    registry.study("z98", "fake-ok", "A study that works", config=TinyConfig, headline=("answer",))(
        ok
    )
    registry.study("z99", "fake-broken", "A study that fails", config=TinyConfig)(broken)
    yield
    for key in ("z98", "z99"):
        registry._STUDIES.pop(key)


def test_run_goes_on_past_a_failure_and_summarises(fake_studies, tmp_path):
    result = CliRunner().invoke(app, ["run", "z99", "z98", "--out", str(tmp_path)])
    assert result.exit_code == 1
    out = result.output
    assert "z99" in out and "failed" in out and "Dataset 'nothing' not found" in out
    assert "z98" in out and "complete" in out and "answer=6" in out
    assert (tmp_path / "z98").is_dir() and (tmp_path / "z99").is_dir()


def test_report_index_shows_failed_and_complete(fake_studies, tmp_path):
    CliRunner().invoke(app, ["run", "z99", "z98", "--out", str(tmp_path)])
    result = CliRunner().invoke(app, ["report", "--out", str(tmp_path)])
    assert result.exit_code == 0
    page = (tmp_path / "index.html").read_text()
    assert "A study that works" in page and "<td>answer</td><td>6</td>" in page
    broken = page[page.index('id="z99"') :]
    assert '<span class="pill failed">failed</span>' in broken
    assert "Dataset &#x27;nothing&#x27; not found" in broken


def test_set_with_several_studies_is_refused(fake_studies, tmp_path):
    result = CliRunner().invoke(app, ["run", "z98", "z99", "--set", "value=1"])
    assert result.exit_code != 0


def test_offline_mode_tells_the_libraries_and_fails_fast(monkeypatch):
    monkeypatch.setenv("NNDL_OFFLINE", "1")
    offline.online.cache_clear()
    for key in offline.OFFLINE_ENV:
        monkeypatch.delenv(key, raising=False)
    assert offline.configure() is False
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["YOLO_OFFLINE"] == "1"
    t0 = time.perf_counter()
    with pytest.raises(WeightsError, match="ResNet-50 ImageNet weights must be downloaded.*--set"):
        offline.require_online("ResNet-50 ImageNet weights", "Pass --set weights_file=PATH.")
    assert time.perf_counter() - t0 < 1.0
    offline.online.cache_clear()
