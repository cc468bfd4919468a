"""Every layer is seeded, runs eagerly and inside `tf.data`, and saves to its config and comes back the same."""

import keras
import numpy as np
import pytest
from harness import run_layer_test
from layer_data import foreground_batch, red_on_blue, to_numpy

import keras_provguide as kpg


def _clips(batch=4, frames=3, size=8):
    rng = np.random.default_rng(0)
    return {
        "images": rng.random((batch, frames, size, size, 3)).astype("float32"),
        "labels": np.arange(batch, dtype="int32") % 4,
    }


LAYERS = {
    "Composite": (lambda: kpg.layers.Composite(scale_range=(0.3, 0.9), position_range=(0.2, 0.8), seed=1),
                  foreground_batch),
    "ProvenanceCutMix": (lambda: kpg.layers.ProvenanceCutMix(alpha=0.5, num_classes=4, seed=2), red_on_blue),
    "ProvenanceResizeMix": (
        lambda: kpg.layers.ProvenanceResizeMix(scale_range=(0.2, 0.6), num_classes=4, seed=3), red_on_blue
    ),
    "ProvenancePasteMix": (lambda: kpg.layers.ProvenancePasteMix(num_classes=4, seed=10), red_on_blue),
    "ProvenanceTemporalMix": (lambda: kpg.layers.ProvenanceTemporalMix(alpha=0.5, num_classes=4, seed=9), _clips),
    "RandomFlip": (lambda: kpg.layers.RandomFlip("horizontal", seed=4), red_on_blue),
    "RandomCrop": (lambda: kpg.layers.RandomCrop(8, 8, seed=5), red_on_blue),
    "RandomTranslation": (lambda: kpg.layers.RandomTranslation(0.1, 0.2, seed=6), red_on_blue),
    "RandomZoom": (lambda: kpg.layers.RandomZoom(0.2, seed=7), red_on_blue),
    "RandomRotation": (
        lambda: kpg.layers.RandomRotation(0.1, fill_value=0.25, fill_mode="constant", seed=8), red_on_blue
    ),
}


def _provenance_is_a_share(output):
    assert np.all(np.isfinite(output["images"]))
    provenance = output["provenance"]  # Per pixel, or per frame for clips.
    assert np.broadcast_shapes(provenance.shape[:-1], output["images"].shape[:-1]) == output["images"].shape[:-1]
    assert provenance.min() >= -1e-6 and provenance.max() <= 1 + 1e-6


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_is_seeded_runs_in_tf_data_and_round_trips_its_config(name):
    make, data = LAYERS[name]
    run_layer_test(make, data(), check=_provenance_is_a_share)


def test_same_seed_same_output_after_reload():
    pipeline = keras.layers.Pipeline(
        [kpg.layers.RandomRotation(0.2, seed=11), kpg.layers.RandomFlip(seed=12)]
    )
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(pipeline))
    batch = red_on_blue()
    np.testing.assert_allclose(
        to_numpy(pipeline(batch))["provenance"], to_numpy(restored(batch))["provenance"], atol=1e-6
    )
