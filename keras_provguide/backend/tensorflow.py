"""TensorFlow autodiff: nested `tf.GradientTape`s."""

import functools
import inspect
import sys

import keras
import tensorflow as tf

from keras_provguide import keras_internals
from keras_provguide.guidance import step

#: Steps update state in place (BatchNorm statistics) as they run.
STATELESS_STEPS = False

#: The path `second_order="auto"` takes here, from `benchmarks/step_overhead.py`.
FASTEST_SECOND_ORDER = "double_backprop"

def _twice_differentiable_moments(x, axes, keepdims):
    # `tf.nn.moments` computes the variance around `stop_gradient(mean)`:
    # exact to first order (the mean's gradient through the variance is zero
    # at the point) but wrong to second order, where the mean's dependence on
    # the inputs adds a -1/N coupling term. Guided steps differentiate twice.
    mean = tf.reduce_mean(x, axes, keepdims=True)
    variance = tf.reduce_mean(tf.math.squared_difference(x, mean), axes, keepdims=True)
    if not keepdims:
        mean, variance = tf.squeeze(mean, axes), tf.squeeze(variance, axes)
    return mean, variance


def _exact_moments():
    return keras_internals.tensorflow_batchnorm_moments(_twice_differentiable_moments)


# Layers whose `channels_first` kernels TensorFlow's CPU runs only through
# oneDNN (Conv3D and the depthwise and pooling layers go through XLA or NHWC
# in Keras, and run everywhere).
_NCHW_LAYERS = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)


def check_model_runs_here(model):
    """Raises a `ValueError` before training if TensorFlow here cannot run `model`'s convolutions.

    Without oneDNN (which TensorFlow turns on by default only on CPUs with
    AVX-512 neural-network instructions, and `TF_ENABLE_ONEDNN_OPTS=0` turns
    off), TensorFlow's CPU kernels convolve and
    back-propagate `NCHW` tensors not at all, so a `channels_first`
    convolution fails deep inside the first step. A GPU runs them.
    """
    if tf.config.list_logical_devices("GPU") or nchw_convolutions_supported():
        return
    layers = [
        layer.name for layer in [model, *keras_internals.sublayers(model)]
        if isinstance(layer, _NCHW_LAYERS) and layer.data_format == "channels_first"
    ]
    if layers:
        raise ValueError(
            "Expected convolutions that TensorFlow can run on this CPU, received "
            f"`channels_first` layers {layers}: without oneDNN, TensorFlow's CPU "
            "kernels convolve and back-propagate channels-last (NHWC) tensors "
            "only. Build the model `channels_last` (e.g. "
            "`keras.config.set_image_data_format('channels_last')`), or set "
            "`TF_ENABLE_ONEDNN_OPTS=1` in the environment before TensorFlow is "
            "imported."
        )


@functools.cache
def nchw_convolutions_supported():
    """Whether this TensorFlow runs an `NCHW` convolution and both its gradients on the CPU.

    A one-pixel probe, run once per process: the answer depends on the build,
    the CPU and `TF_ENABLE_ONEDNN_OPTS`, which cannot change after import.
    """
    with tf.init_scope(), tf.device("/CPU:0"):
        images, kernel = tf.ones((1, 1, 2, 2)), tf.ones((1, 1, 1, 1))
        try:
            with tf.GradientTape() as tape:
                tape.watch([images, kernel])
                outputs = tf.nn.conv2d(images, kernel, 1, "VALID", data_format="NCHW")
            # Conv2DBackpropInput and Conv2DBackpropFilter.
            tape.gradient(outputs, [images, kernel])
        except (tf.errors.UnimplementedError, tf.errors.InvalidArgumentError):
            return False
    return True



def input_gradients(forward, images, scores_fn, create_graph=True):
    # An enclosing tape records the inner gradient computation, which is
    # what makes it differentiable: `create_graph` needs no action here.
    del create_graph
    images = tf.convert_to_tensor(images)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(images)
        y_pred, aux = forward(images)
        totals = [tf.reduce_sum(s) for s in scores_fn(y_pred)]
    grads = [
        tape.gradient(t, images, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        for t in totals
    ]
    del tape
    return y_pred, aux, grads


def forward_over_reverse(forward, stateless_forward, images, scores_fn, directions_fn):
    # The first-order input gradients come from the stateful forward pass, so
    # BatchNorm statistics update once per step, as in a plain step; the
    # dual pass is stateless and gives the predictions for the task loss.
    images = tf.convert_to_tensor(images)
    _, aux, grads = input_gradients(forward, images, scores_fn)
    value, directions = directions_fn([tf.stop_gradient(g) for g in grads])
    dual_forward = stateless_forward()
    y_pred, surrogate = None, 0.0
    for k, direction in enumerate(directions):
        tangent = tf.cast(tf.stop_gradient(direction), images.dtype)
        with tf.autodiff.ForwardAccumulator(images, tangent) as accumulator:
            y = dual_forward(images)
            total = tf.reduce_sum(scores_fn(y)[k])
        derivative = accumulator.jvp(total, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        surrogate = surrogate + tf.cast(derivative, "float32")
        y_pred = y if y_pred is None else y_pred
    return y_pred, aux, value, surrogate


def _replicas():
    """The replicas the batch is split over (`tf.distribute`; 1 without a strategy)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def _forward(model, training):
    return lambda images: (model(images, training=training), None)


_COMPILE = inspect.signature(keras.Model.compile)


@_exact_moments()
def _train_step(model, data, due=None):
    """One guided training step; `due` (a bool) fixes whether it applies the penalty, else a tensor decides."""
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    batch = step.unpack_and_check(x)
    if due is None:
        due = step.penalty_due(model, model.optimizer.iterations)
    scale = step.loss_scale_variable(model)
    with tf.GradientTape() as tape:
        y_pred, _, penalty = step.forward_and_penalty(
            model, sys.modules[__name__], _forward(model, True), batch, y, sample_weight, training=True, due=due,
            loss_scale=None if scale is None else scale.value,
        )
        loss = step.total_loss(
            model, x, y, y_pred, sample_weight, penalty, tf.shape(batch.images)[0],
            training=True, due=due, replicas=_replicas(),
        )
        if model.optimizer is not None:
            loss = model.optimizer.scale_loss(loss)
    if model.trainable_weights:
        trainable_weights = model.trainable_weights
        gradients = tape.gradient(loss, trainable_weights)
        model.optimizer.apply_gradients(zip(gradients, trainable_weights))
    return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


class GuidedTrainer:
    """The TensorFlow half of `kpg.GuidedModel`: its steps, with nested `tf.GradientTape`s.

    `GuidedModel(GuidedTrainer, keras.Model)` takes it when the package is
    imported under this backend, as Keras's `Model` takes its backend's
    `Trainer`. BatchNorm statistics are twice differentiable inside them.
    With `second_order="finite_difference"`, `jit_compile="auto"` means
    XLA (graph mode is refused for it: see `guidance/second_order.py`).
    """

    def compile(self, *args, **kwargs):
        arguments = _COMPILE.bind(self, *args, **kwargs)
        arguments.apply_defaults()
        options = arguments.arguments
        if (options["jit_compile"] == "auto" and not options["run_eagerly"]
                and self.second_order_path == "finite_difference"):
            options["jit_compile"] = True
        return super().compile(*arguments.args[1:], **arguments.kwargs)

    def compile_from_config(self, config):
        # Keras skips compiling, on load, a model whose `compile` is
        # overridden; this one only changes the `jit_compile` default.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def make_train_function(self, force=False):
        """With `penalty_every > 1` under XLA, two compiled steps, guided and plain (`step.compiles_two_steps`).

        Graph mode keeps one step with a `tf.cond`, which costs nothing
        measurable there.
        """
        if self.train_function is not None and not force:
            return self.train_function
        if not step.compiles_two_steps(self) or self.steps_per_execution != 1:
            return super().make_train_function(force)

        def compile_step(due):
            return keras_internals.make_step_function(self, functools.partial(_train_step, self, due=due))

        self.train_function = step.pick_between_two_steps(self, compile_step)
        return self.train_function

    def train_step(self, data):
        return _train_step(self, data)

    @_exact_moments()
    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        batch = step.unpack_and_check(x)
        y_pred, _, penalty = step.forward_and_penalty(
            self, sys.modules[__name__], _forward(self, False), batch, y, sample_weight, training=False
        )
        step.total_loss(
            self, x, y, y_pred, sample_weight, penalty, tf.shape(batch.images)[0], training=False,
            replicas=_replicas(),
        )
        logs = self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        return step.drop_penalty_log_without_provenance(self, logs, batch)
