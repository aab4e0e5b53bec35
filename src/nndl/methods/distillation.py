"""Knowledge distillation (Hinton, Vinyals and Dean 2015) as a step function of the one loop.

The student learns from the teachers' temperature-softened class distributions and from the hard
labels. With K teachers, the soft target is the mean of their softened distributions:

    p_T = (1/K) sum_k softmax(z_k / T),   q_T = softmax(s / T)
    L = (1 - alpha) * T^2 * KL(p_T || q_T) + alpha * CE(softmax(s), y)

T^2 keeps the soft term's gradients at the scale of the hard term's as T grows (the gradient of
the KL term scales as 1/T^2). Teacher logits are computed once and travel with each batch as a
third array, (x, y, teacher_logits (B, K, C)): the training data has a fixed order per epoch and
no augmentation, so no teacher runs during the student's training.

Unlabelled images (Hinton et al.'s transfer set) carry the label -1: the soft term sees every
image, the hard cross-entropy only the labelled ones of the batch (its mean over them; 0 when a
batch has none).
"""

from __future__ import annotations

from functools import partial


def distillation_loss(student_logits, teacher_logits, y, temperature: float, alpha: float):
    """(total, soft KL term (times T^2), hard cross-entropy); teacher_logits (B, K, C) or (B, C)."""
    import torch.nn.functional as F

    if teacher_logits.dim() == 2:
        teacher_logits = teacher_logits[:, None]
    t = temperature
    p = F.softmax(teacher_logits / t, dim=-1).mean(dim=1)  # (B, C): the teachers' mean
    log_q = F.log_softmax(student_logits / t, dim=-1)
    soft = F.kl_div(log_q, p, reduction="batchmean") * t * t  # KL(p || q) * T^2
    labelled = (y >= 0).float()  # no host sync: a mask, not an index
    ce = F.cross_entropy(student_logits, y.clamp(min=0), reduction="none")
    hard = (ce * labelled).sum() / labelled.sum().clamp(min=1)
    return (1 - alpha) * soft + alpha * hard, soft, hard


def distillation_step(model, batch, *, temperature: float, alpha: float):
    """The step function: batch = (x, y, teacher_logits (B, K, C)); y = -1 for unlabelled images.
    Logs are tensors (the loop sums them on the device); acc is over the labelled images."""
    x, y, teacher_logits = batch
    logits = model(x)
    loss, soft, hard = distillation_loss(logits, teacher_logits, y, temperature, alpha)
    labelled = (y >= 0).float()
    acc = ((logits.argmax(1) == y).float() * labelled).sum() / labelled.sum().clamp(min=1)
    return loss, {"loss": loss.detach(), "kd": soft.detach(), "ce": hard.detach(), "acc": acc}


def make_step(temperature: float, alpha: float):
    return partial(distillation_step, temperature=temperature, alpha=alpha)
