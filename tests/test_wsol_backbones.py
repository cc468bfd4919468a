"""The WSOL CAM backbones: wsolevaluation's layouts, Keras's preprocessing, guided and saved."""

import keras
import numpy as np
import pytest
from harness import assert_guided_fit, assert_keras_file_round_trip

import keras_provguide as kpg


def test_vgg16_gap_drops_pool5_and_adds_conv6():
    backbone = kpg.models.vgg16_gap((64, 64, 3))
    assert backbone.output_shape == (None, 4, 4, 1024)  # /16: pool5 removed
    conv5 = backbone.get_layer("vgg16_conv5")
    assert conv5.layers[-1].name == "block5_conv3"
    assert backbone.get_layer("conv6").kernel_size == (3, 3)


def test_preprocessing_is_keras_applications_caffe_mode():
    backbone = kpg.models.vgg16_gap((32, 32, 3))
    images = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
    layer = backbone.get_layer("imagenet_preprocessing")
    assert not layer.trainable
    expected = keras.applications.vgg16.preprocess_input(images * 255.0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(images)), expected, atol=1e-3)


def test_resnet50_stride1_keeps_the_last_stage_at_stride_1():
    backbone = kpg.models.resnet50_stride1((64, 64, 3))
    assert backbone.output_shape == (None, 4, 4, 2048)  # keras.applications' ResNet50 gives 2x2
    inner = backbone.get_layer("resnet50")
    for name in ("conv5_block1_0_conv", "conv5_block1_1_conv"):
        assert inner.get_layer(name).strides == (1, 1)
    assert inner.get_layer("conv4_block1_1_conv").strides == (2, 2)


@pytest.mark.parametrize("build", [kpg.models.vgg16_gap, kpg.models.resnet50_stride1])
def test_wsol_backbone_trains_guided_in_a_cam_localizer_and_reloads(tmp_path, build):
    localizer = kpg.models.CAMLocalizer(3, backbone=build((32, 32, 3)))
    model = kpg.GuidedModel(localizer, guidance_weight=0.1)
    # Clipped: random ResNet-50 weights on 0-255 caffe inputs give huge first gradients.
    # One step does not repay tracing a second-order ResNet-50 step in TensorFlow
    # (34 s against 12 s eagerly); JAX's eager op-by-op dispatch is slower than its compile.
    model.compile(keras.optimizers.SGD(1e-3, clipnorm=1.0),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  run_eagerly=keras.backend.backend() != "jax")
    rng = np.random.default_rng(0)
    x = {"images": rng.uniform(size=(2, 32, 32, 3)).astype("float32"),
         "provenance": (rng.uniform(size=(2, 32, 32, 1)) > 0.5).astype("float32")}
    assert_guided_fit(model.fit(x, np.array([0, 2]), epochs=1, batch_size=2, verbose=0))
    maps = localizer.class_activation_maps(x["images"])
    assert maps.shape == (2, 32, 32)
    assert_keras_file_round_trip(localizer, x["images"], tmp_path / "localizer.keras", rtol=0, atol=1e-4)


@pytest.mark.parametrize("build", [kpg.models.vgg16_gap, kpg.models.resnet50_stride1])
def test_bad_arguments_get_clear_errors(build):
    with pytest.raises(ValueError, match="input_shape"):
        build((16, 16, 3))
    with pytest.raises(ValueError, match="weights"):
        build((32, 32, 3), weights=3)


def test_resnet50_is_the_plain_classification_backbone():
    backbone = kpg.models.resnet50((64, 64, 3))
    assert backbone.output_shape == (None, 2, 2, 2048)  # stride 32: the last stage stays strided
    classifier = kpg.models.ImageClassifier(2, backbone=backbone)
    assert classifier.output_shape == (None, 2)
