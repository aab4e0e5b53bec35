"""Forward+backward time of the scratch ViT against timm's VisionTransformer, same configuration.

    python benchmarks/vit_speed.py                       # ViT-Ti/16 at 224 (192 wide, 12 blocks)
    python benchmarks/vit_speed.py --image 32 --patch 4 --dim 64 --depth 4 --heads 4 --mlp 2
                                                         # a14's quick ViT

Both models get the same weights (the scratch one loads timm's state dict; tests/test_vit.py
checks that their outputs agree to 1e-5), the same input and the same loss (sum of the logits);
after warm-up they are timed in alternating single calls (nndl.models.vit.speed_against_timm), so that a
change in machine load (shared CPUs) hits both alike (median and p90, threads stated). Both use
torch's scaled_dot_product_attention, so the ratio measures the rest of the code. A benchmark, not
a test: the numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse


def main() -> None:
    import torch
    from rich.console import Console
    from rich.table import Table

    from nndl.bench import count_params
    from nndl.models.vit import ViT, ViTConfig, speed_against_timm

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", type=int, default=224)
    p.add_argument("--patch", type=int, default=16)
    p.add_argument("--dim", type=int, default=192)
    p.add_argument("--depth", type=int, default=12)
    p.add_argument("--heads", type=int, default=3)
    p.add_argument("--mlp", type=float, default=4.0)
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    cfg = ViTConfig(
        image_size=args.image,
        patch_size=args.patch,
        num_classes=args.classes,
        dim=args.dim,
        depth=args.depth,
        num_heads=args.heads,
        mlp_ratio=args.mlp,
    ).check()
    s = speed_against_timm(cfg, batch=args.batch, repeats=args.repeats, device=args.device)
    table = Table(
        title=f"forward+backward, batch {args.batch} at {args.image}px, patch {args.patch}, "
        f"D={args.dim} L={args.depth} heads={args.heads}, {args.device}, {s['threads']} threads, "
        f"{count_params(ViT(cfg)):,} parameters, {args.repeats} alternating calls each"
    )
    for col in ("model", "median ms", "p90 ms", "images / s", "time vs timm"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, key in (("timm VisionTransformer", "timm"), ("scratch nndl ViT", "scratch")):
        median = s[f"{key}_ms"]
        table.add_row(
            name,
            f"{median:.1f}",
            f"{s[f'{key}_p90_ms']:.1f}",
            f"{args.batch / (median / 1e3):,.0f}",
            f"{median / s['timm_ms']:.2f}x",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
