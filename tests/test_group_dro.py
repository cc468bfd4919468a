"""GroupDRO against the closed form of Sagawa et al., inside fit on every backend."""

import keras
import numpy as np
import pytest
from conftest import linear_backbone

import keras_provguide as kpg
from keras_provguide.groups import group_scope

LOGITS = np.array([[2, 0], [0, 1], [3, 0], [1, 0], [0, 2], [0, 5]], "float32")
LABELS = np.array([0, 1, 1, 0, 0, 1])
GROUPS = np.array([0, 0, 1, 1, 2, 2])


def _per_sample_ce(logits, labels):
    logits = logits - logits.max(1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    return -log_p[np.arange(len(labels)), labels]


def _closed_form_step(q, logits, labels, groups, num_groups, eta, adjustment=0.0):
    losses = _per_sample_ce(logits.astype("float64"), labels)
    group_losses = np.array([
        losses[groups == g].mean() if np.any(groups == g) else 0.0 for g in range(num_groups)
    ]) + adjustment
    q = q * np.exp(eta * group_losses)
    q = q / q.sum()
    return q, float(q @ group_losses)


def test_one_call_matches_the_closed_form():
    loss = kpg.losses.GroupDRO(num_groups=4, step_size=0.5)
    with group_scope(GROUPS, training=True):
        value = float(loss(LABELS, LOGITS))
    q, expected = _closed_form_step(np.full(4, 0.25), LOGITS, LABELS, GROUPS, 4, 0.5)
    assert value == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(loss.group_weights, q, rtol=1e-5)
    assert loss.group_weights[3] < 0.25  # Absent group: l_g = 0, its weight shrinks.


def test_generalization_adjustment_adds_c_over_sqrt_n():
    counts = [100, 4, 25, 1]
    loss = kpg.losses.GroupDRO(4, step_size=0.5, generalization_adjustment=2.0, group_counts=counts)
    with group_scope(GROUPS, training=True):
        value = float(loss(LABELS, LOGITS))
    q, expected = _closed_form_step(
        np.full(4, 0.25), LOGITS, LABELS, GROUPS, 4, 0.5, 2.0 / np.sqrt(counts)
    )
    assert value == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(loss.group_weights, q, rtol=1e-5)


def test_evaluation_and_erm_mode_leave_the_weights_alone():
    loss = kpg.losses.GroupDRO(num_groups=4)
    with group_scope(GROUPS, training=False):
        loss(LABELS, LOGITS)
    np.testing.assert_allclose(loss.group_weights, 0.25)
    loss.set_robust(False)
    with group_scope(GROUPS, training=True):
        value = float(loss(LABELS, LOGITS))
    np.testing.assert_allclose(loss.group_weights, 0.25)
    assert value == pytest.approx(_per_sample_ce(LOGITS, LABELS).mean(), rel=1e-5)


def _model(eta=0.3):
    model = kpg.GuidedModel(linear_backbone((6, 1, 1), LOGITS))
    # A zero learning rate keeps the logits fixed, so every step's group
    # losses are the closed form's.
    model.compile(keras.optimizers.SGD(0.0), kpg.losses.GroupDRO(4, step_size=eta))
    return model


def _inputs(rows=slice(None)):
    images = np.eye(6, dtype="float32").reshape(6, 6, 1, 1)
    return {"images": images[rows], "groups": GROUPS[rows].astype("int32")}


def test_fit_updates_the_weights_in_the_compiled_step():
    model = _model()
    history = model.fit(_inputs(), LABELS, batch_size=3, epochs=2, shuffle=False, verbose=0)
    q, values = np.full(4, 0.25), []
    for _ in range(2):
        for rows in (slice(0, 3), slice(3, 6)):
            q, value = _closed_form_step(q, LOGITS[rows], LABELS[rows], GROUPS[rows], 4, 0.3)
            values.append(value)
    np.testing.assert_allclose(model.loss.group_weights, q, rtol=1e-5)
    np.testing.assert_allclose(history.history["loss"][-1], np.mean(values[2:]), rtol=1e-5)
    before = model.loss.group_weights.copy()
    model.evaluate(_inputs(), LABELS, verbose=0)
    np.testing.assert_array_equal(model.loss.group_weights, before)


def test_group_weights_are_saved_with_the_weights(tmp_path):
    model = _model()
    model.fit(_inputs(), LABELS, batch_size=6, epochs=3, verbose=0)
    path = str(tmp_path / "model.weights.h5")
    model.save_weights(path)
    fresh = _model()
    fresh.load_weights(path)
    np.testing.assert_allclose(fresh.loss.group_weights, model.loss.group_weights)
    assert not np.allclose(fresh.loss.group_weights, 0.25)


def test_parameter_gradient_treats_the_weights_as_constants():
    # With eta = 0 the weights stay uniform and the loss is the mean of the
    # group means: its gradient step must match that closed form.
    model = kpg.GuidedModel(linear_backbone((6, 1, 1), LOGITS))
    model.compile(keras.optimizers.SGD(1.0), kpg.losses.GroupDRO(3, step_size=1e-12))
    model.fit(_inputs(), LABELS, batch_size=6, epochs=1, verbose=0)
    softmax = np.exp(LOGITS) / np.exp(LOGITS).sum(1, keepdims=True)
    grad_logits = (softmax - np.eye(2)[LABELS]) / 2.0 / 3.0  # 2 per group, 3 groups
    kernel = model.classifier.layers[-1].get_weights()[0]
    np.testing.assert_allclose(kernel, LOGITS - grad_logits, rtol=1e-4, atol=1e-6)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="step_size"):
        kpg.losses.GroupDRO(2, step_size=0.0)
    with pytest.raises(ValueError, match="group_counts"):
        kpg.losses.GroupDRO(2, generalization_adjustment=1.0)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        kpg.losses.GroupDRO(2, group_counts=[1, 2, 3])
    with pytest.raises(ValueError, match="'groups'"):
        kpg.losses.GroupDRO(2)(LABELS, LOGITS)


def test_serializes():
    loss = kpg.losses.GroupDRO(3, step_size=0.05, generalization_adjustment=1.0, group_counts=[1, 2, 3])
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert (clone.num_groups, clone.step_size, clone.group_counts.tolist()) == (3, 0.05, [1, 2, 3])


def test_keras_file_keeps_the_loss_its_weights_and_the_group_metrics(tmp_path):
    model = _model()
    model.compile(keras.optimizers.SGD(0.0), kpg.losses.GroupDRO(4, step_size=0.3),
                  metrics=[kpg.metrics.WorstGroupAccuracy(4)])
    model.fit(_inputs(), LABELS, batch_size=6, epochs=2, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.loss, kpg.losses.GroupDRO) and loaded.loss.step_size == 0.3
    np.testing.assert_allclose(loaded.loss.group_weights, model.loss.group_weights)
    scores = loaded.evaluate(_inputs(), LABELS, verbose=0, return_dict=True)
    assert scores["worst_group_accuracy"] == pytest.approx(0.5)
