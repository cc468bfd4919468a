"""Embedded datasets: schemas, determinism, balance, provenance."""

import numpy as np
import pytest

import keras_provguide as kpg


@pytest.fixture(scope="module")
def spurious():
    return kpg.datasets.spurious_digits(num_train=400, num_val=40, num_test=80, synthetic_per_group=30)


def test_spurious_digits_schema(spurious):
    assert set(spurious) == {"train", "val", "test", "synthetic"}
    for name, split in spurious.items():
        n = len(split["labels"])
        assert split["images"].shape == (n, 32, 32, 3) and split["images"].dtype == np.float32
        assert 0.0 <= split["images"].min() and split["images"].max() <= 1.0
        for key in ("labels", "digits", "digit_ids", "backgrounds", "groups"):
            assert split[key].shape == (n,) and split[key].dtype == np.int32, (name, key)
        np.testing.assert_array_equal(split["labels"], split["digits"] % 2)
        np.testing.assert_array_equal(split["groups"], 2 * split["labels"] + split["backgrounds"])
    assert spurious["synthetic"]["provenance"].shape == (120, 32, 32, 1)
    assert "provenance" not in spurious["train"]


def test_spurious_digits_bias_and_balance(spurious):
    train = spurious["train"]
    assert abs(np.mean(train["labels"] == train["backgrounds"]) - 0.95) < 0.04
    for name, per_group in (("val", 10), ("test", 20), ("synthetic", 30)):
        np.testing.assert_array_equal(np.bincount(spurious[name]["groups"], minlength=4), per_group)


def test_spurious_digits_splits_share_no_digit(spurious):
    ids = {name: set(split["digit_ids"]) for name, split in spurious.items()}
    assert not ids["train"] & ids["val"] and not ids["train"] & ids["test"]
    assert not ids["val"] & ids["test"]
    assert ids["synthetic"] <= ids["train"]


def test_synthetic_provenance_marks_the_digit_and_the_generator_look_is_visible(spurious):
    synthetic, real = spurious["synthetic"], spurious["test"]
    provenance = synthetic["provenance"][..., 0]
    assert 0.05 < provenance.mean() < 0.5  # A digit, not the whole image.
    # The digit is light ink: brighter than the background it covers.
    brightness = synthetic["images"].mean(-1)
    assert brightness[provenance > 0.9].mean() > brightness[provenance < 0.1].mean() + 0.2
    # Generator look: a colour cast (red up, blue down) that real images lack.
    def cast(images):
        return images[..., 0].mean() - images[..., 2].mean()

    assert cast(synthetic["images"]) > cast(real["images"]) + 0.05


def test_datasets_are_deterministic_for_a_seed():
    a = kpg.datasets.spurious_digits(num_train=50, num_val=8, num_test=8, synthetic_per_group=2, seed=3)
    b = kpg.datasets.spurious_digits(num_train=50, num_val=8, num_test=8, synthetic_per_group=2, seed=3)
    c = kpg.datasets.spurious_digits(num_train=50, num_val=8, num_test=8, synthetic_per_group=2, seed=4)
    for split in a:
        for key in a[split]:
            np.testing.assert_array_equal(a[split][key], b[split][key])
    assert not np.array_equal(a["train"]["images"], c["train"]["images"])
    d = kpg.datasets.digit_localization(num_train=20, num_test=10, seed=1)
    e = kpg.datasets.digit_localization(num_train=20, num_test=10, seed=1)
    np.testing.assert_array_equal(d["train"]["images"], e["train"]["images"])


def test_digit_localization_boxes_are_the_tight_boxes_of_the_masks():
    data = kpg.datasets.digit_localization(num_train=40, num_test=20, image_size=48)
    for split in ("train", "test"):
        part = data[split]
        n = len(part["labels"])
        assert part["images"].shape == (n, 48, 48, 3) and part["provenance"].shape == (n, 48, 48, 1)
        assert set(np.unique(part["labels"])) <= set(range(10))
        for mask, box in zip(part["provenance"][..., 0] > 0.5, part["boxes"]):
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            np.testing.assert_array_equal(box, [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1])
        sides = part["boxes"][:, 2:] - part["boxes"][:, :2]
        assert sides.max() <= 0.6 * 48 + 1


def test_decoy_digits_swatch_is_non_target():
    data = kpg.datasets.decoy_digits(num_train=100)
    train = data["train"]
    swatch = train["provenance"][..., 0] == 0
    assert np.all(swatch.sum((1, 2)) == 16)
    shades = np.asarray([img[..., 0][s].mean() for img, s in zip(train["images"], swatch)])
    np.testing.assert_allclose(shades, (255 - 25 * train["labels"]) / 255, atol=1e-6)


def test_decoy_digits_validation_comes_from_held_out_digits_with_random_shades():
    plain = kpg.datasets.decoy_digits(seed=3)
    data = kpg.datasets.decoy_digits(seed=3, num_val=200)
    assert "val" not in plain and len(data["val"]["labels"]) == 200
    for key in ("images", "provenance", "labels"):
        np.testing.assert_array_equal(data["train"][key], plain["train"][key])
        np.testing.assert_array_equal(  # val is the head of the old test split, test the rest
            np.concatenate([data["val"][key], data["test"][key]]), plain["test"][key]
        )
    val = data["val"]
    swatch = val["provenance"][..., 0] == 0
    shades = np.asarray([img[..., 0][s].mean() for img, s in zip(val["images"], swatch)])
    # The swatch lies on held-out data: its shade matches the label only by chance.
    assert np.mean(np.isclose(shades, (255 - 25 * val["labels"]) / 255)) < 0.3


def test_decoy_digits_fixed_pools_are_the_same_for_every_seed_and_hold_every_shade():
    first = kpg.datasets.decoy_digits(num_train=700, num_val=540, seed=1, pool_seed=5)
    second = kpg.datasets.decoy_digits(num_train=700, num_val=540, seed=2, pool_seed=5)
    for split in ("val", "test"):
        for key in ("images", "provenance", "labels"):
            np.testing.assert_array_equal(first[split][key], second[split][key])
        # Each digit once per shade: the swatch is independent of the label there.
        part = first[split]
        swatch = part["provenance"][..., 0] == 0
        shades = np.asarray([img[..., 0][s].mean() for img, s in zip(part["images"], swatch)])
        shade_labels = np.rint((255 - 255 * shades) / 25).astype(int)
        counts = np.zeros((10, 10), int)
        np.add.at(counts, (part["labels"], shade_labels), 1)
        assert np.all(counts == counts[:, :1])  # every shade equally often within each class
        assert np.bincount(part["labels"]).min() >= 500
    assert not np.array_equal(first["train"]["images"], second["train"]["images"])
    np.testing.assert_array_equal(np.sort(first["train"]["labels"]), np.sort(second["train"]["labels"]))
    other_pools = kpg.datasets.decoy_digits(num_train=700, num_val=540, seed=1, pool_seed=6)
    assert not np.array_equal(other_pools["test"]["images"], first["test"]["images"])


def test_decoy_digits_fixed_pools_keep_train_digits_out_of_val_and_test():
    from sklearn.datasets import load_digits

    data = kpg.datasets.decoy_digits(num_train=700, num_val=540, seed=0, pool_seed=5)
    digits = np.kron(load_digits().images / 16.0, np.ones((2, 2))).reshape(1797, -1)
    rows = {digit.tobytes(): i for i, digit in enumerate(digits.astype("float32"))}

    def ids(split):
        centre = data[split]["images"][:, 6:22, 6:22, 0].reshape(len(data[split]["images"]), -1)
        return {rows[c.tobytes()] for c in centre}

    train, val, test = ids("train"), ids("val"), ids("test")
    assert not (train & val or train & test or val & test)
    assert len(train) + len(val) + len(test) == len(rows)


def test_spurious_and_edited_digits_fixed_pools_are_the_same_for_every_seed():
    first = kpg.datasets.spurious_digits(seed=1, num_val=40, num_test=40, pool_seed=5)
    second = kpg.datasets.spurious_digits(seed=2, num_val=40, num_test=40, pool_seed=5)
    for split in ("val", "test"):
        for key in first[split]:
            np.testing.assert_array_equal(first[split][key], second[split][key])
    assert not np.array_equal(first["train"]["images"], second["train"]["images"])
    held_out = set(first["val"]["digit_ids"]) | set(first["test"]["digit_ids"])
    assert not held_out & (set(first["train"]["digit_ids"]) | set(second["train"]["digit_ids"]))
    edited = [kpg.datasets.edited_digits(seed=s, num_val=40, num_test=40, pool_seed=5) for s in (1, 2)]
    np.testing.assert_array_equal(edited[0]["test"]["images"], edited[1]["test"]["images"])
    # Without a pool seed the splits are those of earlier releases: seeded together.
    plain = [kpg.datasets.spurious_digits(seed=s, num_val=40, num_test=40) for s in (1, 2)]
    assert not np.array_equal(plain[0]["test"]["images"], plain[1]["test"]["images"])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: kpg.datasets.decoy_digits(num_val=597), "num_val"),
        (lambda: kpg.datasets.decoy_digits(num_val=-1), "num_val"),
        (lambda: kpg.datasets.decoy_digits(num_val=0, pool_seed=1), "num_val"),
        (lambda: kpg.datasets.spurious_digits(bias=0.3), "bias"),
        (lambda: kpg.datasets.spurious_digits(num_val=10), "num_val"),
        (lambda: kpg.datasets.digit_localization(image_size=8), "image_size"),
        (lambda: kpg.datasets.digit_localization(scale_range=(0.5, 0.2)), "scale_range"),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_building_a_dataset_leaves_the_backend_ops_intact():
    import keras

    kpg.datasets.digit_localization(num_train=2, num_test=2)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(keras.ops.zeros((2,))), [0.0, 0.0])


def test_localization_datasets_add_a_validation_split_with_its_own_digits():
    # Without `num_val` the splits are those of the release before it
    # (image sums and labels recorded from that release).
    d = kpg.datasets.digit_localization(num_train=20, num_test=10, seed=1)
    assert [float(d[s]["images"].sum()) for s in ("train", "test")] == pytest.approx(
        [82229.266, 41650.582], rel=1e-6
    )
    assert d["test"]["labels"].tolist() == [3, 6, 5, 2, 6, 3, 2, 5, 1, 5] and "val" not in d
    m = kpg.datasets.moving_digits(num_train=6, num_test=4, num_frames=3, seed=2)
    assert [float(m[s]["images"].sum()) for s in ("train", "test")] == pytest.approx(
        [20209.857, 12586.94], rel=1e-6
    )
    assert m["test"]["labels"].tolist() == [6, 2, 8, 3] and "val" not in m

    d = kpg.datasets.digit_localization(num_train=20, num_test=10, num_val=7, image_size=24, seed=1)
    val = d["val"]
    assert val["images"].shape == (7, 24, 24, 3) and val["boxes"].shape == (7, 4)
    assert val["provenance"].shape == (7, 24, 24, 1) and val["labels"].shape == (7,)
    m = kpg.datasets.moving_digits(num_train=6, num_test=4, num_val=5, num_frames=3, seed=2)
    assert m["val"]["images"].shape == (5, 3, 32, 32, 3) and m["val"]["frames"].shape == (5, 3)

    # The digit pools of the three splits are disjoint shares of the order.
    from keras_provguide.datasets import sources

    order = np.random.default_rng(0).permutation(100)
    train, test, val = sources.digit_pools(order, 60, 20, 20)
    assert (len(train), len(test), len(val)) == (60, 20, 20)
    assert len(set(train) | set(test) | set(val)) == 100
    train, test, val = sources.digit_pools(order, 60, 40)
    assert (len(train), len(test), len(val)) == (60, 40, 0)


@pytest.mark.parametrize("num_val", [-1, 2.5, True, "3"])
def test_localization_datasets_reject_a_bad_validation_size(num_val):
    with pytest.raises(ValueError, match=r"`num_val` to be an int >= 0"):
        kpg.datasets.digit_localization(num_train=4, num_test=4, num_val=num_val)
    with pytest.raises(ValueError, match=r"`num_val` to be an int >= 0"):
        kpg.datasets.moving_digits(num_train=4, num_test=4, num_val=num_val)


@pytest.mark.parametrize("build", [
    lambda **kw: kpg.datasets.digit_localization(num_train=30, image_size=32, **kw),
    lambda **kw: kpg.datasets.moving_digits(num_train=30, num_frames=3, **kw),
])
def test_localization_pools_are_fixed_balanced_and_the_background_variant_tints_by_class(build):
    first = build(num_val=20, num_test=40, seed=1, pool_seed=5, background_bias=1.0)
    second = build(num_val=20, num_test=40, seed=2, pool_seed=5, background_bias=1.0)
    for split in ("val", "test"):
        for key in first[split]:
            np.testing.assert_array_equal(first[split][key], second[split][key])
    assert np.all(np.bincount(first["test"]["labels"], minlength=10) == 4)
    # bias 1: every training background shows its own class's colour; at test, a random class's.
    np.testing.assert_array_equal(first["train"]["background_classes"], first["train"]["labels"])
    assert np.mean(first["test"]["background_classes"] == first["test"]["labels"]) < 0.5
    # The digit's own pixels are left as they were: only the background is tinted.
    plain = build(num_val=20, num_test=40, seed=1, pool_seed=5)
    digit = first["train"]["provenance"] == 1.0
    np.testing.assert_allclose(
        np.where(digit, first["train"]["images"], 0), np.where(digit, plain["train"]["images"], 0), atol=1e-6
    )
    assert not np.allclose(first["train"]["images"], plain["train"]["images"])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: kpg.datasets.digit_localization(num_val=15, pool_seed=1), "multiple of 10"),
        (lambda: kpg.datasets.moving_digits(num_val=10, num_test=5, pool_seed=1), "multiple of 10"),
        (lambda: kpg.datasets.digit_localization(background_bias=1.5), "background_bias"),
        (lambda: kpg.datasets.moving_digits(background_bias="high"), "background_bias"),
    ],
)
def test_fixed_pool_and_background_arguments_are_checked(call, match):
    with pytest.raises(ValueError, match=match):
        call()
