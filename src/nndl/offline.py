"""One fast network check; when offline, the libraries are told so and fail in about a second.

Hugging Face (hub, datasets, transformers), Ultralytics and torch.hub otherwise retry for a minute
before failing. `NNDL_OFFLINE=1` skips the check (the test suite sets it).
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
