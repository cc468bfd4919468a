"""Worst-group and balanced accuracy: hand-computed cases, and groups through fit/evaluate."""

import keras
import numpy as np
import pytest
from conftest import linear_backbone, sparse_ce

import keras_provguide as kpg

# Logits of 6 samples over 2 classes; argmax = [0, 1, 0, 0, 1, 1].
LOGITS = np.array([[2, 0], [0, 1], [3, 0], [1, 0], [0, 2], [0, 5]], "float32")
LABELS = np.array([0, 1, 1, 0, 0, 1])
GROUPS = np.array([0, 0, 1, 1, 2, 2])
# Hits per group: g0 2/2, g1 1/2, g2 1/2; group 3 is empty.


@pytest.mark.parametrize(
    "metric_class, expected",
    [(kpg.metrics.WorstGroupAccuracy, 0.5), (kpg.metrics.BalancedGroupAccuracy, 2.0 / 3.0)],
)
def test_hand_computed_values_skip_empty_groups(metric_class, expected):
    metric = metric_class(num_groups=4)
    metric.update_state(LABELS, LOGITS, groups=GROUPS)
    assert float(metric.result()) == pytest.approx(expected, abs=1e-6)
    np.testing.assert_allclose(metric.group_accuracies()[:3], [1.0, 0.5, 0.5])
    assert np.isnan(metric.group_accuracies()[3])


def test_average_accuracy_weighs_groups_by_their_training_share():
    # Training shares 0.5 / 0.3 / 0.1 / 0.1; group 3 absent from this batch:
    # (0.5 * 1 + 0.3 * 0.5 + 0.1 * 0.5) / 0.9.
    metric = kpg.metrics.AverageGroupAccuracy(train_group_counts=[50, 30, 10, 10])
    metric.update_state(LABELS, LOGITS, groups=GROUPS)
    assert float(metric.result()) == pytest.approx(0.7 / 0.9, abs=1e-6)
    # With equal training shares it is the balanced accuracy.
    balanced = kpg.metrics.AverageGroupAccuracy(train_group_counts=[1, 1, 1, 1])
    balanced.update_state(LABELS, LOGITS, groups=GROUPS)
    assert float(balanced.result()) == pytest.approx(2.0 / 3.0, abs=1e-6)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
    assert clone.train_group_counts == [50.0, 30.0, 10.0, 10.0] and clone.num_groups == 4
    model = _model([metric])
    scores = model.evaluate(_inputs(), LABELS, batch_size=4, verbose=0, return_dict=True)
    assert scores["average_group_accuracy"] == pytest.approx(0.7 / 0.9, abs=1e-6)
    for bad in ([], [1, -1], [0, 0], [[1, 2]], [1, float("nan")]):
        with pytest.raises(ValueError, match="train_group_counts"):
            kpg.metrics.AverageGroupAccuracy(bad)


def test_sample_weights_one_hot_labels_and_accumulation():
    metric = kpg.metrics.WorstGroupAccuracy(num_groups=3)
    weights = np.array([1, 1, 3, 1, 1, 1], "float32")  # g1: the miss weighs 3 -> 1/4
    metric.update_state(np.eye(2)[LABELS], LOGITS, sample_weight=weights, groups=GROUPS)
    assert float(metric.result()) == pytest.approx(0.25)
    # A second batch where group 1 is all right: (1 + 4) / (4 + 4).
    metric.update_state([0] * 4, LOGITS[[0, 2, 3, 3]], groups=[1, 1, 1, 1])
    assert float(metric.result()) == pytest.approx(0.5)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_single_logit_uses_the_threshold():
    metric = kpg.metrics.BalancedGroupAccuracy(num_groups=2, threshold=0.0)
    metric.update_state([1, 0, 1, 0], [[0.3], [-0.2], [-1.0], [0.5]], groups=[0, 0, 1, 1])
    np.testing.assert_allclose(metric.group_accuracies(), [1.0, 0.0])


def test_metrics_serialize():
    metric = kpg.metrics.WorstGroupAccuracy(num_groups=5, threshold=0.0, name="wga")
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
    assert (type(clone), clone.num_groups, clone.threshold, clone.name) == (
        kpg.metrics.WorstGroupAccuracy, 5, 0.0, "wga"
    )


def test_bad_num_groups_and_missing_groups_are_named():
    with pytest.raises(ValueError, match="num_groups"):
        kpg.metrics.WorstGroupAccuracy(num_groups=0)
    with pytest.raises(ValueError, match="'groups'"):
        kpg.metrics.WorstGroupAccuracy(num_groups=2).update_state(LABELS, LOGITS)


def _model(metrics=None):
    # Flatten(6 x 1 x 1) -> Dense: logits = a one-hot input times the LOGITS table.
    model = kpg.GuidedModel(linear_backbone((6, 1, 1), LOGITS))
    if metrics is None:
        metrics = [kpg.metrics.WorstGroupAccuracy(4), kpg.metrics.BalancedGroupAccuracy(4)]
    model.compile("sgd", sparse_ce(), metrics=metrics)
    return model


def _inputs():
    images = np.eye(6, dtype="float32").reshape(6, 6, 1, 1)
    return {"images": images, "groups": GROUPS.astype("int32")}


def test_evaluate_reads_groups_from_arrays_and_tf_data():
    import tensorflow as tf

    model = _model()
    from_arrays = model.evaluate(_inputs(), LABELS, batch_size=4, verbose=0, return_dict=True)
    dataset = tf.data.Dataset.from_tensor_slices((_inputs(), LABELS)).batch(4)
    from_dataset = model.evaluate(dataset, verbose=0, return_dict=True)
    for scores in (from_arrays, from_dataset):
        assert scores["worst_group_accuracy"] == pytest.approx(0.5)
        assert scores["balanced_group_accuracy"] == pytest.approx(2.0 / 3.0)


def test_val_worst_group_accuracy_drives_model_checkpoint(tmp_path):
    model = _model()
    path = str(tmp_path / "best.weights.h5")
    checkpoint = keras.callbacks.ModelCheckpoint(
        path, monitor="val_worst_group_accuracy", save_best_only=True, save_weights_only=True
    )
    history = model.fit(
        _inputs(), LABELS, epochs=2, batch_size=3, verbose=0,
        validation_data=(_inputs(), LABELS), callbacks=[checkpoint],
    )
    assert history.history["val_worst_group_accuracy"][0] == pytest.approx(0.5)
    # mode="auto" knows that higher is better.
    assert bool(checkpoint.monitor_op(1.0, 0.0))
    assert float(checkpoint.best) == pytest.approx(max(history.history["val_worst_group_accuracy"]))
    assert (tmp_path / "best.weights.h5").exists()


def test_fit_checks_group_ids_before_training():
    model = _model()
    bad = dict(_inputs(), groups=np.array([0, 1, 2, 3, 4, 0], "int32"))
    with pytest.raises(ValueError, match=r"'groups' ids in \[0, 3\].*received values in \[0, 4\]"):
        model.fit(bad, LABELS, verbose=0)
    with pytest.raises(ValueError, match="needs group ids"):
        model.fit({"images": _inputs()["images"]}, LABELS, verbose=0)
    floats = dict(_inputs(), groups=GROUPS.astype("float32"))
    with pytest.raises(ValueError, match="integer ids"):
        model.evaluate(floats, LABELS, verbose=0)
