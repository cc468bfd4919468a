"""Forward-over-reverse and double backprop give the same exact step; cost controls."""

import keras
import numpy as np
import pytest
from conftest import BACKEND, conv_backbone, requires_backend

import keras_provguide as kpg

RNG = np.random.default_rng(0)
IMAGES = RNG.random((8, 8, 8, 3)).astype("float32")
PROVENANCE = (RNG.random((8, 8, 8, 1)) > 0.5).astype("float32")
LABELS = RNG.integers(0, 4, 8)
PARTNERS = RNG.integers(0, 4, 8)
SAMPLE_WEIGHT = np.linspace(0.5, 1.5, 8).astype("float32")


def _model(weights, second_order, score="logit", norm="l2", two_sources=False, jit="auto", **kwargs):
    backbone = conv_backbone()
    backbone.set_weights(weights)
    model = kpg.GuidedModel(
        backbone, guidance_weight=0.7, score=score, norm=norm, second_order=second_order, **kwargs
    )
    loss = (
        keras.losses.CategoricalCrossentropy(from_logits=True)
        if two_sources
        else keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    model.compile(keras.optimizers.SGD(1.0), loss, jit_compile=jit)
    return model


def _batch(two_sources):
    x = {"images": IMAGES, "provenance": PROVENANCE}
    if not two_sources:
        return x, LABELS
    x["source_labels"] = np.stack([LABELS, PARTNERS], 1)
    y = 0.6 * np.eye(4)[LABELS] + 0.4 * np.eye(4)[PARTNERS]
    return x, y.astype("float32")


def _step(model, two_sources):
    x, y = _batch(two_sources)
    before = [w.copy() for w in model.get_weights()]
    logs = model.train_on_batch(x, y, sample_weight=SAMPLE_WEIGHT, return_dict=True)
    return [b - a for a, b in zip(model.get_weights(), before)], logs


def _relative_error(a, b):
    a, b = np.concatenate([v.ravel() for v in a]), np.concatenate([v.ravel() for v in b])
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("two_sources", [False, True], ids=["one_source", "two_sources"])
@pytest.mark.parametrize("score, norm", [("logit", "l2"), ("log_prob_sum", "l1"), ("loss", "l2")])
def test_both_paths_take_the_same_step(score, norm, two_sources):
    weights = conv_backbone().get_weights()
    naive, naive_logs = _step(_model(weights, "double_backprop", score, norm, two_sources), two_sources)
    fast, fast_logs = _step(_model(weights, "forward_over_reverse", score, norm, two_sources), two_sources)
    # All weights, BatchNorm moving statistics included, move the same.
    assert _relative_error(fast, naive) < 1e-4
    assert fast_logs["guidance_penalty"] == pytest.approx(naive_logs["guidance_penalty"], rel=1e-5)
    assert fast_logs["loss"] == pytest.approx(naive_logs["loss"], rel=1e-5)
    assert naive_logs["guidance_penalty"] > 0


@requires_backend("tensorflow", "jax")
@pytest.mark.parametrize("jit", [True, False])
def test_forward_over_reverse_compiles_both_ways(jit):
    weights = conv_backbone().get_weights()
    reference, _ = _step(_model(weights, "double_backprop"), False)
    fast, _ = _step(_model(weights, "forward_over_reverse", jit=jit), False)
    assert _relative_error(fast, reference) < 1e-4


def test_auto_takes_the_measured_path_and_options_serialize():
    from keras_provguide import backend

    model = kpg.GuidedModel(conv_backbone(), penalty_every=3)
    assert model.second_order == "auto"
    assert model.second_order_path == backend.get().FASTEST_SECOND_ORDER
    assert model.second_order_path in ("forward_over_reverse", "double_backprop")
    restored = kpg.GuidedModel.from_config(
        _model(conv_backbone().get_weights(), "forward_over_reverse", penalty_every=3).get_config()
    )
    assert restored.second_order == "forward_over_reverse" and restored.penalty_every == 3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"second_order": "hessian"}, "second_order"),
        ({"penalty_every": 0}, "penalty_every"),
        ({"penalty_every": 1.5}, "penalty_every"),
    ],
)
def test_bad_options_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kpg.GuidedModel(conv_backbone(), **kwargs)


def test_penalty_every_k_alternates_guided_and_plain_steps():
    weights = conv_backbone().get_weights()
    sparse = _model(weights, "auto", penalty_every=2, lazy_rescale=False)
    dense = _model(weights, "auto")
    x, y = _batch(False)
    logs = []
    for step in range(3):
        # The dense model mirrors the schedule by switching its weight off.
        dense.guidance_weight = 0.0 if step % 2 else 0.7
        sparse.reset_metrics()  # Per-step logs (Keras < 3.15's train_on_batch keeps the running means).
        logs.append(sparse.train_on_batch(x, y, return_dict=True))
        dense.train_on_batch(x, y)
        for a, b in zip(sparse.classifier.get_weights(), dense.classifier.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert logs[0]["guidance_penalty"] > 0 and logs[2]["guidance_penalty"] > 0
    assert logs[1]["guidance_penalty"] == 0.0  # No penalty was computed on step 1.


def test_penalty_every_k_logs_the_mean_over_guided_steps_only():
    model = _model(conv_backbone().get_weights(), "auto", penalty_every=2)
    x, y = _batch(False)
    history = model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0).history
    single = _model(conv_backbone().get_weights(), "auto")
    # Four steps, two guided: the logged mean is over those two, not diluted by zeros.
    assert history["guidance_penalty"][0] > 0.5 * single.evaluate(x, y, verbose=0, return_dict=True)["guidance_penalty"]


def _linear_model(weights, **kwargs):
    backbone = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(4)])
    backbone.set_weights(weights)
    kwargs.setdefault("guidance_weight", 0.7)
    model = kpg.GuidedModel(backbone, **kwargs)
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


@pytest.mark.parametrize("second_order", ["double_backprop", "forward_over_reverse"])
def test_penalty_fraction_guides_the_first_samples_and_trains_on_all(second_order):
    template = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(4)])
    weights = template.get_weights()
    x = {"images": IMAGES, "provenance": PROVENANCE}
    half = _linear_model(weights, penalty_fraction=0.5, second_order=second_order)
    logs = half.train_on_batch(x, LABELS, return_dict=True)
    # The logged penalty is the penalty of the first four samples ...
    head = _linear_model(weights)
    expected = head.evaluate(
        {k: v[:4] for k, v in x.items()}, LABELS[:4], verbose=0, return_dict=True
    )["guidance_penalty"]
    assert logs["guidance_penalty"] == pytest.approx(expected, rel=1e-5)
    # ... and the step is the task gradient of all eight plus the penalty
    # gradient of the first four (a linear model: the two add up exactly).
    task = _linear_model(weights, guidance_weight=0.0)
    task.train_on_batch(x, LABELS)
    penalty_only = _linear_model(weights)
    penalty_only.compile(keras.optimizers.SGD(0.1), lambda y_true, y_pred: 0.0 * keras.ops.sum(y_pred))
    penalty_only.train_on_batch({k: v[:4] for k, v in x.items()}, LABELS[:4])
    for h, t, p, w in zip(half.classifier.get_weights(), task.classifier.get_weights(),
                          penalty_only.classifier.get_weights(), weights):
        np.testing.assert_allclose(h - w, (t - w) + (p - w), rtol=1e-4, atol=1e-6)


def test_penalty_fraction_keeps_batchnorm_statistics_of_the_full_batch():
    weights = conv_backbone().get_weights()
    x = {"images": IMAGES, "provenance": PROVENANCE}
    half = _model(weights, "auto", penalty_fraction=0.5)
    plain = _model(weights, "auto")
    plain.guidance_weight = 0.0
    half.train_on_batch(x, LABELS)
    plain.train_on_batch(x, LABELS)
    def moving(m):
        return [keras.ops.convert_to_numpy(v) for v in m.classifier.non_trainable_variables]

    for a, b in zip(moving(half), moving(plain)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_penalty_fraction_is_validated():
    for bad in (0.0, 1.5, "half"):
        with pytest.raises(ValueError, match="penalty_fraction"):
            kpg.GuidedModel(conv_backbone(), penalty_fraction=bad)


def test_a_registered_path_is_one_function_and_one_line(monkeypatch):
    from keras_provguide.guidance import second_order

    monkeypatch.setattr(second_order, "PATHS", dict(second_order.PATHS))
    calls = []

    # A throwaway path: double backprop, counted.
    @second_order.register("counted", exact=True)
    def counted(autodiff, model, forward, batch, scores_fn, sample_weight):
        calls.append(model.name)
        return second_order.double_backprop(autodiff, model, forward, batch, scores_fn, sample_weight)

    weights = conv_backbone().get_weights()
    x, y = _batch(False)
    steps = {}
    for path in ("counted", "double_backprop"):
        model = _model(weights, path)
        model.train_on_batch(x, y)
        steps[path] = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    assert calls, "the registered path ran"
    for a, b in zip(steps["counted"], steps["double_backprop"]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert "counted" in second_order.choices()


def test_a_backend_refusal_declared_with_its_path_stops_training_before_the_first_step(monkeypatch):
    from keras_provguide.guidance import second_order

    def refuse(model):
        raise ValueError(f"refused here: {model.second_order_path}")

    monkeypatch.setitem(second_order.PATHS, "double_backprop", second_order.Path(
        second_order.double_backprop, exact=True, refuses={BACKEND: refuse}))
    model = _model(conv_backbone().get_weights(), "double_backprop")
    with pytest.raises(ValueError, match="refused here: double_backprop"):
        model.fit(*_batch(False), epochs=1, verbose=0)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 0


def test_unknown_path_names_the_registered_ones():
    with pytest.raises(ValueError, match=r"Expected `second_order` in \('auto', 'double_backprop'"):
        kpg.GuidedModel(conv_backbone(), second_order="reverse_over_forward")
