"""Ultralytics glue for a07: an offline config folder, datasets in its YOLO format, training and
prediction with its own trainer and predictor.

Offline, Ultralytics makes no network call only when `YOLO_OFFLINE=1`, `YOLO_AUTOINSTALL=0` and
its config folder already holds `Arial.ttf` (it downloads the font for its plots otherwise):
`setup(folder)` points `YOLO_CONFIG_DIR` at a folder under nndl's cache (never the user's home)
and copies matplotlib's DejaVuSans there under that name. It must run before `ultralytics` is
imported, since Ultralytics reads the variable at import.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np


def setup(config_dir: Path) -> None:
    """Prepare Ultralytics' config folder and tell it we are offline when we are."""
    from nndl import offline

    config_dir = Path(config_dir)
    config_dir.mkdir(parents=True, exist_ok=True)
    font = config_dir / "Arial.ttf"
    if not font.exists():
        import matplotlib

        src = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        shutil.copyfile(src, font)
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))
    os.environ.setdefault("YOLO_VERBOSE", "False")
    if not offline.configure():  # sets YOLO_OFFLINE=1 and YOLO_AUTOINSTALL=0
        os.environ["YOLO_OFFLINE"] = "1"
        os.environ["YOLO_AUTOINSTALL"] = "0"


def write_dataset(
    folder: Path, splits: dict[str, tuple[np.ndarray, list]], names: list[str]
) -> Path:
    """Write images and boxes in Ultralytics' YOLO layout; returns the data.yaml path.

    splits: {"train": (images uint8 (N, H, W, 3) RGB or list of such, boxes list of (M, 5)
    (class, x0, y0, x1, y1) in pixels)}. Labels are "class cx cy w h", normalised to [0, 1].
    """
    import cv2
    import yaml

    folder = Path(folder)
    for split, (images, boxes) in splits.items():
        (folder / "images" / split).mkdir(parents=True, exist_ok=True)
        (folder / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i, (img, b) in enumerate(zip(images, boxes, strict=True)):
            h, w = img.shape[:2]
            cv2.imwrite(str(folder / "images" / split / f"{i:06d}.png"), img[..., ::-1])
            b = np.asarray(b, np.float64).reshape(-1, 5)
            lines = [
                f"{int(c)} {(x0 + x1) / 2 / w:.6f} {(y0 + y1) / 2 / h:.6f} "
                f"{(x1 - x0) / w:.6f} {(y1 - y0) / h:.6f}"
                for c, x0, y0, x1, y1 in b
            ]
            (folder / "labels" / split / f"{i:06d}.txt").write_text("\n".join(lines))
    data = {
        "path": str(folder.resolve()),
        "names": dict(enumerate(names)),
        **{split: f"images/{split}" for split in splits},
    }
    if "val" not in splits:
        data["val"] = "images/train"
    path = folder / "data.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def point_yaml(folder: Path) -> Path:
    """Rewrite data.yaml's absolute `path` for where the dataset folder is now (the cache builds
    it in a temporary folder, then renames it)."""
    import yaml

    path = Path(folder) / "data.yaml"
    data = yaml.safe_load(path.read_text())
    if data["path"] != str(Path(folder).resolve()):
        data["path"] = str(Path(folder).resolve())
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def train(
    model_source: str,
    data_yaml: Path,
    project: Path,
    *,
    epochs: int,
    imgsz: int,
    batch: int,
    seed: int,
    workers: int = 0,
    device: str = "cpu",
    extra: dict | None = None,
):
    """Train with Ultralytics' own trainer; returns (model, best weights path).

    `model_source` is a model yaml (`yolov8n.yaml`: random initialisation) or a weights file.
    """
    from nndl import interrupt
    from nndl.offline import yolo_class

    YOLO = yolo_class()

    model = YOLO(model_source)
    args = {
        "data": str(data_yaml),
        "epochs": epochs,
        "imgsz": imgsz,
        "batch": batch,
        "seed": seed,
        "deterministic": True,
        "workers": workers,
        "device": device,
        "project": str(project),
        "name": Path(str(model_source)).stem,
        "exist_ok": True,
        "plots": False,
        "verbose": False,
        "amp": device != "cpu",
        **(extra or {}),
    }
    model.train(**args)
    interrupt.check()  # Ultralytics can swallow a Ctrl-C (in its data loader's __del__)
    best = Path(model.trainer.best)
    return YOLO(str(best)), best


def predict_arrays(model, images, imgsz: int, conf: float = 0.001, device: str = "cpu"):
    """Detections on RGB images: list of dicts (boxes xyxy, scores, labels) and speed dicts."""
    out, speeds = [], []
    for img in images:
        r = model.predict(
            img[..., ::-1].copy(), imgsz=imgsz, conf=conf, device=device, verbose=False
        )[0]
        out.append(result_dict(r))
        speeds.append(dict(r.speed))
    return out, speeds


def result_dict(r) -> dict:
    b = r.boxes
    return {
        "boxes": b.xyxy.cpu().numpy().astype(np.float64),
        "scores": b.conf.cpu().numpy().astype(np.float64),
        "labels": b.cls.cpu().numpy().astype(np.int64),
    }
