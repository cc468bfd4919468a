"""Run keras-cv augmentation layers on provenance-carrying batches."""

from keras_provguide.keys import IMAGES, LABELS, PROVENANCE

MASKS = "segmentation_masks"  # keras-cv's key, under which provenance travels through its layers


def keras_cv_augmentation(*layers):
    """Wraps keras-cv layers so they move `"provenance"` with the images.

    keras-cv's augmentation layers take `{"images", "segmentation_masks"}`
    dicts. The returned function renames `"provenance"` to
    `"segmentation_masks"` for them and back afterwards, passes `"labels"`
    along, and leaves every other key of the batch untouched, so keras-cv
    augmentation can run before the layers of this package in one `tf.data`
    pipeline (under the TensorFlow backend; keras-cv is an optional extra,
    `pip install keras-provguide[keras-cv]`).

    keras-cv resamples masks by nearest neighbour while images are usually
    bilinear, so a soft provenance comes out rounded and its edge can differ
    from the image's by a pixel; `kpg.layers.RandomRotation` and friends are
    exact.

    Args:
        *layers: keras-cv layers (any callables on such dicts), applied in
            order.

    Returns:
        A function from batch dict to batch dict, for `Dataset.map`.

    Example:

    ```python
    import keras_cv
    augment = kpg.data.keras_cv_augmentation(
        keras_cv.layers.RandomFlip("horizontal"),
        keras_cv.layers.RandomRotation(0.1, segmentation_classes=2),
    )
    dataset = dataset.map(augment).map(kpg.layers.ProvenanceCutMix(num_classes=10))
    ```
    """
    if not layers or not all(callable(layer) for layer in layers):
        raise ValueError(
            "Expected one or more keras-cv layers (callables), received "
            f"{[type(layer).__name__ for layer in layers]}."
        )

    def augment(batch):
        if not isinstance(batch, dict) or IMAGES not in batch:
            keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
            raise ValueError(f"Expected a batch dict with 'images', received {keys}.")
        batch = dict(batch)
        inputs = {IMAGES: batch.pop(IMAGES)}
        if PROVENANCE in batch:
            inputs[MASKS] = batch.pop(PROVENANCE)
        if LABELS in batch:
            inputs[LABELS] = batch.pop(LABELS)
        for layer in layers:
            inputs = layer(inputs)
        batch[IMAGES] = inputs[IMAGES]
        if MASKS in inputs:
            batch[PROVENANCE] = inputs[MASKS]
        if LABELS in inputs:
            batch[LABELS] = inputs[LABELS]
        return batch

    return augment
