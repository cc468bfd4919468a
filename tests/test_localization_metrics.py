"""WSOL metrics against hand-computed cases of the reference protocol (Choe et al., 2020)."""

import numpy as np
import pytest

from keras_provguide import localization

# Ground truth as our boxes: exclusive ends. (3, 2, 7, 5) covers x 3..6, y 2..4.
GT = np.array([3, 2, 7, 5])


def _blob(x0, y0, x1, y1, value=1.0, size=10, base=None):
    score_map = np.zeros((size, size)) if base is None else base.copy()
    score_map[y0:y1, x0:x1] = value
    return score_map


def test_box_iou_counts_pixels_inclusively():
    iou = localization.box_iou([[0, 0, 9, 9]], [[5, 5, 14, 14], [20, 20, 21, 21]])
    np.testing.assert_allclose(iou, [[25 / 175, 0.0]], atol=1e-12)


def test_boxes_from_score_map_follow_the_reference_conventions():
    # A blob on x 3..6, y 2..4: boundingRect (3, 2, 4, 3) -> (3, 2, 3 + 4, 2 + 3).
    np.testing.assert_array_equal(
        localization.boxes_from_score_map(_blob(*GT), 0.5), [[3, 2, 7, 5]]
    )
    # Touching the right edge: x + w = 10 is clipped to W - 1 = 9.
    np.testing.assert_array_equal(
        localization.boxes_from_score_map(_blob(7, 0, 10, 2), 0.5), [[7, 0, 9, 2]]
    )
    two = _blob(0, 0, 2, 2, base=_blob(5, 5, 9, 9))
    assert sorted(localization.boxes_from_score_map(two, 0.5).tolist()) == [[0, 0, 2, 2], [5, 5, 9, 9]]
    np.testing.assert_array_equal(
        localization.boxes_from_score_map(two, 0.5, multi_contour=False), [[5, 5, 9, 9]]
    )
    np.testing.assert_array_equal(localization.boxes_from_score_map(np.zeros((4, 4)), 0.5), [[0, 0, 0, 0]])


def test_max_box_acc_on_a_hand_built_case():
    # Image 0: the map is the object exactly. Its predicted box (3, 2, 7, 5)
    # against the inclusive truth (3, 2, 6, 4): IoU = 12 / 20 = 0.6.
    # Image 1: the map lies elsewhere: IoU 0.
    maps = np.stack([_blob(*GT), _blob(0, 7, 3, 10)])
    result = localization.max_box_acc(maps, np.stack([GT, GT]))
    assert result["max_box_acc"] == pytest.approx({0.3: 0.5, 0.5: 0.5, 0.7: 0.0}, abs=1e-6)
    assert result["max_box_acc_v2"] == pytest.approx(1 / 3, abs=1e-6)
    assert len(result["accuracy_curve"][0.5]) == 100


def test_the_best_threshold_is_where_the_halo_drops_out():
    # A core on the object inside a halo at 0.5 (uint8 127): for tau < 0.5 the
    # box is the halo's (IoU 12 / 80 = 0.15), from tau = 0.5 on the core's (0.6).
    halo = _blob(1, 0, 9, 8, value=0.5)
    maps = _blob(*GT, base=halo)[None]
    result = localization.max_box_acc(maps, GT[None], iou_thresholds=(0.5,))
    assert result["max_box_acc"][0.5] == 1.0
    assert result["best_threshold"][0.5] == pytest.approx(0.5)
    curve = result["accuracy_curve"][0.5]
    assert curve[:50].max() == 0.0 and curve[50:].min() == 1.0


@pytest.mark.parametrize("multi_contour", [True, False])
def test_every_threshold_at_once_equals_one_threshold_at_a_time(multi_contour):
    # max_box_acc scores all thresholds of a map in one pass; it must give
    # each threshold exactly what boxes_from_score_map and box_iou give.
    from scipy import ndimage

    from keras_provguide.localization import wsol

    rng = np.random.default_rng(0)
    maps = wsol.normalize_score_maps(ndimage.gaussian_filter(rng.random((12, 24, 24)), (0, 1.5, 1.5)))
    maps[0] = 0.0  # no region at any threshold: the (0, 0, 0, 0) box
    truths = wsol._gt_boxes(np.array([[2, 3, 14, 20]] * 12) + rng.integers(0, 8, (12, 1)), 12)
    thresholds = wsol._thresholds(0.01)
    for score_map, truth in zip(maps, truths):
        one_at_a_time = [localization.box_iou(localization.boxes_from_score_map(score_map, tau, multi_contour),
                                              truth).max() for tau in thresholds]
        np.testing.assert_array_equal(wsol._best_ious(score_map, thresholds, truth, multi_contour), one_at_a_time)


def test_maps_are_min_max_normalised_first():
    maps = np.stack([_blob(*GT) * 7.0 + 3.0])
    assert localization.max_box_acc(maps, GT[None])["max_box_acc"][0.5] == 1.0
    np.testing.assert_allclose(localization.normalize_score_maps(np.full((1, 2, 2), 5.0)), 0.0)


def test_pxap_hand_computed():
    scores = np.array([[[0.0, 0.3, 0.6, 1.0]]])
    assert localization.pxap(scores, [[[0, 0, 1, 1]]]) == pytest.approx(1.0, abs=1e-6)
    # Ranked 1.0 (negative), 0.6 (+), 0.3 (+), 0.0 (-):
    # AP = 0.5 * 1/2 + 0.5 * 2/3 = 7/12.
    scores = np.array([[[1.0, 0.6, 0.3, 0.0]]])
    assert localization.pxap(scores, [[[0, 1, 1, 0]]]) == pytest.approx(7 / 12, abs=1e-6)
    # Ignoring the top-scored negative pixel makes the ranking perfect.
    assert localization.pxap(scores, [[[0, 1, 1, 0]]], [[[1, 0, 0, 0]]]) == pytest.approx(1.0)


def test_fixed_threshold_protocol():
    maps = np.stack([_blob(*GT), _blob(0, 7, 3, 10)])
    boxes = [GT[None], np.stack([GT, [0, 7, 3, 10]])]  # image 1 has two objects
    # Image 1's map covers its second object: IoU of (0, 7, 3, 9) with (0, 7, 2, 9) = 9/12.
    assert localization.gt_known_loc(maps, boxes) == 1.0
    assert localization.top1_loc(maps, boxes, [0, 1], [0, 0]) == 0.5
    assert localization.gt_known_loc(maps, np.stack([GT, GT])) == 0.5


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="exclusive ends"):
        localization.max_box_acc(np.zeros((1, 4, 4)), np.array([[2, 2, 2, 3]]))
    with pytest.raises(ValueError, match="for 2 images"):
        localization.max_box_acc(np.zeros((2, 4, 4)), np.array([[0, 0, 2, 2]]))
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        localization.pxap(np.zeros((4, 4)), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="cam_curve_interval"):
        localization.max_box_acc(np.zeros((1, 4, 4)), np.array([[0, 0, 2, 2]]), cam_curve_interval=0)
