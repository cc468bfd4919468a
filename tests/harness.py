"""The checks many test files share, in the manner of keras-hub's `TestCase`.

- `assert_config_round_trip(obj)`: Keras serialisation gives back an object
  of the same type and config.
- `assert_keras_file_round_trip(model, inputs, path)`: `.keras` saving gives
  back a model that predicts the same.
- `assert_guided_fit(history)`: a guided fit ran with a live penalty and a
  finite loss.
- `run_layer_test(make, batch, check)`: a preprocessing layer, eagerly and
  inside `tf.data`, seeded (the same seed gives the same output, also after
  a config round trip), with `check(output)` on each output.
"""

import keras
import numpy as np
from layer_data import in_tf_data, to_numpy


def assert_config_round_trip(obj):
    """`obj` serialised and deserialised: same type, same config. Returns the copy."""
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(obj))
    assert type(restored) is type(obj)
    assert restored.get_config() == obj.get_config()
    return restored


def assert_keras_file_round_trip(model, inputs, path, rtol=1e-5, atol=1e-5):
    """`model` saved to and loaded from `path` (a `.keras` file) predicts as `model` does on `inputs`.

    Returns the loaded model.
    """
    model.save(str(path))
    loaded = keras.saving.load_model(str(path))
    assert type(loaded) is type(model)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded.predict(inputs, verbose=0)),
        keras.ops.convert_to_numpy(model.predict(inputs, verbose=0)),
        rtol=rtol, atol=atol,
    )
    return loaded


def assert_guided_fit(history):
    """Every epoch of a guided `fit` had a finite loss and a positive penalty."""
    losses, penalties = history.history["loss"], history.history["guidance_penalty"]
    assert np.all(np.isfinite(losses)), losses
    assert min(penalties) > 0, penalties


def run_layer_test(make, batch, check=None):
    """A preprocessing layer from `make()`, called on `batch` (a dict of arrays).

    - Eagerly and inside `tf.data`, the output has the same keys and
      `check(output)` holds (numpy outputs).
    - Two layers made alike (same seed) give the same output, and so does
      one rebuilt from the first's config.

    Returns the eager output.
    """
    layer = make()
    eager = to_numpy(layer(batch))
    streamed = to_numpy(in_tf_data(make(), batch))
    assert set(eager) == set(streamed), (sorted(eager), sorted(streamed))
    for output in (eager, streamed):
        if check is not None:
            check(output)
    again = to_numpy(make()(batch))
    restored = to_numpy(assert_config_round_trip(make())(batch))
    for other in (again, restored):
        keras.tree.assert_same_structure(other, eager)
        for a, b in zip(keras.tree.flatten(other), keras.tree.flatten(eager)):
            np.testing.assert_allclose(a, b, atol=1e-6)
    return eager
