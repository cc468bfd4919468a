"""Task models: CAMs point where the class evidence is, boxes follow, and the models train and save."""

import keras
import numpy as np
import pytest
from conftest import sparse_ce
from harness import assert_guided_fit, assert_keras_file_round_trip

import keras_provguide as kpg


def _two_region_localizer():
    """Identity features (8x8x2); class k reads channel k. No extra conv."""
    backbone = keras.Sequential([keras.Input((8, 8, 2)), keras.layers.Identity()], name="identity")
    localizer = kpg.models.CAMLocalizer(2, backbone=backbone, cam_width=0)
    localizer.get_layer("logits").set_weights([np.eye(2, dtype="float32"), np.zeros(2, "float32")])
    return localizer


def _two_region_image():
    image = np.zeros((1, 8, 8, 2), "float32")
    image[0, 1:3, 1:4, 0] = 1.0  # class-0 evidence: x 1..3, y 1..2
    image[0, 4:8, 3:7, 1] = 1.0  # class-1 evidence, larger: x 3..6, y 4..7
    return image


def test_cams_and_boxes_follow_the_class_evidence():
    localizer, image = _two_region_localizer(), _two_region_image()
    maps = localizer.class_activation_maps(image, class_ids=[0])
    assert maps.shape == (1, 8, 8) and maps.min() == 0.0 and maps.max() == pytest.approx(1.0)
    np.testing.assert_array_equal(localizer.predict_boxes(image, 0.5, class_ids=[0]), [[1, 1, 4, 3]])
    np.testing.assert_array_equal(localizer.predict_boxes(image, 0.5, class_ids=[1]), [[3, 4, 7, 8]])
    # Without class ids, the predicted class (1: more pooled evidence) is used.
    np.testing.assert_array_equal(localizer.predict_boxes(image, 0.5), [[3, 4, 7, 8]])
    with pytest.raises(ValueError, match="class_ids"):
        localizer.class_activation_maps(image, class_ids=[2])


def test_cams_are_upsampled_to_the_input_resolution():
    localizer = kpg.models.CAMLocalizer(3, input_shape=(32, 32, 3), cam_width=8)
    images = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    maps = localizer.class_activation_maps(images)
    assert maps.shape == (2, 32, 32)
    np.testing.assert_allclose(maps.reshape(2, -1).min(1), 0.0)
    np.testing.assert_allclose(maps.reshape(2, -1).max(1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("task", ["classifier", "localizer"])
def test_models_train_as_guided_backbones_and_reload(tmp_path, task):
    if task == "classifier":
        network = kpg.models.ImageClassifier(4, input_shape=(16, 16, 3))
    else:
        network = kpg.models.CAMLocalizer(4, input_shape=(16, 16, 3), cam_width=8)
    model = kpg.GuidedModel(network, guidance_weight=0.1)
    model.compile("adam", sparse_ce())
    rng = np.random.default_rng(0)
    x = {"images": rng.random((8, 16, 16, 3)).astype("float32"),
         "provenance": (rng.random((8, 16, 16, 1)) > 0.5).astype("float32")}
    assert_guided_fit(model.fit(x, np.arange(8) % 4, epochs=1, verbose=0))
    loaded = assert_keras_file_round_trip(model, x["images"], tmp_path / "model.keras")
    assert type(loaded.classifier) is type(network)


def test_classifier_takes_a_keras_applications_backbone():
    backbone = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None
    )
    classifier = kpg.models.ImageClassifier(5, backbone=backbone)
    assert classifier.output_shape == (None, 5)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="num_classes"):
        kpg.models.ImageClassifier(1)
    flat = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match=r"feature map \(B, h, w, C\)"):
        kpg.models.CAMLocalizer(3, backbone=flat)
    with pytest.raises(ValueError, match="widths"):
        kpg.models.small_resnet(widths=())
    for momentum in (1.0, -0.1, "0.9", True):
        with pytest.raises(ValueError, match=r"`batchnorm_momentum` to be a float in \[0, 1\)"):
            kpg.models.small_resnet(batchnorm_momentum=momentum)


def test_small_resnet_sets_every_batchnorm_momentum():
    norms = [
        layer for layer in kpg.models.small_resnet(batchnorm_momentum=0.9).layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert len(norms) == 9 and all(layer.momentum == 0.9 for layer in norms)
    default = kpg.models.small_resnet().layers
    assert all(
        layer.momentum == 0.99 for layer in default
        if isinstance(layer, keras.layers.BatchNormalization)
    )
