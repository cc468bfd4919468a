"""The CAM backbones of the WSOL literature, as wsolevaluation (Choe et al., CVPR 2020) defines them.

- `vgg16_gap`: VGG16's convolutions without the last max pool, then a
  1024-channel 3x3 convolution with ReLU (their `conv6`); `CAMLocalizer`
  adds the global average pooling and the classifier. 14x14 maps at 224.
- `resnet50_stride1`: ResNet-50 whose last stage keeps stride 1 (their
  `large_feature_map=False` model: only `layer4`'s stride changes), 14x14
  maps at 224.

Both take images in [0, 1] (as the package's loaders give them) and apply
the ImageNet preprocessing their `keras.applications` weights expect inside
the model, as one frozen 1x1 convolution (RGB to BGR, x 255, minus the
channel means), so input gradients and provenance stay in image space.
"""

import keras
import numpy as np

# The "caffe" preprocessing of keras.applications' VGG16 and ResNet50 weights.
_BGR_MEANS = (103.939, 116.779, 123.68)


def _caffe_preprocessing(name):
    """A frozen 1x1 convolution: RGB in [0, 1] -> BGR in [0, 255] minus the means."""
    layer = keras.layers.Conv2D(3, 1, name=name, trainable=False)
    layer.build((None, None, None, 3))
    kernel = np.zeros((1, 1, 3, 3), "float32")
    for channel in range(3):
        kernel[0, 0, channel, 2 - channel] = 255.0
    layer.set_weights([kernel, -np.asarray(_BGR_MEANS, "float32")])
    return layer


def _preprocessed(features, input_shape, name):
    """`features` behind the ImageNet preprocessing: a model from images in [0, 1]."""
    images = keras.Input(tuple(input_shape), name="images")
    return keras.Model(images, features(_caffe_preprocessing("imagenet_preprocessing")(images)), name=name)


def _check(input_shape, weights):
    if (not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3 or input_shape[-1] != 3
            or not all(isinstance(s, int) and s >= 32 for s in input_shape[:2])):
        raise ValueError(
            f"Expected `input_shape` (height, width, 3) with sides >= 32, received {input_shape!r}."
        )
    if not (weights is None or weights == "imagenet" or isinstance(weights, str)):
        raise ValueError(f"Expected `weights` None, 'imagenet' or a file path, received {weights!r}.")


def vgg16_gap(input_shape=(224, 224, 3), weights=None):
    """VGG16-GAP, wsolevaluation's VGG16 CAM backbone (conv5_3 without pool5, then conv6).

    Args:
        input_shape: `(height, width, 3)`; 224 in the WSOL protocol.
        weights: `None` (random), `"imagenet"` (Keras's VGG16 weights;
            needs the network once) or a weights file, for the VGG16 part.
            `conv6` starts at random, as in wsolevaluation.

    Returns:
        A `keras.Model` from images in [0, 1] to `(B, H/16, W/16, 1024)`
        features, for `kpg.models.CAMLocalizer(num_classes, backbone=...,
        cam_width=0)` (no extra conv: pooling follows `conv6`, as theirs).

    Example:

    ```python
    backbone = kpg.models.vgg16_gap(weights="imagenet")
    localizer = kpg.models.CAMLocalizer(200, backbone=backbone, cam_width=0)
    ```
    """
    _check(input_shape, weights)
    vgg = keras.applications.VGG16(include_top=False, weights=weights, input_shape=tuple(input_shape))
    conv5 = keras.Model(vgg.inputs, vgg.get_layer("block5_conv3").output, name="vgg16_conv5")
    conv6 = keras.layers.Conv2D(1024, 3, padding="same", activation="relu", name="conv6")
    return _preprocessed(lambda x: conv6(conv5(x)), input_shape, "vgg16_gap")


def resnet50(input_shape=(224, 224, 3), weights=None):
    """`keras.applications.ResNet50` features with its ImageNet preprocessing inside.

    The classification backbone of the group-robustness and edit papers
    (ALIA, From Fake to Real): images in [0, 1] to `(B, H/32, W/32, 2048)`,
    for `kpg.models.ImageClassifier(num_classes, backbone=...)`.

    Example:

    ```python
    features = kpg.models.resnet50(weights="imagenet")  # images in [0, 1]
    model = kpg.GuidedModel(kpg.models.ImageClassifier(2, backbone=features), guidance_weight=0.05)
    ```
    """
    _check(input_shape, weights)
    resnet = keras.applications.ResNet50(include_top=False, weights=weights, input_shape=tuple(input_shape))
    return _preprocessed(resnet, input_shape, "resnet50_features")


# The layers of keras.applications.ResNet50 that give its last stage stride 2.
_STAGE5_STRIDED = ("conv5_block1_0_conv", "conv5_block1_1_conv")


def resnet50_stride1(input_shape=(224, 224, 3), weights=None):
    """ResNet-50 with its last stage at stride 1, wsolevaluation's ResNet-50 CAM backbone.

    Built from `keras.applications.ResNet50` with the two strided layers of
    the last stage's first block set to stride 1 (both 1x1, so the weights
    carry over unchanged).

    Args:
        input_shape: `(height, width, 3)`; 224 in the WSOL protocol.
        weights: `None`, `"imagenet"` (needs the network once) or a file.

    Returns:
        A `keras.Model` from images in [0, 1] to `(B, H/16, W/16, 2048)`.

    Example:

    ```python
    backbone = kpg.models.resnet50_stride1(weights="imagenet")
    localizer = kpg.models.CAMLocalizer(200, backbone=backbone, cam_width=0)
    ```
    """
    _check(input_shape, weights)
    resnet = keras.applications.ResNet50(include_top=False, weights=weights, input_shape=tuple(input_shape))
    config = resnet.get_config()
    changed = []
    for layer in config["layers"]:
        if layer["config"].get("name") in _STAGE5_STRIDED:
            if tuple(layer["config"].get("strides", ())) != (2, 2):
                break
            layer["config"]["strides"] = [1, 1]
            changed.append(layer["config"]["name"])
    if sorted(changed) != sorted(_STAGE5_STRIDED):
        raise RuntimeError(
            "keras.applications.ResNet50 no longer has stride-2 layers "
            f"{_STAGE5_STRIDED} in its last stage (found {changed}); this backbone needs updating."
        )
    stride1 = keras.Model.from_config(config)
    stride1.set_weights(resnet.get_weights())
    return _preprocessed(stride1, input_shape, "resnet50_stride1")
