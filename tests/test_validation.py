"""Bad input gets a clear ValueError naming the key and shapes, on every backend."""

import numpy as np
import pytest
from conftest import linear_backbone, sparse_ce

import keras_provguide as kpg

RNG = np.random.default_rng(2)
B, K = 4, 3
SHAPE = (5, 5, 3)
IMAGES = RNG.random((B, *SHAPE)).astype("float32")
MASK = np.ones((B, 5, 5, 1), "float32")
LABELS = np.array([0, 1, 2, 0], "int32")
W = RNG.normal(size=(75, K)).astype("float32")


def compiled():
    model = kpg.GuidedModel(linear_backbone(SHAPE, W))
    model.compile("sgd", sparse_ce())
    return model


def with_(**changes):
    x = {"images": IMAGES, "provenance": MASK}
    x.update(changes)
    return x


def nan_at_first(array):
    array = array.copy()
    array.flat[0] = np.nan
    return array


BAD_INPUTS = {
    "provenance_not_broadcastable": (
        with_(provenance=np.ones((B, 4, 4, 1), "float32")),
        LABELS,
        r"Expected 'provenance' with shape broadcastable to images \(4, 5, 5, 3\).*received \(4, 4, 4, 1\)",
    ),
    "provenance_rank": (
        with_(provenance=np.ones((B, 5, 5), "float32")),
        LABELS,
        r"'provenance'.*\(4, 5, 5\)",
    ),
    "provenance_out_of_range": (
        with_(provenance=MASK * 2.0),
        LABELS,
        r"'provenance' values in \[0, 1\].*\[2.0, 2.0\]",
    ),
    "integer_images": (
        with_(images=(IMAGES * 255).astype("uint8")),
        LABELS,
        r"floating-point 'images', received dtype uint8",
    ),
    "labels_out_of_range": (
        with_(),
        np.array([0, 1, 2, 3], "int32"),
        r"'labels' class ids in \[0, 2\] for a model with 3 outputs, received values in \[0, 3\]",
    ),
    "one_hot_width": (
        with_(),
        np.eye(4, dtype="float32")[[0, 1, 2, 3]],
        r"labels of shape \(4,\).*\(4, 3\).*received \(4, 4\)",
    ),
    "source_labels_shape": (
        with_(source_labels=np.zeros((B, 3), "int32")),
        np.eye(K, dtype="float32")[LABELS],
        r"'source_labels' of shape \(batch, 2\).*received \(4, 3\)",
    ),
    "source_labels_out_of_range": (
        with_(source_labels=np.full((B, 2), 7, "int32")),
        np.eye(K, dtype="float32")[LABELS],
        r"'source_labels' class ids in \[0, 2\]",
    ),
    "nan_images": (with_(images=nan_at_first(IMAGES)), LABELS, r"'images' hold 1 NaN"),
    "nan_provenance": (with_(provenance=nan_at_first(MASK)), LABELS, r"'provenance' holds 1 NaN"),
    "missing_images": (
        {"provenance": MASK}, LABELS,
        r"'images' entry \(or 'keypoints' for a keypoint model\), received keys \['provenance'\]",
    ),
    "source_labels_without_provenance": (
        {"images": IMAGES, "source_labels": np.zeros((B, 2), "int32")},
        LABELS,
        r"'source_labels' without 'provenance'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_fit_and_evaluate_reject_bad_input(case):
    x, y, message = BAD_INPUTS[case]
    model = compiled()
    before = model.classifier.get_weights()
    with pytest.raises(ValueError, match=message):
        model.fit(x, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=message):
        model.evaluate(x, y, verbose=0)
    for a, b in zip(before, model.classifier.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case", sorted(c for c in BAD_INPUTS if "images" in BAD_INPUTS[c][0]))
def test_guidance_penalty_rejects_bad_input(case):
    x, y, message = BAD_INPUTS[case]
    with pytest.raises(ValueError, match=message):
        kpg.guidance_penalty(
            linear_backbone(SHAPE, W),
            x["images"],
            x.get("provenance"),
            y,
            source_labels=x.get("source_labels"),
        )


def test_bad_first_batch_of_a_dataset_is_reported():
    tf = pytest.importorskip("tensorflow")
    dataset = tf.data.Dataset.from_tensor_slices((with_(provenance=MASK + 1.0), LABELS)).batch(2)
    with pytest.raises(ValueError, match=r"'provenance' values in \[0, 1\]"):
        compiled().fit(dataset, epochs=1, verbose=0)


def test_bad_validation_data_is_reported_before_training():
    model = compiled()
    with pytest.raises(ValueError, match=r"'images' hold 1 NaN"):
        model.fit(
            with_(), LABELS, validation_data=(with_(images=nan_at_first(IMAGES)), LABELS), verbose=0
        )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"score": "prob"}, r"`score` in \('logit', 'log_prob_sum', 'loss'\), received 'prob'"),
        ({"norm": "l3"}, r"`norm` in \('l2', 'l1'\), received 'l3'"),
        ({"guidance_weight": -1.0}, r"`guidance_weight` to be a float >= 0, received -1.0"),
        ({"guidance_weight": "big"}, r"`guidance_weight` to be a float >= 0, received 'big'"),
    ],
)
def test_constructor_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kpg.GuidedModel(linear_backbone(SHAPE, W), **kwargs)


def test_classifier_must_be_a_keras_layer():
    with pytest.raises(ValueError, match="Expected `classifier` to be a Keras model"):
        kpg.GuidedModel(lambda x: x)


def test_input_gradients_rejects_integer_images():
    with pytest.raises(ValueError, match="floating-point 'images'"):
        kpg.input_gradients(linear_backbone(SHAPE, W), (IMAGES * 255).astype("int32"))
