"""The `faces` renderer: deterministic, identities recur, attributes fixed per person, a real problem."""

from __future__ import annotations

import numpy as np
import torch

from nndl.data.synthetic.faces import ATTRIBUTES, identity_list, paint, render_faces


def test_render_is_deterministic_and_shaped():
    a = render_faces([3, 3, 7], size=32, seed=5)
    b = render_faces([3, 3, 7], size=32, seed=5)
    assert a.x.shape == (3, 32, 32, 3) and a.x.dtype == np.uint8
    assert np.array_equal(a.x, b.x) and np.array_equal(a.attributes, b.attributes)
    assert not np.array_equal(a.x, render_faces([3, 3, 7], size=32, seed=6).x)
    assert render_faces([0], size=64).x.shape == (1, 64, 64, 3)
    assert a.attributes.shape == (3, len(ATTRIBUTES)) and len(ATTRIBUTES) >= 5


def test_identity_recurs_with_its_traits_and_attributes_are_balanced_enough():
    ids = identity_list(200, 4, seed=0)
    f = render_faces(ids, size=32, seed=1)
    smiling = ATTRIBUTES.index("smiling")
    for k in range(20):  # identity attributes never change between images of one person
        rows = f.attributes[ids == k]
        fixed = np.delete(rows, smiling, axis=1)
        assert (fixed == fixed[0]).all()
    # two images of one person differ (pose, light, background)
    first = f.x[ids == 0]
    assert np.abs(first[0].astype(int) - first[1]).mean() > 10
    # every attribute occurs, none is (almost) always on
    rate = f.attributes.mean(0)
    assert ((rate > 0.1) & (rate < 0.9)).all(), dict(zip(ATTRIBUTES, rate, strict=True))
    # the same identity in another render seed keeps its traits
    g = render_faces([0, 1, 2], size=32, seed=99)
    assert np.array_equal(
        np.delete(g.attributes, smiling, 1),
        np.delete(np.stack([f.attributes[ids == k][0] for k in range(3)]), smiling, 1),
    )


def test_paint_changes_style_keeps_content():
    f = render_faces(range(4), size=64)
    p = paint(f.x)
    assert p.shape == f.x.shape and p.dtype == np.uint8
    assert np.array_equal(p, paint(f.x))
    diff = np.abs(p.astype(int) - f.x).mean()
    assert 5 < diff < 60  # a visible change of style, not a different picture
    assert len(np.unique(p.reshape(-1, 3), axis=0)) < len(np.unique(f.x.reshape(-1, 3), axis=0))


def _auc(score, same):
    from sklearn.metrics import roc_auc_score

    return roc_auc_score(same, score)


def _pairs(ids, n, rng):
    a = rng.integers(0, len(ids), n)
    same = rng.random(n) < 0.5
    b = np.array(
        [
            rng.choice(np.flatnonzero((ids == ids[i]) == s & (np.arange(len(ids)) != i)))
            for i, s in zip(a, same, strict=True)
        ]
    )
    return a, b, (ids[a] == ids[b]).astype(int)


def _train(model, x, loss_fn, targets, epochs):
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(32):
            loss = loss_fn(model(x[idx]), targets[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def test_a_real_problem_pixel_distance_verifies_far_worse_than_a_small_trained_embedding():
    from nndl.data.synthetic.faces import to_tensor_layout
    from nndl.models.small_cnn import SmallCNN

    torch.manual_seed(0)
    train_ids = identity_list(40, 16, seed=0)
    x_tr = torch.from_numpy(to_tensor_layout(render_faces(train_ids, size=32, seed=0).x))
    test_ids = identity_list(30, 6, first=1000, seed=1)  # people never seen in training
    x_te = torch.from_numpy(to_tensor_layout(render_faces(test_ids, size=32, seed=1).x))
    model = _train(
        SmallCNN(num_classes=40, width=16),
        x_tr,
        torch.nn.functional.cross_entropy,
        torch.from_numpy(train_ids),
        epochs=6,
    )
    with torch.no_grad():
        emb = model.forward_head(model.forward_features(x_te), pre_logits=True)
    emb = torch.nn.functional.normalize(emb, dim=1).numpy()
    pix = x_te.flatten(1).numpy()
    a, b, same = _pairs(test_ids, 600, np.random.default_rng(0))
    auc_pixels = _auc(-np.linalg.norm(pix[a] - pix[b], axis=1), same)
    auc_embedding = _auc((emb[a] * emb[b]).sum(1), same)
    assert auc_pixels < 0.75, auc_pixels
    assert auc_embedding > auc_pixels + 0.15, (auc_pixels, auc_embedding)


def test_attributes_of_unseen_people_are_learnable():
    from nndl.data.synthetic.faces import to_tensor_layout
    from nndl.models.small_cnn import SmallCNN

    torch.manual_seed(0)
    tr = render_faces(identity_list(400, 2, seed=0), size=32, seed=0)
    te = render_faces(np.arange(2000, 2300), size=32, seed=1)
    model = _train(
        SmallCNN(num_classes=len(ATTRIBUTES), width=16),
        torch.from_numpy(to_tensor_layout(tr.x)),
        torch.nn.functional.binary_cross_entropy_with_logits,
        torch.from_numpy(tr.attributes).float(),
        epochs=5,
    )
    with torch.no_grad():
        pred = (model(torch.from_numpy(to_tensor_layout(te.x))) > 0).numpy()
    acc = (pred == te.attributes).mean(0)
    majority = np.maximum(te.attributes.mean(0), 1 - te.attributes.mean(0))
    assert (acc > majority + 0.05).sum() >= 4, (acc, majority)
