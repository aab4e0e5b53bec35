"""The embedded `shapes` renderer: deterministic, balanced, and a real learning problem."""

import numpy as np
import pytest

from nndl.data.synthetic.shapes import class_names, load_shapes, render_shapes


def test_same_seed_same_bytes_other_seed_other_images():
    x1, y1 = render_shapes(40, seed=3)
    x2, y2 = render_shapes(40, seed=3)
    assert x1.tobytes() == x2.tobytes() and np.array_equal(y1, y2)
    x3, _ = render_shapes(40, seed=4)
    assert not np.array_equal(x1, x3)
    assert x1.dtype == np.uint8 and x1.shape == (40, 32, 32, 3)


@pytest.mark.parametrize("num_classes", [10, 20])
def test_classes_are_balanced(num_classes):
    _, y = render_shapes(10 * num_classes, num_classes=num_classes, seed=0)
    assert np.array_equal(np.bincount(y, minlength=num_classes), np.full(num_classes, 10))
    assert len(class_names(num_classes)) == num_classes
    assert not np.all(np.diff(y) >= 0)  # shuffled, not sorted by class


def test_train_and_test_share_no_image():
    x_tr, _, x_te, _ = load_shapes(10, 200, 100, seed=0)
    assert x_tr.shape == (200, 3, 32, 32) and x_te.dtype == np.float32
    assert x_tr.min() >= 0.0 and x_tr.max() <= 1.0
    train = {img.tobytes() for img in x_tr}
    assert not any(img.tobytes() in train for img in x_te)


def test_a_linear_classifier_stays_far_below_a_small_cnn():
    """Multinomial logistic regression on raw pixels against the SmallCNN of a05/a06, both trained
    with the shared loop on the same images. Colour, position, rotation and clutter are random, so
    only the shape (a spatial pattern a convolution finds anywhere) tells the classes apart: the
    linear model memorises its training images and stays at chance on new ones.

    Three of the ten classes (circle, star, cross), so that the CNN's brief training takes
    seconds on one thread; single-threaded also keeps it deterministic."""
    import torch
    from torch import nn

    from nndl.models.small_cnn import SmallCNN
    from nndl.train import ArrayData, TorchTrainable, evaluate, fit

    keep = [class_names(10).index(c) for c in ("circle", "star", "cross")]
    x_tr, y_tr, x_te, y_te = load_shapes(10, 1200, 450, seed=0)

    def subset(x, y):
        m = np.isin(y, keep)
        return torch.from_numpy(x[m]), torch.from_numpy(np.searchsorted(keep, y[m]))

    (x_tr, y_tr), (x_te, y_te) = subset(x_tr, y_tr), subset(x_te, y_te)
    mean, std = x_tr.mean(), x_tr.std()
    train = ArrayData((x_tr - mean) / std, y_tr)
    test = ArrayData((x_te - mean) / std, y_te)

    def accuracy(model, lr, num_epochs):
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
        steps = num_epochs * -(-len(train) // 32)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=steps)
        trainable = TorchTrainable(model, optimizer, scheduler=scheduler)
        fit(trainable, train, name="m", num_epochs=num_epochs, batch_size=32, quiet=True)
        return evaluate(trainable, test, 256)["acc"], evaluate(trainable, train, 256)["acc"]

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        linear_test, linear_train = accuracy(
            nn.Sequential(nn.Flatten(), nn.Linear(3072, 3)), 1e-3, 10
        )
        torch.manual_seed(0)
        cnn_test, _ = accuracy(SmallCNN(3, width=8), 1e-2, 20)
    finally:
        torch.set_num_threads(threads)
    assert linear_train > 0.8  # the linear model fits its training images ...
    assert linear_test < 0.45  # ... but stays near chance (1/3) on new ones
    assert cnn_test > linear_test + 0.2, (cnn_test, linear_test)
