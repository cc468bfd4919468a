"""Localization metrics, computed as the weakly supervised localization literature does.

The box and pixel metrics follow Choe et al., "Evaluating Weakly Supervised
Object Localization Methods Right" (CVPR 2020) and their reference code:

- `max_box_acc`: MaxBoxAcc per IoU threshold, and MaxBoxAccV2 (their mean).
- `pxap`: pixel average precision of score maps against masks.
- `gt_known_loc`, `top1_loc`: the older fixed-threshold protocol.
- `boxes_from_score_map`, `normalize_score_maps`, `box_iou`: the pieces.
- Clips: `frame_localization_accuracy` (per-frame boxes at IoU 0.5),
  `tube_iou` and `tube_accuracy` (video-level action tubes), `frame_iou`.

Keypoint action localization (`actions`, ACT's conventions, inclusive
boxes): `frame_ap`, `video_ap`, `link_tubes`, `detection_rows`,
`ground_truth_tubes`, `iou3dt`.

Box conventions: our boxes are `(x0, y0, x1, y1)` pixel corners with
exclusive ends (Keras's `xyxy`, as `kpg.layers` and `kpg.datasets` produce
them). The reference protocol counts boxes inclusively (`x1` is the last
pixel) and adds 1 to widths. The functions here take exclusive ground-truth
boxes and convert them; `boxes_from_score_map` returns the reference's
inclusive boxes, so the numbers match the reference code exactly.
"""

from keras_provguide.localization.actions import (
    detection_rows,
    frame_ap,
    ground_truth_tubes,
    iou3dt,
    link_tubes,
    video_ap,
)
from keras_provguide.localization.clips import frame_iou, frame_localization_accuracy, tube_accuracy, tube_iou
from keras_provguide.localization.wsol import (
    box_iou,
    boxes_from_score_map,
    gt_known_loc,
    max_box_acc,
    normalize_score_maps,
    pxap,
    top1_loc,
)

__all__ = [
    "box_iou",
    "detection_rows",
    "frame_ap",
    "ground_truth_tubes",
    "iou3dt",
    "link_tubes",
    "video_ap",
    "boxes_from_score_map",
    "frame_iou",
    "frame_localization_accuracy",
    "gt_known_loc",
    "max_box_acc",
    "normalize_score_maps",
    "pxap",
    "top1_loc",
    "tube_accuracy",
    "tube_iou",
]
