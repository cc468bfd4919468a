"""The data checks `GuidedModel.fit` and `evaluate` run before the first step."""

import keras
import numpy as np
from keras import ops

from keras_provguide import groups as groups_lib
from keras_provguide import keras_internals
from keras_provguide.guidance import inputs as inputs_lib
from keras_provguide.keys import LABELS


def check_data(model, x, y):
    """Checks `fit`/`evaluate` data before the first step: arrays whole, a dataset by its first batch.

    Value checks need concrete data, so they run once, outside the compiled
    steps; each names what was expected and what was received.
    """
    x, y = _first_batch(x, y)
    if x is None:
        return
    if y is None and isinstance(x, dict) and LABELS in x:
        raise ValueError(
            "Received 'labels' inside the inputs dict and no `y`. Split the "
            "batch into (inputs, labels) first, e.g. "
            "`dataset.map(kpg.data.split_labels)` or "
            "`model.fit(*kpg.data.split_labels(batch))`."
        )
    batch = inputs_lib.unpack_inputs(x)
    batch = inputs_lib.GuidedBatch(*(_to_numpy(t) for t in batch))
    y = _to_numpy(y)
    num_classes = _num_classes(model, batch.images.shape)
    inputs_lib.check_batch_structure(batch, y, num_classes)
    inputs_lib.check_values(batch, y, num_classes)
    if batch.context is not None:
        inputs_lib.check_point_values(batch.context, getattr(model.classifier, "id_limits", None))
    _check_groups(model, _to_numpy(groups_lib.groups_of(x)), batch.images.shape[0])


def _check_groups(model, groups, batch_size):
    users = [
        obj for obj in keras.tree.flatten(getattr(model, "loss", None)) + keras_internals.compiled_metrics(model)
        if hasattr(obj, "num_groups")
    ]
    if groups is None:
        if users:
            raise ValueError(
                f"{type(users[0]).__name__} needs group ids: expected the inputs "
                "dict to hold 'groups' (int, shape (batch,)), received keys "
                "without it."
            )
        return
    if groups.shape != (batch_size,) or not np.issubdtype(groups.dtype, np.integer):
        raise ValueError(
            f"Expected 'groups' as integer ids of shape ({batch_size},), received "
            f"dtype {groups.dtype} and shape {groups.shape}."
        )
    for obj in users:
        if groups.size and (groups.min() < 0 or groups.max() >= obj.num_groups):
            raise ValueError(
                f"Expected 'groups' ids in [0, {obj.num_groups - 1}] for "
                f"{type(obj).__name__}(num_groups={obj.num_groups}), received values "
                f"in [{int(groups.min())}, {int(groups.max())}]."
            )


def _num_classes(model, images_shape):
    try:
        shape = model.classifier.compute_output_shape((None,) + tuple(images_shape[1:]))
    except Exception:  # A subclassed backbone may not know its shapes.
        return None
    return shape[-1] if len(shape) == 2 else None


def _first_batch(x, y):
    """`(x, y)` as given for arrays; the first element of a dataset; else `None`."""
    if isinstance(x, keras.utils.PyDataset):
        return _split(x[0])
    if type(x).__module__.startswith("tensorflow") and hasattr(x, "take"):
        return _split(next(iter(x.take(1))))
    if isinstance(x, dict) or hasattr(x, "shape"):
        return x, y
    return None, None


def _split(element):
    if isinstance(element, (tuple, list)):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(tuple(element))
        return x, y
    return element, None


def _to_numpy(value):
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: _to_numpy(v) for k, v in value.items()}
    return np.asarray(ops.convert_to_numpy(value))
