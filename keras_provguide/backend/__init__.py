"""Per-backend autodiff for guided training.

Each sibling module (`tensorflow`, `torch`, `jax`) defines the same names
and nothing else; no other module of the package imports a framework or asks
which backend is active (`tests/test_package.py` checks it), except the
`tf.data` builders, which are TensorFlow by nature:

- `input_gradients(forward, images, scores_fn, create_graph=True)`: runs
  `forward(images) -> (y_pred, aux)` once and returns `(y_pred, aux, grads)`
  where `grads[i]` is d sum(scores_fn(y_pred)[i]) / d images, itself
  differentiable when `create_graph` is true (double backprop).
- `forward_over_reverse(forward, stateless_forward, images, scores_fn,
  directions_fn)`: the first-order `grads`, then `(P, [u_k]) =
  directions_fn(grads)`, then the forward-mode derivative of each score
  along its `u_k`. Returns `(y_pred, aux, P, surrogate)`; the surrogate's
  parameter gradient equals that of `P`.
- `check_model_runs_here(model)`: raises a clear `ValueError` before the
  first step if the backend's kernels on this machine cannot run `model`
  (TensorFlow without oneDNN and `channels_first` convolutions).
- `FASTEST_SECOND_ORDER`: the path `second_order="auto"` takes, as measured.
- `check_jit_compile(value)`: raises a clear `ValueError` for a
  `jit_compile` the backend cannot run guided steps under (torch: `True`).
- `make_train_function(model)`: the backend's own train function for
  `model`, or `None` for Keras's (JAX: two compiled steps with
  `penalty_every > 1`).
- `sub_batch_forward(model, forward)`: the forward pass of the
  `penalty_fraction` sub-batch (stateless).
- `train_step(model, ...)` and `test_step(model, ...)`: the `GuidedModel`
  steps, with the signatures Keras's trainer for that backend expects.

All maths of the penalty is in `keras_provguide.guidance.penalty`.
"""

import importlib

import keras


def get():
    """The autodiff module of the active Keras backend (imported lazily)."""
    name = keras.backend.backend()
    if name not in ("tensorflow", "torch", "jax"):
        raise ValueError(
            "keras-provguide needs the 'tensorflow', 'torch' or 'jax' Keras "
            f"backend for input gradients, received KERAS_BACKEND={name!r}."
        )
    return importlib.import_module(f"keras_provguide.backend.{name}")
