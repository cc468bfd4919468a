"""TensorFlow autodiff: nested `tf.GradientTape`s."""

import keras
import tensorflow as tf


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


def _forward(model, training):
    return lambda images: (model(images, training=training), None)


def train_step(model, data):
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    batch = model._unpack_and_check(x, y)
    with tf.GradientTape() as tape:
        y_pred, _, penalty = model._forward_and_penalty(
            input_gradients, _forward(model, True), batch, y, sample_weight
        )
        loss = model._compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True
        )
        loss = loss + model.guidance_weight * penalty
        model._track_loss_and_penalty(loss, penalty, tf.shape(batch.images)[0])
        if model.optimizer is not None:
            loss = model.optimizer.scale_loss(loss)
    if model.trainable_weights:
        trainable_weights = model.trainable_weights
        gradients = tape.gradient(loss, trainable_weights)
        model.optimizer.apply_gradients(zip(gradients, trainable_weights))
    return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


def test_step(model, data):
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    batch = model._unpack_and_check(x, y)
    y_pred, _, penalty = model._forward_and_penalty(
        input_gradients, _forward(model, False), batch, y, sample_weight
    )
    loss = model._compute_loss(
        x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False
    )
    loss = loss + model.guidance_weight * penalty
    model._track_loss_and_penalty(loss, penalty, tf.shape(batch.images)[0])
    logs = model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
    return model._drop_penalty_log_without_provenance(logs, batch)
