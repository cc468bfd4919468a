"""JAX autodiff: `jax.vjp` for input gradients inside the outer `jax.value_and_grad`.

Keras's JAX trainer is stateless: the steps take and return the model's
variable values, and the guidance weight is read from that state so that a
callback that changes it between epochs is seen by the compiled step.
"""

import functools
import itertools

import jax
import jax.numpy as jnp
import keras

from keras_provguide import keras_internals

#: The path `second_order="auto"` takes here, from `benchmarks/step_overhead.py`.
FASTEST_SECOND_ORDER = "forward_over_reverse"


def check_model_runs_here(model):
    """Nothing to check: XLA's CPU and GPU kernels run every Keras data format."""
    del model


def check_jit_compile(value):
    """Every `jit_compile` setting works: XLA compiles the second-order step."""
    del value


def sub_batch_forward(model, forward):
    """The forward pass of `penalty_fraction`'s sub-batch: JAX's is stateless already."""
    del model
    return forward


def make_train_function(model):
    """Two compiled steps, guided and plain, picked per step on the host; `None` for Keras's own.

    With `penalty_every > 1`, XLA on CPU runs the branches of a `lax.cond`
    an order of magnitude slower than the same ops outside one (measured:
    23x a plain step at penalty_every=2).
    """
    if model.penalty_every == 1 or not model.guidance_enabled or model.run_eagerly or not model.jit_compile:
        return None
    out_shardings = None
    if keras.distribution.distribution() is not None:
        # As Keras's own step: the new state keeps the variables' layouts.
        out_shardings = (None, keras_internals.jax_state_sharding_spec(model))
    steps = {
        due: jax.jit(functools.partial(train_step, model, due=due), donate_argnums=0, out_shardings=out_shardings)
        for due in (True, False)
    }
    counter = itertools.count(int(keras.ops.convert_to_numpy(model.optimizer.iterations)))

    def step(state, data):
        return steps[next(counter) % model.penalty_every == 0](state, data)

    return keras_internals.jax_make_function(model, step)


def input_gradients(forward, images, scores_fn, create_graph=True):
    del create_graph  # JAX differentiates any traced computation again.

    def totals(images):
        y_pred, aux = forward(images)
        return jnp.stack([jnp.sum(s) for s in scores_fn(y_pred)]), (y_pred, aux)

    values, vjp_fn, (y_pred, aux) = jax.vjp(totals, images, has_aux=True)
    basis = jnp.eye(values.shape[0], dtype=values.dtype)
    grads = [vjp_fn(basis[i])[0] for i in range(values.shape[0])]
    return y_pred, aux, grads


def forward_over_reverse(forward, stateless_forward, images, scores_fn, directions_fn):
    del stateless_forward  # The JAX forward pass is stateless already.
    # One linearization serves both halves: its transpose gives the input
    # gradients, and pushing the directions through it gives the tangents.
    y_pred, jvp_fn, aux = jax.linearize(forward, images, has_aux=True)

    def totals(y):
        return jnp.stack([jnp.sum(s) for s in scores_fn(y)])

    values, vjp_scores = jax.vjp(totals, y_pred)
    transpose = jax.linear_transpose(jvp_fn, images)
    basis = jnp.eye(values.shape[0], dtype=values.dtype)
    grads = [
        jax.lax.stop_gradient(transpose(vjp_scores(basis[i])[0])[0])
        for i in range(values.shape[0])
    ]
    value, directions = directions_fn(grads)
    surrogate = jnp.zeros((), "float32")
    for k, direction in enumerate(directions):
        y_dot = jvp_fn(jax.lax.stop_gradient(direction).astype(images.dtype))
        _, derivative = jax.jvp(lambda y, k=k: totals(y)[k], (y_pred,), (y_dot,))
        surrogate = surrogate + derivative.astype("float32")
    return y_pred, aux, value, surrogate


def _value_of(variable, variables, values):
    for v, value in zip(variables, values):
        if v is variable:
            return value
    raise ValueError(f"Variable {variable.path} is not part of the model state.")


def _guided_loss(
    model, trainable, non_trainable, metrics_values, x, y, sample_weight, batch, training,
    due=None,
):
    """Total loss and its parts from one stateless forward pass."""

    def forward(images):
        y_pred, new_non_trainable, losses = model.stateless_call(
            trainable, non_trainable, images, return_losses=True, training=training
        )
        return y_pred, (new_non_trainable, losses)

    y_pred, (non_trainable_out, losses), penalty = model._forward_and_penalty(
        forward, batch, y, sample_weight, training=training, due=due
    )
    with keras_internals.jax_layer_losses(model, losses):
        loss, (_, _, metrics_values) = model.stateless_compute_loss(
            trainable,
            non_trainable_out,
            metrics_values,
            x=x,
            y=y,
            y_pred=y_pred,
            sample_weight=sample_weight,
            training=training,
        )
    weight = _value_of(model.guidance_weight, model.non_trainable_variables, non_trainable)
    loss = loss + weight * penalty
    return loss, (penalty, y_pred, non_trainable_out, metrics_values)


def _update_metrics(
    model, metrics_values, loss, penalty, x, y, y_pred, sample_weight, batch, due=None
):
    with keras.StatelessScope(
        state_mapping=list(zip(model.metrics_variables, metrics_values))
    ) as scope:
        model._track_loss_and_penalty(loss, penalty, batch.images.shape[0], due)
        logs = model.compute_metrics(x, y, y_pred, sample_weight)
    new_values = []
    for ref in model.metrics_variables:
        value = scope.get_current_value(ref)
        new_values.append(ref.value if value is None else value)
    return logs, new_values


def train_step(model, state, data, due=None):
    """One guided step; `due` (a Python bool) fixes whether the penalty applies."""
    trainable, non_trainable, optimizer_values, metrics_values = state
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    batch = model._unpack_and_check(x)
    if due is None:
        iterations = _value_of(
            model.optimizer.iterations, model.optimizer.variables, optimizer_values
        )
        due = model._penalty_due(iterations)

    def scaled_loss(trainable, non_trainable):
        loss, aux = _guided_loss(
            model, trainable, non_trainable, metrics_values, x, y, sample_weight,
            batch, training=True, due=due,
        )
        unscaled = loss
        if model.optimizer is not None:
            with keras.StatelessScope(
                state_mapping=list(zip(model.optimizer.variables, optimizer_values))
            ):
                loss = model.optimizer.scale_loss(loss)
        return loss, (unscaled,) + aux

    (_, aux), grads = jax.value_and_grad(scaled_loss, has_aux=True)(
        trainable, non_trainable
    )
    unscaled, penalty, y_pred, non_trainable, metrics_values = aux
    trainable, optimizer_values = model.optimizer.stateless_apply(
        optimizer_values, grads, trainable
    )
    logs, metrics_values = _update_metrics(
        model, metrics_values, unscaled, penalty, x, y, y_pred, sample_weight, batch, due
    )
    return logs, (trainable, non_trainable, optimizer_values, metrics_values)


def test_step(model, state, data):
    trainable, non_trainable, metrics_values = state
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    batch = model._unpack_and_check(x)
    loss, (penalty, y_pred, non_trainable, metrics_values) = _guided_loss(
        model, trainable, non_trainable, metrics_values, x, y, sample_weight,
        batch, training=False,
    )
    logs, metrics_values = _update_metrics(
        model, metrics_values, loss, penalty, x, y, y_pred, sample_weight, batch
    )
    logs = model._drop_penalty_log_without_provenance(logs, batch)
    return logs, (trainable, non_trainable, metrics_values)
