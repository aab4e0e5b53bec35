"""Parts 2 and 3: a YOLOv8n face detector against public face detectors, on one face test split."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class FaceData:
    train: tuple[list, list]  # (RGB images, boxes (N, 5) class 0 + xyxy) training faces
    val: tuple[list, list]
    test_images: list  # RGB images
    test_targets: list  # {"boxes", "labels", "ignore"} per image
    label: str  # what the data is, for the report
    key: dict  # identifies the data for the cache


def face_data(ctx, cfg) -> FaceData:
    if cfg.faces == "wider_face":
        return _wider(ctx, cfg)
    from nndl.data.synthetic.face_scenes import render_face_scenes
    from nndl.data.wider_face import split_train_val

    x, b = render_face_scenes(cfg.face_num_train, cfg.face_size, seed=ctx.seed)
    xt, bt = render_face_scenes(cfg.face_num_test, cfg.face_size, seed=ctx.seed + 1)
    tr, va = split_train_val(list(range(len(x))), cfg.val_fraction, ctx.seed)
    ctx.provenance(
        "data",
        f"rendered face scenes ({cfg.face_size} px, 1-4 faces pasted into cluttered scenes): "
        f"{len(tr)} train / {len(va)} val (seeded split of {len(x)}) / {len(xt)} test",
    )
    return FaceData(
        ([x[i] for i in tr], [b[i] for i in tr]),
        ([x[i] for i in va], [b[i] for i in va]),
        list(xt),
        [{"boxes": bb[:, 1:], "labels": bb[:, 0], "ignore": np.zeros(len(bb), bool)} for bb in bt],
        "rendered face scenes",
        {"faces": "face_scenes", "n": cfg.face_num_train, "size": cfg.face_size, "seed": ctx.seed},
    )


def _wider(ctx, cfg) -> FaceData:
    from nndl.data.wider_face import PUBLISHED, load_split, read_image, split_train_val

    train_all = load_split(ctx.data_root, "train", cfg.max_train)
    test = load_split(ctx.data_root, "val", cfg.max_test)
    tr, va = split_train_val(train_all, cfg.val_fraction, ctx.seed)

    def with_boxes(images):  # invalid faces are left out of training labels
        xs = [read_image(im) for im in images]
        bs = [
            np.concatenate([np.zeros((int((~im.invalid).sum()), 1)), im.boxes[~im.invalid]], 1)
            for im in images
        ]
        return xs, bs

    ctx.provenance(
        "data",
        f"WIDER FACE from {ctx.data_root}: {len(tr)} train / {len(va)} val (seeded split of "
        f"{len(train_all)} of the {PUBLISHED['train']:,} official train images) / {len(test)} "
        f"test (the official val split, {PUBLISHED['val']:,} published)",
    )
    return FaceData(
        with_boxes(tr),
        with_boxes(va),
        [read_image(im) for im in test],
        [
            {"boxes": im.boxes, "labels": np.zeros(len(im.boxes), np.int64), "ignore": im.invalid}
            for im in test
        ],
        "WIDER FACE official val (test)",
        {"faces": "wider_face", "train": [im.name for im in train_all], "seed": ctx.seed},
    )


def face_detectors(ctx, cfg, data: FaceData) -> list[dict]:
    from nndl.methods.detection import mean_average_precision

    rep = ctx.report
    rep.section("Parts 2 and 3: a YOLOv8n face detector against public face detectors")
    results = {"face_yolov8n": yolo_face(ctx, cfg, data)}
    results["haar"] = haar(ctx, cfg, data)
    if cfg.face_weights:
        results["yolov8_face"] = public_yolo_face(ctx, cfg, data)
    rows = []
    for name, r in results.items():
        m = mean_average_precision(r["preds"], data.test_targets)
        ctx.metrics[f"{name}_map_50"], ctx.metrics[f"{name}_map"] = m["map_50"], m["map"]
        ctx.timings[f"{name}_fps"] = r["fps"]
        rows.append(
            {
                "detector": r["label"],
                "task": f"faces, {data.label}",
                "weights": r["weights"],
                "parameters": r["params"],
                "mAP@0.5": m["map_50"],
                "mAP@0.5:0.95": m["map"],
                "fps": r["fps"],
            }
        )
    rep.table(rows, "faces", f"Face detectors on the same {len(data.test_images)} test images")
    examples_figure(ctx, data, results)
    rep.text(
        "The Haar cascade gives no probability; its detections are ranked by "
        "`detectMultiScale3`'s level weights (the boosted score of the last stage), which is "
        "what mAP needs. Its boxes are square and include the forehead; a box drawn from "
        "brows to chin (WIDER's convention) overlaps them less, which costs it most at the "
        "higher IoU thresholds of mAP@0.5:0.95."
    )
    return rows


def yolo_face(ctx, cfg, data: FaceData) -> dict:
    from nndl import bench
    from nndl.offline import yolo_class
    from nndl.studies.a07_yolo import ultra, video

    YOLO = yolo_class()

    imgsz = cfg.face_imgsz
    source = (
        str(video.yolo_weights("yolov8n", cfg.weights_dir)) if cfg.pretrained else "yolov8n.yaml"
    )
    key = {**data.key, **video.train_settings(cfg, imgsz), "source": Path(source).name}

    def build(folder: Path):
        ds = ultra.write_dataset(folder / "data", {"train": data.train, "val": data.val}, ["face"])
        meta = video.train_to(folder, source, ds, cfg, imgsz, ctx)
        import shutil

        shutil.rmtree(folder / "data")
        return meta

    folder, cached = ctx.cache.get_or_build("a07-face-yolov8n", key, build)
    ctx.timings["face_yolov8n_train_s"] = ctx.cache.meta(folder).get("train_s")
    model = YOLO(str(folder / "best.pt"))
    preds, speeds = ultra.predict_arrays(model, data.test_images, imgsz, device=video._dev(ctx))
    ms = np.median([s["preprocess"] + s["inference"] + s["postprocess"] for s in speeds])
    init = "COCO-pretrained yolov8n.pt" if cfg.pretrained else "random init (yolov8n.yaml)"
    return {
        "label": "YOLOv8n face (ours)",
        "weights": f"{init}, fine-tuned {cfg.yolo_epochs} epochs on {len(data.train[0])} "
        f"training images" + (" (reused from the cache)" if cached else ""),
        "params": bench.count_params(model.model),
        "preds": preds,
        "fps": 1000 / ms,
    }


def haar(ctx, cfg, data: FaceData) -> dict:
    import cv2

    from nndl import weights

    w = weights.get("haar_frontalface")
    cascade = cv2.CascadeClassifier(str(w.require()))
    preds, times = [], []
    for img in data.test_images:
        grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        t0 = time.perf_counter()
        boxes, _, scores = cascade.detectMultiScale3(
            grey,
            scaleFactor=cfg.haar_scale,
            minNeighbors=cfg.haar_neighbors,
            minSize=(12, 12),
            outputRejectLevels=True,
        )
        times.append(time.perf_counter() - t0)
        b = np.asarray(boxes, np.float64).reshape(-1, 4)
        preds.append(
            {
                "boxes": np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], 1),
                "scores": np.asarray(scores, np.float64).reshape(-1),
                "labels": np.zeros(len(b), np.int64),
            }
        )
    ctx.provenance("haar", f"{w.description}, from opencv-python {cv2.__version__}")
    return {
        "label": "OpenCV Haar cascade",
        "weights": "haarcascade_frontalface_default.xml (public, as shipped)",
        "params": None,
        "preds": preds,
        "fps": 1 / float(np.median(times)),
    }


def public_yolo_face(ctx, cfg, data: FaceData) -> dict:
    from nndl import bench
    from nndl.offline import yolo_class
    from nndl.studies.a07_yolo import ultra, video

    YOLO = yolo_class()

    model = YOLO(cfg.face_weights)
    preds, speeds = ultra.predict_arrays(
        model, data.test_images, cfg.face_imgsz, device=video._dev(ctx)
    )
    for p in preds:  # a face model has one class; any other class id is not a face
        keep = p["labels"] == 0
        for k in p:
            p[k] = p[k][keep]
    ms = np.median([s["preprocess"] + s["inference"] + s["postprocess"] for s in speeds])
    return {
        "label": "YOLOv8-Face (public)",
        "weights": Path(cfg.face_weights).name + " (the user's file)",
        "params": bench.count_params(model.model),
        "preds": preds,
        "fps": 1000 / ms,
    }


def examples_figure(ctx, data: FaceData, results: dict, conf: float = 0.25) -> None:
    import matplotlib.patches as patches
    import matplotlib.pyplot as plt

    n = min(4, len(data.test_images))
    names = list(results)
    fig, axes = plt.subplots(len(names), n, figsize=(3 * n, 3 * len(names)))
    axes = np.atleast_2d(axes)
    for r, name in enumerate(names):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(data.test_images[c])
            ax.set_xticks([])
            ax.set_yticks([])
            for x0, y0, x1, y1 in data.test_targets[c]["boxes"]:
                ax.add_patch(
                    patches.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="lime", lw=1)
                )
            p = results[name]["preds"][c]
            thr = conf if name != "haar" else -np.inf
            for (x0, y0, x1, y1), s in zip(p["boxes"], p["scores"], strict=True):
                if s >= thr:
                    ax.add_patch(
                        patches.Rectangle(
                            (x0, y0), x1 - x0, y1 - y0, fill=False, color="red", lw=1.2
                        )
                    )
            if c == 0:
                ax.set_ylabel(results[name]["label"])
    ctx.report.figure(
        fig,
        "face_examples",
        f"Test images: ground truth in green, detections in red (YOLO at confidence >= {conf}, "
        "every Haar detection)",
    )
