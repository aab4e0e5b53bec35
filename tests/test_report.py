import csv
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from nndl.io import atomic_write, round_floats, write_json  # noqa: E402
from nndl.report import Report, fmt  # noqa: E402


def _report(tmp_path):
    rep = Report(tmp_path, "t01: <Title> & more")
    rep.provenance["data"] = "embedded stand-in"
    rep.section("Results")
    rep.text("x < y & z")
    rep.table(
        [{"model": "a|b", "acc": 0.91234567}, {"model": "<c>", "acc": 1e-7, "extra": 12345}],
        "results",
        "Accuracy",
    )
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    rep.figure(fig, "line", "A line")
    rep.math(r"\frac{\partial L}{\partial W_1} = X^{\top}\delta_1", "the update")
    rep.write()
    return rep


def test_markdown_has_math_tables_and_relative_figures(tmp_path):
    _report(tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "$$\n\\frac{\\partial L}{\\partial W_1}" in md
    assert "| a\\|b | 0.9123 |" in md
    assert "![A line](figures/line.png)" in md
    assert "**data**: embedded stand-in" in md
    assert (tmp_path / "figures" / "line.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_html_is_escaped_offline_and_renders_math_as_mathml(tmp_path):
    _report(tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert "&lt;Title&gt; &amp; more" in page and "<Title>" not in page
    assert "x &lt; y &amp; z" in page and "&lt;c&gt;" in page
    assert "<math" in page and "<mfrac>" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/1998/Math/MathML"', "")
    assert "https://" not in page


def test_tables_are_saved_as_csv_with_all_columns(tmp_path):
    _report(tmp_path)
    with open(tmp_path / "tables" / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["model"] for r in rows] == ["a|b", "<c>"]
    assert rows[1]["extra"] == "12345" and float(rows[0]["acc"]) == 0.91234567


def test_fmt():
    assert fmt(0.123456) == "0.1235"
    assert fmt(123456) == "123,456"
    assert fmt(1e-7) == "1.000e-07"
    assert fmt(None) == ""


def test_json_is_rounded_sorted_and_atomic(tmp_path):
    path = write_json(tmp_path / "m.json", {"b": 1 / 3, "a": [2 / 3, float("nan")]})
    assert json.loads(path.read_text()) == {"a": [0.666667, "nan"], "b": 0.333333}
    assert round_floats(123456789.0) == 123457000.0
    atomic_write(tmp_path / "x.txt", "one")
    atomic_write(tmp_path / "x.txt", "two")
    assert (tmp_path / "x.txt").read_text() == "two"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
