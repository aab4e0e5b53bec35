"""Part 4: YOLOv1 (architecture and loss by hand) trained through the one loop on the face split."""

from __future__ import annotations

import numpy as np


def _resize(images, boxes, size: int):
    """Square-resize images (as the paper's 448 x 448) and scale the boxes: (x (N,3,S,S), boxes)."""
    import cv2

    xs, bs = [], []
    for img, b in zip(images, boxes, strict=True):
        h, w = img.shape[:2]
        xs.append(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA))
        b = np.asarray(b, np.float64).reshape(-1, 5).copy()
        b[:, [1, 3]] *= size / w
        b[:, [2, 4]] *= size / h
        bs.append(b)
    x = np.stack(xs).transpose(0, 3, 1, 2).astype(np.float32) / 255
    return x, bs


def yolov1_detector(ctx, cfg, data) -> dict:
    import torch

    from nndl import bench
    from nndl.methods.detection import mean_average_precision
    from nndl.models.yolov1 import YOLOv1, decode, encode, yolo_v1_loss
    from nndl.train import ArrayData, TorchTrainable, fit

    rep = ctx.report
    rep.section("Part 4: YOLOv1 written by hand")
    S, B, size = cfg.v1_grid, cfg.v1_boxes, cfg.v1_size

    def prepared(images, boxes):
        x, bs = _resize(images, boxes, size)
        y = np.stack([encode(b, size, S, 1) for b in bs])
        return ArrayData(torch.from_numpy(x), torch.from_numpy(y))

    train, val = prepared(*data.train), prepared(*data.val)
    torch.manual_seed(ctx.seed)
    model = YOLOv1(1, S, B, cfg.v1_width, 256, size)

    def step(model, batch):  # the paper's sum-squared loss, through the one training loop
        x, y = batch
        loss, terms = yolo_v1_loss(model(x), y, B, cfg.lambda_coord, cfg.lambda_noobj)
        return loss, {"loss": loss.item(), **{k: v.item() for k, v in terms.items()}}

    steps = cfg.v1_epochs * -(-len(train) // cfg.v1_batch)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.v1_lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.v1_lr, total_steps=steps)
    trainable = TorchTrainable(model, opt, step, device=ctx.device, scheduler=sched)
    history = fit(
        trainable,
        train,
        val,
        name="yolov1",
        num_epochs=cfg.v1_epochs,
        batch_size=cfg.v1_batch,
        seed=ctx.seed,
        checkpoint_dir=ctx.checkpoint_dir,
        resume=ctx.resume,
    )
    ctx.timings["yolov1_epoch_s"] = history.epoch_seconds
    # -- test: predictions scaled back to each image's own size, scored like every detector
    model.eval()
    preds, times = [], []
    for img in data.test_images:
        x, _ = _resize([img], [np.zeros((0, 5))], size)
        x = torch.from_numpy(x).to(ctx.device)
        with torch.no_grad():
            import time

            t0 = time.perf_counter()
            p = decode(model(x), B, size)[0]
            times.append(time.perf_counter() - t0)
        h, w = img.shape[:2]
        p["boxes"] = p["boxes"] * np.array([w, h, w, h]) / size
        preds.append(p)
    m = mean_average_precision(preds, data.test_targets)
    ctx.metrics.update(yolov1_map_50=m["map_50"], yolov1_map=m["map"])
    ctx.metrics["yolov1_final_train_loss"] = history.last("train_loss")
    ctx.metrics["yolov1_final_val_loss"] = history.last("val_loss")
    fps = 1 / float(np.median(times))
    ctx.timings["yolov1_fps"] = fps
    rep.text(
        f"YOLOv1 with an S = {S} grid, B = {B} boxes per cell and one class, on {size}x{size} "
        f"inputs (the paper: S = 7 on 448 x 448 with a 24-layer backbone; here a 10-layer "
        f"convolutional backbone of stride 32 starting at {cfg.v1_width} channels, then the "
        f"paper's two fully connected layers; {bench.count_params(model):,} parameters), trained "
        f"from random weights through the one training loop for {cfg.v1_epochs} epochs (Adam, "
        f"one-cycle, peak lr {cfg.v1_lr}, batch {cfg.v1_batch}) with the sum-squared loss "
        f"(lambda_coord = {cfg.lambda_coord:g}, lambda_noobj = {cfg.lambda_noobj:g}); decoded "
        "with score = confidence x class probability and NMS at IoU 0.5."
    )
    rep.math(
        r"\lambda_{coord}\sum_{i,j} 1^{obj}_{ij}\left[(x_i-\hat x_i)^2+(y_i-\hat y_i)^2"
        r"+(\sqrt{w_i}-\sqrt{\hat w_i})^2+(\sqrt{h_i}-\sqrt{\hat h_i})^2\right]"
        r"+\sum_{i,j} 1^{obj}_{ij}(C_i-\hat C_i)^2+\lambda_{noobj}\sum_{i,j}1^{noobj}_{ij}"
        r"(C_i-\hat C_i)^2+\sum_i 1^{obj}_i\sum_c (p_i(c)-\hat p_i(c))^2",
        "The loss (the paper's equation 3); the responsible predictor j of cell i is the one "
        "with the highest IoU with the true box, whose confidence target is that IoU:",
    )
    loss_figure(ctx, history)
    return {
        "detector": "YOLOv1 (ours, by hand)",
        "task": f"faces, {data.label}",
        "weights": f"random init, {cfg.v1_epochs} epochs on {len(train)} training images",
        "parameters": bench.count_params(model),
        "mAP@0.5": m["map_50"],
        "mAP@0.5:0.95": m["map"],
        "fps": fps,
    }


def loss_figure(ctx, history) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 3.6))
    ep = [e["epoch"] for e in history.epochs]
    ax[0].plot(ep, history.series("train_loss"), label="train")
    ax[0].plot(ep, history.series("val_loss"), label="validation")
    ax[0].set(xlabel="epoch", ylabel="loss per image", title="YOLOv1 loss", yscale="log")
    ax[0].legend()
    for k in ("xy", "wh", "conf_obj", "conf_noobj", "cls"):
        ax[1].plot(ep, history.series(f"train_{k}"), label=k)
    ax[1].set(xlabel="epoch", title="Training loss terms", yscale="log")
    ax[1].legend()
    ctx.report.figure(fig, "yolov1_loss", "YOLOv1 training: total loss and its five terms")
