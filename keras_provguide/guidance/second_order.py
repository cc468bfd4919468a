"""The second-order paths: how a training step takes the parameter gradient of the penalty `P`.

A registry, as Keras's `get(identifier)` for losses and optimizers: each
path is one function

    path(autodiff, model, forward, batch, scores_fn, sample_weight) -> (y_pred, aux, P)

that runs the step's forward pass once and returns the predictions, the
forward pass's auxiliary output (JAX's new state) and `P` in float32, whose
parameter gradient is the penalty's (exactly, or approximately where the
path says so). `autodiff` is the backend module of the trainer calling
(`keras_provguide/backend/<name>.py`), passed in by it: its
`input_gradients` and `forward_over_reverse` are the only framework calls.

`"auto"` is resolved here, to the path the backend measured fastest
(`autodiff.FASTEST_SECOND_ORDER`). A backend that cannot run a path right
says so with the path's entry (`refuses`), not in its own module.

Adding a path: one function and one `@register(...)` line, plus its tests
(against double backprop, on every backend, in `tests/test_second_order.py`).
"""

import dataclasses
from typing import Callable, Mapping

from keras import ops

from keras_provguide import keras_internals
from keras_provguide.guidance import forwards
from keras_provguide.guidance import penalty as penalty_lib


@dataclasses.dataclass(frozen=True)
class Path:
    """A registered path: its function, whether it is exact, and the backends that refuse it.

    `refuses` maps a backend name to `check(model)`, which raises a
    `ValueError` saying why that backend cannot run the path for `model`.
    """

    compute: Callable
    exact: bool
    refuses: Mapping[str, Callable] = dataclasses.field(default_factory=dict)


PATHS = {}


def register(name, exact, refuses=None):
    """Registers the decorated function as the path `name`."""

    def decorate(function):
        PATHS[name] = Path(function, exact, dict(refuses or {}))
        return function

    return decorate


def choices():
    """Every value `GuidedModel(second_order=...)` accepts."""
    return ("auto", *PATHS)


def check_name(name):
    if name not in choices():
        raise ValueError(f"Expected `second_order` in {choices()}, received {name!r}.")
    return name


def resolve(name, autodiff):
    """The path `name` names, `"auto"` resolved to the fastest exact path of `autodiff`'s backend."""
    return autodiff.FASTEST_SECOND_ORDER if check_name(name) == "auto" else name


def backend_name(autodiff):
    return autodiff.__name__.rsplit(".", 1)[-1]


def check_runs_here(model, autodiff):
    """Raises the `ValueError` of the backend's refusal of `model`'s path, if it has one."""
    refusal = PATHS[resolve(model.second_order, autodiff)].refuses.get(backend_name(autodiff))
    if refusal is not None:
        refusal(model)


class LossScaledBackward:
    """`autodiff` with its first-order backward pass scaled, for training under loss scaling.

    Under `mixed_float16` the task loss's backward pass runs at the
    optimizer's loss scale `s`, so that small half-precision gradients do
    not flush to zero; the input gradient's own backward pass is scaled the
    same way here: the scores are multiplied by `s / B` before they are
    differentiated (the task loss is a mean over the `B` samples, the
    scores a sum, so each sample's logits get the same cotangents as in the
    task's backward pass), and the input gradients are divided by it in
    float32. Forward-over-reverse's surrogate is divided by it too. The
    value of `P` and its parameter gradient are unchanged; the trainer's
    scaling of the total loss scales the second-order term. This is
    PyTorch's documented recipe for gradient penalties under automatic
    mixed precision (scale, differentiate, unscale, then penalise).
    """

    def __init__(self, autodiff, loss_scale):
        self.autodiff = autodiff
        self.loss_scale = loss_scale

    def __getattr__(self, name):  # STATELESS_STEPS, FASTEST_SECOND_ORDER, __name__.
        return getattr(self.autodiff, name)

    def _scale(self, images):
        batch_size = ops.cast(ops.shape(images)[0], "float32")
        return ops.cast(self.loss_scale, "float32") / batch_size

    def input_gradients(self, forward, images, scores_fn, create_graph=True):
        scale = self._scale(images)
        y_pred, aux, grads = self.autodiff.input_gradients(
            forward, images, _scaled(scores_fn, scale), create_graph=create_graph
        )
        return y_pred, aux, [ops.cast(g, "float32") / scale for g in grads]

    def forward_over_reverse(self, forward, stateless_forward, images, scores_fn, directions_fn):
        scale = self._scale(images)
        y_pred, aux, value, surrogate = self.autodiff.forward_over_reverse(
            forward, stateless_forward, images, _scaled(scores_fn, scale),
            lambda grads: directions_fn([ops.cast(g, "float32") / scale for g in grads]),
        )
        return y_pred, aux, value, surrogate / scale


def _scaled(scores_fn, scale):
    return lambda y_pred: [score * scale for score in scores_fn(y_pred)]


def compute(autodiff, model, forward, batch, scores_fn, sample_weight):
    """`(y_pred, aux, P)` of a training step by `model`'s path."""
    path = PATHS[resolve(model.second_order, autodiff)]
    return path.compute(autodiff, model, forward, batch, scores_fn, sample_weight)


# The backends' refusals.


def _torch_layer_normalization(model):
    """torch: the reverse-mode derivative of its forward-mode `layer_norm` formula is wrong.

    Measured with torch 2.13 against double backprop: parameter gradients
    through Keras's `LayerNormalization` differed by more than their own
    size (pytorch/pytorch#196700 reports the same formula's second-order JVP
    wrong). Forward-over-reverse differentiates exactly that; double
    backprop does not.
    """
    import keras

    found = [layer.name for layer in keras_internals.sublayers(model)
             if isinstance(layer, keras.layers.LayerNormalization)]
    if found:
        raise ValueError(
            "Expected `second_order='double_backprop'` (or 'auto') on torch for a model with "
            f"LayerNormalization (layers {found[:3]}): torch's reverse-mode derivative of its "
            "forward-mode layer_norm formula is wrong, so forward-over-reverse steps would be. "
            "Received second_order='forward_over_reverse'."
        )


def _tensorflow_graph_mode(model):
    """TensorFlow: in graph mode without XLA, finite-difference steps were sometimes wrong.

    Measured on a 2-core CPU (TF 2.21, 2026-11-24): the step's parameter
    update was wrong by 0.9 to 270 times its size in about one process in
    six, with oneDNN on or off and one inter-op thread, and never in 200
    steps with TensorFlow's graph optimizer (grappler) off, under XLA, or
    eagerly. The path runs only where it was measured right.
    """
    compiled = getattr(model, "compiled", False)
    if compiled and not model.run_eagerly and not model.jit_compile:
        raise ValueError(
            "Expected `jit_compile=True` (the default `'auto'` gives it) or `run_eagerly=True` "
            "in `compile` for `second_order='finite_difference'` on TensorFlow: in graph mode "
            "without XLA its steps are sometimes wrong (see `guidance/second_order.py`), "
            f"received jit_compile={model.jit_compile!r}, run_eagerly={model.run_eagerly!r}."
        )


# The paths.


@register("double_backprop", exact=True)
def double_backprop(autodiff, model, forward, batch, scores_fn, sample_weight):
    """The input gradient, itself differentiable: reverse mode over reverse mode."""
    y_pred, aux, grads = autodiff.input_gradients(forward, batch.images, scores_fn, create_graph=True)
    penalty = penalty_lib.penalty_from_gradients(
        grads, batch.provenance, model.norm, sample_weight, model.penalty_reduction
    )
    return y_pred, aux, penalty


@register("forward_over_reverse", exact=True, refuses={"torch": _torch_layer_normalization})
def forward_over_reverse(autodiff, model, forward, batch, scores_fn, sample_weight):
    """The first-order input gradient `g`, then the scores' forward-mode derivative along `dP/dg`.

    The surrogate `sum_k <u_k, d S_k / d x>` with `u_k = stop_gradient(dP/dg_k)`
    has the parameter gradient of `P` (see `penalty.penalty_directions`).
    """
    def directions_fn(grads):
        return penalty_lib.penalty_directions(
            grads, batch.provenance, model.norm, sample_weight, model.penalty_reduction
        )

    y_pred, aux, value, surrogate = autodiff.forward_over_reverse(
        forward, lambda: forwards.with_context(forwards.stateless_forward(model), batch), batch.images, scores_fn,
        directions_fn,
    )
    # The value of P, with the parameter gradient of the surrogate.
    return y_pred, aux, ops.stop_gradient(value) + surrogate - ops.stop_gradient(surrogate)


#: The smallest `finite_difference_step` whose score differences survive
#: half-precision rounding (about 1e-3 relative): measured relative errors
#: of the step on a smooth net under `mixed_float16` were 1.0 at 1e-2 (the
#: differences round to zero) and 0.01 at 3e-2, on TensorFlow and JAX.
HALF_PRECISION_MIN_STEP = 3e-2


@register("finite_difference", exact=False, refuses={"tensorflow": _tensorflow_graph_mode})
def finite_difference(autodiff, model, forward, batch, scores_fn, sample_weight):
    """`P`, with the parameter gradient of a forward difference in place of the exact one.

    The exact parameter gradient of `P` is that of `sum_k <u_k, d S_k / d x>`
    with `u_k = stop_gradient(dP/dg_k)`, the derivative of the summed score
    `S_k` along `u_k`. Here it is `(S_k(x + a u_k) - S_k(x)) / a`, whose
    parameter gradient is a difference of two first-order ones (Finlay and
    Oberman, 2019); `a` makes the shift's root-mean-square
    `finite_difference_step` times the images'. The clean pass is the step's
    own (its state updates, its predictions feed the task loss); the shifted
    pass is stateless and draws the same random numbers where the model's
    random layers are seeded.

    On smooth networks (tanh, softplus, GELU) the step converges to the
    exact one, the error linear in `finite_difference_step`. Through ReLU
    kinks it does not (relative error of the parameter step 0.1 to 0.9 on
    ReLU CNNs at steps 1e-1 to 1e-2): it is then a penalty on score changes
    over a small neighbourhood, to be judged by its effect
    (`benchmarks/cheaper_guidance.md`).
    """
    _check_step_survives_rounding(model)
    shifted_forward = forwards.state_free(autodiff, model, forward, batch)  # Before the clean pass.
    images = ops.convert_to_tensor(batch.images)
    y_pred, aux, grads = autodiff.input_gradients(forward, images, scores_fn, create_graph=False)
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
    return y_pred, aux, ops.stop_gradient(value) + surrogate - ops.stop_gradient(surrogate)


def _check_step_survives_rounding(model):
    half = sorted({
        layer.compute_dtype for layer in keras_internals.sublayers(model.classifier)
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
