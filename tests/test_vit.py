"""The scratch ViT: timm equivalence, every ablation option, positional embeddings."""

from __future__ import annotations

import math

import pytest
import torch

from nndl.errors import ConfigError
from nndl.models.vit import POS_EMBEDS, ViT, ViTConfig, build_vit, sincos_2d, timm_equivalent

SMALL = ViTConfig(image_size=32, patch_size=4, num_classes=7, dim=32, depth=2, num_heads=4)


@pytest.mark.parametrize(
    "changes", [{}, {"pool": "mean"}, {"pos_embed": "none"}, {"num_heads": 1, "depth": 3}]
)
def test_scratch_vit_loads_timm_state_dict_and_matches_outputs(changes):
    cfg = ViTConfig(**{**SMALL.__dict__, **changes})
    torch.manual_seed(0)
    ref = timm_equivalent(cfg).eval()
    ours = ViT(cfg).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)  # same names, same shapes
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(ours(x), ref(x), atol=1e-5, rtol=0)
        assert torch.allclose(ours.forward_features(x), ref.forward_features(x), atol=1e-5)


@pytest.mark.parametrize("patch_embed", ["linear", "conv_stem", "overlap"])
@pytest.mark.parametrize("pos_embed", POS_EMBEDS)
@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_every_variant_runs_forward_and_backward(patch_embed, pos_embed, pool):
    model = build_vit(SMALL, patch_embed=patch_embed, pos_embed=pos_embed, pool=pool)
    x = torch.randn(2, 3, 32, 32)
    tokens = model.forward_features(x)
    assert tokens.shape == (2, 64 + (pool == "cls"), 32)
    logits = model.forward_head(tokens)
    assert logits.shape == (2, 7)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_positional_embedding_shapes():
    grid, dim = SMALL.grid, SMALL.dim
    learned = build_vit(SMALL, pos_embed="learned")
    assert learned.pos_embed.shape == (1, grid * grid + 1, dim) and learned.pos_embed.requires_grad
    sincos = build_vit(SMALL, pos_embed="sincos")
    assert sincos.pos_embed.shape == (1, grid * grid + 1, dim)
    assert "pos_embed" not in dict(sincos.named_parameters())  # fixed, not trained
    assert torch.all(sincos.pos_embed[0, 0] == 0)  # the class token gets no position
    rel = build_vit(SMALL, pos_embed="relative", pool="mean")
    assert rel.rel_bias.table.shape == ((2 * grid - 1) ** 2, SMALL.num_heads)
    assert rel.rel_bias().shape == (SMALL.num_heads, grid * grid, grid * grid)
    assert build_vit(SMALL, pos_embed="none").pos_embed is None


def test_relative_bias_depends_only_on_the_offset():
    rel = build_vit(SMALL, pos_embed="relative").rel_bias
    bias = rel().detach()  # (heads, 1 + N, 1 + N), class token first
    g = SMALL.grid
    assert torch.all(bias[:, 0] == 0) and torch.all(bias[:, :, 0] == 0)

    def at(r1, c1, r2, c2):
        return bias[:, 1 + r1 * g + c1, 1 + r2 * g + c2]

    assert torch.equal(at(0, 0, 1, 2), at(3, 4, 4, 6))  # same (dy, dx) = (1, 2)
    assert not torch.equal(at(0, 0, 1, 2), at(0, 0, 2, 1))


def test_sincos_values_follow_the_formula():
    grid, dim = 4, 16
    table = sincos_2d(grid, dim)
    assert table.shape == (grid * grid, dim)
    d = dim // 4
    for r, c in [(0, 0), (1, 3), (3, 2)]:
        row = table[r * grid + c]
        for i in range(d):
            w = 1 / 10000 ** (i / d)
            assert row[i] == pytest.approx(math.sin(r * w), abs=1e-6)
            assert row[d + i] == pytest.approx(math.cos(r * w), abs=1e-6)
            assert row[2 * d + i] == pytest.approx(math.sin(c * w), abs=1e-6)
            assert row[3 * d + i] == pytest.approx(math.cos(c * w), abs=1e-6)


def test_bad_configurations_are_config_errors():
    with pytest.raises(ConfigError, match="divide"):
        build_vit(SMALL, num_heads=5)
    with pytest.raises(ConfigError, match="multiple"):
        build_vit(SMALL, patch_size=5)
    with pytest.raises(ConfigError, match="patch_embed"):
        build_vit(SMALL, patch_embed="hexagonal")
