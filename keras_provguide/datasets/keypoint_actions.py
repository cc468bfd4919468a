"""Keypoint actions: procedural COCO-17 stick figures acting, with a co-occurring object as the shortcut."""

import numpy as np

from keras_provguide.checks import int_at_least, share
from keras_provguide.data.keypoints import skeletons_to_points
from keras_provguide.keys import FRAME_IDS, INSTANCE_IDS, JOINT_IDS, KEYPOINTS, POINT_MASK

#: The actions, in class order; each moves the actor's joints in its own way.
ACTIONS = ("wave", "jump", "squat", "kick", "clap", "punch")
#: A person's 17 COCO joints at rest, facing the camera: `(x, y)` in body
#: heights, hips at the origin, `y` down (the person's left is image right).
REST_POSE = np.array([
    (0.0, -0.85), (0.03, -0.88), (-0.03, -0.88), (0.06, -0.86), (-0.06, -0.86),
    (0.12, -0.65), (-0.12, -0.65), (0.16, -0.42), (-0.16, -0.42), (0.17, -0.2), (-0.17, -0.2),
    (0.08, 0.0), (-0.08, 0.0), (0.09, 0.25), (-0.09, 0.25), (0.09, 0.5), (-0.09, 0.5),
], "float32")
PERSON_JOINTS = 17
OBJECT_POINTS = 8


def keypoint_actions(
    num_train=600, num_val=0, num_test=200, num_classes=4, num_frames=16, image_size=(240, 320),
    max_persons=3, min_duration=0.5, object_bias=0.9, seed=0, pool_seed=None,
):
    """Skeleton clips for weakly supervised spatio-temporal action localization, offline.

    Each clip shows `2..max_persons` people as 2D COCO-17 skeletons (as a
    pose detector gives them: jittered, scored, some joints missed, and the
    people listed in a different order in every frame, so instance ids are
    per frame as in pyskl's pickles). One person, the actor, performs the
    clip's action (one of `ACTIONS[:num_classes]`, each a joint motion) on
    a run of at least `min_duration` of the frames and stands idle
    otherwise; the others sway idle throughout.

    The shortcut: each clip also holds a non-human object's contour (8
    points, joint ids `17 + object type`, as SKP's object keypoints). On a
    share `object_bias` of training clips the object's type is the class's;
    elsewhere, and in validation and test, it is random.

    Ground truth for localization: the actor's box (the extent of its
    joints, in pixels) on the frames of the action.

    Args:
        num_train, num_val, num_test: split sizes in clips (`num_val` 0:
            no val split).
        num_classes: int in [2, 6].
        num_frames: int >= 2.
        image_size: `(height, width)` in pixels.
        max_persons: int >= 2, the most people in a clip.
        min_duration: float in (0, 1], the least share of frames with the
            action.
        object_bias: float in [0, 1], the share of training clips whose
            object type is the class's.
        seed: int; the data are a deterministic function of it (and of
            `pool_seed`).
        pool_seed: None, or an int that fixes val and test (class-balanced:
            sizes must be multiples of `num_classes`) for every `seed`.

    Returns:
        `{"train", "test"}` (and `"val"`), each a dict of NumPy arrays: the
        keypoint batch (`"keypoints"` `(N, P, 4)`: x, y, t, score;
        `"instance_ids"`, `"frame_ids"`, `"joint_ids"`, `"point_mask"`
        `(N, P)`), `"labels"` int32 `(N,)`, `"boxes"` float32 `(N, T, 4)`
        `(x1, y1, x2, y2)` pixels (0 off the action), `"frames"` bool
        `(N, T)`, `"objects"` int32 `(N,)`; and `"image_size"`.

    Example:

    ```python
    data = kpg.datasets.keypoint_actions(num_train=64, num_test=32)
    data["train"]["keypoints"].shape    # (64, 944, 4)
    ```
    """
    for name, value in (("num_train", num_train), ("num_test", num_test)):
        int_at_least(value, 1, name)
    int_at_least(num_val, 0, "num_val")
    int_at_least(num_classes, 2, "num_classes")
    if num_classes > len(ACTIONS):
        raise ValueError(f"Expected `num_classes` <= {len(ACTIONS)}, received {num_classes}.")
    int_at_least(num_frames, 2, "num_frames")
    int_at_least(max_persons, 2, "max_persons")
    height, width = _pair(image_size)
    min_duration = share(min_duration, "min_duration", open_low=True)
    object_bias = share(object_bias, "object_bias")
    shape = (num_classes, num_frames, (height, width), max_persons, min_duration)
    rng = np.random.default_rng(seed)
    splits = {"train": _split(rng, num_train, shape, object_bias)}
    evaluation = {"val": num_val, "test": num_test}
    if pool_seed is not None:
        for name, count in evaluation.items():
            if count and count % num_classes:
                raise ValueError(
                    f"Expected `{name}` a multiple of num_classes={num_classes} with `pool_seed` "
                    f"(class-balanced pools), received {count}."
                )
        pool_rng = np.random.default_rng([pool_seed, 1])
        evaluation_rngs = {"val": pool_rng, "test": pool_rng}
    else:
        evaluation_rngs = {"val": rng, "test": rng}
    for name in ("test", "val"):
        count = evaluation[name]
        if count:
            balanced = pool_seed is not None
            splits[name] = _split(evaluation_rngs[name], count, shape, None, balanced=balanced)
    for split in splits.values():
        split["image_size"] = np.array([height, width], "int32")
    return splits


def _split(rng, count, shape, object_bias, balanced=False):
    num_classes, frames, (height, width), max_persons, min_duration = shape
    if balanced:
        labels = rng.permutation(np.repeat(np.arange(num_classes), count // num_classes))
    else:
        labels = rng.integers(0, num_classes, count)
    labels = labels.astype("int32")
    random_objects = rng.integers(0, num_classes, count)
    if object_bias is None:
        objects = random_objects
    else:
        objects = np.where(rng.random(count) < object_bias, labels, random_objects)
    skeletons = np.zeros((count, max_persons, frames, PERSON_JOINTS, 2), "float32")
    scores = np.zeros((count, max_persons, frames, PERSON_JOINTS), "float32")
    boxes = np.zeros((count, frames, 4), "float32")
    present = np.zeros((count, frames), bool)
    contours = np.zeros((count, frames, OBJECT_POINTS, 2), "float32")
    shortest = max(1, int(np.ceil(min_duration * frames)))
    for clip in range(count):
        people = rng.integers(2, max_persons + 1)
        duration = rng.integers(shortest, frames + 1)
        start = rng.integers(0, frames - duration + 1)
        acting = np.zeros(frames, bool)
        acting[start:start + duration] = True
        poses = np.zeros((people, frames, PERSON_JOINTS, 2), "float32")
        for person in range(people):
            body = rng.uniform(0.35, 0.55) * height
            centre = np.array([rng.uniform(0.15, 0.85) * width, rng.uniform(0.55, 0.7) * height])
            phase = (np.arange(frames) - start) / max(duration - 1, 1)
            local = np.repeat(REST_POSE[None], frames, axis=0)
            sway = rng.normal(0.0, 0.02, (1, 1, 2)) * np.sin(np.arange(frames) / 3.0 + rng.uniform(0, 6))[:, None, None]
            local = local + sway
            if person == 0:
                local[acting] = _act(labels[clip], phase[acting], local[acting])
            poses[person] = centre + body * local + rng.normal(0.0, 0.01 * body, local.shape)
        actor = poses[0]
        boxes[clip, acting] = np.concatenate([actor[acting].min(axis=1), actor[acting].max(axis=1)], axis=-1)
        present[clip] = acting
        # A detector lists people in no fixed order: shuffle them in every frame.
        for frame in range(frames):
            order = rng.permutation(people)
            skeletons[clip, :people, frame] = poses[order, frame]
        missed = rng.random((people, frames, PERSON_JOINTS)) < 0.05
        skeletons[clip, :people][missed] = 0.0
        scores[clip, :people] = np.where(missed, 0.0, rng.uniform(0.5, 1.0, missed.shape))
        contours[clip] = _object_contour(rng, objects[clip], frames, (height, width))
    points = skeletons_to_points(skeletons, scores, img_shape=(height, width))
    object_points = _object_points(contours, objects, max_persons, (height, width))
    result = {
        key: np.concatenate([points[key], object_points[key]], axis=1)
        for key in (KEYPOINTS, INSTANCE_IDS, FRAME_IDS, JOINT_IDS, POINT_MASK)
    }
    result.update({"labels": labels, "boxes": boxes, "frames": present, "objects": objects.astype("int32")})
    return result


def _act(action, phase, pose):
    """The actor's pose `(n, 17, 2)` at `phase` in [0, 1] of its action, from the rest `pose`."""
    pose = pose.copy()
    swing = np.sin(np.pi * phase)[:, None]  # 0 at the ends of the action, 1 midway.
    beat = np.sin(4 * np.pi * phase)[:, None]
    name = ACTIONS[action]
    if name == "wave":
        pose[:, 8] = pose[:, 8] + swing * (np.array([-0.25, -0.85]) - pose[:, 8])
        pose[:, 10] = pose[:, 10] + swing * (np.array([-0.28, -1.05]) + [0.08, 0.0] * beat - pose[:, 10])
    elif name == "jump":  # A jumping jack: up, arms raised and legs apart.
        pose[..., 1] -= 0.2 * np.abs(np.sin(2 * np.pi * phase))[:, None]
        for joint, target in ((7, (0.3, -0.8)), (8, (-0.3, -0.8)), (9, (0.35, -1.0)), (10, (-0.35, -1.0)),
                              (15, (0.25, 0.45)), (16, (-0.25, 0.45))):
            pose[:, joint] = pose[:, joint] + swing * (np.array(target) - pose[:, joint])
    elif name == "squat":
        drop = 0.25 * swing
        pose[:, :13, 1] += drop
        pose[:, (13, 14), 0] += np.array([0.1, -0.1]) * swing
        pose[:, (13, 14), 1] += 0.5 * drop
    elif name == "kick":
        pose[:, 14] = pose[:, 14] + swing * (np.array([-0.2, 0.1]) - pose[:, 14])
        pose[:, 16] = pose[:, 16] + swing * (np.array([-0.45, 0.15]) - pose[:, 16])
    elif name == "clap":
        gap = 0.03 + 0.1 * np.abs(beat)
        for wrist, elbow, side in ((9, 7, 1.0), (10, 8, -1.0)):
            pose[:, elbow] = pose[:, elbow] + swing * (np.array([0.14 * side, -0.45]) - pose[:, elbow])
            target = np.concatenate([side * gap, np.full_like(gap, -0.45)], axis=1)
            pose[:, wrist] = pose[:, wrist] + swing * (target - pose[:, wrist])
    else:  # punch
        reach = np.abs(beat)
        pose[:, 8] = pose[:, 8] + swing * (np.array([-0.3, -0.62]) - pose[:, 8])
        pose[:, 10] = pose[:, 10] + swing * (np.array([-0.3, -0.62]) + [-0.2, 0.0] * reach - pose[:, 10])
    return pose


def _object_contour(rng, kind, frames, image_size):
    """A static object's 8 contour points per frame: a polygon whose vertex count tells its type."""
    height, width = image_size
    size = rng.uniform(0.05, 0.1) * height
    centre = np.array([rng.uniform(0.1, 0.9) * width, rng.uniform(0.7, 0.9) * height])
    corners = 3 + kind
    angles = np.linspace(0, 2 * np.pi, OBJECT_POINTS, endpoint=False)
    radius = 1.0 + 0.25 * np.cos(corners * angles)
    outline = centre + size * radius[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return outline[None] + rng.normal(0.0, 0.005 * height, (frames, OBJECT_POINTS, 2))


def _object_points(contours, objects, instance, image_size):
    count, frames = contours.shape[:2]
    height, width = image_size
    xy = (contours / np.array([width, height], "float32")).reshape(count, frames * OBJECT_POINTS, 2)
    time = np.repeat(np.arange(frames, dtype="float32") / max(frames - 1, 1), OBJECT_POINTS)
    score = np.ones((count, frames * OBJECT_POINTS, 1), "float32")
    keypoints = np.concatenate([xy, np.broadcast_to(time[None, :, None], score.shape), score], axis=-1)
    shape = (count, frames * OBJECT_POINTS)
    return {
        KEYPOINTS: keypoints.astype("float32"),
        INSTANCE_IDS: np.full(shape, instance, "int32"),
        FRAME_IDS: np.broadcast_to(np.repeat(np.arange(frames), OBJECT_POINTS), shape).astype("int32"),
        JOINT_IDS: (PERSON_JOINTS + objects[:, None] * np.ones(shape, "int32")).astype("int32"),
        POINT_MASK: np.ones(shape, "float32"),
    }


def _pair(image_size):
    try:
        height, width = (int(v) for v in image_size)
    except (TypeError, ValueError):
        height = width = 0
    if height < 1 or width < 1:
        raise ValueError(f"Expected `image_size` as (height, width) ints >= 1, received {image_size!r}.")
    return height, width
