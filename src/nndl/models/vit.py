"""A Vision Transformer written from scratch, one builder whose options are a14's ablations.

    model = ViT(ViTConfig(image_size=32, patch_size=4, dim=64, depth=4, num_heads=4))
    model = ViT(ViTConfig(..., patch_embed="conv_stem", pos_embed="sincos", pool="mean"))

Options:
- `patch_embed`: "linear" (non-overlapping p x p patches, each flattened and mapped linearly to
  `dim`; written as a convolution with kernel = stride = p, which is exactly that linear map),
  "conv_stem" (stride-2 3x3 convolutions with batch norm and ReLU down to the patch grid, then a
  1x1 projection: Xiao et al. 2021, "Early convolutions help transformers see better"),
  "overlap" (a (2p-1) x (2p-1) convolution at stride p: neighbouring patches share pixels).
- `pos_embed`: "none", "learned" (one vector per token, ViT's), "sincos" (fixed 2-D sinusoids:
  half the channels encode the row, half the column), "relative" (a learned bias per head added
  to the attention logits, indexed by the 2-D offset between two patches: Swin's).
- `pool`: "cls" (a class token, read out after the last block) or "mean" (no class token; the
  mean of the patch tokens, then a LayerNorm).

Parameter names follow timm's `VisionTransformer`, so with linear patches, learned or no
positions and cls or mean pooling the scratch model loads timm's state dict as is and gives the
same outputs (tests/test_vit.py checks it to 1e-5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from nndl.errors import ConfigError

PATCH_EMBEDS = ("linear", "conv_stem", "overlap")
POS_EMBEDS = ("none", "learned", "sincos", "relative")
POOLS = ("cls", "mean")


@dataclass(frozen=True)
class ViTConfig:
    image_size: int = 32  # side of the square input
    patch_size: int = 4  # side of a patch: (image_size / patch_size)^2 tokens
    in_channels: int = 3
    num_classes: int = 20
    dim: int = 64  # token width
    depth: int = 4  # transformer blocks
    num_heads: int = 4  # attention heads (dim must divide by it)
    mlp_ratio: float = 2.0  # hidden width of each block's MLP, in units of dim
    patch_embed: Literal["linear", "conv_stem", "overlap"] = "linear"
    pos_embed: Literal["none", "learned", "sincos", "relative"] = "learned"
    pool: Literal["cls", "mean"] = "cls"
    dropout: float = 0.0

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    def check(self) -> ViTConfig:
        if self.image_size % self.patch_size:
            raise ConfigError(
                f"ViT: image_size {self.image_size} is not a multiple of patch_size "
                f"{self.patch_size}."
            )
        if self.num_heads < 1 or self.dim % self.num_heads:
            raise ConfigError(f"ViT: dim {self.dim} does not divide into {self.num_heads} heads.")
        if self.pos_embed == "sincos" and self.dim % 4:
            raise ConfigError(f"ViT: 2-D sinusoidal positions need dim % 4 == 0; got {self.dim}.")
        if self.patch_embed == "conv_stem" and self.patch_size & (self.patch_size - 1):
            raise ConfigError(
                f"ViT: the convolutional stem halves the image per layer; patch_size must be a "
                f"power of 2, got {self.patch_size}."
            )
        for name, value, allowed in (
            ("patch_embed", self.patch_embed, PATCH_EMBEDS),
            ("pos_embed", self.pos_embed, POS_EMBEDS),
            ("pool", self.pool, POOLS),
        ):
            if value not in allowed:
                raise ConfigError(f"ViT: {name} must be one of {', '.join(allowed)}; got {value}.")
        return self


# -- positions -----------------------------------------------------------------------------------


def sincos_2d(grid: int, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """Fixed 2-D sinusoidal embedding (grid*grid, dim), rows in raster order (MAE's layout).

    For a patch at (row r, column c), with d = dim/4 and w_i = 1 / temperature^(i/d), i < d:
        [sin(r w), cos(r w), sin(c w), cos(c w)]   (each d wide)
    """
    d = dim // 4
    omega = 1.0 / temperature ** (torch.arange(d, dtype=torch.float64) / d)  # (d,)
    rows, cols = torch.meshgrid(
        torch.arange(grid, dtype=torch.float64),
        torch.arange(grid, dtype=torch.float64),
        indexing="ij",
    )
    r = rows.reshape(-1, 1) * omega  # (N, d)
    c = cols.reshape(-1, 1) * omega
    return torch.cat([r.sin(), r.cos(), c.sin(), c.cos()], dim=1).float()  # (N, dim)


class RelativePositionBias(nn.Module):
    """A learned bias per head for each 2-D offset between two patches, (heads, T, T).

    The table has (2g-1)^2 rows (offsets dy, dx in -(g-1)..g-1); the class token, when there is
    one, gets no bias (its row and column are zero).
    """

    def __init__(self, grid: int, num_heads: int, num_prefix: int):
        super().__init__()
        self.num_prefix = num_prefix
        self.table = nn.Parameter(torch.zeros((2 * grid - 1) ** 2, num_heads))
        nn.init.trunc_normal_(self.table, std=0.02)
        ys, xs = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
        coords = torch.stack([ys.flatten(), xs.flatten()])  # (2, N)
        offset = coords[:, :, None] - coords[:, None, :] + grid - 1  # (2, N, N) in 0..2g-2
        self.register_buffer("index", offset[0] * (2 * grid - 1) + offset[1], persistent=False)

    def forward(self) -> torch.Tensor:
        n = self.index.shape[0]
        bias = self.table[self.index.reshape(-1)].reshape(n, n, -1).permute(2, 0, 1)  # (h, N, N)
        return F.pad(bias, (self.num_prefix, 0, self.num_prefix, 0))  # (h, T, T)


# -- blocks --------------------------------------------------------------------------------------


class Attention(nn.Module):
    """Multi-head self-attention: softmax(Q K^T / sqrt(d_head) + bias) V, heads concatenated."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        b, t, d = x.shape
        qkv = self.qkv(x).reshape(b, t, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each (B, heads, T, head_dim)
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)  # (B, heads, T, head_dim)
        return self.proj(x.transpose(1, 2).reshape(b, t, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(F.gelu(self.fc1(x)))))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(LN(x)), then x + mlp(LN(x))."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.attn = Attention(cfg.dim, cfg.num_heads)
        self.norm2 = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.mlp = Mlp(cfg.dim, int(cfg.dim * cfg.mlp_ratio), cfg.dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), bias)
        return x + self.mlp(self.norm2(x))


# -- patch embeddings ----------------------------------------------------------------------------


class PatchEmbed(nn.Module):
    """(B, C, H, W) -> (B, N, dim) tokens in raster order, N = (H / p)^2."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        p, d = cfg.patch_size, cfg.dim
        if cfg.patch_embed == "linear":  # kernel = stride = p: one linear map per patch
            self.stem = nn.Identity()
            self.proj = nn.Conv2d(cfg.in_channels, d, p, stride=p)
        elif cfg.patch_embed == "overlap":  # (2p-1)^2 windows at stride p, padded to keep N
            k = 2 * p - 1
            self.stem = nn.Identity()
            self.proj = nn.Conv2d(cfg.in_channels, d, k, stride=p, padding=(k - p + 1) // 2)
        else:  # conv_stem: log2(p) stride-2 3x3 convolutions, widths growing to dim, then 1x1
            layers, c = [], cfg.in_channels
            n = int(math.log2(p))
            for i in range(n):
                out = max(d // 2 ** (n - i), 8)
                layers += [nn.Conv2d(c, out, 3, 2, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
                c = out
            self.stem = nn.Sequential(*layers)
            self.proj = nn.Conv2d(c, d, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.stem(x)).flatten(2).transpose(1, 2)  # (B, N, dim)


# -- the model -----------------------------------------------------------------------------------


class ViT(nn.Module):
    """patch embedding -> [class token] + positions -> blocks -> norm -> pool -> head."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg.check()
        self.num_classes, self.num_features = cfg.num_classes, cfg.dim
        n, d = cfg.grid**2, cfg.dim
        self.num_prefix = 1 if cfg.pool == "cls" else 0
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d)) if self.num_prefix else None
        self.patch_embed = PatchEmbed(cfg)
        if cfg.pos_embed == "learned":  # one vector per token, the class token's included
            self.pos_embed = nn.Parameter(torch.randn(1, n + self.num_prefix, d) * 0.02)
        elif cfg.pos_embed == "sincos":  # fixed; the class token gets zeros
            table = F.pad(sincos_2d(cfg.grid, d), (0, 0, self.num_prefix, 0))
            self.register_buffer("pos_embed", table[None], persistent=False)
        else:
            self.pos_embed = None
        self.rel_bias = (
            RelativePositionBias(cfg.grid, cfg.num_heads, self.num_prefix)
            if cfg.pos_embed == "relative"
            else None
        )
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        # cls: LayerNorm over all tokens, read the class token; mean: pool, then LayerNorm (timm)
        self.norm = nn.LayerNorm(d, eps=1e-6) if cfg.pool == "cls" else nn.Identity()
        self.fc_norm = nn.LayerNorm(d, eps=1e-6) if cfg.pool == "mean" else nn.Identity()
        self.head = nn.Linear(d, cfg.num_classes)
        self._init()

    def _init(self) -> None:
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> tokens (B, T, dim) after the last block (T = N + class token)."""
        x = self.patch_embed(x)  # (B, N, dim)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], dim=1)  # (B, 1 + N, dim)
        if self.pos_embed is not None:
            x = x + self.pos_embed
        bias = self.rel_bias() if self.rel_bias is not None else None  # (heads, T, T)
        for block in self.blocks:
            x = block(x, bias)
        return self.norm(x)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        pooled = features[:, 0] if self.num_prefix else features.mean(dim=1)  # (B, dim)
        pooled = self.fc_norm(pooled)
        return pooled if pre_logits else self.head(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def build_vit(base: ViTConfig, **changes) -> ViT:
    """The one builder: `base` with `changes` (an ablation variant binds a few of them)."""
    return ViT(replace(base, **changes))


def timm_equivalent(cfg: ViTConfig):
    """timm's VisionTransformer of the same configuration (linear patches, learned or no
    positions), randomly initialised; the scratch model loads its state dict as is."""
    from timm.models.vision_transformer import VisionTransformer

    if cfg.patch_embed != "linear" or cfg.pos_embed not in ("learned", "none"):
        raise ConfigError("timm's VisionTransformer has linear patches and learned/no positions.")
    return VisionTransformer(
        img_size=cfg.image_size,
        patch_size=cfg.patch_size,
        in_chans=cfg.in_channels,
        num_classes=cfg.num_classes,
        embed_dim=cfg.dim,
        depth=cfg.depth,
        num_heads=cfg.num_heads,
        mlp_ratio=cfg.mlp_ratio,
        qkv_bias=True,
        class_token=cfg.pool == "cls",
        global_pool="token" if cfg.pool == "cls" else "avg",
        pos_embed="learn" if cfg.pos_embed == "learned" else "none",
    )


def speed_against_timm(cfg: ViTConfig, *, batch: int, repeats: int, device: str = "cpu") -> dict:
    """Forward + backward time of the scratch ViT and timm's, same configuration and weights.

    Both are warmed up, then timed in alternating single calls so that a change in machine load
    hits both alike; medians in ms and their ratio (scratch / timm).
    """
    import statistics

    import numpy as np

    from nndl.bench import latency

    torch.manual_seed(0)
    ref = timm_equivalent(cfg).to(device).train()
    ours = ViT(cfg).to(device).train()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(batch, cfg.in_channels, cfg.image_size, cfg.image_size, device=device)

    def step(model):
        def fn():
            model.zero_grad(set_to_none=True)
            model(x).sum().backward()

        return fn

    fns = {"timm": step(ref), "scratch": step(ours)}
    for fn in fns.values():
        latency(fn, warmup=2, repeats=1, device=device)
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            times[k].append(latency(fn, warmup=0, repeats=1, device=device).median_ms)
    timm_ms, scratch_ms = statistics.median(times["timm"]), statistics.median(times["scratch"])
    return {
        "timm_ms": timm_ms,
        "scratch_ms": scratch_ms,
        "timm_p90_ms": float(np.percentile(times["timm"], 90)),
        "scratch_p90_ms": float(np.percentile(times["scratch"], 90)),
        "ratio": scratch_ms / timm_ms,
        "batch": batch,
        "repeats": repeats,
        "threads": torch.get_num_threads(),
    }
