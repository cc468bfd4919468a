"""`ProvenanceCutMix`: CutMix that reports which pixels came from which image."""

import keras

from keras_provguide.layers import pair_mix


@keras.saving.register_keras_serializable(package="keras_provguide")
class ProvenanceCutMix(pair_mix.PairMix):
    """CutMix (Yun et al., 2019) with the two-source provenance contract.

    For each sample, a mixing ratio `lam ~ Beta(alpha, alpha)` sets a box
    with sides `sqrt(1 - lam)` of the image's, centred at a uniform random
    pixel and clipped to the image; the box is filled with the same region
    of a partner from the batch. The soft label weights use the share of
    pixels actually kept after clipping, which equals the provenance mean.

    Args:
        alpha: float > 0, the Beta distribution's concentration.
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
        `(B, K)`: ready for `GuidedModel` after `kpg.data.split_labels`.

    Example:

    ```python
    mix = kpg.layers.ProvenanceCutMix(num_classes=10, seed=0)
    batch = mix({"images": images, "labels": labels})
    model.fit(*kpg.data.split_labels(batch))
    ```
    """

    def __init__(self, alpha=1.0, num_classes=None, seed=None, data_format=None, **kwargs):
        super().__init__(num_classes=num_classes, seed=seed, data_format=data_format, **kwargs)
        self.alpha = pair_mix.beta_concentration(alpha)

    def partner_boxes(self, batch, height, width, seed):
        ops = self.backend
        lam = ops.random.beta((batch,), self.alpha, self.alpha, seed=seed, dtype=self.compute_dtype)
        ratio = ops.numpy.sqrt(1.0 - lam)

        def bounds(size):
            centre = ops.numpy.floor(self._uniform(batch, 0.0, 1.0, seed) * size)
            half = ops.numpy.round(size * ratio) / 2.0
            low = ops.numpy.clip(ops.numpy.round(centre - half), 0.0, size)
            high = ops.numpy.clip(ops.numpy.round(centre + half), 0.0, size)
            return low, high

        top, bottom = bounds(height)
        left, right = bounds(width)
        return ops.numpy.stack([left, top, right, bottom], axis=1)

    def get_config(self):
        config = super().get_config()
        config["alpha"] = self.alpha
        return config
