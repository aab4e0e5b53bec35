"""Offline, proven: the suite's sockets are blocked, and `nndl fetch` says what a run lacks."""

import os
import socket
import subprocess
import sys
import time

import pytest

from nndl.offline import NetworkBlocked


def test_the_suite_cannot_reach_the_network():
    assert os.environ["NNDL_BLOCK_NETWORK"] == "1"
    with pytest.raises(NetworkBlocked, match="203.0.113.7"):
        socket.create_connection(("203.0.113.7", 443), timeout=1)  # TEST-NET-3 address
    with pytest.raises(NetworkBlocked, match="lookup of huggingface.co"):
        socket.getaddrinfo("huggingface.co", 443)
    s = socket.socket()
    try:
        with pytest.raises(NetworkBlocked):
            s.connect_ex(("198.51.100.1", 80))
    finally:
        s.close()


def test_loopback_and_unix_sockets_stay_open(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    try:
        with socket.create_connection(server.getsockname(), timeout=2):
            conn, _ = server.accept()
            conn.close()
    finally:
        server.close()
    a, b = socket.socketpair()
    a.sendall(b"x")
    assert b.recv(1) == b"x"
    a.close()
    b.close()


def test_the_guard_reaches_commands_the_tests_launch():
    code = (
        "from nndl.offline import guard_from_env; guard_from_env()\n"
        "import urllib.request\n"
        "urllib.request.urlopen('http://example.com', timeout=5)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "network blocked" in r.stderr


def test_fetch_offline_lists_what_a_full_run_lacks_and_exits_2(tmp_path):
    env = {**os.environ, "NNDL_OFFLINE": "0"}  # probe for real: the guard makes the probe fail
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "nndl.cli", "fetch", "a04", "a12", "--data-root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    seconds = time.perf_counter() - t0
    out = r.stdout + r.stderr
    assert r.returncode == 2, out
    assert "dataset mnist: MISSING" in out and "dataset cifar10: MISSING" in out
    assert "no network here" in out and "Traceback" not in out
    assert seconds < 90, seconds  # import time under load; no download retries


def test_fetch_for_quick_needs_nothing_and_exits_0():
    r = subprocess.run(
        [sys.executable, "-m", "nndl.cli", "fetch", "a04", "--profile", "quick"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "nothing to fetch" in r.stdout


def test_fetch_finds_a_dataset_that_is_present(tmp_path):
    from nndl import fetch
    from nndl.registry import get_study

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    assets = {a.name: a for a in fetch.assets(get_study("a04"), "full", tmp_path)}
    assert not assets["mnist"].present and assets["mnist"].fetch is not None
    for name in ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1"):
        (raw / f"{name}-ubyte").write_bytes(b"")  # located by name; read only by a run
    assets = {a.name: a for a in fetch.assets(get_study("a04"), "full", tmp_path)}
    assert assets["mnist"].present
