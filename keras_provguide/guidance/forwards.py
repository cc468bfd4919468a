"""The forward passes the steps and the second-order paths share: with the batch's context, and state-free."""

from keras import ops


def with_context(forward, batch):
    """`forward` of the differentiated input alone: the batch's context (keypoint structure) added back.

    The backends' forward passes take the model's whole input; the
    second-order paths differentiate, and shift, only `batch.images`.
    """
    if batch.context is None:
        return forward
    return lambda images: forward(batch.model_inputs(images))


def state_free(autodiff, model, forward, batch):
    """A training forward pass that updates no state: `forward` where steps are stateless (JAX).

    `forward` already carries the context of `batch`; the stateless one is
    given it here.
    """
    if autodiff.STATELESS_STEPS:
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
