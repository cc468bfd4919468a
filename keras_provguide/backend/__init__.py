"""Per-backend autodiff and trainers for guided training.

Each sibling module (`tensorflow`, `torch`, `jax`) defines the names below,
with the same meaning in each; besides them, a module holds only what its
framework needs privately (TensorFlow's twice-differentiable BatchNorm
moments, torch's DDP wrapper and `jit_compile` rule). No other module of the
package imports a framework or asks which backend is active
(`tests/test_package.py` checks it), except the `tf.data` builders, which
are TensorFlow by nature:

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
  first step if the backend cannot run `model` at all (TensorFlow without
  oneDNN and `channels_first` convolutions). A backend's refusal of one
  second-order path is declared with the path, in
  `keras_provguide.guidance.second_order`.
- `FASTEST_SECOND_ORDER`: the path `second_order="auto"` takes, as measured.
- `STATELESS_STEPS`: whether the backend's forward passes return their
  state rather than update it (JAX), so the `penalty_fraction` sub-batch
  can reuse the step's forward pass.
- `GuidedTrainer`: the mixin `kpg.GuidedModel` takes as a base, as Keras's
  `Model` takes its backend's `Trainer`: `train_step` and `test_step` with
  the signatures of that backend's Keras trainer, and where the backend
  needs them `make_train_function` and the `jit_compile` rule. They pass
  their own module to `keras_provguide.guidance.step`, which holds what
  they share.

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


def guided_trainer():
    """The active backend's `GuidedTrainer` (imported when the package is).

    On a backend without autodiff (`numpy`), a stand-in whose steps raise the
    error `get()` gives, so that the package still imports.
    """
    try:
        return get().GuidedTrainer
    except ValueError as error:
        message = str(error)

        class UnsupportedBackendTrainer:
            def train_step(self, *args):
                raise ValueError(message)

            test_step = train_step

        return UnsupportedBackendTrainer
