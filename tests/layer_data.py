"""Batches whose target pixels have a known colour, for alignment tests."""

import keras
import numpy as np

RED = np.asarray([1.0, 0.0, 0.0], "float32")
BLUE = np.asarray([0.0, 0.0, 1.0], "float32")


def to_numpy(value):
    if isinstance(value, dict):
        return {k: to_numpy(v) for k, v in value.items()}
    if type(value).__module__.startswith("tensorflow"):
        return value.numpy()
    return np.asarray(keras.ops.convert_to_numpy(value))


def red_on_blue(batch=4, size=16, seed=0):
    """Red rectangles (the target, provenance 1) on blue, one per image."""
    rng = np.random.default_rng(seed)
    provenance = np.zeros((batch, size, size, 1), "float32")
    for i in range(batch):
        top, left = rng.integers(1, size // 2, 2)
        height, width = rng.integers(3, size // 2, 2)
        provenance[i, top : top + height, left : left + width] = 1.0
    images = provenance * RED + (1.0 - provenance) * BLUE
    return {"images": images, "provenance": provenance, "labels": np.arange(batch, dtype="int32")}


def blend_error(images, provenance):
    """Largest deviation from `images == p * RED + (1 - p) * BLUE`, per pixel."""
    expected = provenance * RED + (1.0 - provenance) * BLUE
    return np.abs(images - expected).max()


def foreground_batch(batch=4, size=24, seed=0):
    """Blue backgrounds, red 8x8 foregrounds with a 4x6 opaque rectangle of alpha."""
    rng = np.random.default_rng(seed)
    alpha = np.zeros((batch, 8, 8, 1), "float32")
    alpha[:, 2:6, 1:7] = 1.0
    return {
        "images": np.broadcast_to(BLUE, (batch, size, size, 3)).copy(),
        "foregrounds": np.broadcast_to(RED, (batch, 8, 8, 3)).copy(),
        "foreground_masks": alpha,
        "labels": rng.integers(0, 3, batch).astype("int32"),
    }


def unique_colour_batch(batch=6, size=16, num_classes=3, seed=0):
    """Each image one flat colour that identifies it; labels cycle through classes."""
    rng = np.random.default_rng(seed)
    colours = rng.random((batch, 3)).astype("float32")
    images = np.broadcast_to(colours[:, None, None, :], (batch, size, size, 3)).copy()
    return {"images": images, "labels": (np.arange(batch) % num_classes).astype("int32")}, colours


def in_tf_data(layer, batch):
    """`layer` applied inside a `tf.data` pipeline to `batch` (one batch)."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(batch).batch(len(next(iter(batch.values()))))
    return next(iter(dataset.map(layer)))
