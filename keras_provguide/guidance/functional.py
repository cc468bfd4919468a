"""Input gradients and the guidance penalty outside training, for analysis and plots."""

import numpy as np
from keras import ops

from keras_provguide import backend as autodiff
from keras_provguide.guidance import inputs as inputs_lib
from keras_provguide.guidance import penalty as penalty_lib


def input_gradients(model, images, labels=None, score="logit"):
    """Gradient of each sample's score with respect to its input elements.

    Runs the model in inference mode (`training=False`).

    Args:
        model: a Keras model returning class scores `(B, K)` (a backbone or a
            `GuidedModel`).
        images: float array `(B, *spatial, C)`.
        labels: class ids `(B,)` or one-hot/soft labels `(B, K)`; default: the
            predicted class of each sample.
        score: `"logit"`, `"log_prob_sum"` or `"loss"`, as in `GuidedModel`.

    Returns:
        A NumPy array shaped like `images`.

    Example:

    ```python
    grads = kpg.input_gradients(backbone, x_test[:8])
    saliency = np.abs(grads).sum(axis=-1)
    ```
    """
    batch = _as_batch(images, None, None)
    grads, _ = _gradients(model, batch, labels, score)
    return ops.convert_to_numpy(grads[0])


def guidance_penalty(
    model, images, provenance, labels, source_labels=None, score="logit", norm="l2",
    penalty_reduction="sum",
):
    """The guidance penalty `P` of `GuidedModel` for one batch, in inference mode.

    Args:
        model: a Keras model returning class scores `(B, K)`.
        images: float array `(B, *spatial, C)`.
        provenance: array broadcastable to `images`, values in [0, 1]; 1 marks
            elements of the labelled target (for two-source mixes, the share
            of source 0).
        labels: class ids `(B,)` or one-hot/soft labels `(B, K)`. Ignored when
            `source_labels` is given.
        source_labels: optional int array `(B, 2)`, the classes of the two
            sources of a mix.
        score: `"logit"`, `"log_prob_sum"` or `"loss"`.
        norm: `"l2"` or `"l1"`.
        penalty_reduction: `"sum"` or `"mean"` over a sample's elements.

    Returns:
        `P` as a Python float.

    Example:

    ```python
    penalty = kpg.guidance_penalty(model, images, provenance, labels)  # a float
    penalty = kpg.guidance_penalty(model, mixed, share, labels, source_labels=pairs)  # CutMix batches
    ```
    """
    penalty_lib.check_options(norm=norm, reduction=penalty_reduction)
    if provenance is None and source_labels is None:
        raise ValueError(
            "Expected a `provenance` array broadcastable to `images`, received None."
        )
    batch = _as_batch(images, provenance, source_labels)
    grads, batch = _gradients(model, batch, labels, score)
    return float(
        penalty_lib.penalty_from_gradients(
            grads, batch.provenance, norm, reduction=penalty_reduction
        )
    )


def _as_batch(images, provenance, source_labels):
    """A `GuidedBatch` of an image array, or of a keypoint batch's dict (its structure as context)."""
    if isinstance(images, dict):
        batch = inputs_lib.unpack_inputs(images)
        return batch._replace(provenance=provenance, source_labels=source_labels)
    return inputs_lib.GuidedBatch(images, provenance, source_labels)


def _numpy(value):
    if isinstance(value, dict):
        return {key: _numpy(v) for key, v in value.items()}
    return None if value is None else np.asarray(ops.convert_to_numpy(value))


def _gradients(model, batch, labels, score):
    penalty_lib.check_options(score=score)
    batch = inputs_lib.GuidedBatch(*(_numpy(t) for t in batch))
    if labels is not None:
        labels = np.asarray(ops.convert_to_numpy(labels))
    inputs_lib.check_batch_structure(batch)
    autodiff.get().check_model_runs_here(model)
    # A forward pass builds the model and tells its number of classes, also
    # for subclassed backbones that cannot compute output shapes. One sample
    # is enough unless the labels default to the predicted classes.
    if labels is None and batch.source_labels is None:
        logits = ops.convert_to_numpy(model(batch.model_inputs(batch.images), training=False))
        labels = np.argmax(logits, -1)
    else:
        first = batch._replace(context=None if batch.context is None else _numpy(
            {key: value[:1] for key, value in batch.context.items()}
        ))
        logits = model(first.model_inputs(batch.images[:1]), training=False)
    num_classes = logits.shape[-1]
    if batch.source_labels is None:
        inputs_lib.check_labels_shape(labels.shape, batch.images.shape[0], num_classes,
                                      inputs_lib.scored_per_source(batch))
    inputs_lib.check_values(batch, labels, num_classes)

    images = ops.convert_to_tensor(batch.images)
    labels = None if labels is None else ops.convert_to_tensor(labels)
    source_labels = batch.source_labels
    if source_labels is not None:
        source_labels = ops.convert_to_tensor(source_labels)
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    # Tensors throughout: Keras (after 3.15) refuses a call whose dict mixes tensors and arrays.
    called = batch if batch.context is None else batch._replace(
        context={key: ops.convert_to_tensor(value) for key, value in batch.context.items()})

    def forward(images):
        y_pred, _ = model.stateless_call(
            trainable, non_trainable, called.model_inputs(images), training=False
        )
        return y_pred, None

    def scores_fn(y_pred):
        return penalty_lib.source_scores(y_pred, labels, source_labels, score)

    _, _, grads = autodiff.get().input_gradients(
        forward, images, scores_fn, create_graph=False
    )
    return grads, batch
