"""Geometric augmentation that moves provenance exactly with the images.

Each layer here is the Keras layer of the same name with one change: a
`"provenance"` entry of the input dict is appended to the images as extra
channels, so one call of the Keras transform moves both with the same random
draw and the same interpolation, and is split off again afterwards. This is
exact where Keras's own `segmentation_masks` route is not: provenance is a
soft share, so it must be interpolated like the pixels it describes (a
bilinear image pixel that is 30% object has provenance 0.3), and a single
transform call cannot be hit by a transform that changes between calls (as
`RandomRotation` does on PyTorch in Keras 3.15, editing its rotation matrix in
place). Two more Keras 3.15 defects are patched here: `RandomCrop` moves boxes
by the wrong offsets, and `RandomFlip` drops out of the TensorFlow backend
after moving boxes inside `tf.data`.

Pixels the transform fills from outside the image come from no source:
their provenance is 0 whatever the layer's `fill_value`.
"""

import keras

from keras_provguide.keys import IMAGES, PROVENANCE


class ProvenanceAligned:
    """Mixin for a Keras image preprocessing layer; see the module docstring.

    Boxes default to the `"xyxy"` format that `Composite` writes.
    """

    def __init__(self, *args, bounding_box_format="xyxy", **kwargs):
        super().__init__(*args, bounding_box_format=bounding_box_format, **kwargs)

    def call(self, data, training=True):
        if not isinstance(data, dict) or PROVENANCE not in data:
            return super().call(dict(data) if isinstance(data, dict) else data, training=training)
        data = dict(data)
        ops = self.backend
        images = ops.cast(ops.convert_to_tensor(data[IMAGES]), self.compute_dtype)
        provenance = ops.cast(ops.convert_to_tensor(data.pop(PROVENANCE)), self.compute_dtype)
        channel_axis = -1 if self.data_format == "channels_last" else -3
        spatial = (-3, -2) if self.data_format == "channels_last" else (-2, -1)
        _check_spatial_match(images.shape, provenance.shape, spatial)
        # Filled pixels take `fill_value` in every channel; shifting the
        # provenance channels by it before and after makes their fill 0
        # (interpolation weights sum to 1).
        fill = float(getattr(self, "fill_value", 0.0) or 0.0)
        if getattr(self, "fill_mode", "constant") != "constant":
            fill = 0.0
        num_channels = images.shape[channel_axis]
        data[IMAGES] = ops.numpy.concatenate([images, provenance + fill], axis=channel_axis)
        data = super().call(data, training=training)
        merged = data[IMAGES]
        if channel_axis == -1:
            data[IMAGES], shifted = merged[..., :num_channels], merged[..., num_channels:]
        else:
            data[IMAGES] = merged[..., :num_channels, :, :]
            shifted = merged[..., num_channels:, :, :]
        data[PROVENANCE] = ops.numpy.clip(shifted - fill, 0.0, 1.0)
        return data

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        # Keras 3.15's RandomFlip resets its backend at the end of this method,
        # so inside tf.data the rest of the call (labels) would run on the
        # global backend and fail on graph tensors; keep the graph backend.
        active = self.backend.name
        boxes = super().transform_bounding_boxes(bounding_boxes, transformation, training=training)
        if active == "tensorflow" and self.backend.name != active:
            self.backend.set_backend(active)
        return boxes


def _check_spatial_match(images_shape, provenance_shape, spatial):
    ok = len(images_shape) == len(provenance_shape) and all(
        images_shape[a] == provenance_shape[a] for a in spatial
    )
    if not ok:
        raise ValueError(
            "Expected 'provenance' with the images' rank and height and width "
            f"(images {tuple(images_shape)}), received {tuple(provenance_shape)}."
        )


# What each layer needs besides its seed, for its docstring's example.
_EXAMPLE_ARGUMENTS = {
    "RandomFlip": '"horizontal", ', "RandomCrop": "24, 24, ", "RandomTranslation": "0.1, 0.1, ",
    "RandomZoom": "0.2, ", "RandomRotation": "0.1, ",
}


def _aligned(keras_layer):
    name = keras_layer.__name__.lstrip("_").replace("CropWithBoxes", "RandomCrop")
    layer = type(
        name,
        (ProvenanceAligned, keras_layer),
        {
            "__module__": __name__,
            "__doc__": (
                f"`keras.layers.{name}` that also moves `\"provenance\"` with the "
                "images (same draw, same interpolation; filled pixels get "
                "provenance 0).\n\n"
                f"Takes the arguments of `keras.layers.{name}`. Call it on a dict "
                "with `\"images\"` and `\"provenance\"` (and optionally "
                "`\"bounding_boxes\"` in `bounding_box_format`, default "
                "`\"xyxy\"`, and `\"labels\"`; other keys pass through).\n\n"
                "Example:\n\n"
                "```python\n"
                f"aug = kpg.layers.{name}({_EXAMPLE_ARGUMENTS[name]}seed=0)\n"
                "batch = aug({\"images\": images, \"provenance\": provenance})\n"
                "```\n"
            ),
        },
    )
    return keras.saving.register_keras_serializable(package="keras_provguide")(layer)


class _CropWithBoxes(keras.layers.RandomCrop):
    """`keras.layers.RandomCrop` whose boxes follow the crop.

    Keras 3.15 shifts x by the crop's row offset and y by its column offset,
    and does not clip boxes to the crop. Here the transformation also carries
    the input size, so boxes are shifted, scaled (when Keras resizes a crop
    that did not fit) and clipped exactly as the pixels move.
    """

    def get_random_transformation(self, data, training=True, seed=None):
        start = super().get_random_transformation(data, training=training, seed=seed)
        images = data[IMAGES] if isinstance(data, dict) else data
        shape = self.backend.shape(images)
        return tuple(start) + (shape[self.height_axis], shape[self.width_axis])

    def transform_images(self, images, transformation, training=True):
        return super().transform_images(images, transformation[:2], training=training)

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        if not training:
            return bounding_boxes
        ops = self.backend
        h_start, w_start, in_height, in_width = transformation
        boxes = ops.convert_to_tensor(bounding_boxes["boxes"])
        boxes = keras.utils.bounding_boxes.convert_format(
            boxes, source=self.bounding_box_format, target="xyxy",
            height=in_height, width=in_width,
        )
        dtype = boxes.dtype
        h_start, w_start = ops.cast(h_start, dtype), ops.cast(w_start, dtype)
        # Rows [h_start, h_start + height) of the input, fewer if it is
        # smaller; Keras resizes what it took to (height, width).
        rows = ops.numpy.minimum(float(self.height), ops.cast(in_height, dtype) - h_start)
        cols = ops.numpy.minimum(float(self.width), ops.cast(in_width, dtype) - w_start)
        x = (boxes[..., 0::2] - w_start) * (self.width / cols)
        y = (boxes[..., 1::2] - h_start) * (self.height / rows)
        x = ops.numpy.clip(x, 0.0, float(self.width))
        y = ops.numpy.clip(y, 0.0, float(self.height))
        boxes = ops.numpy.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], axis=-1)
        boxes = keras.utils.bounding_boxes.convert_format(
            boxes, source="xyxy", target=self.bounding_box_format,
            height=self.height, width=self.width,
        )
        return {"boxes": boxes, "labels": bounding_boxes["labels"]}


RandomFlip = _aligned(keras.layers.RandomFlip)
RandomCrop = _aligned(_CropWithBoxes)
RandomTranslation = _aligned(keras.layers.RandomTranslation)
RandomZoom = _aligned(keras.layers.RandomZoom)
RandomRotation = _aligned(keras.layers.RandomRotation)
