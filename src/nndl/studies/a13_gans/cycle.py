"""a13's CycleGAN section: faces <-> paintings (rendered), or two real unpaired image folders."""

from __future__ import annotations

from functools import partial

import numpy as np
import torch

from nndl.studies.a13_gans import figures
from nndl.studies.a13_gans.data import tensors


def cycle_data(cfg, ctx) -> dict:
    """train_a, train_b, test_a, test_b (uint8 NHWC); true_b: the painting of each test_a, when
    the painting is a known function of the photograph (rendered faces), else None."""
    if cfg.cycle_dataset == "unpaired":
        from nndl.data.unpaired import load_unpaired

        d = load_unpaired(ctx.data_root, cfg.cycle_image_size, cfg.cycle_num_test)
        a_name, b_name = d["domain_names"]
        return {**d, "true_b": None, "a": a_name, "b": b_name,
                "provenance": f"CycleGAN: real unpaired images from {d['folder']} "
                f"({d['layout']} layout): {len(d['train_a'])} + {len(d['train_b'])} training, "
                f"{len(d['test_a'])} + {len(d['test_b'])} held-out, resized to "
                f"{cfg.cycle_image_size} px"}  # fmt: skip
    from nndl.data.synthetic.faces import paint, render_faces

    n, m, s, size = cfg.cycle_num_train, cfg.cycle_num_test, ctx.seed, cfg.cycle_image_size
    with ctx.timer("render_cycle_s"):  # four disjoint sets of people
        train_a = render_faces(np.arange(200_000, 200_000 + n), size, seed=s + 21).x
        train_b = paint(render_faces(np.arange(300_000, 300_000 + n), size, seed=s + 22).x, s + 1)
        test_a = render_faces(np.arange(400_000, 400_000 + m), size, seed=s + 23).x
        test_b = paint(render_faces(np.arange(500_000, 500_000 + m), size, seed=s + 24).x, s + 2)
        true_b = paint(test_a, s + 3)
    return {"train_a": train_a, "train_b": train_b, "test_a": test_a, "test_b": test_b,
            "true_b": true_b, "a": "face", "b": "painting",
            "provenance": f"CycleGAN: rendered faces and the renderer's painted style "
            f"(embedded stand-in, not real paintings): {n} faces and {n} paintings of other "
            f"faces for training (unpaired), {m} + {m} held-out, {size} px"}  # fmt: skip


def domain_judge(ctx, cfg, d):
    """A SmallCNN trained in the run to tell domain A (0) from B (1): features for the FD."""
    from nndl.models.small_cnn import SmallCNN
    from nndl.studies.a13_gans.dcgan import Judge
    from nndl.train import ArrayData, TorchTrainable, fit

    torch.manual_seed(ctx.seed)
    model = SmallCNN(2, cfg.judge_width)
    x = torch.cat([tensors(d["train_a"]), tensors(d["train_b"])])
    y = torch.cat([torch.zeros(len(d["train_a"])), torch.ones(len(d["train_b"]))]).long()
    trainable = TorchTrainable(model, torch.optim.Adam(model.parameters(), 3e-3), device=ctx.device)
    fit(trainable, ArrayData(x, y), None, name="domain_judge", num_epochs=cfg.judge_num_epochs,
        batch_size=32, seed=ctx.seed, checkpoint_dir=ctx.checkpoint_dir, resume=ctx.resume)  # fmt: skip
    model.eval()

    @torch.no_grad()
    def run(imgs):  # (features, P(domain B))
        f = model.forward_head(model.forward_features(imgs.to(ctx.device)), pre_logits=True)
        return f.cpu().double().numpy(), torch.softmax(model.head(f), 1)[:, 1].cpu().numpy()

    judge = Judge(model, ctx.device)
    judge.run = run
    return judge


@torch.no_grad()
def translate(G, x: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """[0, 1] images through a generator (tanh range in between), in [0, 1]."""
    G.eval()
    device = next(G.parameters()).device
    out = [G(x[i : i + batch_size].to(device) * 2 - 1).cpu() for i in range(0, len(x), batch_size)]
    return ((torch.cat(out) + 1) / 2).clamp(0, 1)


def cycle_section(ctx, cfg) -> dict:
    from nndl import bench
    from nndl.methods.gan import cycle_step, feature_frechet
    from nndl.models.gans import ImagePool, build_gan
    from nndl.studies.a13_gans.dcgan import curves
    from nndl.train import ArrayData, ModulesTrainable, fit

    rep = ctx.report
    d = cycle_data(cfg, ctx)
    a, b = d["a"], d["b"]
    rep.section(f"CycleGAN: {a}s -> {b}s and back")
    kw = dict(width=cfg.cycle_width, num_blocks=cfg.cycle_blocks, d_width=cfg.cycle_d_width,
              d_layers=cfg.cycle_d_layers, skip=cfg.cycle_skip)  # fmt: skip
    torch.manual_seed(ctx.seed)
    G, D_b = build_gan("cyclegan", **kw)  # G: a -> b, judged by D_b
    F, D_a = build_gan("cyclegan", **kw)  # F: b -> a, judged by D_a
    rep.text(
        f"Zhu et al.'s CycleGAN: two ResNet generators (c7s1-{cfg.cycle_width}, two stride-2 "
        f"convolutions, {cfg.cycle_blocks} residual blocks, two transposed convolutions, c7s1-3; "
        f"instance norm, reflection padding; {bench.count_params(G):,} parameters each"
        + (
            ", plus a skip from input to output, out = tanh(atanh(x) + net(x)), not in the paper: "
            "the network learns only the change and starts near the identity, without which "
            "it could not even reproduce its input within this budget"
            if cfg.cycle_skip
            else ""
        )
        + f"), G: {a} "
        f"-> {b} and F: {b} -> {a}, and two PatchGAN discriminators ({cfg.cycle_d_layers} stride-2 "
        f"layers, {bench.count_params(D_b):,} parameters each) that score overlapping patches. "
        f"Unpaired training: the {a}s and {b}s show different people, so only the cycle "
        f"F(G(a)) = a ties a translation to its input. Least-squares adversarial losses (the "
        f"paper's), cycle L1 weighted {cfg.lambda_cycle} and identity L1 weighted "
        f"{cfg.lambda_identity}; Adam (lr {cfg.cycle_lr}, beta1 0.5), batch "
        f"{cfg.cycle_batch_size}, {cfg.cycle_num_epochs} epochs; "
        + (
            f"the discriminators see fakes through a history pool of {cfg.cycle_pool} (half the "
            f"time an older fake instead of the newest)."
            if cfg.cycle_pool
            else "no history pool of fakes."
        )
    )
    rep.math(
        r"L = L_{GAN}(G, D_b) + L_{GAN}(F, D_a) + \lambda_{cyc}\big(\lVert F(G(a)) - a\rVert_1 + "
        r"\lVert G(F(b)) - b\rVert_1\big) + \lambda_{id}\big(\lVert G(b) - b\rVert_1 + "
        r"\lVert F(a) - a\rVert_1\big)",
        "The generators' objective (L_GAN least squares: (D(fake) - 1)^2 for G):",
    )
    n = min(len(d["train_a"]), len(d["train_b"]))
    perm = np.random.default_rng([ctx.seed, 41]).permutation(len(d["train_b"]))[:n]
    train = ArrayData(tensors(d["train_a"][:n]), tensors(d["train_b"][perm]))
    betas = (0.5, 0.999)
    optimizers = {
        "G": torch.optim.Adam([*G.parameters(), *F.parameters()], cfg.cycle_lr, betas=betas),
        "D": torch.optim.Adam([*D_a.parameters(), *D_b.parameters()], cfg.cycle_lr, betas=betas),
    }
    step = partial(cycle_step, lambda_cycle=cfg.lambda_cycle, lambda_identity=cfg.lambda_identity)
    modules = {"G": G, "F": F, "D_a": D_a, "D_b": D_b}
    if cfg.cycle_pool:  # modules, so that checkpoints keep the pools' contents
        shape = (3, cfg.cycle_image_size, cfg.cycle_image_size)
        modules.update(
            pool_a=ImagePool(cfg.cycle_pool, shape), pool_b=ImagePool(cfg.cycle_pool, shape)
        )
    trainable = ModulesTrainable(modules, optimizers, step, device=ctx.device)
    test_a, test_b = tensors(d["test_a"]), tensors(d["test_b"])
    show = test_a[:8]
    keep = set(
        np.linspace(1, cfg.cycle_num_epochs, min(4, cfg.cycle_num_epochs)).round().astype(int)
    )
    snapshots = {0: translate(G, show)}

    def on_epoch_end(epoch, record):  # kept in the checkpoints
        return {"snapshot": translate(G, show)} if epoch in keep else None

    history = fit(trainable, train, None, name="cyclegan", num_epochs=cfg.cycle_num_epochs,
                  batch_size=cfg.cycle_batch_size, seed=ctx.seed,
                  checkpoint_dir=ctx.checkpoint_dir, resume=ctx.resume, on_epoch_end=on_epoch_end)  # fmt: skip
    ctx.timings["cyclegan_epoch_s"] = history.epoch_seconds
    snapshots.update({e: x["snapshot"] for e, x in enumerate(history.extras, 1) if x})
    ctx.metrics["cyclegan_curves"] = curves(
        history, ("cycle", "identity", "g_adv", "d_loss", "g_grad_norm", "d_grad_norm")
    )
    # -- scores on held-out images
    fake_b, fake_a = translate(G, test_a), translate(F, test_b)
    rec_a, rec_b = translate(F, fake_b), translate(G, fake_a)
    judge = domain_judge(ctx, cfg, d)
    f = {k: judge.run(v) for k, v in (("a", test_a), ("b", test_b), ("fake_b", fake_b),
                                      ("fake_a", fake_a))}  # fmt: skip
    floor_b = judge.run(tensors(d["train_b"][: len(test_b)]))[0]
    r = {
        "fd": feature_frechet(f["fake_b"][0], f["b"][0]),  # translations vs real b
        "fd_untranslated": feature_frechet(f["a"][0], f["b"][0]),
        "fd_floor": feature_frechet(floor_b, f["b"][0]),
        "fd_back": feature_frechet(f["fake_a"][0], f["a"][0]),
        "fd_back_untranslated": feature_frechet(f["b"][0], f["a"][0]),
        "judged_b": float((f["fake_b"][1] > 0.5).mean()),
        "judged_a": float((f["fake_a"][1] <= 0.5).mean()),
        "cycle_l1_a": float((rec_a - test_a).abs().mean()),
        "cycle_l1_b": float((rec_b - test_b).abs().mean()),
    }
    rows = [
        {"quantity": f"FD(G({a}), real {b}s)", "value": r["fd"]},
        {"quantity": f"FD(untranslated {a}s, real {b}s): the start", "value": r["fd_untranslated"]},
        {"quantity": f"FD(real {b}s, other real {b}s): the floor", "value": r["fd_floor"]},
        {"quantity": f"FD(F({b}), real {a}s)", "value": r["fd_back"]},
        {"quantity": f"FD(untranslated {b}s, real {a}s)", "value": r["fd_back_untranslated"]},
        {"quantity": f"share of G({a}) the judge calls {b}", "value": r["judged_b"]},
        {"quantity": f"share of F({b}) the judge calls {a}", "value": r["judged_a"]},
        {"quantity": f"cycle L1 |F(G(a)) - a| on held-out {a}s ([0, 1] scale)", "value": r["cycle_l1_a"]},
        {"quantity": f"cycle L1 |G(F(b)) - b| on held-out {b}s", "value": r["cycle_l1_b"]},
    ]  # fmt: skip
    if d["true_b"] is not None:  # the renderer knows the painting of every face
        true_b = tensors(d["true_b"])
        r["l1_true"] = float((fake_b - true_b).abs().mean())
        r["l1_true_untranslated"] = float((test_a - true_b).abs().mean())
        rows += [
            {"quantity": "L1 |G(a) - painting of a| (renderer's ground truth)", "value": r["l1_true"]},
            {"quantity": "L1 |a - painting of a|: no translation", "value": r["l1_true_untranslated"]},
        ]  # fmt: skip
    ctx.metrics.update({f"cycle_{k}": v for k, v in r.items()})
    ctx.metrics["cycle_fd"] = r["fd"]
    rep.table(rows, "cycle_scores",
              f"CycleGAN on {len(test_a)} + {len(test_b)} held-out images. FD in the features of "
              f"a {a}-vs-{b} SmallCNN (width {cfg.judge_width}) trained in this run on the "
              f"training images; with this few images the FD is biased upwards, so compare it "
              f"with the floor of the same size")  # fmt: skip
    grid = [(f"{a}", test_a[:8]), (f"G({a})", fake_b[:8]), (f"F(G({a}))", rec_a[:8])]
    if d["true_b"] is not None:
        grid.append((f"true {b}", tensors(d["true_b"][:8])))
    grid += [(f"{b}", test_b[:8]), (f"F({b})", fake_a[:8]), (f"G(F({b}))", rec_b[:8])]
    rep.figure(figures.image_rows(grid, scale=1.0), "cycle_translations",
               "Held-out images, their translations and cycle reconstructions")  # fmt: skip
    rep.figure(figures.over_training({k: v for k, v in snapshots.items()}), "cycle_over_training",
               f"G({a}) for the same 8 held-out {a}s after each listed epoch (0 = untrained)")  # fmt: skip
    rep.figure(figures.cycle_curves(history), "cycle_curves",
               "CycleGAN losses per epoch (training means)")  # fmt: skip
    truth = (
        f" Against the renderer's own painting of each face, G's pixel error is {r['l1_true']:.3f}"
        f" (untranslated: {r['l1_true_untranslated']:.3f})."
        if d["true_b"] is not None else ""
    )  # fmt: skip
    r["finding"] = (
        f"CycleGAN ({a}s -> {b}s): FD of the translations to real {b}s {r['fd']:.2f}, from "
        f"{r['fd_untranslated']:.2f} untranslated (floor {r['fd_floor']:.2f}); the domain judge "
        f"calls {r['judged_b']:.1%} of them {b}s; the cycle returns held-out {a}s with an L1 error "
        f"of {r['cycle_l1_a']:.3f}.{truth} Cycle loss {history.epochs[0]['train_cycle']:.3f} -> "
        f"{history.last('train_cycle'):.3f} over training."
    )
    r["provenance"] = d["provenance"]
    return r
