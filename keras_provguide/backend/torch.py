"""PyTorch autodiff: `torch.autograd.grad(create_graph=True)`, run eagerly."""

import functools

import keras
import torch


def input_gradients(forward, images, scores_fn, create_graph=True):
    # Keras runs `evaluate` and `predict` under `torch.no_grad()`.
    with torch.enable_grad():
        images = keras.ops.convert_to_tensor(images).detach().requires_grad_(True)
        y_pred, aux = forward(images)
        grads = []
        for score in scores_fn(y_pred):
            (grad,) = torch.autograd.grad(
                score.sum(),
                images,
                create_graph=create_graph,
                retain_graph=True,
                allow_unused=True,
            )
            grads.append(torch.zeros_like(images) if grad is None else grad)
    return y_pred, aux, grads


def _forward(model, training):
    return lambda images: (model(images, training=training), None)


def train_step(model, data):
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    batch = model._unpack_and_check(x)
    y_pred, _, penalty = model._forward_and_penalty(
        input_gradients, _forward(model, True), batch, y, sample_weight
    )
    model.zero_grad()
    loss = model._total_loss(
        x, y, y_pred, sample_weight, penalty, batch.images.shape[0], training=True
    )
    if model.optimizer is not None:
        loss = model.optimizer.scale_loss(loss)
    if model.trainable_weights:
        loss.backward()
        trainable_weights = model.trainable_weights[:]
        gradients = [v.value.grad for v in trainable_weights]
        with torch.no_grad():
            model.optimizer.apply(gradients, trainable_weights)
    return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


def test_step(model, data):
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    batch = model._unpack_and_check(x)
    y_pred, _, penalty = model._forward_and_penalty(
        functools.partial(input_gradients, create_graph=False),
        _forward(model, False),
        batch,
        y,
        sample_weight,
    )
    y_pred, penalty = y_pred.detach(), penalty.detach()
    model._total_loss(
        x, y, y_pred, sample_weight, penalty, batch.images.shape[0], training=False
    )
    logs = model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
    return model._drop_penalty_log_without_provenance(logs, batch)
