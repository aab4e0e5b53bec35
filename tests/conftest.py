"""Test session setup: nothing is written outside temporary folders, nothing touches the network.

HOME, caches and library config folders are redirected before any library is imported.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_TMP_HOME = Path(tempfile.mkdtemp(prefix="nndl-test-home-"))
for var, sub in {
    "HOME": "",
    "XDG_CACHE_HOME": ".cache",
    "XDG_CONFIG_HOME": ".config",
    "MPLCONFIGDIR": ".config/matplotlib",
    "KERAS_HOME": ".keras",
    "TORCH_HOME": ".cache/torch",
    "HF_HOME": ".cache/huggingface",
    "NNDL_CACHE": ".cache/nndl",
}.items():
    os.environ[var] = str(_TMP_HOME / sub)
os.environ["NNDL_OFFLINE"] = "1"  # no network probes: loaders must fail fast
# Proof that nothing reaches the network: every connection or name lookup to a non-local host
# raises, in this process and in every `nndl` command the tests launch (nndl.offline).
os.environ["NNDL_BLOCK_NETWORK"] = "1"
os.environ["NNDL_QUIET"] = "1"
os.environ.setdefault("KERAS_BACKEND", "torch")
# Tests run several processes at once (CLI subprocesses, two DDP ranks): spinning OpenMP pools
# would steal the cores from each other. Speed is measured in benchmarks, never here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from nndl.offline import block_network  # noqa: E402 - after the environment above

block_network()

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def pytest_addoption(parser):
    parser.addoption(
        "--slow",
        action="store_true",
        help="also run the slow tier (@pytest.mark.slow: quick-profile runs checked against "
        "their expected ranges); NNDL_SLOW=1 does the same",
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow") or os.environ.get("NNDL_SLOW", "") not in ("", "0"):
        return
    skip = pytest.mark.skip(reason="slow tier: run with --slow (or NNDL_SLOW=1)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_TMP_HOME, ignore_errors=True)


@pytest.fixture
def shared_data() -> Path:
    """../shared/data (real public data packs); the test is skipped where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA.resolve()


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory) -> Path:
    """A runs folder after `nndl run all --profile smoke` (plus a04 with seed 1), made once per session.

    Run through the real command line, as a user would; a study that fails there stays failed in
    the folder (its own smoke test in test_studies.py says why). Tests only read this folder.
    NNDL_SMOKE_RUNS=DIR reuses such a folder made earlier (to iterate on a test in seconds).
    """
    import subprocess
    import sys

    if os.environ.get("NNDL_SMOKE_RUNS"):
        return Path(os.environ["NNDL_SMOKE_RUNS"])
    base = tmp_path_factory.mktemp("smoke-run-all")
    out = base / "runs"
    common = ["--profile", "smoke", "--out", str(out), "--data-root", str(base / "no-data")]
    for args in (["all"], ["a04", "--seed", "1"]):
        subprocess.run(
            [sys.executable, "-m", "nndl.cli", "run", *args, *common],
            cwd=base,
            capture_output=True,
            text=True,
            timeout=1200,
        )
    return out
