"""GANs written by hand: DCGAN (optionally conditional) and CycleGAN's generator and PatchGAN.

- `DCGenerator` / `DCDiscriminator` follow Radford et al. (2016): no pooling (strided and
  fractionally-strided convolutions do the resampling), batch norm in both networks except the
  generator's output and the discriminator's input layer, ReLU in G with tanh output, LeakyReLU(0.2)
  in D, weights from N(0, 0.02). `num_classes > 0` makes them conditional (Mirza & Osindero 2014):
  G reads [z, one-hot(c)]; D adds a projection term (Miyato & Koyama 2018), the inner product of
  a learned class embedding with its pooled features (one-hot(c) as extra input channels, tried
  first, left the attribute ignored after a quick run's 10 epochs: 98.6% long hair asked without)
  and, with `forward(x, c, with_class=True)`, the logits of an auxiliary classifier on the same
  pooled features (AC-GAN, Odena et al. 2017; the projection alone did not condition: see
  `nndl.methods.gan.gan_step`).
  DCGAN and the conditional GAN are the same builder with a different `num_classes`.
- `ResnetGenerator` and `PatchDiscriminator` follow Zhu et al. (2017, CycleGAN): c7s1-w, two
  stride-2 downsamplings, residual blocks, two upsamplings, c7s1-3 with tanh; instance norm and
  reflection padding. The PatchGAN outputs one logit per overlapping patch (70x70 for 3 layers at
  256 px), so it judges texture and style rather than the global layout.

Images are in [-1, 1] (tanh range); every D returns logits (the losses apply the sigmoid).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def dcgan_init(module: nn.Module) -> None:
    """Radford et al.: conv weights ~ N(0, 0.02), batch-norm scale ~ N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear | nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.InstanceNorm2d) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def _levels(image_size: int) -> int:
    """Stride-2 stages between 4x4 and image_size (32 -> 3, 64 -> 4)."""
    n = round(math.log2(image_size / 4))
    if image_size < 8 or 4 * 2**n != image_size:
        raise ValueError(f"DCGAN image_size must be 4 x a power of two >= 8; got {image_size}.")
    return n


class DCGenerator(nn.Module):
    """z (B, z_dim) [+ class c (B,)] -> image (B, 3, S, S) in [-1, 1].

    1x1 -> 4x4 by a 4x4 transposed convolution, then each stage doubles the side and halves the
    channels: width * 2^(n-1) at 4x4 down to `width` at S/2, then 3 channels at S.
    """

    def __init__(self, z_dim: int = 64, width: int = 32, image_size: int = 32, num_classes=0):
        super().__init__()
        n = _levels(image_size)
        self.z_dim, self.num_classes = z_dim, num_classes
        ch = width * 2 ** (n - 1)
        layers = [
            nn.ConvTranspose2d(z_dim + num_classes, ch, 4, 1, 0, bias=False),  # (B, ch, 4, 4)
            nn.BatchNorm2d(ch),
            nn.ReLU(True),
        ]
        for _ in range(n - 1):  # (B, ch, s, s) -> (B, ch/2, 2s, 2s)
            layers += [
                nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ch // 2),
                nn.ReLU(True),
            ]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, 3, 4, 2, 1), nn.Tanh()]  # (B, 3, S, S)
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            z = torch.cat([z, nn.functional.one_hot(c, self.num_classes).to(z.dtype)], 1)
        return self.net(z[:, :, None, None])


class DCDiscriminator(nn.Module):
    """image (B, 3, S, S) [+ class c (B,)] -> logit (B,) that the image is real (of class c).

    Each stage halves the side and doubles the channels from `width`; no batch norm on the input
    layer (Radford et al.); a final 4x4 convolution maps (B, C, 4, 4) to one logit. Conditional:
    logit += <embed(c), sum over positions of the (B, C, 4, 4) features> (projection).
    """

    def __init__(self, width: int = 32, image_size: int = 32, num_classes=0):
        super().__init__()
        n = _levels(image_size)
        self.num_classes = num_classes
        ch = width
        layers = [nn.Conv2d(3, ch, 4, 2, 1), nn.LeakyReLU(0.2, True)]  # S/2
        for _ in range(n - 1):  # (B, ch, s, s) -> (B, 2ch, s/2, s/2)
            layers += [
                nn.Conv2d(ch, 2 * ch, 4, 2, 1, bias=False),
                nn.BatchNorm2d(2 * ch),
                nn.LeakyReLU(0.2, True),
            ]
            ch *= 2
        self.features = nn.Sequential(*layers)  # (B, ch, 4, 4)
        self.head = nn.Conv2d(ch, 1, 4, 1, 0)  # (B, 1, 1, 1)
        self.embed = nn.Embedding(num_classes, ch) if num_classes else None  # (K, C)
        self.classifier = nn.Linear(ch, num_classes) if num_classes else None  # AC-GAN head
        dcgan_init(self)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None, *, with_class=False):
        """logit (B,); with `with_class`, also the auxiliary classifier's logits (B, K)."""
        h = self.features(x)  # (B, C, 4, 4)
        logit = self.head(h).flatten()  # (B,)
        if not self.num_classes:
            return logit
        pooled = h.sum((2, 3))  # (B, C)
        logit = logit + (self.embed(c) * pooled).sum(1)  # projection: + embed(c) . pooled
        return (logit, self.classifier(pooled)) if with_class else logit


class ResidualBlock(nn.Module):
    """x + conv-IN-ReLU-conv-IN(x), reflection padded (CycleGAN's R-k)."""

    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch),
        )  # fmt: skip

    def forward(self, x):
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """image (B, 3, S, S) -> image (B, 3, S, S) in [-1, 1]; S must be a multiple of 4.

    c7s1-w, d2w, d4w, R4w x num_blocks, u2w, uw, c7s1-3 (Zhu et al. use w = 64 and 9 blocks at
    256 px, 6 at 128 px). `skip` (not in Zhu et al.) adds the input before the final tanh,
    out = tanh(atanh(x) + net(x)), so the network only learns the change and starts near the
    identity; without it, 1000 steps of supervised identity training left an L1 error of 0.11
    on 32 px faces (instance norm removes each channel's mean, so colours must be rebuilt).
    """

    def __init__(self, width: int = 32, num_blocks: int = 6, skip: bool = False):
        super().__init__()
        self.skip = skip
        w = width
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, w, 7), nn.InstanceNorm2d(w), nn.ReLU(True)]
        for k in (1, 2):  # (B, w*k, S/k) -> (B, 2wk, S/2k)
            layers += [
                nn.Conv2d(w * k, 2 * w * k, 3, 2, 1),
                nn.InstanceNorm2d(2 * w * k),
                nn.ReLU(True),
            ]
        layers += [ResidualBlock(4 * w) for _ in range(num_blocks)]  # (B, 4w, S/4, S/4)
        for k in (4, 2):  # (B, wk, s) -> (B, wk/2, 2s)
            layers += [
                nn.ConvTranspose2d(w * k, w * k // 2, 3, 2, 1, output_padding=1),
                nn.InstanceNorm2d(w * k // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(w, 3, 7)]  # (B, 3, S, S), tanh's input
        self.net = nn.Sequential(*layers)
        dcgan_init(self)  # CycleGAN initialises from N(0, 0.02) as well

    def forward(self, x):
        h = self.net(x)
        if self.skip:  # atanh(x): the input in tanh's input space (clamped: atanh(+-1) = +-inf)
            h = h + torch.atanh(x.clamp(-0.995, 0.995))
        return torch.tanh(h)


class PatchDiscriminator(nn.Module):
    """image (B, 3, S, S) -> patch logits (B, 1, S', S'): C64-C128-C256-C512 for num_layers = 3.

    `num_layers` stride-2 convolutions, then a stride-1 one and the 1-channel output; the receptive
    field of one logit is 70 px for 3 layers, 34 px for 2, 16 px for 1.
    """

    def __init__(self, width: int = 64, num_layers: int = 3):
        super().__init__()
        ch = width
        layers = [nn.Conv2d(3, ch, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for _ in range(num_layers - 1):
            layers += [
                nn.Conv2d(ch, 2 * ch, 4, 2, 1),
                nn.InstanceNorm2d(2 * ch),
                nn.LeakyReLU(0.2, True),
            ]
            ch *= 2
        layers += [
            nn.Conv2d(ch, 2 * ch, 4, 1, 1),
            nn.InstanceNorm2d(2 * ch),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * ch, 1, 4, 1, 1),
        ]
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, x):
        return self.net(x)


class ImagePool(nn.Module):
    """The history of generated images CycleGAN's discriminators train on (Shrivastava et al.
    2017; Zhu et al. keep 50): each new fake is stored; once the pool is full, half the time it
    is swapped for a random stored one, which D sees instead. D then also remembers the
    generators' older mistakes, which damps oscillation. Buffers, so checkpoints keep it.
    """

    def __init__(self, size: int = 50, shape: tuple = (3, 32, 32)):
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, *shape))  # (size, 3, H, W)
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def forward(self, fakes: torch.Tensor) -> torch.Tensor:
        out = []
        for f in fakes:
            n = int(self.count)
            if n < self.size:  # filling up: store, and return the new fake
                self.images[n] = f
                self.count += 1
                out.append(f)
            elif float(torch.rand(())) < 0.5:  # return an old fake, keep the new one
                i = int(torch.randint(self.size, ()))
                out.append(self.images[i].clone())
                self.images[i] = f
            else:
                out.append(f)
        return torch.stack(out)


# -- the three GANs: a few lines binding arguments to the builders ---------------------------------

GANS = {
    "dcgan": lambda cfg: (
        DCGenerator(cfg["z_dim"], cfg["width"], cfg["image_size"]),
        DCDiscriminator(cfg["width"], cfg["image_size"]),
    ),
    "cgan": lambda cfg: (
        DCGenerator(cfg["z_dim"], cfg["width"], cfg["image_size"], num_classes=2),
        DCDiscriminator(cfg["width"], cfg["image_size"], num_classes=2),
    ),
    "cyclegan": lambda cfg: (
        ResnetGenerator(cfg["width"], cfg["num_blocks"], cfg.get("skip", False)),
        PatchDiscriminator(cfg["d_width"], cfg["d_layers"]),
    ),
}


def build_gan(name: str, **cfg) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) of a registered GAN: dcgan, cgan, cyclegan."""
    from nndl.errors import ConfigError, did_you_mean

    if name not in GANS:
        raise ConfigError(f"Unknown GAN '{name}'.{did_you_mean(name, list(GANS))}")
    return GANS[name](cfg)
