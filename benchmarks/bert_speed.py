"""Forward+backward time of the scratch BERT against transformers' BertModel, same configuration.

    python benchmarks/bert_speed.py                      # MiniLM's shape (6 x 384), batch 16 x 64
    python benchmarks/bert_speed.py --layers 12 --hidden 768 --heads 12 --batch 8 --seq 128

Both models get the same weights (the scratch one loads the transformers state dict), the same
input with padding, and the same loss (sum of the last hidden state); each is timed over
`--repeats` calls after warm-up with nndl.bench.latency, the two models' calls alternating
(median and p90, threads stated). Both use
torch's scaled_dot_product_attention ("sdpa" in transformers), so the ratio measures the rest of
the code. A benchmark, not a test: the numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np
    import torch
    from rich.console import Console
    from rich.table import Table
    from transformers import BertModel as HFBertModel
    from transformers.utils import logging as hf_logging

    from nndl.bench import latency
    from nndl.models.bert import BertConfig, BertModel, load_hf_state_dict, param_count

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--hidden", type=int, default=384)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--vocab", type=int, default=30522)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()

    cfg = BertConfig(
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        num_layers=args.layers,
        num_heads=args.heads,
        intermediate_size=4 * args.hidden,
        max_position=max(512, args.seq),
    )
    torch.manual_seed(0)
    hf_cfg = cfg.to_hf()
    hf_cfg._attn_implementation = "sdpa"
    hf = HFBertModel(hf_cfg)
    ours = BertModel(cfg)
    load_hf_state_dict(ours, hf.state_dict())
    ids = torch.randint(1000, args.vocab, (args.batch, args.seq))
    mask = torch.ones_like(ids)
    mask[: args.batch // 2, args.seq * 3 // 4 :] = 0  # half the batch padded: masks are used
    types = torch.zeros_like(ids)
    hf, ours = hf.to(args.device).train(), ours.to(args.device).train()
    ids, mask, types = ids.to(args.device), mask.to(args.device), types.to(args.device)

    def step_hf():
        hf.zero_grad(set_to_none=True)
        hf(
            input_ids=ids, attention_mask=mask, token_type_ids=types
        ).last_hidden_state.sum().backward()

    def step_ours():
        ours.zero_grad(set_to_none=True)
        ours(ids, types, mask).last_hidden_state.sum().backward()

    # warm up both, then alternate single timed calls so that a change in machine load (shared
    # CPUs) hits both models alike
    models = {"transformers BertModel": step_hf, "scratch nndl BertModel": step_ours}
    for fn in models.values():
        latency(fn, warmup=2, repeats=1, device=args.device)
    times = {name: [] for name in models}
    for _ in range(args.repeats):
        for name, fn in models.items():
            times[name].append(latency(fn, warmup=0, repeats=1, device=args.device).median_ms)
    threads = torch.get_num_threads()
    rows = [(name, float(np.median(t)), float(np.percentile(t, 90))) for name, t in times.items()]
    base = rows[0][1]
    table = Table(
        title=f"forward+backward, batch {args.batch} x {args.seq} tokens, "
        f"L={args.layers} H={args.hidden} A={args.heads}, {args.device}, "
        f"{threads} threads, {param_count(ours):,} parameters, "
        f"{args.repeats} alternating calls each"
    )
    for col in ("model", "median ms", "p90 ms", "tokens / s", "time vs transformers"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, median, p90 in rows:
        table.add_row(
            name,
            f"{median:.1f}",
            f"{p90:.1f}",
            f"{args.batch * args.seq / (median / 1e3):,.0f}",
            f"{median / base:.2f}x",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
