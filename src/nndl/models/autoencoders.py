"""Convolutional autoencoders: AE (any bottleneck, 2-D for scatter plots), DAE and VAE.

One encoder/decoder pair serves all three (`variant` picks the training objective):

- **ae**: x -> z = enc(x) -> x_hat = dec(z); loss = reconstruction(x_hat, x).
- **dae**: the same network; the input is corrupted (Gaussian noise of `sigma`, or a share of the
  pixels masked to 0) and the target is the clean image: loss = reconstruction(dec(enc(x~)), x).
- **vae**: the encoder gives (mu, log sigma^2); z = mu + sigma * eps (reparameterisation), and the
  loss is the negative ELBO = reconstruction + KL(q(z|x) || N(0, I)), both reported.

Reconstruction is the Bernoulli log-likelihood of the pixels in [0, 1] (binary cross-entropy),
summed over pixels, per image (nats): the same term for all three, so their numbers compare.

Shapes: images (B, C, S, S) with S a multiple of 4 (28 for digits/MNIST, 32 for shapes/CIFAR):
two stride-2 convolutions take S to S/4, a linear layer maps the flattened map to the latent.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

VARIANTS = ("ae", "dae", "vae")
CORRUPTIONS = ("gaussian", "mask")


@dataclass(frozen=True)
class AESpec:
    """Everything that defines a trained autoencoder (its cache key, with the data and epochs)."""

    variant: str = "ae"  # ae | dae | vae
    latent_dim: int = 2  # size of the bottleneck z
    width: int = 32  # channels of the first convolution (doubled in the second)
    corruption: str = "gaussian"  # dae: gaussian | mask
    noise: float = 0.0  # dae: Gaussian sigma (pixels in [0, 1]) or the share of masked pixels


def _down(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2))


def _up(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2)
    )


class AutoEncoder(nn.Module):
    """enc: conv(C->w, /2), conv(w->2w, /2), linear -> z;  dec: the mirror image, sigmoid output.

    For the VAE the encoder's linear layer has 2 * latent_dim outputs: (mu, log sigma^2).
    """

    def __init__(self, spec: AESpec, in_channels: int, image_size: int):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image_size must be a multiple of 4; got {image_size}")
        self.spec = spec
        self.in_channels, self.image_size = in_channels, image_size
        w, s = spec.width, image_size // 4
        self.map_shape = (2 * w, s, s)  # (2w, S/4, S/4)
        flat = 2 * w * s * s
        out = 2 * spec.latent_dim if spec.variant == "vae" else spec.latent_dim
        self.encoder = nn.Sequential(
            _down(in_channels, w), _down(w, 2 * w), nn.Flatten(), nn.Linear(flat, out)
        )
        self.decoder_fc = nn.Sequential(nn.Linear(spec.latent_dim, flat), nn.LeakyReLU(0.2))
        self.decoder_conv = nn.Sequential(
            _up(2 * w, w), nn.ConvTranspose2d(w, in_channels, 4, 2, 1)
        )  # logits (B, C, S, S)

    @property
    def is_vae(self) -> bool:
        return self.spec.variant == "vae"

    def encode_stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(mu, logvar) for the VAE; (z, None) for AE/DAE."""
        h = self.encoder(x)
        if self.is_vae:
            mu, logvar = h.chunk(2, dim=1)
            return mu, logvar.clamp(-12, 8)  # keeps exp() finite in the first steps
        return h, None

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code used as a feature: z for AE/DAE, the posterior mean mu for the VAE."""
        return self.encode_stats(x)[0]

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder_conv(self.decoder_fc(z).view(-1, *self.map_shape))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], (B, C, S, S)."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: torch.Tensor):
        """(logits of x_hat, mu or z, logvar or None): what the loss needs, in one call (DDP).

        The VAE samples z = mu + sigma * eps in training and decodes mu in evaluation."""
        mu, logvar = self.encode_stats(x)
        z = mu
        if self.is_vae and self.training:
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()  # reparameterisation
        return self.decode_logits(z), mu, logvar

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """x_hat in [0, 1] (the VAE decodes its posterior mean)."""
        return self.decode(self.encode(x))


def build(spec: AESpec, in_channels: int, image_size: int) -> AutoEncoder:
    if spec.variant not in VARIANTS:
        from nndl.errors import ConfigError, did_you_mean

        raise ConfigError(
            f"Unknown autoencoder '{spec.variant}'.{did_you_mean(spec.variant, VARIANTS)}"
        )
    return AutoEncoder(spec, in_channels, image_size)


# -- corruption and losses -------------------------------------------------------------------------


def corrupt(x: torch.Tensor, kind: str, level: float, generator=None) -> torch.Tensor:
    """x~: Gaussian noise of sigma `level` (clipped to [0, 1]), or a share `level` of pixels set
    to 0 (the same pixel in every channel)."""
    if level <= 0:
        return x
    if kind == "gaussian":
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return (x + level * noise).clamp(0, 1)
    if kind == "mask":
        keep = torch.rand((x.shape[0], 1, *x.shape[2:]), generator=generator, device=x.device)
        return x * (keep >= level).to(x.dtype)
    raise ValueError(f"unknown corruption {kind!r}; valid: {', '.join(CORRUPTIONS)}")


def reconstruction_nats(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x | z) under independent Bernoulli pixels: BCE summed over pixels, per image (B,)."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) = 1/2 sum(mu^2 + sigma^2 - log sigma^2 - 1), (B,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(1)


def step(model, batch) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of the model's variant, for the training loop. batch = (x,) or (x, y)."""
    x = batch[0]
    spec: AESpec = getattr(model, "module", model).spec  # DDP wraps the module
    x_in = corrupt(x, spec.corruption, spec.noise) if spec.variant == "dae" else x  # x~
    logits, mu, logvar = model(x_in)
    rec = reconstruction_nats(logits, x)  # the target is always the clean x
    if spec.variant != "vae":
        loss = rec.mean()
        return loss, {"loss": loss.detach(), "rec": loss.detach()}  # the loop sums on the device
    kl = kl_standard_normal(mu, logvar)
    loss = (rec + kl).mean()  # negative ELBO per image, nats
    return loss, {"loss": loss.detach(), "rec": rec.mean().detach(), "kl": kl.mean().detach()}
