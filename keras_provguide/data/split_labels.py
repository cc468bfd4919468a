"""`split_labels`: from the batch dicts of the layers to the pairs `fit` takes."""

from keras_provguide.keys import LABELS


def split_labels(batch):
    """Splits a batch dict into the `(inputs, labels)` pair of `model.fit`.

    The layers of `kpg.layers` keep labels inside the batch dict so they can
    be mixed with the images; `GuidedModel` takes them as `y`. Every other
    key stays in the inputs (`GuidedModel` reads `"images"`, `"provenance"`
    and `"source_labels"`, and ignores the rest). Works on dicts of NumPy
    arrays, backend tensors, and inside `tf.data.Dataset.map`.

    Args:
        batch: dict holding `"labels"`.

    Returns:
        `(inputs, labels)`.

    Example:

    ```python
    dataset = dataset.map(kpg.layers.ProvenanceCutMix(num_classes=10))
    model.fit(dataset.map(kpg.data.split_labels))
    ```
    """
    if not isinstance(batch, dict) or LABELS not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise ValueError(f"Expected a dict with a 'labels' entry, received {keys}.")
    inputs = {key: value for key, value in batch.items() if key != LABELS}
    return inputs, batch[LABELS]
