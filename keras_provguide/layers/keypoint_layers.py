"""Keypoint point clouds: batch mixing with provenance, and augmentations that carry it.

Every layer takes and returns the keypoint batch dict (`kpg.data.keypoints`):
`"keypoints"` `(B, N, C)` with `x, y` in [0, 1] and `t` in channel 2,
`"instance_ids"`, `"frame_ids"`, `"joint_ids"`, `"point_mask"` `(B, N)`.
Points keep their order, so `"provenance"` `(B, N, 1)` stays with its
points through every augmentation; only `ProvenanceBatchMix` makes it.
"""

import keras

from keras_provguide.checks import share
from keras_provguide.data.keypoints import COCO_LEFT_RIGHT
from keras_provguide.keys import (
    FRAME_IDS,
    INSTANCE_IDS,
    JOINT_IDS,
    KEYPOINTS,
    LABELS,
    POINT_MASK,
    PROVENANCE,
    SOURCE_IDS,
    SOURCE_LABELS,
)
from keras_provguide.layers import base, pair_mix


class KeypointLayer(base.ProvenanceLayer):
    """The base of the keypoint layers: a dict in, a dict out, `"keypoints"` of rank 3."""

    required_keys = (KEYPOINTS,)
    spatial_keys = ()

    def __init__(self, seed=None, **kwargs):
        kwargs.pop("data_format", None)  # Points have no image layout.
        super().__init__(seed=seed, data_format="channels_last", **kwargs)

    def _checked_copy(self, data):
        data = super()._checked_copy(data)
        shape = tuple(data[KEYPOINTS].shape)
        if len(shape) != 3:
            raise ValueError(
                f"{type(self).__name__} works on batches: expected '{KEYPOINTS}' of rank 3 "
                f"(batch, points, channels), received shape {shape}. Batch the data first."
            )
        for key in (INSTANCE_IDS, FRAME_IDS, JOINT_IDS, POINT_MASK):
            if key in data and tuple(data[key].shape) != shape[:2]:
                raise ValueError(
                    f"Expected '{key}' of shape (batch, points) = {shape[:2]}, received "
                    f"{tuple(data[key].shape)}."
                )
        return data

    def _mask(self, data):
        ops = self.backend
        if POINT_MASK in data:
            return self._float(data[POINT_MASK])
        return ops.numpy.ones(ops.shape(data[KEYPOINTS])[:2], dtype=self.compute_dtype)

    def _set_channels(self, data, channel_values):
        """`"keypoints"` with channels `{index: (B, N) values}` replaced."""
        ops = self.backend
        points = self._float(data[KEYPOINTS])
        channels = [points[..., c] for c in range(points.shape[-1])]
        for index, values in channel_values.items():
            channels[index] = values
        data[KEYPOINTS] = ops.numpy.stack(channels, axis=-1)
        return data

    def _chosen(self, batch, rate, seed):
        return self._uniform(batch, 0.0, 1.0, seed) < rate

    def get_config(self):
        config = super().get_config()
        config.pop("data_format", None)
        return config


@keras.saving.register_keras_serializable(package="keras_provguide")
class ProvenanceBatchMix(KeypointLayer, pair_mix.PairMix):
    """Merges each clip's point cloud with a partner's from the batch (SKP's batch mixing).

    Structured Keypoint Pooling's augmentation puts instances from two
    videos into one sample. Here each clip's `N` points are followed by its
    partner's `N` (a random cycle through the batch, so no clip draws
    itself), making `2N` points:

    - the partner's instance ids are shifted past the clip's largest one,
      so the pooling never merges a person of one video with a person of
      the other; frame ids are kept (both clips share normalised time);
    - `"provenance"` `(B, 2N, 1)` is 1 on the clip's own points (source 0)
      and 0 on the partner's;
    - `"source_labels"` `(B, 2)` holds both classes, and `"labels"` both
      actions, by `label_mode`:
      - `"per_source"` (default): `"source_ids"` `(B, 2N)` marks each
        point's clip (0 own, 1 partner) and `"labels"` `(B, 2, K)` one-hot
        per clip. A model that reads `"source_ids"`
        (`kpg.models.KeypointLocalizer`) scores each clip from its own
        groups, so each clip keeps its own label and a plain
        cross-entropy; the two clips meet only through the network's
        context features. This is the mixing the SKP authors describe in
        their follow-up (Nagano et al., arXiv 2608.25701, "SM-DCL": the
        batch reshaped so `m = 2` videos share a sample, the outputs
        reverted "before pooling", the loss unchanged; switched on late in
        training, from epoch 20, which they found better than from the
        start).
      - `"soft"` weighs each class 0.5 in one `(B, K)` label, for softmax
        cross-entropy; `"multi_hot"` gives each 1, for a sigmoid loss.

    SKP's own paper does not publish its label rule or mixing rate; when to
    start mixing is the caller's (train on plain batches first). Every clip
    of a batch is mixed: the two-source penalty needs a partner. `"groups"`
    and other keys keep the clip's own values.

    Args:
        label_mode: `"per_source"`, `"soft"` or `"multi_hot"`.
        num_classes: int, needed when `"labels"` are class ids.
        seed: int or `None`.

    Call arguments:
        data: the keypoint batch dict with `"labels"`.
        training: mixes only when true (the default).

    Example:

    ```python
    mix = kpg.layers.ProvenanceBatchMix(num_classes=4, seed=0)
    mixed = mix({**inputs, "labels": labels})    # (B, 2N, C) keypoints
    model.fit(*kpg.data.split_labels(mixed))
    ```
    """

    required_keys = (KEYPOINTS, INSTANCE_IDS, FRAME_IDS, LABELS)

    label_modes = ("per_source", "soft", "multi_hot")

    def __init__(self, label_mode="per_source", num_classes=None, seed=None, **kwargs):
        if label_mode not in self.label_modes:
            raise ValueError(f"Expected `label_mode` in {self.label_modes}, received {label_mode!r}.")
        super().__init__(seed=seed, num_classes=num_classes, **kwargs)
        self.label_mode = label_mode

    def transform(self, data, seed):
        ops = self.backend
        class_ids, num_classes = self._class_ids(data[LABELS])
        points = self._float(data[KEYPOINTS])
        partners = self._partners(ops.shape(points)[0], seed)

        def joined(value):
            return ops.numpy.concatenate([value, ops.numpy.take(value, partners, axis=0)], axis=1)

        mask = self._mask(data)
        instances = ops.cast(data[INSTANCE_IDS], "int32")
        own = ops.numpy.where(mask > 0.5, instances, ops.numpy.zeros_like(instances))
        offset = ops.numpy.max(own, axis=1, keepdims=True) + 1
        partner_instances = ops.numpy.take(instances, partners, axis=0) + offset
        data[KEYPOINTS] = joined(points)
        data[INSTANCE_IDS] = ops.numpy.concatenate([instances, partner_instances], axis=1)
        data[FRAME_IDS] = joined(ops.cast(data[FRAME_IDS], "int32"))
        if JOINT_IDS in data:
            data[JOINT_IDS] = joined(ops.cast(data[JOINT_IDS], "int32"))
        data[POINT_MASK] = joined(mask)
        ones = ops.numpy.ones_like(mask)
        data[PROVENANCE] = ops.numpy.concatenate([ones, ops.numpy.zeros_like(mask)], axis=1)[..., None]
        partner_ids = ops.numpy.take(class_ids, partners, axis=0)
        data[SOURCE_LABELS] = ops.numpy.stack([class_ids, partner_ids], axis=1)
        first = ops.nn.one_hot(class_ids, num_classes, dtype=self.compute_dtype)
        second = ops.nn.one_hot(partner_ids, num_classes, dtype=self.compute_dtype)
        if self.label_mode == "per_source":
            data[SOURCE_IDS] = ops.numpy.concatenate(
                [ops.numpy.zeros_like(instances), ops.numpy.ones_like(instances)], axis=1
            )
            data[LABELS] = ops.numpy.stack([first, second], axis=1)
        elif self.label_mode == "soft":
            data[LABELS] = 0.5 * first + 0.5 * second
        else:
            data[LABELS] = ops.numpy.maximum(first, second)
        return data

    def compute_output_shape(self, input_shape):
        """The mixed batch's shapes: `2N` points, both clips' labels, and the keys the mix adds."""
        shapes = {key: tuple(shape) for key, shape in input_shape.items()}
        batch, count = shapes[KEYPOINTS][:2]
        points = None if count is None else 2 * count
        shapes[KEYPOINTS] = (batch, points, *shapes[KEYPOINTS][2:])
        for key in (INSTANCE_IDS, FRAME_IDS, JOINT_IDS, POINT_MASK):
            if key in shapes or key == POINT_MASK:
                shapes[key] = (batch, points)
        shapes[PROVENANCE] = (batch, points, 1)
        shapes[SOURCE_LABELS] = (batch, 2)
        labels = shapes[LABELS]
        classes = labels[-1] if len(labels) == 2 else self.num_classes
        if self.label_mode == "per_source":
            shapes[SOURCE_IDS] = (batch, points)
            shapes[LABELS] = (batch, 2, classes)
        else:
            shapes[LABELS] = (batch, classes)
        return shapes

    def get_config(self):
        config = super().get_config()
        config["label_mode"] = self.label_mode
        return config


@keras.saving.register_keras_serializable(package="keras_provguide")
class KeypointFlip(KeypointLayer):
    """Mirrors a share of clips horizontally: `x -> 1 - x`, and left and right joints swapped.

    Args:
        rate: float in [0, 1], the share of clips flipped.
        left_right: `(left, right)` joint-id pairs to swap (default COCO's
            17 joints; pyskl's flip uses the same pairs). Other ids, object
            contour points' among them, are kept.
        seed: int or `None`.

    Example:

    ```python
    flip = kpg.layers.KeypointFlip(rate=0.5, seed=0)  # COCO joint order
    batch = flip(points)  # a dict of "keypoints" (B, N, C) and the point structure
    ```
    """

    def __init__(self, rate=0.5, left_right=COCO_LEFT_RIGHT, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = share(rate, "rate")
        self.left_right = tuple(tuple(int(v) for v in pair) for pair in left_right)
        if not all(len(pair) == 2 and min(pair) >= 0 for pair in self.left_right):
            raise ValueError(f"Expected `left_right` as (left, right) pairs of ids >= 0, received {left_right!r}.")

    def transform(self, data, seed):
        ops = self.backend
        points = self._float(data[KEYPOINTS])
        flip = self._chosen(ops.shape(points)[0], self.rate, seed)[:, None]
        data = self._set_channels(data, {0: ops.numpy.where(flip, 1.0 - points[..., 0], points[..., 0])})
        if JOINT_IDS in data and self.left_right:
            size = max(max(pair) for pair in self.left_right) + 1
            table = list(range(size))
            for left, right in self.left_right:
                table[left], table[right] = right, left
            joints = ops.cast(data[JOINT_IDS], "int32")
            inside = joints < size
            swapped = ops.numpy.take(
                ops.convert_to_tensor(table, dtype="int32"), ops.numpy.minimum(joints, size - 1), axis=0
            )
            data[JOINT_IDS] = ops.numpy.where(flip & inside, swapped, joints)
        return data

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "left_right": [list(p) for p in self.left_right]})
        return config


@keras.saving.register_keras_serializable(package="keras_provguide")
class KeypointScale(KeypointLayer):
    """Scales each clip's `x, y` about the frame centre by a factor drawn per clip.

    Args:
        factor_range: `(min, max)`, both > 0.
        seed: int or `None`.

    Example:

    ```python
    scale = kpg.layers.KeypointScale(factor_range=(0.8, 1.2), seed=0)
    batch = scale(points)
    ```
    """

    def __init__(self, factor_range=(0.8, 1.2), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor_range = base.check_range(factor_range, "factor_range", 0.0, float("inf"), low_open=True)

    def transform(self, data, seed):
        points = self._float(data[KEYPOINTS])
        low, high = self.factor_range
        factor = self._uniform(self.backend.shape(points)[0], low, high, seed)[:, None]
        return self._set_channels(data, {
            0: 0.5 + factor * (points[..., 0] - 0.5), 1: 0.5 + factor * (points[..., 1] - 0.5),
        })

    def get_config(self):
        config = super().get_config()
        config["factor_range"] = list(self.factor_range)
        return config


@keras.saving.register_keras_serializable(package="keras_provguide")
class KeypointTranslate(KeypointLayer):
    """Shifts each clip's `x` and `y` by offsets drawn per clip from `[-shift, shift]`.

    Args:
        shift: float >= 0, in units of the frame side.
        seed: int or `None`.

    Example:

    ```python
    translate = kpg.layers.KeypointTranslate(shift=0.1, seed=0)
    batch = translate(points)
    ```
    """

    def __init__(self, shift=0.1, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.shift = share(shift, "shift")

    def transform(self, data, seed):
        points = self._float(data[KEYPOINTS])
        batch = self.backend.shape(points)[0]
        dx = self._uniform(batch, -self.shift, self.shift, seed)[:, None]
        dy = self._uniform(batch, -self.shift, self.shift, seed)[:, None]
        return self._set_channels(data, {0: points[..., 0] + dx, 1: points[..., 1] + dy})

    def get_config(self):
        config = super().get_config()
        config["shift"] = self.shift
        return config


@keras.saving.register_keras_serializable(package="keras_provguide")
class KeypointTemporalCrop(KeypointLayer):
    """Keeps a random run of each clip's frames; the rest become padding.

    The run covers a share drawn from `[min_share, 1]` of the clip's frames
    (its largest frame id + 1) at a random start. Kept frames are
    renumbered from 0 and `t` (channel 2) recomputed as frame / (run - 1);
    points outside get `"point_mask"` 0.

    Args:
        min_share: float in (0, 1].
        seed: int or `None`.

    Example:

    ```python
    crop = kpg.layers.KeypointTemporalCrop(min_share=0.5, seed=0)
    batch = crop(points)  # points outside the kept frames get point_mask 0
    ```
    """

    required_keys = (KEYPOINTS, FRAME_IDS)

    def __init__(self, min_share=0.5, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.min_share = share(min_share, "min_share")
        if self.min_share == 0:
            raise ValueError("Expected `min_share` in (0, 1], received 0.")

    def transform(self, data, seed):
        ops = self.backend
        mask = self._mask(data)
        frames = ops.cast(data[FRAME_IDS], "int32")
        batch = ops.shape(frames)[0]
        count = ops.cast(ops.numpy.max(ops.numpy.where(mask > 0.5, frames, 0), axis=1) + 1, self.compute_dtype)
        length = ops.numpy.maximum(ops.numpy.round(count * self._uniform(batch, self.min_share, 1.0, seed)), 1.0)
        start = ops.numpy.floor(self._uniform(batch, 0.0, 1.0, seed) * (count - length + 1.0))
        start = ops.numpy.minimum(start, count - length)
        relative = ops.cast(frames, self.compute_dtype) - start[:, None]
        inside = (relative >= 0) & (relative < length[:, None])
        data[POINT_MASK] = ops.numpy.where(inside, mask, ops.numpy.zeros_like(mask))
        kept = ops.numpy.where(inside, relative, ops.numpy.zeros_like(relative))
        data[FRAME_IDS] = ops.cast(kept, "int32")
        time = kept / ops.numpy.maximum(length - 1.0, 1.0)[:, None]
        if self._float(data[KEYPOINTS]).shape[-1] > 2:
            data = self._set_channels(data, {2: time})
        return data

    def get_config(self):
        config = super().get_config()
        config["min_share"] = self.min_share
        return config


@keras.saving.register_keras_serializable(package="keras_provguide")
class PointDropout(KeypointLayer):
    """Drops each point with probability `rate` (its `"point_mask"` set to 0): missed detections.

    Args:
        rate: float in [0, 1).
        seed: int or `None`.

    Example:

    ```python
    dropout = kpg.layers.PointDropout(rate=0.1, seed=0)
    batch = dropout(points)
    ```
    """

    def __init__(self, rate=0.1, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = share(rate, "rate")
        if self.rate == 1.0:
            raise ValueError("Expected `rate` in [0, 1), received 1.0 (every point dropped).")

    def transform(self, data, seed):
        ops = self.backend
        mask = self._mask(data)
        keep = ops.random.uniform(ops.shape(mask), dtype=self.compute_dtype, seed=seed) >= self.rate
        data[POINT_MASK] = ops.numpy.where(keep, mask, ops.numpy.zeros_like(mask))
        return data

    def get_config(self):
        config = super().get_config()
        config["rate"] = self.rate
        return config
