"""a10: generation with an autoencoder, a denoising autoencoder and a variational autoencoder.

Question (the course's): pass the same five latent vectors drawn from a normal distribution with
mean 5, and five from the standard normal, through the decoders of an AE, a DAE and a VAE with the
same latent size. What does each decoder make of them, and why? The answer is measured: where the
vectors lie relative to each encoder's codes of the training images (per-dimension z-scores,
Mahalanobis distance percentiles), how far the decoded images are from the data (distance to the
nearest training image) and how sure a classifier trained in the run is about them. Then the VAE
on its own: ELBO, reconstruction and KL per epoch, samples from the prior, interpolation.

    nndl run a10                                        # quick: scikit-learn digits, ~2 min
    nndl run a10 --profile full --data-root DATA        # MNIST
    nndl run a10 --profile full --data-root DATA --set dataset=fashion_mnist

What to expect (quick, 2 idle CPU cores, ~3 min; measured with 20 epochs): all three reconstruct
test digits at ~21 dB PSNR; the VAE's test ELBO is near -286 nats (reconstruction ~273, KL ~13).
N(5, I) vectors lie outside every encoder's training codes (Mahalanobis 8 to 14, where 99 % of
the codes lie within ~4.4) and decode to images 2.4 to 3.3 times as far from the nearest training
image as real digits are (the AE's and DAE's five nearly identical to one another). N(0, I) vectors are just as far outside the AE's and
DAE's codes and decode nearly blank; for the VAE they lie among its codes (beyond ~70 % of them)
and decode to varied digit-like images. The AE/DAE models are shared with a09 through the artifact
cache when the data and training settings match (`--set dataset=shapes` with a09's sizes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from nndl import detectors
from nndl.config import opt
from nndl.expect import Expect
from nndl.registry import study

VARIANT_NAMES = {"ae": "AE", "dae": "DAE", "vae": "VAE"}


@dataclass(frozen=True)
class Config:
    dataset: Literal["digits", "shapes", "mnist", "fashion_mnist"] = opt(
        "digits", "digits (embedded MNIST stand-in), shapes (embedded), mnist, fashion_mnist"
    )
    num_train: int = opt(0, "training images (shapes: rendered; others: subset, 0 = all)")
    num_test: int = opt(0, "test images (shapes: rendered; others: subset, 0 = all)")
    latent_dim: int = opt(8, "latent size, the same for AE, DAE and VAE")
    ae_width: int = opt(16, "channels of the autoencoders' first convolution (doubled next)")
    ae_num_epochs: int = opt(15, "autoencoder training epochs (each of the three)")
    ae_batch_size: int = opt(64, "autoencoder mini-batch size")
    ae_lr: float = opt(2e-3, "autoencoder learning rate (Adam)")
    dae_noise: float = opt(0.3, "DAE: sigma of the Gaussian noise added to its inputs")
    noise_mean: float = opt(5.0, "the course's latent vectors: mean of the normal distribution")
    noise_sigma: float = opt(1.0, "... and its standard deviation")
    num_vectors: int = opt(5, "vectors drawn from each distribution")
    clf_num_epochs: int = opt(4, "epochs of the judge classifier (a small CNN)")
    num_samples: int = opt(64, "VAE samples from the prior shown")

    PROFILES: ClassVar[dict] = {
        "smoke": {
            "num_train": 200,
            "num_test": 60,
            "latent_dim": 4,
            "ae_width": 8,
            "ae_num_epochs": 1,
            "clf_num_epochs": 1,
            "num_samples": 16,
        },
        "full": {
            "dataset": "mnist",
            "latent_dim": 16,
            "ae_width": 32,
            "ae_num_epochs": 30,
            "ae_batch_size": 128,
            "ae_lr": 1e-3,
            "clf_num_epochs": 5,
        },
    }

    def plan(self, data_root) -> list[str]:
        return [
            f"{self.dataset}: AE, DAE (sigma {self.dae_noise}) and VAE with a "
            f"{self.latent_dim}-D latent, {self.ae_num_epochs} epochs each (or from the cache)",
            f"a small CNN judge, {self.clf_num_epochs} epochs; {self.num_vectors} vectors from "
            f"N({self.noise_mean}, {self.noise_sigma}^2 I) and from N(0, I)",
        ]


# What the headline numbers should be (the verdict table that opens the report; nndl.expect).
# Quick: digits (1,797 real 8x8 digits at 28x28), measured ELBO -289 nats. Full: MNIST. The
# confidences are the judge classifier's mean top-1 probability on decoded vectors.
EXPECT = (
    Expect(
        "vae_test_elbo",
        quick=(-420.0, -150.0),
        full=(-160.0, -75.0),
        note="nats per image, higher is better",
        source="convolutional VAEs on binarised MNIST: ELBO about -85 to -100 nats (Kingma & "
        "Welling 2014, Fig. 2; Burda et al. 2016, Table 1); on grey-level MNIST with a Bernoulli "
        "likelihood the bound is lower (measured -228 in a reduced run here)",
    ),
    Expect(
        "vae_prior_confidence",
        quick=(0.3, 1.0),
        full=(0.5, 1.0),
        source="VAE samples from N(0, I) look like digits (Kingma & Welling 2014, Fig. 4); a "
        "digit classifier is mostly confident on them",
    ),
    Expect(
        "ae_mean5_confidence",
        quick=(0.1, 1.0),
        full=(0.1, 1.0),
        source="an AE's decoder far outside its code region: no reference, any value is a finding",
    ),
    Expect(
        "judge_test_acc",
        quick=(0.9, 1.0),
        full=(0.98, 1.0),
        source="small CNNs on MNIST exceed 99% (LeCun et al. 1998; Keras mnist_convnet ~99%)",
    ),
)


@study(
    "a10",
    "generation",
    "Generation with AE, DAE and VAE",
    config=Config,
    datasets=("digits", "shapes", "mnist", "fashion_mnist"),
    headline=("vae_test_elbo", "vae_prior_confidence", "ae_mean5_confidence", "judge_test_acc"),
    expect=EXPECT,
)
def run(ctx) -> None:
    cfg: Config = ctx.config
    check_config(cfg)
    ctx.report.text(
        "Three autoencoders share one convolutional encoder/decoder and latent size; they differ "
        "only in what they are trained to do: reconstruct (AE), reconstruct from a noisy input "
        "(DAE), or reconstruct while keeping the codes close to N(0, I) (VAE). Only the VAE's "
        "training says anything about which latent vectors its decoder will see."
    )
    data = load_data(ctx, cfg)
    models = train_models(ctx, cfg, data)
    judge = train_judge(ctx, cfg, data)
    results = course_experiment(ctx, cfg, data, models, judge)
    vae_evaluation(ctx, cfg, data, models, judge)
    findings(ctx, cfg, results)


def check_config(cfg: Config) -> None:
    from nndl.errors import ConfigError

    if cfg.latent_dim < 1 or cfg.num_vectors < 1 or cfg.ae_width < 1:
        raise ConfigError("latent_dim, num_vectors and ae_width must be at least 1.")
    if cfg.dataset == "shapes" and (cfg.num_train < 10 or cfg.num_test < 10):
        raise ConfigError("dataset=shapes renders num_train and num_test images: set both >= 10.")


# == data =========================================================================================


def load_data(ctx, cfg: Config) -> dict:
    """Images (N, C, S, S) float in [0, 1] with labels; a key that names exactly these images."""
    import torch

    from nndl.data import get_dataset

    name = cfg.dataset
    info = get_dataset(name)
    if name == "digits":
        from nndl.data.digits import load_digits_28

        x_tr, y_tr, x_te, y_te = load_digits_28(seed=ctx.seed)
        classes = [str(i) for i in range(10)]
        source = "embedded stand-in for MNIST: scikit-learn's 8x8 digits resized to 28x28"
    elif name == "shapes":
        from nndl.data.synthetic.shapes import class_names, load_shapes

        x_tr, y_tr, x_te, y_te = load_shapes(10, cfg.num_train, cfg.num_test, 32, seed=ctx.seed)
        classes = class_names(10)
        source = "embedded stand-in: rendered 32x32 shapes, 10 classes"
    else:
        if info.locate(ctx.data_root) is None:
            from nndl import offline

            if not offline.online():
                raise info.missing_error(ctx.data_root)
        if name == "mnist":
            from nndl.data.mnist import load_mnist

            x_tr, y_tr, x_te, y_te = load_mnist(ctx.data_root)
            classes = [str(i) for i in range(10)]
        else:
            from nndl.data.fashion_mnist import CLASS_NAMES, load_fashion_mnist

            x_tr, y_tr, x_te, y_te = load_fashion_mnist(ctx.data_root)
            classes = list(CLASS_NAMES)
        source = f"{info.description} ({ctx.data_root})"
    if name != "shapes":
        x_tr, y_tr = _first(x_tr, y_tr, cfg.num_train)
        x_te, y_te = _first(x_te, y_te, cfg.num_test)
    if x_tr.ndim == 3:
        x_tr, x_te = x_tr[:, None], x_te[:, None]  # (N, 1, 28, 28)
    ctx.provenance("data", f"{source}; {len(x_tr):,} training and {len(x_te):,} test images")
    ctx.metrics.update(num_train=len(x_tr), num_test=len(x_te))
    return {
        "x_train": torch.from_numpy(np.ascontiguousarray(x_tr)),
        "y_train": torch.from_numpy(y_tr),
        "x_test": torch.from_numpy(np.ascontiguousarray(x_te)),
        "y_test": torch.from_numpy(y_te),
        "classes": classes,
        "key": {
            "dataset": name,
            "num_train": len(x_tr),
            "num_test": len(x_te),
            "split_seed": ctx.seed if name in ("digits", "shapes") else None,
        },
    }


def _first(x, y, n: int):
    return (x, y) if not n or n >= len(y) else (x[:n], y[:n])


# == training =====================================================================================


def ae_spec(cfg, variant: str):
    """The spec a09 uses too: equal configs give equal cache keys."""
    from nndl.models.autoencoders import AESpec

    noise = cfg.dae_noise if variant == "dae" else 0.0
    return AESpec(variant, cfg.latent_dim, cfg.ae_width, "gaussian", noise)


def train_models(ctx, cfg: Config, data) -> dict:
    from nndl import bench
    from nndl.methods.autoencoding import trained_autoencoder

    rep = ctx.report
    rep.section("The three models")
    models, rows = {}, []
    for variant in ("ae", "dae", "vae"):
        with ctx.timer(f"{variant}_s"):
            t = trained_autoencoder(
                ctx,
                ae_spec(cfg, variant),
                data["key"],
                data["x_train"],
                data["x_test"],
                num_epochs=cfg.ae_num_epochs,
                batch_size=cfg.ae_batch_size,
                lr=cfg.ae_lr,
            )
        models[variant] = t
        # whether it was reused depends on the cache, not the seed: timings.json, not metrics
        ctx.timings[f"{variant}_from_cache"] = t.cached
        rec = _reconstruction(t.model, data["x_test"])
        ctx.metrics.update({f"{variant}_test_{k}": v for k, v in rec.items()})
        rows.append(
            {
                "model": VARIANT_NAMES[variant],
                "parameters": bench.count_params(t.model),
                "epochs": len(t.history),
                "test reconstruction (nats/image)": rec["rec_nats"],
                "test PSNR (dB)": rec["psnr"],
                "trained": f"cached, by {t.trained_by}" if t.cached else "in this run",
            }
        )
    ctx.provenance(
        "weights",
        "AE, DAE, VAE and the judge CNN: random initialisation (seed "
        f"{ctx.seed}), trained in this run or loaded from the artifact cache where the same "
        "config was trained before (the table says which)",
    )
    rep.text(
        f"Encoder: two stride-2 convolutions ({cfg.ae_width} and {2 * cfg.ae_width} channels) "
        f"and a linear layer to a {cfg.latent_dim}-D code; the decoder mirrors it. All three "
        f"minimise the Bernoulli negative log-likelihood of the pixels (nats per image), "
        f"{_n(cfg.ae_num_epochs, 'epoch')} of Adam (lr {cfg.ae_lr}, batch {cfg.ae_batch_size}); the "
        f"DAE sees its inputs with Gaussian noise of sigma {cfg.dae_noise}; the VAE adds the KL "
        "term. Reconstruction of clean test images (VAE: decoding the posterior mean):"
    )
    rep.table(rows, "models", "The three autoencoders on the test images")
    return {v: t.model for v, t in models.items()} | {"_trained": models}


def _reconstruction(model, x, batch_size: int = 256) -> dict:
    import torch

    from nndl.models.autoencoders import reconstruction_nats

    nats, se = [], []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = x[i : i + batch_size]
            logits = model.decode_logits(model.encode(xb))
            nats.append(reconstruction_nats(logits, xb))
            se.append((torch.sigmoid(logits) - xb).pow(2).flatten(1).mean(1))
    mse = torch.cat(se)
    return {
        "rec_nats": float(torch.cat(nats).mean()),
        "mse": float(mse.mean()),
        "psnr": float((10 * torch.log10(1 / mse.clamp_min(1e-10))).mean()),
    }


def train_judge(ctx, cfg: Config, data):
    """A small CNN trained on the same images: it says how much a decoded image looks like data."""
    import torch

    from nndl.models.small_cnn import SmallCNN
    from nndl.train import ArrayData, TorchTrainable, fit

    torch.manual_seed(ctx.seed)
    model = SmallCNN(len(data["classes"]), width=16, in_channels=data["x_train"].shape[1])
    history = fit(
        TorchTrainable(model, torch.optim.Adam(model.parameters(), 2e-3), device=ctx.device),
        ArrayData(data["x_train"], data["y_train"]),
        ArrayData(data["x_test"], data["y_test"]),
        name="judge",
        num_epochs=cfg.clf_num_epochs,
        batch_size=64,
        seed=ctx.seed,
        checkpoint_dir=ctx.checkpoint_dir,
        resume=ctx.resume,
    )
    ctx.timings["judge_epoch_s"] = history.epoch_seconds
    ctx.metrics["judge_test_acc"] = history.last("val_acc")
    return model.eval()


# == the course's experiment ======================================================================


def course_experiment(ctx, cfg: Config, data, models, judge) -> dict:
    import torch

    rep = ctx.report
    rep.section(f"Latent vectors from N({cfg.noise_mean:g}, {cfg.noise_sigma:g}²I) and N(0, I)")
    g = torch.Generator().manual_seed(ctx.seed)
    d, k = cfg.latent_dim, cfg.num_vectors
    sources = {
        "mean5": cfg.noise_mean + cfg.noise_sigma * torch.randn(k, d, generator=g),
        "std": torch.randn(k, d, generator=g),
    }
    labels = {
        "mean5": f"N({cfg.noise_mean:g}, {cfg.noise_sigma:g}²I)",
        "std": "N(0, I)",
    }
    ref = _image_stats(data["x_test"][:500], data, judge)  # real images, for scale
    rows, images, results = [], {}, {"ref": ref, "labels": labels}
    rows.append(
        {
            "decoder": "(real test images)",
            "vectors": "",
            "median |z|": None,
            "Mahalanobis": None,
            "beyond % of training codes": None,
            "nearest training image RMSE": ref["nn_rmse"],
            "mean pixel": ref["ink"],
            "RMSE between them": ref["spread"],
            "judge confidence": ref["confidence"],
            "judge classes": "",
        }
    )
    for variant in ("ae", "dae", "vae"):
        model = models[variant]
        codes = _codes(model, data["x_train"])
        for src, z in sources.items():
            pos = _latent_position(z.numpy(), codes)
            with torch.no_grad():
                x = model.decode(z)
            stats = _image_stats(x, data, judge)
            images[(variant, src)] = x
            results[(variant, src)] = {**pos, **stats}
            ctx.metrics.update(
                {
                    f"{variant}_{src}_median_abs_z": pos["median_abs_z"],
                    f"{variant}_{src}_mahalanobis": pos["mahalanobis"],
                    f"{variant}_{src}_beyond_pct": pos["beyond_pct"],
                    f"{variant}_{src}_nn_rmse": stats["nn_rmse"],
                    f"{variant}_{src}_confidence": stats["confidence"],
                    f"{variant}_{src}_mean_pixel": stats["ink"],
                    f"{variant}_{src}_spread": stats["spread"],
                }
            )
            rows.append(
                {
                    "decoder": VARIANT_NAMES[variant],
                    "vectors": labels[src],
                    "median |z|": pos["median_abs_z"],
                    "Mahalanobis": pos["mahalanobis"],
                    "beyond % of training codes": pos["beyond_pct"],
                    "nearest training image RMSE": stats["nn_rmse"],
                    "mean pixel": stats["ink"],
                    "RMSE between them": stats["spread"],
                    "judge confidence": stats["confidence"],
                    "judge classes": " ".join(stats["classes"]),
                }
            )
        results[(variant, "codes")] = {
            "mean_norm": float(np.linalg.norm(codes.mean(0))),
            "std": codes.std(0),
        }
    rep.text(
        f"The same {k} vectors of each kind go through the three decoders. Where they lie: each "
        "dimension's z-score against that encoder's codes of all training images (VAE: "
        "z = mu + sigma * eps, the codes its decoder was trained on) (median over "
        "dimensions and vectors), the Mahalanobis distance to those codes (median over the "
        "vectors) and the share of training codes that lie nearer the codes' mean than the "
        "vector does (100 % = farther out than every training image). What comes out: the RMSE "
        "to the nearest training image (pixels in [0, 1]), the mean pixel value (how much is "
        "drawn), the RMSE between the decoded images themselves (do different vectors give "
        "different images?) and the judge CNN's mean top-1 probability and predicted classes. "
        "The first row gives the same numbers for real test images."
    )
    rep.table(rows, "latent_vectors", "Where the vectors lie, and what each decoder makes of them")
    rep.figure(
        _vector_grid(images, labels, data),
        "decoded_vectors",
        f"The same {k} vectors from {labels['mean5']} (left block) and {labels['std']} (right "
        "block) through each decoder (rows)",
    )
    return results


def _codes(model, x, batch_size: int = 512) -> np.ndarray:
    """The codes the decoder saw in training: z (AE, DAE) or z = mu + sigma * eps (VAE, one
    draw per image: the aggregate posterior, wider than the means alone)."""
    import torch

    g = torch.Generator().manual_seed(0)
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            mu, logvar = model.encode_stats(x[i : i + batch_size])
            if logvar is not None:
                mu = mu + torch.randn(mu.shape, generator=g) * (0.5 * logvar).exp()
            out.append(mu)
    return torch.cat(out).numpy()


def _latent_position(z: np.ndarray, codes: np.ndarray) -> dict:
    """Where vectors z (k, d) lie relative to training codes (N, d)."""
    mean, std = codes.mean(0), codes.std(0) + 1e-8
    cov = np.cov(codes, rowvar=False).reshape(codes.shape[1], codes.shape[1])
    prec = np.linalg.pinv(cov + 1e-6 * np.eye(len(cov)))

    def maha(v):
        diff = v - mean
        return np.sqrt(np.einsum("nd,de,ne->n", diff, prec, diff))

    dz = maha(z)
    dcodes = maha(codes)
    beyond = [(dcodes < d).mean() * 100 for d in dz]
    return {
        "median_abs_z": float(np.median(np.abs((z - mean) / std))),
        "mahalanobis": float(np.median(dz)),
        "beyond_pct": float(np.median(beyond)),
        "codes_mahalanobis_p99": float(np.percentile(dcodes, 99)),
    }


def _image_stats(x, data, judge) -> dict:
    """Nearest-training-image RMSE (median) and the judge's mean confidence and classes."""
    import torch

    train = data["x_train"].flatten(1)
    flat = x.flatten(1)
    d2 = torch.cdist(flat, train).pow(2) / flat.shape[1]  # mean squared error per pixel
    nn = d2.min(1).values.sqrt()
    with torch.no_grad():
        p = judge(x).softmax(1)
    conf, pred = p.max(1)
    k = min(len(flat), 50)  # spread: how different the images are from one another
    pair = torch.cdist(flat[:k], flat[:k]).pow(2) / flat.shape[1]
    spread = pair.sum() / max(k * (k - 1), 1)
    return {
        "nn_rmse": float(nn.median()),
        "ink": float(x.mean()),
        "spread": float(spread.sqrt()),
        "confidence": float(conf.mean()),
        "classes": [data["classes"][i] for i in pred.tolist()][:8],
    }


# == VAE ==========================================================================================


def vae_evaluation(ctx, cfg: Config, data, models, judge) -> None:
    import torch

    rep = ctx.report
    rep.section("The VAE")
    vae = models["vae"]
    history = models["_trained"]["vae"].history
    last = history[-1]
    elbo = -(last["val_rec"] + last["val_kl"])
    ctx.metrics.update(vae_test_elbo=elbo, vae_test_rec=last["val_rec"], vae_test_kl=last["val_kl"])
    with torch.no_grad():  # posterior collapse: KL per latent dimension over test images
        mu, logvar = vae.encode_stats(data["x_test"][:512].to(ctx.device))
    kl_dims = detectors.kl_per_dimension(mu.cpu().numpy(), logvar.cpu().numpy())
    ctx.metrics["vae_active_dims"] = int((kl_dims > 0.01).sum())
    ctx.check(detectors.posterior_collapse(kl_dims))
    rep.math(
        r"\mathrm{ELBO}(x) = \mathbb{E}_{q(z|x)}[\log p(x|z)] - "
        r"\mathrm{KL}(q(z|x)\,\|\,\mathcal{N}(0, I)) \le \log p(x)",
        "The VAE maximises the evidence lower bound; its two terms are tracked separately "
        "(reconstruction = the negative first term, in nats per image):",
    )
    rep.table(
        [
            {
                "epoch": e["epoch"],
                "train ELBO": -e["train_loss"],
                "train reconstruction": e["train_rec"],
                "train KL": e["train_kl"],
                "test ELBO": -(e["val_rec"] + e["val_kl"]),
                "test reconstruction": e["val_rec"],
                "test KL": e["val_kl"],
            }
            for e in _some(history, 10)
        ],
        "vae_epochs",
        "VAE per epoch (nats per image; test evaluated with z = mu, so its reconstruction is "
        "slightly optimistic)",
    )
    rep.figure(_elbo_curves(history), "vae_curves", "VAE: ELBO, reconstruction and KL per epoch")
    g = torch.Generator().manual_seed(ctx.seed + 1)
    z = torch.randn(cfg.num_samples, cfg.latent_dim, generator=g)
    with torch.no_grad():
        samples = vae.decode(z)
    stats = _image_stats(samples, data, judge)
    ctx.metrics.update(vae_prior_confidence=stats["confidence"], vae_prior_nn_rmse=stats["nn_rmse"])
    rep.figure(
        _image_grid(samples, ncols=int(np.ceil(np.sqrt(cfg.num_samples)))),
        "vae_samples",
        f"{cfg.num_samples} VAE samples: z ~ N(0, I) through the decoder (judge confidence "
        f"{stats['confidence']:.2f}, nearest-training-image RMSE {stats['nn_rmse']:.3f})",
    )
    x = data["x_test"]
    i, j = _two_classes(data["y_test"])
    with torch.no_grad():
        za, zb = vae.encode(x[i : i + 1]), vae.encode(x[j : j + 1])
        t = torch.linspace(0, 1, 10)[:, None]
        path = vae.decode((1 - t) * za + t * zb)
    strip = torch.cat([x[i : i + 1], path, x[j : j + 1]])
    rep.figure(
        _image_grid(strip, ncols=len(strip), size=1.1),
        "vae_interpolation",
        f"Interpolation in the VAE's latent space between test images #{i} "
        f"({data['classes'][int(data['y_test'][i])]}) and #{j} "
        f"({data['classes'][int(data['y_test'][j])]}): the two originals at the ends, ten "
        "decoded points of the straight line between their codes in between",
    )
    n = 10
    with torch.no_grad():
        recs = [models[v].reconstruct(x[:n]) for v in ("ae", "dae", "vae")]
    rep.figure(
        _image_grid(torch.cat([x[:n], *recs]), ncols=n, row_labels=["test", "AE", "DAE", "VAE"]),
        "reconstructions",
        "Test images (top row) and their reconstructions by each model",
    )


def _some(history: list, k: int) -> list:
    """At most k epochs, always the first and the last."""
    if len(history) <= k:
        return history
    idx = np.unique(np.linspace(0, len(history) - 1, k).round().astype(int))
    return [history[i] for i in idx]


def _two_classes(y) -> tuple[int, int]:
    y = y.numpy()
    i = 0
    j = int(np.flatnonzero(y != y[i])[0])
    return i, j


# == findings =====================================================================================


def findings(ctx, cfg: Config, results: dict) -> None:
    rep = ctx.report
    rep.section("Findings")
    ref = results["ref"]
    mean_label = f"N({cfg.noise_mean:g}, {cfg.noise_sigma:g}²I)"

    def describe(r) -> str:
        """What the decoded images are, as ratios to the same numbers for real test images."""
        ink = r["ink"] / ref["ink"]
        what = (
            "nearly blank"
            if ink < 0.25
            else "faint"
            if ink < 0.7
            else "heavier than real images"
            if ink > 1.4
            else "about as inked as real images"
        )
        return (
            f"{what} (mean pixel {r['ink']:.2f}, real {ref['ink']:.2f}); they differ from one "
            f"another {r['spread'] / ref['spread']:.0%} as much as real images do and lie "
            f"{r['nn_rmse'] / ref['nn_rmse']:.1f} times as far from the nearest training image "
            f"(RMSE {r['nn_rmse']:.3f}, real {ref['nn_rmse']:.3f})"
        )

    items = []
    for variant in ("ae", "dae", "vae"):
        m5, st = results[(variant, "mean5")], results[(variant, "std")]
        name = VARIANT_NAMES[variant]
        items.append(
            f"{name}: the {mean_label} vectors lie "
            + (
                "outside"
                if m5["beyond_pct"] >= 99
                else "at the edge of"
                if m5["beyond_pct"] >= 90
                else "inside"
            )
            + f" its training codes (Mahalanobis {m5['mahalanobis']:.1f}; 99 % of the training "
            f"codes lie within {m5['codes_mahalanobis_p99']:.1f}); decoded they are "
            f"{describe(m5)}. The N(0, I) vectors (Mahalanobis {st['mahalanobis']:.1f}, beyond "
            f"{st['beyond_pct']:.0f} % of the codes) decode {describe(st)}."
        )
    vae_std, ae_std = results[("vae", "std")], results[("ae", "std")]
    items.append(
        "Only the VAE is trained so that N(0, I) is where its codes live (the KL term pulls the "
        f"aggregate posterior towards it): its N(0, I) vectors lie beyond {vae_std['beyond_pct']:.0f} "
        f"% of its training codes, against {ae_std['beyond_pct']:.0f} % for the AE, and decode to "
        f"images {vae_std['nn_rmse']:.3f} RMSE from the nearest training image against "
        f"{ae_std['nn_rmse']:.3f} for the AE. The AE's and DAE's codes sit wherever training "
        "put them, so any fixed distribution is a guess about their decoders' input; far outside "
        "the codes the decoder extrapolates and its output stops depending on the exact vector."
    )
    conf = [
        (v, s)
        for v in ("ae", "dae", "vae")
        for s in ("mean5", "std")
        if results[(v, s)]["confidence"] > 0.8 and results[(v, s)]["nn_rmse"] > 1.5 * ref["nn_rmse"]
    ]
    if conf:
        v, s = conf[0]
        items.append(
            f"The judge's confidence alone misleads: it gives {VARIANT_NAMES[v]}'s "
            f"{results['labels'][s]} images {results[(v, s)]['confidence']:.2f} (real test "
            f"images: {ref['confidence']:.2f}) although they are far from any training image; a "
            "classifier answers every input, so distance to the data is the number to trust."
        )
    rep.bullets(items)


# == figures ======================================================================================


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _show(a, img) -> None:
    img = img.detach().cpu().clamp(0, 1)
    if img.shape[0] == 1:
        a.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=1)
    else:
        a.imshow(img.permute(1, 2, 0).numpy())
    a.set_xticks([])
    a.set_yticks([])


def _image_grid(x, ncols: int, size: float = 1.0, row_labels=None):
    plt = _plt()
    nrows = -(-len(x) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for a in axes.flat:
        a.axis("off")
    for i, img in enumerate(x):
        a = axes.flat[i]
        a.axis("on")
        _show(a, img)
    for r, label in enumerate(row_labels or []):
        axes[r, 0].set_ylabel(label, fontsize=9)
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    return fig


def _vector_grid(images, labels, data):
    plt = _plt()
    k = len(next(iter(images.values())))
    fig, axes = plt.subplots(3, 2 * k + 1, figsize=(1.15 * (2 * k + 1), 3.8), squeeze=False)
    for r, variant in enumerate(("ae", "dae", "vae")):
        for c, src in enumerate(("mean5", "std")):
            for i in range(k):
                _show(axes[r, c * (k + 1) + i], images[(variant, src)][i])
        axes[r, k].axis("off")
        axes[r, 0].set_ylabel(VARIANT_NAMES[variant], fontsize=11)
    for c, src in enumerate(("mean5", "std")):
        axes[0, c * (k + 1) + k // 2].set_title(labels[src], fontsize=11)
    fig.subplots_adjust(wspace=0.05, hspace=0.08)
    return fig


def _elbo_curves(history):
    plt = _plt()
    ep = [e["epoch"] for e in history]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    series = (
        ("ELBO (nats/image)", lambda e: -e["train_loss"], lambda e: -(e["val_rec"] + e["val_kl"])),
        ("reconstruction (nats/image)", lambda e: e["train_rec"], lambda e: e["val_rec"]),
        ("KL (nats/image)", lambda e: e["train_kl"], lambda e: e["val_kl"]),
    )
    for a, (title, tr, te) in zip(axes, series, strict=True):
        a.plot(ep, [tr(e) for e in history], "o-", ms=3, label="train (sampled z)")
        a.plot(ep, [te(e) for e in history], "s--", ms=3, label="test (z = mu)")
        a.set(xlabel="epoch", title=title)
        a.grid(alpha=0.3)
        a.legend()
    fig.tight_layout()
    return fig


def _n(k: int, word: str) -> str:
    return f"{k} {word}" + ("" if k == 1 else "s")
