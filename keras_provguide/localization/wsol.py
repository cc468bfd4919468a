"""WSOL metrics of Choe et al. (CVPR 2020): MaxBoxAcc(V2), PxAP and the older protocol."""

import cv2
import numpy as np

IOU_THRESHOLDS = (0.3, 0.5, 0.7)


def normalize_score_maps(score_maps):
    """Min-max normalises each map of `(N, H, W)` to [0, 1]; a constant map becomes 0.

    Example:

    ```python
    kpg.localization.normalize_score_maps(np.array([[[1.0, 3.0], [2.0, 2.0]]]))
    # array([[[0. , 1. ], [0.5, 0.5]]])
    ```
    """
    maps = _score_maps(score_maps)
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    return np.where(span > 0, (maps - low) / np.where(span > 0, span, 1.0), 0.0)


def boxes_from_score_map(score_map, threshold, multi_contour=True):
    """Boxes around the regions of a normalised `(H, W)` map above `threshold`.

    As the reference code: the map is quantised to uint8 (`map * 255`),
    binarised where it exceeds `int(threshold * max)`, and OpenCV finds its
    contours (`RETR_TREE`). Each contour's bounding rectangle `(x, y, w, h)`
    becomes the inclusive box `(x, y, min(x + w, W - 1), min(y + h, H - 1)`);
    with `multi_contour=False`, only the contour of largest area counts.
    With no region, the box is `(0, 0, 0, 0)`.

    Returns:
        int array `(num_boxes, 4)`, inclusive `(x0, y0, x1, y1)`.

    Example:

    ```python
    score_map = np.zeros((8, 8)); score_map[2:6, 2:6] = 1.0
    kpg.localization.boxes_from_score_map(score_map, 0.5)  # array([[2, 2, 6, 6]])
    ```
    """
    height, width = np.shape(score_map)
    rects = region_rectangles(score_map, threshold, multi_contour)
    if not rects:
        return np.zeros((1, 4), "int64")
    boxes = [[x, y, min(x + w, width - 1), min(y + h, height - 1)] for x, y, w, h in rects]
    return np.asarray(boxes, "int64")


def region_rectangles(score_map, threshold, multi_contour=True):
    """OpenCV bounding rectangles `(x, y, w, h)` of the map's regions above `threshold`.

    The binarisation of the reference code (see `boxes_from_score_map`);
    with `multi_contour=False`, only the contour of largest area.
    """
    score_map = np.asarray(score_map)
    if score_map.ndim != 2:
        raise ValueError(f"Expected a score map of shape (H, W), received {score_map.shape}.")
    quantised = (score_map * 255).astype(np.uint8)
    _, binary = cv2.threshold(
        quantised, int(threshold * quantised.max()), 255, cv2.THRESH_BINARY
    )
    contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
    if len(contours) and not multi_contour:
        contours = [max(contours, key=cv2.contourArea)]
    return [tuple(int(v) for v in cv2.boundingRect(contour)) for contour in contours]


def box_iou(boxes_a, boxes_b):
    """IoU of inclusive boxes `(A, 4)` x `(B, 4)`, as the reference counts pixels (+1).

    Example:

    ```python
    kpg.localization.box_iou(np.array([[0, 0, 9, 9]]), np.array([[0, 0, 4, 9], [10, 10, 19, 19]]))
    # array([[0.5, 0. ]])
    ```
    """
    a = np.asarray(boxes_a, "float64")[:, None, :]
    b = np.asarray(boxes_b, "float64")[None, :, :]
    width = np.maximum(0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1)
    height = np.maximum(0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1)
    intersection = width * height
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    union = area_a + area_b - intersection
    return np.where(union > 0, intersection / np.where(union > 0, union, 1.0), 0.0)


def max_box_acc(
    score_maps, gt_boxes, iou_thresholds=IOU_THRESHOLDS, cam_curve_interval=0.01,
    multi_contour=True,
):
    """MaxBoxAcc for each IoU threshold, and MaxBoxAccV2, their mean.

    For every score-map threshold `tau` in `[0, 1)` (step
    `cam_curve_interval`), each map gives boxes (`boxes_from_score_map`); an
    image is a hit at `(tau, delta)` when some box has IoU >= `delta` with
    some ground-truth box. MaxBoxAcc(delta) is the best hit rate over `tau`.
    MaxBoxAccV2 (Choe et al.) uses deltas 0.3, 0.5, 0.7 and all contours;
    the original MaxBoxAcc is delta 0.5 with the largest contour only
    (`multi_contour=False`).

    Args:
        score_maps: `(N, H, W)` maps at input resolution; each is min-max
            normalised here.
        gt_boxes: ground-truth boxes per image, exclusive `(x0, y0, x1, y1)`
            pixel corners: an array `(N, 4)` or `(N, K, 4)`, or a list of
            `(K_i, 4)` arrays.
        iou_thresholds: the deltas.
        cam_curve_interval: the step of `tau`.
        multi_contour: use every contour's box (V2) or the largest one's.

    Returns:
        dict: `"max_box_acc"` `{delta: accuracy in [0, 1]}`,
        `"max_box_acc_v2"` (the mean over deltas), `"best_threshold"`
        `{delta: tau}`, and `"accuracy_curve"` `{delta: array over tau}`.

    Example:

    ```python
    maps = localizer.class_activation_maps(images, class_ids=labels)  # (N, H, W) in [0, 1]
    scores = kpg.localization.max_box_acc(maps, boxes)  # boxes: (N, M, 4) exclusive xyxy
    scores["max_box_acc_v2"], scores["max_box_acc"][0.5], scores["best_threshold"][0.5]
    ```
    """
    maps = normalize_score_maps(score_maps)
    boxes = _gt_boxes(gt_boxes, len(maps))
    deltas = tuple(float(d) for d in iou_thresholds)
    thresholds = _thresholds(cam_curve_interval)
    hits = {delta: np.zeros(len(thresholds)) for delta in deltas}
    for score_map, truth in zip(maps, boxes):
        best = _best_ious(score_map, thresholds, truth, multi_contour)
        for delta in deltas:
            hits[delta] += best >= delta
    curves = {delta: hits[delta] / len(maps) for delta in deltas}
    accuracies = {delta: float(curve.max()) for delta, curve in curves.items()}
    return {
        "max_box_acc": accuracies,
        "max_box_acc_v2": float(np.mean(list(accuracies.values()))),
        "best_threshold": {delta: float(thresholds[np.argmax(c)]) for delta, c in curves.items()},
        "accuracy_curve": curves,
    }


def _best_ious(score_map, thresholds, truth, multi_contour):
    """Per threshold, the best IoU of the map's boxes (`boxes_from_score_map`) with `truth`.

    The same binarisation, contours and boxes as `boxes_from_score_map`, with
    the map quantised once and every threshold's boxes scored in one IoU.
    """
    height, width = score_map.shape
    quantised = (score_map * 255).astype(np.uint8)
    cutoffs = (thresholds * quantised.max()).astype(int)
    binaries = (quantised[None] > cutoffs[:, None, None]).astype(np.uint8) * np.uint8(255)
    rects, owners = [], []
    for index, binary in enumerate(binaries):
        contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
        if len(contours) and not multi_contour:
            contours = [max(contours, key=cv2.contourArea)]
        found = [cv2.boundingRect(contour) for contour in contours] or [(0, 0, 0, 0)]
        rects += found
        owners += [index] * len(found)
    rects = np.asarray(rects, "int64")
    # With no region the reference's box is (0, 0, 0, 0); (0, 0, 0, 0) rects give it too.
    boxes = np.stack([rects[:, 0], rects[:, 1], np.minimum(rects[:, 0] + rects[:, 2], width - 1),
                      np.minimum(rects[:, 1] + rects[:, 3], height - 1)], axis=1)
    best = np.full(len(thresholds), -np.inf)
    np.maximum.at(best, np.asarray(owners), box_iou(boxes, truth).max(axis=1))
    return best


def pxap(score_maps, gt_masks, ignore_masks=None, cam_curve_interval=0.01):
    """Pixel average precision: the area under the pixel precision-recall curve.

    As the reference: pixel scores are binned at the thresholds
    `0, interval, ..., 1 - interval` (plus `[1, 2)`), a pixel is predicted
    positive at threshold `tau` when its score is >= `tau`, and
    `AP = sum_k precision_k * (recall_k - recall_{k-1})` over thresholds from
    high to low. Pixels under `ignore_masks` do not count.

    Args:
        score_maps: `(N, H, W)`; min-max normalised here.
        gt_masks: `(N, H, W)`, nonzero on the object.
        ignore_masks: optional `(N, H, W)`, nonzero where pixels are ignored.
        cam_curve_interval: the step of the thresholds.

    Returns:
        float in [0, 1].

    Example:

    ```python
    masks, ignore = splits["test"].masks()  # kpg.datasets.wsol_metadata, OpenImages
    kpg.localization.pxap(maps, masks, ignore)
    ```
    """
    maps = normalize_score_maps(score_maps)
    masks = np.asarray(gt_masks) > 0
    if masks.shape != maps.shape:
        raise ValueError(
            f"Expected gt_masks of the score maps' shape {maps.shape}, received {masks.shape}."
        )
    keep = np.ones_like(masks)
    if ignore_masks is not None:
        ignore = np.asarray(ignore_masks) > 0
        if ignore.shape != maps.shape:
            raise ValueError(
                f"Expected ignore_masks of shape {maps.shape}, received {ignore.shape}."
            )
        keep = ~ignore
    edges = np.append(_thresholds(cam_curve_interval), [1.0, 2.0, 3.0])
    positives, _ = np.histogram(maps[masks & keep], bins=edges)
    negatives, _ = np.histogram(maps[~masks & keep], bins=edges)
    tp = positives[::-1].cumsum().astype("float64")
    fp = negatives[::-1].cumsum().astype("float64")
    if tp[-1] == 0:
        raise ValueError("Expected at least one object pixel in gt_masks, received none.")
    predicted = tp + fp
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = tp / tp[-1]
    return float((precision[1:] * np.diff(recall))[predicted[1:] > 0].sum())


def gt_known_loc(score_maps, gt_boxes, threshold=0.2, iou_threshold=0.5):
    """The older protocol: the largest region at one fixed threshold, IoU >= 0.5.

    Returns the share of images whose box (largest contour of the map above
    `threshold`) overlaps a ground-truth box with IoU >= `iou_threshold`.

    Example:

    ```python
    maps = localizer.class_activation_maps(images, class_ids=labels)
    kpg.localization.gt_known_loc(maps, boxes)  # boxes: (N, M, 4) exclusive xyxy
    ```
    """
    return float(np.mean(_fixed_threshold_hits(score_maps, gt_boxes, threshold, iou_threshold)))


def top1_loc(score_maps, gt_boxes, predicted_classes, true_classes, threshold=0.2, iou_threshold=0.5):
    """As `gt_known_loc`, counting only images whose top-1 class is also right.

    Example:

    ```python
    maps = localizer.class_activation_maps(images)
    predicted = np.argmax(localizer.predict(images), axis=-1)
    kpg.localization.top1_loc(maps, boxes, predicted, labels)
    ```
    """
    predicted, true = np.asarray(predicted_classes), np.asarray(true_classes)
    hits = _fixed_threshold_hits(score_maps, gt_boxes, threshold, iou_threshold)
    if predicted.shape != hits.shape or true.shape != hits.shape:
        raise ValueError(
            f"Expected predicted and true classes of shape {hits.shape}, received "
            f"{predicted.shape} and {true.shape}."
        )
    return float(np.mean(hits & (predicted == true)))


def _fixed_threshold_hits(score_maps, gt_boxes, threshold, iou_threshold):
    maps = normalize_score_maps(score_maps)
    boxes = _gt_boxes(gt_boxes, len(maps))
    return np.array([
        box_iou(boxes_from_score_map(m, threshold, multi_contour=False), truth).max()
        >= iou_threshold
        for m, truth in zip(maps, boxes)
    ])


def _score_maps(score_maps):
    maps = np.asarray(score_maps, "float64")
    if maps.ndim != 3 or maps.shape[0] == 0:
        raise ValueError(f"Expected score maps of shape (N, H, W), received {maps.shape}.")
    if not np.all(np.isfinite(maps)):
        raise ValueError("Expected finite score maps, received NaN or infinite values.")
    return maps


def _gt_boxes(gt_boxes, count):
    """Exclusive boxes per image -> list of inclusive `(K, 4)` arrays."""
    if isinstance(gt_boxes, np.ndarray) and gt_boxes.ndim == 2:
        gt_boxes = gt_boxes[:, None, :]
    if len(gt_boxes) != count:
        raise ValueError(
            f"Expected ground-truth boxes for {count} images, received {len(gt_boxes)}."
        )
    converted = []
    for boxes in gt_boxes:
        boxes = np.asarray(boxes, "float64").reshape(-1, 4)
        if np.any(boxes[:, 2] <= boxes[:, 0]) or np.any(boxes[:, 3] <= boxes[:, 1]):
            raise ValueError(
                "Expected boxes (x0, y0, x1, y1) with exclusive ends, x1 > x0 and "
                f"y1 > y0, received {boxes.tolist()}."
            )
        converted.append(boxes - np.array([0, 0, 1, 1]))
    return converted


def _thresholds(interval):
    interval = float(interval)
    if not 0 < interval < 1:
        raise ValueError(f"Expected cam_curve_interval in (0, 1), received {interval}.")
    return np.arange(0, 1, interval)
