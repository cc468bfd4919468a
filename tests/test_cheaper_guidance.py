"""Cheaper guided steps: lazy rescaling of `penalty_every`, what `penalty_fraction` keeps, finite differences."""

import keras
import numpy as np
import pytest
from conftest import conv_backbone

import keras_provguide as kpg

RNG = np.random.default_rng(0)
B = 8
IMAGES = RNG.random((B, 8, 8, 3)).astype("float32")
PROVENANCE = (RNG.random((B, 8, 8, 1)) > 0.5).astype("float32")
LABELS = RNG.integers(0, 3, B)
PARTNERS = RNG.integers(0, 3, B)
SAMPLE_WEIGHT = np.linspace(0.5, 1.5, B).astype("float32")


def _smooth_backbone(dropout=False):
    """Smooth activations (the forward difference's error is then linear in the step) and BatchNorm."""
    keras.utils.set_random_seed(1)
    layers = [
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(4, 3, activation="tanh"),
        keras.layers.BatchNormalization(),
        keras.layers.Conv2D(4, 3, activation="softplus"),
        keras.layers.GlobalAveragePooling2D(),
    ]
    if dropout:
        layers.append(keras.layers.Dropout(0.4, seed=3))
    return keras.Sequential(layers + [keras.layers.Dense(3)])


def _batch(two_sources):
    x = {"images": IMAGES, "provenance": PROVENANCE}
    if not two_sources:
        return x, LABELS
    x["source_labels"] = np.stack([LABELS, PARTNERS], 1)
    return x, (0.6 * np.eye(3)[LABELS] + 0.4 * np.eye(3)[PARTNERS]).astype("float32")


def _update(backbone, two_sources=False, jit_compile="auto", **options):
    """The change of every weight (BatchNorm statistics included) by one guided SGD step at rate 1."""
    model = kpg.GuidedModel(backbone, guidance_weight=1.0, **options)
    loss = keras.losses.CategoricalCrossentropy if two_sources else keras.losses.SparseCategoricalCrossentropy
    model.compile(keras.optimizers.SGD(1.0), loss(from_logits=True), jit_compile=jit_compile)
    x, y = _batch(two_sources)
    before = [w.copy() for w in model.get_weights()]
    logs = model.train_on_batch(x, y, sample_weight=SAMPLE_WEIGHT, return_dict=True)
    update = np.concatenate([(a - b).ravel() for a, b in zip(before, model.get_weights())])
    return update, logs


def _relative_error(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize("two_sources", [False, True], ids=["one_source", "two_sources"])
@pytest.mark.parametrize("norm", ["l2", "l1"])
def test_finite_difference_step_converges_to_the_exact_step(two_sources, norm):
    exact, exact_logs = _update(_smooth_backbone(), two_sources, norm=norm, second_order="double_backprop")
    errors = {}
    for h in (1e-2, 1e-3):
        update, logs = _update(
            _smooth_backbone(), two_sources, norm=norm, second_order="finite_difference", finite_difference_step=h
        )
        errors[h] = _relative_error(update, exact)
        # The value of P is exact; only its parameter gradient is approximated.
        assert logs["guidance_penalty"] == pytest.approx(exact_logs["guidance_penalty"], rel=1e-4)
    # Measured 3.4e-3 and 3.4e-4 (one source, l2) on every backend: the error
    # falls with the step, about linearly, to well under a percent.
    assert errors[1e-3] < 2e-3, errors
    assert 4.0 < errors[1e-2] / errors[1e-3] < 20.0, errors
    assert exact_logs["guidance_penalty"] > 0


def test_finite_difference_shifted_pass_draws_the_clean_pass_random_numbers():
    """Seeded Dropout: both passes drop the same units, else the difference would be noise over the step."""
    # TensorFlow runs the finite-difference step under XLA, whose random
    # numbers differ from graph mode's: the exact step runs under XLA too.
    jit_compile = keras.backend.backend() == "tensorflow" or "auto"
    exact, _ = _update(_smooth_backbone(dropout=True), second_order="double_backprop", jit_compile=jit_compile)
    update, _ = _update(
        _smooth_backbone(dropout=True), second_order="finite_difference", finite_difference_step=1e-3,
        jit_compile=jit_compile,
    )
    assert _relative_error(update, exact) < 5e-3  # Measured 5e-4 to 6e-4; different masks give 30 and more.


def test_finite_difference_updates_batchnorm_statistics_once_from_the_clean_batch():
    exact = kpg.GuidedModel(_smooth_backbone(), second_order="double_backprop")
    approximate = kpg.GuidedModel(_smooth_backbone(), second_order="finite_difference")
    for model in (exact, approximate):
        model.compile(keras.optimizers.SGD(0.0), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.train_on_batch(*_batch(False))
    batchnorm = [layer for layer in approximate.classifier.layers if isinstance(layer, keras.layers.BatchNormalization)]
    reference = [layer for layer in exact.classifier.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for ours, theirs in zip(batchnorm[0].non_trainable_weights, reference[0].non_trainable_weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(ours), keras.ops.convert_to_numpy(theirs), atol=1e-7)
    assert not np.allclose(keras.ops.convert_to_numpy(batchnorm[0].moving_mean), 0.0)


def _conv_model(weights, **options):
    backbone = conv_backbone(num_classes=3)
    backbone.set_weights(weights)
    model = kpg.GuidedModel(backbone, **options)
    model.compile(keras.optimizers.SGD(1.0), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


@pytest.mark.parametrize("second_order", ["auto", "finite_difference"])
@pytest.mark.parametrize("lazy_rescale, factor", [(True, 2.0), (False, 1.0)], ids=["lazy", "unscaled"])
def test_penalty_every_k_weighs_the_penalised_steps_k_times_by_default(lazy_rescale, factor, second_order):
    # (On TensorFlow the finite-difference steps run under XLA, the guided
    # and plain steps compiled apart and picked on the host.)
    weights = conv_backbone(num_classes=3).get_weights()
    sparse = _conv_model(
        weights, guidance_weight=0.7, penalty_every=2, lazy_rescale=lazy_rescale, second_order=second_order
    )
    dense = _conv_model(weights, guidance_weight=0.7, second_order=second_order)
    x, y = _batch(False)
    for step in range(3):
        # Every-step guidance mirrors the schedule with its weight: k * w on
        # the penalised steps (lazy), w without rescaling, 0 between them.
        dense.guidance_weight = 0.0 if step % 2 else 0.7 * factor
        sparse_logs = sparse.train_on_batch(x, y, return_dict=True)
        dense.train_on_batch(x, y)
        for a, b in zip(sparse.classifier.get_weights(), dense.classifier.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert sparse_logs["guidance_penalty"] > 0
    # Evaluation weighs the penalty as configured, never rescaled.
    guided = sparse.evaluate(x, y, verbose=0, return_dict=True)
    sparse.guidance_weight = 0.0
    task = sparse.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    assert guided["loss"] == pytest.approx(task + 0.7 * guided["guidance_penalty"], rel=1e-5)


def test_lazy_rescale_round_trips_and_models_saved_before_it_keep_their_behaviour():
    model = kpg.GuidedModel(conv_backbone(), penalty_every=4, lazy_rescale=False, second_order="finite_difference",
                            finite_difference_step=3e-3)
    restored = kpg.GuidedModel.from_config(model.get_config())
    assert (restored.lazy_rescale, restored.penalty_every, restored.penalty_scale) == (False, 4, 1)
    assert (restored.second_order, restored.finite_difference_step) == ("finite_difference", 3e-3)
    assert kpg.GuidedModel(conv_backbone(), penalty_every=4).penalty_scale == 4
    old = kpg.GuidedModel(conv_backbone(), penalty_every=4).get_config()
    for key in ("lazy_rescale", "finite_difference_step"):
        del old[key]
    assert kpg.GuidedModel.from_config(old).lazy_rescale is False


def test_penalty_fraction_keeps_the_penalty_of_a_representative_batch():
    """A batch of two copies of its first half: the half's P and step are the whole batch's (no batch statistics)."""
    template = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(3)])
    weights = template.get_weights()
    half = B // 2
    x = {k: np.concatenate([v[:half], v[:half]]) for k, v in _batch(False)[0].items()}
    y = np.concatenate([LABELS[:half], LABELS[:half]])
    updates, penalties = [], []
    for fraction in (1.0, 0.5):
        backbone = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(3)])
        backbone.set_weights(weights)
        model = kpg.GuidedModel(backbone, guidance_weight=0.7, penalty_fraction=fraction)
        model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        penalties.append(model.train_on_batch(x, y, return_dict=True)["guidance_penalty"])
        updates.append(np.concatenate([(w - v).ravel() for w, v in zip(weights, backbone.get_weights())]))
    assert penalties[1] == pytest.approx(penalties[0], rel=1e-5) and penalties[0] > 0
    np.testing.assert_allclose(updates[1], updates[0], rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"finite_difference_step": 0.0}, "finite_difference_step"),
        ({"finite_difference_step": -1e-3}, "finite_difference_step"),
        ({"finite_difference_step": "small"}, "finite_difference_step"),
        ({"lazy_rescale": "yes"}, "lazy_rescale"),
        ({"second_order": "finite_differences"}, "second_order"),
    ],
)
def test_bad_cheaper_options_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kpg.GuidedModel(conv_backbone(), **kwargs)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's graph mode only")
def test_finite_difference_on_tensorflow_runs_under_xla_or_eagerly(tmp_path):
    model = kpg.GuidedModel(conv_backbone(num_classes=3), second_order="finite_difference")
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.SGD(0.1), loss)
    assert model.jit_compile is True  # "auto" means XLA for this path.
    model.compile(keras.optimizers.SGD(0.1), loss, jit_compile=False)
    with pytest.raises(ValueError, match="jit_compile=True.*received jit_compile=False"):
        model.train_on_batch(*_batch(False))
    model.compile(keras.optimizers.SGD(0.1), loss, run_eagerly=True)
    assert model.train_on_batch(*_batch(False), return_dict=True)["guidance_penalty"] > 0
    # A saved model compiles on load as it was compiled (Keras skips that
    # for models with their own `compile` unless they load it themselves).
    model.compile(keras.optimizers.SGD(0.1), loss)
    model.train_on_batch(*_batch(False))
    model.save(tmp_path / "fd.keras")
    loaded = keras.saving.load_model(tmp_path / "fd.keras")
    assert loaded.compiled and loaded.jit_compile is True and isinstance(loaded.optimizer, keras.optimizers.SGD)
    exact, plain = kpg.GuidedModel(conv_backbone(num_classes=3)), conv_backbone(num_classes=3)
    for other in (exact, plain):
        other.compile(keras.optimizers.SGD(0.1), loss)
    assert exact.jit_compile == plain.jit_compile  # Other paths keep Keras's choice.


def test_finite_difference_under_mixed_precision_needs_a_step_that_survives_rounding():
    keras.config.set_dtype_policy("mixed_float16")
    exact, _ = _update(_smooth_backbone(), second_order="double_backprop")
    update, logs = _update(_smooth_backbone(), second_order="finite_difference", finite_difference_step=3e-2)
    # Measured 0.009 (JAX) and 0.011 (TF), as in float32 at that step.
    assert np.isfinite(logs["loss"]) and _relative_error(update, exact) < 3e-2
    with pytest.raises(ValueError, match="finite_difference_step >= 0.03.*float16"):
        _update(_smooth_backbone(), second_order="finite_difference")  # 1e-2 rounds to zero.
