"""Every layer saves to its config and comes back the same, alone and inside a model."""

import keras
import numpy as np
import pytest
from layer_data import red_on_blue, to_numpy

import keras_provguide as kpg

LAYERS = [
    lambda: kpg.layers.Composite(scale_range=(0.3, 0.9), position_range=(0.2, 0.8), seed=1),
    lambda: kpg.layers.ProvenanceCutMix(alpha=0.5, num_classes=4, seed=2),
    lambda: kpg.layers.ProvenanceResizeMix(scale_range=(0.2, 0.6), num_classes=4, seed=3),
    lambda: kpg.layers.ProvenanceTemporalMix(alpha=0.5, num_classes=4, seed=9),
    lambda: kpg.layers.RandomFlip("horizontal", seed=4),
    lambda: kpg.layers.RandomCrop(8, 8, seed=5),
    lambda: kpg.layers.RandomTranslation(0.1, 0.2, seed=6),
    lambda: kpg.layers.RandomZoom(0.2, seed=7),
    lambda: kpg.layers.RandomRotation(0.1, fill_value=0.25, fill_mode="constant", seed=8),
]


@pytest.mark.parametrize("make", LAYERS)
def test_config_round_trip(make):
    layer = make()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer)
    assert restored.get_config() == layer.get_config()


def test_same_seed_same_output_after_reload():
    pipeline = keras.layers.Pipeline(
        [kpg.layers.RandomRotation(0.2, seed=11), kpg.layers.RandomFlip(seed=12)]
    )
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(pipeline))
    batch = red_on_blue()
    np.testing.assert_allclose(
        to_numpy(pipeline(batch))["provenance"], to_numpy(restored(batch))["provenance"], atol=1e-6
    )
