"""Forward+backward time of the scratch BERT against transformers' BertModel, same configuration.

    python benchmarks/bert_speed.py                      # MiniLM's shape (6 x 384), batch 16 x 64
    python benchmarks/bert_speed.py --layers 12 --hidden 768 --heads 12 --batch 8 --seq 128

Both models get the same weights (the scratch one loads the transformers state dict), the same
input with padding, and the same loss (sum of the last hidden state); after warm-up they are
timed in alternating single calls (nndl.bench.alternating, through
nndl.bench_suite.speed_against_transformers), median and p90, threads stated. Both use torch's
scaled_dot_product_attention ("sdpa" in transformers), so the ratio measures the rest of the
code. `nndl bench` runs a small shape of the same comparison among its ratios. A benchmark, not
a test: the numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse


def main() -> None:
    from nndl.bench_suite import (
        add_common_arguments,
        apply_threads,
        print_comparison,
        speed_against_transformers,
    )

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--hidden", type=int, default=384)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--vocab", type=int, default=30522)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seq", type=int, default=64)
    add_common_arguments(p, repeats=10)
    args = p.parse_args()
    apply_threads(args)
    s = speed_against_transformers(
        layers=args.layers,
        hidden=args.hidden,
        heads=args.heads,
        vocab=args.vocab,
        batch=args.batch,
        seq=args.seq,
        repeats=args.repeats,
        device=args.device,
    )
    print_comparison(
        f"forward+backward, batch {args.batch} x {args.seq} tokens, L={args.layers} "
        f"H={args.hidden} A={args.heads}, {args.device}, {s['threads']} threads, "
        f"{s['params']:,} parameters, {args.repeats} alternating calls each",
        [
            ("transformers BertModel", s["hf_ms"], s["hf_p90_ms"]),
            ("scratch nndl BertModel", s["scratch_ms"], s["scratch_p90_ms"]),
        ],
        per="tokens",
        n=args.batch * args.seq,
    )


if __name__ == "__main__":
    main()
