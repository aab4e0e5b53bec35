"""Part 1: YOLOv8, YOLO11 and YOLO12 on one video: speed, behaviour, agreement, annotated video."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nndl.errors import ConfigError, DataError, WeightsError


def check_inputs(cfg, data_root) -> Path | None:
    """Fail in seconds on a bad video, missing WIDER FACE or missing YOLO weights."""
    from nndl.data import get_dataset
    from nndl.studies.a07_yolo import YOLO_MODELS

    for m in cfg.models:
        if m not in YOLO_MODELS:
            from nndl.errors import did_you_mean

            raise ConfigError(f"Unknown YOLO model '{m}'.{did_you_mean(m, YOLO_MODELS)}")
    if cfg.v1_size != 32 * cfg.v1_grid:
        raise ConfigError(f"v1_size must be 32 x v1_grid = {32 * cfg.v1_grid}; got {cfg.v1_size}.")
    if cfg.faces == "wider_face":
        info = get_dataset("wider_face")
        if info.locate(data_root) is None:
            raise info.missing_error(data_root)
    if cfg.pretrained:
        for m in cfg.models:
            yolo_weights(m, cfg.weights_dir)
    if cfg.face_weights and not Path(cfg.face_weights).is_file():
        raise WeightsError(f"face_weights file {cfg.face_weights} does not exist.")
    if not cfg.video:
        return None
    return check_video(Path(cfg.video))


def check_video(path: Path) -> Path:
    """The path of a video OpenCV can decode, or a one-line DataError."""
    import cv2

    if not path.is_file():
        raise DataError(f"Video {path} does not exist.")
    cap = cv2.VideoCapture(str(path))
    ok, frame = cap.read() if cap.isOpened() else (False, None)
    cap.release()
    if not ok or frame is None:
        raise DataError(f"Video {path} cannot be decoded by OpenCV (not a video, or corrupt).")
    return path


def yolo_weights(model: str, weights_dir: str) -> Path:
    """`<model>.pt`: from weights_dir, the working folder, or Ultralytics' download."""
    from nndl import offline, weights

    w = weights.get(model)
    found = w.locate(weights_dir)
    if found is not None:
        return found
    if offline.online():
        return Path(w.file)  # Ultralytics downloads it on first use
    raise WeightsError(
        f"{w.file} ({w.description}) not found in weights_dir='{weights_dir}' nor in the "
        f"working folder, and there is no network. {w.how_to_get}"
    )


# -- the models ------------------------------------------------------------------------------------


def scenes_models(ctx, cfg) -> dict:
    """{name: (YOLO model, provenance)}: pretrained files, or each trained from its yaml on the
    same rendered scenes (cached by settings)."""
    from nndl.offline import yolo_class
    from nndl.studies.a07_yolo import ultra

    YOLO = yolo_class()

    if cfg.pretrained:
        return {
            m: (YOLO(str(yolo_weights(m, cfg.weights_dir))), "COCO-pretrained (Ultralytics)")
            for m in cfg.models
        }
    from nndl.data.synthetic.scenes import OBJECTS, render_scenes

    names = list(OBJECTS[: cfg.num_objects])
    key = {
        "size": cfg.image_size,
        "classes": cfg.num_objects,
        "train": cfg.scenes_num_train,
        "val": cfg.scenes_num_val,
        "seed": ctx.seed,
    }

    def build_data(folder: Path):
        x, _, b = render_scenes(cfg.scenes_num_train, cfg.image_size, cfg.num_objects, 3, ctx.seed)
        xv, _, bv = render_scenes(
            cfg.scenes_num_val, cfg.image_size, cfg.num_objects, 3, ctx.seed + 1
        )
        ultra.write_dataset(folder, {"train": (x, b), "val": (xv, bv)}, names)

    data_dir, _ = ctx.cache.get_or_build("a07-scenes-yolo", key, build_data)
    data_yaml = ultra.point_yaml(data_dir)
    out = {}
    for m in cfg.models:
        tkey = {**key, **train_settings(cfg, cfg.image_size), "model": m}
        folder, cached = ctx.cache.get_or_build(
            f"a07-{m}-scenes",
            tkey,
            lambda f, m=m: train_to(f, f"{m}.yaml", data_yaml, cfg, cfg.image_size, ctx),
        )
        ctx.timings[f"{m}_train_s"] = ctx.cache.meta(folder).get("train_s")
        how = "reused from the cache" if cached else "trained in this run"
        out[m] = (
            YOLO(str(folder / "best.pt")),
            f"random init, {cfg.yolo_epochs} epochs on rendered scenes ({how})",
        )
    return out


def train_settings(cfg, imgsz: int) -> dict:
    return {
        "epochs": cfg.yolo_epochs,
        "imgsz": imgsz,
        "batch": cfg.yolo_batch,
        "optimizer": "AdamW",
        "lr0": cfg.yolo_lr,
        "warmup_epochs": cfg.warmup_epochs,
        "mosaic": cfg.mosaic,
    }


def train_to(folder: Path, source: str, data_yaml: Path, cfg, imgsz: int, ctx) -> dict:
    """Train with Ultralytics into a temporary project; keep last.pt as folder/best.pt."""
    import shutil
    import time

    from nndl.studies.a07_yolo import ultra

    s = train_settings(cfg, imgsz)
    t0 = time.perf_counter()
    model, _ = ultra.train(
        source,
        data_yaml,
        folder / "project",
        epochs=s.pop("epochs"),
        imgsz=s.pop("imgsz"),
        batch=s.pop("batch"),
        seed=ctx.seed,
        device="cuda" if ctx.device == "cuda" else "cpu",
        extra={**s, "val": False},
    )
    train_s = time.perf_counter() - t0
    weights = next((folder / "project").rglob("last.pt"))
    shutil.copyfile(weights, folder / "best.pt")
    shutil.rmtree(folder / "project")
    return {"train_s": train_s}


# -- frames ------------------------------------------------------------------------------------------


def prepare_video(ctx, cfg, source: Path | None):
    """(path of the video the models read, ground-truth boxes per frame or None, fps, label)."""
    import cv2

    if source is not None:
        cap = cv2.VideoCapture(str(source))
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        cap.release()
        ctx.provenance(
            "video", f"{source.name} (the user's file: {w}x{h}, {n} frames, {fps:.0f} fps)"
        )
        return source, None, fps, source.name
    from nndl.data.synthetic.scenes import render_video

    frames, boxes = render_video(cfg.num_frames, cfg.image_size, cfg.num_objects, 3, ctx.seed)
    path = ctx.folder / "videos" / "rendered_input.avi"
    write_video(path, frames, 12.0)
    ctx.provenance(
        "video",
        f"rendered by nndl: {cfg.num_frames} frames of {cfg.image_size}x{cfg.image_size}, three "
        "objects moving over a cluttered background, ground-truth boxes known",
    )
    return path, boxes, 12.0, "the rendered video"


def write_video(path: Path, frames_rgb, fps: float) -> None:
    """Lossless MJPG-free writing: FFV1 is not in every OpenCV build, so PNG-in-AVI ('MPNG')."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames_rgb[0].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MPNG"), fps, (w, h))
    for f in frames_rgb:
        out.write(np.ascontiguousarray(f[..., ::-1]))
    out.release()


def draw(frame_bgr, det: dict, names: dict, conf: float, title: str, scale: int):
    """Boxes at or above `conf` with class and confidence, on an upscaled copy."""
    import cv2

    img = cv2.resize(
        frame_bgr,
        None,
        fx=scale,
        fy=scale,
        interpolation=cv2.INTER_NEAREST,
    )
    palette = [(0, 200, 255), (255, 120, 0), (0, 220, 0), (200, 0, 200), (0, 0, 255)]
    for (x0, y0, x1, y1), s, c in zip(det["boxes"], det["scores"], det["labels"], strict=True):
        if s < conf:
            continue
        col = palette[int(c) % len(palette)]
        p0, p1 = (int(x0 * scale), int(y0 * scale)), (int(x1 * scale), int(y1 * scale))
        cv2.rectangle(img, p0, p1, col, 2)
        cv2.putText(img, f"{names[int(c)]} {s:.2f}", (p0[0], max(p0[1] - 4, 10)), 0, 0.4, col, 1)
    cv2.putText(img, title, (4, 14), 0, 0.5, (255, 255, 255), 2)
    cv2.putText(img, title, (4, 14), 0, 0.5, (0, 0, 0), 1)
    return img


# -- part 1 --------------------------------------------------------------------------------------------


def video_detection(ctx, cfg, source: Path | None) -> list[dict]:
    import cv2

    from nndl import bench
    from nndl.methods.detection import agreement, mean_average_precision

    rep = ctx.report
    rep.section("Part 1: YOLOv8, YOLO11 and YOLO12 on a video")
    with ctx.timer("part1_models_s"):
        models = scenes_models(ctx, cfg)
    path, gt, fps_in, label = prepare_video(ctx, cfg, source)
    imgsz = cfg.image_size if not cfg.pretrained else 640
    frames = []  # RGB frames, kept only when small (strip figure)
    per_model, speeds, first = {}, {}, next(iter(models))
    writers = {}
    scale = max(1, 384 // max(cfg.image_size, 1)) if gt is not None else 1
    for name, (model, _) in models.items():
        dets, sp = [], []
        names = model.names
        stream = model.predict(
            str(path), stream=True, imgsz=imgsz, conf=0.001, verbose=False, device=_dev(ctx)
        )
        for i, r in enumerate(stream):
            if cfg.max_frames and i >= cfg.max_frames:
                break
            from nndl.studies.a07_yolo.ultra import result_dict

            d = result_dict(r)
            dets.append(d)
            sp.append(dict(r.speed))
            if name == first and len(frames) < 400:
                frames.append(r.orig_img[..., ::-1].copy())
            img = draw(r.orig_img, d, names, cfg.conf, name, scale)
            if name not in writers:
                h, w = img.shape[:2]
                writers[name] = cv2.VideoWriter(
                    str(ctx.folder / "videos" / f"annotated_{name}.mp4"),
                    cv2.VideoWriter_fourcc(*"mp4v"),
                    fps_in,
                    (w, h),
                )
            writers[name].write(img)
        writers[name].release()
        per_model[name], speeds[name] = dets, sp
    # -- measurements
    n_frames = len(per_model[first])
    if gt is not None:
        gt = gt[:n_frames]
    rows, behaviour, timing_rows = [], [], []
    shown = {m: [_above(d, cfg.conf) for d in dets] for m, dets in per_model.items()}
    for name, (model, prov) in models.items():
        sp = speeds[name]
        total = np.array([s["preprocess"] + s["inference"] + s["postprocess"] for s in sp])
        med = float(np.median(total))
        timing_rows.append(
            {
                "model": name,
                "fps": 1000 / med,
                "median ms": med,
                "p90 ms": float(np.percentile(total, 90)),
                "pre-process ms": float(np.median([s["preprocess"] for s in sp])),
                "inference ms": float(np.median([s["inference"] for s in sp])),
                "NMS ms": float(np.median([s["postprocess"] for s in sp])),
            }
        )
        ctx.timings[f"{name}_video_fps"] = 1000 / med
        counts = [len(d["scores"]) for d in shown[name]]
        confs = np.concatenate([d["scores"] for d in shown[name]] or [np.zeros(0)])
        row = {
            "model": name,
            f"detections/frame (conf >= {cfg.conf})": float(np.mean(counts)),
            "max/frame": int(max(counts, default=0)),
            "median confidence": float(np.median(confs)) if len(confs) else float("nan"),
        }
        params = bench.count_params(model.model)
        result = {
            "detector": name,
            "task": f"objects, {label}",
            "weights": prov,
            "parameters": params,
            "fps": 1000 / med,
        }
        if gt is not None:
            targets = [{"boxes": b[:, 1:], "labels": b[:, 0]} for b in gt]
            m = mean_average_precision(per_model[name], targets)
            row["mAP@0.5"], row["mAP@0.5:0.95"] = m["map_50"], m["map"]
            result["mAP@0.5"], result["mAP@0.5:0.95"] = m["map_50"], m["map"]
            ctx.metrics[f"video_{name}_map_50"] = m["map_50"]
            ctx.metrics[f"video_{name}_map"] = m["map"]
        ctx.metrics[f"video_{name}_detections_per_frame"] = float(np.mean(counts))
        behaviour.append(row)
        rows.append(result)
    # -- agreement between models, boxes matched one-to-one at IoU >= 0.5 with the same class
    agree_rows, per_frame_agree = [], {}
    names_ = list(models)
    for i, a in enumerate(names_):
        for b in names_[i + 1 :]:
            per = [
                agreement(x["boxes"], y["boxes"], 0.5, x["labels"], y["labels"])
                for x, y in zip(shown[a], shown[b], strict=True)
            ]
            from nndl.methods.detection import match_count

            matched = sum(
                match_count(x["boxes"], y["boxes"], 0.5, x["labels"], y["labels"])
                for x, y in zip(shown[a], shown[b], strict=True)
            )
            n = sum(
                len(x["scores"]) + len(y["scores"]) for x, y in zip(shown[a], shown[b], strict=True)
            )
            per_frame_agree[f"{a} vs {b}"] = per
            overall = 2 * matched / n if n else 1.0
            agree_rows.append(
                {
                    "pair": f"{a} vs {b}",
                    "matched boxes": matched,
                    "overall agreement": overall,
                    "mean per-frame agreement": float(np.mean(per)),
                    "frames in full agreement": float(np.mean(np.isclose(per, 1.0))),
                }
            )
            ctx.metrics[f"agreement_{a}_{b}"] = overall
    # -- report
    how = (
        "loaded from their COCO-pretrained files"
        if cfg.pretrained
        else (
            f"each built from its Ultralytics yaml with random weights and trained the same way on "
            f"{cfg.scenes_num_train} rendered scenes ({cfg.num_objects} shape classes) at "
            f"{cfg.image_size} px: {cfg.yolo_epochs} epochs, batch {cfg.yolo_batch}, AdamW lr0 "
            f"{cfg.yolo_lr}, warmup_epochs={cfg.warmup_epochs:g}, mosaic={cfg.mosaic:g} (with "
            "Ultralytics' defaults, 3 warm-up epochs and mosaic, such short from-scratch training "
            "stays at mAP 0)"
        )
    )
    rep.text(
        f"The three models, {how}, read {label} ({n_frames} frames) through Ultralytics' own video "
        f"source (`model.predict(path, stream=True)`) at imgsz {imgsz}. Detections are kept from "
        f"confidence 0.001 for mAP; behaviour counts those at or above {cfg.conf}."
    )
    rep.table(timing_rows, "video_speed", "Speed per frame (Ultralytics' own split, batch 1)")
    rep.table(behaviour, "video_behaviour", "Detection behaviour on the video")
    rep.table(agree_rows, "video_agreement", "Agreement: boxes matched at IoU >= 0.5, same class")
    rep.table(class_histogram(shown, models), "video_classes", "Detections per class")
    confidence_figure(ctx, shown, per_frame_agree)
    strip_figure(ctx, frames, shown, models, gt, cfg.conf)
    rep.text(
        "Annotated videos: "
        + ", ".join(f"videos/annotated_{m}.mp4" for m in models)
        + f" (boxes at confidence >= {cfg.conf})."
    )
    return rows


def _dev(ctx) -> str:
    return "cuda" if ctx.device == "cuda" else "cpu"


def _above(d: dict, conf: float) -> dict:
    keep = d["scores"] >= conf
    return {k: v[keep] for k, v in d.items()}


def class_histogram(shown, models) -> list[dict]:
    rows = []
    for name, (model, _) in models.items():
        labels = np.concatenate([d["labels"] for d in shown[name]] or [np.zeros(0, int)])
        counts = {
            model.names[int(c)]: int(n)
            for c, n in zip(*np.unique(labels, return_counts=True), strict=True)
        }
        top = sorted(counts.items(), key=lambda kv: -kv[1])[:8]
        rows.append({"model": name, **dict(top)})
    return rows


def confidence_figure(ctx, shown, per_frame_agree) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 3.6))
    for name, dets in shown.items():
        confs = np.concatenate([d["scores"] for d in dets] or [np.zeros(0)])
        ax[0].hist(confs, bins=20, range=(0, 1), histtype="step", lw=2, label=name)
        ax[1].plot([len(d["scores"]) for d in dets], label=name, lw=1.5)
    ax[0].set(xlabel="confidence", ylabel="detections", title="Confidence of shown detections")
    ax[1].set(xlabel="frame", ylabel="detections", title="Detections per frame")
    ax[0].legend()
    ax[1].legend()
    ctx.report.figure(fig, "video_confidence", "Confidence distribution and detections per frame")


def strip_figure(ctx, frames, shown, models, gt, conf) -> None:
    """A frame strip: rows = models (and the ground truth when known), columns = frames."""
    import matplotlib.patches as patches
    import matplotlib.pyplot as plt

    n = len(frames)
    cols = np.linspace(0, n - 1, min(5, n)).round().astype(int)
    rows = (["ground truth"] if gt is not None else []) + list(models)
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(2.6 * len(cols), 2.4 * len(rows)))
    axes = np.atleast_2d(axes)
    for r, who in enumerate(rows):
        for c, t in enumerate(cols):
            ax = axes[r, c]
            ax.imshow(frames[t])
            ax.set_xticks([])
            ax.set_yticks([])
            if who == "ground truth":
                boxes, labels = gt[t][:, 1:], gt[t][:, 0]
            else:
                boxes, labels = shown[who][t]["boxes"], shown[who][t]["labels"]
            for (x0, y0, x1, y1), lab in zip(boxes, labels, strict=True):
                ax.add_patch(
                    patches.Rectangle(
                        (x0, y0), x1 - x0, y1 - y0, fill=False, lw=1.5, color=f"C{int(lab) % 10}"
                    )
                )
            if c == 0:
                ax.set_ylabel(who)
            if r == 0:
                ax.set_title(f"frame {t}")
    ctx.report.figure(
        fig, "video_strip", f"Frames of the video with each model's boxes (confidence >= {conf})"
    )
