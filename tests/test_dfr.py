"""Deep Feature Reweighting: the refit last layer reads the core feature, not the shortcut."""

import keras
import numpy as np
import pytest

import keras_provguide as kpg
from keras_provguide.fine_tuning.deep_feature_reweighting import C_GRID


def _features_data(size, bias, seed):
    """Features [core, spurious, noise]: labels follow `core`; `spurious` agrees with
    the label on a `bias` share of samples. Groups = 2 * label + spurious sign."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size)
    agree = rng.random(size) < bias
    spurious = np.where(agree, labels, 1 - labels)
    core = (2 * labels - 1) * 1.0 + rng.normal(0, 0.3, size)
    shortcut = (2 * spurious - 1) * 3.0 + rng.normal(0, 0.3, size)
    x = np.stack([core, shortcut, rng.normal(size=size)], 1).astype("float32")
    return x, labels.astype("int64"), (2 * labels + spurious).astype("int64")


def _shortcut_model():
    backbone = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    backbone.layers[0].set_weights([np.eye(3, dtype="float32"), np.zeros(3, "float32")])
    # The head reads only the spurious feature.
    backbone.layers[1].set_weights([np.array([[0, 0], [-1, 1], [0, 0]], "float32"), np.zeros(2, "float32")])
    return kpg.GuidedModel(backbone)


def _worst_group(model, x, y, groups):
    predicted = np.argmax(keras.ops.convert_to_numpy(model.predict(x, verbose=0)), 1)
    return min(np.mean(predicted[groups == g] == y[groups == g]) for g in np.unique(groups))


def test_dfr_moves_the_head_from_the_shortcut_to_the_core_feature():
    model = _shortcut_model()
    test = _features_data(2000, 0.5, seed=1)
    assert _worst_group(model, *test) < 0.1
    heldout = _features_data(400, 0.9, seed=2)  # held-out real data is biased too
    report = kpg.fine_tuning.deep_feature_reweighting(model, *heldout, num_subsets=5, seed=0)
    assert report["c"] in C_GRID and set(report["tuning"]) == set(C_GRID)
    assert _worst_group(model, *test) > 0.9
    kernel = model.classifier.layers[1].get_weights()[0]
    # The class-1 logit grows with the core feature more than with the shortcut.
    assert kernel[0, 1] - kernel[0, 0] > abs(kernel[1, 1] - kernel[1, 0])


def test_dfr_takes_groups_from_the_inputs_dict_and_a_single_c():
    model = _shortcut_model()
    x, y, groups = _features_data(200, 0.9, seed=3)
    report = kpg.fine_tuning.deep_feature_reweighting(
        model, {"images": x, "groups": groups}, y, c=1.0, num_subsets=2
    )
    assert report["c"] == 1.0 and report["tuning"] == {}
    assert 0.0 <= report["worst_group_accuracy"] <= 1.0


def test_dfr_errors_name_what_is_missing():
    x, y, groups = _features_data(50, 0.9, seed=4)
    with pytest.raises(ValueError, match="group ids"):
        kpg.fine_tuning.deep_feature_reweighting(_shortcut_model(), x, y)
    with pytest.raises(ValueError, match="integer class ids"):
        kpg.fine_tuning.deep_feature_reweighting(_shortcut_model(), x, y.astype("float32"), groups)
    relu_last = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.ReLU()])
    with pytest.raises(ValueError, match="Dense layer"):
        kpg.fine_tuning.deep_feature_reweighting(relu_last, x, y, groups)
