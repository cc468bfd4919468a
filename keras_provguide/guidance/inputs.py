"""The data contract of guided training: unpacking and validating a batch.

Two kinds of check live here. Structural checks (keys, ranks, shapes,
dtypes) read only static shapes, so they run while a step is traced and raise
a plain `ValueError` on every backend, compiled or not. Value checks (ranges,
NaN, label ids) need concrete numbers: they run on NumPy views of the data
before training starts (see `GuidedModel.fit`) and in the public analysis
functions.
"""

import collections

import numpy as np
from keras import backend

from keras_provguide.keys import (
    FRAME_IDS,
    IMAGES,
    INSTANCE_IDS,
    JOINT_IDS,
    KEYPOINTS,
    POINT_MASK,
    POINT_STRUCTURE,
    PROVENANCE,
    SOURCE_IDS,
    SOURCE_LABELS,
)


class GuidedBatch(collections.namedtuple(
    "GuidedBatch", ["images", "provenance", "source_labels", "context"], defaults=(None,)
)):
    """A batch as the penalty sees it.

    `images` is the differentiated input: images, clips, or a keypoint
    batch's `"keypoints"` `(B, N, C)`. `context` is `None`, or for keypoint
    batches the dict of the structure the model reads and nobody
    differentiates (`"instance_ids"`, `"frame_ids"`, `"joint_ids"`,
    `"point_mask"`, those present).
    """

    def model_inputs(self, images):
        """What the backbone is called with, `images` standing for the differentiated input."""
        if self.context is None:
            return images
        return {KEYPOINTS: images, **self.context}



def unpack_inputs(x):
    """Splits model inputs into a `GuidedBatch`.

    `x` is an image tensor, or a dict holding `"images"` (or, for keypoint
    models, `"keypoints"` with the point structure) and optionally
    `"provenance"` and `"source_labels"`. Other keys (labels, groups, boxes
    carried by a data pipeline) are ignored.
    """
    if isinstance(x, dict):
        if IMAGES not in x and KEYPOINTS in x:
            context = {key: x[key] for key in POINT_STRUCTURE if key in x}
            return GuidedBatch(x[KEYPOINTS], x.get(PROVENANCE), x.get(SOURCE_LABELS), context)
        if IMAGES not in x:
            raise ValueError(
                "Expected the inputs dict to hold an 'images' entry (or "
                f"'keypoints' for a keypoint model), received keys {sorted(x)}."
            )
        return GuidedBatch(x[IMAGES], x.get(PROVENANCE), x.get(SOURCE_LABELS))
    if isinstance(x, (list, tuple)):
        raise ValueError(
            "Expected an image tensor or a dict with 'images' (and optionally "
            f"'provenance', 'source_labels'), received a {type(x).__name__} of "
            f"length {len(x)}."
        )
    return GuidedBatch(x, None, None)


def _shape(tensor):
    return tuple(tensor.shape)


def _dims_match(a, b):
    return a is None or b is None or a == b


def check_batch_structure(batch, labels=None, num_classes=None):
    """Static checks of a batch; raises `ValueError` naming key and shapes."""
    images_shape = _shape(batch.images)
    dtype = backend.standardize_dtype(batch.images.dtype)
    if "float" not in dtype:
        raise ValueError(
            f"Expected floating-point 'images', received dtype {dtype}. Cast "
            "the images to float32 (and rescale them) before training."
        )
    if len(images_shape) < 2:
        raise ValueError(
            "Expected 'images' of shape (batch, ...elements), received shape "
            f"{images_shape}."
        )
    if batch.provenance is not None:
        check_provenance_shape(images_shape, _shape(batch.provenance))
    elif batch.source_labels is not None:
        raise ValueError(
            "Received 'source_labels' without 'provenance': a two-source "
            "mix needs the share of source 0 as `provenance`."
        )
    if batch.source_labels is not None:
        source_shape = _shape(batch.source_labels)
        if len(source_shape) != 2 or not _dims_match(source_shape[1], 2) or not (
            _dims_match(source_shape[0], images_shape[0])
        ):
            raise ValueError(
                "Expected 'source_labels' of shape (batch, 2) = "
                f"({images_shape[0]}, 2), received {source_shape}."
            )
    if labels is not None and batch.source_labels is None:
        check_labels_shape(_shape(labels), images_shape[0], num_classes, scored_per_source(batch))
    if batch.context is not None:
        check_point_structure(images_shape, {k: _shape(v) for k, v in batch.context.items()})


def check_point_structure(keypoints_shape, shapes):
    """Static checks of a keypoint batch: `(B, N, C)` keypoints, `(B, N)` structure arrays."""
    if len(keypoints_shape) != 3:
        raise ValueError(
            "Expected 'keypoints' of shape (batch, points, channels), received "
            f"shape {keypoints_shape}."
        )
    for key, shape in shapes.items():
        if len(shape) != 2 or not all(_dims_match(a, b) for a, b in zip(shape, keypoints_shape)):
            raise ValueError(
                f"Expected '{key}' of shape (batch, points) = {keypoints_shape[:2]}, "
                f"matching 'keypoints' {keypoints_shape}, received {shape}."
            )


def check_provenance_shape(images_shape, provenance_shape):
    broadcastable = len(provenance_shape) == len(images_shape) and _dims_match(
        provenance_shape[0], images_shape[0]
    )
    if broadcastable:
        for p, i in zip(provenance_shape[1:], images_shape[1:]):
            if not (p == 1 or _dims_match(p, i)):
                broadcastable = False
    if not broadcastable:
        raise ValueError(
            "Expected 'provenance' with shape broadcastable to images "
            f"{images_shape} (same rank, each non-batch axis equal or 1), "
            f"received {provenance_shape}."
        )


def scored_per_source(batch):
    """Whether `batch` is a batch-mixed keypoint batch whose model scores each clip apart (`"source_ids"`)."""
    return batch.context is not None and SOURCE_IDS in batch.context


def check_labels_shape(labels_shape, batch_size, num_classes, per_source=False):
    """Labels `(B,)` or `(B, K)`; with `per_source` (a batch-mixed keypoint batch with
    `"source_ids"`) one row per mixed clip, `(B, 2, K)`."""
    if per_source:
        ok = len(labels_shape) == 3 and _dims_match(labels_shape[0], batch_size) and _dims_match(labels_shape[1], 2)
        ok = ok and (num_classes is None or _dims_match(labels_shape[2], num_classes))
        if not ok:
            raise ValueError(
                f"Expected labels of shape ({batch_size}, 2, {num_classes}) (one row per mixed clip, "
                f"as 'source_ids' is given), received {labels_shape}."
            )
        return
    ok = len(labels_shape) in (1, 2) and _dims_match(labels_shape[0], batch_size)
    if len(labels_shape) == 2 and num_classes is not None:
        ok = ok and _dims_match(labels_shape[1], num_classes)
    if not ok:
        raise ValueError(
            f"Expected labels of shape ({batch_size},) (class ids) or "
            f"({batch_size}, {num_classes}) (one-hot or soft), received "
            f"{labels_shape}."
        )


def check_values(batch, labels=None, num_classes=None):
    """Value checks on NumPy-convertible data; raises `ValueError`."""
    images = np.asarray(batch.images)
    name = "images" if batch.context is None else KEYPOINTS
    if not np.all(np.isfinite(images)):
        raise ValueError(
            f"'{name}' hold {int(np.sum(~np.isfinite(images)))} NaN or "
            "infinite values; expected finite values."
        )
    if batch.context is not None:
        check_point_values(batch.context)
    if batch.provenance is not None:
        provenance = np.asarray(batch.provenance)
        if np.any(np.isnan(provenance)):
            raise ValueError(
                f"'provenance' holds {int(np.sum(np.isnan(provenance)))} NaN "
                "values; expected values in [0, 1]."
            )
        low, high = float(provenance.min()), float(provenance.max())
        if low < 0.0 or high > 1.0:
            raise ValueError(
                "Expected 'provenance' values in [0, 1] (1 = element of the "
                f"labelled target), received values in [{low}, {high}]."
            )
    if num_classes is None:
        return
    if batch.source_labels is not None:
        _check_class_ids(np.asarray(batch.source_labels), num_classes, "source_labels")
    elif labels is not None and np.ndim(labels) == 1:
        _check_class_ids(np.asarray(labels), num_classes, "labels")


def check_point_values(context, limits=None):
    """Value checks of a keypoint batch's structure; `limits` maps a key to its bound (ids < bound).

    Ids are non-negative integers; `"source_ids"` are 0 or 1 (a mix has two
    clips); `"point_mask"` holds 0 or 1.
    """
    limits = {SOURCE_IDS: 2, **(limits or {})}
    for key in (INSTANCE_IDS, FRAME_IDS, JOINT_IDS, SOURCE_IDS):
        if key not in context:
            continue
        ids = np.asarray(context[key])
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"Expected integer '{key}', received dtype {ids.dtype}.")
        bound = limits.get(key)
        if ids.size and (ids.min() < 0 or (bound is not None and ids.max() >= bound)):
            expected = f"[0, {bound - 1}]" if bound is not None else "values >= 0"
            raise ValueError(
                f"Expected '{key}' in {expected}, received values in "
                f"[{int(ids.min())}, {int(ids.max())}]."
            )
    if POINT_MASK in context:
        mask = np.asarray(context[POINT_MASK])
        if mask.size and not np.all((mask == 0) | (mask == 1)):
            raise ValueError(
                "Expected 'point_mask' of 0 (padding) and 1 (a point), received "
                f"values {np.unique(mask)[:5].tolist()}."
            )


def _check_class_ids(ids, num_classes, key):
    if not np.issubdtype(ids.dtype, np.integer):
        if not np.all(np.mod(ids, 1) == 0):
            raise ValueError(
                f"Expected integer class ids in '{key}', received dtype {ids.dtype} "
                "with non-integer values."
            )
    if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
        raise ValueError(
            f"Expected '{key}' class ids in [0, {num_classes - 1}] for a model "
            f"with {num_classes} outputs, received values in "
            f"[{int(ids.min())}, {int(ids.max())}]."
        )
