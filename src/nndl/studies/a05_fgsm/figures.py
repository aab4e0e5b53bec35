"""a05's figures: the adversarial triptych, the eps sweep, FGSM against matched noise."""

from __future__ import annotations


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _top5_bars(ax, p, class_names, true: int, target: int | None = None) -> None:
    top = p.argsort(descending=True)[:5].tolist()[::-1]
    colours = ["tab:green" if c == true else "tab:red" if c == target else "tab:gray" for c in top]
    ax.barh(range(5), [float(p[c]) for c in top], color=colours)
    for k, c in enumerate(top):
        ax.text(min(float(p[c]), 0.78) + 0.02, k, f"{float(p[c]):.1%}", va="center", fontsize=7)
    ax.set_yticks(range(5), [class_names[c][:18] for c in top], fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)


def triptych(pixels, probs, class_names, eps, true, target, name):
    plt = _plt()
    fig, axes = plt.subplots(2, 5, figsize=(15, 6), gridspec_kw={"width_ratios": [1, 1, 1, 1, 1]})
    img = pixels.permute(0, 2, 3, 1).clamp(0, 1).numpy()
    for row, (k, label) in enumerate(
        ((1, "untargeted"), (2, f"targeted -> {class_names[target]}"))
    ):
        delta = img[k] - img[0]
        amp = 0.5 + delta / (2 * max(abs(delta).max(), 1e-12))  # signed, amplified to [0, 1]
        cells = [
            (img[0], f"clean: {class_names[int(probs[0].argmax())]} {float(probs[0].max()):.0%}"),
            (amp, f"perturbation ({label})\neps = {eps:g}/255, amplified"),
            (
                img[k],
                f"adversarial: {class_names[int(probs[k].argmax())]} {float(probs[k].max()):.0%}",
            ),
        ]
        for ax, (im, title) in zip(axes[row, :3], cells, strict=True):
            ax.imshow(im, interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.axis("off")
        _top5_bars(axes[row, 3], probs[0], class_names, true, target if row else None)
        axes[row, 3].set_title("top-5, clean", fontsize=9)
        _top5_bars(axes[row, 4], probs[k], class_names, true, target if row else None)
        extra = (
            f"\np({class_names[target]}) = {float(probs[k, target]):.1%}, "
            f"p({class_names[true]}) = {float(probs[k, true]):.1%}"
            if row
            else f"\np({class_names[true]}) = {float(probs[k, true]):.1%}"
        )
        axes[row, 4].set_title(f"top-5, {label}{extra}", fontsize=9)
    fig.suptitle(f"{name}: FGSM at eps = {eps:g}/255 (green: true class, red: target)", fontsize=11)
    fig.tight_layout()
    return fig


def sweep_figure(rows):
    plt = _plt()
    eps = [r["eps (/255)"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(eps, [r["fgsm success"] for r in rows], "o-", label="untargeted (prediction changes)")
    ax1.plot(eps, [r["targeted success"] for r in rows], "s--", label="targeted (becomes target)")
    ax1.set(ylabel="attack success rate", ylim=(-0.02, 1.02))
    ax2.plot(eps, [r["fgsm true p"] for r in rows], "o-", color="tab:red")
    ax2.set(ylabel="mean true-class probability", ylim=(-0.02, 1.02))
    for ax in (ax1, ax2):
        ax.set(xscale="log", xlabel="eps (1/255 pixel units)")
        ax.set_xticks(eps, [f"{e:g}" for e in eps])
        ax.minorticks_off()
        ax.grid(alpha=0.3)
    ax1.legend(fontsize=8)
    fig.tight_layout()
    return fig


def noise_figure(rows, clean_p):
    plt = _plt()
    eps = [r["eps (/255)"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.3))
    series = (
        ("fgsm", "FGSM", "o-", "tab:blue"),
        ("linf", "noise, same L-inf", "s--", "tab:orange"),
        ("l2", "noise, same L2", "^--", "tab:green"),
    )
    for key, label, style, colour in series:
        succ = "fgsm success" if key == "fgsm" else f"{key} noise success"
        true_p = "fgsm true p" if key == "fgsm" else f"{key} noise true p"
        l2 = "fgsm L2" if key == "fgsm" else f"{key} noise L2"
        axes[0].plot(eps, [r[succ] for r in rows], style, color=colour, label=label)
        axes[1].plot(eps, [clean_p - r[true_p] for r in rows], style, color=colour, label=label)
        axes[2].plot(
            [r[l2] for r in rows], [r[succ] for r in rows], style, color=colour, label=label
        )
    axes[0].set(ylabel="success rate (prediction changes)", title="success vs eps")
    axes[1].set(
        ylabel="confidence drop (true-class probability,\nclean minus perturbed)",
        title="confidence drop vs eps",
    )
    for ax in axes[:2]:
        ax.set(xscale="log", xlabel="eps of the FGSM perturbation (1/255)", ylim=(-0.02, 1.02))
        ax.set_xticks(eps, [f"{e:g}" for e in eps])
        ax.minorticks_off()
    axes[2].set(
        xscale="log",
        xlabel="L2 norm of the applied perturbation (pixel units)",
        ylabel="success rate",
        title="success vs perturbation energy",
        ylim=(-0.02, 1.02),
    )
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
