"""Provenance stays on the target pixels through every layer, eagerly and in tf.data."""

import keras
import numpy as np
import pytest
from layer_data import BLUE, RED, blend_error, foreground_batch, in_tf_data, red_on_blue, to_numpy

import keras_provguide as kpg

GEOMETRIC = {
    "flip": lambda: kpg.layers.RandomFlip("horizontal_and_vertical", seed=1),
    "crop": lambda: kpg.layers.RandomCrop(11, 9, seed=1),
    "translation": lambda: kpg.layers.RandomTranslation(0.3, 0.3, seed=1),
    "zoom": lambda: kpg.layers.RandomZoom((-0.4, 0.4), seed=1),
    "rotation": lambda: kpg.layers.RandomRotation(0.25, seed=1),
    "rotation_nearest": lambda: kpg.layers.RandomRotation(0.25, interpolation="nearest", seed=1),
}


def _run(layer, batch, where):
    return to_numpy(layer(batch) if where == "eager" else in_tf_data(layer, batch))


@pytest.mark.parametrize("where", ["eager", "tf.data"])
@pytest.mark.parametrize("name", sorted(GEOMETRIC))
def test_geometric_layers_move_provenance_with_the_pixels(name, where):
    batch = red_on_blue()
    out = _run(GEOMETRIC[name](), batch, where)
    assert out["provenance"].shape == out["images"].shape[:-1] + (1,)
    # Every output pixel is an exact blend: its red share is its provenance.
    assert blend_error(out["images"], out["provenance"]) < 1e-5
    if name != "flip":  # A flip may draw "no flip" for a sample; others must move things.
        height, width = out["provenance"].shape[1:3]
        assert not np.array_equal(out["provenance"], batch["provenance"][:, :height, :width])
    np.testing.assert_array_equal(out["labels"], batch["labels"])


@pytest.mark.parametrize("where", ["eager", "tf.data"])
def test_filled_pixels_come_from_no_source(where):
    # All-target red images rotated with a grey constant fill: the red share
    # w of a pixel is 1 - 2 * green, and provenance must equal it.
    batch = red_on_blue()
    batch["provenance"] = np.ones_like(batch["provenance"])
    batch["images"] = np.broadcast_to(RED, batch["images"].shape).copy()
    layer = kpg.layers.RandomRotation(0.3, fill_mode="constant", fill_value=0.5, seed=3)
    out = _run(layer, batch, where)
    red_share = 1.0 - 2.0 * out["images"][..., 1:2]
    np.testing.assert_allclose(out["provenance"], red_share, atol=1e-5)
    assert out["provenance"].min() == 0.0  # Some pixels were filled.


@pytest.mark.parametrize("name", ["flip", "crop", "translation", "zoom", "rotation"])
def test_boxes_follow_the_object(name):
    batch = red_on_blue(batch=3, size=24)
    boxes = _tight_boxes(batch["provenance"])
    batch["bounding_boxes"] = {"boxes": boxes[:, None, :], "labels": np.zeros((3, 1), "int32")}
    kwargs = {"fill_mode": "constant"} if name in ("translation", "zoom", "rotation") else {}
    layer = {
        "flip": lambda: kpg.layers.RandomFlip(seed=2),
        "crop": lambda: kpg.layers.RandomCrop(15, 13, seed=2),
        "translation": lambda: kpg.layers.RandomTranslation(0.2, 0.2, seed=2, **kwargs),
        "zoom": lambda: kpg.layers.RandomZoom(0.3, seed=2, **kwargs),
        "rotation": lambda: kpg.layers.RandomRotation(0.05, seed=2, **kwargs),
    }[name]()
    out = to_numpy(layer(batch))
    moved = out["bounding_boxes"]["boxes"][:, 0]
    expected = _tight_boxes(out["provenance"])
    visible = out["provenance"].max(axis=(1, 2, 3)) > 0.5
    assert visible.any()
    # Flips and crops move whole pixels; resampling blurs edges by under a pixel.
    tolerance = 0.0 if name in ("flip", "crop") else 1.0
    np.testing.assert_allclose(moved[visible], expected[visible], atol=tolerance)


def _tight_boxes(provenance):
    boxes = []
    for mask in provenance[..., 0] > 0.5:
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        boxes.append([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1] if mask.any() else [0] * 4)
    return np.asarray(boxes, "float32")


@pytest.mark.parametrize("where", ["eager", "tf.data"])
def test_composite_provenance_is_the_pasted_alpha(where):
    batch = foreground_batch()
    layer = kpg.layers.Composite(scale_range=(0.4, 1.0), seed=5)
    out = _run(layer, batch, where)
    assert set(out) == {"images", "provenance", "labels", "bounding_boxes"}
    assert blend_error(out["images"], out["provenance"]) < 1e-5
    # A 4x6 opaque rectangle of an 8x8 canvas scaled by z covers ~24 z^2 pixels.
    area = out["provenance"].sum(axis=(1, 2, 3))
    assert np.all(area > 24 * (0.4 * 3) ** 2 * 0.9) and np.all(area < 24 * 3**2 * 1.1)
    np.testing.assert_array_equal(out["bounding_boxes"]["boxes"][:, 0], _tight_boxes(out["provenance"]))
    np.testing.assert_array_equal(out["bounding_boxes"]["labels"][:, 0], batch["labels"])


def test_composite_reads_an_alpha_channel_and_is_seeded():
    batch = foreground_batch()
    rgba = dict(batch)
    rgba["foregrounds"] = np.concatenate([batch["foregrounds"], rgba.pop("foreground_masks")], -1)
    first = to_numpy(kpg.layers.Composite(seed=9)(rgba))
    second = to_numpy(kpg.layers.Composite(seed=9)(rgba))
    np.testing.assert_array_equal(first["provenance"], second["provenance"])
    assert blend_error(first["images"], first["provenance"]) < 1e-5


def test_composite_centred_at_full_scale_is_the_foreground_upscaled():
    batch = foreground_batch(size=16)  # 8x8 onto 16x16 at full scale: exactly 2x.
    out = to_numpy(kpg.layers.Composite(scale_range=(1.0, 1.0), position_range=(0.5, 0.5))(batch))
    np.testing.assert_array_equal(out["bounding_boxes"]["boxes"][0, 0], [2.0, 4.0, 14.0, 12.0])


def test_channels_first_matches_channels_last():
    batch = red_on_blue()
    last = to_numpy(kpg.layers.RandomFlip(seed=4)(batch))
    first_batch = dict(batch)
    for key in ("images", "provenance"):
        first_batch[key] = np.transpose(batch[key], (0, 3, 1, 2))
    first = to_numpy(kpg.layers.RandomFlip(seed=4, data_format="channels_first")(first_batch))
    np.testing.assert_array_equal(np.transpose(first["provenance"], (0, 2, 3, 1)), last["provenance"])
    mix_last = to_numpy(kpg.layers.ProvenanceCutMix(num_classes=4, seed=4)(batch))
    mix_first = to_numpy(
        kpg.layers.ProvenanceCutMix(num_classes=4, seed=4, data_format="channels_first")(first_batch)
    )
    np.testing.assert_array_equal(np.transpose(mix_first["provenance"], (0, 2, 3, 1)), mix_last["provenance"])


def test_layers_chain_in_a_keras_pipeline_inside_tf_data():
    batch = foreground_batch(batch=6)
    pipeline = keras.layers.Pipeline(
        [kpg.layers.Composite(seed=0), kpg.layers.RandomRotation(0.2, seed=0), kpg.layers.RandomFlip(seed=0)]
    )
    out = to_numpy(in_tf_data(pipeline, batch))
    assert blend_error(out["images"], out["provenance"]) < 1e-5
    assert out["provenance"].max() == pytest.approx(1.0)


def test_unchanged_blue_where_no_target():
    out = to_numpy(kpg.layers.RandomZoom(0.2, seed=0)(red_on_blue()))
    background = out["provenance"][..., 0] == 0
    pixels = out["images"][background]
    np.testing.assert_allclose(pixels, np.broadcast_to(BLUE, pixels.shape), atol=1e-6)
