"""The data registry: every dataset a study may read, where it is looked for and how to get it.

`nndl data` lists them. A loader that cannot find its files raises `DataError` at once with the
path it looked in, the layout it expects and how to obtain it; a corrupt file is named.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nndl.errors import DataError, did_you_mean


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    kind: str  # "embedded" (ships with a dependency or is rendered) | "real" | "user"
    description: str
    layout: str  # the published layout expected under --data-root ("" for embedded)
    how_to_get: str
    check: Callable[[Path], Path | None] | None = None  # data_root -> dataset folder if present

    def locate(self, data_root: Path) -> Path | None:
        return None if self.check is None else self.check(Path(data_root))

    def missing_error(self, data_root: Path) -> DataError:
        return DataError(
            f"Dataset '{self.name}' not found under {Path(data_root).resolve()}: expected "
            f"{self.layout}. {self.how_to_get}"
        )


_DATASETS: dict[str, DatasetInfo] = {}


def register(info: DatasetInfo) -> DatasetInfo:
    _DATASETS[info.name] = info
    return info


def _load_all() -> None:
    """Import every module of this package once: each registers its datasets."""
    import importlib
    import pkgutil

    import nndl.data

    for mod in pkgutil.walk_packages(nndl.data.__path__, "nndl.data."):
        importlib.import_module(mod.name)


def all_datasets() -> list[DatasetInfo]:
    _load_all()
    return [_DATASETS[k] for k in sorted(_DATASETS)]


def get_dataset(name: str) -> DatasetInfo:
    all_datasets()
    if name not in _DATASETS:
        raise DataError(f"Unknown dataset '{name}'.{did_you_mean(name, _DATASETS)}")
    return _DATASETS[name]
