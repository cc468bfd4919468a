"""Edited digits: real splits with a background shortcut, and imperfect background edits."""

import numpy as np
import pytest

import keras_provguide as kpg


@pytest.fixture(scope="module")
def edited():
    return kpg.datasets.edited_digits(num_train=200, num_val=40, num_test=40, seed=2)


def test_schema_and_real_splits_match_spurious_digits(edited):
    assert set(edited) == {"train", "val", "test", "edited"}
    spurious = kpg.datasets.spurious_digits(
        num_train=200, num_val=40, num_test=40, synthetic_per_group=1, seed=2
    )
    for name in ("train", "val", "test"):
        for key, value in spurious[name].items():
            np.testing.assert_array_equal(edited[name][key], value)
        assert edited[name]["object_masks"].shape == edited[name]["images"].shape[:3] + (1,)
    split = edited["edited"]
    assert split["images"].shape == edited["train"]["images"].shape
    assert split["images"].dtype == np.float32
    assert 0.0 <= split["images"].min() and split["images"].max() <= 1.0
    np.testing.assert_array_equal(split["labels"], edited["train"]["labels"])
    np.testing.assert_array_equal(split["source_index"], np.arange(200))


def test_every_edit_changes_the_background_and_keeps_the_digit(edited):
    train, split = edited["train"], edited["edited"]
    assert np.all(split["backgrounds"] != train["backgrounds"])
    assert set(np.unique(split["backgrounds"])) == {0, 1, 2}
    digit = train["object_masks"][..., 0] > 0.5
    change = np.abs(split["images"] - train["images"]).mean(-1)
    # Object pixels change a little (imperfect editor), the background a lot.
    assert 0.0 < change[digit].mean() < 0.1 < change[~digit].mean()
    # Groups: 2 * label + background on grass and brick, 4 + label on gravel.
    grass_or_brick = split["backgrounds"] < 2
    np.testing.assert_array_equal(
        split["groups"][grass_or_brick],
        2 * split["labels"][grass_or_brick] + split["backgrounds"][grass_or_brick],
    )
    np.testing.assert_array_equal(split["groups"][~grass_or_brick], 4 + split["labels"][~grass_or_brick])


def test_provenance_is_recovered_from_the_pixels(edited):
    train, split = edited["train"], edited["edited"]
    np.testing.assert_array_equal(
        split["provenance"], kpg.layers.edit_provenance(train["images"], split["images"])
    )
    digit = split["object_masks"][..., 0] > 0.5
    kept = split["provenance"][..., 0] > 0.5
    assert (digit & kept).sum() / digit.sum() > 0.9  # Otsu keeps the digit...
    assert kept.mean() > digit.mean()  # ...and, imperfectly, some background.


def test_edits_are_deterministic_and_validated():
    a = kpg.datasets.edited_digits(num_train=20, num_val=4, num_test=4, seed=5)
    b = kpg.datasets.edited_digits(num_train=20, num_val=4, num_test=4, seed=5)
    c = kpg.datasets.edited_digits(num_train=20, num_val=4, num_test=4, seed=6)
    for key in a["edited"]:
        np.testing.assert_array_equal(a["edited"][key], b["edited"][key])
    assert not np.array_equal(a["edited"]["images"], c["edited"]["images"])
    plain = kpg.datasets.edited_digits(
        num_train=20, num_val=4, num_test=4, seed=5, object_change=0.0, artefact_strength=0.0
    )
    digit = a["train"]["object_masks"][..., 0] > 0.99
    core_change = np.abs(plain["edited"]["images"] - a["train"]["images"]).mean(-1)[digit]
    assert core_change.mean() < np.abs(a["edited"]["images"] - a["train"]["images"]).mean(-1)[digit].mean()
    for kwargs, name in (
        ({"object_change": -0.1}, "object_change"),
        ({"artefact_strength": 0.5}, "artefact_strength"),
        ({"smoothing": -0.1}, "smoothing"),
        ({"smoothing": True}, "smoothing"),
        ({"bias": 1.5}, "bias"),
        ({"num_val": 6}, "num_val"),
    ):
        with pytest.raises(ValueError, match=name):
            kpg.datasets.edited_digits(num_train=20, num_test=4, **{"num_val": 4, **kwargs})


def test_two_edits_per_image_balance_the_backgrounds_of_real_and_edited_images_in_each_class():
    data = kpg.datasets.edited_digits(num_train=200, num_val=40, num_test=40, seed=2, edits_per_image=2)
    train, edited = data["train"], data["edited"]
    assert len(edited["labels"]) == 400
    np.testing.assert_array_equal(edited["source_index"], np.tile(np.arange(200), 2))
    # Each image is edited onto both textures it does not have.
    for i in range(200):
        pair = edited["backgrounds"][[i, 200 + i]]
        assert sorted(pair.tolist() + [train["backgrounds"][i]]) == [0, 1, 2]
    for label in (0, 1):
        counts = np.bincount(train["backgrounds"][train["labels"] == label], minlength=3)
        counts += np.bincount(edited["backgrounds"][edited["labels"] == label], minlength=3)
        assert counts[0] == counts[1]  # as many grass as brick backgrounds
    with pytest.raises(ValueError, match="edits_per_image"):
        kpg.datasets.edited_digits(num_train=20, num_val=40, num_test=40, edits_per_image=3)


def test_smoothing_blurs_only_the_new_background():
    def edits(smoothing):
        return kpg.datasets.edited_digits(
            num_train=40, num_val=4, num_test=4, seed=3, artefact_strength=0.0, smoothing=smoothing
        )["edited"]

    def roughness(images, region):
        # Mean absolute difference between horizontal neighbours, over `region`.
        step = np.abs(np.diff(images, axis=2)).mean(-1)
        return step[region[:, :, 1:]].mean()

    sharp, blurred = edits(0.0), edits(1.0)
    background = sharp["object_masks"][..., 0] < 0.01
    digit = sharp["object_masks"][..., 0] > 0.99
    assert roughness(blurred["images"], background) < 0.8 * roughness(sharp["images"], background)
    # The object is re-rendered the same way whatever the background's blur.
    np.testing.assert_allclose(
        sharp["images"][digit], blurred["images"][digit], atol=0.05
    )
