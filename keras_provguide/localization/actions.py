"""Spatio-temporal action localization metrics: frame-AP and video-AP as the UCF101-24 detectors compute them.

The conventions are those of the ACT detector's evaluation (Kalogeiton et
al., 2017), which MOC-Detector (MCG-NJU) reuses (`src/ACT.py`,
`src/ACT_utils/ACT_utils.py`), read at MOC-Detector's HEAD on 2026-12-05:

- boxes are `(x1, y1, x2, y2)` pixel coordinates counted inclusively: a
  box's width is `x2 - x1 + 1`;
- frames are numbered from 1;
- ground truth is ACT's `gttubes`: video -> label -> list of `(n, 5)`
  arrays `(frame, x1, y1, x2, y2)`;
- detections are matched greedily in descending score: a detection is a
  true positive when its best IoU with a still-unmatched ground truth of its
  class in its video (and frame) reaches the threshold; every ground truth
  counts towards recall (no "difficult" flag);
- AP is the trapezoid sum over the raw precision-recall curve starting at
  `(recall 0, precision 1)`: neither VOC's 11 points nor a monotone
  envelope;
- tube IoU (`iou3dt`) is the temporal IoU (frames counted inclusively)
  times the mean per-frame IoU over the frames both tubes share.

Class means are over every class, as ACT's are (a class without ground
truth scores 0 there; we drop it from the mean and say so in `classes`).
"""

import numpy as np


def iou2d(boxes, box):
    """IoU of each of `boxes` `(n, 4)` with `box` `(4,)`, inclusive pixel boxes (ACT's `iou2d`)."""
    boxes = np.asarray(boxes, "float64").reshape(-1, 4)
    box = np.asarray(box, "float64")
    width = np.maximum(0.0, np.minimum(boxes[:, 2], box[2]) + 1 - np.maximum(boxes[:, 0], box[0]))
    height = np.maximum(0.0, np.minimum(boxes[:, 3], box[3]) + 1 - np.maximum(boxes[:, 1], box[1]))
    overlap = width * height
    area = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    area_box = (box[2] - box[0] + 1) * (box[3] - box[1] + 1)
    return overlap / (area + area_box - overlap)


def iou3dt(tube_a, tube_b):
    """Spatio-temporal IoU of two tubes `(n, 5)` `(frame, x1, y1, x2, y2)` of contiguous frames (ACT's `iou3dt`).

    Example:

    ```python
    a = np.array([[1, 0, 0, 9, 9], [2, 0, 0, 9, 9]])  # (frame, x1, y1, x2, y2)
    b = np.array([[2, 0, 0, 9, 9], [3, 0, 0, 9, 9]])
    kpg.localization.iou3dt(a, b)  # 1/3: one frame of three in common
    ```
    """
    a, b = np.asarray(tube_a, "float64"), np.asarray(tube_b, "float64")
    start, end = max(a[0, 0], b[0, 0]), min(a[-1, 0], b[-1, 0])
    if end < start:
        return 0.0
    temporal = (end - start + 1) / (max(a[-1, 0], b[-1, 0]) - min(a[0, 0], b[0, 0]) + 1)
    in_a = a[(a[:, 0] >= start) & (a[:, 0] <= end)]
    in_b = b[(b[:, 0] >= start) & (b[:, 0] <= end)]
    if len(in_a) != len(in_b) or not np.array_equal(in_a[:, 0], in_b[:, 0]):
        raise ValueError("Expected tubes of contiguous frames, one box per frame (as ACT's iou3dt assumes).")
    spatial = np.mean([iou2d(in_a[i, 1:5], in_b[i, 1:5])[0] for i in range(len(in_a))])
    return float(temporal * spatial)


def pr_to_ap(precision_recall):
    """ACT's AP: the trapezoid sum over a precision-recall curve `(n, 2)` of `(precision, recall)` rows."""
    pr = np.asarray(precision_recall, "float64")
    return float(np.sum((pr[1:, 1] - pr[:-1, 1]) * (pr[1:, 0] + pr[:-1, 0]) * 0.5))


def frame_ap(detections, gttubes, videos, num_classes, iou_threshold=0.5):
    """Frame-AP per class and its mean, as ACT's `frameAP`.

    Args:
        detections: array `(n, 8)` of rows `(video index, frame, label,
            score, x1, y1, x2, y2)` (ACT's layout; frames from 1).
        gttubes: ACT's ground truth, video name -> label -> list of
            `(m, 5)` arrays.
        videos: the video names the detections' first column indexes; the
            evaluated videos.
        num_classes: int.
        iou_threshold: the IoU a true positive needs (0.5 for frame-AP@0.5).

    Returns:
        dict: `"ap"` `(num_classes,)` (NaN for a class without ground
        truth), `"mean"` over the classes with ground truth, `"classes"`.

    Example:

    ```python
    rows = kpg.localization.detection_rows(localizer.predict_detections(inputs, image_size=(240, 320)), 24)
    kpg.localization.frame_ap(rows, gttubes, videos, 24)["mean"]
    ```
    """
    detections = _rows(detections, 8, "detections")
    videos = list(videos)
    _check_videos(gttubes, videos)
    aps = np.full(num_classes, np.nan)
    for label in range(num_classes):
        ground_truth = {}
        for index, video in enumerate(videos):
            for tube in gttubes[video].get(label, []):
                for row in np.asarray(tube, "float64"):
                    ground_truth.setdefault((index, int(row[0])), []).append(row[1:5])
        ground_truth = {key: np.array(boxes) for key, boxes in ground_truth.items()}
        total = sum(len(b) for b in ground_truth.values())
        if total == 0:
            continue
        rows = detections[detections[:, 2] == label]
        rows = rows[np.argsort(-rows[:, 3], kind="stable")]
        # Matching runs in score order within each (video, frame); frames
        # are independent, so each is matched on its own and the hits are
        # read in the global score order after.
        hits = np.zeros(len(rows), bool)
        in_frame = {}
        for i, key in enumerate(zip(rows[:, 0].astype(int).tolist(), rows[:, 1].astype(int).tolist())):
            if key in ground_truth:
                in_frame.setdefault(key, []).append(i)
        for key, index in in_frame.items():
            boxes = ground_truth[key]
            for i in index:
                if not len(boxes):
                    break
                overlaps = iou2d(boxes, rows[i, 4:8])
                best = int(np.argmax(overlaps))
                if overlaps[best] >= iou_threshold:
                    hits[i] = True
                    boxes = np.delete(boxes, best, axis=0)
        aps[label] = pr_to_ap(_curve(hits, total))
    return _summary(aps)


def video_ap(tubes, gttubes, videos, num_classes, iou_threshold=0.5):
    """Video-AP per class and its mean, as ACT's `videoAP`.

    Args:
        tubes: label -> list of `(video name, score, tube)` with `tube`
            `(n, 5+)` rows `(frame, x1, y1, x2, y2, ...)` of contiguous
            frames (`link_tubes` gives them).
        gttubes: ACT's ground truth (see `frame_ap`).
        videos: the evaluated video names.
        num_classes: int.
        iou_threshold: the tube IoU (`iou3dt`) a true positive needs.

    Returns:
        dict: `"ap"`, `"mean"`, `"classes"`, as `frame_ap`.

    Example:

    ```python
    tubes = kpg.localization.link_tubes(detections, 24)
    kpg.localization.video_ap(tubes, gttubes, videos, 24)["mean"]
    ```
    """
    videos = list(videos)
    _check_videos(gttubes, videos)
    aps = np.full(num_classes, np.nan)
    for label in range(num_classes):
        ground_truth = {v: [np.asarray(t, "float64") for t in gttubes[v].get(label, [])] for v in videos}
        total = sum(len(t) for t in ground_truth.values())
        if total == 0:
            continue
        found = [entry for entry in tubes.get(label, []) if entry[0] in ground_truth]
        found.sort(key=lambda entry: -entry[1])
        hits = []
        for video, _, tube in found:
            candidates = ground_truth[video]
            hit = False
            if candidates:
                overlaps = [iou3dt(g, np.asarray(tube, "float64")[:, :5]) for g in candidates]
                best = int(np.argmax(overlaps))
                if overlaps[best] >= iou_threshold:
                    hit = True
                    del candidates[best]
            hits.append(hit)
        aps[label] = pr_to_ap(_curve(np.array(hits, bool), total))
    return _summary(aps)


def link_tubes(detections, num_classes, link_iou=0.3, trim_threshold=0.5, videos=None):
    """One tube per clip and class from per-frame person detections: linked, then trimmed in time.

    Linking (ours, after Gkioxari and Malik's "Finding action tubes"): over
    the frames that have detections, the path of one detection per frame
    maximising the sum of class scores plus `link_iou`-weighted IoUs of
    consecutive boxes (Viterbi). Trimming: the longest run of consecutive
    path frames whose score is at least `trim_threshold` (the single best
    frame if none is). A tube's score is its frames' mean score. Frames are
    numbered from 1 in the tubes, as ACT's.

    Args:
        detections: the dict of `KeypointLocalizer.predict_detections`
            (`"clip"`, `"frame"`, `"boxes"`, `"scores"`).
        num_classes: int.
        link_iou: float >= 0, the weight of IoU in the linking score.
        trim_threshold: float, the least score a tube frame keeps.
        videos: optional names of the clips (default: the clip index).

    Returns:
        label -> list of `(video, score, tube (n, 6))`, rows
        `(frame, x1, y1, x2, y2, score)`, the format of `video_ap`.

    Example:

    ```python
    tubes = kpg.localization.link_tubes(localizer.predict_detections(inputs, image_size=(240, 320)), 24)
    kpg.localization.video_ap(tubes, gttubes, videos, 24)["mean"]
    ```
    """
    clips = np.asarray(detections["clip"])
    frames = np.asarray(detections["frame"])
    boxes = np.asarray(detections["boxes"], "float64")
    scores = np.asarray(detections["scores"], "float64")
    tubes = {label: [] for label in range(num_classes)}
    for clip in np.unique(clips):
        here = clips == clip
        name = clip if videos is None else videos[int(clip)]
        clip_frames, clip_boxes, clip_scores = frames[here], boxes[here], scores[here]
        for label in range(num_classes):
            path = _viterbi(clip_frames, clip_boxes, clip_scores[:, label], link_iou)
            kept = _longest_run(path, trim_threshold)
            tube = np.array([(f + 1, *b, s) for f, b, s in kept])
            tubes[label].append((name, float(tube[:, 5].mean()), tube))
    return tubes


def detection_rows(detections, num_classes):
    """`KeypointLocalizer.predict_detections` as ACT's `(n * num_classes, 8)` rows, frames from 1.

    Example:

    ```python
    detections = localizer.predict_detections(inputs, image_size=(240, 320))
    rows = kpg.localization.detection_rows(detections, num_classes)
    ```
    """
    clips = np.asarray(detections["clip"], "float64")
    count = len(clips)
    rows = np.zeros((count, num_classes, 8))
    rows[..., 0] = clips[:, None]
    rows[..., 1] = np.asarray(detections["frame"], "float64")[:, None] + 1
    rows[..., 2] = np.arange(num_classes)[None]
    rows[..., 3] = np.asarray(detections["scores"], "float64")
    rows[..., 4:] = np.asarray(detections["boxes"], "float64")[:, None, :]
    return rows.reshape(-1, 8)


def ground_truth_tubes(labels, boxes, frames, videos=None):
    """ACT's `gttubes` from per-clip arrays: one tube per clip over the frames marked present.

    Args:
        labels: int `(N,)`.
        boxes: `(N, T, 4)` pixel boxes.
        frames: bool `(N, T)`, the frames of the action (a contiguous run).
        videos: optional names (default: the clip index).

    Example:

    ```python
    gttubes = kpg.localization.ground_truth_tubes(split["labels"], split["boxes"], split["frames"])
    # {video: {label: [tube (n, 5)]}}
    ```
    """
    labels, boxes, frames = np.asarray(labels), np.asarray(boxes, "float64"), np.asarray(frames, bool)
    if boxes.shape[:2] != frames.shape or labels.shape != frames.shape[:1] or boxes.shape[-1] != 4:
        raise ValueError(
            f"Expected labels (N,), boxes (N, T, 4) and frames (N, T), received {labels.shape}, "
            f"{boxes.shape} and {frames.shape}."
        )
    gttubes = {}
    for clip in range(len(labels)):
        name = clip if videos is None else videos[clip]
        index = np.nonzero(frames[clip])[0]
        tube = np.concatenate([index[:, None] + 1.0, boxes[clip, index]], axis=1)
        gttubes[name] = {int(labels[clip]): [tube]}
    return gttubes


def _viterbi(frames, boxes, scores, link_iou):
    order = np.unique(frames)
    candidates = [np.nonzero(frames == f)[0] for f in order]
    total = scores[candidates[0]].copy()
    back = []
    for previous, current in zip(candidates[:-1], candidates[1:]):
        links = np.array([iou2d(boxes[previous], boxes[c]) for c in current])  # (current, previous)
        value = total[None, :] + link_iou * links
        back.append(np.argmax(value, axis=1))
        total = scores[current] + value.max(axis=1)
    choice = [int(np.argmax(total))]
    for pointers in reversed(back):
        choice.append(int(pointers[choice[-1]]))
    choice.reverse()
    return [(int(order[t]), boxes[c[i]], scores[c[i]]) for t, (c, i) in enumerate(zip(candidates, choice))]


def _longest_run(path, threshold):
    best, run = [], []
    for item in path:
        contiguous = run and item[0] == run[-1][0] + 1
        if item[2] >= threshold and (contiguous or not run):
            run.append(item)
        elif item[2] >= threshold:
            run = [item]
        else:
            run = []
        if len(run) > len(best):
            best = list(run)
    return best or [max(path, key=lambda item: item[2])]


def _curve(hits, total):
    true_positives = np.cumsum(hits)
    false_positives = np.cumsum(~hits)
    precision = true_positives / np.maximum(true_positives + false_positives, 1)
    recall = true_positives / total
    return np.concatenate([[[1.0, 0.0]], np.stack([precision, recall], axis=1)])


def _summary(aps):
    classes = np.nonzero(~np.isnan(aps))[0]
    mean = float(np.mean(aps[classes])) if len(classes) else float("nan")
    return {"ap": aps, "mean": mean, "classes": classes}


def _rows(value, width, name):
    array = np.asarray(value, "float64")
    if array.size == 0:
        return array.reshape(0, width)
    if array.ndim != 2 or array.shape[1] != width:
        raise ValueError(f"Expected `{name}` of shape (n, {width}), received {array.shape}.")
    return array


def _check_videos(gttubes, videos):
    missing = [v for v in videos if v not in gttubes]
    if missing:
        raise ValueError(f"Expected every evaluated video in `gttubes`; missing {missing[:5]}.")
