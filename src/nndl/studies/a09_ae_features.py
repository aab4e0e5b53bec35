"""a09: autoencoder features, denoising autoencoders, and single-image augmentation.

Questions (the course's, on CIFAR-10): (1) an autoencoder with a 2-D bottleneck is a feature
generator: how well do its codes separate the classes, against an ImageNet CNN's features reduced to
2-D by PCA and t-SNE? (2) a denoising autoencoder at several noise levels: how much does it
restore (PSNR, SSIM of noisy and denoised against clean)? (3) a CNN trained without and with
single-image augmentation (flip, random-resized crop, colour jitter): training curves, the
train/test gap and accuracy, over several seeds.

    nndl run a09                                   # quick: rendered shapes (CIFAR-10 stand-in)
    nndl run a09 --profile full --data-root DATA   # CIFAR-10 (pickles or image folders), ResNet-50

What to expect (quick, 156 s on 2 idle cores): the 2-D AE code stays at chance (k-NN 0.10): an
autoencoder keeps colour, brightness and position, which redraw the pixels but do not name the
shape; the frozen EfficientNet-Lite0 features reach k-NN 0.25 in full D (t-SNE 2-D 0.23). The DAEs
(20 epochs) restore +0.3 dB at sigma 0.1 (their own bottleneck blur is about as large as that
noise), +8 dB at sigma 0.3 and +9 dB with 40% of the pixels masked. Without augmentation the
small CNN memorises its 800 images (train 0.97, test 0.24, gap 0.73); with flip, crop and jitter
the gap shrinks to 0.17 at a test accuracy within the seed spread (0.25).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from nndl.config import opt
from nndl.expect import Expect
from nndl.registry import study

AUGMENTATIONS = ("flip", "crop", "jitter")


@dataclass(frozen=True)
class Config:
    dataset: Literal["shapes", "cifar10"] = opt(
        "shapes", "shapes (embedded CIFAR-10 stand-in) or cifar10 (real)"
    )
    num_train: int = opt(2000, "training images (shapes: rendered; cifar10: subset, 0 = all)")
    num_test: int = opt(1000, "test images (shapes: rendered; cifar10: subset, 0 = all)")
    # -- autoencoders (the names a10 uses too: equal values share the cached models) -------------
    code_dim: int = opt(2, "bottleneck of the feature AE (2: its codes are the scatter plot)")
    latent_dim: int = opt(64, "bottleneck of the denoising AEs")
    ae_width: int = opt(16, "channels of the autoencoders' first convolution (doubled next)")
    ae_num_epochs: int = opt(20, "autoencoder training epochs (each model)")
    ae_batch_size: int = opt(32, "autoencoder mini-batch size")
    ae_lr: float = opt(3e-3, "autoencoder learning rate (Adam)")
    gaussian_levels: tuple[float, ...] = opt((0.1, 0.3), "DAE: Gaussian noise sigmas")
    mask_levels: tuple[float, ...] = opt((0.4,), "DAE: shares of pixels masked to black")
    # -- pretrained CNN features -----------------------------------------------------------------
    model: str = opt("tf_efficientnet_lite0", "ImageNet-pretrained CNN whose features are compared")
    cnn_image_size: int = opt(64, "side the 32x32 images are resized to for the pretrained CNN")
    num_points: int = opt(1000, "test images embedded and plotted (0 = all)")
    # -- augmentation ----------------------------------------------------------------------------
    aug_num_train: int = opt(800, "training images for the classifiers (small: overfitting shows)")
    aug_width: int = opt(12, "small CNN width (channels of its first stage)")
    aug_num_epochs: int = opt(30, "classifier epochs, each arm and seed")
    aug_batch_size: int = opt(32, "classifier mini-batch size")
    aug_lr: float = opt(3e-3, "classifier peak learning rate (Adam, one-cycle)")
    augment: tuple[str, ...] = opt(AUGMENTATIONS, "augmentations of the second arm")
    seeds: tuple[int, ...] = opt((0, 1), "seeds per arm (offsets to --seed)")

    PROFILES: ClassVar[dict] = {
        "smoke": {
            "num_train": 200,
            "num_test": 60,
            "ae_width": 8,
            "latent_dim": 16,
            "ae_num_epochs": 1,
            "gaussian_levels": (0.2,),
            "mask_levels": (0.3,),
            "cnn_image_size": 32,
            "num_points": 60,
            "aug_num_train": 100,
            "aug_width": 8,
            "aug_num_epochs": 2,
        },
        "full": {
            "dataset": "cifar10",
            "num_train": 0,
            "num_test": 0,
            "latent_dim": 256,
            "ae_width": 64,
            "ae_num_epochs": 30,
            "ae_batch_size": 128,
            "aug_batch_size": 128,
            "model": "resnet50",
            "cnn_image_size": 224,
            "num_points": 5000,
            "aug_num_train": 10000,
            "aug_width": 64,
            "aug_num_epochs": 40,
            "seeds": (0, 1, 2),
        },
    }

    def plan(self, data_root) -> list[str]:
        from nndl.models import zoo

        where = zoo.weights_available(self.model) or "not on this machine (downloaded if online)"
        n_dae = len(self.gaussian_levels) + len(self.mask_levels)
        return [
            f"{self.dataset}: {self.num_train or 'all'} train / {self.num_test or 'all'} test",
            f"AE ({self.code_dim}-D code) and {n_dae} DAEs ({self.latent_dim}-D), "
            f"{self.ae_num_epochs} epochs each (or from the cache)",
            f"{self.model} features at {self.cnn_image_size}px; weights: {where}",
            f"small CNN x {len(self.seeds)} seeds x 2 arms, {self.aug_num_epochs} epochs on "
            f"{self.aug_num_train} images; augment: {', '.join(self.augment)}",
        ]


# What the headline numbers should be (the verdict table that opens the report; nndl.expect).
# Quick: rendered shapes (10 classes), measured 0.10 / 0.23 / ~+5.8 dB / within seed spread.
# Full: CIFAR-10 test set with ResNet-50 ImageNet features.
EXPECT = (
    Expect(
        "ae_code_knn_acc",
        quick=(0.05, 0.3),
        full=(0.15, 0.4),
        source="a 2-D code keeps colour and layout, not the class: well below the ~0.35-0.40 "
        "of k-NN on raw CIFAR-10 pixels (cs231n's k-NN baseline)",
    ),
    Expect(
        "cnn_tsne_knn_acc",
        quick=(0.12, 0.5),
        full=(0.7, 0.95),
        source="ImageNet ResNet-50 features on CIFAR-10: linear probe ~0.9 (Kornblith et al. "
        "2019, Table A1); a 2-D t-SNE map keeps most of the neighbourhoods",
    ),
    Expect(
        "dae_psnr_gain_db",
        quick=(2.0, 12.0),
        full=(2.0, 12.0),
        source="denoising autoencoders remove most i.i.d. noise (Vincent et al. 2010); gain "
        "averaged over the noise levels, larger at stronger noise",
    ),
    Expect(
        "aug_test_acc_gain",
        quick=(-0.08, 0.15),
        full=(0.0, 0.12),
        source="flip + crop on CIFAR-10 adds ~3-7 points to small CNNs and ResNets (He et al. "
        "2016: ResNets trained with flip + translation; Shorten & Khoshgoftaar 2019 survey)",
    ),
)


@study(
    "a09",
    "ae-features",
    "Autoencoder features, denoising autoencoders, augmentation",
    config=Config,
    datasets=("shapes", "cifar10"),
    headline=("ae_code_knn_acc", "cnn_tsne_knn_acc", "dae_psnr_gain_db", "aug_test_acc_gain"),
    expect=EXPECT,
)
def run(ctx) -> None:
    cfg: Config = ctx.config
    check_config(cfg)
    ctx.report.text(
        "Three uses of learned image models on a CIFAR-10-like task: an autoencoder squeezed to "
        "a 2-D code as a feature extractor, denoising autoencoders, and data augmentation as a "
        "regulariser of a classifier trained on few images."
    )
    data = load_data(ctx, cfg)
    feats = ae_features(ctx, cfg, data)
    dae = denoising(ctx, cfg, data)
    aug = augmentation(ctx, cfg, data)
    findings(ctx, cfg, feats, dae, aug)


def check_config(cfg: Config) -> None:
    from nndl.errors import ConfigError, did_you_mean

    for a in cfg.augment:
        if a not in AUGMENTATIONS:
            raise ConfigError(f"Unknown augmentation '{a}'.{did_you_mean(a, AUGMENTATIONS)}")
    if not cfg.augment:
        raise ConfigError(f"augment needs at least one of {', '.join(AUGMENTATIONS)}.")
    if any(not 0 < s <= 1 for s in cfg.gaussian_levels + cfg.mask_levels):
        raise ConfigError("Noise levels (sigmas, masked shares) must be within (0, 1].")
    if not cfg.gaussian_levels and not cfg.mask_levels:
        raise ConfigError("Give at least one noise level (gaussian_levels or mask_levels).")
    if cfg.dataset == "shapes" and (cfg.num_train < 20 or cfg.num_test < 20):
        raise ConfigError("dataset=shapes renders num_train and num_test images: set both >= 20.")
    if cfg.code_dim < 1 or cfg.latent_dim < 1:
        raise ConfigError("code_dim and latent_dim must be at least 1.")
    if len(set(cfg.seeds)) != len(cfg.seeds) or not cfg.seeds:
        raise ConfigError(f"seeds must be distinct and at least one; got {cfg.seeds}.")


# == data =========================================================================================


def load_data(ctx, cfg: Config) -> dict:
    import torch

    if cfg.dataset == "shapes":
        from nndl.data.synthetic.shapes import class_names, load_shapes

        x_tr, y_tr, x_te, y_te = load_shapes(10, cfg.num_train, cfg.num_test, 32, seed=ctx.seed)
        classes = class_names(10)
        source = (
            "embedded stand-in for CIFAR-10: rendered 32x32 shapes, 10 classes (shape), random "
            "colours, pose and clutter; not CIFAR-10"
        )
    else:
        from nndl.data import cifar10

        x_tr, y_tr, x_te, y_te, classes = cifar10.load_cifar10(
            ctx.data_root, max_train=cfg.num_train, max_test=cfg.num_test
        )
        source = cifar10.describe(ctx.data_root)
        # image folders come class by class: one seeded shuffle, so that any prefix (the
        # classifiers' training subset, the plotted test images) holds every class
        rng = np.random.default_rng(ctx.seed)
        tr, te = rng.permutation(len(y_tr)), rng.permutation(len(y_te))
        x_tr, y_tr, x_te, y_te = x_tr[tr], y_tr[tr], x_te[te], y_te[te]
    ctx.provenance("data", f"{source}; {len(x_tr):,} training and {len(x_te):,} test images")
    ctx.metrics.update(num_train=len(x_tr), num_test=len(x_te))
    return {
        "x_train": torch.from_numpy(x_tr),
        "y_train": torch.from_numpy(y_tr),
        "x_test": torch.from_numpy(x_te),
        "y_test": torch.from_numpy(y_te),
        "classes": classes,
        "key": {
            "dataset": cfg.dataset,
            "num_train": len(x_tr),
            "num_test": len(x_te),
            "split_seed": ctx.seed if cfg.dataset == "shapes" else None,
        },
    }


def _train_ae(ctx, cfg, data, spec):
    from nndl.methods.autoencoding import trained_autoencoder

    return trained_autoencoder(
        ctx,
        spec,
        data["key"],
        data["x_train"],
        data["x_test"],
        num_epochs=cfg.ae_num_epochs,
        batch_size=cfg.ae_batch_size,
        lr=cfg.ae_lr,
    )


# == 1. AE codes as features ======================================================================


def ae_features(ctx, cfg: Config, data) -> dict:
    import torch

    from nndl.methods import embedding as emb
    from nndl.models.autoencoders import AESpec

    rep = ctx.report
    rep.section(f"A {cfg.code_dim}-D autoencoder code as features")
    with ctx.timer("ae_code_s"):
        ae = _train_ae(ctx, cfg, data, AESpec("ae", cfg.code_dim, cfg.ae_width))
    n = cfg.num_points or len(data["y_test"])
    x, y = data["x_test"][:n], data["y_test"][:n].numpy()
    with torch.no_grad():
        code = ae.model.encode(x).numpy()
    cnn, prep, weights_note = _pretrained(ctx, cfg)
    with ctx.timer("cnn_features_s"):
        f = emb.l2_normalise(emb.features(cnn, x, device=ctx.device, transform=prep))
    with ctx.timer("tsne_s"):
        spaces = {
            "ae": (code, None),
            "cnn_full": (f, None),
            "cnn_pca": (emb.project(f, "pca", seed=ctx.seed), f),
            "cnn_tsne": (emb.project(f, "tsne", seed=ctx.seed), f),
        }
    if cfg.code_dim > 2:  # the scatter needs 2-D: project the code too
        spaces["ae_pca"] = (emb.project(code, "pca", seed=ctx.seed), code)
    labels = {
        "ae": f"AE code ({cfg.code_dim}-D)",
        "ae_pca": "AE code, PCA 2-D",
        "cnn_full": f"{cfg.model} features ({f.shape[1]}-D)",
        "cnn_pca": f"{cfg.model} features, PCA 2-D",
        "cnn_tsne": f"{cfg.model} features, t-SNE 2-D",
    }
    scores, rows = {}, []
    for key, (pts, ref) in spaces.items():
        s = emb.separation(pts, y, seed=ctx.seed, reference=ref)
        scores[key] = s
        ctx.metrics.update({f"{'ae_code' if key == 'ae' else key}_{k}": v for k, v in s.items()})
        rows.append(
            {
                "features": labels[key],
                "k-NN accuracy": s["knn_acc"],
                "silhouette": s["silhouette"],
                "trustworthiness": s.get("trustworthiness"),
            }
        )
    rec = ae.history[-1]
    rep.text(
        f"The AE (encoder: two stride-2 convolutions, {cfg.ae_width} and {2 * cfg.ae_width} "
        f"channels, then a linear map to {cfg.code_dim} numbers; the decoder mirrors it) was "
        f"trained to reconstruct the {len(data['y_train']):,} training images "
        f"({'loaded from the cache, trained by ' + ae.trained_by if ae.cached else 'in this run'}"
        f"; test reconstruction {rec['val_rec']:.0f} nats per image). Its codes of {n:,} test "
        f"images are compared with the pooled last feature map of {cfg.model} ({weights_note}) "
        f"at {cfg.cnn_image_size}x{cfg.cnn_image_size} (scaled to unit length): k-NN accuracy (k = 5, fitted on half the "
        "points, scored on the rest), silhouette, and the trustworthiness of each 2-D projection "
        "against the features it came from."
    )
    rep.table(rows, "feature_separation", "Class separation of the test images' features")
    two_d = "ae" if cfg.code_dim <= 2 else "ae_pca"
    panels = [
        (
            f"{labels[k]}\nk-NN {scores[k]['knn_acc']:.2f}, silhouette {scores[k]['silhouette']:.2f}",
            spaces[k][0],
        )
        for k in (two_d, "cnn_pca", "cnn_tsne")
    ]
    rep.figure(
        emb.scatter_grid(panels, y, data["classes"], ncols=3),
        "feature_scatter",
        f"{n:,} test images: the AE's code, and the pretrained CNN's features by PCA and t-SNE; "
        "colour = true class",
    )
    return {"scores": scores, "chance": 1 / len(data["classes"])}


def _pretrained(ctx, cfg: Config):
    import torch
    import torch.nn.functional as F

    from nndl import weights
    from nndl.models import zoo

    model = zoo.build(cfg.model, num_classes=10, pretrained=True).eval()
    pre = zoo.preprocessing(cfg.model)
    bundled = weights.bundled_for(cfg.model)
    note = (
        f"ImageNet-1k weights bundled in {bundled.package}"
        if bundled is not None
        else f"ImageNet-1k weights from the library cache ({zoo.cached_weights(cfg.model)})"
    )
    ctx.provenance(
        "weights",
        f"{cfg.model}: {note}, used frozen; autoencoders and classifiers: random "
        f"initialisation, trained in this run or loaded from the artifact cache",
    )
    mean, std = torch.tensor(pre.mean).view(1, 3, 1, 1), torch.tensor(pre.std).view(1, 3, 1, 1)
    size = cfg.cnn_image_size

    def prep(x):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return (x - mean.to(x.device)) / std.to(x.device)

    return model, prep, note


# == 2. denoising =================================================================================


def denoising(ctx, cfg: Config, data) -> dict:
    import torch
    from torchmetrics.functional.image import (
        peak_signal_noise_ratio,
        structural_similarity_index_measure,
    )

    from nndl.models.autoencoders import AESpec, corrupt

    rep = ctx.report
    rep.section("Denoising autoencoders")
    levels = [("gaussian", s) for s in cfg.gaussian_levels] + [("mask", s) for s in cfg.mask_levels]
    x = data["x_test"]
    rows, shown, out = [], [], {}

    def scores(img):  # per-image PSNR and SSIM against the clean test images, averaged
        psnr = peak_signal_noise_ratio(img, x, data_range=1.0, reduction="none", dim=(1, 2, 3))
        ssim = structural_similarity_index_measure(img, x, data_range=1.0, reduction="none")
        return float(psnr.mean()), float(ssim.mean())

    for kind, level in levels:
        with ctx.timer(f"dae_{kind}_{level}_s"):
            dae = _train_ae(
                ctx, cfg, data, AESpec("dae", cfg.latent_dim, cfg.ae_width, kind, level)
            )
        g = torch.Generator().manual_seed(ctx.seed + 7)
        noisy = corrupt(x, kind, level, g)
        with torch.no_grad():
            denoised = torch.cat(
                [dae.model.reconstruct(noisy[i : i + 256]) for i in range(0, len(x), 256)]
            )
        (p_n, s_n), (p_d, s_d) = scores(noisy), scores(denoised)
        name = f"Gaussian sigma {level:g}" if kind == "gaussian" else f"{level:.0%} pixels masked"
        out[(kind, level)] = {
            "psnr_noisy": p_n,
            "psnr_denoised": p_d,
            "ssim_noisy": s_n,
            "ssim_denoised": s_d,
            "name": name,
        }
        tag = f"{kind}_{level:g}"
        ctx.metrics.update(
            {
                f"dae_{tag}_psnr_noisy": p_n,
                f"dae_{tag}_psnr_denoised": p_d,
                f"dae_{tag}_ssim_noisy": s_n,
                f"dae_{tag}_ssim_denoised": s_d,
            }
        )
        rows.append(
            {
                "corruption": name,
                "PSNR noisy (dB)": p_n,
                "PSNR denoised (dB)": p_d,
                "gain (dB)": p_d - p_n,
                "SSIM noisy": s_n,
                "SSIM denoised": s_d,
                "trained": f"cached ({dae.trained_by})" if dae.cached else "in this run",
            }
        )
        shown.append((name, noisy[:8], denoised[:8]))
    gains = [r["gain (dB)"] for r in rows]
    ctx.metrics["dae_psnr_gain_db"] = float(np.mean(gains))
    rep.text(
        f"One DAE per corruption (the same network as the AE with a {cfg.latent_dim}-D code), "
        f"trained on corrupted training images to output the clean ones, {cfg.ae_num_epochs} "
        f"epochs each; noise in [0, 1] pixel units, clipped. Scored on all {len(x):,} test images "
        "with fresh noise: PSNR and SSIM (torchmetrics, data range 1, per image then averaged) "
        "of the noisy input and of the DAE's output against the clean image."
    )
    rep.table(rows, "denoising", "Noisy versus denoised, against the clean test images")
    rep.figure(
        _denoise_grid(x[:8], shown),
        "denoising",
        "Test images: clean (top row), then for each corruption the noisy input and the "
        "DAE's output",
    )
    return out


# == 3. augmentation ==============================================================================


def augmentation(ctx, cfg: Config, data) -> dict:
    rep = ctx.report
    rep.section("Training with and without single-image augmentation")
    n = min(cfg.aug_num_train, len(data["y_train"]))
    x_tr, y_tr = data["x_train"][:n], data["y_train"][:n]
    runs = {}
    for arm in ("none", "augmented"):
        for s in cfg.seeds:
            with ctx.timer(f"aug_{arm}_seed{s}_s"):
                runs[(arm, s)] = _train_classifier(ctx, cfg, data, x_tr, y_tr, arm, ctx.seed + s)
    summary, rows = {}, []
    for arm in ("none", "augmented"):
        finals = [runs[(arm, s)][-1] for s in cfg.seeds]
        tr = np.array([f["train_clean_acc"] for f in finals])
        te = np.array([f["test_acc"] for f in finals])
        gap = tr - te
        summary[arm] = {"train": tr, "test": te, "gap": gap}
        ctx.metrics.update(
            {
                f"aug_{arm}_test_acc": float(te.mean()),
                f"aug_{arm}_train_acc": float(tr.mean()),
                f"aug_{arm}_gap": float(gap.mean()),
            }
        )
        for s, a, b in zip(cfg.seeds, tr, te, strict=True):
            rows.append(
                {
                    "arm": _arm_name(cfg, arm),
                    "seed": ctx.seed + s,
                    "train accuracy": a,
                    "test accuracy": b,
                    "gap": a - b,
                }
            )
        rows.append(
            {
                "arm": _arm_name(cfg, arm),
                "seed": "mean ± std",
                "train accuracy": _pm(tr),
                "test accuracy": _pm(te),
                "gap": _pm(gap),
            }
        )
    gain = summary["augmented"]["test"].mean() - summary["none"]["test"].mean()
    ctx.metrics["aug_test_acc_gain"] = float(gain)
    rep.text(
        f"The same small CNN (three convolution stages, width {cfg.aug_width}) trained on "
        f"{n:,} training images for {cfg.aug_num_epochs} epochs (Adam, one-cycle, peak lr "
        f"{cfg.aug_lr}), with seeds {', '.join(str(ctx.seed + s) for s in cfg.seeds)} for each "
        f"arm. The augmented arm draws, per image and per step (torchvision transforms v2): "
        f"{_describe_aug(cfg)}. Train accuracy is measured on the un-augmented training images "
        f"after each epoch; test accuracy on all {len(data['y_test']):,} test images."
    )
    rep.table(rows, "augmentation", "Final accuracies per seed, and their mean ± std")
    rep.figure(
        _aug_curves(cfg, runs),
        "augmentation_curves",
        "Train (clean) and test accuracy per epoch: line = mean over seeds, band = "
        "min..max over seeds",
    )
    return summary


def _arm_name(cfg, arm: str) -> str:
    return "no augmentation" if arm == "none" else "augmented (" + ", ".join(cfg.augment) + ")"


def _pm(v: np.ndarray) -> str:
    return f"{v.mean():.3f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.3f}"


def _describe_aug(cfg) -> str:
    parts = {
        "flip": "horizontal flip with probability 0.5",
        "crop": "random-resized crop to 32x32 (scale 0.6-1, aspect 3/4-4/3)",
        "jitter": "colour jitter (brightness, contrast and saturation factors in 0.7-1.3; no hue "
        "shift, which costs 50 times more on a CPU)",
    }
    return "; ".join(parts[a] for a in cfg.augment)


def _augmenter(cfg):
    from torchvision.transforms import v2

    ops = []
    if "crop" in cfg.augment:
        ops.append(v2.RandomResizedCrop(32, scale=(0.6, 1.0), antialias=True))
    if "flip" in cfg.augment:
        ops.append(v2.RandomHorizontalFlip())
    if "jitter" in cfg.augment:
        ops.append(v2.ColorJitter(0.3, 0.3, 0.3))
    return v2.Compose(ops)


def _train_classifier(ctx, cfg, data, x_tr, y_tr, arm: str, seed: int) -> list[dict]:
    """Per-epoch {train_clean_acc, test_acc, ...} of one arm and seed."""
    import torch

    from nndl.models.small_cnn import SmallCNN
    from nndl.train import (
        ArrayData,
        TorchTrainable,
        classification_step,
        epoch_batches,
        evaluate,
        fit,
    )

    torch.manual_seed(seed)
    model = SmallCNN(len(data["classes"]), width=cfg.aug_width)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.aug_lr)
    steps = len(epoch_batches(len(y_tr), cfg.aug_batch_size, 0, 0)) * cfg.aug_num_epochs
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, cfg.aug_lr, total_steps=max(steps, 1), pct_start=0.2
    )
    aug = _augmenter(cfg)

    def step(model, batch):
        x, y = batch
        if model.training:  # a fresh draw per image: v2 would share one draw across a batch
            x = torch.stack([aug(img) for img in x])
        return classification_step(model, (x, y))

    trainable = TorchTrainable(
        model,
        optimizer,
        step if arm == "augmented" else classification_step,
        device=ctx.device,
        scheduler=schedule,
    )
    train_clean = ArrayData(x_tr, y_tr)

    def on_epoch_end(epoch, record):  # kept in the checkpoints
        return {"train_clean_acc": evaluate(trainable, train_clean, 256)["acc"]}

    history = fit(
        trainable,
        train_clean,
        ArrayData(data["x_test"], data["y_test"]),
        name=f"clf_{arm}_s{seed}",
        num_epochs=cfg.aug_num_epochs,
        batch_size=cfg.aug_batch_size,
        seed=seed,
        checkpoint_dir=ctx.checkpoint_dir,
        resume=ctx.resume,
        on_epoch_end=on_epoch_end,
    )
    ctx.timings[f"clf_{arm}_s{seed}_epoch_s"] = history.epoch_seconds
    return [
        {
            "epoch": record["epoch"],
            "train_clean_acc": extra["train_clean_acc"],
            "test_acc": record["val_acc"],
            "train_loss": record["train_loss"],
        }
        for record, extra in zip(history.epochs, history.extras, strict=True)
    ]


# == findings =====================================================================================


def findings(ctx, cfg: Config, feats: dict, dae: dict, aug: dict) -> None:
    rep = ctx.report
    rep.section("Findings")
    s, chance = feats["scores"], feats["chance"]
    items = [
        f"The {cfg.code_dim}-D AE code separates the classes with k-NN accuracy "
        f"{s['ae']['knn_acc']:.3f} (chance {chance:.2f}, silhouette {s['ae']['silhouette']:.3f}); "
        f"the pretrained {cfg.model}'s features reach {s['cnn_full']['knn_acc']:.3f} in full D, "
        f"{s['cnn_pca']['knn_acc']:.3f} after PCA to 2-D and {s['cnn_tsne']['knn_acc']:.3f} after "
        "t-SNE. "
        + (
            "An autoencoder keeps what it needs to redraw the pixels (colour, brightness, "
            "position), which is not what tells the classes apart; a classifier's features keep "
            "shape."
            if s["ae"]["knn_acc"] < s["cnn_tsne"]["knn_acc"]
            else "Here the AE's code is as good a 2-D feature as the CNN's projections."
        ),
    ]
    for r in dae.values():
        items.append(
            f"{r['name']}: PSNR {r['psnr_noisy']:.1f} -> {r['psnr_denoised']:.1f} dB "
            f"({r['psnr_denoised'] - r['psnr_noisy']:+.1f}), SSIM {r['ssim_noisy']:.3f} -> "
            f"{r['ssim_denoised']:.3f}."
        )
    worst = min(dae.values(), key=lambda r: r["psnr_denoised"] - r["psnr_noisy"])
    if worst["psnr_denoised"] < worst["psnr_noisy"]:
        items.append(
            f"At {worst['name']} the DAE's output is further from the clean image than its input: "
            "the corruption is milder than the blur of its own reconstruction (its bottleneck "
            "loses detail even on clean images)."
        )
    none, augd = aug["none"], aug["augmented"]
    gain = augd["test"].mean() - none["test"].mean()
    spread = max(none["test"].std(ddof=1), augd["test"].std(ddof=1)) if len(cfg.seeds) > 1 else 0
    items.append(
        f"Without augmentation the CNN reaches train accuracy {none['train'].mean():.3f} and test "
        f"accuracy {none['test'].mean():.3f} (gap {none['gap'].mean():.3f}); with "
        f"{', '.join(cfg.augment)}: {augd['train'].mean():.3f} and {augd['test'].mean():.3f} (gap "
        f"{augd['gap'].mean():.3f}). Test accuracy changes by {gain:+.3f}, against a "
        f"seed-to-seed standard deviation of at most {spread:.3f}: "
        + (
            "larger than the spread, so the effect is not noise."
            if abs(gain) > 2 * spread
            else "within about two standard deviations of the spread, so this run cannot tell "
            "the arms apart with confidence."
        )
    )
    rep.bullets(items)


# == figures ======================================================================================


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _denoise_grid(clean, shown):
    plt = _plt()
    k = len(clean)
    rows = [("clean", clean)]
    for name, noisy, den in shown:
        rows += [(f"{name}\nnoisy", noisy), ("denoised", den)]
    fig, axes = plt.subplots(
        len(rows), k, figsize=(1.05 * k + 1.4, 1.05 * len(rows)), squeeze=False
    )
    for r, (label, imgs) in enumerate(rows):
        for c in range(k):
            a = axes[r, c]
            a.imshow(imgs[c].permute(1, 2, 0).clamp(0, 1).numpy())
            a.set_xticks([])
            a.set_yticks([])
        axes[r, 0].set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    fig.subplots_adjust(wspace=0.04, hspace=0.06, left=0.2)
    return fig


def _aug_curves(cfg, runs):
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for a, key, title in (
        (axes[0], "train_clean_acc", "train accuracy (clean images)"),
        (axes[1], "test_acc", "test accuracy"),
    ):
        for arm, colour in (("none", "C0"), ("augmented", "C1")):
            curves = np.array([[e[key] for e in runs[(arm, s)]] for s in cfg.seeds])
            ep = np.arange(1, curves.shape[1] + 1)
            a.plot(ep, curves.mean(0), "o-", ms=3, color=colour, label=_arm_name(cfg, arm))
            a.fill_between(ep, curves.min(0), curves.max(0), color=colour, alpha=0.25)
        a.set(xlabel="epoch", title=title)
        a.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy")
    axes[1].legend(loc="lower right", fontsize=9)
    fig.tight_layout()
    return fig
