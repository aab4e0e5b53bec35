"""Study a15's text data: generated tasks, tokenisation, and every real loader on small files
written in the published formats (and on ../shared/data's real packs where present)."""

from __future__ import annotations

import json
import tarfile
import time

import numpy as np
import pytest

from nndl.data.glue_sst2 import load_sst2
from nndl.data.imdb import load_imdb
from nndl.data.snli import load_snli
from nndl.data.squad import load_squad
from nndl.data.synthetic import text as gen
from nndl.data.text_tasks import encode, pack_corpus, special_ids, train_wordpiece
from nndl.data.wikitext import available_splits, load_wikitext
from nndl.errors import DataError
from nndl.methods import squad as squad_metric

# -- generated tasks ------------------------------------------------------------------------------


def test_generated_tasks_are_deterministic_balanced_and_consistent():
    a, b = gen.make_sentiment(300, 0), gen.make_sentiment(300, 0)
    assert a.texts == b.texts and np.array_equal(a.labels, b.labels)
    assert gen.make_sentiment(300, 1).texts != a.texts
    assert 0.4 < a.labels.mean() < 0.6
    nli = gen.make_nli(600, 0)
    assert all(0.27 < f < 0.40 for f in np.bincount(nli.labels, minlength=3) / 600)
    for ex in gen.make_qa(200, 0):  # every answer is where its offset says
        s = ex.answer_starts[0]
        assert ex.context[s : s + len(ex.answers[0])] == ex.answers[0]
        assert ex.question.endswith("?")


def test_word_counting_stays_near_chance_on_the_generated_tasks():
    """The tasks need word order: a bag of words is far from solving them."""
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    train, test = gen.make_sentiment(2000, 0), gen.make_sentiment(500, 1)
    vec = CountVectorizer(token_pattern=r"[^\s]+").fit(train.texts)
    clf = LogisticRegression(max_iter=2000).fit(vec.transform(train.texts), train.labels)
    assert clf.score(vec.transform(test.texts), test.labels) < 0.6

    train, test = gen.make_nli(2000, 0), gen.make_nli(500, 1)
    vec = CountVectorizer(token_pattern=r"[^\s]+").fit(train.premises + train.hypotheses)

    def feats(d):
        return sp.hstack([vec.transform(d.premises), vec.transform(d.hypotheses)])

    clf = LogisticRegression(max_iter=2000).fit(feats(train), train.labels)
    assert clf.score(feats(test), test.labels) < 0.65

    qa = gen.make_qa(500, 1)
    r = squad_metric.evaluate({e.id: list(e.answers) for e in qa}, gen.overlap_qa_baseline(qa))
    assert r["exact_match"] < 45  # the negated / moved distractors fool word overlap


def test_pydoc_corpus_is_prose():
    paras = gen.pydoc_corpus()
    assert len(paras) > 500 and sum(len(p.split()) for p in paras) > 25_000
    assert not any(p.startswith(">>>") or "::=" in p[:40] for p in paras)
    train, held = gen.split_corpus(paras)
    assert len(held) == len(paras[::10]) and not set(held) & set(train)


def test_wordpiece_encode_and_pack():
    tok = train_wordpiece(gen.pydoc_corpus()[:200], 500)
    ids = special_ids(tok)
    assert [ids[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")] == [0, 1, 2, 3, 4]
    enc = encode(
        tok, ["a short one", "the second sentence is longer"], ["and a pair", "b"], max_len=12
    )
    assert enc["input_ids"].shape == (2, 12)
    row, types, mask = enc["input_ids"][0], enc["token_type_ids"][0], enc["attention_mask"][0]
    n = mask.sum()
    assert row[0] == ids["[CLS]"] and row[n - 1] == ids["[SEP]"] and (row[n:] == 0).all()
    assert types[0] == 0 and types[n - 1] == 1 and (types[n:] == 0).all()
    packed = pack_corpus(tok, gen.pydoc_corpus()[:50], 32)
    assert packed.shape[1] == 32 and (packed[:, 0] == 2).all() and (packed[:, -1] == 3).all()


# -- real loaders on files in the published formats -----------------------------------------------


_VOCAB_OF_A_FRESH_PROCESS = """
import hashlib, json
from nndl.data.synthetic.text import pydoc_corpus, split_corpus
from nndl.data.text_tasks import train_wordpiece
tok = train_wordpiece(split_corpus(pydoc_corpus())[0][:300], 1500)
vocab = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
print(hashlib.sha256(json.dumps(vocab).encode()).hexdigest())
"""


def test_wordpiece_vocabulary_is_the_same_in_every_process():
    """tokenizers' trainer numbers '##' pieces in hash-map order, which differs per process;
    train_wordpiece pins them. Three fresh processes must agree on every token and id."""
    import subprocess
    import sys

    hashes = {
        subprocess.run(
            [sys.executable, "-c", _VOCAB_OF_A_FRESH_PROCESS],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for _ in range(3)
    }
    assert len(hashes) == 1


def test_continuing_pieces_stay_ordinary_tokens():
    tok = train_wordpiece(gen.split_corpus(gen.pydoc_corpus())[0][:200], 800)
    added = {t.content for t in tok.get_added_tokens_decoder().values()}
    assert added == {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
    assert tok.token_to_id("##s") is not None
    # a literal "##s" in the text is split like any other text, not matched as one token
    assert "##s" not in tok.encode("a ##s b").tokens


def test_sst2_tsv(tmp_path):
    d = tmp_path / "SST-2"
    d.mkdir()
    (d / "train.tsv").write_text("sentence\tlabel\nhide new secretions \t0\na gem \t1\n")
    (d / "dev.tsv").write_text("sentence\tlabel\nit 's a charming journey . \t1\n")
    tr, dev = load_sst2(tmp_path, "train"), load_sst2(tmp_path, "dev")
    assert tr.texts == ["hide new secretions", "a gem"] and tr.labels.tolist() == [0, 1]
    assert len(dev) == 1 and dev.label_names == ("negative", "positive")
    (d / "train.tsv").rename(d / "train_full.tsv")  # the name some mirrors use
    assert len(load_sst2(tmp_path, "train")) == 2
    (d / "dev.tsv").write_text("sentence\tlabel\nbroken line without label\n")
    with pytest.raises(DataError, match="dev.tsv, line 2"):
        load_sst2(tmp_path, "dev")


def test_imdb_folders(tmp_path):
    for split in ("train", "test"):
        for cls, text in (("pos", "Great film.<br /><br />Loved it."), ("neg", "Dull.")):
            folder = tmp_path / "aclImdb" / split / cls
            folder.mkdir(parents=True)
            (folder / "0_9.txt").write_text(text)
            (folder / "1_8.txt").write_text(text + " Again.")
    d = load_imdb(tmp_path, "train")
    assert len(d) == 4 and d.labels.tolist() == [0, 0, 1, 1]
    assert "<br />" not in d.texts[2] and d.texts[2] == "Great film. Loved it."


def _squad_json(context="The tower is in Paris. It opened in 1889."):
    return {
        "version": "1.1",
        "data": [
            {
                "title": "Tower",
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {
                                "id": "q1",
                                "question": "Where is the tower?",
                                "answers": [
                                    {"text": "Paris", "answer_start": 16},
                                    {"text": "in Paris", "answer_start": 13},
                                ],
                            },
                            {
                                "id": "q2",
                                "question": "When did it open?",
                                "answers": [{"text": "1889", "answer_start": 36}],
                            },
                        ],
                    }
                ],
            }
        ],
    }


def test_squad_v11_json(tmp_path):
    d = tmp_path / "squad"
    d.mkdir()
    (d / "train-v1.1.json").write_text(json.dumps(_squad_json()))
    ex = load_squad(tmp_path, "train")
    assert [e.id for e in ex] == ["q1", "q2"] and ex[0].answers == ("Paris", "in Paris")
    assert ex[1].context[ex[1].answer_starts[0] :].startswith("1889")
    bad = _squad_json()
    bad["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] = 3
    (d / "train-v1.1.json").write_text(json.dumps(bad))
    with pytest.raises(DataError, match="not at offset 3"):
        load_squad(tmp_path, "train")
    (d / "train-v1.1.json").write_text('{"data": [')
    with pytest.raises(DataError, match="train-v1.1.json"):
        load_squad(tmp_path, "train")


def test_missing_squad_fails_fast_naming_the_file(tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(DataError, match="dev-v1.1.json"):
        load_squad(tmp_path, "dev")
    assert time.perf_counter() - t0 < 5


def test_snli_jsonl_skips_items_without_gold_label(tmp_path):
    d = tmp_path / "snli_1.0"
    d.mkdir()
    rows = [
        ("neutral", "A man sleeps.", "A tired man sleeps."),
        ("-", "Two dogs run.", "Animals move."),
        ("contradiction", "A girl sings.", "Nobody sings."),
        ("entailment", "A boy eats.", "A child eats."),
    ]
    (d / "snli_1.0_dev.jsonl").write_text(
        "\n".join(
            json.dumps(
                {
                    "annotator_labels": [g],
                    "gold_label": g,
                    "sentence1": p,
                    "sentence2": h,
                    "pairID": str(i),
                }
            )
            for i, (g, p, h) in enumerate(rows)
        )
        + "\n"
    )
    data = load_snli(tmp_path, "dev")
    assert len(data) == 3 and data.labels.tolist() == [1, 2, 0]
    assert data.premises[1] == "A girl sings."
    with pytest.raises(DataError, match="snli_1.0_train.jsonl"):
        load_snli(tmp_path, "train")


def test_wikitext_tokens_and_raw(tmp_path):
    tokens = tmp_path / "wikitext-2"
    tokens.mkdir()
    (tokens / "wiki.valid.tokens").write_text(
        " \n = Homarus = \n \n Homarus is a <unk> lobster . \n = = Life = = \n It lives . \n"
    )
    assert load_wikitext(tmp_path, "wikitext-2", "valid") == [
        "Homarus is a <unk> lobster .",
        "It lives .",
    ]
    assert available_splits(tmp_path, "wikitext-2") == ["valid"]
    raw = tmp_path / "wikitext-2-raw"
    raw.mkdir()
    (raw / "wiki.valid.raw").write_text(" = T = \n Raw text, kept.\n")
    assert load_wikitext(tmp_path, "wikitext-2", "valid") == ["Raw text, kept."]  # raw first
    with pytest.raises(DataError, match="wiki.train.tokens"):
        load_wikitext(tmp_path, "wikitext-2", "train")


def test_full_profile_without_squad_fails_before_training(tmp_path):
    from nndl.registry import get_study
    from nndl.run import RunOptions, execute

    t0 = time.perf_counter()
    with pytest.raises(DataError, match="train-v1.1.json.*tasks=sentiment,nli"):
        execute(
            get_study("a15"),
            RunOptions(
                profile="full",
                out=tmp_path / "runs",
                data_root=tmp_path,
                overrides={"corpus": "pydoc", "sentiment": "generated", "nli": "generated"},
            ),
        )
    assert time.perf_counter() - t0 < 15


def test_real_packs_from_shared_data(shared_data, tmp_path):
    for pack in ("sst2.tar", "snli_subset.tar", "wikitext2_valid_test.tar"):
        if not (shared_data / pack).exists():
            pytest.skip(f"{pack} is not in ../shared/data")
        with tarfile.open(shared_data / pack) as tar:
            tar.extractall(tmp_path, filter="data")
    dev = load_sst2(tmp_path, "dev")
    assert len(dev) == 872 and set(dev.labels.tolist()) == {0, 1}
    assert len(load_sst2(tmp_path, "train")) == 67349
    snli = load_snli(tmp_path, "dev")
    assert 1200 < len(snli) < 1290 and set(snli.labels.tolist()) == {0, 1, 2}
    assert available_splits(tmp_path, "wikitext-2") == ["valid", "test"]
    wiki = load_wikitext(tmp_path, "wikitext-2", "valid")
    assert sum(len(p.split()) for p in wiki) > 150_000
