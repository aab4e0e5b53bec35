"""The hand-written BERT against transformers, MLM masking statistics, SQuAD metric and spans."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from nndl.errors import WeightsError
from nndl.methods import squad
from nndl.methods.mlm import IGNORE, Masker, MLMStep
from nndl.models import bert as B


def tiny(**changes) -> B.BertConfig:
    """A BERT small enough for a unit test (2 layers, 16 wide, 2 heads)."""
    sizes = dict(
        vocab_size=60,
        hidden_size=16,
        num_layers=2,
        num_heads=2,
        intermediate_size=32,
        max_position=24,
    )
    return B.BertConfig(**{**sizes, **changes})


def _batch(vocab: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (3, 20), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 14:], mask[2, 6:] = 0, 0
    types = torch.zeros_like(ids)
    types[:, 10:] = 1
    return ids, types, mask


def test_minilm_reproduces_transformers_hidden_states():
    """The proof that the architecture is right: public weights, same outputs."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    transformers = pytest.importorskip("transformers")
    folder = B.minilm_path()
    hf = transformers.BertModel.from_pretrained(str(folder)).eval()
    config, state = B.read_hf_checkpoint(folder)
    ours = B.BertModel(config).eval()
    report = B.load_hf_state_dict(ours, state)
    assert not report["missing"] and report["ignored"] == ["embeddings.position_ids"]
    ids, types, mask = _batch(config.vocab_size)
    with torch.no_grad():
        a = hf(ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True)
        b = ours(ids, types, mask, output_hidden_states=True)
    assert len(a.hidden_states) == len(b.hidden_states) == config.num_layers + 1
    keep = mask[..., None].bool()
    for x, y in zip(a.hidden_states, b.hidden_states, strict=True):
        assert ((x - y).abs() * keep).max() < 1e-4
    assert (a.pooler_output - b.pooled).abs().max() < 1e-4
    # and the test would fail for a wrong architecture: one swapped tensor breaks it
    state = dict(state)
    k = "encoder.layer.0.attention.self.query.weight"
    state[k] = state[k].T.contiguous()
    B.load_hf_state_dict(ours, state)
    with torch.no_grad():
        c = ours(ids, types, mask).last_hidden_state
    assert ((a.last_hidden_state - c).abs() * keep).max() > 1e-2


def test_mlm_head_and_tied_decoder_match_bert_for_masked_lm():
    transformers = pytest.importorskip("transformers")
    cfg = B.BertConfig(
        vocab_size=97,
        hidden_size=32,
        num_layers=2,
        num_heads=4,
        intermediate_size=64,
        max_position=40,
    )
    torch.manual_seed(0)
    hf = transformers.BertForMaskedLM(cfg.to_hf()).eval()
    ours = B.BertForMaskedLM(cfg).eval()
    report = B.load_hf_state_dict(ours, hf.state_dict())
    assert report["missing"] == ["bert.pooler.dense.weight", "bert.pooler.dense.bias"]
    ids, types, mask = _batch(cfg.vocab_size, seed=1)
    with torch.no_grad():
        ref = hf(ids, attention_mask=mask, token_type_ids=types).logits
        got = ours(ids, types, mask)
        pos = torch.zeros_like(ids, dtype=torch.bool)
        pos[0, 3], pos[2, 1] = True, True
        sel = ours(ids, types, mask, positions=pos)
    assert (ref - got).abs().max() < 1e-4
    assert sel.shape == (2, cfg.vocab_size) and torch.allclose(sel, got[pos], atol=1e-5)
    # the decoder is the token embedding matrix itself (tied), not a copy
    assert ours.bert.embeddings.word.weight.data_ptr() not in {
        p.data_ptr() for n, p in ours.named_parameters() if "word" not in n
    }


def test_wrong_shapes_and_foreign_checkpoints_are_refused():
    small = B.BertModel(tiny(vocab_size=50, num_layers=1, max_position=16))
    state = {"embeddings.word_embeddings.weight": torch.zeros(51, 16)}
    with pytest.raises(WeightsError, match="shape"):
        B.load_hf_state_dict(small, state)
    with pytest.raises(WeightsError, match="lacks"):
        B.load_hf_state_dict(small, {"something.else": torch.zeros(1)})
    assert (
        B.map_hf_name("bert.encoder.layer.3.output.LayerNorm.gamma")
        == "bert.layers.3.ffn.norm.weight"
    )


@pytest.mark.parametrize("head", ["sequence", "pair", "span"])
def test_heads_forward_backward(head):
    cfg = tiny()
    bert = B.BertModel(cfg)
    model = {
        "sequence": lambda: B.BertForSequenceClassification(bert, 2),
        "pair": lambda: B.BertForPairClassification(bert, 3),
        "span": lambda: B.BertForSpanExtraction(bert),
    }[head]()
    ids, types, mask = _batch(cfg.vocab_size)
    out = model(ids, types, mask)
    if head == "span":
        start, end = out
        assert start.shape == end.shape == ids.shape
        assert (start[mask == 0] < -1e3).all()  # padding can never be an answer
        loss = start.logsumexp(1).sum() + end.logsumexp(1).sum()
    else:
        assert out.shape == (3, 2 if head == "sequence" else 3)
        loss = out.sum()
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    unused = ("bert.pooler.",) if head == "span" else ()  # span heads read tokens, not [CLS]
    assert all(g is not None for n, g in grads.items() if not n.startswith(unused))
    assert grads["bert.embeddings.word.weight"].abs().sum() > 0


def test_padding_does_not_change_the_tokens_outputs():
    cfg = tiny()
    model = B.BertModel(cfg).eval()
    ids = torch.randint(5, 60, (1, 8))
    padded = torch.cat([ids, torch.zeros(1, 5, dtype=torch.long)], 1)
    mask = torch.cat([torch.ones(1, 8), torch.zeros(1, 5)], 1).long()
    with torch.no_grad():
        a = model(ids).last_hidden_state
        b = model(padded, None, mask).last_hidden_state[:, :8]
    assert torch.allclose(a, b, atol=1e-5)


# -- masking --------------------------------------------------------------------------------------


def test_masking_statistics_80_10_10_and_specials_never_masked():
    vocab, specials = 1000, [0, 1, 2, 3, 4]  # [PAD] [UNK] [CLS] [SEP] [MASK]
    masker = Masker(mask_token_id=4, vocab_size=vocab, special_ids=specials)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab, (400, 128), generator=g)
    ids[:, 0], ids[:, -1], ids[:, 100:110] = 2, 3, 0  # [CLS] ... [SEP], some padding
    inputs, labels = masker(ids, generator=g)
    special = torch.isin(ids, torch.tensor(specials))
    chosen = labels != IGNORE
    assert not (chosen & special).any()
    assert (inputs[special] == ids[special]).all()
    assert (labels[chosen] == ids[chosen]).all()  # targets are the original tokens
    n = chosen.sum().item()
    assert abs(n / (~special).sum().item() - 0.15) < 0.005
    masked = (inputs == 4) & chosen
    same = (inputs == ids) & chosen
    random = chosen & ~masked & ~same
    assert abs(masked.sum().item() / n - 0.8) < 0.01
    assert abs(same.sum().item() / n - 0.1) < 0.01  # (+ ~1/V random draws of the same id)
    assert abs(random.sum().item() / n - 0.1) < 0.01
    assert not torch.isin(inputs[random], torch.tensor(specials)).any()
    assert not ((inputs == 4) & ~chosen).any()  # [MASK] appears only at targets


def test_dynamic_masks_change_fixed_held_out_masks_do_not():
    masker = Masker(mask_token_id=4, vocab_size=50, special_ids=[0, 1, 2, 3])
    ids = torch.randint(5, 50, (4, 30))
    a, _ = masker(ids)
    b, _ = masker(ids)
    assert not torch.equal(a, b)
    cfg = tiny(vocab_size=50, num_layers=1, max_position=32)
    model = B.BertForMaskedLM(cfg).eval()
    step = MLMStep(masker)
    inputs, labels = masker(ids, generator=torch.Generator().manual_seed(3))
    batch = (inputs, torch.ones_like(ids), labels)
    with torch.no_grad():
        l1, logs1 = step(model, batch)
        l2, _ = step(model, batch)
    assert l1.item() == l2.item() and 0 <= logs1["masked_acc"] <= 1
    assert abs(l1.item() - np.log(50)) < 1.0  # an untrained model is near a uniform guess


# -- SQuAD metric and spans -----------------------------------------------------------------------


def test_official_normalisation_and_metrics():
    assert squad.normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert squad.normalize_answer("an apple, a pear") == "apple pear"
    assert squad.exact_match("the Denver Broncos", "Denver Broncos") == 1.0
    assert squad.f1("Denver Broncos won", "the Denver Broncos") == pytest.approx(0.8)
    assert squad.f1("Carolina", "Denver Broncos") == 0.0
    gold = {"q1": ["Denver Broncos", "Broncos"], "q2": ["1961"], "q3": ["Paris"]}
    r = squad.evaluate(gold, {"q1": "broncos", "q2": "in 1961"})
    assert r["exact_match"] == pytest.approx(100 / 3)  # q1 exact, q2 not, q3 missing
    assert r["f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)


def test_best_span_respects_order_length_and_context():
    s = np.array([0.0, 5.0, 1.0, 0.0, 9.0, 0.0])
    e = np.array([0.0, 0.0, 4.0, 0.0, 0.0, 8.0])
    ctx = np.array([False, True, True, True, True, True])
    assert squad.best_span(s, e, ctx, max_answer_len=30)[:2] == (4, 5)
    assert squad.best_span(s, e, ctx, max_answer_len=1)[:2] == (4, 4)  # single tokens only
    e2 = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    e2[1] = 20.0  # the best end lies before the best start: not allowed
    i, j, _ = squad.best_span(s, e2, ctx)
    assert j >= i and (i, j) == (1, 1)
    assert squad.best_span(s, e, np.zeros(6, bool)) is None
    assert squad.window_starts(10, 4, 3) == [0, 3, 6]
    assert squad.window_starts(3, 4, 2) == [0]


def test_windows_with_stride_and_post_processing_recover_the_answer():
    from nndl.data.text_tasks import QAExample, train_wordpiece

    words = [f"w{i}" for i in range(60)]
    context = " ".join(words[:40]) + " the answer is golden gate . " + " ".join(words[40:])
    tok = train_wordpiece([context, "what is it ?"] * 3, 200, min_frequency=1)
    start = context.index("golden gate")
    ex = QAExample("q", "t", context, "what is it ?", ("golden gate",), (start,))
    f = squad.make_features(tok, [ex], max_len=24, doc_stride=8)
    assert len(f) > 3  # ~70 context tokens in windows of 17
    holding = [i for i in range(len(f)) if f.start_positions[i] > 0]
    assert holding and all(f.start_positions[i] == 0 for i in range(len(f)) if i not in holding)
    for i in holding:  # the gold token span cuts out exactly the answer text
        a, b = f.offsets[i][f.start_positions[i]], f.offsets[i][f.end_positions[i]]
        assert context[a[0] : b[1]] == "golden gate"
        assert f.token_type_ids[i][f.start_positions[i]] == 1
    # logits that point at the gold span in one window (and nonsense in [CLS]) decode to it
    s = np.full(f.input_ids.shape, -5.0)
    e = np.full(f.input_ids.shape, -5.0)
    s[:, 0] = e[:, 0] = 50.0  # [CLS] is never a valid answer
    # the answer's start token has its maximum context in exactly one of the windows holding it
    best = [i for i in holding if f.max_context[i][f.start_positions[i]]]
    assert len(best) == 1
    others = [i for i in holding if i != best[0]]
    for w in others:  # a higher score where the token has less context is not used
        s[w, f.start_positions[w]], e[w, f.end_positions[w] - 1] = 30.0, 30.0
    w = best[0]
    s[w, f.start_positions[w]], e[w, f.end_positions[w]] = 10.0, 10.0
    preds = squad.predict_answers(f, s, e, [ex])
    assert preds == {"q": "golden gate"}
    assert squad.evaluate({"q": ["Golden Gate"]}, preds)["exact_match"] == 100.0
