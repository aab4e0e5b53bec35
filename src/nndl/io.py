"""Atomic file writes: a reader never sees a half-written file, a crash never leaves one."""

from __future__ import annotations

import errno
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from nndl.errors import NndlError


def _fail(path: Path, e: OSError) -> NndlError:
    if e.errno == errno.ENOSPC:
        return NndlError(f"No space left on device while writing {path}.")
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return NndlError(f"Cannot write {path}: permission denied (choose another --out folder).")
    return NndlError(f"Cannot write {path}: {e.strerror or e}.")


def atomic_write(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write to a temporary file in the same folder, fsync, then rename over `path`."""
    path = Path(path)
    payload = data.encode() if isinstance(data, str) else data
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise _fail(path, e) from e
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return path


def round_floats(value: Any, digits: int = 6) -> Any:
    """Round floats to `digits` significant digits (recursively); non-finite become strings."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: round_floats(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [round_floats(v, digits) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy / torch scalars
        return round_floats(value.item(), digits)
    return value


def write_json(path: str | os.PathLike, obj: Any, *, digits: int | None = 6) -> Path:
    if digits is not None:
        obj = round_floats(obj, digits)
    return atomic_write(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def check_writable(folder: Path) -> None:
    """Fail at once, with one line, when `folder` cannot hold a run's files."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".nndl-write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise NndlError(
            f"Output folder {folder} is not writable ({e.strerror or e}); choose another --out."
        ) from e
