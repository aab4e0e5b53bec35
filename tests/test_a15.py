"""Study a15's input lengths and truncation, its tasks' contract and the MLM frequency reference."""

from __future__ import annotations

import numpy as np
import pytest

from nndl.data.text_tasks import (
    TextClassification,
    choose_max_len,
    encode,
    head_tail,
    token_lengths,
    train_wordpiece,
)
from nndl.errors import ConfigError


@pytest.fixture(scope="module")
def review_tok():
    text = "opening verdict superb plot went on and then closing awful the a film"
    return train_wordpiece([text] * 50, vocab_size=200)


def _long_review(n_plot: int = 200) -> str:
    return "opening verdict superb " + "plot went on " * n_plot + "closing verdict awful"


def test_head_tail_keeps_the_first_quarter_and_the_last_three_quarters():
    ids = list(range(100))
    assert head_tail(ids, 20) == [0, 1, 2, 3, 4] + list(range(85, 100))
    assert head_tail(ids, 100) == ids and head_tail(ids[:7], 20) == ids[:7]
    assert head_tail(ids, 510) == ids
    kept = head_tail(list(range(2000)), 510)  # Sun et al.'s 128 + 382 on IMDB
    assert kept[:128] == list(range(128)) and kept[128:] == list(range(2000 - 382, 2000))


def test_head_tail_encoding_keeps_the_opening_and_the_closing_verdicts(review_tok):
    doc, short = _long_review(), "opening verdict superb"
    enc = encode(review_tok, [doc, short], max_len=24, truncation="head_tail")
    pieces = [review_tok.id_to_token(int(i)) for i in enc["input_ids"][0]]
    assert len(pieces) == 24 and enc["attention_mask"][0].all()
    assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]"
    assert pieces[1:4] == ["opening", "verdict", "superb"]  # the head: round(22 / 4) = 6 tokens
    assert pieces[1:7] == ["opening", "verdict", "superb", "plot", "went", "on"]
    assert pieces[-4:-1] == ["closing", "verdict", "awful"]  # the tail survives
    # a short text is encoded exactly as before: nothing cut, right-padded
    head_only = encode(review_tok, [doc, short], max_len=24, truncation="head")
    assert np.array_equal(enc["input_ids"][1], head_only["input_ids"][1])
    assert enc["attention_mask"][1].sum() == 5
    cut = [review_tok.id_to_token(int(i)) for i in head_only["input_ids"][0]]
    assert "awful" not in cut and cut[-2] in ("plot", "went", "on")  # head only loses the verdict
    with pytest.raises(ValueError, match="truncation"):
        encode(review_tok, [doc], max_len=24, truncation="middle")


def test_input_length_holds_the_coverage_within_the_cap():
    lengths = np.arange(1, 101)
    assert choose_max_len(lengths, 0.9, cap=512) == 96  # 90th pct 91 -> a multiple of 8
    assert choose_max_len(lengths, 1.0, cap=512) == 104
    assert choose_max_len(lengths, 0.9, cap=64) == 64  # the model's limit or cost budget
    assert choose_max_len(np.array([3, 4, 5]), 0.9, cap=64) == 16  # never below the floor
    # long documents: most are short, a tenth are reviews of ~300 tokens
    mixed = np.array([30] * 85 + [300] * 15)
    assert choose_max_len(mixed, 0.9, cap=128) == 128
    assert choose_max_len(mixed, 0.8, cap=512) == 32


def test_task_lengths_report_the_share_cut(review_tok):
    from nndl.studies.a15_bert.tasks import TASK_SPECS

    texts = [_long_review(50)] * 2 + ["opening verdict superb"] * 8
    train = TextClassification(texts, np.array([1, 0] * 5), ("negative", "positive"))
    lens = TASK_SPECS["sentiment"].lengths(review_tok, train, train.take([0]), 0.9, cap=64)
    assert lens.max_len == 64 and lens.longest == token_lengths(review_tok, texts).max()
    assert lens.truncated == pytest.approx(0.2) and lens.test_truncated == 1.0
    assert lens.mean == pytest.approx(np.mean(token_lengths(review_tok, texts)))


def test_tasks_carry_their_metric_step_and_slicing():
    from nndl.studies.a15_bert.tasks import TASK_SPECS, classify_step, span_step

    qa, sentiment, nli = TASK_SPECS["qa"], TASK_SPECS["sentiment"], TASK_SPECS["nli"]
    assert (qa.metric, qa.scale, qa.step) == ("f1", 1, span_step)
    assert (sentiment.metric, sentiment.scale, sentiment.step) == ("accuracy", 100, classify_step)
    assert nli.step is classify_step and nli.num_classes == 3
    assert qa.take(["a", "b", "c"], [2, 0]) == ["c", "a"]
    data = TextClassification(["x", "y", "z"], np.array([0, 1, 0]), ("n", "p"))
    assert sentiment.take(data, [1]).texts == ["y"]


def test_unigram_reference_scores_word_frequency_on_the_masked_targets():
    from nndl.methods.mlm import IGNORE
    from nndl.studies.a15_bert.pretrain import unigram_baseline

    vocab, special = 10, [0, 1, 2]
    train = np.array([[1, 7, 7, 7, 5, 2], [1, 7, 5, 9, 8, 2]])  # 7 is the most frequent piece
    held = np.array([[IGNORE, 7, IGNORE, 5, 3, IGNORE]])
    r = unigram_baseline(train, held, vocab, special)
    assert r["unigram_masked_acc"] == pytest.approx(1 / 3)
    p = np.array([0, 0, 0, 1, 1, 3, 1, 5, 2, 2], dtype=float) / 15  # add-one over pieces 3..9
    assert r["unigram_loss"] == pytest.approx(-np.mean(np.log(p[[7, 5, 3]])))


def test_length_coverage_outside_zero_one_is_refused():
    from nndl.studies.a15_bert import Config

    with pytest.raises(ConfigError, match="length_coverage"):
        Config(length_coverage=0)
    assert Config().truncation == "head_tail"


def test_mean_pooling_averages_the_real_tokens_only():
    import torch

    from nndl.models.bert import BertConfig, BertForSequenceClassification, BertModel

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=50, hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32)
    head = BertForSequenceClassification(BertModel(cfg), 2, pooling="mean").eval()
    ids = torch.randint(5, 50, (2, 6))
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    h = head.bert(ids, None, mask).last_hidden_state
    feats = head.forward_features(ids, None, mask)
    assert torch.allclose(feats[0], h[0].mean(0), atol=1e-6)
    assert torch.allclose(feats[1], h[1, :3].mean(0), atol=1e-6)  # padding left out
    assert head(ids, None, mask).shape == (2, 2)
    with pytest.raises(ValueError, match="pooling"):
        BertForSequenceClassification(BertModel(cfg), 2, pooling="max")


def test_the_baseline_budget_counts_tokens_at_the_inputs_mean_length():
    from nndl.config import resolve
    from nndl.studies.a15_bert import Config

    cfg = resolve(Config, "quick", {})
    # short SST-2 phrases (mean 13.4 tokens, max_len 32): the budget buys examples at their mean
    # length, not at max_len (grouped batches pad little)
    assert cfg.baseline_cap("sentiment", False, 13.4) == int(65536 // 13.4)
    assert cfg.baseline_cap("sentiment", False, 128) == 512  # long reviews: capped at max_len
    assert cfg.baseline_cap("sentiment", True, 13.4) == cfg.baseline_max_train[0]  # generated
    assert resolve(Config, "quick", {"baseline_train_tokens": 0}).baseline_cap("nli", False, 9) == 0
