"""Keypoint action localization: the data contract, batch mixing, augmentations and the SKP-style model."""

import keras
import numpy as np
import pytest
from harness import assert_config_round_trip, assert_keras_file_round_trip, run_layer_test

import keras_provguide as kpg
from keras_provguide.data import keypoints as keypoints_lib

RNG = np.random.default_rng(0)


def _skeleton_batch(batch=4, persons=2, frames=3, joints=17, size=(48, 64)):
    skeleton = RNG.random((batch, persons, frames, joints, 2)).astype("float32") * [size[1], size[0]]
    skeleton[:, 1, 1] = 0.0  # Person 1 missed in frame 1.
    scores = RNG.random((batch, persons, frames, joints)).astype("float32")
    return skeleton, scores, kpg.data.skeletons_to_points(skeleton, scores, img_shape=size)


def _localizer(**kwargs):
    options = dict(num_classes=3, num_joint_types=17, max_instances=4, max_frames=3, width=8)
    options.update(kwargs)
    return kpg.models.KeypointLocalizer(**options)


# The data contract.


def test_skeletons_become_points_with_their_structure():
    skeleton, scores, points = _skeleton_batch()
    assert points["keypoints"].shape == (4, 2 * 3 * 17, 4)
    # Person-major order: point (m, t, v) is at m*T*V + t*V + v.
    m, t, v = 1, 2, 5
    index = m * 3 * 17 + t * 17 + v
    np.testing.assert_allclose(points["keypoints"][0, index, :2], skeleton[0, m, t, v] / [64, 48], rtol=1e-6)
    assert points["keypoints"][0, index, 2] == pytest.approx(t / 2)
    assert points["keypoints"][0, index, 3] == pytest.approx(scores[0, m, t, v])
    assert (points["instance_ids"][0, index], points["frame_ids"][0, index], points["joint_ids"][0, index]) == (m, t, v)
    # The missed person's points are masked, and only those.
    missed = (points["instance_ids"] == 1) & (points["frame_ids"] == 1)
    assert np.all(points["point_mask"][missed] == 0) and np.all(points["point_mask"][~missed] == 1)
    single = kpg.data.skeletons_to_points(skeleton[0], scores[0], img_shape=(48, 64))
    np.testing.assert_array_equal(single["keypoints"], points["keypoints"][0])


@pytest.mark.parametrize("keypoint, scores, shape, match", [
    (np.zeros((2, 3, 17)), None, None, "M persons, T frames"),
    (np.full((2, 3, 17, 2), np.nan), None, None, "finite"),
    (np.zeros((2, 3, 17, 2)), np.zeros((2, 3, 16)), None, "keypoint_score"),
    (np.zeros((2, 3, 17, 2)), None, (0, 10), "img_shape"),
])
def test_skeletons_to_points_rejects_bad_input(keypoint, scores, shape, match):
    with pytest.raises(ValueError, match=match):
        kpg.data.skeletons_to_points(keypoint, scores, img_shape=shape)


class _SourceReader(keras.Model):
    """Class 0 reads the points of instances below `split`, class 1 those at or above it (or all, `cross`)."""

    def __init__(self, split, cross=False):
        super().__init__()
        self.split, self.cross = split, cross

    def call(self, inputs, training=None):
        points = inputs["keypoints"]
        low = keras.ops.cast(inputs["instance_ids"] < self.split, "float32")[..., None]
        high = 1.0 - low
        if self.cross:
            high = keras.ops.ones_like(high)
        energy = keras.ops.square(points)
        return keras.ops.stack(
            [keras.ops.sum(energy * low, axis=(1, 2)), keras.ops.sum(energy * high, axis=(1, 2)),
             keras.ops.zeros_like(keras.ops.sum(points, axis=(1, 2)))], axis=1,
        )


def _two_source_batch():
    _, _, points = _skeleton_batch()
    provenance = (points["instance_ids"] < 1).astype("float32")[..., None]  # Instance 0: source 0.
    source_labels = np.tile([[0, 1]], (4, 1)).astype("int32")
    return points, provenance, source_labels


def test_two_source_penalty_is_zero_exactly_when_each_class_reads_its_own_source():
    points, provenance, source_labels = _two_source_batch()
    own = kpg.guidance_penalty(_SourceReader(split=1), points, provenance, None, source_labels)
    assert own == 0.0
    # Class 1 also reading source 0's points: the penalty is the closed form
    # sum over source-0 points of (d s_1 / dx)^2 = (2x)^2, averaged over clips.
    cross = kpg.guidance_penalty(_SourceReader(split=1, cross=True), points, provenance, None, source_labels)
    source0 = provenance[..., 0] > 0
    expected = np.sum(np.where(source0[..., None], (2 * points["keypoints"]) ** 2, 0.0)) / 4
    assert cross == pytest.approx(expected, rel=1e-5)
    assert cross > 0


class _PerSourceReader(keras.Model):
    """Scores each source apart `(B, 2, 3)`: row `s` reads source `s`'s points, or every point (`cross`)."""

    def __init__(self, cross=False):
        super().__init__()
        self.cross = cross

    def call(self, inputs, training=None):
        energy = keras.ops.sum(keras.ops.square(inputs["keypoints"]), axis=-1)
        partner = keras.ops.cast(inputs["source_ids"], "float32")
        rows = [keras.ops.sum(energy * (1.0 - partner), axis=1), keras.ops.sum(energy * partner, axis=1)]
        if self.cross:
            rows[0] = keras.ops.sum(energy, axis=1)
        return keras.ops.stack([keras.ops.stack([r, 2.0 * r, -r], axis=1) for r in rows], axis=1)


def test_per_source_scores_penalise_only_reading_the_other_clip():
    # A model scoring each mixed clip apart: source i's score is its own row's class.
    points, provenance, source_labels = _two_source_batch()
    x = dict(points, source_ids=(1 - provenance[..., 0]).astype("int32"))
    own = kpg.guidance_penalty(_PerSourceReader(), x, provenance, None, source_labels)
    assert own == 0.0
    # Row 0 reading source 1's points too: sum over them of (d s_0 / dx)^2 = (2x)^2, per clip.
    cross = kpg.guidance_penalty(_PerSourceReader(cross=True), x, provenance, None, source_labels)
    source1 = provenance[..., 0] == 0
    expected = np.sum(np.where(source1[..., None], (2 * points["keypoints"]) ** 2, 0.0)) / 4
    assert cross == pytest.approx(expected, rel=1e-5)


def test_the_penalty_inside_fit_matches_the_closed_form():
    points, provenance, source_labels = _two_source_batch()
    x = dict(points, provenance=provenance, source_labels=source_labels)
    y = np.tile([[0.5, 0.5, 0.0]], (4, 1)).astype("float32")
    for cross, expected_zero in ((False, True), (True, False)):
        model = kpg.GuidedModel(_SourceReader(split=1, cross=cross), guidance_weight=1.0)
        model.compile("sgd", keras.losses.CategoricalCrossentropy(from_logits=True))
        logs = model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
        assert (logs["guidance_penalty"] == 0.0) == expected_zero, logs


@pytest.mark.parametrize("change, match", [
    (lambda x: x.update(instance_ids=x["instance_ids"] + 10), "instance_ids"),
    (lambda x: x.update(frame_ids=x["frame_ids"][:, :-1]), "frame_ids"),
    (lambda x: x.update(provenance=x["provenance"] * 2.0), "provenance"),
    (lambda x: x["keypoints"].__setitem__((0, 0, 0), np.nan), "keypoints"),
    (lambda x: x.update(point_mask=x["point_mask"] * 0.5), "point_mask"),
    (lambda x: x.update(source_ids=np.full_like(x["instance_ids"], 2)), "source_ids"),
])
def test_fit_rejects_bad_keypoint_batches(change, match):
    points, provenance, source_labels = _two_source_batch()
    x = dict(points, provenance=provenance, source_labels=source_labels)
    x["keypoints"] = x["keypoints"].copy()
    change(x)
    model = kpg.GuidedModel(_localizer(), guidance_weight=1.0)
    model.compile("sgd", keras.losses.CategoricalCrossentropy(from_logits=True))
    with pytest.raises(ValueError, match=match):
        model.fit(x, np.tile([[0.5, 0.5, 0.0]], (4, 1)), epochs=1, verbose=0)


# Batch mixing and augmentations.


def _labelled(points):
    return dict(points, labels=np.array([0, 1, 2, 1], "int32"))


def test_batch_mix_joins_two_clips_without_merging_their_people():
    _, _, points = _skeleton_batch()
    n = points["keypoints"].shape[1]

    def check(out):
        assert out["keypoints"].shape == (4, 2 * n, 4)
        np.testing.assert_array_equal(out["provenance"][:, :n, 0], 1.0)
        np.testing.assert_array_equal(out["provenance"][:, n:, 0], 0.0)
        np.testing.assert_array_equal(out["keypoints"][:, :n], points["keypoints"])
        for b in range(4):
            partner = out["source_labels"][b, 1]
            own_groups = set(zip(out["instance_ids"][b, :n], out["frame_ids"][b, :n]))
            partner_groups = set(zip(out["instance_ids"][b, n:], out["frame_ids"][b, n:]))
            assert not own_groups & partner_groups
            # The partner's points are another clip's, unchanged.
            assert any(np.array_equal(out["keypoints"][b, n:], points["keypoints"][c]) for c in range(4) if c != b)
            assert out["source_labels"][b, 0] == [0, 1, 2, 1][b]
            # Per source (the default): each clip keeps its own one-hot label.
            np.testing.assert_array_equal(out["labels"][b], np.eye(3)[[out["source_labels"][b, 0], partner]])
        np.testing.assert_array_equal(out["source_ids"], np.broadcast_to(np.repeat([0, 1], n), (4, 2 * n)))

    run_layer_test(lambda: kpg.layers.ProvenanceBatchMix(num_classes=3, seed=1), _labelled(points), check)


def test_batch_mix_soft_and_multi_hot_labels_hold_both_actions():
    _, _, points = _skeleton_batch()
    for mode, combine in (("multi_hot", np.maximum), ("soft", lambda a, b: 0.5 * a + 0.5 * b)):
        out = kpg.layers.ProvenanceBatchMix(label_mode=mode, num_classes=3, seed=0)(_labelled(points))
        labels = keras.ops.convert_to_numpy(out["labels"])
        sources = keras.ops.convert_to_numpy(out["source_labels"])
        np.testing.assert_array_equal(labels, combine(np.eye(3)[sources[:, 0]], np.eye(3)[sources[:, 1]]))
        assert "source_ids" not in out
    with pytest.raises(ValueError, match="label_mode"):
        kpg.layers.ProvenanceBatchMix(label_mode="hard")


def test_batch_mix_declares_the_shapes_it_returns():
    _, _, points = _skeleton_batch()
    for mode in ("per_source", "soft"):
        for labels in (np.array([0, 1, 2, 1], "int32"), np.eye(3, dtype="float32")[[0, 1, 2, 1]]):
            layer = kpg.layers.ProvenanceBatchMix(label_mode=mode, num_classes=3, seed=0)
            batch = dict(points, labels=labels)
            out = layer(batch)
            declared = layer.compute_output_shape({key: np.shape(value) for key, value in batch.items()})
            assert declared == {key: tuple(np.shape(keras.ops.convert_to_numpy(v))) for key, v in out.items()}


def test_flip_mirrors_x_and_swaps_left_and_right_joints():
    _, _, points = _skeleton_batch()
    batch = dict(points, provenance=RNG.random(points["keypoints"].shape[:2] + (1,)).astype("float32"))

    def check(out):
        np.testing.assert_allclose(out["keypoints"][..., 0], 1.0 - batch["keypoints"][..., 0], atol=1e-6)
        table = keypoints_lib.flip_table(17)
        np.testing.assert_array_equal(out["joint_ids"], table[batch["joint_ids"]])
        np.testing.assert_array_equal(out["provenance"], batch["provenance"])

    run_layer_test(lambda: kpg.layers.KeypointFlip(rate=1.0, seed=0), batch, check)
    twice = kpg.layers.KeypointFlip(rate=1.0)(kpg.layers.KeypointFlip(rate=1.0)(batch))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(twice["keypoints"]), batch["keypoints"], atol=1e-6)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(twice["joint_ids"]), batch["joint_ids"])


def test_scale_and_translation_move_every_point_of_a_clip_alike():
    _, _, points = _skeleton_batch()

    def check_scale(out):
        before, after = points["keypoints"][..., :2] - 0.5, out["keypoints"][..., :2] - 0.5
        # One factor per clip (least squares), and every point moved by it.
        factor = np.sum(before * after, axis=(1, 2)) / np.sum(before * before, axis=(1, 2))
        np.testing.assert_allclose(after, factor[:, None, None] * before, atol=1e-5)
        assert np.all((factor >= 0.8 - 1e-5) & (factor <= 1.2 + 1e-5))
        np.testing.assert_array_equal(out["keypoints"][..., 2:], points["keypoints"][..., 2:])

    def check_shift(out):
        shift = out["keypoints"][..., :2] - points["keypoints"][..., :2]
        assert np.allclose(shift, shift[:, :1], atol=1e-5) and np.all(np.abs(shift) <= 0.1 + 1e-6)

    run_layer_test(lambda: kpg.layers.KeypointScale((0.8, 1.2), seed=0), points, check_scale)
    run_layer_test(lambda: kpg.layers.KeypointTranslate(0.1, seed=0), points, check_shift)


def test_temporal_crop_keeps_a_run_of_frames_renumbered():
    _, _, points = _skeleton_batch(frames=6)

    def check(out):
        for b in range(4):
            kept = out["point_mask"][b] > 0
            original = points["frame_ids"][b][kept]
            assert len(np.unique(original)) >= 3  # At least half of 6 frames.
            assert np.all(np.diff(np.unique(original)) == 1)  # One run.
            np.testing.assert_array_equal(out["frame_ids"][b][kept], original - original.min())
            run = original.max() - original.min()
            np.testing.assert_allclose(out["keypoints"][b][kept, 2], out["frame_ids"][b][kept] / max(run, 1), atol=1e-6)
        assert np.all(out["point_mask"] <= points["point_mask"])

    run_layer_test(lambda: kpg.layers.KeypointTemporalCrop(0.5, seed=0), points, check)


def test_point_dropout_masks_about_its_rate():
    _, _, points = _skeleton_batch(batch=8, frames=8)

    def check(out):
        dropped = 1.0 - out["point_mask"][points["point_mask"] > 0].mean()
        assert 0.15 < dropped < 0.25
        np.testing.assert_array_equal(out["keypoints"], points["keypoints"])

    run_layer_test(lambda: kpg.layers.PointDropout(0.2, seed=0), points, check)


@pytest.mark.parametrize("make, match", [
    (lambda: kpg.layers.PointDropout(1.0), "rate"),
    (lambda: kpg.layers.KeypointScale((1.2, 0.8)), "factor_range"),
    (lambda: kpg.layers.KeypointTemporalCrop(0.0), "min_share"),
    (lambda: kpg.layers.KeypointFlip(left_right=[(1, -2)]), "left_right"),
])
def test_keypoint_layers_validate_their_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_keypoint_layers_refuse_unbatched_points():
    _, _, points = _skeleton_batch()
    with pytest.raises(ValueError, match="rank 3"):
        kpg.layers.PointDropout(0.1)({"keypoints": points["keypoints"][0]})


# The model.


def test_localizer_is_invariant_to_point_order_and_ignores_padding(tmp_path):
    _, _, points = _skeleton_batch()
    model = _localizer()
    logits = keras.ops.convert_to_numpy(model(points))
    order = RNG.permutation(points["keypoints"].shape[1])
    shuffled = {key: value[:, order] for key, value in points.items()}
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(shuffled)), logits, rtol=1e-5, atol=1e-5)
    padded = {key: np.concatenate([value, value[:, :5]], axis=1) for key, value in points.items()}
    padded["keypoints"][:, -5:] = 99.0
    padded["point_mask"][:, -5:] = 0.0
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(padded)), logits, rtol=1e-5, atol=1e-5)
    assert_config_round_trip(model)
    assert_keras_file_round_trip(model, points, tmp_path / "keypoints.keras")


def test_the_pooling_switch_scores_each_person_in_each_frame():
    _, _, points = _skeleton_batch()
    model = _localizer()
    scores, holds = model.instance_scores(points)
    assert scores.shape == (4, 3, 4, 3) and holds.shape == (4, 3, 4)
    np.testing.assert_array_equal(holds[:, :, :2], [[[True, True], [True, False], [True, True]]] * 4)
    assert not holds[:, :, 2:].any()
    detections = model.predict_detections(points, image_size=(48, 64))
    assert len(detections["clip"]) == 4 * 5
    first = (detections["clip"] == 0) & (detections["frame"] == 0) & (detections["instance"] == 1)
    person = (points["instance_ids"][0] == 1) & (points["frame_ids"][0] == 0)
    xy = points["keypoints"][0, person, :2] * [64, 48]
    np.testing.assert_allclose(detections["boxes"][first][0], [*xy.min(0), *xy.max(0)], rtol=1e-5)
    np.testing.assert_allclose(detections["scores"].sum(-1), 1.0, rtol=1e-5)
    tubes = model.predict_tubes(points, image_size=(48, 64))
    assert sorted(tubes) == [0, 1, 2] and all(len(tubes[k]) == 4 for k in tubes)


def test_per_source_scores_are_each_clip_pooled_over_its_own_groups():
    _, _, points = _skeleton_batch()
    model = _localizer(max_instances=8)
    mixed = kpg.layers.ProvenanceBatchMix(num_classes=3, seed=0)(_labelled(points))
    inputs = {k: keras.ops.convert_to_numpy(v) for k, v in kpg.data.keypoint_inputs(mixed).items()}
    assert tuple(model(inputs).shape) == (4, 2, 3)
    assert model.compute_output_shape({k: v.shape for k, v in inputs.items()}) == (4, 2, 3)
    # With the partner's points masked out, the own clip's row is the unmixed clip's score;
    # with them in, the context features let them in (what guidance penalises).
    n = points["keypoints"].shape[1]
    alone = dict(inputs, point_mask=inputs["point_mask"] * (inputs["source_ids"] == 0))
    unmixed = keras.ops.convert_to_numpy(model(points))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(alone))[:, 0], unmixed, rtol=1e-5, atol=1e-5)
    assert not np.allclose(keras.ops.convert_to_numpy(model(inputs))[:, 0], unmixed, atol=1e-5)
    assert alone["source_ids"].shape == (4, 2 * n)


def test_guided_fit_on_mixed_keypoints(tmp_path):
    _, _, points = _skeleton_batch()
    mixed = kpg.layers.ProvenanceBatchMix(num_classes=3, seed=0)(_labelled(points))
    x, y = kpg.data.split_labels({k: keras.ops.convert_to_numpy(v) for k, v in mixed.items()})
    model = kpg.GuidedModel(_localizer(max_instances=8), guidance_weight=1.0)  # Each path's step: below.
    model.compile("adam", keras.losses.CategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert min(history.history["guidance_penalty"]) > 0
    assert np.all(np.isfinite(history.history["loss"]))
    assert_keras_file_round_trip(model, kpg.data.keypoint_inputs(x), tmp_path / "guided.keras")


def test_unguided_and_unmasked_fits_on_per_source_mixes():
    _, _, points = _skeleton_batch()
    mixed = kpg.layers.ProvenanceBatchMix(num_classes=3, seed=0)(_labelled(points))
    x, y = kpg.data.split_labels({k: keras.ops.convert_to_numpy(v) for k, v in mixed.items()})
    assert y.shape == (4, 2, 3)
    unmasked = dict(kpg.data.keypoint_inputs(x), provenance=np.zeros_like(x["provenance"]))
    for inputs, penalised in ((kpg.data.keypoint_inputs(x), False), (unmasked, True)):
        model = kpg.GuidedModel(_localizer(max_instances=8), guidance_weight=1.0)
        model.compile("adam", keras.losses.CategoricalCrossentropy(from_logits=True))
        history = model.fit(inputs, y, epochs=1, batch_size=4, verbose=0).history
        assert np.isfinite(history["loss"][0]) and (history["guidance_penalty"][0] > 0) == penalised
    # Per-clip labels need the clips marked; a (B, K) label with them is refused, and the reverse.
    model = kpg.GuidedModel(_localizer(max_instances=8), guidance_weight=1.0)
    model.compile("adam", keras.losses.CategoricalCrossentropy(from_logits=True))
    with pytest.raises(ValueError, match="one row per mixed clip"):
        model.fit(kpg.data.keypoint_inputs(x), y[:, 0], epochs=1, verbose=0)
    plain = {k: v for k, v in kpg.data.keypoint_inputs(x).items() if k != "source_ids"}
    with pytest.raises(ValueError, match="labels of shape"):
        model.fit(plain, y, epochs=1, verbose=0)


def test_both_exact_paths_take_the_same_keypoint_step():
    _, _, points = _skeleton_batch()
    mixed = kpg.layers.ProvenanceBatchMix(num_classes=3, seed=0)(_labelled(points))
    x, y = kpg.data.split_labels({k: keras.ops.convert_to_numpy(v) for k, v in mixed.items()})
    weights = None
    steps = []
    for path in ("double_backprop", "forward_over_reverse"):
        localizer = _localizer(max_instances=8)
        localizer(kpg.data.keypoint_inputs(x))
        weights = weights or localizer.get_weights()
        localizer.set_weights(weights)
        model = kpg.GuidedModel(localizer, guidance_weight=50.0, second_order=path)
        model.compile(keras.optimizers.SGD(0.1), keras.losses.CategoricalCrossentropy(from_logits=True))
        model.train_on_batch(x, y)
        steps.append(np.concatenate([(a - b).ravel() for a, b in zip(localizer.get_weights(), weights)]))
    assert np.linalg.norm(steps[0]) > 0
    assert np.linalg.norm(steps[0] - steps[1]) <= 1e-4 * np.linalg.norm(steps[0])


def test_localizer_rejects_inputs_without_structure():
    model = _localizer()
    with pytest.raises(ValueError, match="instance_ids"):
        model({"keypoints": np.zeros((1, 5, 4), "float32")})
    with pytest.raises(ValueError, match="num_classes"):
        kpg.models.KeypointLocalizer(num_classes=1)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="a torch autodiff defect")
def test_torch_refuses_forward_over_reverse_through_layer_normalization():
    backbone = keras.Sequential([keras.Input((4,)), keras.layers.LayerNormalization(), keras.layers.Dense(3)])
    model = kpg.GuidedModel(backbone, second_order="forward_over_reverse")
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = {"images": np.ones((2, 4), "float32"), "provenance": np.ones((2, 4), "float32")}
    with pytest.raises(ValueError, match="LayerNormalization"):
        model.fit(x, np.array([0, 1]), verbose=0)
    kpg.GuidedModel(backbone, second_order="double_backprop").compile(
        "sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
