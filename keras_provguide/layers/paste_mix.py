"""`ProvenancePasteMix`: paste each partner's object onto the sample (copy-paste within a batch)."""

import keras

from keras_provguide.keys import IMAGES, LABELS, PROVENANCE, SOURCE_LABELS
from keras_provguide.layers import pair_mix


@keras.saving.register_keras_serializable(package="keras_provguide")
class ProvenancePasteMix(pair_mix.PairMix):
    """Pastes a partner's object, cut out by its provenance, onto each sample.

    Copy-paste within a batch (Ghiasi et al., CVPR 2021): each sample keeps
    its own image, object and background, and receives its partner's object
    (the partner's `"provenance"`, 1 on its labelled object) alpha-blended
    on top, where it stands in the partner's image. Both objects then share
    one image, as two videos' actors share one point cloud in SKP's batch
    mixing (`ProvenanceBatchMix`); unlike CutMix, the partner's background
    is left out. On clips the same happens frame by frame.

    Writes the two-source contract of `GuidedModel`:

    - `"provenance"`: the share of each element from source 0 (the sample),
      `1 - a` where `a` is the pasted object's alpha. Source 1 owns only its
      pasted object; the sample's background belongs to source 0.
    - `"source_labels"` `(B, 2)`: class ids of the sample and its partner.
    - `"labels"` `(B, num_classes)`, soft, by `label_mode`:
      - `"area"` (default): each class weighs its object's visible share of
        the two objects' area: the sample's object where the paste leaves
        it uncovered, against the pasted object. A label's share is its
        object's share of the object pixels, as CutMix's is of all pixels.
        A sample without a visible object of its own (nothing in its
        provenance, or all of it covered) takes the partner's label whole;
        with no object pixels at all it keeps its own label.
      - `"equal"`: 0.5 each, as `ProvenanceBatchMix(label_mode="soft")`.

    The sample's input provenance is its object's alpha; after the mix it is
    replaced by the two-source share above. `"groups"` and other keys keep
    the sample's values.

    Args:
        label_mode: `"area"` or `"equal"`.
        clips: bool; `False` for images `(B, H, W, C)`, `True` for clips
            `(B, T, H, W, C)` (the partner's object is pasted on the same
            frame index).
        num_classes: int, needed when `"labels"` are class ids.
        seed: int or `None`.
        data_format: `"channels_last"` or `"channels_first"`.

    Call arguments:
        data: dict with `"images"`, `"provenance"` (the objects' alpha in
            [0, 1], one channel) and `"labels"` (class ids `(B,)` or one-hot
            `(B, K)`).
        training: mixes only when true (the default).

    Returns:
        The dict with mixed `"images"`, `"provenance"`, `"source_labels"`
        and soft `"labels"`.

    Example:

    ```python
    mix = kpg.layers.ProvenancePasteMix(clips=True, num_classes=10, seed=0)
    batch = mix({"images": clips, "provenance": digit_alpha, "labels": labels})
    model.fit(*kpg.data.split_labels(batch))    # a GuidedModel
    ```
    """

    required_keys = (IMAGES, PROVENANCE, LABELS)
    label_modes = ("area", "equal")

    def __init__(self, label_mode="area", clips=False, num_classes=None, seed=None, data_format=None, **kwargs):
        if label_mode not in self.label_modes:
            raise ValueError(f"Expected `label_mode` in {self.label_modes}, received {label_mode!r}.")
        if not isinstance(clips, bool):
            raise ValueError(f"Expected `clips` to be a bool, received {clips!r}.")
        super().__init__(num_classes=num_classes, seed=seed, data_format=data_format, **kwargs)
        self.label_mode = label_mode
        self.clips = clips
        self.image_rank = 5 if clips else 4

    def transform(self, data, seed):
        ops = self.backend
        self._reject_boxes(data)
        self._check_provenance(data[PROVENANCE])
        images = self._float(data[IMAGES])
        objects = self._float(data[PROVENANCE])
        class_ids, num_classes = self._class_ids(data[LABELS])
        partners = self._partners(ops.shape(images)[0], seed)
        pasted = ops.numpy.take(objects, partners, axis=0)
        share = 1.0 - pasted
        data[IMAGES] = share * images + pasted * ops.numpy.take(images, partners, axis=0)
        data[PROVENANCE] = share
        partner_ids = ops.numpy.take(class_ids, partners, axis=0)
        data[SOURCE_LABELS] = ops.numpy.stack([class_ids, partner_ids], axis=1)
        weight = self._own_weight(objects * share, pasted)[:, None]
        data[LABELS] = weight * ops.nn.one_hot(
            class_ids, num_classes, dtype=self.compute_dtype
        ) + (1.0 - weight) * ops.nn.one_hot(partner_ids, num_classes, dtype=self.compute_dtype)
        return data

    def _own_weight(self, own_visible, pasted):
        """The sample's label weight `(B,)` under `label_mode`."""
        ops = self.backend
        if self.label_mode == "equal":
            return 0.5 * ops.numpy.ones((ops.shape(pasted)[0],), dtype=self.compute_dtype)
        axes = tuple(range(1, self.image_rank))
        own = ops.numpy.sum(own_visible, axis=axes)
        total = own + ops.numpy.sum(pasted, axis=axes)
        return ops.numpy.where(total > 0, own / ops.numpy.maximum(total, 1e-12), ops.numpy.ones_like(total))

    def _check_provenance(self, provenance):
        channels = provenance.shape[-1]
        if channels is not None and channels != 1:
            raise ValueError(
                f"{type(self).__name__} pastes each partner's object by its alpha: expected "
                f"'provenance' with 1 channel (last axis after channels_last), received shape "
                f"{tuple(provenance.shape)}."
            )

    def get_config(self):
        config = super().get_config()
        config.update({"label_mode": self.label_mode, "clips": self.clips})
        return config
