"""`KeypointLocalizer`: a Structured-Keypoint-Pooling-style point network that localizes actions in space and time."""

import keras
import numpy as np
from keras import ops

from keras_provguide.checks import int_at_least
from keras_provguide.keys import FRAME_IDS, INSTANCE_IDS, JOINT_IDS, KEYPOINTS, POINT_MASK, SOURCE_IDS


@keras.saving.register_keras_serializable(package="keras_provguide")
class KeypointLocalizer(keras.Model):
    """Point MLP -> max pooling cascaded by the data's structure -> class scores, switched at inference.

    After Structured Keypoint Pooling (Hachiuma, Sato and Sekii, CVPR 2023):
    a clip's keypoints are a point cloud, pooled in the order its structure
    gives, point -> instance in a frame -> frame -> clip, so no tracking is
    needed and missed or spurious detections only add or remove points.

    1. Each point's channels (`x, y, t`, scores), and its `x, y` relative
       to its group (minus the group's mean, over the group's root mean
       square spread), are embedded by a dense layer, and its joint's
       learned embedding is added.
    2. A point block: each point's features are concatenated with the max
       over its group (its instance in its frame), then a residual MLP.
    3. Grouped pooling: the max over each group's points gives one feature
       per (frame, instance); a learned frame embedding is added.
    4. A group block: each group's features are concatenated with the max
       over its frame's instances and the max over the whole clip, then a
       residual MLP.
    5. Training (the clip score): the max over every group, then a dense
       layer to class logits. Trained from clip labels alone. A batch-mixed
       sample with `"source_ids"` (`ProvenanceBatchMix`'s `"per_source"`
       mode) is scored once per clip, each from its own groups' max:
       logits `(B, 2, num_classes)`; the clips meet only through step 4's
       frame and clip context.
    6. Inference, the pooling switch (`instance_scores`): the last max is
       dropped and the same dense layer scores each (frame, instance), so
       clip labels give person-wise and frame-wise scores.

    The group-relative coordinates, the embedding widths, the block layout
    (layer normalization, GELU, residual MLPs of one hidden layer of twice
    the width) and the frame embedding are our choices: SKP's published figure gives the cascade and the
    concat-pooling blocks, not their sizes. Layer normalization rather than
    BatchNorm keeps padded points out of every statistic.

    Args:
        num_classes: int >= 2.
        num_joint_types: int >= 1, the joint ids the embedding knows
            (COCO's 17 person joints, then object contour types).
        max_instances: int >= 1, instance ids are in `[0, max_instances)`
            (after batch mixing, both clips' instances).
        max_frames: int >= 1, frame ids are in `[0, max_frames)`.
        width: int >= 1, the feature width.
        person_joints: the joint ids below it are a person's; boxes are
            drawn around those (default 17, COCO).
        name: the model name.

    Call arguments:
        inputs: the keypoint batch dict (`kpg.data.keypoints`): `"keypoints"`
            `(B, N, C)`, `"instance_ids"`, `"frame_ids"`, and optionally
            `"joint_ids"` (default 0), `"point_mask"` (default all
            points) and `"source_ids"` (batch mixing: 0 or 1, each point's
            clip).

    Returns:
        Clip logits `(B, num_classes)`; with `"source_ids"`, one row per
        mixed clip, `(B, 2, num_classes)`.

    Example:

    ```python
    data = kpg.datasets.keypoint_actions(num_train=64, num_test=32)
    model = kpg.models.KeypointLocalizer(num_classes=4, num_joint_types=19,
                                         max_instances=6, max_frames=16)
    inputs = kpg.data.keypoint_inputs(data["test"])
    logits = model(inputs)                                   # (32, 4)
    detections = model.predict_detections(inputs)
    ```
    """

    def __init__(
        self, num_classes, num_joint_types=17, max_instances=8, max_frames=32, width=64,
        person_joints=17, name="keypoint_localizer", **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.num_classes = int_at_least(num_classes, 2, "num_classes")
        self.num_joint_types = int_at_least(num_joint_types, 1, "num_joint_types")
        self.max_instances = int_at_least(max_instances, 1, "max_instances")
        self.max_frames = int_at_least(max_frames, 1, "max_frames")
        self.width = int_at_least(width, 1, "width")
        self.person_joints = int_at_least(person_joints, 0, "person_joints")
        self.point_embedding = keras.layers.Dense(width, name="point_embedding")
        self.joint_embedding = keras.layers.Embedding(num_joint_types, width, name="joint_embedding")
        self.frame_embedding = keras.layers.Embedding(max_frames, width, name="frame_embedding")
        self.point_block = _ResidualMLP(width, name="point_block")
        self.group_block = _ResidualMLP(width, name="group_block")
        self.head = keras.layers.Dense(num_classes, name="logits")

    @property
    def num_groups(self):
        return self.max_frames * self.max_instances

    @property
    def id_limits(self):
        """The bound of each id key (ids < bound), for the data checks."""
        return {INSTANCE_IDS: self.max_instances, FRAME_IDS: self.max_frames, JOINT_IDS: self.num_joint_types}

    def build(self, input_shape):
        channels = input_shape[KEYPOINTS][-1]
        self.point_embedding.build((None, None, channels + 2))
        self.joint_embedding.build((None, None))
        self.frame_embedding.build((None,))
        self.point_block.build((None, None, 2 * self.width))
        self.group_block.build((None, None, 3 * self.width))
        self.head.build((None, self.width))
        self.built = True

    def call(self, inputs, training=None):
        del training  # No layer here behaves differently in training.
        features, valid = self.group_features(inputs)
        if SOURCE_IDS not in inputs:
            return self.head(_masked_max(features, valid, axis=1))
        # Instance ids never span clips, so every group lies in one clip: its max source id is that clip.
        _, group, points_valid = self._points(inputs)
        source = ops.cast(inputs[SOURCE_IDS], features.dtype)[..., None]
        group_source, _ = _grouped_max(ops.stop_gradient(source), group, points_valid, self.num_groups)
        partner = group_source[..., 0] > 0.5
        own = ops.logical_and(valid, ops.logical_not(partner))
        return ops.stack([self.head(_masked_max(features, own, axis=1)),
                          self.head(_masked_max(features, ops.logical_and(valid, partner), axis=1))], axis=1)

    def group_features(self, inputs):
        """Features `(B, F * I, width)` of each (frame, instance) group, and whether it holds points `(B, F * I)`."""
        points, group, valid = self._points(inputs)
        relative = _group_relative(points[..., :2], group, valid, self.num_groups)
        hidden = self.point_embedding(ops.concatenate([points, relative], axis=-1))
        hidden = hidden + self.joint_embedding(self._joints(inputs, points))
        pooled, _ = _grouped_max(hidden, group, valid, self.num_groups)
        hidden = self.point_block(ops.concatenate([hidden, _gather_groups(pooled, group)], axis=-1), hidden)
        groups, holds = _grouped_max(hidden, group, valid, self.num_groups)
        frames = ops.arange(self.num_groups, dtype="int32") // self.max_instances
        groups = groups + self.frame_embedding(frames)[None]
        shape = (-1, self.max_frames, self.max_instances, self.width)
        frame_max = _masked_max(ops.reshape(groups, shape), ops.reshape(holds, shape[:3]), axis=2)
        frame_max = ops.reshape(
            ops.repeat(frame_max[:, :, None, :], self.max_instances, axis=2), (-1, self.num_groups, self.width)
        )
        clip_max = _masked_max(groups, holds, axis=1)[:, None, :] * ops.ones_like(groups)
        groups = self.group_block(ops.concatenate([groups, frame_max, clip_max], axis=-1), groups)
        return groups, holds

    def instance_scores(self, inputs, batch_size=32):
        """The pooling switch: class logits of each (frame, instance), NumPy.

        Returns:
            `(scores, holds)`: scores `(B, max_frames, max_instances,
            num_classes)` and bool `(B, max_frames, max_instances)`, true
            where the group holds points.
        """
        scores, holds = [], []
        for part in _batches(inputs, batch_size):
            features, valid = self.group_features(part)
            scores.append(ops.convert_to_numpy(self.head(features)))
            holds.append(ops.convert_to_numpy(valid))
        shape = (-1, self.max_frames, self.max_instances)
        return np.concatenate(scores).reshape(shape + (self.num_classes,)), np.concatenate(holds).reshape(shape)

    def predict_detections(self, inputs, image_size=None, batch_size=32):
        """Per-frame person boxes with class scores (softmax over each group's logits), NumPy.

        A person's box in a frame is the extent of its joints (ids below
        `person_joints`) there; groups without person points give none.

        Args:
            inputs: the keypoint batch dict.
            image_size: `(height, width)` to scale the boxes to pixels,
                or one per clip `(B, 2)`; `None` keeps the keypoints' units.
            batch_size: clips per forward pass.

        Returns:
            dict of arrays over detections: `"clip"`, `"frame"`,
            `"instance"` (int), `"boxes"` `(n, 4)` `(x1, y1, x2, y2)`,
            `"scores"` `(n, num_classes)`.
        """
        logits, _ = self.instance_scores(inputs, batch_size)
        boxes, present = person_boxes(inputs, self.max_frames, self.max_instances, self.person_joints)
        clip, frame, instance = np.nonzero(present)
        shifted = logits - logits.max(axis=-1, keepdims=True)
        probabilities = np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)
        found = boxes[clip, frame, instance]
        if image_size is not None:
            size = np.asarray(image_size, "float32")
            size = size[clip] if size.ndim == 2 else np.broadcast_to(size, (len(clip), 2))
            found = found * np.concatenate([size[:, ::-1], size[:, ::-1]], axis=1)
        return {
            "clip": clip.astype("int32"), "frame": frame.astype("int32"), "instance": instance.astype("int32"),
            "boxes": found, "scores": probabilities[clip, frame, instance],
        }

    def predict_tubes(self, inputs, image_size=None, batch_size=32, link_iou=0.3, trim_threshold=0.5):
        """Action tubes per clip and class, linked from `predict_detections` (`kpg.localization.link_tubes`)."""
        from keras_provguide.localization import actions

        detections = self.predict_detections(inputs, image_size, batch_size)
        return actions.link_tubes(
            detections, self.num_classes, link_iou=link_iou, trim_threshold=trim_threshold
        )

    def _points(self, inputs):
        if not isinstance(inputs, dict) or KEYPOINTS not in inputs:
            raise ValueError(
                f"{type(self).__name__} expects a dict with '{KEYPOINTS}', '{INSTANCE_IDS}' and "
                f"'{FRAME_IDS}', received {type(inputs).__name__}"
                + (f" with keys {sorted(inputs)}" if isinstance(inputs, dict) else "")
                + "."
            )
        missing = [key for key in (INSTANCE_IDS, FRAME_IDS) if key not in inputs]
        if missing:
            raise ValueError(
                f"{type(self).__name__} needs the point structure: missing {missing} among "
                f"the keys {sorted(inputs)}."
            )
        points = ops.convert_to_tensor(inputs[KEYPOINTS])
        if len(points.shape) != 3:
            raise ValueError(
                f"Expected '{KEYPOINTS}' of shape (batch, points, channels), received {tuple(points.shape)}."
            )
        instances = ops.cast(inputs[INSTANCE_IDS], "int32")
        frames = ops.cast(inputs[FRAME_IDS], "int32")
        valid = ops.ones_like(instances, dtype="bool")
        if POINT_MASK in inputs:
            valid = ops.cast(inputs[POINT_MASK], "float32") > 0.5
        return points, frames * self.max_instances + instances, valid

    def _joints(self, inputs, points):
        if JOINT_IDS in inputs:
            return ops.cast(inputs[JOINT_IDS], "int32")
        return ops.zeros(ops.shape(points)[:2], dtype="int32")

    def compute_output_shape(self, input_shape):
        shape = input_shape[KEYPOINTS] if isinstance(input_shape, dict) else input_shape
        if isinstance(input_shape, dict) and SOURCE_IDS in input_shape:
            return (shape[0], 2, self.num_classes)
        return (shape[0], self.num_classes)

    def get_config(self):
        return {
            "name": self.name, "trainable": self.trainable, "num_classes": self.num_classes,
            "num_joint_types": self.num_joint_types, "max_instances": self.max_instances,
            "max_frames": self.max_frames, "width": self.width, "person_joints": self.person_joints,
        }


@keras.saving.register_keras_serializable(package="keras_provguide")
class _ResidualMLP(keras.layers.Layer):
    """`shortcut + Dense(GELU(Dense(norm(x))))`: one hidden layer of twice the width.

    `norm` is layer normalization without a learned scale and shift (the
    dense layer after it has both), written with `keras.ops`: torch's fused
    `layer_norm` has a wrong reverse-mode derivative of its forward-mode
    formula (measured with torch 2.13), which forward-over-reverse steps
    differentiate.
    """

    def __init__(self, width, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.hidden = keras.layers.Dense(2 * width, activation="gelu", name="hidden")
        self.out = keras.layers.Dense(width, name="out")

    def build(self, input_shape):
        self.hidden.build(input_shape)
        self.out.build(tuple(input_shape[:-1]) + (2 * self.width,))
        self.built = True

    def call(self, x, shortcut):
        centred = x - ops.mean(x, axis=-1, keepdims=True)
        normalised = centred / ops.sqrt(ops.mean(ops.square(centred), axis=-1, keepdims=True) + 1e-5)
        return shortcut + self.out(self.hidden(normalised))

    def get_config(self):
        config = super().get_config()
        config["width"] = self.width
        return config


def _grouped_max(features, group, valid, num_groups):
    """The max of `features` `(B, N, W)` over each sample's groups `(B, N)`: `(B, G, W)` and `(B, G)` held.

    Padding points (not `valid`) go to one extra segment that is dropped;
    empty groups are 0. The max is located without gradient and its value
    read back as a sum (see `_masked_max`).
    """
    width = features.shape[-1]
    ids, segments = _segment_ids(group, valid, num_groups)
    flat = ops.reshape(features, (-1, width))
    top = ops.segment_max(ops.stop_gradient(flat), ids, num_segments=segments)
    at_top = ops.cast(flat == ops.take(top, ids, axis=0), flat.dtype)
    total = ops.segment_sum(flat * at_top, ids, num_segments=segments)[:-1]
    ties = ops.segment_sum(at_top, ids, num_segments=segments)[:-1]
    counts = ops.segment_sum(ops.cast(ops.reshape(valid, (-1,)), "float32"), ids, num_segments=segments)[:-1]
    holds = ops.reshape(counts > 0, (-1, num_groups))
    pooled = ops.reshape(total / ops.maximum(ties, 1.0), (-1, num_groups, width))
    return pooled, holds


def _segment_ids(group, valid, num_groups):
    batch = ops.shape(group)[0]
    offsets = ops.arange(batch, dtype="int32")[:, None] * num_groups
    dump = batch * num_groups
    return ops.reshape(ops.where(valid, group + offsets, dump), (-1,)), dump + 1


def _group_relative(xy, group, valid, num_groups):
    """Each point's `xy` `(B, N, 2)` minus its group's mean, over the group's root mean square spread."""
    ids, segments = _segment_ids(group, valid, num_groups)
    weight = ops.cast(ops.reshape(valid, (-1, 1)), xy.dtype)
    flat = ops.reshape(xy, (-1, 2)) * weight
    count = ops.maximum(ops.segment_sum(weight, ids, num_segments=segments), 1.0)
    mean = ops.segment_sum(flat, ids, num_segments=segments) / count
    centred = (flat - ops.take(mean, ids, axis=0)) * weight
    spread = ops.segment_sum(ops.sum(ops.square(centred), axis=-1, keepdims=True), ids, num_segments=segments)
    scale = ops.sqrt(spread / count + 1e-6)
    return ops.reshape(centred / ops.take(scale, ids, axis=0), ops.shape(xy))


def _gather_groups(pooled, group):
    """Each point's group features `(B, N, W)` from `(B, G, W)`."""
    return ops.take_along_axis(pooled, ops.expand_dims(group, -1), axis=1)


def _masked_max(features, holds, axis):
    """Max over `axis` of the entries `holds` marks; 0 where none is marked.

    Every max here is located without gradient and its value read back as
    a sum over the entries that attain it (ties share it equally, as
    TensorFlow's and JAX's max gradients do). That is the max, with the
    max's derivatives, built from sums only: torch's reverse-mode
    derivative of its forward-mode max formulas (`scatter_reduce` "amax")
    was measured wrong here, which forward-over-reverse steps need.
    """
    marked = ops.expand_dims(holds, -1)
    low = ops.where(marked, features, ops.full_like(features, -np.inf))
    top = ops.max(ops.stop_gradient(low), axis=axis, keepdims=True)
    at_top = ops.cast(marked & (features == top), features.dtype)
    return ops.sum(features * at_top, axis=axis) / ops.maximum(ops.sum(at_top, axis=axis), 1.0)


def person_boxes(inputs, max_frames, max_instances, person_joints=17):
    """The extent of each (frame, instance)'s person joints, NumPy.

    Returns:
        `(boxes, present)`: `(B, F, I, 4)` `(x1, y1, x2, y2)` in the
        keypoints' units, and bool `(B, F, I)`, true where the group has
        person points.
    """
    points = np.asarray(ops.convert_to_numpy(inputs[KEYPOINTS]))
    batch, count = points.shape[:2]
    instances = np.asarray(ops.convert_to_numpy(inputs[INSTANCE_IDS])).astype("int64")
    frames = np.asarray(ops.convert_to_numpy(inputs[FRAME_IDS])).astype("int64")
    valid = np.ones((batch, count), bool)
    if POINT_MASK in inputs:
        valid = np.asarray(ops.convert_to_numpy(inputs[POINT_MASK])) > 0.5
    if JOINT_IDS in inputs:
        valid &= np.asarray(ops.convert_to_numpy(inputs[JOINT_IDS])) < person_joints
    groups = max_frames * max_instances
    flat = (np.arange(batch)[:, None] * groups + frames * max_instances + instances)[valid]
    x, y = points[..., 0][valid], points[..., 1][valid]
    low_x = np.full(batch * groups, np.inf)
    low_y = np.full(batch * groups, np.inf)
    high_x = np.full(batch * groups, -np.inf)
    high_y = np.full(batch * groups, -np.inf)
    np.minimum.at(low_x, flat, x)
    np.minimum.at(low_y, flat, y)
    np.maximum.at(high_x, flat, x)
    np.maximum.at(high_y, flat, y)
    present = np.isfinite(low_x).reshape(batch, max_frames, max_instances)
    boxes = np.stack([low_x, low_y, high_x, high_y], axis=-1).reshape(batch, max_frames, max_instances, 4)
    return np.where(present[..., None], boxes, 0.0).astype("float32"), present


def _batches(inputs, batch_size):
    size = int(np.shape(inputs[KEYPOINTS])[0])
    keys = [key for key in (KEYPOINTS, INSTANCE_IDS, FRAME_IDS, JOINT_IDS, POINT_MASK) if key in inputs]
    for start in range(0, size, batch_size):
        yield {key: inputs[key][start:start + batch_size] for key in keys}
