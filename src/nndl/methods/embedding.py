"""Features of a network, their 2-D projections, and the numbers that say what the eye sees.

    feats = features(model, x, device="cpu")              # (N, D): pooled last feature map
    xy = project(feats, "tsne", seed=0)                    # (N, 2): pca | tsne | umap
    s = separation(feats, y, seed=0)                       # k-NN accuracy, silhouette (full-D)
    s2 = separation(xy, y, seed=0, reference=feats)        # ... in 2-D, plus trustworthiness

- **k-NN accuracy** (k = 5): a k-nearest-neighbour classifier fitted on a stratified half of the
  points and scored on the other half: are same-class points neighbours?
- **silhouette** (scikit-learn, Euclidean): (b - a) / max(a, b) averaged over points, with a the
  mean distance to the own class and b to the nearest other class; 1 = tight, separated classes,
  0 = overlapping, < 0 = points nearer another class.
- **trustworthiness** (`sklearn.manifold.trustworthiness`, k = 5): of a 2-D projection against the
  full-D features it came from; 1 when every 2-D neighbourhood was a neighbourhood in full D.
  (In full D it is 1 by definition, so it is reported for projections only.)
"""

from __future__ import annotations

import numpy as np

PROJECTIONS = ("pca", "tsne", "umap")
PROJECTION_NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}


def features(
    model, x, *, device: str = "cpu", batch_size: int = 64, layer: str = "", transform=None
) -> np.ndarray:
    """(N, D) float32 features of images `x` (N, C, H, W): the last feature map
    (`zoo.forward_features`) or the output of module `layer` (dotted name), global-average-pooled
    when spatial. `transform` maps a batch to the model's input (resize, normalise)."""
    import torch

    from nndl.errors import ConfigError, did_you_mean
    from nndl.models import zoo

    model = model.to(device).eval()
    captured = {}
    hook = None
    if layer:
        modules = dict(model.named_modules())
        if layer not in modules:
            raise ConfigError(f"Unknown layer '{layer}'.{did_you_mean(layer, modules)}")
        hook = modules[layer].register_forward_hook(lambda _m, _i, out: captured.update(out=out))
    out = []
    try:
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                xb = torch.as_tensor(x[i : i + batch_size]).to(device)
                if transform is not None:
                    xb = transform(xb)
                if layer:
                    model(xb)
                    f = captured["out"]
                else:
                    f = zoo.forward_features(model, xb)
                if f.ndim == 4:  # (B, C, H, W) -> (B, C): global average pooling
                    f = f.mean(dim=(2, 3))
                out.append(f.flatten(1).float().cpu().numpy())
    finally:
        if hook is not None:
            hook.remove()
    return np.concatenate(out)


def l2_normalise(feats: np.ndarray) -> np.ndarray:
    """Each row divided by its length: Euclidean distance becomes cosine distance, the usual
    geometry for k-NN on deep features (a few large activations no longer dominate)."""
    feats = np.asarray(feats, dtype=np.float32)
    return feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)


def project(feats: np.ndarray, method: str, *, seed: int = 0) -> np.ndarray:
    """(N, 2) projection of (N, D) features by PCA, t-SNE (perplexity 30, PCA init) or UMAP
    (15 neighbours); t-SNE and UMAP see the first 50 principal components of wider features.
    Points already in 2-D are returned as they are."""
    from nndl.errors import ConfigError, did_you_mean

    if method not in PROJECTIONS:
        raise ConfigError(f"Unknown projection '{method}'.{did_you_mean(method, PROJECTIONS)}")
    from sklearn.decomposition import PCA

    z = np.asarray(feats, dtype=np.float64)
    if z.shape[1] <= 2:
        return z.astype(np.float32)
    if method == "pca":
        return PCA(2, random_state=seed).fit_transform(z).astype(np.float32)
    if z.shape[1] > 50:  # the usual denoising step before neighbour embeddings
        z = PCA(50, random_state=seed).fit_transform(z)
    n = len(z)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(30, max(2, (n - 1) // 3)))
        xy = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(z)
        return xy.astype(np.float32)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # umap's notes about n_jobs with a fixed seed
        import umap

        reducer = umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), random_state=seed)
        return reducer.fit_transform(z).astype(np.float32)


def knn_accuracy(feats: np.ndarray, labels: np.ndarray, *, k: int = 5, seed: int = 0) -> float:
    """Accuracy of a k-NN classifier fitted on a stratified half of the points, on the other."""
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsClassifier

    counts = np.bincount(labels)
    stratify = labels if counts[counts > 0].min() >= 2 else None
    x_tr, x_te, y_tr, y_te = train_test_split(
        feats, labels, test_size=0.5, random_state=seed, stratify=stratify
    )
    clf = KNeighborsClassifier(n_neighbors=min(k, len(x_tr))).fit(x_tr, y_tr)
    return float(clf.score(x_te, y_te))


def separation(
    feats: np.ndarray, labels: np.ndarray, *, seed: int = 0, reference: np.ndarray | None = None
) -> dict[str, float]:
    """k-NN accuracy and silhouette of points `feats`; with `reference` (the full-D features a
    projection came from) also its trustworthiness."""
    from sklearn.manifold import trustworthiness
    from sklearn.metrics import silhouette_score

    feats = np.asarray(feats, dtype=np.float64)
    out = {
        "knn_acc": knn_accuracy(feats, labels, seed=seed),
        "silhouette": float(silhouette_score(feats, labels)),
    }
    if reference is not None:
        ref = np.asarray(reference, dtype=np.float64)
        out["trustworthiness"] = float(trustworthiness(ref, feats, n_neighbors=5))
    return out


def scatter_grid(panels, labels, class_names, *, suptitle: str = "", ncols: int = 3):
    """Figure of 2-D scatter panels [(title, xy), ...], one colour per class, one shared legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 4.2 * nrows), squeeze=False)
    cmap = plt.get_cmap("tab10" if len(class_names) <= 10 else "tab20")
    colours = [cmap(int(c) % cmap.N) for c in labels]
    size = 10 if len(labels) <= 1000 else 4
    for a, (title, xy) in zip(axes.flat, panels, strict=False):
        a.scatter(xy[:, 0], xy[:, 1], c=colours, s=size, alpha=0.8, linewidths=0)
        a.set_title(title, fontsize=10)
        a.set_xticks([])
        a.set_yticks([])
    for a in list(axes.flat)[len(panels) :]:
        a.axis("off")
    handles = [
        Line2D([], [], marker="o", ls="", color=cmap(i % cmap.N), label=n)
        for i, n in enumerate(class_names)
    ]
    fig.legend(
        handles=handles,
        loc="center right",
        fontsize=9,
        frameon=False,
        title="class",
        bbox_to_anchor=(1.0, 0.5),
    )
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout(rect=(0, 0, 0.9 if ncols > 1 else 0.8, 1))
    return fig
