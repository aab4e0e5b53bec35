"""Trained-model artifacts keyed by (model, dataset, config hash), reused across runs and studies.

a05 and a06 attack the same classifier; a09 and a10 share an autoencoder. The first study to need
an artifact builds it; every later run finds it by key:

    path = ctx.cache.get_or_build("shapes-cnn", key, build=lambda folder: train_and_save(folder))

meta.json records the SHA-256 of every file the build wrote. An artifact whose files no longer
match (truncated, replaced by a foreign file, a damaged meta.json) is set aside and rebuilt, with
a warning, instead of crashing the study that loads it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nndl.io import read_json, write_json

log = logging.getLogger("nndl")


def key_hash(key: dict[str, Any]) -> str:
    blob = json.dumps(key, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class ArtifactCache:
    def __init__(self, root: Path):
        self.root = Path(root)

    @classmethod
    def default(cls, out: Path | str = "runs") -> ArtifactCache:
        """$NNDL_CACHE, else `<out>/_cache` beside the runs that made the artifacts."""
        return cls(Path(os.environ.get("NNDL_CACHE") or Path(out) / "_cache"))

    def folder(self, name: str, key: dict[str, Any]) -> Path:
        return self.root / name / key_hash(key)

    def get(self, name: str, key: dict[str, Any]) -> Path | None:
        """The artifact's folder when it is present and intact; a damaged one is discarded."""
        folder = self.folder(name, key)
        if not (folder / "meta.json").exists():
            return None
        problem = _damage(folder)
        if problem is None:
            return folder
        log.warning("cache: %s is damaged (%s); rebuilding it", folder, problem)
        _discard(folder)
        return None

    def get_or_build(
        self, name: str, key: dict[str, Any], build: Callable[[Path], dict | None]
    ) -> tuple[Path, bool]:
        """(folder, was_cached). `build(tmp_folder)` writes the files and may return metadata.

        The folder appears atomically (built in a temporary folder, then renamed), so an
        interrupted build never leaves a half artifact that a later run would trust.
        """
        found = self.get(name, key)
        if found is not None:
            return found, True
        final = self.folder(name, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=".build-"))
        try:
            meta = build(tmp) or {}
            files = {"files": _checksums(tmp)}
            write_json(tmp / "meta.json", {"name": name, "key": key, **meta, **files}, digits=None)
            if final.exists():  # a concurrent build won; keep theirs
                shutil.rmtree(tmp)
            else:
                os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return final, False

    def meta(self, folder: Path) -> dict:
        """What the build returned, with name and key (not the checksums)."""
        meta = read_json(folder / "meta.json")
        meta.pop("files", None)
        return meta


def _checksums(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under `folder` (but meta.json), by relative path."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != "meta.json":
            digest = hashlib.sha256()
            with path.open("rb") as f:
                for chunk in iter(lambda f=f: f.read(1 << 20), b""):
                    digest.update(chunk)
            out[path.relative_to(folder).as_posix()] = digest.hexdigest()
    return out


def _damage(folder: Path) -> str | None:
    """Why the artifact in `folder` cannot be trusted, or None when it is intact."""
    try:
        meta = read_json(folder / "meta.json")
    except (OSError, ValueError):
        return "meta.json unreadable"
    if not isinstance(meta, dict):
        return "meta.json is not an artifact's"
    expected = meta.get("files")
    if expected is None:  # written before checksums were recorded: nothing to compare
        return None
    if not isinstance(expected, dict):
        return "meta.json is not an artifact's"
    found = _checksums(folder)
    for rel, digest in expected.items():
        if rel not in found:
            return f"{rel} is missing"
        if found[rel] != digest:
            return f"{rel} differs from what was built (truncated or replaced)"
    return None


def _discard(folder: Path) -> None:
    """Move a damaged artifact aside (atomically, so no reader sees half of it), then delete it."""
    aside = folder.with_name(f".damaged-{folder.name}-{os.getpid()}")
    try:
        os.replace(folder, aside)
    except OSError:
        return
    shutil.rmtree(aside, ignore_errors=True)
