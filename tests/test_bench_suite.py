"""`nndl bench`: the suite runs, prints ratios with their meaning, and writes a report."""

import json

import numpy as np
from PIL import Image

from nndl.bench_suite import BENCHMARKS, main


def _image_folder(root):
    for name in ("airplane", "cat"):
        d = root / "cifar10" / "train" / name
        d.mkdir(parents=True)
        for i in range(40):
            px = np.random.default_rng(i).integers(0, 255, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(px).save(d / f"{i:04d}.png")


def test_bench_prints_ratios_and_writes_a_report(tmp_path, capsys):
    _image_folder(tmp_path / "data")
    argv = ["--only", "loop,pipeline,amp", "--repeats", "1", "--out", str(tmp_path / "runs")]
    assert main(argv + ["--data-root", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    assert "what 1.0 means" in out and "report:" in out
    (folder,) = (tmp_path / "runs" / "bench").iterdir()
    rows = json.loads((folder / "timings.json").read_text())["rows"]
    by_name = {r["benchmark"]: r for r in rows}
    assert set(by_name) == {"loop", "loop, tiny model", "pipeline", "amp"}
    assert by_name["loop"]["ratio"] > 0 and "overhead" in by_name["loop"]["note"]
    assert by_name["loop"]["what 1.0 means"].endswith("1.0 = no overhead")
    assert by_name["pipeline"]["ratio"] > 0 and "img/s" in by_name["pipeline"]["side a"]
    assert by_name["amp"]["ratio"] is None  # no GPU here: said, not invented
    assert "Benchmarks as ratios" in (folder / "report.html").read_text()


def test_an_unknown_benchmark_is_one_clear_error(tmp_path):
    import pytest

    from nndl.errors import ConfigError

    with pytest.raises(ConfigError, match="Valid: " + ", ".join(BENCHMARKS)):
        main(["--only", "nope", "--out", str(tmp_path)])
