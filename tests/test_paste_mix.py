"""`ProvenancePasteMix`: each sample receives its partner's object, and the labels and provenance say so exactly."""

import keras
import numpy as np
import pytest
from layer_data import in_tf_data, to_numpy

import keras_provguide as kpg


def object_batch(batch=6, size=12, frames=None, seed=0, num_classes=3):
    """Per sample a flat background colour and a square object of another colour, its alpha the provenance.

    Colours are unique per sample, so every mixed pixel names its source. With
    `frames`, clips whose object moves one pixel a frame.
    """
    rng = np.random.default_rng(seed)
    backgrounds, objects = rng.random((batch, 3)), rng.random((batch, 3))
    steps = 1 if frames is None else frames
    alpha = np.zeros((batch, steps, size, size, 1), "float32")
    for i in range(batch):
        top, left = rng.integers(0, size // 2, 2)
        side = rng.integers(2, size // 2)
        for t in range(steps):
            alpha[i, t, top + t // 2 : top + t // 2 + side, left : left + side] = 1.0
    alpha[0, :, 1, 1] = 0.5  # A soft edge: the paste blends.
    images = alpha * objects[:, None, None, None] + (1 - alpha) * backgrounds[:, None, None, None]
    if frames is None:
        images, alpha = images[:, 0], alpha[:, 0]
    data = {"images": images.astype("float32"), "provenance": alpha,
            "labels": (np.arange(batch) % num_classes).astype("int32")}
    return data


def expected_mix(data, partners, num_classes=3, label_mode="area"):
    """The mix by its definition, in NumPy, for a given partner of each sample."""
    images, alpha = data["images"], data["provenance"]
    pasted = alpha[partners]
    share = 1.0 - pasted
    axes = tuple(range(1, images.ndim))
    own, other = (alpha * share).sum(axes), pasted.sum(axes)
    weight = np.where(own + other > 0, own / np.maximum(own + other, 1e-12), 1.0)
    if label_mode == "equal":
        weight = np.full(len(images), 0.5)
    eye = np.eye(num_classes, dtype="float32")
    labels = weight[:, None] * eye[data["labels"]] + (1 - weight[:, None]) * eye[data["labels"][partners]]
    return {"images": share * images + pasted * images[partners], "provenance": share, "labels": labels,
            "source_labels": np.stack([data["labels"], data["labels"][partners]], 1)}


def partners_of(data, out):
    """Which sample's object each mixed image received: the one whose paste reproduces it."""
    partners = []
    for i in range(len(data["images"])):
        errors = [np.inf if j == i else np.abs(
            (1 - data["provenance"][j]) * data["images"][i] + data["provenance"][j] * data["images"][j]
            - out["images"][i]).max() for j in range(len(data["images"]))]
        partners.append(int(np.argmin(errors)))
    return np.array(partners)


@pytest.mark.parametrize("frames", [None, 4])
@pytest.mark.parametrize("label_mode", ["area", "equal"])
@pytest.mark.parametrize("where", ["eager", "tf.data"])
def test_the_mix_is_its_definition(frames, label_mode, where):
    data = object_batch(frames=frames)
    layer = kpg.layers.ProvenancePasteMix(label_mode=label_mode, clips=frames is not None, num_classes=3, seed=4)
    out = to_numpy(layer(data) if where == "eager" else in_tf_data(layer, data))
    partners = partners_of(data, out)
    assert sorted(partners) == list(range(6)) and np.all(partners != np.arange(6))  # A cycle.
    expected = expected_mix(data, partners, label_mode=label_mode)
    for key in ("images", "provenance", "labels"):
        np.testing.assert_allclose(out[key], expected[key], atol=1e-6, err_msg=key)
    np.testing.assert_array_equal(out["source_labels"], expected["source_labels"])
    np.testing.assert_allclose(out["labels"].sum(1), 1.0, atol=1e-6)


def test_label_edge_cases_a_covered_object_and_no_object():
    data = object_batch(batch=2, size=6)
    data["provenance"][:] = 0.0
    data["provenance"][0, 1:3, 1:3] = 1.0  # Sample 1's object is pasted on sample 0...
    data["provenance"][1, 1:3, 1:3] = 1.0  # ...covering sample 0's own object exactly.
    out = to_numpy(kpg.layers.ProvenancePasteMix(num_classes=3, seed=0)(data))
    np.testing.assert_allclose(out["labels"], np.eye(3)[[1, 0]], atol=1e-6)  # Each takes its partner's label.
    data["provenance"][:] = 0.0
    out = to_numpy(kpg.layers.ProvenancePasteMix(num_classes=3, seed=0)(data))
    np.testing.assert_allclose(out["labels"], np.eye(3)[[0, 1]], atol=1e-6)  # Nothing pasted: own label.
    np.testing.assert_allclose(out["images"], data["images"], atol=1e-6)


def test_channels_first_matches_channels_last():
    data = object_batch(frames=3)
    last = to_numpy(kpg.layers.ProvenancePasteMix(clips=True, num_classes=3, seed=2)(data))
    first_in = {**data, "images": np.moveaxis(data["images"], -1, 1),
                "provenance": np.moveaxis(data["provenance"], -1, 1)}
    first = to_numpy(kpg.layers.ProvenancePasteMix(
        clips=True, num_classes=3, seed=2, data_format="channels_first")(first_in))
    np.testing.assert_allclose(np.moveaxis(first["images"], 1, -1), last["images"], atol=1e-6)
    np.testing.assert_allclose(np.moveaxis(first["provenance"], 1, -1), last["provenance"], atol=1e-6)


def test_inference_leaves_the_batch_unmixed():
    data = object_batch()
    out = to_numpy(kpg.layers.ProvenancePasteMix(num_classes=3)(data, training=False))
    np.testing.assert_array_equal(out["images"], data["images"])
    assert "source_labels" not in out


def test_round_trips_its_config():
    layer = kpg.layers.ProvenancePasteMix(label_mode="equal", clips=True, num_classes=4, seed=3)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert (restored.label_mode, restored.clips, restored.num_classes, restored.seed) == ("equal", True, 4, 3)
    data = object_batch(frames=2, num_classes=4)
    np.testing.assert_allclose(to_numpy(layer(data))["images"], to_numpy(restored(data))["images"], atol=1e-6)


def test_mixed_clips_train_a_guided_model_with_the_two_source_penalty():
    out = to_numpy(kpg.layers.ProvenancePasteMix(clips=True, num_classes=3, seed=0)(object_batch(frames=2, size=8)))
    classifier = keras.Sequential([keras.Input((2, 8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(3)])
    model = kpg.GuidedModel(classifier, guidance_weight=0.5)
    model.compile("sgd", keras.losses.CategoricalCrossentropy(from_logits=True))
    logs = model.fit(*kpg.data.split_labels(out), epochs=1, verbose=0).history
    assert logs["guidance_penalty"][0] > 0.0


@pytest.mark.parametrize(
    "make, data, match",
    [
        (lambda: kpg.layers.ProvenancePasteMix(num_classes=3),
         {k: v for k, v in object_batch().items() if k != "provenance"}, "missing \\['provenance'\\]"),
        (lambda: kpg.layers.ProvenancePasteMix(num_classes=3), object_batch(frames=2), "rank 4"),
        (lambda: kpg.layers.ProvenancePasteMix(clips=True, num_classes=3), object_batch(), "rank 5"),
        (lambda: kpg.layers.ProvenancePasteMix(num_classes=3),
         dict(object_batch(), provenance=np.zeros((6, 12, 12, 3), "float32")), "1 channel"),
        (lambda: kpg.layers.ProvenancePasteMix(),
         object_batch(), "num_classes"),
        (lambda: kpg.layers.ProvenancePasteMix(num_classes=3),
         dict(object_batch(), bounding_boxes={"boxes": np.zeros((6, 1, 4)), "labels": np.zeros((6, 1))}),
         "bounding_boxes"),
    ],
)
def test_bad_inputs_name_what_was_expected(make, data, match):
    with pytest.raises(ValueError, match=match):
        make()(data)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"label_mode": "soft"}, "label_mode"), ({"clips": 1}, "clips"), ({"num_classes": 1}, "num_classes")],
)
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kpg.layers.ProvenancePasteMix(**kwargs)
