"""A Siamese verifier: one embedding network applied to both faces, and a pair head for BCE.

The backbone is `SmallCNN` (features, global pooling), followed by a linear projection to
`emb_dim` and L2 normalisation: embeddings lie on the unit sphere, so distances are in [0, 2]
and one margin means the same thing for every model. The pair head (used by the BCE verifier)
reads the symmetric features [|e1 - e2|, e1 * e2] and outputs the logit of "same person".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nndl.models.small_cnn import SmallCNN


class Siamese(nn.Module):
    def __init__(self, emb_dim: int = 64, width: int = 16):
        super().__init__()
        self.backbone = SmallCNN(num_classes=emb_dim, width=width)  # its head is the projection
        self.pair_head = nn.Linear(2 * emb_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> unit embeddings (B, emb_dim)."""
        return F.normalize(self.backbone(x), dim=1)

    def pair_logit(self, e1: torch.Tensor, e2: torch.Tensor) -> torch.Tensor:
        """Logit of 'same person' for embedding pairs (B, D), (B, D) -> (B,)."""
        return self.pair_head(torch.cat([(e1 - e2).abs(), e1 * e2], dim=1)).squeeze(1)
