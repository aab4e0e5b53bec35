"""The command line as a user meets it: one-line errors, exit codes, list/data/report, resume."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from test_data import make_mnist

A04_SMALL = ["--set", "max_train=200", "--set", "hidden_sizes=16,16,16"]


def nndl(*args, cwd, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "nndl.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_error(proc, pattern, code=2):
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert pattern in lines[0], lines[0]


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["run", "backprpo"], "Unknown study 'backprpo'. Did you mean backprop?"),
        (["run", "a04", "--set", "epochs=3"], "Unknown --set key 'epochs'. Valid keys: dataset,"),
        (["run", "a04", "--set", "lr=fast"], "'lr' expects float; got 'fast'"),
        (["run", "a04", "--set", "dataset=cifar"], "'dataset' must be one of digits, mnist"),
        (["run", "a04", "--profile", "huge"], "Unknown profile 'huge'"),
        (["run", "a04", "--device", "tpu"], "Unknown device 'tpu'"),
    ],
)
def test_bad_input_gets_one_line_and_exit_2(tmp_path, args, pattern):
    assert_one_line_error(nndl(*args, cwd=tmp_path), pattern)


def test_missing_dataset_names_path_layout_and_source(tmp_path):
    proc = nndl(
        "run", "a04", "--profile", "full", "--data-root", tmp_path / "nowhere", cwd=tmp_path
    )
    assert_one_line_error(proc, "Dataset 'mnist' not found under")
    assert "MNIST/raw/" in proc.stderr and "nowhere" in proc.stderr
    manifest = next((tmp_path / "runs" / "a04").glob("*/manifest.json"))
    assert json.loads(manifest.read_text())["status"] == "failed"


def test_corrupt_data_file_is_named(tmp_path):
    raw = make_mnist(tmp_path / "data")
    (raw / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x14abc")
    proc = nndl("run", "a04", "--profile", "full", "--data-root", tmp_path / "data", cwd=tmp_path)
    assert_one_line_error(proc, "Corrupt MNIST file")
    assert "train-labels-idx1-ubyte" in proc.stderr


def test_unwritable_output_folder(tmp_path):
    (tmp_path / "afile").write_text("x")
    proc = nndl(
        "run", "a04", "--profile", "smoke", "--out", tmp_path / "afile" / "runs", cwd=tmp_path
    )
    assert_one_line_error(proc, "is not writable")


def test_list_data_and_dry_run(tmp_path):
    out = nndl("list", cwd=tmp_path)
    assert out.returncode == 0 and "a04" in out.stdout and "backprop" in out.stdout
    data = nndl("data", "--data-root", tmp_path, cwd=tmp_path)
    assert data.returncode == 0 and "mnist" in data.stdout and "missing" in data.stdout
    dry = nndl("run", "a04", "--profile", "full", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0 and "784 -> 256 -> 128 -> 64 -> 10" in dry.stdout
    assert "dataset mnist: missing" in dry.stdout and not (tmp_path / "runs").exists()


def test_same_seed_gives_byte_identical_metrics_and_report_index(tmp_path):
    for _ in range(2):
        assert nndl("run", "a04", "--profile", "smoke", cwd=tmp_path).returncode == 0
    first, second = sorted((tmp_path / "runs" / "a04").glob("*/metrics.json"))
    assert first.read_bytes() == second.read_bytes()
    proc = nndl("report", cwd=tmp_path)
    assert proc.returncode == 0
    index = (tmp_path / "runs" / "index.html").read_text()
    assert "a04" in index and f"a04/{second.parent.name}/report.html" in index
    listing = nndl("list", cwd=tmp_path).stdout
    assert "complete (smoke" in listing


def test_killed_run_resumes_to_the_same_metrics(tmp_path):
    args = ["run", "a04", "--profile", "smoke", *A04_SMALL, "--set", "num_epochs=12"]
    assert nndl(*args, "--out", tmp_path / "ref", cwd=tmp_path).returncode == 0
    ref = next((tmp_path / "ref" / "a04").glob("*/metrics.json")).read_bytes()

    proc = subprocess.Popen(
        [sys.executable, "-m", "nndl.cli", *args],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 240
    ckpt = None
    while time.time() < deadline and proc.poll() is None:  # kill inside the second training
        ckpt = next((tmp_path / "runs" / "a04").glob("*/checkpoints/keras_tape.pt"), None)
        if ckpt is not None:
            break
        time.sleep(0.05)
    assert ckpt is not None and proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    folder = ckpt.parent.parent
    assert json.loads((folder / "manifest.json").read_text())["status"] == "running"
    assert not (folder / "metrics.json").exists()

    resumed = nndl(*args, "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert [p.parent for p in (tmp_path / "runs" / "a04").glob("*/metrics.json")] == [folder]
    assert (folder / "metrics.json").read_bytes() == ref
    assert json.loads((folder / "manifest.json").read_text())["resumed"] is True


def test_resume_with_nothing_to_resume_starts_a_new_run(tmp_path):
    proc = nndl("run", "a04", "--profile", "smoke", "--resume", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "runs" / "a04").glob("*/metrics.json"))) == 1
