"""a15's data: the pretraining corpus and the fine-tuning tasks, all loaded before any training so
that a missing file fails the run at once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nndl.errors import DataError
from nndl.studies.a15_bert.tasks import TASK_SPECS

if TYPE_CHECKING:
    from nndl.studies.a15_bert import Config


def load_corpus(cfg: Config, ctx) -> tuple[list[str], list[str], str]:
    """(train paragraphs, held-out paragraphs, where they came from)."""
    if cfg.corpus == "pydoc":
        from nndl.data.synthetic.text import pydoc_corpus, split_corpus

        train, held = split_corpus(pydoc_corpus())
        return (
            train,
            held,
            (
                "embedded: prose of the Python language reference (pydoc_data), "
                "every 10th paragraph held out"
            ),
        )
    from nndl.data.wikitext import INFOS, available_splits, load_wikitext

    present = available_splits(ctx.data_root, cfg.corpus)
    if "train" in present and ("valid" in present or "test" in present):
        held_split = "valid" if "valid" in present else "test"
        return (
            load_wikitext(ctx.data_root, cfg.corpus, "train"),
            load_wikitext(ctx.data_root, cfg.corpus, held_split),
            f"real {cfg.corpus} from {ctx.data_root}: train split, {held_split} held out",
        )
    if len(present) >= 2:  # e.g. a pack with valid and test only
        return (
            load_wikitext(ctx.data_root, cfg.corpus, present[0]),
            load_wikitext(ctx.data_root, cfg.corpus, present[1]),
            f"real {cfg.corpus} from {ctx.data_root}, but its train file is MISSING: "
            f"pretraining on the {present[0]} split, {present[1]} held out (a much smaller "
            f"corpus than the course's)",
        )
    if present:
        raise INFOS[cfg.corpus].missing_error(ctx.data_root)
    # nothing on disk: the loader fetches online or fails at once naming the layout
    return (
        load_wikitext(ctx.data_root, cfg.corpus, "train"),
        load_wikitext(ctx.data_root, cfg.corpus, "valid"),
        f"real {cfg.corpus} (downloaded)",
    )


def load_tasks(cfg: Config, ctx) -> dict:
    """{task: (train, test, source)} for the configured tasks, all loaded before any training so
    that a missing file fails the run at once."""
    from nndl.data.text_tasks import subsample

    out = {}
    seed = ctx.seed
    if "sentiment" in cfg.tasks:
        if cfg.sentiment == "generated":
            from nndl.data.synthetic.text import make_sentiment

            out["sentiment"] = (
                make_sentiment(cfg.num_train, seed),
                make_sentiment(cfg.num_test, seed + 1000),
                "generated reviews (negation, contrast clauses, neutral sentences)",
            )
        elif cfg.sentiment == "sst2":
            from nndl.data.glue_sst2 import load_sst2

            out["sentiment"] = (
                load_sst2(ctx.data_root, "train"),
                load_sst2(ctx.data_root, "dev"),
                f"real GLUE SST-2 from {ctx.data_root} (train; dev for testing)",
            )
        else:
            from nndl.data.imdb import load_imdb

            out["sentiment"] = (
                load_imdb(ctx.data_root, "train"),
                load_imdb(ctx.data_root, "test"),
                f"real IMDB from {ctx.data_root} (aclImdb train/test)",
            )
    if "nli" in cfg.tasks:
        if cfg.nli == "generated":
            from nndl.data.synthetic.text import make_nli

            out["nli"] = (
                make_nli(cfg.num_train, seed),
                make_nli(cfg.num_test, seed + 1000),
                "generated premise/hypothesis pairs (negation, overlap that misleads)",
            )
        else:
            from nndl.data.snli import load_snli, split_file

            train_split = cfg.nli_train_split
            test_split = "test" if train_split == "dev" else "dev"
            if (
                not split_file(ctx.data_root, train_split).is_file()
                and split_file(ctx.data_root, "dev").is_file()
                and train_split == "train"
            ):
                raise DataError(
                    f"SNLI: {split_file(ctx.data_root, 'train')} is missing. Provide it, or "
                    "fine-tune on the dev split and test on test with --set nli_train_split=dev."
                )
            out["nli"] = (
                load_snli(ctx.data_root, train_split),
                load_snli(ctx.data_root, test_split),
                f"real SNLI 1.0 from {ctx.data_root} (fine-tuned on {train_split}, "
                f"tested on {test_split}; pairs without gold label skipped)",
            )
    if "qa" in cfg.tasks:
        if cfg.qa == "generated":
            from nndl.data.synthetic.text import make_qa

            out["qa"] = (
                make_qa(cfg.num_train, seed),
                make_qa(cfg.num_test, seed + 1000),
                "generated stories (distractor people, negated facts, moves)",
            )
        else:
            from nndl.data.squad import load_squad

            try:
                train, dev = load_squad(ctx.data_root, "train"), load_squad(ctx.data_root, "dev")
            except DataError as e:
                raise DataError(f"{e} Or leave QA out: --set tasks=sentiment,nli.") from e
            out["qa"] = (
                train,
                dev,
                f"real SQuAD v1.1 from {ctx.data_root} (train; dev for testing)",
            )
    # cap real data sizes (generated data is made at the configured size)
    for task, (train, test, src) in list(out.items()):
        spec = TASK_SPECS[task]
        if spec.generated(cfg):
            continue
        tr_idx = subsample(len(train), cfg.max_train, seed)
        te_idx = subsample(len(test), cfg.max_test, seed + 1)
        train, test = spec.take(train, tr_idx), spec.take(test, te_idx)
        out[task] = (train, test, src)
    return out
