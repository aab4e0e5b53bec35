"""Forward+backward time of the scratch ViT against timm's VisionTransformer, same configuration.

    python benchmarks/vit_speed.py                       # ViT-Ti/16 at 224 (192 wide, 12 blocks)
    python benchmarks/vit_speed.py --image 32 --patch 4 --dim 64 --depth 4 --heads 4 --mlp 2
                                                         # a14's quick ViT

Both models get the same weights (the scratch one loads timm's state dict; tests/test_vit.py
checks that their outputs agree to 1e-5), the same input and the same loss (sum of the logits);
after warm-up they are timed in alternating single calls (nndl.models.vit.speed_against_timm), so
that a change in machine load (shared CPUs) hits both alike (median and p90, threads stated).
Both use torch's scaled_dot_product_attention, so the ratio measures the rest of the code.
`nndl bench` runs a14's quick shape among its ratios. A benchmark, not a test: the numbers
depend on the machine and its load.
"""

from __future__ import annotations

import argparse


def main() -> None:
    from nndl.bench import count_params
    from nndl.bench_suite import add_common_arguments, apply_threads, print_comparison
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
    add_common_arguments(p, repeats=10)
    args = p.parse_args()
    apply_threads(args)
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
    print_comparison(
        f"forward+backward, batch {args.batch} at {args.image}px, patch {args.patch}, "
        f"D={args.dim} L={args.depth} heads={args.heads}, {args.device}, {s['threads']} threads, "
        f"{count_params(ViT(cfg)):,} parameters, {args.repeats} alternating calls each",
        [
            ("timm VisionTransformer", s["timm_ms"], s["timm_p90_ms"]),
            ("scratch nndl ViT", s["scratch_ms"], s["scratch_p90_ms"]),
        ],
        per="images",
        n=args.batch,
    )


if __name__ == "__main__":
    main()
