"""Study a08: density maps, counting/segmentation metrics, U-Net and MCNN, the loaders and renderers.

Loaders are tested on small files written in the published formats (a ShanghaiTech .mat written by
scipy with MATLAB's struct layout, PNG label masks, trimaps), and on the real packs in
../shared/data where present.
"""

from __future__ import annotations

import tarfile

import numpy as np
import pytest
import torch

from nndl.errors import DataError
from nndl.methods import density as dm

# -- density maps ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.7, 2.0, 4.0, 15.0])
def test_fixed_density_integrates_to_head_count_even_at_borders(sigma):
    rng = np.random.default_rng(0)
    points = np.concatenate(
        [
            rng.uniform(0, [40, 30], (25, 2)),  # anywhere, (x, y)
            [
                [0.0, 0.0],
                [39.9, 29.9],
                [0.2, 29.5],
                [39.0, 0.1],
            ],  # corners: kernels cut by the border
            [[-3.0, 5.0], [45.0, 10.0]],  # slightly outside (annotation noise): clipped in
        ]
    )
    d = dm.fixed_density(points, (30, 40), sigma)
    assert d.shape == (30, 40) and d.dtype == np.float32
    assert d.min() >= 0
    assert d.sum(dtype=np.float64) == pytest.approx(len(points), abs=1e-4)


def test_adaptive_density_integrates_to_head_count():
    rng = np.random.default_rng(1)
    points = rng.uniform(0, 64, (200, 2))  # dense: small sigmas
    d = dm.adaptive_density(points, (64, 64))
    assert d.sum(dtype=np.float64) == pytest.approx(200, abs=1e-3)
    assert dm.adaptive_density(points[:1], (64, 64)).sum() == pytest.approx(1, abs=1e-5)
    empty = dm.adaptive_density(np.zeros((0, 2)), (8, 8))
    assert empty.shape == (8, 8) and empty.sum() == 0


def test_adaptive_sigma_follows_neighbour_distance():
    # a square grid with spacing 10: the 3 nearest neighbours of an inner point are 10 px away
    xs, ys = np.meshgrid(np.arange(5) * 10.0 + 5, np.arange(5) * 10.0 + 5)
    points = np.stack([xs.ravel(), ys.ravel()], 1)
    sig = dm.adaptive_sigmas(points, k=3, beta=0.3)
    assert sig[12] == pytest.approx(3.0)  # the centre point
    spread = np.stack([xs.ravel(), ys.ravel()], 1) * 2
    assert dm.adaptive_sigmas(spread)[12] == pytest.approx(6.0)  # twice the spacing, twice sigma
    assert dm.adaptive_sigmas(points[:1], default_sigma=7.0).tolist() == [7.0]


def test_density_peaks_at_the_head_and_points_use_x_column_y_row():
    d = dm.fixed_density(np.array([[12.5, 3.2]]), (10, 20), 1.5)  # x = 12.5 -> column 12
    assert np.unravel_index(d.argmax(), d.shape) == (3, 12)


def test_sum_pool_keeps_the_count():
    d = dm.fixed_density(np.array([[1.0, 1.0], [20.0, 13.0], [33.0, 25.0]]), (27, 35), 2.0)
    for factor in (1, 2, 4, 8):
        pooled = dm.sum_pool(d, factor)
        assert pooled.shape == (-(-27 // factor), -(-35 // factor))
        assert pooled.sum(dtype=np.float64) == pytest.approx(3, abs=1e-4)
    assert dm.sum_pool(np.ones((2, 8, 8)), 4).tolist() == [[[16, 16], [16, 16]]] * 2


# -- metrics --------------------------------------------------------------------------------------


def test_count_errors_known_case():
    out = dm.count_errors([10, 20, 33], [12, 20, 30])  # errors 2, 0, 3
    assert out["mae"] == pytest.approx(5 / 3)
    assert out["rmse"] == pytest.approx(np.sqrt(13 / 3))


def test_segmentation_scores_known_case_with_void():
    target = torch.tensor([[[0, 0, 1, 1], [2, 2, 3, 3]]])
    preds = torch.tensor([[[0, 1, 1, 1], [2, 2, 0, 2]]])  # the void pixels' predictions are ignored
    s = dm.SegmentationScores(3, ignore_index=3)
    s.update(preds[:, :, :2], target[:, :, :2])  # two batches accumulate like one
    s.update(preds[:, :, 2:], target[:, :, 2:])
    out = s.compute()
    # class 0: TP 1, FN 1 -> IoU 1/2, Dice 2/3; class 1: TP 2, FP 1 -> 2/3, 4/5; class 2: perfect
    assert out["per_class_iou"] == pytest.approx([1 / 2, 2 / 3, 1.0])
    assert out["per_class_dice"] == pytest.approx([2 / 3, 4 / 5, 1.0])
    assert out["miou"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert out["pixel_acc"] == pytest.approx(5 / 6)
    assert s.support.tolist() == [2, 2, 2]


def test_segmentation_scores_leave_absent_classes_out_of_the_mean():
    target = torch.zeros(1, 4, 4, dtype=torch.long)
    preds = target.clone()
    preds[0, 0, 0] = 1  # class 1 predicted once, never true: IoU 0, counted
    s = dm.SegmentationScores(4)  # classes 2 and 3: nowhere -> nan, not counted
    s.update(preds, target)
    out = s.compute()
    assert out["per_class_iou"][:2] == pytest.approx([15 / 16, 0.0])
    assert np.isnan(out["per_class_iou"][2]) and np.isnan(out["per_class_iou"][3])
    assert out["miou"] == pytest.approx(15 / 32)


# -- models ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth,width", [(1, 4), (3, 8), (4, 4)])
def test_unet_shapes_for_any_input_size(depth, width):
    from nndl.models.unet import UNet

    x = torch.rand(2, 3, 37, 45)  # not a multiple of 2**depth: padded inside, cropped back
    seg = UNet(3, 5, depth=depth, width=width)
    assert seg(x).shape == (2, 5, 37, 45)
    assert seg.forward_features(x).shape == (2, width, 37, 45)
    dens = UNet(3, depth=depth, width=width, head="density")
    out = dens(x)
    assert out.shape == (2, 1, 37, 45)
    out.sum().backward()
    assert all(p.grad is not None for p in dens.parameters())


def test_unet_at_the_papers_size_has_its_parameter_count():
    from nndl.models.unet import UNet

    # Ronneberger et al.: depth 4, 64 channels at the first level, ~31.0 M parameters
    n = sum(p.numel() for p in UNet(1, 2, depth=4, width=64).parameters())
    assert 30.9e6 < n < 31.1e6


def test_unet_rejects_bad_settings():
    from nndl.models.unet import UNet

    with pytest.raises(ValueError):
        UNet(3, 2, depth=0)
    with pytest.raises(ValueError):
        UNet(3, 2, head="boxes")


def test_mcnn_quarter_resolution_and_paper_columns():
    from nndl.models.mcnn import MCNN

    model = MCNN(in_channels=1)  # the paper's grey input
    out = model(torch.rand(2, 1, 64, 96))
    assert out.shape == (2, 1, 16, 24)
    assert model.forward_features(torch.rand(1, 1, 32, 32)).shape == (1, 30, 8, 8)
    # parameters of the paper's table (weights + biases), column by column, then the 1x1 fusion
    large = 9 * 9 * 1 * 16 + 16 + 7 * 7 * 16 * 32 + 32 + 7 * 7 * 32 * 16 + 16 + 7 * 7 * 16 * 8 + 8
    medium = (
        7 * 7 * 1 * 20 + 20 + 5 * 5 * 20 * 40 + 40 + 5 * 5 * 40 * 20 + 20 + 5 * 5 * 20 * 10 + 10
    )
    small = 5 * 5 * 1 * 24 + 24 + 3 * 3 * 24 * 48 + 48 + 3 * 3 * 48 * 24 + 24 + 3 * 3 * 24 * 12 + 12
    assert sum(p.numel() for p in model.parameters()) == large + medium + small + 30 + 1


# -- ShanghaiTech ---------------------------------------------------------------------------------


def write_shanghaitech_mat(path, points):
    """A GT_IMG_N.mat as published: a 1x1 cell holding a 1x1 struct (location, number)."""
    import scipy.io

    record = np.empty((1, 1), dtype=[("location", "O"), ("number", "O")])
    record[0, 0]["location"] = np.asarray(points, np.float64).reshape(-1, 2)
    record[0, 0]["number"] = np.array([[len(points)]], np.uint16)
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = record
    scipy.io.savemat(str(path), {"image_info": cell})


def make_shanghaitech(root, part="B", sizes=((48, 64), (40, 56), (48, 64)), split_n=(3, 2)):
    from PIL import Image

    rng = np.random.default_rng(0)
    base = root / "ShanghaiTech" / f"part_{part}"
    truth = {}
    for split, n in zip(("train_data", "test_data"), split_n, strict=True):
        (base / split / "images").mkdir(parents=True)
        (base / split / "ground-truth").mkdir(parents=True)
        for i in range(1, n + 1):
            h, w = sizes[(i - 1) % len(sizes)]
            Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(
                base / split / "images" / f"IMG_{i * 5}.jpg"
            )  # 5, 10, 15: numeric order
            pts = rng.uniform(0, [w, h], (i * 4, 2))
            write_shanghaitech_mat(base / split / "ground-truth" / f"GT_IMG_{i * 5}.mat", pts)
            truth[(split, i * 5)] = pts
    return truth


def test_shanghaitech_reads_mat_written_like_the_published_files(tmp_path):
    from nndl.data import shanghaitech as st

    truth = make_shanghaitech(tmp_path)
    paths, points = st.load_shanghaitech(tmp_path, "B", "train")
    assert [p.name for p in paths] == ["IMG_5.jpg", "IMG_10.jpg", "IMG_15.jpg"]
    for p, pts in zip(paths, points, strict=True):
        np.testing.assert_allclose(pts, truth[("train_data", int(p.stem[4:]))])
    paths, half = st.load_shanghaitech(tmp_path, "B", "test", scale=0.5, limit=1)
    assert len(paths) == 1
    np.testing.assert_allclose(half[0], truth[("test_data", 5)] * 0.5)
    image = st.read_image(paths[0], 0.5)
    assert image.shape == (24, 32, 3) and image.dtype == np.uint8


def test_shanghaitech_errors_name_the_problem(tmp_path):
    from nndl.data import shanghaitech as st

    with pytest.raises(DataError, match="part_A"):
        st.load_shanghaitech(tmp_path, "A", "train")
    make_shanghaitech(tmp_path)
    gt = tmp_path / "ShanghaiTech/part_B/train_data/ground-truth/GT_IMG_10.mat"
    gt.write_bytes(b"MATLAB 5.0 MAT-file, truncated")
    with pytest.raises(DataError, match="GT_IMG_10.mat"):
        st.load_shanghaitech(tmp_path, "B", "train")
    gt.unlink()
    with pytest.raises(DataError, match="no ground truth"):
        st.load_shanghaitech(tmp_path, "B", "train")


def test_shanghaitech_number_must_match_locations(tmp_path):
    import scipy.io

    from nndl.data.shanghaitech import read_points

    record = np.empty((1, 1), dtype=[("location", "O"), ("number", "O")])
    record[0, 0]["location"] = np.zeros((3, 2))
    record[0, 0]["number"] = np.array([[4]])
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = record
    scipy.io.savemat(str(tmp_path / "GT_IMG_1.mat"), {"image_info": cell})
    with pytest.raises(DataError, match="number=4"):
        read_points(tmp_path / "GT_IMG_1.mat")
    scipy.io.savemat(str(tmp_path / "GT_IMG_2.mat"), {"points": np.zeros((3, 2))})
    with pytest.raises(DataError, match="image_info"):
        read_points(tmp_path / "GT_IMG_2.mat")


def test_shanghaitech_real_part_b_subset(shared_data, tmp_path):
    from nndl.data import shanghaitech as st

    with tarfile.open(shared_data / "shanghaitech_part_B_subset.tar") as tar:
        tar.extractall(tmp_path, filter="data")
    paths, points = st.load_shanghaitech(tmp_path, "B", "train")
    test_paths, _ = st.load_shanghaitech(tmp_path, "B", "test")
    assert (len(paths), len(test_paths)) == (30, 8)
    assert paths[0].name == "IMG_1.jpg" and paths[1].name == "IMG_2.jpg"
    image = st.read_image(paths[0])
    assert image.shape == (768, 1024, 3)
    assert all(p.ndim == 2 and p.shape[1] == 2 and len(p) > 0 for p in points)
    assert points[0][:, 0].max() < 1024 and points[0][:, 1].max() < 768  # (x, y) order
    d = dm.fixed_density(points[0], image.shape[:2], 15.0)
    assert d.sum(dtype=np.float64) == pytest.approx(len(points[0]), abs=1e-3)


# -- segmentation loaders -------------------------------------------------------------------------


def test_pets_layout_trimaps_to_classes(tmp_path):
    from PIL import Image

    from nndl.data import pets
    from nndl.data.dense_sets import SegmentationSet, read_rgb

    base = tmp_path / "oxford-iiit-pet"
    (base / "images").mkdir(parents=True)
    (base / "annotations" / "trimaps").mkdir(parents=True)
    trimap = np.array([[1, 2, 3, 2], [2, 2, 1, 1], [3, 3, 2, 2]], np.uint8)  # 1 pet 2 bg 3 border
    for name in ("Abyssinian_1", "pug_2"):
        Image.fromarray(np.full((3, 4, 3), 120, np.uint8)).save(base / "images" / f"{name}.jpg")
        Image.fromarray(trimap).save(base / "annotations" / "trimaps" / f"{name}.png")
    (base / "annotations" / "trainval.txt").write_text("Abyssinian_1 1 1 1\n")
    (base / "annotations" / "test.txt").write_text("pug_2 26 2 11\n")
    pairs = pets.load_pets(tmp_path, "trainval", download=False)
    assert [p[0].name for p in pairs] == ["Abyssinian_1.jpg"]
    mask = pets.read_trimap(pairs[0][1])
    assert mask.tolist() == [[1, 0, 2, 0], [0, 0, 1, 1], [2, 2, 0, 0]]
    assert pets.CLASS_NAMES[1] == "pet"
    ds = SegmentationSet(
        lambda i: (read_rgb(pairs[i][0], (8, 8)), pets.read_trimap(pairs[i][1], (8, 8))), 1
    )
    x, y = ds[0]
    assert x.shape == (3, 8, 8) and y.shape == (8, 8) and y.dtype == torch.int64
    assert set(y.unique().tolist()) <= {0, 1, 2}
    (base / "annotations" / "test.txt").write_text("missing_3 1 1 1\n")
    with pytest.raises(DataError, match="missing_3"):
        pets.load_pets(tmp_path, "test", download=False)


def test_pets_missing_fails_at_once(tmp_path):
    from nndl.data import pets

    with pytest.raises(DataError, match="oxford-iiit-pet"):
        pets.load_pets(tmp_path, "test")  # NNDL_OFFLINE=1 in the tests: no download attempt


def make_camvid(root, n=2, size=(12, 16)):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "val", "test"):
        (root / "CamVid" / split).mkdir(parents=True)
        (root / "CamVid" / f"{split}annot").mkdir(parents=True)
        for i in range(n):
            name = f"0001TP_{i:06d}.png"
            Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(
                root / "CamVid" / split / name
            )
            Image.fromarray(rng.integers(0, 12, size, dtype=np.uint8)).save(
                root / "CamVid" / f"{split}annot" / name
            )


def test_camvid_segnet_layout(tmp_path):
    from nndl.data import camvid

    make_camvid(tmp_path)
    pairs = camvid.load_camvid(tmp_path, "val")
    assert len(pairs) == 2 and pairs[0][1].parent.name == "valannot"
    mask = camvid.read_mask(pairs[0][1])
    assert mask.shape == (12, 16) and mask.max() <= camvid.VOID
    small = camvid.read_mask(pairs[0][1], (6, 8))
    assert small.shape == (6, 8) and set(np.unique(small)) <= set(np.unique(mask))  # nearest
    (tmp_path / "CamVid" / "testannot" / pairs[0][0].name).unlink()
    with pytest.raises(DataError, match="no label mask"):
        camvid.load_camvid(tmp_path, "test")
    with pytest.raises(DataError, match="CamVid"):
        camvid.load_camvid(tmp_path / "nowhere", "train")


def test_camvid_rejects_rgb_masks_and_corrupt_files(tmp_path):
    from PIL import Image

    from nndl.data import camvid
    from nndl.data.dense_sets import read_rgb

    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "colour.png")
    with pytest.raises(DataError, match="one channel"):
        camvid.read_mask(tmp_path / "colour.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(DataError, match="bad.png"):
        read_rgb(tmp_path / "bad.png")


def test_camvid_real_subset(shared_data, tmp_path):
    from nndl.data import camvid

    with tarfile.open(shared_data / "camvid.tar") as tar:
        members = [m for m in tar.getmembers() if "/test" in m.name]  # the test split suffices
        tar.extractall(tmp_path, members=members, filter="data")
    for split in ("train", "val", "trainannot", "valannot"):
        (tmp_path / "CamVid" / split).mkdir(exist_ok=True)
    pairs = camvid.load_camvid(tmp_path, "test")
    assert len(pairs) == 60
    mask = camvid.read_mask(pairs[0][1])
    assert mask.shape == (360, 480) and mask.max() <= camvid.VOID


# -- datasets and renderers -----------------------------------------------------------------------


def test_crowd_set_crops_keep_density_and_downsample():
    from nndl.data.dense_sets import CrowdSet

    image = np.zeros((40, 48, 3), np.uint8)
    points = np.array([[10.0, 10.0], [30.0, 20.0], [40.0, 30.0]])
    d = dm.fixed_density(points, (40, 48), 1.0)
    whole = CrowdSet(lambda i: (image, d), 1, crop=0, downsample=4, scale=100.0, flip=False)
    x, y = whole[0]
    assert x.shape == (3, 40, 48) and y.shape == (1, 10, 12)
    assert float(y.sum()) == pytest.approx(300, rel=1e-4)  # 3 heads x scale 100
    crops = CrowdSet(lambda i: (image, d), 1, crop=32, downsample=4, crops_per_image=3)
    assert len(crops) == 3
    torch.manual_seed(0)
    x, y = crops[2]
    assert x.shape == (3, 32, 32) and y.shape == (1, 8, 8)
    assert 0 <= float(y.sum()) <= 3 + 1e-4
    small = CrowdSet(lambda i: (image[:20, :20], d[:20, :20]), 1, crop=32, downsample=4)
    assert small[0][0].shape == (3, 32, 32)  # padded up to the crop


def test_scenes_masks_boxes_and_determinism():
    from nndl.data.synthetic.scenes import class_names, render_scenes

    x, m, boxes = render_scenes(6, 32, num_objects=3, seed=5)
    assert x.shape == (6, 32, 32, 3) and x.dtype == np.uint8 and m.shape == (6, 32, 32)
    assert m.max() <= 3 and len(class_names(3)) == 4
    for mask, b in zip(m, boxes, strict=True):
        for label, x0, y0, x1, y1 in b:
            assert (mask[y0:y1, x0:x1] == label + 1).any()
        assert set(np.unique(mask)) - {0} <= {label + 1 for label in b[:, 0]}
    x2, m2, _ = render_scenes(6, 32, num_objects=3, seed=5)
    assert np.array_equal(x, x2) and np.array_equal(m, m2)


def test_crowds_points_inside_and_deterministic():
    from nndl.data.synthetic.crowds import render_crowds

    x, points, radii = render_crowds(5, (48, 64), min_count=5, max_count=30, seed=3)
    assert x.shape == (5, 48, 64, 3)
    for p, r in zip(points, radii, strict=True):
        assert p.shape[1] == 2 and len(p) <= 30 and len(p) == len(r)
        assert (p[:, 0] >= 0).all() and (p[:, 0] < 64).all()
        assert (p[:, 1] >= 0).all() and (p[:, 1] < 48).all()
    counts = [len(p) for p in points]
    assert max(counts) > min(counts)  # counts vary
    x2, points2, _ = render_crowds(5, (48, 64), min_count=5, max_count=30, seed=3)
    assert np.array_equal(x, x2) and all(
        np.array_equal(a, b) for a, b in zip(points, points2, strict=True)
    )


# -- the study's config ---------------------------------------------------------------------------


def test_bad_config_values_fail_before_training():
    from nndl.config import resolve
    from nndl.errors import ConfigError
    from nndl.studies.a08_unet_mcnn import Config, check_config

    check_config(resolve(Config, "smoke"))
    check_config(resolve(Config, "full"))
    for bad in (
        {"crop_size": "30"},
        {"counting": "crowds,shanghaitech_C"},
        {"num_objects": "9"},
        {"bench_size": "64"},
    ):
        with pytest.raises(ConfigError):
            check_config(resolve(Config, "quick", bad))


def test_missing_counting_data_fails_before_any_training(tmp_path):
    from nndl.config import resolve
    from nndl.studies.a08_unet_mcnn import Config, require_data

    make_camvid(tmp_path)
    cfg = resolve(Config, "full", {"dataset": "camvid", "counting": "shanghaitech_B"})
    with pytest.raises(DataError, match="shanghaitech_B"):
        require_data(cfg, tmp_path)
    make_shanghaitech(tmp_path, "B")
    require_data(cfg, tmp_path)  # everything there: no error
