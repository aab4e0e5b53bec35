"""One fast network check; when offline, the libraries are told so and fail in about a second.

Hugging Face (hub, datasets, transformers), Ultralytics and torch.hub otherwise retry for a minute
before failing. `NNDL_OFFLINE=1` skips the check (the test suite sets it).

`NNDL_BLOCK_NETWORK=1` goes further and proves it: `block_network()` makes every socket connection
to a non-local address (and every name lookup of a non-local host) raise `NetworkBlocked`, so a
smoke or quick run that tried to download anything would fail, not quietly succeed where a
network exists. The test suite sets it for itself and for every `nndl` command it launches;
Unix sockets and loopback (torchrun's gloo rendezvous, the browser test's local server) stay open.
"""

from __future__ import annotations

import functools
import os
import socket

from nndl.errors import WeightsError

HUB_HOST = ("huggingface.co", 443)

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "YOLO_OFFLINE": "1",
    "YOLO_AUTOINSTALL": "0",
}


@functools.cache
def online(timeout: float = 1.5) -> bool:
    """True when the model hubs can be reached (one TCP connect, cached for the process)."""
    if os.environ.get("NNDL_OFFLINE", "") not in ("", "0"):
        return False
    try:
        with socket.create_connection(HUB_HOST, timeout=timeout):
            return True
    except OSError:
        return False


class NetworkBlocked(OSError):
    """A connection attempt while NNDL_BLOCK_NETWORK=1 (an OSError, so libraries see a failure)."""


_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", ""}


def _is_local(host) -> bool:
    import ipaddress

    if host is None:
        return True
    host = host.decode() if isinstance(host, bytes) else str(host)
    if host.lower() in _LOCAL_NAMES or host == socket.gethostname():
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


def block_network() -> None:
    """Refuse connections and name lookups to anything but this machine (idempotent)."""
    if getattr(socket.socket.connect, "_nndl_blocked", False):
        return
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            raise NetworkBlocked(
                f"network blocked (NNDL_BLOCK_NETWORK=1): connection to {address[0]}:{address[1]}"
            )

    def connect(self, address):
        check(self, address)
        return real_connect(self, address)

    def connect_ex(self, address):
        check(self, address)
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_local(host):
            raise NetworkBlocked(f"network blocked (NNDL_BLOCK_NETWORK=1): lookup of {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    connect._nndl_blocked = True
    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
    socket.getaddrinfo = getaddrinfo


def guard_from_env() -> None:
    """Install `block_network()` when NNDL_BLOCK_NETWORK is set (the CLI calls this first)."""
    if os.environ.get("NNDL_BLOCK_NETWORK", "") not in ("", "0"):
        block_network()


def configure() -> bool:
    """Tell the libraries when there is no network. Returns whether we are online."""
    is_online = online()
    if not is_online:
        for k, v in OFFLINE_ENV.items():
            os.environ.setdefault(k, v)
    return is_online


def require_online(what: str, how: str) -> None:
    """Fail at once, naming what was needed and how to provide it without a network."""
    if not online():
        raise WeightsError(f"{what} must be downloaded, but there is no network here. {how}")


def yolo_class():
    """Ultralytics' `YOLO`, without its global side effect on Pillow.

    Importing ultralytics replaces `PIL.Image.open` with a wrapper that, on a file Pillow cannot
    identify, tries to install and import `pi_heif` instead of raising; every later study in the
    same process (`nndl run all`) would then report a non-image file as a missing module. The
    original opener is put back, so a bad image stays a clear data error.
    """
    from PIL import Image
    from ultralytics import YOLO
    from ultralytics.utils import patches

    Image.open = getattr(patches, "_image_open", Image.open)
    return YOLO
