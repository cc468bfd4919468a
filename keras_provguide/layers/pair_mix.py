"""The shared half of the two-source mixing layers."""

from keras_provguide.keys import BOUNDING_BOXES, IMAGES, LABELS, PROVENANCE, SOURCE_LABELS
from keras_provguide.layers import base, resample


class PairMix(base.ProvenanceLayer):
    """Mixes each sample with a partner drawn from the same batch.

    Subclasses say only where the partner's pixels go (`partner_boxes`) and
    whether the whole partner is shrunk into that box (`resize_partner`) or
    shows through it unchanged.
    This class pairs the samples, mixes the images, and writes the
    two-source contract of `GuidedModel`:

    - `"provenance"` `(B, H, W, 1)`: the share of each pixel from source 0
      (the sample itself); 1 outside the partner's region.
    - `"source_labels"` `(B, 2)`: class ids of source 0 and source 1.
    - `"labels"` `(B, num_classes)`: soft labels mixed by the provenance
      mean, so a label's share equals its image's share of the pixels.

    Input provenance is replaced: after a mix, the mask says which source a
    pixel comes from. `"groups"` and other keys keep source 0's values.
    """

    required_keys = (IMAGES, LABELS)
    resize_partner = False

    def __init__(self, num_classes=None, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 2):
            raise ValueError(
                f"Expected `num_classes` to be an int >= 2 or None, received {num_classes!r}."
            )
        self.num_classes = num_classes

    def transform(self, data, seed):
        ops = self.backend
        self._reject_boxes(data)
        images = self._float(data[IMAGES])
        class_ids, num_classes = self._class_ids(data[LABELS])
        partners = self._partners(ops.shape(images)[0], seed)
        partner_images = ops.numpy.take(images, partners, axis=0)
        region, partner_images = self.partner_region(partner_images, seed)

        share = 1.0 - region
        mixed = share * images + region * partner_images
        partner_ids = ops.numpy.take(class_ids, partners, axis=0)
        weight = ops.numpy.mean(share, axis=tuple(range(1, self.image_rank)))[:, None]
        data[IMAGES] = mixed
        data[PROVENANCE] = share
        data[SOURCE_LABELS] = ops.numpy.stack([class_ids, partner_ids], axis=1)
        data[LABELS] = weight * ops.nn.one_hot(
            class_ids, num_classes, dtype=self.compute_dtype
        ) + (1.0 - weight) * ops.nn.one_hot(partner_ids, num_classes, dtype=self.compute_dtype)
        return data

    def partner_region(self, partner_images, seed):
        """Where each partner shows, and the partner images as they are pasted.

        Returns `(region, partner_images)`: `region` is 1 where the mixed
        sample takes the partner's value, broadcastable against the images,
        and its mean over the non-batch axes is the partner's share. Image
        mixes take it from `partner_boxes`.
        """
        ops = self.backend
        shape = ops.shape(partner_images)
        height = ops.cast(shape[1], self.compute_dtype)
        width = ops.cast(shape[2], self.compute_dtype)
        boxes = self.partner_boxes(shape[0], height, width, seed)
        region = resample.box_indicator(ops, boxes, shape[1], shape[2], self.compute_dtype)
        if self.resize_partner:
            partner_images = resample.resample_into_boxes(
                ops, partner_images, boxes, shape[1], shape[2]
            )
        return region, partner_images

    def partner_boxes(self, batch, height, width, seed):
        """`(B, 4)` boxes `(x0, y0, x1, y1)` in pixels where the partner shows."""
        raise NotImplementedError

    def _reject_boxes(self, data):
        if BOUNDING_BOXES in data:
            raise ValueError(
                f"{type(self).__name__} mixes whole images; boxes of the mixed "
                "sample are undefined. Drop 'bounding_boxes' before mixing."
            )

    def _partners(self, batch, seed):
        """Each sample's partner index: a random cycle through the batch, so no sample draws itself."""
        ops = self.backend
        order = ops.random.shuffle(ops.numpy.arange(batch, dtype="int32"), seed=seed)
        return ops.numpy.take(ops.numpy.roll(order, -1), ops.numpy.argsort(order), axis=0)

    def _class_ids(self, labels):
        ops = self.backend
        labels = ops.convert_to_tensor(labels)
        if len(labels.shape) == 2:
            return ops.cast(ops.numpy.argmax(labels, axis=1), "int32"), labels.shape[1]
        if len(labels.shape) != 1:
            raise ValueError(
                "Expected 'labels' of shape (batch,) (class ids) or (batch, "
                f"num_classes) (one-hot), received {tuple(labels.shape)}."
            )
        if self.num_classes is None:
            raise ValueError(
                f"{type(self).__name__} received class-id labels of shape "
                f"{tuple(labels.shape)}; pass `num_classes` to make soft labels, "
                "or pass one-hot labels."
            )
        return ops.cast(labels, "int32"), self.num_classes

    def get_config(self):
        config = super().get_config()
        config["num_classes"] = self.num_classes
        return config


def beta_concentration(alpha):
    """`alpha` as a float > 0 (the Beta distribution's concentration), or `ValueError`."""
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        value = -1.0
    if not value > 0:
        raise ValueError(f"Expected `alpha` to be a float > 0, received {alpha!r}.")
    return value
