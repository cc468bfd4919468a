"""`CAMLocalizer`: class activation maps from a classifier trained on image labels only."""

import cv2
import keras
import numpy as np

from keras_provguide.localization import wsol
from keras_provguide.models.image_classifier import feature_backbone, from_task_config


@keras.saving.register_keras_serializable(package="keras_provguide")
class CAMLocalizer(keras.Model):
    """Backbone -> conv -> global average pooling -> dense, as in CAM (Zhou et al., 2016).

    The class activation map of class `k` is `sum_c W[c, k] * F[..., c]`,
    with `F` the feature map before pooling and `W` the dense kernel. Maps
    are upsampled to the input resolution (bicubic, as the WSOL reference
    protocol does) and min-max normalised to [0, 1].

    Args:
        num_classes: int >= 2.
        backbone: a Keras model mapping images to a feature map; `None`
            builds `small_resnet(input_shape)`.
        input_shape: the image shape of the built-in backbone.
        cam_width: filters of the extra 3x3 conv + ReLU before pooling (0
            leaves it out).
        name: the model name.

    Example:

    ```python
    localizer = kpg.models.CAMLocalizer(num_classes=10, input_shape=(64, 64, 3))
    model = kpg.GuidedModel(localizer)   # train on image labels
    maps = localizer.class_activation_maps(images)        # (B, 64, 64) in [0, 1]
    boxes = localizer.predict_boxes(images, threshold=0.2)  # (B, 4) x0, y0, x1, y1
    ```
    """

    def __init__(self, num_classes, backbone=None, input_shape=(64, 64, 3), cam_width=64, name="cam_localizer",
                 **kwargs):
        backbone = feature_backbone(num_classes, backbone, input_shape)
        inputs = keras.Input(backbone.input_shape[1:])
        features = backbone(inputs)
        if cam_width:
            features = keras.layers.Conv2D(
                cam_width, 3, padding="same", activation="relu", name="cam_conv"
            )(features)
        pooled = keras.layers.GlobalAveragePooling2D(name="pool")(features)
        outputs = keras.layers.Dense(num_classes, name="logits")(pooled)
        super().__init__(inputs, outputs, name=name, **kwargs)
        self.backbone = backbone
        self.num_classes = num_classes
        self.cam_width = cam_width

    def class_activation_maps(self, images, class_ids=None, batch_size=64):
        """Normalised CAMs `(B, H, W)` in [0, 1], NumPy.

        Args:
            images: `(B, H, W, C)`.
            class_ids: int `(B,)`, the class of each map; `None` takes the
                predicted class.
            batch_size: batch size of the forward pass.
        """
        images = check_images(images, self.input_shape, "images")
        maps = class_maps(self, images, class_ids, batch_size)
        return wsol.normalize_score_maps(maps).astype("float32")

    def predict_boxes(self, images, threshold=0.2, class_ids=None):
        """Boxes `(B, 4)`, `(x0, y0, x1, y1)` pixel corners with exclusive ends.

        Each is the bounding rectangle of the largest region of the CAM above
        `threshold` (the CAM paper used 0.2); `(0, 0, 0, 0)` where no region
        is found.
        """
        maps = self.class_activation_maps(images, class_ids)
        return np.asarray([largest_region_box(m, threshold) for m in maps], "float32")

    def get_config(self):
        return {
            "name": self.name,
            "num_classes": self.num_classes,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "cam_width": self.cam_width,
        }

    @classmethod
    def from_config(cls, config):
        return from_task_config(cls, config)


def check_images(images, input_shape, name):
    """`images` as float32 NumPy, checked against the model's `input_shape`."""
    images = np.asarray(images, "float32")
    expected = tuple(input_shape[1:])
    if images.ndim != len(expected) + 1 or any(
        want is not None and got != want for got, want in zip(images.shape[1:], expected)
    ):
        raise ValueError(
            f"Expected `{name}` of shape (batch, {', '.join(map(str, expected))}), "
            f"received {images.shape}."
        )
    return images


def class_maps(model, inputs, class_ids, batch_size):
    """Unnormalised CAMs at input resolution, `inputs.shape[:-1]`, float64.

    `model` ends `... -> features -> pool -> logits`; the map of class `k`
    is `sum_c W[c, k] * features[..., c]`, upsampled bicubically over the
    last two spatial axes. `class_ids=None` takes the predicted class.
    """
    feature_model = keras.Model(model.inputs, model.get_layer("pool").input)
    features = np.asarray(keras.ops.convert_to_numpy(
        feature_model.predict(inputs, batch_size=batch_size, verbose=0)
    ), "float64")
    kernel, bias = (
        np.asarray(keras.ops.convert_to_numpy(w), "float64")
        for w in model.get_layer("logits").weights
    )
    spatial = tuple(range(1, features.ndim - 1))
    if class_ids is None:
        class_ids = np.argmax(features.mean(axis=spatial) @ kernel + bias, axis=1)
    class_ids = np.asarray(class_ids)
    if (
        class_ids.shape != (len(inputs),)
        or not np.issubdtype(class_ids.dtype, np.integer)
        or class_ids.min() < 0
        or class_ids.max() >= model.num_classes
    ):
        raise ValueError(
            f"Expected `class_ids` of shape ({len(inputs)},), integers in "
            f"[0, {model.num_classes - 1}], received {class_ids.tolist()}."
        )
    maps = np.einsum("b...c,cb->b...", features, kernel[:, class_ids])
    height, width = inputs.shape[-3:-1]
    flat = maps.reshape((-1,) + maps.shape[-2:])
    resized = np.stack([cv2.resize(m, (width, height), interpolation=cv2.INTER_CUBIC) for m in flat])
    return resized.reshape(maps.shape[:-2] + (height, width))


def largest_region_box(score_map, threshold):
    """The exclusive box `(x0, y0, x1, y1)` of the map's largest region above `threshold`.

    Binarised as the WSOL reference does (see `wsol.region_rectangles`);
    `(0, 0, 0, 0)` where no region is found.
    """
    rects = wsol.region_rectangles(score_map, threshold, multi_contour=False)
    x, y, w, h = rects[0] if rects else (0, 0, 0, 0)
    return [x, y, x + w, y + h]
