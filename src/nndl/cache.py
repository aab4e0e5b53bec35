"""Trained-model artifacts keyed by (model, dataset, config hash), reused across runs and studies.

a05 and a06 attack the same classifier; a09 and a10 share an autoencoder. The first study to need
an artifact builds it; every later run finds it by key:

    path = ctx.cache.get_or_build("shapes-cnn", key, build=lambda folder: train_and_save(folder))
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nndl.io import read_json, write_json


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
        folder = self.folder(name, key)
        return folder if (folder / "meta.json").exists() else None

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
            write_json(tmp / "meta.json", {"name": name, "key": key, **meta}, digits=None)
            if final.exists():  # a concurrent build won; keep theirs
                shutil.rmtree(tmp)
            else:
                os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return final, False

    def meta(self, folder: Path) -> dict:
        return read_json(folder / "meta.json")
