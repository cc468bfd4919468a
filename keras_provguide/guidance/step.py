"""The steps' shared orchestration, backend-free: which forward, which second-order path, which samples, which steps.

Each backend's `GuidedTrainer` (`keras_provguide/backend/<name>.py`) owns
its autodiff and its Keras trainer protocol, and calls these functions for
everything else: the batch checks, whether a step applies the penalty (`due`:
a Python bool, or a boolean tensor decided inside a compiled step), one
forward pass with the penalty `P`, and the total loss with its logs. They
read the `GuidedModel`'s options (`score`, `norm`, `penalty_reduction`,
`second_order_path`, `penalty_every`, `penalty_fraction`,
`guidance_enabled`, `guidance_weight`) and never import a framework.
"""

import numpy as np
from keras import ops

from keras_provguide import backend as autodiff
from keras_provguide import keras_internals
from keras_provguide.guidance import inputs as inputs_lib
from keras_provguide.guidance import penalty as penalty_lib


def unpack_and_check(x):
    """The batch's `GuidedBatch`, its structure checked (traceable: no values read)."""
    batch = inputs_lib.unpack_inputs(x)
    inputs_lib.check_batch_structure(batch)
    return batch


def penalty_due(model, step):
    """Whether training step `step` (0-based) applies the penalty: `True`, or a boolean tensor."""
    if model.penalty_every == 1:
        return True
    return ops.equal(ops.mod(ops.cast(step, "int32"), model.penalty_every), 0)


def forward_and_penalty(model, forward, batch, y, sample_weight, training, due=True):
    """One forward pass; returns `(y_pred, aux, P)` with `P` in float32.

    In training, `P` is differentiable to second order by the path
    `second_order` names; in evaluation, first order suffices. `due` is a
    Python bool (decided outside the compiled step) or a boolean tensor;
    where it is false, the step is a plain forward pass with `P = 0`.
    """

    forward = with_context(forward, batch)

    def plain():
        y_pred, aux = forward(batch.images)
        return y_pred, aux, ops.zeros((), dtype="float32")

    if batch.provenance is None or (training and not model.guidance_enabled):
        return plain()
    if not training:
        return _guided_forward(model, forward, batch, y, sample_weight, training)
    if isinstance(due, bool):
        return _guided_forward(model, forward, batch, y, sample_weight, training) if due else plain()
    return ops.cond(due, lambda: _guided_forward(model, forward, batch, y, sample_weight, training), plain)


def _guided_forward(model, forward, batch, y, sample_weight, training):
    if training and model.penalty_fraction < 1.0:
        return _sub_batch_forward(model, forward, batch, y, sample_weight)
    return _full_batch_forward(model, forward, batch, y, sample_weight, training)


def _sub_batch_forward(model, forward, batch, y, sample_weight):
    """Task predictions on the whole batch; the penalty on its first samples."""
    y_pred, aux = forward(batch.images)
    size = ops.shape(batch.images)[0]
    if isinstance(size, int):
        count = max(1, int(np.ceil(size * model.penalty_fraction)))
    else:  # A dynamic batch size (TensorFlow graphs): ceil keeps it >= 1.
        count = ops.cast(ops.ceil(ops.cast(size, "float32") * model.penalty_fraction), "int32")

    def head(value):
        if isinstance(value, dict):
            return {key: head(v) for key, v in value.items()}
        return None if value is None else value[:count]

    sub_batch = inputs_lib.GuidedBatch(*(head(v) for v in batch))
    sub_forward = _state_free(model, forward, sub_batch)  # The full batch updates the statistics.
    _, _, penalty = _full_batch_forward(
        model, sub_forward, sub_batch, head(y), head(sample_weight), training=True
    )
    return y_pred, aux, penalty


def _full_batch_forward(model, forward, batch, y, sample_weight, training):
    def scores_fn(y_pred):
        if batch.source_labels is None and model.score != "log_prob_sum":
            if y is None:
                raise ValueError(
                    f"score={model.score!r} needs labels: received provenance "
                    "without `y`."
                )
            inputs_lib.check_labels_shape(
                tuple(y.shape), batch.images.shape[0], y_pred.shape[-1], inputs_lib.scored_per_source(batch)
            )
        return penalty_lib.source_scores(y_pred, y, batch.source_labels, model.score)

    backend_autodiff = autodiff.get()
    if training and model.second_order_path == "finite_difference":
        return _finite_difference_forward(model, forward, batch, scores_fn, sample_weight)
    if training and model.second_order_path == "forward_over_reverse":

        def directions_fn(grads):
            return penalty_lib.penalty_directions(
                grads, batch.provenance, model.norm, sample_weight, model.penalty_reduction
            )

        y_pred, aux, value, surrogate = backend_autodiff.forward_over_reverse(
            forward, lambda: with_context(stateless_forward(model), batch), batch.images, scores_fn,
            directions_fn,
        )
        # The value of P, with the parameter gradient of the surrogate
        # (which equals that of P).
        penalty = ops.stop_gradient(value) + surrogate - ops.stop_gradient(surrogate)
        return y_pred, aux, penalty

    y_pred, aux, grads = backend_autodiff.input_gradients(
        forward, batch.images, scores_fn, create_graph=training
    )
    penalty = penalty_lib.penalty_from_gradients(
        grads, batch.provenance, model.norm, sample_weight, model.penalty_reduction
    )
    return y_pred, aux, penalty


def _finite_difference_forward(model, forward, batch, scores_fn, sample_weight):
    """`P`, with the parameter gradient of a forward difference in place of the exact one.

    The exact parameter gradient of `P` is that of `sum_k <u_k, d S_k / d x>`
    with `u_k = stop_gradient(dP/dg_k)` (see `penalty.penalty_directions`),
    the derivative of the summed score `S_k` along `u_k`. Here it is
    `(S_k(x + a u_k) - S_k(x)) / a`, whose parameter gradient is a
    difference of two first-order ones; `a` makes the shift's
    root-mean-square `finite_difference_step` times the images'. The clean
    pass is the step's own (its state updates, its predictions feed the task
    loss); the shifted pass is stateless.
    """
    _check_step_survives_rounding(model)
    shifted_forward = _state_free(model, forward, batch)  # Before the clean pass: the same random state.
    images = ops.convert_to_tensor(batch.images)
    y_pred, aux, grads = autodiff.get().input_gradients(forward, images, scores_fn, create_graph=False)
    value, directions = penalty_lib.penalty_directions(
        [ops.stop_gradient(g) for g in grads], batch.provenance, model.norm, sample_weight,
        model.penalty_reduction,
    )
    clean_scores = scores_fn(y_pred)
    scale = ops.stop_gradient(_root_mean_square(images))
    surrogate = ops.zeros((), dtype="float32")
    for k, direction in enumerate(directions):
        direction = ops.stop_gradient(direction)
        size = ops.maximum(_root_mean_square(direction), 1e-30)
        shift = model.finite_difference_step * scale / size
        shifted, _ = shifted_forward(images + ops.cast(shift * direction, images.dtype))
        # Per sample first, then summed: the small differences lose less to rounding.
        difference = ops.sum(scores_fn(shifted)[k] - clean_scores[k])
        surrogate = surrogate + difference / shift
    penalty = ops.stop_gradient(value) + surrogate - ops.stop_gradient(surrogate)
    return y_pred, aux, penalty


#: The smallest `finite_difference_step` whose score differences survive
#: half-precision rounding (about 1e-3 relative): measured relative errors
#: of the step on a smooth net under `mixed_float16` were 1.0 at 1e-2 (the
#: differences round to zero) and 0.01 at 3e-2, on TensorFlow and JAX.
HALF_PRECISION_MIN_STEP = 3e-2


def _check_step_survives_rounding(model):
    half = sorted({
        layer.compute_dtype for layer in keras_internals.sublayers(model.backbone)
        if layer.compute_dtype in ("float16", "bfloat16")
    })
    if half and model.finite_difference_step < HALF_PRECISION_MIN_STEP:
        raise ValueError(
            f"Expected `finite_difference_step >= {HALF_PRECISION_MIN_STEP}` for a model that "
            f"computes in {' and '.join(half)}: smaller steps' score differences round to zero "
            f"there. Received finite_difference_step={model.finite_difference_step}; raise it, "
            "or use an exact `second_order`."
        )


def _root_mean_square(tensor):
    return ops.sqrt(ops.mean(ops.square(ops.cast(tensor, "float32"))))


def with_context(forward, batch):
    """`forward` of the differentiated input alone: the batch's context (keypoint structure) added back.

    The backends' forward passes take the model's whole input; the
    second-order paths differentiate, and shift, only `batch.images`.
    """
    if batch.context is None:
        return forward
    return lambda images: forward(batch.model_inputs(images))


def _state_free(model, forward, batch):
    """A training forward pass that updates no state: `forward` where steps are stateless (JAX).

    `forward` already carries the context of `batch`; the stateless one is
    given it here.
    """
    if autodiff.get().STATELESS_STEPS:
        return forward  # Its state output is dropped.
    stateless = with_context(stateless_forward(model, snapshot=True), batch)
    return lambda images: (stateless(images), None)


def stateless_forward(model, snapshot=False):
    """The training forward pass without state updates (BatchNorm statistics).

    With `snapshot`, the state it reads (random layers' seeds included) is
    copied now, so that it runs from the state the step started with even
    after the step's own forward pass has updated it.
    """
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    if snapshot:
        non_trainable = [ops.copy(value) for value in non_trainable]

    def forward(images):
        y_pred, _ = model.stateless_call(trainable, non_trainable, images, training=True)
        return y_pred

    return forward


def total_loss(model, x, y, y_pred, sample_weight, penalty, batch_size, training, due=True, replicas=1):
    """Task loss plus weighted penalty, tracked for the logs (TF and torch steps).

    Under a `tf.distribute` strategy with `replicas` replicas, Keras
    scales each replica's task loss by `1 / replicas` because the
    replicas' gradients are summed; the replica's penalty (a mean over
    its share of the batch) is scaled the same way, and the logs get the
    unscaled loss.
    """
    loss = model.compute_loss(
        x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
    )
    loss = loss + model.guidance_weight * penalty_scale(model, training) * penalty / replicas
    track_loss_and_penalty(model, loss * replicas, penalty, batch_size, due)
    return loss


def penalty_scale(model, training):
    """The factor on `guidance_weight`: `model.penalty_scale` in training (lazy rescaling), 1 in evaluation."""
    return model.penalty_scale if training else 1


def track_loss_and_penalty(model, loss, penalty, batch_size, due=True):
    keras_internals.loss_tracker(model).update_state(loss, sample_weight=batch_size)
    # Steps that skip the penalty do not pull its logged mean to zero.
    weight = batch_size if due is True else batch_size * ops.cast(due, "int32")
    model.penalty_tracker.update_state(penalty, sample_weight=weight)


def drop_penalty_log_without_provenance(model, logs, batch):
    if batch.provenance is None:
        logs.pop(model.penalty_tracker.name, None)
    return logs
