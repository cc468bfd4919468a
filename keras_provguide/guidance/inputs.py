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

from keras_provguide.keys import IMAGES, PROVENANCE, SOURCE_LABELS

GuidedBatch = collections.namedtuple(
    "GuidedBatch", ["images", "provenance", "source_labels"]
)



def unpack_inputs(x):
    """Splits model inputs into a `GuidedBatch`.

    `x` is an image tensor, or a dict holding `"images"` and optionally
    `"provenance"` and `"source_labels"`. Other keys (labels, groups, boxes
    carried by a data pipeline) are ignored.
    """
    if isinstance(x, dict):
        if IMAGES not in x:
            raise ValueError(
                "Expected the inputs dict to hold an 'images' entry, received "
                f"keys {sorted(x)}."
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
        check_labels_shape(_shape(labels), images_shape[0], num_classes)


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


def check_labels_shape(labels_shape, batch_size, num_classes):
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
    if not np.all(np.isfinite(images)):
        raise ValueError(
            f"'images' hold {int(np.sum(~np.isfinite(images)))} NaN or "
            "infinite values; expected finite values."
        )
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
