"""a13: GAN losses against their formulas, the saturating gradient, the Fréchet distance against
torchmetrics, the GAN architectures' shapes, and the CelebA / unpaired loaders on generated files."""

import math
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nndl.errors import ConfigError, DataError
from nndl.methods import gan
from nndl.models.gans import (
    DCDiscriminator,
    DCGenerator,
    PatchDiscriminator,
    ResnetGenerator,
    build_gan,
)

LOGITS_REAL = torch.tensor([2.0, -1.0, 0.5, 3.0])
LOGITS_FAKE = torch.tensor([-4.0, 0.0, 1.5, -0.5])


def test_losses_match_their_formulas():
    def sig(t):
        return 1 / (1 + math.exp(-t))

    d_real, d_fake = [sig(v) for v in LOGITS_REAL.tolist()], [sig(v) for v in LOGITS_FAKE.tolist()]
    expect_d = -np.mean(np.log(d_real)) - np.mean(np.log1p(-np.array(d_fake)))
    assert gan.d_loss(LOGITS_REAL, LOGITS_FAKE).item() == pytest.approx(expect_d, rel=1e-6)
    # minimax: G minimises mean log(1 - D(G(z))); non-saturating: -mean log D(G(z))
    assert gan.g_loss(LOGITS_FAKE, "minimax").item() == pytest.approx(
        np.mean(np.log1p(-np.array(d_fake))), rel=1e-6
    )
    ns = gan.g_loss(LOGITS_FAKE, "nonsaturating").item()
    assert ns == pytest.approx(-np.mean(np.log(d_fake)), rel=1e-6)
    # ... which is binary cross-entropy against the label "real"
    bce = F.binary_cross_entropy_with_logits(LOGITS_FAKE, torch.ones(4)).item()
    assert ns == pytest.approx(bce, rel=1e-6)
    assert gan.lsgan_loss(torch.tensor([0.5, 1.5]), True).item() == pytest.approx(0.25)
    assert gan.lsgan_loss(torch.tensor([0.5, 1.5]), False).item() == pytest.approx(1.25)
    with pytest.raises(ValueError):
        gan.g_loss(LOGITS_FAKE, "wasserstein")


def test_minimax_gradient_saturates_where_d_rejects_the_fakes():
    """d/dl of the minimax loss is -D, of the non-saturating one -(1 - D): per sample."""
    grads = {}
    for kind in gan.G_LOSSES:
        logits = torch.tensor([-8.0, -4.0, 0.0, 4.0], requires_grad=True)
        gan.g_loss(logits, kind).backward()
        grads[kind] = logits.grad * len(logits)  # undo the mean
    d = torch.sigmoid(torch.tensor([-8.0, -4.0, 0.0, 4.0]))
    assert torch.allclose(grads["minimax"], -d, atol=1e-7)
    assert torch.allclose(grads["nonsaturating"], -(1 - d), atol=1e-7)
    assert grads["minimax"][0].abs() < 1e-3 < 0.99 < grads["nonsaturating"][0].abs()
    # through a generator: one sample's parameter-gradient ratio is (1 - D) / D
    torch.manual_seed(0)
    G, D = DCGenerator(8, 4, 8), DCDiscriminator(4, 8)
    G.eval(), D.eval()  # batch norm on running statistics: one sample on its own
    z = torch.randn(1, 8)
    norms = []
    for kind in gan.G_LOSSES:
        G.zero_grad()
        gan.g_loss(D(G(z)), kind).backward()
        norms.append(gan.grad_norm(G))
    p = torch.sigmoid(D(G(z))).item()
    assert norms[0] / norms[1] == pytest.approx((1 - p) / p, rel=1e-4)


def test_frechet_distance_matches_torchmetrics_and_closed_forms():
    from torchmetrics.image.fid import _compute_fid

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(500, 6)), rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6)) + 1
    mu1, s1 = gan.gaussian_stats(a)
    mu2, s2 = gan.gaussian_stats(b)
    ref = _compute_fid(*(torch.from_numpy(v) for v in (mu1, s1, mu2, s2))).item()
    assert gan.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-6)
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2
    one = gan.frechet_distance(
        np.array([1.0]), np.array([[4.0]]), np.array([3.0]), np.array([[1.0]])
    )
    assert one == pytest.approx(4.0 + 1.0)
    assert gan.feature_frechet(a, a) == pytest.approx(0.0, abs=1e-8)
    assert gan.feature_frechet(a, a + 2) == pytest.approx(6 * 4.0)


@pytest.mark.parametrize("size", [32, 64])
def test_dcgan_shapes_forward_and_backward(size):
    G, D = DCGenerator(16, 8, size), DCDiscriminator(8, size)
    x = G(torch.randn(5, 16))
    assert x.shape == (5, 3, size, size) and x.abs().max() <= 1
    logits = D(x)
    assert logits.shape == (5,)
    logits.sum().backward()
    assert all(p.grad is not None for p in G.parameters())
    Gc, Dc = build_gan("cgan", z_dim=16, width=8, image_size=size)
    c = torch.tensor([0, 1, 1, 0, 1])
    assert Dc(Gc(torch.randn(5, 16), c), c).shape == (5,)
    with pytest.raises(ValueError):
        DCGenerator(16, 8, 48)


def test_cyclegan_shapes_and_one_step_updates_all_four_networks():
    G = ResnetGenerator(4, 1)
    assert G(torch.rand(2, 3, 32, 32)).shape == (2, 3, 32, 32)
    assert PatchDiscriminator(8, 3)(torch.rand(2, 3, 256, 256)).shape == (2, 1, 30, 30)  # 70 px
    assert PatchDiscriminator(8, 2)(torch.rand(2, 3, 32, 32)).shape == (2, 1, 6, 6)
    torch.manual_seed(0)
    nets = dict(
        zip(
            ("G", "D_b"),
            build_gan("cyclegan", width=4, num_blocks=1, d_width=4, d_layers=2),
            strict=True,
        )
    )
    nets.update(
        zip(
            ("F", "D_a"),
            build_gan("cyclegan", width=4, num_blocks=1, d_width=4, d_layers=2),
            strict=True,
        )
    )
    before = {k: [p.detach().clone() for p in m.parameters()] for k, m in nets.items()}
    opts = {
        "G": torch.optim.Adam([*nets["G"].parameters(), *nets["F"].parameters()], 1e-3),
        "D": torch.optim.Adam([*nets["D_a"].parameters(), *nets["D_b"].parameters()], 1e-3),
    }
    logs = gan.cycle_step(nets, opts, (torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)),
                          lambda_cycle=10.0, lambda_identity=5.0)  # fmt: skip
    assert {"loss", "cycle", "identity", "g_adv", "d_loss"} <= set(logs)
    for k, m in nets.items():
        assert any(not torch.equal(p, q) for p, q in zip(m.parameters(), before[k], strict=True)), k
    with pytest.raises(ConfigError, match="Did you mean dcgan"):
        build_gan("dcgna")


def test_gan_step_trains_d_then_g():
    from nndl.train import ArrayData, ModulesTrainable, fit

    torch.manual_seed(0)
    G, D = DCGenerator(8, 4, 8), DCDiscriminator(4, 8)
    opts = {
        k: torch.optim.Adam(m.parameters(), 2e-3, betas=(0.5, 0.999))
        for k, m in (("G", G), ("D", D))
    }
    from functools import partial

    t = ModulesTrainable({"G": G, "D": D}, opts, partial(gan.gan_step, z_dim=8))
    h = fit(t, ArrayData(torch.rand(64, 3, 8, 8)), None, name="g", num_epochs=2, batch_size=16)
    assert {
        "train_d_loss",
        "train_g_loss",
        "train_d_real",
        "train_d_fake",
        "train_g_grad_norm",
    } <= set(h.epochs[0])


def test_conditional_step_balances_labels_and_trains_the_ac_gan_classifier():
    """The fakes' labels are drawn 50/50 (not the real batch's 90/10); with aux_weight > 0 D's
    auxiliary classifier is trained and its accuracies are logged; without, it is untouched."""
    torch.manual_seed(0)
    G, D = build_gan("cgan", z_dim=8, width=4, image_size=8)
    opts = {k: torch.optim.SGD(m.parameters(), 0.1) for k, m in (("G", G), ("D", D))}
    x, c = torch.rand(400, 3, 8, 8), (torch.arange(400) % 10 == 0).long()  # 10% class 1
    seen = []
    G.forward = (lambda f: lambda z, cc: seen.append(cc) or f(z, cc))(G.forward)
    before = D.classifier.weight.detach().clone()
    logs = gan.gan_step({"G": G, "D": D}, opts, (x, c), z_dim=8, aux_weight=0.0)
    assert "aux_real_acc" not in logs and torch.equal(D.classifier.weight, before)
    assert 0.4 < seen[-1].float().mean() < 0.6
    logs = gan.gan_step({"G": G, "D": D}, opts, (x, c), z_dim=8, aux_weight=1.0)
    assert {"aux_real_acc", "aux_fake_acc", "d_grad_norm", "g_grad_norm"} <= set(logs)
    assert not torch.equal(D.classifier.weight, before)
    logit, cls = D(x[:5] * 2 - 1, c[:5], with_class=True)
    assert logit.shape == (5,) and cls.shape == (5, 2)


def test_image_pool_returns_older_fakes_once_full_and_is_checkpointed():
    from nndl.models.gans import ImagePool

    torch.manual_seed(0)
    pool = ImagePool(4, (1, 2, 2))
    first = torch.arange(4.0)[:, None, None, None].expand(4, 1, 2, 2)
    assert torch.equal(pool(first), first)  # filling: the new fakes come back
    new = (10 + torch.arange(64.0))[:, None, None, None].expand(64, 1, 2, 2)
    out = pool(new)
    swapped = out[:, 0, 0, 0] != new[:, 0, 0, 0]  # about half come from the history
    assert 0.3 < swapped.float().mean() < 0.7 and (pool.images >= 10).all()
    assert (out[swapped, 0, 0, 0] < out[~swapped, 0, 0, 0].max()).all()  # older fakes
    again = ImagePool(4, (1, 2, 2))
    again.load_state_dict(pool.state_dict())
    assert torch.equal(again.images, pool.images) and int(again.count) == 4


def test_resnet_generator_skip_starts_from_the_identity():
    G = ResnetGenerator(4, 1, skip=True)
    torch.nn.init.zeros_(G.net[-1].weight), torch.nn.init.zeros_(G.net[-1].bias)
    x = torch.rand(2, 3, 16, 16) * 1.8 - 0.9
    assert torch.allclose(G(x), x, atol=1e-5)
    plain = ResnetGenerator(4, 1)
    torch.nn.init.zeros_(plain.net[-1].weight), torch.nn.init.zeros_(plain.net[-1].bias)
    assert plain(x).abs().max() < 1e-6  # the paper's generator has to rebuild x


def test_judge_augmentation_degrades_some_images_reproducibly():
    from nndl.studies.a13_gans.dcgan import augment, degrade

    x = torch.rand(300, 3, 8, 8)
    assert torch.equal(degrade(x, 0.1, seed=3), degrade(x, 0.1, seed=3))
    assert degrade(x, blur=True).shape == x.shape and degrade(x, blur=True).std() < x.std()
    torch.manual_seed(0)
    changed = (augment(x) - x).abs().flatten(1).amax(1) > 1e-6
    assert 0.5 < changed.float().mean() < 0.8  # two thirds degraded, one third clean


# -- loaders ---------------------------------------------------------------------------------------

CELEBA_ATTRS = [
    "5_o_Clock_Shadow",
    "Arched_Eyebrows",
    "Attractive",
    "Bags_Under_Eyes",
    "Bald",
    "Bangs",
    "Big_Lips",
    "Big_Nose",
    "Black_Hair",
    "Blond_Hair",
    "Blurry",
    "Brown_Hair",
    "Bushy_Eyebrows",
    "Chubby",
    "Double_Chin",
    "Eyeglasses",
    "Goatee",
    "Gray_Hair",
    "Heavy_Makeup",
    "High_Cheekbones",
    "Male",
    "Mouth_Slightly_Open",
    "Mustache",
    "Narrow_Eyes",
    "No_Beard",
    "Oval_Face",
    "Pale_Skin",
    "Pointy_Nose",
    "Receding_Hairline",
    "Rosy_Cheeks",
    "Sideburns",
    "Smiling",
    "Straight_Hair",
    "Wavy_Hair",
    "Wearing_Earrings",
    "Wearing_Hat",
    "Wearing_Lipstick",
    "Wearing_Necklace",
    "Wearing_Necktie",
    "Young",
]  # noqa: E501


def _celeba(root: Path, n: int = 3) -> Path:
    from PIL import Image

    base = root / "celeba"
    (base / "img_align_celeba").mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = [str(n), " ".join(CELEBA_ATTRS)]
    for i in range(1, n + 1):
        name = f"{i:06d}.jpg"
        Image.fromarray(rng.integers(0, 255, (218, 178, 3), dtype=np.uint8)).save(
            base / "img_align_celeba" / name
        )
        labels = ["1" if (i + k) % 3 == 0 else "-1" for k in range(40)]
        lines.append(f"{name} " + " ".join(f"{v:>2}" for v in labels))
    (base / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return base


def test_celeba_loader_reads_the_published_layout(tmp_path):
    from nndl.data.celeba import INFO, load_celeba

    _celeba(tmp_path)
    assert INFO.locate(tmp_path) is not None
    d = load_celeba(tmp_path, 16)
    assert d["x"].shape == (3, 16, 16, 3) and d["x"].dtype == np.uint8
    assert d["attribute_names"] == tuple(CELEBA_ATTRS) and d["attributes"].shape == (3, 40)
    assert d["attributes"][0, 2] == 1 and d["attributes"][0, 0] == 0  # (1 + 2) % 3 == 0
    assert len(load_celeba(tmp_path, 16, max_images=2)["x"]) == 2


def test_celeba_loader_names_bad_files(tmp_path):
    from nndl.data.celeba import load_celeba

    with pytest.raises(DataError, match="not found"):
        load_celeba(tmp_path, 16)
    base = _celeba(tmp_path)
    (base / "img_align_celeba" / "000002.jpg").unlink()
    with pytest.raises(DataError, match="000002.jpg"):
        load_celeba(tmp_path, 16)
    text = (base / "list_attr_celeba.txt").read_text().splitlines()
    (base / "list_attr_celeba.txt").write_text("\n".join(text[:3]) + "\n")  # truncated
    with pytest.raises(DataError, match="truncated"):
        load_celeba(tmp_path, 16)


def _images(folder: Path, n: int, colour: int) -> None:
    from PIL import Image

    folder.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.full((40, 40, 3), colour, np.uint8)).save(folder / f"{i:03d}.jpg")


def test_unpaired_loader_reads_both_layouts(tmp_path):
    from nndl.data.unpaired import load_unpaired

    _images(tmp_path / "k" / "photo_jpg", 5, 50)
    _images(tmp_path / "k" / "monet_jpg", 4, 200)
    d = load_unpaired(tmp_path / "k", 16, num_test=2)
    assert d["layout"] == "kaggle" and d["train_a"].shape == (3, 16, 16, 3)
    assert (
        len(d["test_a"]) == 2 and len(d["train_b"]) == 2 and abs(int(d["train_b"].mean()) - 200) < 3
    )
    _images(tmp_path / "c" / "monet2photo" / "trainA", 3, 10)
    _images(tmp_path / "c" / "monet2photo" / "trainB", 3, 20)
    _images(tmp_path / "c" / "monet2photo" / "testA", 1, 10)
    d = load_unpaired(tmp_path / "c", 8, num_test=2)  # one folder down; testB held out of trainB
    assert d["layout"] == "cyclegan" and len(d["test_a"]) == 1 and len(d["test_b"]) == 2
    assert len(d["train_b"]) == 1
    with pytest.raises(DataError, match="not found"):
        load_unpaired(tmp_path / "nothing", 8, 2)


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "monet_photo_subset.tar"


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is not here")
def test_unpaired_loader_on_the_real_monet_photo_subset(tmp_path):
    from nndl.data.unpaired import load_unpaired

    with tarfile.open(SHARED) as tar:
        tar.extractall(tmp_path, filter="data")
    d = load_unpaired(tmp_path, 32, num_test=30, max_train=20)
    assert d["domain_names"] == ("photo", "Monet painting")
    assert d["train_a"].shape == (20, 32, 32, 3) and d["test_b"].shape == (30, 32, 32, 3)


# -- the study's config errors -------------------------------------------------------------------


def test_bad_config_values_are_one_line_errors(tmp_path):
    from nndl.config import resolve
    from nndl.studies.a13_gans import Config
    from nndl.studies.a13_gans.data import check_config

    with pytest.raises(ConfigError, match="Did you mean long_hair"):
        check_config(resolve(Config, "smoke", {"attribute": "long_hiar"}), tmp_path)
    with pytest.raises(ConfigError, match="no 'long_hair' column"):
        check_config(resolve(Config, "full", {"attribute": "long_hair"}), tmp_path)
    with pytest.raises(ConfigError, match="cycle_pool"):
        check_config(resolve(Config, "smoke", {"cycle_pool": -1}), tmp_path)
    with pytest.raises(ConfigError, match="power of two"):
        check_config(resolve(Config, "smoke", {"image_size": 48}), tmp_path)
    with pytest.raises(DataError, match="celeba"):
        check_config(resolve(Config, "full"), tmp_path)
