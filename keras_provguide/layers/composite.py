"""`Composite`: paste a foreground object onto a background, with provenance."""

import keras

from keras_provguide.keys import BOUNDING_BOXES, IMAGES, LABELS, PROVENANCE
from keras_provguide.layers import base, resample

FOREGROUNDS = "foregrounds"
FOREGROUND_MASKS = "foreground_masks"


@keras.saving.register_keras_serializable(package="keras_provguide")
class Composite(base.ProvenanceLayer):
    """Pastes segmented objects onto backgrounds at a random scale and place.

    The copy-paste recipe of synthetic sets such as Waterbirds: each
    foreground is scaled (keeping its aspect ratio) so that it spans a random
    fraction `scale` of the background, placed at a random position fully
    inside it, and alpha-blended. Provenance is the pasted alpha: 1 on pixels
    of the labelled object, 0 on the background, fractional on resampled
    edges, so that every output pixel is exactly
    `provenance * object + (1 - provenance) * background`.

    Args:
        scale_range: `(min, max)` in `(0, 1]`: the pasted object's size as a
            fraction of the largest size that fits the background.
        position_range: `(min, max)` in `[0, 1]`: where the object sits in
            the free space around it, per axis (0: top/left edge, 1:
            bottom/right edge). `(0.5, 0.5)` centres it.
        seed: int or `None`.
        data_format: `"channels_last"` or `"channels_first"`.

    Call arguments:
        data: a dict with `"images"` (the backgrounds, `(B, H, W, C)`),
            `"foregrounds"` `(B, h, w, C)` or `(B, h, w, C + 1)` with an
            alpha channel last, and `"foreground_masks"` `(B, h, w, 1)` in
            [0, 1] unless the foregrounds carry alpha. Other keys (`"labels"`,
            `"groups"`, ...) pass through.

    Returns:
        The dict with `"images"` the composites, `"provenance"`
        `(B, H, W, 1)`, and `"bounding_boxes"`, a Keras bounding-box dict
        `{"boxes": (B, 1, 4), "labels": (B, 1)}` in `"xyxy"` pixel-corner
        coordinates around the provenance above 0.5 (`"labels"` are the class
        ids when the input has 1-D `"labels"`, else 0). The foreground keys are
        dropped.

    Example:

    ```python
    composite = kpg.layers.Composite(scale_range=(0.4, 0.8), seed=0)
    batch = composite({
        "images": backgrounds,          # (8, 64, 64, 3)
        "foregrounds": objects,         # (8, 32, 32, 3)
        "foreground_masks": masks,      # (8, 32, 32, 1)
        "labels": labels,               # (8,)
    })
    batch["provenance"].shape           # (8, 64, 64, 1)
    ```
    """

    required_keys = (IMAGES, FOREGROUNDS)
    spatial_keys = (IMAGES, PROVENANCE, FOREGROUNDS, FOREGROUND_MASKS)

    def __init__(
        self, scale_range=(0.5, 1.0), position_range=(0.0, 1.0), seed=None,
        data_format=None, **kwargs,
    ):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.scale_range = base.check_range(scale_range, "scale_range", 0.0, 1.0, low_open=True)
        self.position_range = base.check_range(position_range, "position_range", 0.0, 1.0)

    def call(self, data, training=True):
        # Compositing makes the sample, so it runs in training and inference.
        return super().call(data, training=True)

    def transform(self, data, seed):
        ops = self.backend
        backgrounds = self._float(data[IMAGES])
        foregrounds, alpha = self._split_alpha(data)
        batch = ops.shape(backgrounds)[0]
        draws = [self._uniform(batch, 0.0, 1.0, seed) for _ in range(3)]
        images, provenance, boxes = composite_images(
            ops, backgrounds, foregrounds, alpha, draws, self.scale_range, self.position_range
        )
        data.pop(FOREGROUNDS)
        data.pop(FOREGROUND_MASKS, None)
        data[IMAGES] = images
        data[PROVENANCE] = provenance
        data[BOUNDING_BOXES] = {
            "boxes": boxes[:, None, :],
            "labels": self._box_labels(data, batch),
        }
        return data

    def _split_alpha(self, data):
        foregrounds = self._float(data[FOREGROUNDS])
        background_channels = data[IMAGES].shape[-1]
        fg_channels = foregrounds.shape[-1]
        if FOREGROUND_MASKS in data:
            alpha = self._float(data[FOREGROUND_MASKS])
            expected = tuple(foregrounds.shape[:-1]) + (1,)
            if tuple(alpha.shape) != expected:
                raise ValueError(
                    f"Expected 'foreground_masks' of shape {expected} (one alpha "
                    f"channel per foreground), received {tuple(alpha.shape)}."
                )
        elif fg_channels == background_channels + 1:
            foregrounds, alpha = foregrounds[..., :-1], foregrounds[..., -1:]
        else:
            raise ValueError(
                "Composite needs an alpha: pass 'foreground_masks' (B, h, w, 1) or "
                f"foregrounds with {background_channels} + 1 channels, received "
                f"foregrounds of shape {tuple(foregrounds.shape)} and no masks."
            )
        if foregrounds.shape[-1] != background_channels:
            raise ValueError(
                f"Expected 'foregrounds' with {background_channels} channels like the "
                f"backgrounds, received shape {tuple(foregrounds.shape)}."
            )
        return foregrounds, alpha

    def _box_labels(self, data, batch):
        ops = self.backend
        labels = data.get(LABELS)
        if labels is not None and len(labels.shape) == 1:
            return ops.cast(ops.convert_to_tensor(labels), "int32")[:, None]
        return ops.numpy.zeros((batch, 1), dtype="int32")

    def get_config(self):
        config = super().get_config()
        config.update(
            {"scale_range": self.scale_range, "position_range": self.position_range}
        )
        return config


def composite_images(ops, backgrounds, foregrounds, alpha, draws, scale_range, position_range):
    """Alpha-blends foregrounds onto backgrounds; the maths of `Composite`.

    `draws` are three `(B,)` uniforms in [0, 1) (scale, vertical and
    horizontal position), so callers choose the random source: the layer
    uses its seed generator, the dataset builders NumPy. Returns
    `(images, provenance, boxes)` with `boxes` `(B, 4)` `(x0, y0, x1, y1)`.
    """
    dtype = backgrounds.dtype
    shape = ops.shape(backgrounds)
    height, width = shape[1], shape[2]
    height_f, width_f = ops.cast(height, dtype), ops.cast(width, dtype)
    fg_height = ops.cast(ops.shape(foregrounds)[1], dtype)
    fg_width = ops.cast(ops.shape(foregrounds)[2], dtype)
    fit = ops.numpy.minimum(height_f / fg_height, width_f / fg_width)
    low, high = scale_range
    zoom = (low + (high - low) * draws[0]) * fit
    box_height, box_width = zoom * fg_height, zoom * fg_width
    low, high = position_range
    top = (low + (high - low) * draws[1]) * (height_f - box_height)
    left = (low + (high - low) * draws[2]) * (width_f - box_width)
    boxes = ops.numpy.stack([left, top, left + box_width, top + box_height], axis=1)
    # Warping `alpha * foreground` and `alpha` together keeps every output
    # pixel an exact blend, resampled edges included.
    warped = resample.resample_into_boxes(
        ops, ops.numpy.concatenate([foregrounds * alpha, alpha], axis=-1), boxes, height, width
    )
    provenance = ops.numpy.clip(warped[..., -1:], 0.0, 1.0)
    images = warped[..., :-1] + (1.0 - provenance) * backgrounds
    return images, provenance, resample.tight_boxes(ops, provenance)
