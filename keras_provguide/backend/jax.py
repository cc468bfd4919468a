"""JAX autodiff: `jax.vjp` for input gradients inside the outer `jax.value_and_grad`.

Keras's JAX trainer is stateless: the steps take and return the model's
variable values, and the guidance weight is read from that state so that a
callback that changes it between epochs is seen by the compiled step.
"""

import functools
import sys

import jax
import jax.numpy as jnp
import keras

from keras_provguide import keras_internals
from keras_provguide.guidance import step

#: JAX's steps are stateless: a forward pass returns its state instead of updating it.
STATELESS_STEPS = True

#: The path `second_order="auto"` takes here, from `benchmarks/step_overhead.py`.
FASTEST_SECOND_ORDER = "forward_over_reverse"


def check_model_runs_here(model):
    """Nothing to check: XLA's CPU and GPU kernels run every Keras data format."""
    del model



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
    due=True, loss_scale=None,
):
    """Total loss and its parts from one stateless forward pass (`loss_scale`: see `step.forward_and_penalty`)."""

    def forward(images):
        y_pred, new_non_trainable, losses = model.stateless_call(
            trainable, non_trainable, images, return_losses=True, training=training
        )
        return y_pred, (new_non_trainable, losses)

    y_pred, (non_trainable_out, losses), penalty = step.forward_and_penalty(
        model, sys.modules[__name__], forward, batch, y, sample_weight, training=training, due=due,
        loss_scale=loss_scale,
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
    loss = step.with_penalty(model, loss, weight, penalty, training)
    return loss, (penalty, y_pred, non_trainable_out, metrics_values)


def _update_metrics(
    model, metrics_values, loss, penalty, x, y, y_pred, sample_weight, batch, due=True
):
    with keras.StatelessScope(
        state_mapping=list(zip(model.metrics_variables, metrics_values))
    ) as scope:
        step.track_loss_and_penalty(model, loss, penalty, batch.images.shape[0], due)
        logs = model.compute_metrics(x, y, y_pred, sample_weight)
    new_values = []
    for ref in model.metrics_variables:
        value = scope.get_current_value(ref)
        new_values.append(ref.value if value is None else value)
    return logs, new_values


def _train_step(model, state, data, due=None):
    """One guided step; `due` (a Python bool) fixes whether the penalty applies, `None` reads the step count."""
    trainable, non_trainable, optimizer_values, metrics_values = state
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    batch = step.unpack_and_check(x)
    if due is None:
        iterations = _value_of(
            model.optimizer.iterations, model.optimizer.variables, optimizer_values
        )
        due = step.penalty_due(model, iterations)

    scale = step.loss_scale_variable(model)
    if scale is not None:
        scale = _value_of(scale, model.optimizer.variables, optimizer_values)

    def scaled_loss(trainable, non_trainable):
        loss, aux = _guided_loss(
            model, trainable, non_trainable, metrics_values, x, y, sample_weight,
            batch, training=True, due=due, loss_scale=scale,
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


def _test_step(model, state, data):
    trainable, non_trainable, metrics_values = state
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    batch = step.unpack_and_check(x)
    loss, (penalty, y_pred, non_trainable, metrics_values) = _guided_loss(
        model, trainable, non_trainable, metrics_values, x, y, sample_weight,
        batch, training=False,
    )
    logs, metrics_values = _update_metrics(
        model, metrics_values, loss, penalty, x, y, y_pred, sample_weight, batch
    )
    logs = step.drop_penalty_log_without_provenance(model, logs, batch)
    return logs, (trainable, non_trainable, metrics_values)


class GuidedTrainer:
    """The JAX half of `kpg.GuidedModel`: its stateless steps, and its train function.

    `GuidedModel(GuidedTrainer, keras.Model)` takes it when the package is
    imported under this backend, as Keras's `Model` takes its backend's
    `Trainer`. Input gradients come from `jax.vjp` inside the outer
    `jax.value_and_grad`.
    """

    def train_step(self, state, data):
        return _train_step(self, state, data)

    def test_step(self, state, data):
        return _test_step(self, state, data)

    def make_train_function(self, force=False):
        """With `penalty_every > 1` under XLA, two compiled steps, guided and plain (`step.compiles_two_steps`)."""
        if self.train_function is not None and not force:
            return self.train_function
        if not step.compiles_two_steps(self):
            return super().make_train_function(force=force)
        out_shardings = None
        if keras.distribution.distribution() is not None:
            # As Keras's own step: the new state keeps the variables' layouts.
            out_shardings = (None, keras_internals.jax_state_sharding_spec(self))

        def compile_step(due):
            return jax.jit(functools.partial(_train_step, self, due=due), donate_argnums=0,
                           out_shardings=out_shardings)

        pick_step = step.pick_between_two_steps(self, compile_step)
        self.train_function = keras_internals.make_step_function(self, pick_step)
        return self.train_function
