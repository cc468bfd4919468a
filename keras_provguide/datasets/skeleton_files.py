"""Readers of the published skeleton-action formats: pyskl / MMAction2 pickles and the ACT / MOC UCF101-24 ground truth.

- `pyskl_annotations`: the skeleton pickles of kennymckormick/pyskl
  (`tools/data/README.md`): a dict with `"split"` (name -> video ids) and
  `"annotations"`, a list of dicts with `frame_dir`, `label`,
  `total_frames`, `img_shape` `(h, w)`, `keypoint` `(M, T, V, C)` (pixels;
  a person missing from a frame is zeros) and, for 2D, `keypoint_score`
  `(M, T, V)`.
- `ucf101_24_ground_truth`: `UCF101v2-GT.pkl` of the ACT and MOC detectors
  (MCG-NJU/MOC-Detector, `readme/Dataset.md`), written by Python 2: a dict
  with `labels` (class names), `gttubes` (video -> label -> list of `(n, 5)`
  arrays `(frame, x1, y1, x2, y2)`, frames from 1), `nframes`,
  `train_videos` and `test_videos` (one list of videos per split) and
  `resolution` (video -> `(h, w)`).
- `keypoint_action_clips`: the two joined by video into keypoint clips for
  `KeypointLocalizer`, with the ground truth for frame- and video-AP.
"""

import os

import numpy as np

from keras_provguide.checks import int_at_least
from keras_provguide.data.keypoints import skeletons_to_points
from keras_provguide.datasets.files import load_pickle

_PYSKL_KEYS = ("frame_dir", "label", "keypoint", "total_frames")
_GT_KEYS = ("labels", "gttubes", "nframes", "train_videos", "test_videos", "resolution")


def pyskl_annotations(path, split=None):
    """The annotations of a pyskl skeleton pickle, checked record by record.

    Args:
        path: the `.pkl` file.
        split: optional split name (e.g. `"train1"`): only its videos.

    Returns:
        A list of annotation dicts, `keypoint` as float32 `(M, T, V, C)` and
        `keypoint_score` as float32 `(M, T, V)` where given.

    Example:

    ```python
    annotations = kpg.datasets.pyskl_annotations("ucf101_24_hrnet.pkl")
    ```
    """
    data = load_pickle(path)
    if not isinstance(data, dict) or "annotations" not in data:
        raise ValueError(
            f"{path}: expected a pyskl pickle, a dict with 'split' and 'annotations', received "
            + (f"keys {sorted(data)}." if isinstance(data, dict) else f"a {type(data).__name__}.")
        )
    records = data["annotations"]
    if split is not None:
        splits = data.get("split", {})
        if split not in splits:
            raise ValueError(f"{path}: expected a split in {sorted(splits)}, received {split!r}.")
        wanted = set(splits[split])
        records = [r for r in records if isinstance(r, dict) and r.get("frame_dir") in wanted]
    return [_checked_annotation(path, index, record) for index, record in enumerate(records)]


def _checked_annotation(path, index, record):
    where = f"{path}: annotation {index}"
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a dict, received a {type(record).__name__}.")
    missing = [key for key in _PYSKL_KEYS if key not in record]
    if missing:
        raise ValueError(f"{where} ({record.get('frame_dir')!r}): missing keys {missing}.")
    where = f"{where} ({record['frame_dir']!r})"
    keypoint = np.asarray(record["keypoint"], "float32")
    if keypoint.ndim != 4 or keypoint.shape[1] != record["total_frames"] or keypoint.shape[-1] not in (2, 3):
        raise ValueError(
            f"{where}: expected 'keypoint' of shape (M, total_frames={record['total_frames']}, V, 2 or 3), "
            f"received {keypoint.shape}."
        )
    if not np.all(np.isfinite(keypoint)):
        raise ValueError(f"{where}: 'keypoint' holds NaN or infinite values.")
    out = dict(record, keypoint=keypoint)
    if "keypoint_score" in record:
        score = np.asarray(record["keypoint_score"], "float32")
        if score.shape != keypoint.shape[:-1]:
            raise ValueError(
                f"{where}: expected 'keypoint_score' of shape {keypoint.shape[:-1]}, received {score.shape}."
            )
        out["keypoint_score"] = score
    if keypoint.shape[-1] == 2 and "img_shape" not in record:
        raise ValueError(f"{where}: 2D keypoints need 'img_shape' (height, width) to be normalised.")
    if not isinstance(record["label"], (int, np.integer)) or record["label"] < 0:
        raise ValueError(f"{where}: expected an int 'label' >= 0, received {record['label']!r}.")
    return out


def ucf101_24_ground_truth(path):
    """`UCF101v2-GT.pkl` (ACT / MOC), checked: tubes `(n, 5)` with frames in `[1, nframes]`.

    Example:

    ```python
    truth = kpg.datasets.ucf101_24_ground_truth("UCF101v2-GT.pkl")
    ```
    """
    data = load_pickle(path, encoding="latin1")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict with keys {list(_GT_KEYS)}, received a {type(data).__name__}.")
    missing = [key for key in _GT_KEYS if key not in data]
    if missing:
        raise ValueError(f"{path}: missing keys {missing} (expected {list(_GT_KEYS)}).")
    num_classes = len(data["labels"])
    for video, tubes in data["gttubes"].items():
        if video not in data["nframes"] or video not in data["resolution"]:
            raise ValueError(f"{path}: video {video!r} has tubes but no 'nframes' or 'resolution'.")
        for label, items in tubes.items():
            if not 0 <= int(label) < num_classes:
                raise ValueError(f"{path}: video {video!r}: label {label} outside [0, {num_classes - 1}].")
            for tube in items:
                tube = np.asarray(tube)
                if tube.ndim != 2 or tube.shape[1] != 5 or not len(tube):
                    raise ValueError(
                        f"{path}: video {video!r}, label {label}: expected tubes of shape (n, 5) "
                        f"(frame, x1, y1, x2, y2), received {tube.shape}."
                    )
                if tube[:, 0].min() < 1 or tube[:, 0].max() > data["nframes"][video]:
                    raise ValueError(
                        f"{path}: video {video!r}, label {label}: tube frames outside "
                        f"[1, {data['nframes'][video]}] (frames count from 1)."
                    )
    return data


def keypoint_action_clips(annotations, ground_truth, split=1, num_frames=16, max_persons=4):
    """Skeleton annotations joined with the UCF101-24 ground truth into keypoint clips.

    Videos are joined by name: a ground-truth video `"Class/v_..."` takes
    the annotation whose `frame_dir` is `"v_..."` or the whole name. Each
    clip samples `num_frames` frames, the middle of equal segments of the
    video (pyskl's `UniformSampleFrames` at test time, without its
    randomness); keeps the `max_persons` people of highest mean score; its
    label is the video's ground-truth class. These choices are ours.

    Args:
        annotations: `pyskl_annotations(...)`.
        ground_truth: `ucf101_24_ground_truth(...)`.
        split: 1-based split index of `train_videos` / `test_videos`.
        num_frames, max_persons: ints >= 1.

    Returns:
        `{"train", "test"}`, each the keypoint batch dict of
        `kpg.data.keypoints` plus `"labels"`, `"videos"` (names),
        `"frame_numbers"` `(N, num_frames)` (the sampled frames, from 1),
        `"image_size"` `(N, 2)` `(h, w)`; and `"gttubes"`, `"missing"`
        (ground-truth videos without skeletons), `"labels_names"`.

    Example:

    ```python
    annotations = kpg.datasets.pyskl_annotations("ucf101_24_hrnet.pkl")
    truth = kpg.datasets.ucf101_24_ground_truth("UCF101v2-GT.pkl")
    clips = kpg.datasets.keypoint_action_clips(annotations, truth, split=1)
    model.fit(kpg.data.keypoint_inputs(clips["train"]), clips["train"]["labels"])
    ```
    """
    int_at_least(num_frames, 1, "num_frames")
    int_at_least(max_persons, 1, "max_persons")
    count = len(ground_truth["train_videos"])
    if not isinstance(split, int) or not 1 <= split <= count:
        raise ValueError(f"Expected `split` in [1, {count}], received {split!r}.")
    by_name = {}
    for record in annotations:
        by_name[record["frame_dir"]] = record
        by_name.setdefault(os.path.basename(record["frame_dir"]), record)
    out = {"gttubes": ground_truth["gttubes"], "labels_names": list(ground_truth["labels"]), "missing": []}
    for name, videos in (("train", ground_truth["train_videos"][split - 1]),
                         ("test", ground_truth["test_videos"][split - 1])):
        clips = []
        for video in videos:
            record = by_name.get(video, by_name.get(os.path.basename(video)))
            tubes = ground_truth["gttubes"].get(video, {})
            if record is None or not tubes:
                out["missing"].append(video)
                continue
            clips.append(_clip(video, record, int(next(iter(tubes))), num_frames, max_persons))
        if not clips:
            raise ValueError(
                f"No {name} video of split {split} has both skeletons and ground truth: check that the "
                "pyskl frame_dir names match the ground truth's video names (e.g. 'v_Basketball_g01_c01')."
            )
        out[name] = {key: (np.stack([c[key] for c in clips]) if key != "videos" else [c[key] for c in clips])
                     for key in clips[0]}
    return out


def _clip(video, record, label, num_frames, max_persons):
    keypoint = record["keypoint"][..., :2]
    total = keypoint.shape[1]
    frames = np.minimum(((np.arange(num_frames) + 0.5) * total / num_frames).astype(int), total - 1)
    score = record.get("keypoint_score", np.ones(keypoint.shape[:-1], "float32"))
    order = np.argsort(-score.mean(axis=(1, 2)), kind="stable")[:max_persons]
    people = np.zeros((max_persons, num_frames) + keypoint.shape[2:], "float32")
    scores = np.zeros((max_persons, num_frames, keypoint.shape[2]), "float32")
    people[:len(order)] = keypoint[order][:, frames]
    scores[:len(order)] = score[order][:, frames]
    height, width = record["img_shape"]
    points = skeletons_to_points(people, scores, img_shape=(height, width))
    return dict(points, labels=np.int32(label), videos=video, frame_numbers=(frames + 1).astype("int32"),
                image_size=np.array([height, width], "int32"))
