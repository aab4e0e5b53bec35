"""Studies a03, a09, a10: configs fail early, missing data is one line, a10 reuses a09's models."""

from __future__ import annotations

import json

import pytest

from nndl.errors import ConfigError, DataError
from nndl.registry import get_study
from nndl.run import RunOptions, execute


def _run(study, tmp_path, profile="smoke", **overrides):
    opts = RunOptions(
        profile=profile,
        out=tmp_path / "runs",
        data_root=tmp_path / "data",
        overrides={k: str(v) for k, v in overrides.items()},
    )
    folder = execute(get_study(study), opts)
    return json.loads((folder / "metrics.json").read_text()), folder


def test_a10_reuses_the_dae_that_a09_trained(tmp_path, monkeypatch):
    monkeypatch.setenv("NNDL_CACHE", str(tmp_path / "cache"))
    from nndl.config import resolve
    from nndl.studies.a09_ae_features import Config as A09

    a09 = resolve(A09, "smoke")
    sigma = a09.gaussian_levels[0]
    _run("a09", tmp_path)
    shared = {  # a10 set to a09's data and autoencoder settings
        "dataset": "shapes",
        "num_train": a09.num_train,
        "num_test": a09.num_test,
        "latent_dim": a09.latent_dim,
        "ae_width": a09.ae_width,
        "ae_num_epochs": a09.ae_num_epochs,
        "ae_batch_size": a09.ae_batch_size,
        "ae_lr": a09.ae_lr,
        "dae_noise": sigma,
    }
    _, folder = _run("a10", tmp_path, **shared)
    timings = json.loads((folder / "timings.json").read_text())  # reuse is not a result
    assert timings["dae_from_cache"] is True  # trained by a09, loaded by a10
    assert timings["ae_from_cache"] is False  # a09's AE has a 2-D code, a10's does not
    assert "cached, by a09" in (folder / "report.md").read_text()
    _, folder = _run("a10", tmp_path, **(shared | {"dae_noise": sigma + 0.05}))
    timings = json.loads((folder / "timings.json").read_text())
    assert timings["dae_from_cache"] is False  # another noise level: another model


def test_bad_settings_are_config_errors_before_any_work(tmp_path):
    for study, bad in (
        ("a03", {"projections": "pca,isomap"}),
        ("a03", {"image_size": 16}),
        ("a09", {"augment": "flip,rotate"}),
        ("a09", {"gaussian_levels": "0.2,1.5"}),
        ("a10", {"dataset": "cifar10"}),
        ("a10", {"latent_dim": 0}),
    ):
        with pytest.raises(ConfigError):
            _run(study, tmp_path, **bad)


@pytest.mark.parametrize(
    ("study", "overrides", "where"),
    [
        ("a03", {"dataset": "mnist"}, "MNIST/raw"),
        ("a09", {"dataset": "cifar10"}, "cifar-10-batches-py"),
        ("a10", {"dataset": "fashion_mnist"}, "FashionMNIST/raw"),
    ],
)
def test_missing_real_data_is_one_line_naming_the_layout(tmp_path, study, overrides, where):
    with pytest.raises(DataError, match=where):
        _run(study, tmp_path, **overrides)
