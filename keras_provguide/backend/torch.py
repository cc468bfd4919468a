"""PyTorch autodiff: `torch.autograd.grad(create_graph=True)`, run eagerly."""

import sys

import keras
import torch
from torch import distributed
from torch.autograd import forward_ad

from keras_provguide import keras_internals
from keras_provguide.guidance import step

#: Steps update state in place (BatchNorm statistics) as they run.
STATELESS_STEPS = False

#: The path `second_order="auto"` takes here, from `benchmarks/step_overhead.py`.
FASTEST_SECOND_ORDER = "double_backprop"


def check_model_runs_here(model):
    """Nothing to check: torch's kernels run every Keras data format (its path refusals: `second_order.py`)."""
    del model


def check_jit_compile(value):
    """Refuses `jit_compile=True`: `torch.compile` cannot differentiate the input gradient again."""
    if value:
        raise ValueError(
            "Expected `jit_compile=False` or 'auto' on the torch backend, "
            "received True: `torch.compile` cannot differentiate the input "
            "gradient a second time, so guided steps run eagerly on torch."
        )



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


def forward_over_reverse(forward, stateless_forward, images, scores_fn, directions_fn):
    # As on TensorFlow: first order from the stateful pass (BatchNorm updates
    # once), then one stateless dual-number pass per source.
    images = keras.ops.convert_to_tensor(images).detach()
    _, aux, grads = input_gradients(forward, images, scores_fn, create_graph=False)
    value, directions = directions_fn([g.detach() for g in grads])
    dual_forward = stateless_forward()
    y_pred, surrogate = None, torch.zeros((), device=images.device)
    with torch.enable_grad():
        for k, direction in enumerate(directions):
            tangent = direction.detach().to(images.dtype)
            with forward_ad.dual_level():
                primal, y_dot = forward_ad.unpack_dual(
                    dual_forward(forward_ad.make_dual(images, tangent))
                )
            if y_dot is None:  # The scores do not depend on the images.
                y_dot = torch.zeros_like(primal)
            # The chain rule through the scores in reverse mode: torch's
            # forward-mode formula of log_softmax edits a saved tensor in
            # place, which breaks the outer backward pass.
            (score_grad,) = torch.autograd.grad(
                scores_fn(primal)[k].sum(), primal, create_graph=True
            )
            surrogate = surrogate + (score_grad * y_dot).sum().float()
            y_pred = primal if y_pred is None else y_pred
    return y_pred, aux, value, surrogate


def _forward(model, training):
    return lambda images: (model(images, training=training), None)


def _trainable_key(model):
    return tuple(id(v) for v in model.trainable_weights)


def _distributed(model):
    """`model` in `DistributedDataParallel` when several processes train it, else `model`.

    Under `torchrun` (an initialised process group of more than one process),
    the forward pass runs through DDP, whose backward hooks average the
    parameter gradients over the processes as they are accumulated. The
    penalty's first-order input gradient is taken with respect to the images
    only, so the hooks fire in the final backward pass alone.

    Where Keras's torch trainer wraps the model itself (Keras after 3.15),
    its wrapper is the one used, so the model is never wrapped twice; see
    `GuidedTrainer.make_train_function`. Otherwise the wrapper is built here
    on the first training step (DDP broadcasts process 0's weights then),
    kept outside the model's tracked attributes, and built again when the
    process group or the set of trainable weights changes (DDP fixes the
    weights it reduces when it is built).
    """
    if keras_internals.torch_trainer_wraps_ddp(model):
        return keras_internals.torch_keras_ddp(model) or model
    if not (distributed.is_available() and distributed.is_initialized()):
        return model
    trainable = model.trainable_weights
    if distributed.get_world_size() == 1 or not trainable:
        return model
    key = (distributed.group.WORLD, _trainable_key(model))
    wrapper, built_for = model.__dict__.get("_distributed_wrapper", (None, None))
    if wrapper is None or built_for != key:
        device = trainable[0].value.device
        wrapper = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device] if device.type == "cuda" else None
        )
        model.__dict__["_distributed_wrapper"] = (wrapper, key)
    return wrapper


class GuidedTrainer:
    """The torch half of `kpg.GuidedModel`: its steps, eager, with `torch.autograd.grad(create_graph=True)`.

    Under `torchrun`, training runs through `DistributedDataParallel`.
    `jit_compile=True` is refused: `torch.compile` cannot double-backward.
    """

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        batch = step.unpack_and_check(x)
        # Eager: decide on the host, so a skipped step runs no penalty op at all.
        due = step.penalty_due(self, int(self.optimizer.iterations.numpy()))
        scale = step.loss_scale_variable(self)
        y_pred, _, penalty = step.forward_and_penalty(
            self, sys.modules[__name__], _forward(_distributed(self), True), batch, y, sample_weight,
            training=True, due=due, loss_scale=None if scale is None else scale.value,
        )
        self.zero_grad()
        loss = step.total_loss(
            self, x, y, y_pred, sample_weight, penalty, batch.images.shape[0], training=True, due=due
        )
        if self.optimizer is not None:
            loss = self.optimizer.scale_loss(loss)
        if self.trainable_weights:
            loss.backward()
            trainable_weights = self.trainable_weights[:]
            gradients = [v.value.grad for v in trainable_weights]
            with torch.no_grad():
                self.optimizer.apply(gradients, trainable_weights)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        batch = step.unpack_and_check(x)
        y_pred, _, penalty = step.forward_and_penalty(
            self, sys.modules[__name__], _forward(self, False), batch, y, sample_weight, training=False
        )
        y_pred, penalty = y_pred.detach(), penalty.detach()
        step.total_loss(
            self, x, y, y_pred, sample_weight, penalty, batch.images.shape[0], training=False
        )
        logs = self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        return step.drop_penalty_log_without_provenance(self, logs, batch)

    def make_train_function(self, force=False):
        """Keras's, keeping Keras's own DDP wrapper (where it builds one) in step with the trainable weights.

        Keras builds that wrapper once per model; the one built for other
        trainable weights (before a layer was frozen or unfrozen and the
        model recompiled) is rebuilt here before the new training function
        is made.
        """
        if not keras_internals.torch_trainer_wraps_ddp(self):
            return super().make_train_function(force)
        current = _trainable_key(self)
        wrapper = keras_internals.torch_keras_ddp(self)
        if wrapper is not None and self.__dict__.get("_keras_ddp_built_for") != (id(wrapper), current):
            keras_internals.torch_rebuild_keras_ddp(self)
        function = super().make_train_function(force)
        wrapper = keras_internals.torch_keras_ddp(self)
        if wrapper is not None:
            self.__dict__["_keras_ddp_built_for"] = (id(wrapper), current)
        return function

    def compile_from_config(self, config):
        # A model saved where steps compile (JAX, TensorFlow) loads here with eager steps.
        if isinstance(config, dict) and config.get("jit_compile") is True:
            config = dict(config, jit_compile="auto")
        return super().compile_from_config(config)

    @property
    def jit_compile(self):
        return keras.Model.jit_compile.fget(self)

    @jit_compile.setter
    def jit_compile(self, value):
        # Checked here rather than in an overridden `compile()`, which would
        # stop Keras from re-compiling the model when it is loaded.
        check_jit_compile(value)
        keras.Model.jit_compile.fset(self, value)
