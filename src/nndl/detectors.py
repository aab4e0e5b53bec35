"""Failure-mode detectors: one small function per way a training fails silently.

Each returns a `Check`: a pass/fail line with the number it was decided on and the rule. A study
runs the ones that apply and hands them to the report (`ctx.check(detectors.posterior_collapse(
kl_per_dim))`); checks that need only the run's metrics are declared at registration
(`@study(checks=[...])`, functions of metrics.json). The report lists them in a "Checks" block near
its top; metrics.json keeps them under "detectors". A check that fails does not fail the run: it says
what went wrong so that nobody reads a number from a broken training as a result.

Thresholds are the points where the failure is unmistakable, not fine tuning knobs; each is
stated in the line it prints.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Check:
    name: str  # the failure it looks for: "GAN discriminator loss near 0"
    passed: bool  # False: the failure was detected ("fired")
    value: float | None  # the number it was decided on
    rule: str  # what passing means, with the threshold: "D loss > 0.05"
    detail: str = ""  # context: where the value came from, what it means

    def line(self) -> str:
        v = "" if self.value is None else f"{_fmt(self.value)}; "
        tail = f" {self.detail}" if self.detail else ""
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {v}pass if {self.rule}.{tail}"

    def as_dict(self) -> dict:
        return asdict(self)


def _fmt(x: float) -> str:
    return f"{x:.3e}" if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5) else f"{x:.4g}"


def _tail_mean(values, last: int) -> float:
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    return float(v[-last:].mean())


# -- GANs ----------------------------------------------------------------------------------------


def discriminator_loss_near_zero(d_losses, threshold: float = 0.05, last: int = 3) -> Check:
    """The discriminator wins outright: its BCE loss (real + fake) near 0, so the generator gets
    no signal. At the equilibrium D(x) = 1/2 the loss is 2 log 2 = 1.386."""
    value = _tail_mean(d_losses, last)
    return Check(
        "GAN discriminator loss near 0",
        bool(value > threshold),
        value,
        f"mean D loss over the last {last} logged values > {threshold} (equilibrium 2 log 2 = 1.386)",
    )


def generator_gradient_vanishing(grad_norms, ratio: float = 0.01, last: int = 3) -> Check:
    """The generator's gradient norm collapses: late values below `ratio` x the early ones."""
    g = np.asarray(grad_norms, dtype=np.float64).reshape(-1)
    early, late = float(g[: max(1, min(last, len(g)))].mean()), _tail_mean(g, last)
    value = late / early if early > 0 else 0.0
    return Check(
        "GAN generator gradient vanishing",
        bool(value >= ratio),
        value,
        f"late / early generator gradient norm >= {ratio}",
        f"(early {_fmt(early)}, late {_fmt(late)})",
    )


def mean_pairwise_distance(x) -> float:
    """Mean Euclidean distance between all pairs of rows of x (N, ...)."""
    import torch

    t = torch.as_tensor(np.asarray(x, dtype=np.float32)).reshape(len(x), -1)
    d = torch.cdist(t, t)
    n = len(t)
    return float(d.sum() / max(n * (n - 1), 1))


def diversity_collapse(samples, real, ratio: float = 0.2) -> Check:
    """Mode collapse: generated samples much closer to each other than real images are."""
    fake_d, real_d = mean_pairwise_distance(samples), mean_pairwise_distance(real)
    value = fake_d / real_d if real_d > 0 else 0.0
    return Check(
        "GAN sample diversity collapse",
        bool(value >= ratio),
        value,
        f"mean pairwise distance of samples / of real images >= {ratio}",
        f"({len(samples)} samples against {len(real)} real images)",
    )


# -- embeddings ----------------------------------------------------------------------------------


def embedding_collapse(embeddings, ratio: float = 0.05, name: str = "embedding") -> Check:
    """Every input mapped to (nearly) one point: the mean pairwise distance of the embeddings is
    tiny next to their mean norm (scale-free, so it holds for normalised and raw embeddings)."""
    e = np.asarray(embeddings, dtype=np.float64).reshape(len(embeddings), -1)
    spread = mean_pairwise_distance(e)
    scale = float(np.linalg.norm(e, axis=1).mean()) + 1e-12
    value = spread / scale
    return Check(
        f"{name} collapse",
        bool(value >= ratio),
        value,
        f"mean pairwise distance / mean norm >= {ratio}",
        f"(per-dimension variance {_fmt(float(e.var(0).mean()))}, {len(e)} embeddings)",
    )


def loss_at_margin(loss: float, margin: float, tol: float = 0.02, name: str = "triplet") -> Check:
    """A triplet/contrastive loss stuck at its margin: every anchor-positive and anchor-negative
    distance equal, the signature of collapsed embeddings."""
    value = float(loss)
    stuck = abs(value - margin) <= tol * max(margin, 1e-12)
    return Check(
        f"{name} loss stuck at the margin",
        not stuck,
        value,
        f"final loss differs from the margin {margin} by more than {tol:.0%}",
    )


# -- VAEs ----------------------------------------------------------------------------------------


def posterior_collapse(kl_per_dim, threshold: float = 0.01, name: str = "VAE") -> Check:
    """Posterior collapse: q(z|x) equals the prior in every dimension (KL per dimension ~ 0), so
    the decoder ignores z. A dimension is active when its mean KL exceeds `threshold` nats."""
    kl = np.asarray(kl_per_dim, dtype=np.float64).reshape(-1)
    active = int((kl > threshold).sum())
    return Check(
        f"{name} posterior collapse",
        active > 0,
        float(active),
        f"at least one latent dimension with KL > {threshold} nats",
        f"({active} of {len(kl)} dimensions active; KL per dimension {_fmt(float(kl.min()))}"
        f"-{_fmt(float(kl.max()))} nats)",
    )


def kl_per_dimension(mu, logvar) -> np.ndarray:
    """Mean over a batch of KL(N(mu, sigma^2) || N(0, 1)) per latent dimension, in nats:
    0.5 (mu^2 + sigma^2 - log sigma^2 - 1)."""
    mu = np.asarray(mu, dtype=np.float64)
    logvar = np.asarray(logvar, dtype=np.float64)
    return (0.5 * (mu**2 + np.exp(logvar) - logvar - 1)).mean(0)


# -- language models -----------------------------------------------------------------------------


def unigram_entropy(token_ids, vocab_size: int | None = None) -> float:
    """Entropy (nats) of the corpus' token frequencies: the loss of a model that predicts every
    masked token from its frequency alone, ignoring the context."""
    ids = np.asarray(token_ids, dtype=np.int64).reshape(-1)
    counts = np.bincount(ids, minlength=vocab_size or 0).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def mlm_beats_unigram(mlm_loss: float, entropy: float, margin: float = 0.1) -> Check:
    """The MLM loss must fall below the unigram-entropy baseline: a model at or above it predicts
    masked tokens no better than from their frequency (it stalled, or learnt no context)."""
    return Check(
        "MLM loss against the unigram-entropy baseline",
        bool(mlm_loss < entropy - margin),
        float(mlm_loss),
        f"MLM loss < unigram baseline {entropy:.3f} - {margin} nats (word frequencies alone)",
    )


# -- comparisons ---------------------------------------------------------------------------------


def better_than(
    name: str, a: float, b: float, a_label: str, b_label: str, min_gain: float = 0.0, spread=None
) -> Check:
    """`a` must beat `b` by more than `min_gain` (e.g. a distilled student against the same
    student trained alone with the same seeds). `spread`: an `expect.exceeds_spread` result over
    seeds, quoted when given."""
    diff = float(a) - float(b)
    detail = f"({a_label} {_fmt(float(a))} against {b_label} {_fmt(float(b))}"
    detail += f"; {spread['text']})" if spread else "; one seed)"
    return Check(name, bool(diff > min_gain), diff, f"{a_label} - {b_label} > {min_gain}", detail)


def within_of(
    name: str, a: float, b: float, a_label: str, b_label: str, max_gap: float = 0.1
) -> Check:
    """`a` must come within `max_gap` of `b` (a ViT against the CNN of similar budget on the same
    data: far below it means the ViT did not learn at this data size)."""
    gap = float(b) - float(a)
    return Check(
        name,
        bool(gap <= max_gap),
        gap,
        f"{b_label} - {a_label} <= {max_gap}",
        f"({a_label} {_fmt(float(a))}, {b_label} {_fmt(float(b))})",
    )


# -- adversarial and attribution -----------------------------------------------------------------


def gradient_masking(fgsm_success: float, pgd_success: float, tol: float = 0.0) -> Check:
    """An iterative attack (PGD, a few steps, same epsilon) must be at least as strong as the
    single-step FGSM; weaker means the gradient is masked or the attack is broken (Athalye et al.
    2018, "Obfuscated gradients")."""
    diff = float(pgd_success) - float(fgsm_success)
    return Check(
        "FGSM gradient masking (PGD at least as strong)",
        bool(diff >= -tol),
        diff,
        f"PGD success >= FGSM success{f' - {tol}' if tol else ''}",
        f"(FGSM {fgsm_success:.3f}, PGD {pgd_success:.3f})",
    )


def spearman(a, b) -> float:
    """Spearman rank correlation of two arrays (flattened)."""
    from scipy.stats import spearmanr

    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.std() == 0 or b.std() == 0:
        return 0.0 if a.std() != b.std() else 1.0
    r = spearmanr(a, b).statistic
    return 0.0 if math.isnan(r) else float(r)


def attribution_randomisation(
    map_trained, map_random, max_rank_corr: float = 0.5, name: str = ""
) -> Check:
    """Adebayo et al. 2018, "Sanity checks for saliency maps": the map of a model whose weights
    were re-initialised must differ from the trained model's; a map that survives randomisation
    shows the input (edges), not what the model learnt. Compared by Spearman rank correlation of
    |attribution| (their measure)."""
    rho = spearman(np.abs(np.asarray(map_trained)), np.abs(np.asarray(map_random)))
    return Check(
        f"attribution sanity{f' ({name})' if name else ''}: randomised weights change the map",
        bool(rho < max_rank_corr),
        rho,
        f"rank correlation of |map| trained vs randomised < {max_rank_corr}",
    )


def rank_correlation_below(rho: float, max_rank_corr: float = 0.5, name: str = "") -> Check:
    """`attribution_randomisation` from a correlation already averaged over images."""
    return Check(
        f"attribution sanity{f' ({name})' if name else ''}: randomised weights change the map",
        bool(rho < max_rank_corr),
        float(rho),
        f"mean rank correlation of |map| trained vs randomised < {max_rank_corr}",
        "(Adebayo et al. 2018: maps that survive randomisation show the input, not the model)",
    )


# -- rendering -----------------------------------------------------------------------------------


def summary(checks: list[Check]) -> dict:
    failed = [c.name for c in checks if not c.passed]
    return {"run": len(checks), "failed": len(failed), "fired": failed}
