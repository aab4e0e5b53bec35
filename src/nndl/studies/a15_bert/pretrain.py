"""WordPiece + masked-language-model pretraining of the scratch BERT (cached), and what it
predicts for a [MASK]."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nndl.studies.a15_bert.training import train_model

if TYPE_CHECKING:
    from nndl.studies.a15_bert import Config


def _fingerprint(texts: list[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode())
    return h.hexdigest()[:16]


def pretrain(ctx, cfg: Config, corpus_train, corpus_held):
    """Tokenizer + MLM-pretrained scratch BERT, built once and cached (keyed by config and corpus),
    so that reruns and fine-tuning experiments skip the pretraining."""
    import torch

    from nndl.data.text_tasks import load_tokenizer, pack_corpus, special_ids, train_wordpiece
    from nndl.methods.mlm import Masker, MLMStep
    from nndl.models.bert import BertForMaskedLM
    from nndl.train import ArrayData

    key = {
        "corpus": cfg.corpus,
        "train": _fingerprint(corpus_train),
        "held": _fingerprint(corpus_held),
        "vocab": cfg.vocab_size,
        "model": [cfg.hidden_size, cfg.num_layers, cfg.num_heads, cfg.intermediate_size],
        "seq_len": cfg.seq_len,
        "epochs": cfg.pretrain_epochs,
        "bs": cfg.pretrain_batch_size,
        "lr": cfg.pretrain_lr,
        "mlm": cfg.mlm_prob,
        "max_seq": cfg.max_pretrain_sequences,
        "seed": ctx.seed,
        "max_position": cfg.scratch_config(0).max_position,
        "v": 2,
    }

    def build(folder: Path) -> dict:
        t0 = time.perf_counter()
        tok = train_wordpiece(corpus_train, cfg.vocab_size)
        tok_s = time.perf_counter() - t0
        sp = special_ids(tok)
        train_ids = pack_corpus(tok, corpus_train, cfg.seq_len)
        if cfg.max_pretrain_sequences and len(train_ids) > cfg.max_pretrain_sequences:
            keep = np.random.default_rng(ctx.seed).choice(
                len(train_ids), cfg.max_pretrain_sequences, replace=False
            )
            train_ids = train_ids[np.sort(keep)]
        held_ids = pack_corpus(tok, corpus_held, cfg.seq_len)[:2048]
        masker = Masker(
            mask_token_id=sp["[MASK]"],
            vocab_size=tok.get_vocab_size(),
            special_ids=sp.values(),
            mlm_prob=cfg.mlm_prob,
        )
        # the held-out set is masked once, with its own generator: the same targets every epoch
        held_in, held_labels = masker(
            torch.as_tensor(held_ids), generator=torch.Generator().manual_seed(ctx.seed + 7)
        )
        model = BertForMaskedLM(cfg.scratch_config(tok.get_vocab_size()))
        ones = torch.ones(len(train_ids), cfg.seq_len, dtype=torch.long)
        hist, secs, steps = train_model(
            ctx,
            "pretrain_mlm",
            model,
            (torch.as_tensor(train_ids), ones),
            MLMStep(masker),
            num_epochs=cfg.pretrain_epochs,
            lr=cfg.pretrain_lr,
            batch_size=cfg.pretrain_batch_size,
            val=ArrayData(held_in, torch.ones_like(held_in), held_labels),
        )
        tok.save(str(folder / "tokenizer.json"))
        torch.save(model.state_dict(), folder / "model.pt")
        (folder / "history.json").write_text(json.dumps(hist.epochs))
        return {
            "seconds": secs,
            "tokenizer_seconds": tok_s,
            "steps": steps,
            "train_sequences": len(train_ids),
            "held_sequences": len(held_ids),
            **unigram_baseline(train_ids, held_labels, tok.get_vocab_size(), sp.values()),
            "epoch_seconds": hist.epoch_seconds,
        }

    folder, cached = ctx.cache.get_or_build("a15-scratch-bert", key, build)
    meta = ctx.cache.meta(folder)
    tok = load_tokenizer(folder / "tokenizer.json")
    model = BertForMaskedLM(cfg.scratch_config(tok.get_vocab_size()))
    model.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
    history = json.loads((folder / "history.json").read_text())
    return tok, model, history, meta, cached


def unigram_baseline(train_ids, held_labels, vocab_size: int, special) -> dict:
    """What word frequency alone scores on the held-out masked tokens: always guessing the most
    frequent training piece (accuracy), and the cross-entropy of the training unigram
    distribution, add-one smoothed over the ordinary pieces (nats). A pretrained model that does
    not beat these has learned frequencies, not context."""
    from nndl.methods.mlm import IGNORE

    ordinary = np.ones(vocab_size, dtype=bool)
    ordinary[list(special)] = False
    counts = np.bincount(np.asarray(train_ids).ravel(), minlength=vocab_size) * ordinary
    p = np.where(ordinary, counts + 1.0, 0.0)
    p /= p.sum()
    targets = np.asarray(held_labels).ravel()
    targets = targets[targets != IGNORE]
    return {
        "unigram_masked_acc": float(np.mean(targets == counts.argmax())),
        "unigram_loss": float(-np.log(p[targets]).mean()),
    }


def fill_mask_examples(tok, mlm_model, texts, n: int = 4, k: int = 3) -> list[dict]:
    """Mask the middle word-piece of `n` held-out sentences; the model's top-k guesses."""
    import torch

    from nndl.data.text_tasks import special_ids

    sp = special_ids(tok)
    rows = []
    for text in texts[:: max(1, len(texts) // n)][:n]:
        enc = tok.encode(" ".join(text.split()[:16]))
        limit = mlm_model.bert.config.max_position
        ids, pieces = list(enc.ids)[:limit], enc.tokens[:limit]
        pos = len(ids) // 2
        target = pieces[pos]
        ids[pos] = sp["[MASK]"]
        mlm_model.eval()
        with torch.no_grad():
            logits = mlm_model(torch.tensor([ids]))[0, pos]
        top = [tok.id_to_token(int(i)) for i in logits.topk(k).indices]
        shown = list(pieces)
        shown[pos] = "[MASK]"
        shown = [p for p in shown if p not in ("[CLS]", "[SEP]")]
        rows.append(
            {
                "held-out text": " ".join(shown),
                "hidden piece": target,
                f"top-{k} guesses": ", ".join(top),
                "right": target in top,
            }
        )
    return rows
