"""Skeleton sequences as point clouds: the keypoint batch contract of `KeypointLocalizer`.

A keypoint batch is a dict of arrays over `N` points per clip:

- `"keypoints"` float `(B, N, C)`: `x`, `y` (divided by the frame's width
  and height, so in [0, 1]), `t` (the frame index over the clip's last,
  in [0, 1]), then any score channels. The only input differentiated.
- `"instance_ids"` int `(B, N)`: the detection a point belongs to within
  its frame (pyskl's person index: no tracking is assumed).
- `"frame_ids"` int `(B, N)`: its frame.
- `"joint_ids"` int `(B, N)`: its joint (COCO order for persons; object
  contour points take ids after the person joints).
- `"point_mask"` float `(B, N)`: 1 on points, 0 on padding and missed
  detections.
- `"provenance"` float `(B, N, 1)` (1 on points of the labelled source) and
  `"source_labels"` int `(B, 2)` after `kpg.layers.ProvenanceBatchMix`.
"""

import numpy as np

from keras_provguide.keys import FRAME_IDS, INSTANCE_IDS, JOINT_IDS, KEYPOINTS, POINT_MASK, POINT_STRUCTURE

#: COCO's 17 joints: (left, right) pairs that a horizontal flip swaps.
COCO_LEFT_RIGHT = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))


def skeletons_to_points(keypoint, keypoint_score=None, img_shape=None):
    """Converts the structured skeleton layout `(M persons, T frames, V joints, C)` into points.

    The layout is that of pyskl / MMAction2 pickles: person `m` of frame
    `t` is that frame's `m`-th detection, and a person missing from a frame
    is all zeros, which becomes a masked point here (as pyskl treats it).

    Args:
        keypoint: float array `(M, T, V, 2)` of pixel coordinates (or a
            batch `(B, M, T, V, 2)`).
        keypoint_score: optional array `(M, T, V)` (or `(B, M, T, V)`),
            appended as a fourth channel.
        img_shape: `(height, width)` in pixels that `x` and `y` are divided
            by; `None` when the coordinates are already in [0, 1].

    Returns:
        The keypoint batch dict (see the module docstring) with `N = M T V`
        points in person-major order; unbatched input gives arrays without
        the batch axis.

    Example:

    ```python
    skeleton = np.random.rand(2, 16, 17, 2) * [320, 240]
    points = kpg.data.skeletons_to_points(skeleton, img_shape=(240, 320))
    points["keypoints"].shape    # (544, 3)
    ```
    """
    keypoint = np.asarray(keypoint, dtype="float32")
    batched = keypoint.ndim == 5
    if keypoint.ndim not in (4, 5) or keypoint.shape[-1] != 2:
        raise ValueError(
            "Expected `keypoint` of shape (M persons, T frames, V joints, 2) or a batch "
            f"(B, M, T, V, 2), received shape {keypoint.shape}."
        )
    if not np.all(np.isfinite(keypoint)):
        raise ValueError(
            f"Expected finite `keypoint` coordinates, received {int(np.sum(~np.isfinite(keypoint)))} "
            "NaN or infinite values."
        )
    if not batched:
        keypoint = keypoint[None]
    batch, persons, frames, joints, _ = keypoint.shape
    channels = [keypoint]
    missing = np.all(keypoint == 0, axis=-1)
    if img_shape is not None:
        height, width = _image_shape(img_shape)
        channels = [keypoint / np.array([width, height], "float32")]
    time = np.arange(frames, dtype="float32") / max(frames - 1, 1)
    channels.append(np.broadcast_to(time[None, None, :, None, None], (batch, persons, frames, joints, 1)))
    if keypoint_score is not None:
        score = np.asarray(keypoint_score, dtype="float32")
        if score.shape != keypoint.shape[:-1][1 - batched:] and score.shape != keypoint.shape[:-1]:
            raise ValueError(
                f"Expected `keypoint_score` of shape {keypoint.shape[1 - batched:-1]} (matching "
                f"`keypoint`), received {score.shape}."
            )
        channels.append(score.reshape(keypoint.shape[:-1])[..., None])
    points = np.concatenate(channels, axis=-1).reshape(batch, persons * frames * joints, -1)
    grid = np.meshgrid(np.arange(persons), np.arange(frames), np.arange(joints), indexing="ij")
    ids = [np.broadcast_to(g.reshape(1, -1), (batch, persons * frames * joints)).astype("int32") for g in grid]
    result = {
        KEYPOINTS: points.astype("float32"),
        INSTANCE_IDS: ids[0].copy(),
        FRAME_IDS: ids[1].copy(),
        JOINT_IDS: ids[2].copy(),
        POINT_MASK: (~missing).reshape(batch, -1).astype("float32"),
    }
    if not batched:
        result = {key: value[0] for key, value in result.items()}
    return result


def flip_table(num_joint_types, left_right=COCO_LEFT_RIGHT):
    """The joint id each joint becomes under a horizontal flip: left and right swapped, others kept."""
    table = np.arange(num_joint_types, dtype="int32")
    for left, right in left_right:
        if not (0 <= left < num_joint_types and 0 <= right < num_joint_types):
            raise ValueError(
                f"Expected joint pairs within [0, {num_joint_types - 1}], received ({left}, {right})."
            )
        table[left], table[right] = right, left
    return table


def _image_shape(img_shape):
    try:
        height, width = (float(v) for v in img_shape)
    except (TypeError, ValueError):
        height = width = -1.0
    if not (height > 0 and width > 0):
        raise ValueError(f"Expected `img_shape` as (height, width) > 0, received {img_shape!r}.")
    return height, width


def keypoint_inputs(data):
    """The model inputs of a keypoint split or batch dict: `"keypoints"` and the point structure present.

    Example:

    ```python
    data = kpg.datasets.keypoint_actions(num_train=8, num_test=4)
    inputs = kpg.data.keypoint_inputs(data["train"])  # "keypoints" and the point structure
    logits = localizer.predict(inputs)
    ```
    """
    if not isinstance(data, dict) or KEYPOINTS not in data:
        raise ValueError(
            f"Expected a dict holding '{KEYPOINTS}', received "
            + (f"keys {sorted(data)}." if isinstance(data, dict) else f"a {type(data).__name__}.")
        )
    return {key: data[key] for key in (KEYPOINTS, *POINT_STRUCTURE) if key in data}
