"""a07: YOLO object detection on a video, a face detector, a public baseline, and YOLOv1 by hand.

Question: how do three YOLO generations (YOLOv8, YOLO11, YOLO12, through Ultralytics) differ in
speed and behaviour on the same video; how well does a YOLOv8 fine-tuned as a face detector find
faces compared with a public detector (OpenCV's Haar cascade; the YOLOv8-Face weights when given);
and what does the original YOLOv1 (architecture and loss written by hand) reach on the same faces?
Every detector is scored by one mAP implementation (torchmetrics on pycocotools).

    nndl run a07                                    # quick: rendered scenes, video and faces
    nndl run a07 --set video=clip.mp4               # the three models on your video
    nndl run a07 --profile full --data-root DATA --set video=clip.mp4 --set weights_dir=W
        # COCO-pretrained yolov8n/yolo11n/yolo12n.pt (from W, or downloaded by Ultralytics);
        # WIDER FACE under DATA; add --set face_weights=yolov8n-face.pt for YOLOv8-Face

What to expect (quick, 136 s on 2 nearly idle cores): every model is trained from scratch in the
run on rendered data (no YOLO weights ship in any package), with warmup_epochs=0, mosaic=0, AdamW
lr0 0.004, batch 16, 96 px, 12 epochs on 256 scenes. On the rendered video YOLOv8n, YOLO11n and
YOLO12n reach mAP@0.5 ~0.6, ~0.6 and ~0.85 (at 64 px and 8 epochs of batch 8 two of them stayed
at 0). Faces: the YOLOv8n face detector mAP@0.5 ~0.3, Haar ~0.09, YOLOv1 ~0.08. Short CPU training
on rendered data, not the models' published accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from nndl.config import opt
from nndl.expect import Expect
from nndl.registry import study

YOLO_MODELS = ("yolov8n", "yolo11n", "yolo12n")


@dataclass(frozen=True)
class Config:
    # -- part 1: three YOLO generations on a video -----------------------------------------------
    video: str = opt("", "video file to run the three models on; empty = a rendered video")
    max_frames: int = opt(0, "use at most this many frames of the video (0 = all)")
    models: tuple[str, ...] = opt(YOLO_MODELS, "Ultralytics models compared on the video")
    pretrained: bool = opt(
        False, "load COCO-pretrained <model>.pt (full); false = train from the yaml on scenes"
    )
    weights_dir: str = opt("", "folder holding yolov8n.pt, yolo11n.pt, yolo12n.pt (full)")
    num_frames: int = opt(48, "rendered video: frames")
    image_size: int = opt(96, "rendered scenes and video: side in pixels; also the YOLO imgsz")
    num_objects: int = opt(3, "rendered scenes: object classes")
    scenes_num_train: int = opt(256, "rendered training images for the part-1 models")
    scenes_num_val: int = opt(48, "rendered validation images for the part-1 models")
    yolo_epochs: int = opt(12, "Ultralytics training epochs (part 1 and the face detector)")
    yolo_batch: int = opt(16, "Ultralytics batch size")
    yolo_lr: float = opt(0.004, "Ultralytics AdamW initial learning rate (lr0)")
    warmup_epochs: float = opt(0.0, "Ultralytics warm-up epochs (its default 3 stalls short runs)")
    mosaic: float = opt(0.0, "Ultralytics mosaic probability (its default 1.0 stalls short runs)")
    conf: float = opt(0.25, "confidence above which a detection is shown and counted")
    # -- parts 2-4: faces ------------------------------------------------------------------------
    faces: Literal["face_scenes", "wider_face"] = opt(
        "face_scenes", "face data: face_scenes (rendered) or wider_face (under --data-root)"
    )
    face_size: int = opt(96, "rendered face scenes: side in pixels")
    face_num_train: int = opt(200, "rendered face scenes for training (before the val split)")
    face_num_test: int = opt(80, "rendered face scenes for testing")
    val_fraction: float = opt(0.2, "share of the training images held out for validation")
    max_train: int = opt(0, "WIDER FACE: use at most this many official train images (0 = all)")
    max_test: int = opt(0, "WIDER FACE: use at most this many official val images (0 = all)")
    face_imgsz: int = opt(96, "face YOLO: Ultralytics imgsz")
    face_weights: str = opt("", "YOLOv8-Face weights file (a public face detector), optional")
    haar_scale: float = opt(1.1, "Haar cascade: scale factor between pyramid levels")
    haar_neighbors: int = opt(3, "Haar cascade: minNeighbors")
    v1_size: int = opt(96, "YOLOv1: input side (32 x grid)")
    v1_grid: int = opt(3, "YOLOv1: S, cells per side")
    v1_boxes: int = opt(2, "YOLOv1: B, boxes per cell")
    v1_width: int = opt(16, "YOLOv1: channels of the first backbone stage (doubled per stage)")
    v1_epochs: int = opt(30, "YOLOv1: training epochs")
    v1_batch: int = opt(16, "YOLOv1: batch size")
    v1_lr: float = opt(2e-3, "YOLOv1: Adam learning rate (one-cycle)")
    lambda_coord: float = opt(5.0, "YOLOv1: weight of the box terms (paper: 5)")
    lambda_noobj: float = opt(0.5, "YOLOv1: weight of no-object confidences (paper: 0.5)")

    PROFILES: ClassVar[dict] = {
        "smoke": {
            "num_frames": 6,
            "image_size": 32,
            "scenes_num_train": 16,
            "scenes_num_val": 8,
            "yolo_epochs": 1,
            "face_size": 64,
            "face_num_train": 20,
            "face_num_test": 6,
            "face_imgsz": 64,
            "v1_size": 64,
            "v1_grid": 2,
            "v1_width": 4,
            "v1_epochs": 1,
        },
        "full": {
            "pretrained": True,
            "max_frames": 300,
            "yolo_epochs": 20,
            "yolo_batch": 16,
            "yolo_lr": 0.001,
            "faces": "wider_face",
            "face_imgsz": 640,
            "v1_size": 448,
            "v1_grid": 14,
            "v1_width": 32,
            "v1_epochs": 50,
        },
    }

    def plan(self, data_root) -> list[str]:
        src = self.video or f"a rendered video of {self.num_frames} frames"
        how = "COCO-pretrained weights" if self.pretrained else "trained from their yamls"
        return [
            f"part 1: {', '.join(self.models)} ({how}) on {src}",
            f"part 2: YOLOv8n face detector on {self.faces}, {self.yolo_epochs} epochs",
            "part 3: OpenCV Haar cascade"
            + (f" and YOLOv8-Face ({self.face_weights})" if self.face_weights else ""),
            f"part 4: YOLOv1 S={self.v1_grid} B={self.v1_boxes} at {self.v1_size} px, "
            f"{self.v1_epochs} epochs",
        ]


# What the headline numbers should be (the verdict table that opens the report; nndl.expect).
# mAP@0.5 (COCO protocol, pycocotools) on the validation split of the face data. Quick: rendered
# face scenes, every model from scratch, measured 0.29 / 0.09 / 0.08. Full: WIDER FACE val, all
# difficulty levels together (closest to WIDER's "hard" setting).
EXPECT = (
    Expect(
        "face_yolov8n_map_50",
        definition=(
            "COCO protocol through pycocotools (torchmetrics' MeanAveragePrecision, COCO's float64 "
            "thresholds): 101-point interpolated precision at IoU 0.5, detections matched greedily by"
            " score, WIDER's 'invalid' faces as iscrowd (neither required nor false positives), up to"
            " 300 detections per image, area 'all'; tested equal to COCOeval"
        ),
        quick=(0.1, 0.6),
        full=(0.5, 0.9),
        split="val",
        source="YOLOv8n-face (derronqi/yolov8-face README): WIDER val AP easy 0.945, medium "
        "0.922, hard 0.790",
    ),
    Expect(
        "haar_map_50",
        definition="as face_yolov8n_map_50 (Haar scores: its detection confidence)",
        quick=(0.02, 0.25),
        full=(0.05, 0.45),
        split="val",
        epoch_rule="n/a",
        source="Viola-Jones on WIDER FACE val (Yang et al. 2016, Fig. 9): AP easy 0.412, medium "
        "0.333, hard 0.137",
    ),
    Expect(
        "yolov1_map_50",
        quick=(0.0, 0.3),
        full=(0.0, 0.4),
        split="val",
        source="no published WIDER FACE number; YOLOv1 struggles with small objects in groups "
        "(Redmon et al. 2016, sec. 2.4), which WIDER is full of",
    ),
)


@study(
    "a07",
    "yolo",
    "YOLO object and face detection; YOLOv1 by hand",
    config=Config,
    datasets=("scenes", "face_scenes", "wider_face"),
    headline=("face_yolov8n_map_50", "haar_map_50", "yolov1_map_50"),
    expect=EXPECT,
)
def run(ctx) -> None:
    from nndl.studies.a07_yolo import faces, ultra, video, yolov1

    cfg: Config = ctx.config
    source = video.check_inputs(cfg, ctx.data_root)  # bad video, missing data or weights: now
    ultra.setup(Path(ctx.cache.root) / "ultralytics")
    ctx.provenance(
        "weights",
        "YOLOv8/11/12: COCO-pretrained files; face YOLOv8n fine-tuned from COCO weights in this run"
        if cfg.pretrained
        else "every YOLO and YOLOv1 from random initialisation, trained in this run (or reused "
        "from the cache of an identical earlier run) on rendered data; no pretrained YOLO",
    )
    ctx.report.text(
        "Four detectors of one task family, scored by one mAP implementation (torchmetrics' "
        "MeanAveragePrecision on the pycocotools backend: the COCO protocol, mAP@0.5 and "
        "mAP@0.5:0.95, up to 300 detections per image): three Ultralytics YOLO generations on a "
        "video, a YOLOv8n face detector against public face detectors, and YOLOv1 written by hand."
    )
    rows = video.video_detection(ctx, cfg, source)  # part 1
    data = faces.face_data(ctx, cfg)
    rows += faces.face_detectors(ctx, cfg, data)  # parts 2 and 3
    rows.append(yolov1.yolov1_detector(ctx, cfg, data))  # part 4
    summary(ctx, cfg, rows)


def summary(ctx, cfg: Config, rows: list[dict]) -> None:
    rep = ctx.report
    rep.section("Every detector in one table")
    rep.table(rows, "detectors", "mAP by the same code; fps measured in this run on this machine")
    rep.text(
        "fps is 1000 / median milliseconds per image (pre-processing, inference and NMS for the "
        "YOLOs; the whole detectMultiScale call for Haar; forward and decoding for YOLOv1), batch "
        f"1 on {ctx.device}. The video models are scored on the video, the face detectors on the "
        "face test split: compare within each group."
    )
