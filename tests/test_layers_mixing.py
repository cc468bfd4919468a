"""Two-source mixing: provenance, source labels and soft labels agree."""

import numpy as np
import pytest
from layer_data import in_tf_data, to_numpy, unique_colour_batch

import keras_provguide as kpg

MIXERS = {
    "cutmix": lambda **kw: kpg.layers.ProvenanceCutMix(num_classes=3, **kw),
    "resizemix": lambda **kw: kpg.layers.ProvenanceResizeMix(num_classes=3, **kw),
}


@pytest.mark.parametrize("where", ["eager", "tf.data"])
@pytest.mark.parametrize("name", sorted(MIXERS))
def test_pixels_come_from_the_sources_the_provenance_names(name, where):
    batch, colours = unique_colour_batch(batch=8)
    layer = MIXERS[name](seed=7)
    out = to_numpy(layer(batch) if where == "eager" else in_tf_data(layer, batch))
    provenance = out["provenance"][..., 0]
    assert set(np.unique(provenance)) <= {0.0, 1.0}
    for i in range(8):
        own = provenance[i] == 1.0
        np.testing.assert_allclose(out["images"][i][own], np.broadcast_to(colours[i], (own.sum(), 3)), atol=1e-6)
        # The other pixels show exactly one partner, never the sample itself.
        partner_pixels = out["images"][i][~own]
        if partner_pixels.size:
            partner = int(np.argmin(np.abs(colours - partner_pixels[0]).sum(1)))
            assert partner != i
            expected = np.broadcast_to(colours[partner], partner_pixels.shape)
            np.testing.assert_allclose(partner_pixels, expected, atol=1e-5)
            assert out["source_labels"][i, 1] == batch["labels"][partner]
        assert out["source_labels"][i, 0] == batch["labels"][i]


@pytest.mark.parametrize("name", sorted(MIXERS))
def test_label_shares_equal_the_provenance_mean(name):
    batch, _ = unique_colour_batch(batch=16)
    out = to_numpy(MIXERS[name](seed=3)(batch))
    share = out["provenance"].mean(axis=(1, 2, 3))
    own, other = out["source_labels"][:, 0], out["source_labels"][:, 1]
    rows = np.arange(16)
    expected = np.zeros((16, 3), "float32")
    np.add.at(expected, (rows, own), share)
    np.add.at(expected, (rows, other), 1.0 - share)
    np.testing.assert_allclose(out["labels"], expected, atol=1e-6)
    np.testing.assert_allclose(out["labels"].sum(1), 1.0, atol=1e-6)
    assert 0.0 < share.mean() < 1.0


def test_cutmix_box_area_follows_beta():
    # Beta(1, 1): the kept share is uniform on [0, 1] before clipping, so its
    # mean over many samples is near 0.5 and clipping only raises it.
    batch, _ = unique_colour_batch(batch=256, size=32)
    share = to_numpy(kpg.layers.ProvenanceCutMix(alpha=1.0, num_classes=3, seed=0)(batch))["provenance"].mean()
    assert 0.5 < share < 0.75


def test_resizemix_partner_is_whole_and_within_scale_range():
    batch, _ = unique_colour_batch(batch=32, size=20)
    out = to_numpy(kpg.layers.ProvenanceResizeMix(scale_range=(0.25, 0.5), num_classes=3, seed=1)(batch))
    pasted = out["provenance"][..., 0] == 0.0
    for region in pasted:
        rows, cols = np.flatnonzero(region.any(1)), np.flatnonzero(region.any(0))
        assert region.sum() == len(rows) * len(cols)  # A single rectangle.
        assert 5 <= len(rows) <= 10 and 5 <= len(cols) <= 10


def test_one_hot_labels_and_pass_through_keys():
    batch, _ = unique_colour_batch(batch=6)
    batch["labels"] = np.eye(3, dtype="float32")[batch["labels"]]
    batch["groups"] = np.arange(6, dtype="int32")
    out = to_numpy(kpg.layers.ProvenanceCutMix(seed=0)(batch))
    assert out["labels"].shape == (6, 3)
    np.testing.assert_array_equal(out["groups"], np.arange(6))


def test_inference_leaves_the_batch_unmixed():
    batch, _ = unique_colour_batch(batch=6)
    out = to_numpy(kpg.layers.ProvenanceCutMix(num_classes=3, seed=0)(batch, training=False))
    np.testing.assert_array_equal(out["images"], batch["images"])
    assert "source_labels" not in out


def test_mixed_batch_trains_a_guided_model_with_the_two_source_penalty():
    import keras

    batch, _ = unique_colour_batch(batch=8, size=8, num_classes=3)
    out = to_numpy(kpg.layers.ProvenanceCutMix(num_classes=3, seed=0)(batch))
    backbone = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    model = kpg.GuidedModel(backbone, guidance_weight=0.5)
    model.compile("sgd", keras.losses.CategoricalCrossentropy(from_logits=True))
    logs = model.fit(*kpg.data.split_labels(out), epochs=1, verbose=0).history
    assert logs["guidance_penalty"][0] > 0.0


@pytest.mark.parametrize(
    "make, data, match",
    [
        (lambda: kpg.layers.ProvenanceCutMix(),
         {"images": np.zeros((2, 4, 4, 3), "float32"), "labels": np.zeros(2, "int32")}, "num_classes"),
        (lambda: kpg.layers.ProvenanceCutMix(num_classes=2),
         {"images": np.zeros((2, 4, 4, 3), "float32")}, "missing \\['labels'\\]"),
        (lambda: kpg.layers.ProvenanceCutMix(num_classes=2),
         {"images": np.zeros((4, 4, 3), "float32"), "labels": np.zeros(2, "int32")}, "rank 4"),
        (lambda: kpg.layers.ProvenanceCutMix(num_classes=2), np.zeros((2, 4, 4, 3), "float32"), "expects a dict"),
    ],
)
def test_bad_inputs_name_what_was_expected(make, data, match):
    with pytest.raises(ValueError, match=match):
        make()(data)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: kpg.layers.ProvenanceCutMix(alpha=0), "alpha"),
        (lambda: kpg.layers.ProvenanceResizeMix(scale_range=(0.0, 0.5)), "scale_range"),
        (lambda: kpg.layers.ProvenanceResizeMix(scale_range=(0.6, 0.5)), "scale_range"),
        (lambda: kpg.layers.ProvenanceCutMix(num_classes=1), "num_classes"),
        (lambda: kpg.layers.Composite(scale_range=(0.5, 1.5)), "scale_range"),
        (lambda: kpg.layers.Composite(data_format="nhwc"), "data_format"),
    ],
)
def test_bad_arguments_are_rejected(make, match):
    with pytest.raises(ValueError, match=match):
        make()
