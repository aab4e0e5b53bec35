"""Embedding numbers on a set where the answer is known; the autoencoders' losses and cache reuse."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nndl.methods import embedding as emb
from nndl.models import autoencoders as aem


def _two_clusters(n=60, dim=10, gap=50.0, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (2 * n, dim))
    x[n:, 0] += gap  # the second cluster lies far along the first axis
    return x, np.repeat([0, 1], n)


def test_separated_clusters_score_knn_one_and_silhouette_near_one():
    x, y = _two_clusters()
    s = emb.separation(x, y)
    assert s["knn_acc"] == 1.0
    assert s["silhouette"] > 0.9
    for method in emb.PROJECTIONS:
        xy = emb.project(x, method, seed=0)
        assert xy.shape == (len(x), 2)
        s2 = emb.separation(xy, y, reference=x)
        assert s2["knn_acc"] == 1.0, method
        assert s2["silhouette"] > 0.6, method
        assert 0.5 < s2["trustworthiness"] <= 1.0, method


def test_mixed_labels_score_chance():
    x, _ = _two_clusters()
    y = np.random.default_rng(1).integers(0, 2, len(x))  # labels unrelated to the points
    s = emb.separation(x, y)
    assert s["knn_acc"] < 0.75 and abs(s["silhouette"]) < 0.1


def test_features_pool_a_named_layer_and_the_last_map():
    from nndl.models.small_cnn import SmallCNN

    model = SmallCNN(num_classes=3, width=4)
    x = torch.rand(5, 3, 32, 32)
    assert emb.features(model, x).shape == (5, 16)  # forward_features, pooled
    assert emb.features(model, x, layer="stage2").shape == (5, 8)
    from nndl.errors import ConfigError

    with pytest.raises(ConfigError, match="Unknown layer"):
        emb.features(model, x, layer="stage9")


def test_vae_kl_matches_the_closed_form_and_torch_distributions():
    torch.manual_seed(0)
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    ours = aem.kl_standard_normal(mu, logvar)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    ref = torch.distributions.kl_divergence(q, p).sum(1)
    assert torch.allclose(ours, ref, atol=1e-5)
    # one dimension by hand: KL = 1/2 (mu^2 + s^2 - ln s^2 - 1)
    m, s2 = 1.5, 0.25
    assert aem.kl_standard_normal(torch.tensor([[m]]), torch.tensor([[np.log(s2)]])).item() == (
        pytest.approx(0.5 * (m * m + s2 - np.log(s2) - 1), rel=1e-5)
    )
    assert aem.kl_standard_normal(torch.zeros(1, 5), torch.zeros(1, 5)).item() == 0


@pytest.mark.parametrize("variant", aem.VARIANTS)
@pytest.mark.parametrize(("channels", "size"), [(1, 28), (3, 32)])
def test_every_variant_trains_a_step(variant, channels, size):
    spec = aem.AESpec(variant=variant, latent_dim=2, width=4, noise=0.3)
    model = aem.build(spec, channels, size)
    x = torch.rand(3, channels, size, size)
    loss, logs = aem.step(model.train(), (x,))
    loss.backward()
    assert np.isfinite(logs["loss"]) and ("kl" in logs) == (variant == "vae")
    assert model.reconstruct(x).shape == x.shape
    assert model.encode(x).shape == (3, 2)
    assert all(p.grad is not None for p in model.parameters())


def test_corruptions():
    x = torch.full((2, 3, 8, 8), 0.5)
    g = torch.Generator().manual_seed(0)
    noisy = aem.corrupt(x, "gaussian", 0.2, g)
    assert 0.15 < (noisy - x).std() < 0.25
    masked = aem.corrupt(x, "mask", 0.5, g)
    dropped = masked[:, 0] == 0
    assert 0.3 < dropped.float().mean() < 0.7
    assert torch.equal(masked[:, 1] == 0, dropped)  # the same pixel in every channel
    assert torch.equal(aem.corrupt(x, "gaussian", 0.0), x)


def test_trained_autoencoder_is_reused_from_the_cache(tmp_path):
    from types import SimpleNamespace

    from nndl.cache import ArtifactCache
    from nndl.methods.autoencoding import trained_autoencoder

    def ctx(study):
        folder = tmp_path / study
        (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
        return SimpleNamespace(
            seed=0,
            device="cpu",
            resume=False,
            folder=folder,
            checkpoint_dir=folder / "checkpoints",
            cache=ArtifactCache(tmp_path / "cache"),
            study=SimpleNamespace(id=study),
            timings={},
        )

    x = torch.rand(16, 1, 28, 28)
    spec = aem.AESpec("dae", latent_dim=2, width=4, noise=0.2)
    kw = dict(num_epochs=1, batch_size=8, lr=1e-3)
    first = trained_autoencoder(ctx("a09"), spec, {"dataset": "t"}, x, x[:4], **kw)
    second = trained_autoencoder(ctx("a10"), spec, {"dataset": "t"}, x, x[:4], **kw)
    assert not first.cached and second.cached and second.trained_by.startswith("a09")
    for a, b in zip(
        first.model.state_dict().values(), second.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    assert second.history == first.history
    other = trained_autoencoder(ctx("a10"), spec, {"dataset": "u"}, x, x[:4], **kw)
    assert not other.cached  # other data: trained anew
