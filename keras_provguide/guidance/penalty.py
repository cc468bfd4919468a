"""The maths of provenance-based input-gradient guidance, written once in `keras.ops`.

Everything here is a pure function of tensors. The backends only supply
"d score / d images, differentiably" (see `keras_provguide.backend`); the
scores that are differentiated and the masked norm of the result are defined
here, so that training, evaluation and the public analysis functions agree.
"""

from keras import ops

SCORES = ("logit", "log_prob_sum", "loss")
NORMS = ("l2", "l1")
REDUCTIONS = ("sum", "mean")


def check_options(score=None, norm=None, reduction=None):
    """Raises `ValueError` for a `score`, `norm` or `reduction` this module does not define."""
    if score is not None and score not in SCORES:
        raise ValueError(f"Expected `score` in {SCORES}, received {score!r}.")
    if norm is not None and norm not in NORMS:
        raise ValueError(f"Expected `norm` in {NORMS}, received {norm!r}.")
    if reduction is not None and reduction not in REDUCTIONS:
        raise ValueError(
            f"Expected `penalty_reduction` in {REDUCTIONS}, received {reduction!r}."
        )


def label_weights(labels, num_classes):
    """Class ids `(B,)` or one-hot/soft labels `(B, K)` as float32 `(B, K)`."""
    if len(labels.shape) == 1:
        return ops.one_hot(ops.cast(labels, "int32"), num_classes, dtype="float32")
    return ops.cast(labels, "float32")


def per_sample_scores(y_pred, labels, score):
    """The scalar per sample whose input gradient is guided, shape `(B,)`.

    Args:
        y_pred: class scores (logits) `(B, K)`, or `(B, S, K)` from a model
            that scores each of `S` mixed sources apart (the scores of the
            sources are added).
        labels: float32 label weights of `y_pred`'s shape, see `label_weights`.
        score: `"logit"` (the labelled class logit; for soft labels the
            label-weighted sum of logits), `"log_prob_sum"` (the sum over
            classes of log-softmax, label-free, as in Right for the Right
            Reasons) or `"loss"` (softmax cross-entropy against the labels).
    """
    logits = ops.cast(y_pred, "float32")
    axes = tuple(range(1, len(logits.shape)))
    if score == "logit":
        return ops.sum(labels * logits, axis=axes)
    log_probs = ops.log_softmax(logits, axis=-1)
    if score == "log_prob_sum":
        return ops.sum(log_probs, axis=axes)
    check_options(score=score)
    return -ops.sum(labels * log_probs, axis=axes)


def source_scores(y_pred, labels, source_labels, score):
    """One `(B,)` score per source: `[s_y]`, or `[s_a, s_b]` for two-source mixes.

    Source `i`'s score is read from the mix's one prediction `(B, K)`, or
    from its own row when the model scores the sources apart `(B, 2, K)`.
    """
    num_classes = y_pred.shape[-1]
    if source_labels is None:
        return [per_sample_scores(y_pred, label_weights(labels, num_classes), score)]
    source_labels = ops.cast(source_labels, "int32")
    per_source = len(y_pred.shape) == 3
    return [
        per_sample_scores(
            y_pred[:, i] if per_source else y_pred, label_weights(source_labels[:, i], num_classes), score
        )
        for i in range(2)
    ]


def off_target_gradients(input_gradients, provenance):
    """The part of the input gradient that provenance says must vanish.

    One source: `(1 - M) * g`. Two sources (`M` = share of source 0):
    `(1 - M) * g_a + M * g_b`, so that each source's score ignores the
    elements that came from the other source.
    """
    mask = ops.cast(provenance, "float32")
    grads = [ops.cast(g, "float32") for g in input_gradients]
    if len(grads) == 1:
        return (1.0 - mask) * grads[0]
    return (1.0 - mask) * grads[0] + mask * grads[1]


def per_sample_norm(tensor, norm, reduction="sum"):
    """Squared L2 or L1 norm of each sample, shape `(B,)`.

    `reduction="sum"` adds the terms over all of a sample's elements;
    `"mean"` averages them, so that the value does not grow with the number
    of elements (pixels, frames, channels) of an input.
    """
    check_options(norm=norm, reduction=reduction)
    axes = tuple(range(1, len(tensor.shape)))
    terms = ops.square(tensor) if norm == "l2" else ops.abs(tensor)
    return ops.sum(terms, axis=axes) if reduction == "sum" else ops.mean(terms, axis=axes)


def penalty_from_gradients(
    input_gradients, provenance, norm="l2", sample_weight=None, reduction="sum"
):
    """The guidance penalty `P` from input gradients, a float32 scalar.

    `P` is the mean over the batch of the per-sample norm of the off-target
    gradient (summed or averaged over a sample's elements, see
    `per_sample_norm`). With `sample_weight`, each sample's term is weighted
    and the sum is divided by the batch size, the reduction Keras uses for
    the task loss.
    """
    per_sample = per_sample_norm(
        off_target_gradients(input_gradients, provenance), norm, reduction
    )
    if sample_weight is not None:
        weights = ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
        per_sample = per_sample * weights
    return ops.mean(per_sample)


def penalty_directions(
    input_gradients, provenance, norm="l2", sample_weight=None, reduction="sum"
):
    """`P` and its gradient with respect to each input gradient, `(P, [dP/dg_k])`.

    The forward-over-reverse path needs these directions: the parameter
    gradient of `P` equals the parameter gradient of
    `sum_k <stop_gradient(dP/dg_k), d s_k / d x>`, a directional derivative
    that forward-mode autodiff gives without differentiating twice in reverse
    mode. Derived from `penalty_from_gradients`: with `o` the off-target
    gradient and `m_k` the mask of source `k` (`1 - M`, then `M`),
    `dP/dg_k = w_b / (B * n) * N'(o) * m_k`, `N'(o) = 2 o` for `"l2"` and
    `sign(o)` for `"l1"`, `n` = 1 for `reduction="sum"` and a sample's
    number of elements for `"mean"`.
    """
    off_target = off_target_gradients(input_gradients, provenance)
    per_sample = per_sample_norm(off_target, norm, reduction)
    batch_size = ops.cast(ops.shape(off_target)[0], "float32")
    count = batch_size
    if reduction == "mean":
        count = ops.cast(ops.size(off_target), "float32")  # B * n
    scale = ops.ones_like(per_sample) / count
    if sample_weight is not None:
        weights = ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
        per_sample = per_sample * weights
        scale = scale * weights
    scale = ops.reshape(scale, (-1,) + (1,) * (len(off_target.shape) - 1))
    slope = 2.0 * off_target if norm == "l2" else ops.sign(off_target)
    mask = ops.cast(provenance, "float32")
    masks = [1.0 - mask] if len(input_gradients) == 1 else [1.0 - mask, mask]
    directions = [scale * slope * m for m in masks]
    return ops.mean(per_sample), directions
