"""Localization metrics for clips: per-frame boxes and action tubes.

Boxes are `(x0, y0, x1, y1)` pixel corners with exclusive ends, and IoU is
the plain area ratio (no +1): there is no reference code to match here, so
the convention of the rest of the package holds.
"""

import numpy as np


def frame_iou(boxes_a, boxes_b):
    """Element-wise IoU of exclusive boxes `(..., 4)` x `(..., 4)` of one shape.

    Example:

    ```python
    kpg.localization.frame_iou(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 5, 10]]))  # array([0.5])
    ```
    """
    a, b = np.asarray(boxes_a, "float64"), np.asarray(boxes_b, "float64")
    if a.shape != b.shape or a.shape[-1:] != (4,):
        raise ValueError(f"Expected two box arrays of one shape (..., 4), received {a.shape} and {b.shape}.")
    width = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    height = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    intersection = width * height
    area_a = np.clip(a[..., 2] - a[..., 0], 0, None) * np.clip(a[..., 3] - a[..., 1], 0, None)
    area_b = np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)
    union = area_a + area_b - intersection
    return np.where(union > 0, intersection / np.where(union > 0, union, 1.0), 0.0)


def frame_localization_accuracy(pred_boxes, gt_boxes, gt_frames=None, iou_threshold=0.5):
    """Share of annotated frames whose predicted box has IoU >= `iou_threshold`.

    Args:
        pred_boxes, gt_boxes: `(N, T, 4)`.
        gt_frames: optional bool `(N, T)`, the frames where the action is
            present (default: all).
        iou_threshold: the IoU a hit needs.

    Example:

    ```python
    boxes, frames = clip_localizer.predict_tubes(clips)
    kpg.localization.frame_localization_accuracy(boxes, true_boxes, true_frames)
    ```
    """
    iou = frame_iou(pred_boxes, gt_boxes)
    frames = _frames(gt_frames, iou.shape, "gt_frames")
    if not frames.any():
        raise ValueError("Expected at least one annotated frame, received none.")
    return float(np.mean(iou[frames] >= iou_threshold))


def tube_iou(pred_boxes, gt_boxes, pred_frames=None, gt_frames=None):
    """Spatio-temporal IoU of action tubes, per clip `(N,)`.

    The temporal IoU of the two frame sets times the mean per-frame box IoU
    over the frames both tubes cover (0 where they share no frame): the
    tube overlap used for video-level action localization.

    Example:

    ```python
    boxes, frames = clip_localizer.predict_tubes(clips)
    kpg.localization.tube_iou(boxes, true_boxes, frames, true_frames)  # (N,)
    ```
    """
    iou = frame_iou(pred_boxes, gt_boxes)
    pred = _frames(pred_frames, iou.shape, "pred_frames")
    gt = _frames(gt_frames, iou.shape, "gt_frames")
    both, either = pred & gt, pred | gt
    temporal = both.sum(1) / np.maximum(either.sum(1), 1)
    spatial = (iou * both).sum(1) / np.maximum(both.sum(1), 1)
    return temporal * spatial


def tube_accuracy(pred_boxes, gt_boxes, pred_frames=None, gt_frames=None, iou_threshold=0.5):
    """Share of clips whose predicted tube has `tube_iou >= iou_threshold`.

    Example:

    ```python
    boxes, frames = clip_localizer.predict_tubes(clips)
    kpg.localization.tube_accuracy(boxes, true_boxes, frames, true_frames)
    ```
    """
    return float(np.mean(tube_iou(pred_boxes, gt_boxes, pred_frames, gt_frames) >= iou_threshold))


def _frames(frames, shape, name):
    if frames is None:
        return np.ones(shape, bool)
    frames = np.asarray(frames).astype(bool)
    if frames.shape != shape:
        raise ValueError(f"Expected `{name}` of shape {shape} (clips, frames), received {frames.shape}.")
    return frames
