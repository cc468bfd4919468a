"""Frame-AP and video-AP with ACT's conventions, against hand-computed cases and an independent sequential reference."""

import numpy as np
import pytest

import keras_provguide as kpg
from keras_provguide.localization import actions


def _reference_frame_ap(detections, gttubes, videos, num_classes, threshold=0.5):
    """ACT's `frameAP` loop as its code reads: one running tp/fp/fn count over detections in score order."""
    aps = []
    for label in range(num_classes):
        truth = {}
        for index, video in enumerate(videos):
            for tube in gttubes[video].get(label, []):
                for row in tube:
                    truth.setdefault((index, int(row[0])), []).append(row[1:5])
        truth = {key: np.array(boxes) for key, boxes in truth.items()}
        missed = sum(len(boxes) for boxes in truth.values())
        rows = detections[detections[:, 2] == label]
        rows = rows[np.argsort(-rows[:, 3], kind="stable")]
        tp = fp = 0
        curve = [(1.0, 0.0)]
        for row in rows:
            key = (int(row[0]), int(row[1]))
            hit = False
            if key in truth and len(truth[key]):
                overlaps = actions.iou2d(truth[key], row[4:8])
                best = int(np.argmax(overlaps))
                if overlaps[best] >= threshold:
                    hit = True
                    truth[key] = np.delete(truth[key], best, axis=0)
            if hit:
                tp, missed = tp + 1, missed - 1
            else:
                fp += 1
            curve.append((tp / (tp + fp), tp / (tp + missed)))
        aps.append(actions.pr_to_ap(curve))
    return float(np.mean(aps))


def test_boxes_are_inclusive_and_ap_is_the_trapezoid_over_the_raw_curve():
    # Two 10x10-pixel boxes (inclusive ends 0..9) sharing 5 columns: IoU 50 / 150.
    assert actions.iou2d([[0, 0, 9, 9]], [5, 0, 14, 9])[0] == pytest.approx(50 / 150)
    # Curve (1, 0) -> (1, 0.5) -> (0.5, 0.5) -> (2/3, 1): areas 0.5 + 0 + 0.5 * (0.5 + 2/3) / 2.
    curve = [(1.0, 0.0), (1.0, 0.5), (0.5, 0.5), (2 / 3, 1.0)]
    assert actions.pr_to_ap(curve) == pytest.approx(0.5 + 0.25 * (0.5 + 2 / 3))


def test_frame_ap_matches_the_sequential_reference():
    rng = np.random.default_rng(0)
    videos, num_classes = list(range(12)), 3
    gttubes = {v: {int(rng.integers(num_classes)): [np.array(
        [[f, 10 + f, 10, 50 + f, 60] for f in range(1, 9)], float)]} for v in videos}
    rows = []
    for v in videos:
        for f in range(1, 10):
            for _ in range(3):
                x = rng.uniform(0, 30)
                rows.append([v, f, rng.integers(num_classes), rng.random(), x, 10, x + 40, 60])
    rows = np.array(rows, float)
    result = kpg.localization.frame_ap(rows, gttubes, videos, num_classes)
    assert result["mean"] == pytest.approx(_reference_frame_ap(rows, gttubes, videos, num_classes))
    assert 0.0 < result["mean"] < 1.0


def test_frame_ap_of_hand_built_detections():
    gttubes = {"a": {0: [np.array([[1, 0, 0, 9, 9], [2, 0, 0, 9, 9]], float)]}}
    rows = np.array([
        [0, 1, 0, 0.9, 0, 0, 9, 9],     # hit
        [0, 1, 0, 0.8, 0, 0, 9, 9],     # duplicate: a false positive
        [0, 2, 0, 0.7, 0, 0, 9, 9],     # hit
    ])
    # Curve (1,0) (1,.5) (.5,.5) (2/3,1).
    result = kpg.localization.frame_ap(rows, gttubes, ["a"], 2)
    assert result["ap"][0] == pytest.approx(0.5 + 0.25 * (0.5 + 2 / 3))
    assert np.isnan(result["ap"][1]) and result["classes"].tolist() == [0]


def test_tube_iou_is_temporal_iou_times_mean_frame_iou():
    truth = np.array([[f, 0, 0, 9, 9] for f in range(1, 11)], float)
    shifted = np.array([[f, 5, 0, 14, 9] for f in range(6, 16)], float)
    # Frames 6-10 shared of 1-15: 5/15; each shared frame's IoU 50/150.
    assert kpg.localization.iou3dt(truth, shifted) == pytest.approx(5 / 15 * 50 / 150)
    assert kpg.localization.iou3dt(truth, truth) == pytest.approx(1.0)
    assert kpg.localization.iou3dt(truth, np.array([[20, 0, 0, 9, 9]], float)) == 0.0


def test_video_ap_counts_each_ground_truth_tube_once():
    truth = np.array([[f, 0, 0, 9, 9] for f in range(1, 6)], float)
    gttubes = {"a": {0: [truth]}, "b": {0: [truth]}}
    tubes = {0: [("a", 0.9, truth), ("a", 0.8, truth), ("b", 0.1, truth[:1])]}
    # a: hit, a again: false positive, b: too short (IoU 1/5) -> recall 1/2.
    result = kpg.localization.video_ap(tubes, gttubes, ["a", "b"], 1)
    assert result["ap"][0] == pytest.approx(0.5)
    perfect = kpg.localization.video_ap({0: [("a", 1.0, truth), ("b", 0.5, truth)]}, gttubes, ["a", "b"], 1)
    assert perfect["mean"] == pytest.approx(1.0)


def test_link_tubes_follows_the_person_and_trims_to_the_scored_run():
    frames = np.repeat(np.arange(6), 2)
    boxes = np.array([[0, 0, 9, 9], [50, 50, 59, 59]] * 6, float)
    scores = np.zeros((12, 2))
    scores[0::2, 1] = [0.1, 0.9, 0.9, 0.8, 0.2, 0.1]  # The first person does action 1 in frames 1-3.
    scores[1::2, 1] = 0.3
    detections = {"clip": np.zeros(12, int), "frame": frames, "boxes": boxes, "scores": scores}
    tubes = kpg.localization.link_tubes(detections, 2, link_iou=1.0, trim_threshold=0.5)
    (video, score, tube), = tubes[1]
    np.testing.assert_array_equal(tube[:, 0], [2, 3, 4])  # Frames from 1.
    np.testing.assert_array_equal(tube[:, 1:5], boxes[[2, 4, 6]])
    assert score == pytest.approx((0.9 + 0.9 + 0.8) / 3)


def test_ground_truth_tubes_and_bad_rows_are_checked():
    boxes = np.zeros((1, 4, 4))
    boxes[0, 1:3] = [1, 2, 3, 4]
    gttubes = kpg.localization.ground_truth_tubes([2], boxes, [[False, True, True, False]])
    np.testing.assert_array_equal(gttubes[0][2][0], [[2, 1, 2, 3, 4], [3, 1, 2, 3, 4]])
    with pytest.raises(ValueError, match=r"\(n, 8\)"):
        kpg.localization.frame_ap(np.zeros((3, 7)), gttubes, [0], 3)
    with pytest.raises(ValueError, match="missing"):
        kpg.localization.frame_ap(np.zeros((0, 8)), gttubes, [0, 1], 3)


def test_keypoint_actions_is_deterministic_and_carries_its_shortcut_and_boxes():
    data = kpg.datasets.keypoint_actions(num_train=400, num_val=40, num_test=400, seed=3, pool_seed=7)
    again = kpg.datasets.keypoint_actions(num_train=400, num_val=40, num_test=400, seed=3, pool_seed=7)
    np.testing.assert_array_equal(data["train"]["keypoints"], again["train"]["keypoints"])
    train, test = data["train"], data["test"]
    assert 0.85 < np.mean(train["objects"] == train["labels"]) < 0.97
    assert np.mean(test["objects"] == test["labels"]) < 0.35
    assert np.bincount(test["labels"]).tolist() == [100] * 4
    # The actor's box holds the actor: some person's joints in that frame span exactly that box.
    clip = 0
    frame = int(np.nonzero(train["frames"][clip])[0][0])
    size = train["image_size"][::-1]
    people = (train["frame_ids"][clip] == frame) & (train["joint_ids"][clip] < 17) & (train["point_mask"][clip] > 0)
    boxes = []
    for person in np.unique(train["instance_ids"][clip][people]):
        xy = train["keypoints"][clip][people & (train["instance_ids"][clip] == person), :2] * size
        boxes.append([*xy.min(0), *xy.max(0)])
    box = train["boxes"][clip, frame]
    assert any(np.all(b[:2] >= box[:2] - 1e-3) and np.all(b[2:] <= box[2:] + 1e-3) for b in boxes)
    assert np.all(train["frames"].sum(1) >= 8)  # min_duration 0.5 of 16 frames
    with pytest.raises(ValueError, match="num_classes"):
        kpg.datasets.keypoint_actions(num_classes=7)
    with pytest.raises(ValueError, match="multiple of num_classes"):
        kpg.datasets.keypoint_actions(num_test=6, pool_seed=0)
