"""Clips: the temporal mix, the moving-digit data and the clip localizer keep the two-source contract."""

import keras
import numpy as np
import pytest
from layer_data import in_tf_data, to_numpy

import keras_provguide as kpg
from keras_provguide.models.clip_localizer import FramesAsBatch


def _clip_batch(batch=8, frames=6, size=4):
    """Clips whose every frame has a colour unique to (clip, frame)."""
    rng = np.random.default_rng(0)
    colours = rng.random((batch, frames, 3)).astype("float32")
    clips = np.broadcast_to(colours[:, :, None, None, :], (batch, frames, size, size, 3)).copy()
    return {"images": clips, "labels": (np.arange(batch) % 3).astype("int32")}, colours


@pytest.mark.parametrize("where", ["eager", "tf.data"])
def test_temporal_mix_splices_one_segment_of_one_partner(where):
    batch, colours = _clip_batch()
    layer = kpg.layers.ProvenanceTemporalMix(num_classes=3, seed=5)
    out = to_numpy(layer(batch) if where == "eager" else in_tf_data(layer, batch))
    assert out["provenance"].shape == (8, 6, 1, 1, 1)
    own = out["provenance"][:, :, 0, 0, 0]
    assert set(np.unique(own)) <= {0.0, 1.0}
    mixed = out["images"][:, :, 0, 0, :]
    for i in range(8):
        partner_frames = np.flatnonzero(own[i] == 0)
        # The partner's frames are one run of consecutive frames ...
        if partner_frames.size:
            np.testing.assert_array_equal(partner_frames, np.arange(partner_frames[0], partner_frames[-1] + 1))
        np.testing.assert_allclose(mixed[i][own[i] == 1], colours[i][own[i] == 1], atol=1e-6)
        # ... taken at the same times from one other clip of the batch.
        if partner_frames.size:
            partner = int(np.argmin(np.abs(colours[:, partner_frames[0]] - mixed[i, partner_frames[0]]).sum(1)))
            assert partner != i
            np.testing.assert_allclose(mixed[i][partner_frames], colours[partner][partner_frames], atol=1e-6)
            assert out["source_labels"][i, 1] == batch["labels"][partner]
        assert out["source_labels"][i, 0] == batch["labels"][i]
    share = own.mean(1)
    expected = np.zeros((8, 3), "float32")
    np.add.at(expected, (np.arange(8), out["source_labels"][:, 0]), share)
    np.add.at(expected, (np.arange(8), out["source_labels"][:, 1]), 1.0 - share)
    np.testing.assert_allclose(out["labels"], expected, atol=1e-6)
    assert 0.0 < share.mean() < 1.0


def test_temporal_mix_channels_first_and_inference():
    batch, _ = _clip_batch()
    first = dict(batch, images=np.transpose(batch["images"], (0, 4, 1, 2, 3)))
    last_out = to_numpy(kpg.layers.ProvenanceTemporalMix(num_classes=3, seed=2)(batch))
    first_out = to_numpy(
        kpg.layers.ProvenanceTemporalMix(num_classes=3, seed=2, data_format="channels_first")(first)
    )
    np.testing.assert_allclose(np.transpose(first_out["images"], (0, 2, 3, 4, 1)), last_out["images"], atol=1e-6)
    np.testing.assert_allclose(first_out["provenance"][:, 0], last_out["provenance"][..., 0], atol=1e-6)
    unmixed = kpg.layers.ProvenanceTemporalMix(num_classes=3)(batch, training=False)
    np.testing.assert_array_equal(to_numpy(unmixed["images"]), batch["images"])


def test_temporal_mix_rejects_images_and_bad_alpha():
    images = {"images": np.zeros((2, 4, 4, 3), "float32"), "labels": np.zeros(2, "int32")}
    with pytest.raises(ValueError, match=r"rank 5 \(batch, frames, height, width, channels\)"):
        kpg.layers.ProvenanceTemporalMix(num_classes=3)(images)
    with pytest.raises(ValueError, match="alpha"):
        kpg.layers.ProvenanceTemporalMix(alpha=0)


def test_frame_provenance_gives_the_same_penalty_as_the_full_mask():
    """`(B, T, 1, 1, 1)` provenance broadcasts: the penalty equals that of the full mask."""
    rng = np.random.default_rng(1)
    clips = rng.random((4, 3, 5, 5, 2)).astype("float32")
    frames = (rng.random((4, 3, 1, 1, 1)) > 0.5).astype("float32")
    full = np.broadcast_to(frames, (4, 3, 5, 5, 1)).copy()
    model = keras.Sequential([keras.Input((3, 5, 5, 2)), keras.layers.Flatten(), keras.layers.Dense(3)])
    source_labels = np.array([[0, 1], [2, 0], [1, 1], [2, 1]])
    short = kpg.guidance_penalty(model, clips, frames, None, source_labels=source_labels)
    long = kpg.guidance_penalty(model, clips, full, None, source_labels=source_labels)
    assert short > 0
    assert short == pytest.approx(long, rel=1e-6)
    # By hand: a linear model's input gradient of logit k is its kernel column k.
    kernel = keras.ops.convert_to_numpy(model.layers[-1].kernel).reshape(3, 5, 5, 2, 3)
    by_hand = np.mean([
        np.sum(((1 - full[b]) * kernel[..., a] + full[b] * kernel[..., c]) ** 2)
        for b, (a, c) in enumerate(source_labels)
    ])
    assert short == pytest.approx(by_hand, rel=1e-5)


def test_moving_digits_boxes_frames_and_masks_agree():
    data = kpg.datasets.moving_digits(num_train=20, num_test=10, num_frames=6, image_size=24, seed=3)
    train = data["train"]
    assert train["images"].shape == (20, 6, 24, 24, 3) and train["boxes"].shape == (20, 6, 4)
    assert train["frames"].dtype == bool and train["provenance"].shape == (20, 6, 24, 24, 1)
    for clip in range(20):
        present = np.flatnonzero(train["frames"][clip])
        assert len(present) >= 3  # min_duration 0.5 of 6 frames
        np.testing.assert_array_equal(present, np.arange(present[0], present[-1] + 1))
        for frame in range(6):
            mask = train["provenance"][clip, frame, :, :, 0] > 0.5
            if frame not in present:
                assert not mask.any() and not train["boxes"][clip, frame].any()
                continue
            rows, cols = np.nonzero(mask)
            np.testing.assert_array_equal(
                train["boxes"][clip, frame], [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
            )
    again = kpg.datasets.moving_digits(num_train=20, num_test=10, num_frames=6, image_size=24, seed=3)
    np.testing.assert_array_equal(again["test"]["images"], data["test"]["images"])


@pytest.mark.parametrize(
    "kwargs, match",
    [({"num_frames": 1}, "num_frames"), ({"image_size": 8}, "image_size"),
     ({"min_duration": 0}, "min_duration"), ({"num_train": 0}, "num_train")],
)
def test_moving_digits_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        kpg.datasets.moving_digits(**kwargs)


def _identity_clip_localizer():
    """Identity frame features (6x6x2), no conv; class k reads channel k."""
    backbone = keras.Sequential([keras.Input((6, 6, 2)), keras.layers.Identity()], name="identity")
    localizer = kpg.models.ClipLocalizer(2, backbone=backbone, input_shape=(4, 6, 6, 2), cam_width=0)
    localizer.get_layer("logits").set_weights([np.eye(2, dtype="float32"), np.zeros(2, "float32")])
    return localizer


def test_clip_maps_and_tubes_follow_the_class_evidence():
    localizer = _identity_clip_localizer()
    clip = np.zeros((1, 4, 6, 6, 2), "float32")
    clip[0, 1, 1:3, 2:5, 0] = 1.0  # class 0 in frames 1 and 2, x 2..4, y 1..2
    clip[0, 2, 2:4, 2:5, 0] = 1.0
    clip[0, 3, 0:2, 0:2, 0] = 0.3  # faint class-0 evidence in frame 3
    maps = localizer.frame_activation_maps(clip, class_ids=[0])
    assert maps.shape == (1, 4, 6, 6)
    assert maps.min() == 0.0 and maps.max() == pytest.approx(1.0)
    assert maps[0, 0].max() == 0.0  # normalised over the clip: an empty frame stays 0
    boxes, frames = localizer.predict_tubes(clip, threshold=0.5, frame_threshold=0.5, class_ids=[0])
    np.testing.assert_array_equal(frames, [[False, True, True, False]])
    np.testing.assert_array_equal(boxes[0], [[0, 0, 0, 0], [2, 1, 5, 3], [2, 2, 5, 4], [0, 0, 0, 0]])
    assert kpg.localization.tube_accuracy(boxes, boxes, frames, frames) == 1.0
    with pytest.raises(ValueError, match=r"clips.*\(batch, 4, 6, 6, 2\)"):
        localizer.frame_activation_maps(clip[:, :3])
    with pytest.raises(ValueError, match="frame_threshold"):
        localizer.predict_tubes(clip, frame_threshold=2.0)
    with pytest.raises(ValueError, match="threshold"):
        localizer.predict_tubes(clip, threshold="high")
    same, _ = localizer.predict_tubes(clip, threshold=np.float32(0.5), class_ids=[0])
    np.testing.assert_array_equal(same, boxes)


def test_clip_localizer_trains_guided_on_temporal_mixes_and_reloads(tmp_path):
    data = kpg.datasets.moving_digits(num_train=16, num_test=4, num_frames=3, image_size=16, seed=0)
    frame_features = keras.Sequential(
        [keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, strides=2, activation="relu")], name="tiny"
    )
    localizer = kpg.models.ClipLocalizer(10, backbone=frame_features, input_shape=(3, 16, 16, 3), cam_width=4)
    model = kpg.GuidedModel(localizer, guidance_weight=0.1)
    model.compile("adam", keras.losses.CategoricalCrossentropy(from_logits=True))
    mixed = kpg.layers.ProvenanceTemporalMix(num_classes=10, seed=0)(
        {"images": data["train"]["images"], "labels": data["train"]["labels"]}
    )
    history = model.fit(*kpg.data.split_labels(mixed), batch_size=8, epochs=1, verbose=0)
    assert history.history["guidance_penalty"][0] > 0
    path = str(tmp_path / "clips.keras")
    localizer.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, kpg.models.ClipLocalizer) and loaded.num_frames == 3
    np.testing.assert_allclose(
        loaded.frame_activation_maps(data["test"]["images"]),
        localizer.frame_activation_maps(data["test"]["images"]), atol=1e-5,
    )


def test_frames_go_through_the_backbone_in_one_call_with_timedistributeds_outputs():
    backbone = keras.Sequential([
        keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.BatchNormalization(),
    ])
    clips = np.random.default_rng(0).normal(size=(2, 5, 8, 8, 3)).astype("float32")
    calls = []
    original_call = backbone.call
    backbone.call = lambda inputs, **kwargs: calls.append(tuple(inputs.shape)) or original_call(inputs, **kwargs)
    folded = to_numpy(FramesAsBatch(backbone)(clips))
    assert calls == [(10, 8, 8, 3)]  # one call on every frame, where Keras's makes 5
    backbone.call = original_call
    per_step = to_numpy(keras.layers.TimeDistributed(backbone)(clips))
    np.testing.assert_allclose(folded, per_step, rtol=1e-5, atol=1e-5)
    # In training, BatchNorm normalises over every frame of the batch at once.
    trained = to_numpy(FramesAsBatch(backbone)(clips, training=True))
    np.testing.assert_allclose(trained.mean(axis=(0, 1, 2, 3)), 0.0, atol=1e-4)
    assert np.abs(trained[:, 0].mean(axis=(0, 1, 2))).max() > 1e-3  # not over each time step's batch


def test_clip_localizer_folds_frames_by_default_or_steps_through_them_with_the_same_maps(tmp_path):
    clips = np.random.default_rng(1).random((2, 3, 16, 16, 3)).astype("float32")
    folded = kpg.models.ClipLocalizer(4, input_shape=(3, 16, 16, 3), cam_width=4)
    stepped = kpg.models.ClipLocalizer(4, input_shape=(3, 16, 16, 3), cam_width=4, fold_frames=False)
    assert isinstance(folded.get_layer("frames"), FramesAsBatch)
    assert type(stepped.get_layer("frames")) is keras.layers.TimeDistributed
    stepped.set_weights(folded.get_weights())
    np.testing.assert_allclose(stepped.frame_activation_maps(clips), folded.frame_activation_maps(clips), atol=1e-5)
    path = str(tmp_path / "stepped.keras")
    stepped.save(path)
    assert keras.saving.load_model(path).fold_frames is False
    with pytest.raises(ValueError, match="fold_frames"):
        kpg.models.ClipLocalizer(4, input_shape=(3, 16, 16, 3), fold_frames="yes")


def test_clip_localizer_bad_arguments():
    with pytest.raises(ValueError, match="input_shape"):
        kpg.models.ClipLocalizer(3, input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="num_classes"):
        kpg.models.ClipLocalizer(1)
