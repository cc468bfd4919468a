"""The Keras internals keras-provguide relies on, where no public API serves.

Each is reached through one function here, and fails loudly, naming the
installed Keras version, when Keras moves it; `tests/test_package.py`
checks them all.
"""

import contextlib

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
    try:
        from keras.src.backend.tensorflow import nn
    except ImportError as error:
        raise _moved("the module `keras.src.backend.tensorflow.nn`") from error
    if not callable(getattr(nn, "_compute_moments", None)):
        raise _moved(
            "`keras.src.backend.tensorflow.nn._compute_moments`",
            " (guided TensorFlow steps would take BatchNorm's second derivative 1-5% off)",
        )
    return nn


@contextlib.contextmanager
def tensorflow_batchnorm_moments(moments):
    """Inside the block, Keras's TensorFlow BatchNormalization computes its statistics with `moments`.

    `moments(x, axes, keepdims) -> (mean, variance)`. Keras routes them
    through the private `_compute_moments`, which calls `tf.nn.moments`;
    no public hook replaces it. Raises, rather than silently keeping
    TensorFlow's, when Keras has moved it.
    """
    nn = _tensorflow_nn()
    original = nn._compute_moments
    nn._compute_moments = moments
    try:
        yield
    finally:
        nn._compute_moments = original


DataLayer = _data_layer()
