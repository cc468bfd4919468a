"""Clip localization metrics against hand-computed frame and tube overlaps."""

import numpy as np
import pytest

from keras_provguide import localization

GT = np.array([[[0, 0, 4, 4]] * 4])  # one clip, 4 frames, a 4x4 box
# Per frame: exact (1), half-width shift (IoU 8/24 = 1/3), disjoint (0), exact (1).
PRED = np.array([[[0, 0, 4, 4], [2, 0, 6, 4], [10, 10, 12, 12], [0, 0, 4, 4]]])


def test_frame_iou_and_accuracy():
    np.testing.assert_allclose(localization.frame_iou(PRED, GT), [[1.0, 1 / 3, 0.0, 1.0]])
    assert localization.frame_localization_accuracy(PRED, GT) == 0.5
    # Only frames 1 and 3 annotated: one hit of two.
    assert localization.frame_localization_accuracy(PRED, GT, gt_frames=[[0, 1, 0, 1]]) == 0.5
    assert localization.frame_localization_accuracy(PRED, GT, iou_threshold=0.3) == 0.75


def test_tube_iou_is_temporal_iou_times_mean_spatial_iou():
    # Predicted frames 0-2, action frames 1-3: temporal IoU 2/4; shared
    # frames 1, 2 have IoUs 1/3 and 0 -> spatial mean 1/6 -> tube IoU 1/12.
    tube = localization.tube_iou(PRED, GT, pred_frames=[[1, 1, 1, 0]], gt_frames=[[0, 1, 1, 1]])
    np.testing.assert_allclose(tube, [1 / 12])
    exact = localization.tube_iou(GT, GT)
    np.testing.assert_allclose(exact, [1.0])
    # All frames in both tubes: temporal IoU 1, spatial mean (1 + 1/3 + 0 + 1) / 4 = 7/12.
    np.testing.assert_allclose(localization.tube_iou(PRED, GT), [7 / 12])
    clips, truth = np.concatenate([GT, PRED]), np.concatenate([GT, GT])
    assert localization.tube_accuracy(clips, truth) == 1.0
    assert localization.tube_accuracy(clips, truth, iou_threshold=0.6) == 0.5
    # No shared frame: 0.
    assert localization.tube_iou(GT, GT, pred_frames=[[1, 1, 0, 0]], gt_frames=[[0, 0, 1, 1]])[0] == 0.0


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="one shape"):
        localization.frame_iou(PRED[:, :2], GT)
    with pytest.raises(ValueError, match="gt_frames"):
        localization.frame_localization_accuracy(PRED, GT, gt_frames=[[1, 1]])
    with pytest.raises(ValueError, match="annotated frame"):
        localization.frame_localization_accuracy(PRED, GT, gt_frames=[[0, 0, 0, 0]])
