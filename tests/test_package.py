"""Package-level promises: the public API and lazy backend imports."""

import os
import subprocess
import sys

import pytest
from conftest import BACKEND

import keras_provguide as kpg


def test_public_api_is_an_explicit_list():
    assert sorted(kpg.__all__) == [
        "GuidedModel", "callbacks", "data", "datasets", "fine_tuning", "guidance_penalty",
        "input_gradients", "layers", "localization", "losses", "metrics",
        "models", "visualization",
    ]
    for name in kpg.__all__:
        assert getattr(kpg, name) is not None


@pytest.mark.skipif(BACKEND == "tensorflow", reason="TensorFlow is the active backend")
def test_import_and_training_do_not_import_tensorflow():
    code = (
        "import sys, numpy as np, keras, keras_provguide as kpg\n"
        "m = kpg.GuidedModel(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))\n"
        "m.compile('sgd', keras.losses.SparseCategoricalCrossentropy(from_logits=True))\n"
        "x = {'images': np.ones((2, 4), 'float32'), 'provenance': np.ones((2, 4), 'float32')}\n"
        "m.fit(x, np.array([0, 1]), verbose=0)\n"
        "print('tensorflow' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=dict(os.environ, KERAS_BACKEND=BACKEND),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_keras_internals_are_where_the_package_expects_them():
    import keras

    from keras_provguide import keras_internals

    class Block(keras.layers.Layer):  # A custom layer holding a layer of its own.
        def __init__(self):
            super().__init__()
            self.norm = keras.layers.BatchNormalization()

        def call(self, x):
            return self.norm(x)

    inner = keras.Sequential([keras.Input((3,)), Block()])
    outer = keras.Sequential([keras.Input((3,)), inner, keras.layers.Dense(2)])
    found = keras_internals.sublayers(outer)
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in found)
    assert outer not in found

    class Moved:  # A Keras that renamed the internal: the error names the version.
        pass

    with pytest.raises(RuntimeError, match=keras.__version__.replace(".", r"\.")):
        keras_internals.sublayers(Moved())


def test_tensorflow_batchnorm_moments_route_keras_statistics_per_thread_or_fail_loudly(monkeypatch):
    import threading

    import keras
    import numpy as np

    from keras_provguide import keras_internals

    pytest.importorskip("tensorflow")
    nn = keras_internals._tensorflow_nn()  # where this Keras keeps TensorFlow's nn ops

    calls = []

    def counted(tag):
        def moments(x, axes, keepdims):
            calls.append(tag)
            return nn._compute_moments.keras_moments(x, axes, keepdims)  # Keras's own, counted
        return moments

    def keras_statistics():
        return nn._compute_moments(np.ones((4, 3), "float32"), [0], False)

    with keras_internals.tensorflow_batchnorm_moments(counted("outer")):
        keras_statistics()
        with keras_internals.tensorflow_batchnorm_moments(counted("inner")):
            keras_statistics()
        keras_statistics()
        # Another thread outside any block keeps Keras's own moments.
        worker = threading.Thread(target=keras_statistics)
        worker.start()
        worker.join()
    keras_statistics()  # Outside every block: Keras's own again.
    assert calls == ["outer", "inner", "outer"]
    if keras.backend.backend() == "tensorflow":  # Only TensorFlow's BatchNorm goes through it.
        with keras_internals.tensorflow_batchnorm_moments(counted("layer")):
            keras.layers.BatchNormalization()(np.ones((4, 3), "float32"), training=True)
        assert calls[-1] == "layer"
    monkeypatch.delattr(nn, "_compute_moments")
    with pytest.raises(RuntimeError, match=keras.__version__.replace(".", r"\.") + r".*BatchNorm's second derivative"):
        with keras_internals.tensorflow_batchnorm_moments(counted("gone")):
            pass


def test_trainer_internals_are_where_the_package_expects_them():
    import keras
    import numpy as np

    from keras_provguide import keras_internals

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert keras_internals.compiled_metrics(model) == []  # Not compiled yet.
    accuracy = keras.metrics.SparseCategoricalAccuracy()
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=[accuracy])
    assert keras_internals.compiled_metrics(model) == [accuracy]
    tracker = keras_internals.loss_tracker(model)
    assert isinstance(tracker, keras.metrics.Mean) and tracker.name == "loss"
    logs = model.evaluate(np.ones((4, 3)), np.zeros(4), verbose=0, return_dict=True)
    assert float(keras.ops.convert_to_numpy(tracker.result())) == logs["loss"]
    with keras_internals.jax_layer_losses(model, []):
        pass
    if keras.backend.backend() == "jax":
        trainable, non_trainable, _, _ = keras_internals.jax_state_sharding_spec(model)
        assert len(trainable) == len(model.trainable_variables) and non_trainable == []
        assert callable(keras_internals.make_step_function(model, lambda state, data: (None, state)))

    if keras.backend.backend() == "torch":
        # Keras 3.15 and earlier leave DDP to keras-provguide; a later Keras's
        # trainer has both halves (`tests/test_distributed.py` runs it, emulated).
        wraps = keras_internals.torch_trainer_wraps_ddp(model)
        assert wraps == hasattr(model, "ddp_model")
        if wraps:
            assert keras_internals.torch_keras_ddp(model) is None  # Built with the training function.

    class Moved:  # A Keras that renamed them: each error names the version.
        pass

    version = keras.__version__.replace(".", r"\.")
    assert not keras_internals.torch_trainer_wraps_ddp(Moved())
    for call in (keras_internals.loss_tracker, keras_internals.jax_state_sharding_spec,
                 lambda m: keras_internals.make_step_function(m, None), keras_internals.torch_keras_ddp,
                 keras_internals.torch_rebuild_keras_ddp):
        with pytest.raises(RuntimeError, match=version):
            call(Moved())
    with pytest.raises(RuntimeError, match=version):
        with keras_internals.jax_layer_losses(Moved(), [1.0]):
            pass


def test_no_framework_code_outside_the_backend_modules():
    """Framework imports and backend switches live in `keras_provguide/backend/` only."""
    import re
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent / "keras_provguide"
    # The tf.data builders are TensorFlow by nature, on every Keras backend.
    allowed = {"datasets/files.py", "data/from_directory.py", "data/steady_epochs.py"}
    pattern = re.compile(r"^\s*(import|from)\s+(jax|torch|tensorflow)\b|backend\(\)\s*[!=]=")
    found = []
    for path in package.rglob("*.py"):
        relative = path.relative_to(package).as_posix()
        if relative.startswith("backend/") or relative in allowed:
            continue
        found += [f"{relative}:{n}" for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert found == []
