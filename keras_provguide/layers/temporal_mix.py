"""`ProvenanceTemporalMix`: clips spliced in time, with provenance over frames."""

import keras

from keras_provguide.layers import pair_mix


@keras.saving.register_keras_serializable(package="keras_provguide")
class ProvenanceTemporalMix(pair_mix.PairMix):
    """Splices a segment of frames from a partner clip into each clip (BatchMix-style).

    For each clip of `T` frames, a mixing ratio `lam ~ Beta(alpha, alpha)`
    sets a segment of `round((1 - lam) * T)` consecutive frames at a
    uniform random start; those frames are replaced by the same frames of a
    partner clip from the batch. The soft label weights are the frame
    shares, so they equal the provenance mean.

    This is the temporal counterpart of `ProvenanceCutMix`, with the same
    two-source contract of `GuidedModel`: the penalty keeps each source's
    class score from depending on the other source's frames.

    Args:
        alpha: float > 0, the Beta distribution's concentration.
        num_classes: int, needed when `"labels"` are class ids.
        seed: int or `None`.
        data_format: `"channels_last"` (clips `(B, T, H, W, C)`) or
            `"channels_first"` (`(B, C, T, H, W)`).

    Call arguments:
        data: dict with `"images"` (clips) and `"labels"` (class ids `(B,)`
            or one-hot `(B, K)`).
        training: mixes only when true (the default).

    Returns:
        The dict with spliced `"images"`, `"provenance"` `(B, T, 1, 1, 1)`
        (1 on the frames of source 0; it broadcasts over space),
        `"source_labels"` `(B, 2)` and soft `"labels"` `(B, K)`.

    Example:

    ```python
    mix = kpg.layers.ProvenanceTemporalMix(num_classes=10, seed=0)
    batch = mix({"images": clips, "labels": labels})   # clips: (B, T, H, W, C)
    model.fit(*kpg.data.split_labels(batch))
    ```
    """

    image_rank = 5

    def __init__(self, alpha=1.0, num_classes=None, seed=None, data_format=None, **kwargs):
        super().__init__(num_classes=num_classes, seed=seed, data_format=data_format, **kwargs)
        self.alpha = pair_mix.beta_concentration(alpha)

    def partner_region(self, partner_images, seed):
        ops = self.backend
        shape = ops.shape(partner_images)
        batch = shape[0]
        frames = ops.cast(shape[1], self.compute_dtype)
        lam = ops.random.beta((batch,), self.alpha, self.alpha, seed=seed, dtype=self.compute_dtype)
        length = ops.numpy.round((1.0 - lam) * frames)
        start = ops.numpy.floor(self._uniform(batch, 0.0, 1.0, seed) * (frames - length + 1.0))
        start = ops.numpy.minimum(start, frames - length)
        times = ops.numpy.arange(shape[1], dtype=self.compute_dtype)[None, :]
        inside = (times >= start[:, None]) & (times < (start + length)[:, None])
        region = ops.numpy.reshape(ops.cast(inside, self.compute_dtype), (-1, shape[1], 1, 1, 1))
        return region, partner_images

    def get_config(self):
        config = super().get_config()
        config["alpha"] = self.alpha
        return config
