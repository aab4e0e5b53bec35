"""Masked language modelling with dynamic masking (BERT, section 3.1 and appendix A.1).

Every time a sequence is drawn, 15% of its ordinary tokens are chosen as prediction targets; of
those, 80% are replaced by [MASK], 10% by a random ordinary token and 10% are left unchanged.
Special tokens ([PAD], [CLS], [SEP], [MASK], [UNK]) are never chosen. "Dynamic" (RoBERTa): the
choice is redrawn per batch in the step function, so repeated epochs see different masks.

The random numbers come from torch's global generator (or the one passed in): the training loop
checkpoints it, so a resumed pretraining run draws the same masks as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F

IGNORE = -100  # label of positions that are not predicted (F.cross_entropy's ignore_index)


class Masker:
    """Draws MLM inputs and labels for a batch of token ids."""

    def __init__(
        self,
        *,
        mask_token_id: int,
        vocab_size: int,
        special_ids: Iterable[int],
        mlm_prob: float = 0.15,
        mask_frac: float = 0.8,
        random_frac: float = 0.1,
    ):
        if not 0 < mlm_prob < 1 or mask_frac + random_frac > 1:
            raise ValueError("need 0 < mlm_prob < 1 and mask_frac + random_frac <= 1")
        self.mask_token_id, self.vocab_size = mask_token_id, vocab_size
        self.special_ids = torch.tensor(sorted(set(special_ids) | {mask_token_id}))
        ordinary = torch.ones(vocab_size, dtype=torch.bool)
        ordinary[self.special_ids] = False
        self.ordinary_ids = ordinary.nonzero().squeeze(1)  # what a random replacement draws from
        self.mlm_prob, self.mask_frac, self.random_frac = mlm_prob, mask_frac, random_frac

    def __call__(self, input_ids: torch.Tensor, generator: torch.Generator | None = None):
        """(inputs, labels): labels hold the original id at chosen positions, IGNORE elsewhere."""
        g = {"generator": generator} if generator is not None else {}
        ids = input_ids.clone()
        special = torch.isin(ids, self.special_ids.to(ids.device))
        u = torch.rand(ids.shape, device=ids.device, **g)
        chosen = (u < self.mlm_prob) & ~special  # ~15% of ordinary tokens
        labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE))
        # one more uniform draw splits the chosen ones 80 / 10 / 10
        v = torch.rand(ids.shape, device=ids.device, **g)
        to_mask = chosen & (v < self.mask_frac)
        to_random = chosen & (v >= self.mask_frac) & (v < self.mask_frac + self.random_frac)
        ids[to_mask] = self.mask_token_id
        pick = torch.randint(
            len(self.ordinary_ids), (int(to_random.sum()),), device=ids.device, **g
        )
        ids[to_random] = self.ordinary_ids.to(ids.device)[pick]
        return ids, labels  # the remaining ~10% of chosen tokens stay unchanged


class MLMStep:
    """Step function for the shared loop: `(model, batch) -> (loss, logs)`.

    batch = (input_ids, attention_mask): masked here, afresh for every batch (dynamic masking);
    batch = (input_ids, attention_mask, labels): already masked (a fixed held-out set).
    Logs: loss (mean cross-entropy over the masked tokens) and masked-token accuracy.
    """

    def __init__(self, masker: Masker):
        self.masker = masker

    def __call__(self, model, batch):
        if len(batch) == 2:
            ids, attn = batch
            ids, labels = self.masker(ids)
        else:
            ids, attn, labels = batch
        length = int(attn.sum(1).max())  # right-padded: drop the all-padding columns
        ids, attn, labels = ids[:, :length], attn[:, :length], labels[:, :length]
        positions = labels != IGNORE
        logits = model(ids, None, attn, positions=positions)  # (N masked, V)
        target = labels[positions]
        if target.numel() == 0:  # nothing chosen in this (tiny) batch
            zero = logits.sum() * 0.0
            return zero, {"loss": 0.0, "masked_acc": 0.0}
        loss = F.cross_entropy(logits, target)
        acc = (logits.argmax(-1) == target).float().mean()
        return loss, {"loss": loss.detach(), "masked_acc": acc.detach()}  # summed on the device
