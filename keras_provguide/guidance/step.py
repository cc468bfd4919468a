"""The steps' shared orchestration, backend-free: which forward, which samples, which steps, which loss.

Each backend's `GuidedTrainer` (`keras_provguide/backend/<name>.py`) owns
its Keras trainer protocol and passes its own module (`autodiff`: its
`input_gradients` and `forward_over_reverse`) to these functions, which do
the rest: the batch checks, whether a step applies the penalty
(`penalty_due`), one forward pass with the penalty `P` by the model's
second-order path (`second_order.py`), the total loss with its logs, and
the switch between two compiled steps. They read the `GuidedModel`'s options
and never import a framework.
"""

import itertools

import keras
import numpy as np
from keras import ops

from keras_provguide import keras_internals
from keras_provguide.guidance import forwards, second_order
from keras_provguide.guidance import inputs as inputs_lib
from keras_provguide.guidance import penalty as penalty_lib


def unpack_and_check(x):
    """The batch's `GuidedBatch`, its structure checked (traceable: no values read)."""
    batch = inputs_lib.unpack_inputs(x)
    inputs_lib.check_batch_structure(batch)
    return batch


def penalty_due(model, step):
    """Whether training step `step` (0-based) applies the penalty.

    A Python bool for a Python int (decided on the host: torch's eager
    steps, and the pick between two compiled steps); a boolean tensor for a
    tensor (decided inside one compiled step).
    """
    if model.penalty_every == 1:
        return True
    if isinstance(step, (int, np.integer)):
        return int(step) % model.penalty_every == 0
    return ops.equal(ops.mod(ops.cast(step, "int32"), model.penalty_every), 0)


def compiles_two_steps(model):
    """Whether training compiles a guided and a plain step apart, picked per step on the host.

    Compilers (XLA) run the branches of a conditional far more slowly than
    the same ops outside one (measured on CPU: 23x a plain step on JAX at
    `penalty_every=2`, 42x on TensorFlow with finite differences at 4);
    graph mode and eager steps keep one step.
    """
    return (model.penalty_every > 1 and model.guidance_enabled and not model.run_eagerly
            and bool(model.jit_compile))


def pick_between_two_steps(model, compile_step):
    """A train function running `compile_step(True)` on the steps that apply the penalty, `compile_step(False)` else."""
    steps = {due: compile_step(due) for due in (True, False)}
    counter = itertools.count(int(ops.convert_to_numpy(model.optimizer.iterations)))

    def pick_step(*args):
        return steps[penalty_due(model, next(counter))](*args)

    return pick_step


def loss_scale_variable(model):
    """The dynamic loss scale of `model`'s `LossScaleOptimizer` (`mixed_float16`), else `None`.

    Each trainer reads its value its own way (JAX from the step's state).
    """
    optimizer = getattr(model, "optimizer", None)
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer) and optimizer.built:
        return optimizer.dynamic_scale
    return None


def forward_and_penalty(model, autodiff, forward, batch, y, sample_weight, training, due=True,
                        loss_scale=None):
    """One forward pass; returns `(y_pred, aux, P)` with `P` in float32.

    In training, `P` is differentiable to second order by the path
    `model.second_order` names (`second_order.py`); in evaluation, first
    order suffices. `autodiff` is the calling trainer's backend module. `due`
    is a Python bool (decided outside the compiled step) or a boolean tensor;
    where it is false, the step is a plain forward pass with `P = 0`.

    `loss_scale` (training under a `LossScaleOptimizer`: the value of
    `loss_scale_variable(model)`) scales the first-order backward pass of
    the input gradient as the task loss's backward pass is scaled, so that
    its half-precision intermediates do not underflow; the input gradient
    is unscaled in float32 before `P` is formed from it (see
    `second_order.LossScaledBackward`). The trainers scale the total loss,
    and with it the second-order term.
    """
    forward = forwards.with_context(forward, batch)

    def plain():
        y_pred, aux = forward(batch.images)
        return y_pred, aux, ops.zeros((), dtype="float32")

    def guided():
        scaled = autodiff if loss_scale is None else second_order.LossScaledBackward(autodiff, loss_scale)
        if training and model.penalty_fraction < 1.0:
            return _sub_batch_forward(model, scaled, forward, batch, y, sample_weight)
        return _full_batch_forward(model, scaled, forward, batch, y, sample_weight, training)

    if batch.provenance is None or (training and not model.guidance_enabled):
        return plain()
    if not training or due is True:
        return guided()
    if due is False:
        return plain()
    return ops.cond(due, guided, plain)


def _sub_batch_forward(model, autodiff, forward, batch, y, sample_weight):
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
    # The full batch's pass updates the statistics; the sub-batch's does not.
    sub_forward = forwards.state_free(autodiff, model, forward, sub_batch)
    _, _, penalty = _full_batch_forward(
        model, autodiff, sub_forward, sub_batch, head(y), head(sample_weight), training=True
    )
    return y_pred, aux, penalty


def _full_batch_forward(model, autodiff, forward, batch, y, sample_weight, training):
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

    if training:
        return second_order.compute(autodiff, model, forward, batch, scores_fn, sample_weight)
    y_pred, aux, grads = autodiff.input_gradients(forward, batch.images, scores_fn, create_graph=False)
    penalty = penalty_lib.penalty_from_gradients(
        grads, batch.provenance, model.norm, sample_weight, model.penalty_reduction
    )
    return y_pred, aux, penalty


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
    loss = with_penalty(model, loss, model.guidance_weight, penalty, training, replicas)
    track_loss_and_penalty(model, loss * replicas, penalty, batch_size, due)
    return loss


def with_penalty(model, task_loss, guidance_weight, penalty, training, replicas=1):
    """The total loss, written once: `task_loss + guidance_weight * scale * penalty / replicas`.

    The scale is `model.penalty_scale` in training (the lazy rescaling of
    `penalty_every`), 1 in evaluation. JAX passes the guidance weight's value
    from its step's state.
    """
    scale = model.penalty_scale if training else 1
    return task_loss + guidance_weight * scale * penalty / replicas


def track_loss_and_penalty(model, loss, penalty, batch_size, due=True):
    keras_internals.loss_tracker(model).update_state(loss, sample_weight=batch_size)
    # Steps that skip the penalty do not pull its logged mean to zero.
    weight = batch_size if due is True else batch_size * ops.cast(due, "int32")
    model.penalty_tracker.update_state(penalty, sample_weight=weight)


def drop_penalty_log_without_provenance(model, logs, batch):
    if batch.provenance is None:
        logs.pop(model.penalty_tracker.name, None)
    return logs
