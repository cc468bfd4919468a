"""The Keras internals keras-provguide relies on, where no public API serves.

Each is reached through one function here, and fails loudly, naming the
installed Keras version, when Keras moves it; `tests/test_package.py`
checks them all.
"""

import contextlib
import importlib
import threading

import keras


def _data_layer():
    """Keras's base of preprocessing layers that run inside `tf.data` on any backend.

    No public class gives `tf.data` compatibility (`self.backend` switching
    to TensorFlow there); Keras's own preprocessing layers derive from it.
    """
    try:
        from keras.src.layers.preprocessing.data_layer import DataLayer
    except ImportError:
        try:  # Keras < 3.10 named it TFDataLayer.
            from keras.src.layers.preprocessing.tf_data_layer import TFDataLayer as DataLayer
        except ImportError as error:
            raise _moved("`keras.src.layers.preprocessing.data_layer.DataLayer`") from error
    return DataLayer


def _moved(what, consequence=""):
    return RuntimeError(
        f"keras-provguide expected {what} in Keras {keras.__version__}, which no longer has it"
        f"{consequence}: please report this with your Keras version."
    )


def sublayers(model):
    """Every layer nested in `model` (models, and layers inside custom layers), without `model`.

    `keras.Model.layers` lists only the top level and stops at custom layers
    that hold layers of their own; Keras's own tracking walks them all.
    """
    walk = getattr(model, "_flatten_layers", None)
    if walk is None:
        raise _moved("`Layer._flatten_layers`")
    return list(walk(include_self=False, recursive=True))


def _tensorflow_nn():
    # Keras 3.16 moved the module to `backend/tensorflow/ops/`; 3.15 has it one level up.
    for name in ("keras.src.backend.tensorflow.ops.nn", "keras.src.backend.tensorflow.nn"):
        try:
            nn = importlib.import_module(name)
            break
        except ImportError:
            continue
    else:
        raise _moved("the module `keras.src.backend.tensorflow.nn` (or `.ops.nn`)")
    if not callable(getattr(nn, "_compute_moments", None)):
        raise _moved(
            f"`{nn.__name__}._compute_moments`",
            " (guided TensorFlow steps would take BatchNorm's second derivative 1-5% off)",
        )
    return nn


# The moments each thread's innermost `tensorflow_batchnorm_moments` block asks for.
_active_moments = threading.local()
_install_lock = threading.Lock()


def _install_moments_dispatch(nn):
    """Routes Keras's `_compute_moments` through a per-thread choice, once per process.

    Outside every block the dispatcher calls Keras's own function, so the
    process keeps Keras's behaviour; inside, the block's. Being per thread,
    blocks are safe where several threads trace steps at once, as the
    replica threads of `tf.distribute.MirroredStrategy` do.
    """
    with _install_lock:
        if getattr(nn._compute_moments, "_keras_provguide_dispatch", False):
            return
        keras_moments = nn._compute_moments

        def dispatch(x, axes, keepdims):
            return (getattr(_active_moments, "moments", None) or keras_moments)(x, axes, keepdims)

        dispatch._keras_provguide_dispatch = True
        dispatch.keras_moments = keras_moments
        nn._compute_moments = dispatch


@contextlib.contextmanager
def tensorflow_batchnorm_moments(moments):
    """Inside the block, Keras's TensorFlow BatchNormalization computes its statistics with `moments`.

    `moments(x, axes, keepdims) -> (mean, variance)`. Keras routes them
    through the private `_compute_moments`, which calls `tf.nn.moments`;
    no public hook replaces it. Raises, rather than silently keeping
    TensorFlow's, when Keras has moved it. The choice holds for the calling
    thread only, and blocks nest.
    """
    _install_moments_dispatch(_tensorflow_nn())
    previous = getattr(_active_moments, "moments", None)
    _active_moments.moments = moments
    try:
        yield
    finally:
        _active_moments.moments = previous


def _attribute(obj, name, owner):
    if not hasattr(obj, name):
        raise _moved(f"`{owner}.{name}`")
    return getattr(obj, name)


def loss_tracker(model):
    """The `Mean` metric behind the logged `"loss"`.

    A custom `train_step` must update it (Keras's own steps do); it is not
    public, and a second tracker named `"loss"` would clash with it in the logs.
    """
    return _attribute(model, "_loss_tracker", "Trainer")


def compiled_metrics(model):
    """The metric objects given to `compile(metrics=...)`, flattened (empty before `compile`).

    Read before the first step, to check the data against the group-aware
    metrics; `model.metrics` lists them only once Keras has built them.
    """
    container = getattr(model, "_compile_metrics", None)
    if container is None:
        return []
    return keras.tree.flatten(_attribute(container, "_user_metrics", "CompileMetrics"))


@contextlib.contextmanager
def jax_layer_losses(model, losses):
    """Inside the block, `model.losses` are `losses`: the stateless call's `add_loss` terms (JAX).

    Keras's JAX trainer feeds a stateless forward pass's losses to
    `compute_loss` this way; there is no public route.
    """
    _attribute(model, "_losses_override", "Layer")
    if not losses:
        yield
        return
    model._losses_override.clear()
    model._losses_override = losses
    try:
        yield
    finally:
        model._losses_override.clear()


def jax_state_sharding_spec(model):
    """The sharding of the `(trainable, non_trainable, optimizer, metrics)` state under a distribution (JAX)."""
    return _attribute(model, "_get_state_sharding_spec", "JAXTrainer")()


def make_step_function(model, step):
    """Keras's wrapper of `step` into a `train_function` (the epoch loop's callee), JAX and TensorFlow.

    JAX takes a compiled `step(state, data)`; TensorFlow a `step(data)`,
    which it compiles as it compiles `train_step`. The public
    `make_train_function` wraps only `train_step` itself: two steps picked on
    the host (`penalty_every`) need the wrapper for each.
    """
    return _attribute(model, "_make_function", "JAXTrainer / TensorFlowTrainer")(step)


def torch_trainer_wraps_ddp(model):
    """Whether Keras's torch trainer wraps `model` in `DistributedDataParallel` itself.

    Keras after 3.15 builds `model.ddp_model` in `make_train_function` once
    `torch.distributed` is initialised (`TorchTrainer._initialize_ddp`), and
    its own steps call that wrapper; earlier versions have neither, and
    keras-provguide then builds its own. There is no public switch.
    """
    return callable(getattr(model, "_initialize_ddp", None))


def torch_keras_ddp(model):
    """Keras's `DistributedDataParallel` wrapper of `model`, or `None` before Keras builds it."""
    return _attribute(model, "ddp_model", "TorchTrainer")


def torch_rebuild_keras_ddp(model):
    """Has Keras build its wrapper of `model` again, for the weights trainable now.

    DDP fixes the parameters it reduces when it is built, and Keras builds
    its wrapper once per model; after a layer is frozen or unfrozen and the
    model recompiled, the old wrapper would wait for gradients that never come.
    """
    _attribute(model, "ddp_model", "TorchTrainer")
    object.__setattr__(model, "ddp_model", None)  # As Keras sets it: outside torch's module registry.
    model._initialize_ddp()


DataLayer = _data_layer()
