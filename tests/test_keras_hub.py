"""KerasHub image backbones: the preset's normalisation inside, guided training, `.keras` round trip."""

import os

import keras
import numpy as np
import pytest
from harness import assert_guided_fit, assert_keras_file_round_trip

import keras_provguide as kpg

# CI installs keras-hub (scripts/test-all-backends.sh): there, its absence is a failure, not a skip.
if os.environ.get("CI") == "true":
    import keras_hub
else:
    keras_hub = pytest.importorskip("keras_hub")

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _tiny_resnet():
    """A two-stage KerasHub ResNet with random weights (presets need the network)."""
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 16],
        stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], block_type="basic_block",
    )


def _converter():
    """The ImageNet normalisation of KerasHub's ResNet presets, for pixels in [0, 255]."""
    return keras_hub.layers.ResNetImageConverter(
        scale=[1 / (255 * s) for s in IMAGENET_STD], offset=[-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)],
    )


@pytest.fixture
def preset_dir(tmp_path):
    """A local KerasHub preset: what `from_preset` reads after a download."""
    keras.utils.set_random_seed(0)
    _tiny_resnet().save_to_preset(str(tmp_path / "preset"))
    _converter().save_to_preset(str(tmp_path / "preset"))
    return str(tmp_path / "preset")


def _guided_batch(size=32):
    rng = np.random.default_rng(0)
    return {"images": rng.uniform(size=(4, size, size, 3)).astype("float32"),
            "provenance": (rng.uniform(size=(4, size, size, 1)) > 0.5).astype("float32")}, np.array([0, 1, 1, 0])


def test_a_preset_directory_loads_with_its_converter_inside(preset_dir):
    features = kpg.models.keras_hub_backbone(preset_dir, input_shape=(32, 32, 3))
    assert features.output_shape == (None, 4, 4, 16)
    x, _ = _guided_batch()
    expected = (x["images"] - np.asarray(IMAGENET_MEAN)) / np.asarray(IMAGENET_STD)
    got = keras.ops.convert_to_numpy(features.get_layer("image_converter")(x["images"]))
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert not features.get_layer("image_converter").weights  # nothing to train


@pytest.mark.parametrize("task", [kpg.models.ImageClassifier, kpg.models.CAMLocalizer])
def test_keras_hub_backbone_trains_guided_and_round_trips_through_keras_files(preset_dir, task, tmp_path):
    network = task(2, backbone=kpg.models.keras_hub_backbone(preset_dir, input_shape=(32, 32, 3)))
    model = kpg.GuidedModel(network, guidance_weight=0.1)
    model.compile(keras.optimizers.SGD(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = _guided_batch()
    before = [keras.ops.convert_to_numpy(w) for w in network.trainable_weights]
    assert_guided_fit(model.fit(x, y, epochs=2, batch_size=2, verbose=0))
    after = [keras.ops.convert_to_numpy(w) for w in network.trainable_weights]
    assert any(not np.allclose(a, b) for a, b in zip(before, after))
    assert_keras_file_round_trip(model, x, tmp_path / "model.keras", rtol=0, atol=1e-4)
    if task is kpg.models.CAMLocalizer:
        assert network.class_activation_maps(x["images"]).shape == (4, 32, 32)


def test_a_backbone_instance_without_converter_sees_the_images_unchanged():
    features = kpg.models.keras_hub_backbone(_tiny_resnet(), input_shape=(32, 32, 3), name="raw")
    assert features.name == "raw" and "image_converter" not in [layer.name for layer in features.layers]


@pytest.mark.parametrize("call, error, match", [
    (lambda d: kpg.models.keras_hub_backbone(os.path.join(d, "missing")), ValueError,
     r"(?s)Could not load the KerasHub preset .*missing.*local preset directory"),
    (lambda d: kpg.models.keras_hub_backbone(keras.Sequential([keras.layers.Dense(2)])), ValueError,
     r"KerasHub preset name or directory, or a keras_hub.models.Backbone, received Sequential"),
    (lambda d: kpg.models.keras_hub_backbone(_tiny_resnet(), input_shape=(32, 32)), ValueError,
     r"`input_shape` \(height, width, 3\), received \(32, 32\)"),
    (lambda d: kpg.models.keras_hub_backbone(_tiny_resnet(), image_converter="imagenet"), ValueError,
     r"`image_converter` to be a keras_hub.layers.ImageConverter or None, received str"),
    (lambda d: kpg.models.keras_hub_backbone(
        keras_hub.models.ViTBackbone(image_shape=(32, 32, 3), patch_size=16, num_layers=1, num_heads=1,
                                     hidden_dim=8, mlp_dim=8), input_shape=(32, 32, 3)), ValueError,
     r"feature map \(B, h, w, C\) as output, received ViTBackbone"),
])
def test_bad_arguments_get_clear_errors(tmp_path, call, error, match):
    with pytest.raises(error, match=match):
        call(str(tmp_path))
