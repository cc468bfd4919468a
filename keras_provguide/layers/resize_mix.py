"""`ProvenanceResizeMix`: ResizeMix that reports which pixels came from which image."""

import keras

from keras_provguide.layers import base, pair_mix


@keras.saving.register_keras_serializable(package="keras_provguide")
class ProvenanceResizeMix(pair_mix.PairMix):
    """ResizeMix (Qin et al., 2020) with the two-source provenance contract.

    Each sample receives its whole partner, shrunk to a random fraction
    `scale` of its height and width (rounded to whole pixels) and pasted at
    a random whole-pixel position, so the partner keeps its object rather
    than a random crop of it.

    Args:
        scale_range: `(min, max)` in `(0, 1]`: side of the pasted partner
            as a fraction of the image's side.
        num_classes: int, needed when `"labels"` are class ids.
        seed: int or `None`.
        data_format: `"channels_last"` or `"channels_first"`.

    Call arguments:
        data: dict with `"images"` `(B, H, W, C)` and `"labels"` (class ids
            `(B,)` or one-hot `(B, K)`).
        training: mixes only when true (the default).

    Returns:
        The dict with mixed `"images"`, `"provenance"` `(B, H, W, 1)` (share
        of source 0), `"source_labels"` `(B, 2)` and soft `"labels"`
        `(B, K)`.

    Example:

    ```python
    mix = kpg.layers.ProvenanceResizeMix(scale_range=(0.1, 0.8), num_classes=10)
    batch = mix({"images": images, "labels": labels})
    ```
    """

    def __init__(
        self, scale_range=(0.1, 0.8), num_classes=None, seed=None, data_format=None, **kwargs
    ):
        super().__init__(num_classes=num_classes, seed=seed, data_format=data_format, **kwargs)
        self.scale_range = base.check_range(scale_range, "scale_range", 0.0, 1.0, low_open=True)

    resize_partner = True

    def partner_boxes(self, batch, height, width, seed):
        ops = self.backend
        scale = self._uniform(batch, *self.scale_range, seed)
        patch_height = ops.numpy.maximum(ops.numpy.round(scale * height), 1.0)
        patch_width = ops.numpy.maximum(ops.numpy.round(scale * width), 1.0)
        # floor(u * (free + 1)) is uniform over the free whole-pixel offsets.
        top = ops.numpy.floor(self._uniform(batch, 0.0, 1.0, seed) * (height - patch_height + 1.0))
        left = ops.numpy.floor(self._uniform(batch, 0.0, 1.0, seed) * (width - patch_width + 1.0))
        top = ops.numpy.minimum(top, height - patch_height)
        left = ops.numpy.minimum(left, width - patch_width)
        return ops.numpy.stack([left, top, left + patch_width, top + patch_height], axis=1)

    def get_config(self):
        config = super().get_config()
        config["scale_range"] = self.scale_range
        return config
