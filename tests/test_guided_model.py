"""GuidedModel inside fit / evaluate / predict, on the active backend."""

import os
import platform
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import BACKEND, conv_backbone, linear_backbone, requires_backend, sparse_ce
from harness import assert_keras_file_round_trip

import keras_provguide as kpg

RNG = np.random.default_rng(1)
B, K = 8, 3
SHAPE = (6, 6, 2)
IMAGES = RNG.random((B, *SHAPE)).astype("float32")
MASK = (RNG.random((B, 6, 6, 1)) > 0.5).astype("float32")
LABELS = (np.arange(B) % K).astype("int32")
W = RNG.normal(size=(int(np.prod(SHAPE)), K)).astype("float32")


def guided(weight=0.1, **kwargs):
    model = kpg.GuidedModel(linear_backbone(SHAPE, W), guidance_weight=weight, **kwargs)
    model.compile(keras.optimizers.SGD(0.01), sparse_ce(), metrics=["accuracy"])
    return model


def test_history_logs_loss_penalty_and_metrics():
    model = guided()
    history = model.fit({"images": IMAGES, "provenance": MASK}, LABELS, epochs=2, verbose=0)
    assert {"loss", "guidance_penalty", "accuracy"} <= set(history.history)
    assert all(p > 0 for p in history.history["guidance_penalty"])


def test_evaluate_reports_penalty_and_total_loss():
    model = guided(weight=0.25)
    x = {"images": IMAGES, "provenance": MASK}
    logs = model.evaluate(x, LABELS, verbose=0, return_dict=True)
    expected_p = kpg.guidance_penalty(model, IMAGES, MASK, LABELS)
    np.testing.assert_allclose(logs["guidance_penalty"], expected_p, rtol=1e-5)
    task = model.evaluate(IMAGES, LABELS, verbose=0, return_dict=True)
    assert "guidance_penalty" not in task
    np.testing.assert_allclose(logs["loss"], task["loss"] + 0.25 * expected_p, rtol=1e-5)


def test_batch_without_provenance_trains_as_erm():
    model = guided(weight=10.0)
    reference = keras.Sequential(
        [keras.Input(SHAPE), keras.layers.Flatten(), keras.layers.Dense(K)]
    )
    reference.set_weights(model.classifier.get_weights())
    reference.compile(keras.optimizers.SGD(0.01), sparse_ce())
    history = model.fit(IMAGES, LABELS, epochs=2, batch_size=4, shuffle=False, verbose=0)
    reference.fit(IMAGES, LABELS, epochs=2, batch_size=4, shuffle=False, verbose=0)
    assert history.history["guidance_penalty"] == [0.0, 0.0]
    for a, b in zip(model.classifier.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_predict_accepts_images_and_dicts():
    model = guided()
    expected = IMAGES.reshape(B, -1) @ W
    np.testing.assert_allclose(model.predict(IMAGES, verbose=0), expected, rtol=1e-4, atol=1e-5)
    from_dict = model.predict({"images": IMAGES, "provenance": MASK}, verbose=0)
    np.testing.assert_allclose(from_dict, expected, rtol=1e-4, atol=1e-5)


def _zero_loss(y_true, y_pred):
    return keras.ops.sum(y_pred * 0.0, axis=-1)


def test_guidance_weight_is_a_schedulable_variable():
    model = kpg.GuidedModel(linear_backbone(SHAPE, W), guidance_weight=1.0)
    model.compile(keras.optimizers.SGD(0.01), _zero_loss)
    assert model.guidance_weight in model.non_trainable_variables
    snapshots = []

    class SwitchOff(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                self.model.guidance_weight.assign(0.0)

        def on_epoch_end(self, epoch, logs=None):
            snapshots.append(self.model.classifier.get_weights()[0].copy())

    x = {"images": IMAGES, "provenance": MASK}
    model.fit(x, LABELS, epochs=3, verbose=0, callbacks=[SwitchOff()])
    # Only the penalty moves the weights: they change in epoch 0, then stop.
    assert np.abs(snapshots[0] - W).max() > 1e-4
    np.testing.assert_array_equal(snapshots[1], snapshots[0])
    np.testing.assert_array_equal(snapshots[2], snapshots[0])
    model.guidance_weight = 0.3
    assert float(keras.ops.convert_to_numpy(model.guidance_weight)) == pytest.approx(0.3)


def test_sample_weight_scales_each_samples_penalty():
    model = guided()
    weights = np.array([1, 0, 2, 0, 1, 1, 0, 3], "float32")
    x = {"images": IMAGES, "provenance": MASK}
    logs = model.evaluate(x, LABELS, sample_weight=weights, verbose=0, return_dict=True)
    per_sample = [
        kpg.guidance_penalty(model, IMAGES[i : i + 1], MASK[i : i + 1], LABELS[i : i + 1])
        for i in range(B)
    ]
    np.testing.assert_allclose(logs["guidance_penalty"], np.mean(weights * per_sample), rtol=1e-5)
    model.fit(x, LABELS, sample_weight=weights, epochs=1, verbose=0)


@requires_backend("tensorflow", "jax")
def test_jit_compile_matches_eager():
    results = []
    images = RNG.random((B, 8, 8, 3)).astype("float32")
    for jit in (True, False):
        model = kpg.GuidedModel(conv_backbone(), guidance_weight=0.5)
        model.classifier.set_weights(reference_weights(model.classifier))
        model.compile(keras.optimizers.SGD(0.1), sparse_ce(), jit_compile=jit)
        x = {"images": images, "provenance": np.ones((B, 8, 8, 1), "float32") * 0.5}
        model.fit(x, LABELS, batch_size=B, epochs=1, shuffle=False, verbose=0)
        results.append(model.classifier.get_weights())
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def reference_weights(model, seed=3):
    rng = np.random.default_rng(seed)
    return [rng.normal(scale=0.3, size=w.shape).astype("float32") for w in model.get_weights()]


@requires_backend("torch")
def test_torch_rejects_jit_compile():
    model = kpg.GuidedModel(linear_backbone(SHAPE, W))
    with pytest.raises(ValueError, match="jit_compile"):
        model.compile("sgd", sparse_ce(), jit_compile=True)


def test_channels_first_provenance_broadcasts_over_channels():
    images = np.transpose(IMAGES, (0, 3, 1, 2))
    mask = np.transpose(MASK, (0, 3, 1, 2))
    backbone = linear_backbone(images.shape[1:], W)
    expected = np.mean(
        [(((1 - mask[b]) * W[:, LABELS[b]].reshape(images.shape[1:])) ** 2).sum() for b in range(B)]
    )
    np.testing.assert_allclose(
        kpg.guidance_penalty(backbone, images, mask, LABELS), expected, rtol=1e-5
    )


def _channels_first_model_and_data():
    keras.config.set_image_data_format("channels_first")
    model = kpg.GuidedModel(conv_backbone((3, 8, 8), K), guidance_weight=0.5)
    model.compile("adam", sparse_ce())
    x = {
        "images": RNG.random((B, 3, 8, 8)).astype("float32"),
        "provenance": (RNG.random((B, 1, 8, 8)) > 0.5).astype("float32"),
    }
    return model, x


def _nchw_runs_here():
    if BACKEND != "tensorflow":
        return True
    from keras_provguide.backend import tensorflow as tf_autodiff

    return tf_autodiff.nchw_convolutions_supported()


def test_channels_first_convolutions_train_or_are_refused_before_the_first_step():
    # Which branch runs depends on the machine: TensorFlow without oneDNN
    # (TF_ENABLE_ONEDNN_OPTS=0, or CPUs without AVX-512) cannot convolve NCHW.
    model, x = _channels_first_model_and_data()
    if _nchw_runs_here():
        history = model.fit(x, LABELS, epochs=1, verbose=0)
        assert np.isfinite(history.history["guidance_penalty"][0])
        assert model.predict(x, verbose=0).shape == (B, K)
        return
    before = model.get_weights()
    for call in (
        lambda: model.fit(x, LABELS, epochs=1, verbose=0),
        lambda: model.evaluate(x, LABELS, verbose=0),
        lambda: model.predict(x, verbose=0),
        lambda: kpg.input_gradients(model.classifier, x["images"], LABELS),
    ):
        with pytest.raises(ValueError, match="TF_ENABLE_ONEDNN_OPTS=1"):
            call()
    assert model.optimizer.iterations.numpy() == 0
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


@requires_backend("tensorflow")
def test_refusal_names_the_layers_and_both_ways_out(monkeypatch):
    import tensorflow as tf

    from keras_provguide.backend import tensorflow as tf_autodiff

    monkeypatch.setattr(tf_autodiff, "nchw_convolutions_supported", lambda: False)
    monkeypatch.setattr(tf.config, "list_logical_devices", lambda kind=None: [])
    model, x = _channels_first_model_and_data()
    conv_name = model.classifier.layers[0].name
    with pytest.raises(ValueError) as error:
        model.fit(x, LABELS, epochs=1, verbose=0)
    message = str(error.value)
    assert conv_name in message and "channels_last" in message
    assert "TF_ENABLE_ONEDNN_OPTS=1" in message and "before TensorFlow is imported" in message
    # A channels-last model is not affected by the same machine.
    keras.config.set_image_data_format("channels_last")
    history = guided().fit({"images": IMAGES, "provenance": MASK}, LABELS, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@requires_backend("tensorflow")
@pytest.mark.parametrize("onednn", ["0", "1"])
def test_nchw_probe_follows_onednn(onednn):
    # The probe must say what the kernels do, not guess from the CPU: without
    # oneDNN TensorFlow's CPU convolutions are NHWC only; with it, on x86,
    # NCHW runs. Each setting needs its own process (read at import).
    if onednn == "1" and platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("oneDNN's NCHW kernels are checked on x86 only")
    code = (
        "from keras_provguide.backend import tensorflow as t; "
        "print(t.nchw_convolutions_supported())"
    )
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=onednn, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(onednn == "1")


def test_fit_evaluate_predict_take_arguments_by_position_as_keras_does():
    x = {"images": IMAGES, "provenance": MASK}
    by_position, by_name = guided(), guided()
    by_name.set_weights(by_position.get_weights())
    # batch_size, epochs, verbose, callbacks, validation_split, validation_data, shuffle
    history = by_position.fit(x, LABELS, 4, 2, 0, None, 0.0, (x, LABELS), False)
    by_name.fit(
        x=x, y=LABELS, batch_size=4, epochs=2, verbose=0, validation_data=(x, LABELS),
        shuffle=False,
    )
    assert len(history.history["val_guidance_penalty"]) == 2
    for a, b in zip(by_position.get_weights(), by_name.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # Validation data given by position is checked like the training data.
    bad = {"images": IMAGES, "provenance": 2 * MASK}
    with pytest.raises(ValueError, match="provenance"):
        by_position.fit(x, LABELS, 4, 1, 0, None, 0.0, (bad, LABELS))
    with pytest.raises(ValueError, match="provenance"):
        by_position.evaluate(bad, LABELS, 4, 0)
    np.testing.assert_allclose(
        by_position.evaluate(x, LABELS, 4, 0),
        by_name.evaluate(x=x, y=LABELS, batch_size=4, verbose=0),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        by_position.predict(IMAGES, 4, 0), by_name.predict(x=IMAGES, verbose=0), rtol=1e-6
    )
    with pytest.raises(TypeError):
        by_position.fit(x, LABELS, 4, x=x)  # `x` twice, as Keras refuses it


@pytest.mark.parametrize(
    "images_shape, mask_shape",
    [((4, 5, 3), (4, 1, 1)), ((3, 4, 4, 2), (3, 4, 4, 1)), ((2, 5, 6, 4, 2), (2, 5, 6, 4, 1))],
    ids=["sequence", "image", "clip"],
)
def test_any_input_rank(images_shape, mask_shape):
    weights = RNG.normal(size=(int(np.prod(images_shape[1:])), K)).astype("float32")
    images = RNG.random(images_shape).astype("float32")
    mask = (RNG.random(mask_shape) > 0.5).astype("float32")
    backbone = linear_backbone(images_shape[1:], weights)
    expected = np.mean(
        [
            (((1 - mask[b]) * weights[:, LABELS[b]].reshape(images_shape[1:])) ** 2).sum()
            for b in range(images_shape[0])
        ]
    )
    labels = LABELS[: images_shape[0]]
    np.testing.assert_allclose(
        kpg.guidance_penalty(backbone, images, mask, labels), expected, rtol=1e-5
    )
    model = kpg.GuidedModel(backbone, guidance_weight=0.1)
    model.compile("sgd", sparse_ce())
    logs = model.evaluate({"images": images, "provenance": mask}, labels, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["guidance_penalty"], expected, rtol=1e-5)


def _mlp(input_shape):
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(K),
        ]
    )


def test_mixed_precision_keeps_penalty_in_float32_and_scales_loss():
    keras.config.set_dtype_policy("mixed_float16")
    model = kpg.GuidedModel(_mlp(SHAPE), guidance_weight=0.1)
    model.compile(keras.optimizers.Adam(1e-3), sparse_ce())
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.guidance_weight.dtype == "float32"
    x = {"images": IMAGES, "provenance": MASK}
    history = model.fit(x, LABELS, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert np.all(np.isfinite(history.history["guidance_penalty"]))
    weights = model.classifier.get_weights()
    keras.config.set_dtype_policy("float32")
    full = _mlp(SHAPE)
    full.set_weights(weights)
    mixed_p = model.evaluate(x, LABELS, verbose=0, return_dict=True)["guidance_penalty"]
    np.testing.assert_allclose(mixed_p, kpg.guidance_penalty(full, IMAGES, MASK, LABELS), rtol=2e-2)


def test_tf_data_and_py_dataset_inputs():
    tf = pytest.importorskip("tensorflow")
    x = {"images": IMAGES, "provenance": MASK}
    dataset = tf.data.Dataset.from_tensor_slices((x, LABELS)).batch(4)
    model = guided()
    history = model.fit(dataset, epochs=1, validation_data=dataset, shuffle=False, verbose=0)
    assert history.history["val_guidance_penalty"][0] > 0

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            part = slice(4 * i, 4 * i + 4)
            return {"images": IMAGES[part], "provenance": MASK[part]}, LABELS[part]

    history = model.fit(Batches(), epochs=1, verbose=0)
    assert history.history["guidance_penalty"][0] > 0


def test_save_load_round_trip_and_resume(tmp_path):
    model = kpg.GuidedModel(conv_backbone(), guidance_weight=0.2, score="log_prob_sum", norm="l1")
    model.compile(keras.optimizers.Adam(1e-2), sparse_ce(), metrics=["accuracy"])
    images = RNG.random((B, 8, 8, 3)).astype("float32")
    x = {"images": images, "provenance": np.ones((B, 8, 8, 1), "float32") * 0.3}
    model.fit(x, LABELS, epochs=2, verbose=0)
    loaded = assert_keras_file_round_trip(model, images, tmp_path / "guided.keras", atol=1e-6)
    assert (loaded.score, loaded.norm) == ("log_prob_sum", "l1")
    assert float(keras.ops.convert_to_numpy(loaded.guidance_weight)) == pytest.approx(0.2)
    # Resuming: the loaded optimizer state continues where the original left off.
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations)
    model.fit(x, LABELS, epochs=1, shuffle=False, verbose=0)
    loaded.fit(x, LABELS, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@keras.saving.register_keras_serializable(package="kpg_tests")
class SubclassedNet(keras.Model):
    """A backbone without static shapes: Keras must build it from data."""

    def __init__(self, num_classes=K, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.flatten = keras.layers.Flatten()
        self.hidden = keras.layers.Dense(8, activation="relu")
        self.dropout = keras.layers.Dropout(0.2)
        self.head = keras.layers.Dense(num_classes)

    def call(self, images, training=None):
        return self.head(self.dropout(self.hidden(self.flatten(images)), training=training))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


def test_subclassed_backbone_trains_saves_and_is_analysed(tmp_path):
    model = kpg.GuidedModel(SubclassedNet(), guidance_weight=0.5)
    model.compile("adam", sparse_ce())
    x = {"images": IMAGES, "provenance": MASK}
    history = model.fit(x, LABELS, epochs=2, verbose=0)
    assert history.history["guidance_penalty"][-1] > 0
    grads = kpg.input_gradients(model.classifier, IMAGES, LABELS)
    assert grads.shape == IMAGES.shape and np.abs(grads).sum() > 0
    logs = model.evaluate(x, LABELS, verbose=0, return_dict=True)
    np.testing.assert_allclose(
        logs["guidance_penalty"],
        kpg.guidance_penalty(model.classifier, IMAGES, MASK, LABELS),
        rtol=1e-5,
    )
    model.save(tmp_path / "subclassed.keras")
    loaded = keras.models.load_model(tmp_path / "subclassed.keras")
    np.testing.assert_allclose(
        loaded.predict(IMAGES, verbose=0), model.predict(IMAGES, verbose=0), rtol=1e-5, atol=1e-6
    )


FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_a_keras_file_saved_by_release_0_1_0_loads_with_its_weights_and_options():
    # Written by keras-provguide 0.1.0 (JAX), when the guided model was the `backbone` argument.
    loaded = keras.models.load_model(FIXTURES / "guided_model_0.1.0.keras")
    x = np.linspace(0, 1, 2 * 16, dtype="float32").reshape(2, 4, 4, 1)
    np.testing.assert_allclose(loaded.predict(x, verbose=0),
                               np.load(FIXTURES / "guided_model_0.1.0_predictions.npy"), rtol=1e-5, atol=1e-6)
    assert loaded.classifier.name == "tiny" and loaded.penalty_every == 2
    assert float(keras.ops.convert_to_numpy(loaded.guidance_weight)) == pytest.approx(0.3)


def test_the_guided_model_is_the_classifier_and_backbone_is_a_deprecated_name():
    network = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    assert kpg.GuidedModel(network).classifier is network
    with pytest.warns(DeprecationWarning, match="pass it as `classifier`"):
        model = kpg.GuidedModel(backbone=network)
    assert model.classifier is network
    with pytest.raises(ValueError, match="received both `classifier` and its deprecated name"):
        kpg.GuidedModel(network, backbone=network)
    assert "classifier" in model.get_config() and "backbone" not in model.get_config()
