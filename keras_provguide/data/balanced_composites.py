"""`balanced_composites`: a copy-paste synthetic set balanced over (class, background) cells."""

import numpy as np

from keras_provguide.layers import base, composite


def balanced_composites(
    foregrounds,
    foreground_labels,
    backgrounds,
    background_groups,
    per_group,
    foreground_masks=None,
    scale_range=(0.5, 1.0),
    position_range=(0.0, 1.0),
    seed=0,
):
    """Builds a synthetic set with the same number of images in every group.

    The balanced synthetic set of From Fake to Real (Qraitem et al., 2024):
    for every class `c` and every background group `g`, `per_group` images
    paste a random foreground of class `c` onto a random background of group
    `g` (as `kpg.layers.Composite` does), so background and class are
    independent by construction. Foregrounds are drawn without replacement
    where a cell has enough of them.

    Args:
        foregrounds: array `(M, h, w, C)`, or `(M, h, w, C + 1)` with alpha.
        foreground_labels: int array `(M,)`, class ids `0..K-1`.
        backgrounds: array `(N, H, W, C)`; every output has this size.
        background_groups: int array `(N,)`, background group ids `0..G-1`
            (e.g. 0 = land, 1 = water).
        per_group: int > 0, images per (class, background group) cell.
        foreground_masks: optional `(M, h, w, 1)` alpha in [0, 1]; needed
            unless the foregrounds carry alpha.
        scale_range, position_range: as in `Composite`.
        seed: int; the set is a deterministic function of it (NumPy).

    Returns:
        A dict of NumPy arrays with `K * G * per_group` rows: `"images"`
        float32 `(n, H, W, C)`, `"provenance"` float32 `(n, H, W, 1)` (the
        pasted alpha), `"labels"` int32, `"background_groups"` int32,
        `"groups"` int32 `= label * G + background_group`, and `"boxes"`
        float32 `(n, 4)` `(x0, y0, x1, y1)` in pixel corners, and
        `"foreground_index"`, `"background_index"` int32: the rows of the
        inputs each image was made from.

    Example:

    ```python
    synthetic = kpg.data.balanced_composites(
        objects, object_labels, scenes, scene_groups, per_group=100,
        foreground_masks=object_masks,
    )
    ```
    """
    foregrounds = np.asarray(foregrounds, "float32")
    backgrounds = np.asarray(backgrounds, "float32")
    foreground_labels = _ids(foreground_labels, "foreground_labels", len(foregrounds))
    background_groups = _ids(background_groups, "background_groups", len(backgrounds))
    if backgrounds.ndim != 4 or foregrounds.ndim != 4:
        raise ValueError(
            "Expected `foregrounds` (M, h, w, C) and `backgrounds` (N, H, W, C), "
            f"received shapes {foregrounds.shape} and {backgrounds.shape}."
        )
    if not isinstance(per_group, (int, np.integer)) or per_group < 1:
        raise ValueError(f"Expected `per_group` to be an int >= 1, received {per_group!r}.")
    scale_range = base.check_range(scale_range, "scale_range", 0.0, 1.0, low_open=True)
    position_range = base.check_range(position_range, "position_range", 0.0, 1.0)
    alpha = _alpha(foregrounds, foreground_masks, backgrounds.shape[-1])
    foregrounds = foregrounds[..., : backgrounds.shape[-1]]

    rng = np.random.default_rng(seed)
    num_classes = int(foreground_labels.max()) + 1
    num_backgrounds = int(background_groups.max()) + 1
    fg_index, bg_index, labels, bg_groups = [], [], [], []
    for label in range(num_classes):
        for group in range(num_backgrounds):
            fg_index.append(_draw(rng, np.flatnonzero(foreground_labels == label), per_group,
                                  f"class {label} in `foreground_labels`"))
            bg_index.append(_draw(rng, np.flatnonzero(background_groups == group), per_group,
                                  f"group {group} in `background_groups`"))
            labels.append(np.full(per_group, label, "int32"))
            bg_groups.append(np.full(per_group, group, "int32"))
    fg_index, bg_index = np.concatenate(fg_index), np.concatenate(bg_index)
    labels, bg_groups = np.concatenate(labels), np.concatenate(bg_groups)
    draws = [rng.random(len(labels), dtype="float32") for _ in range(3)]
    images, provenance, boxes = composite.composite_images(
        base.numpy_backend(), backgrounds[bg_index], foregrounds[fg_index], alpha[fg_index],
        draws, scale_range, position_range,
    )
    return {
        "images": images,
        "provenance": provenance,
        "labels": labels,
        "background_groups": bg_groups,
        "groups": labels * num_backgrounds + bg_groups,
        "boxes": boxes,
        "foreground_index": fg_index.astype("int32"),
        "background_index": bg_index.astype("int32"),
    }


def _ids(values, name, length):
    values = np.asarray(values)
    if values.shape != (length,) or not np.issubdtype(values.dtype, np.integer) or (
        length and values.min() < 0
    ):
        raise ValueError(
            f"Expected `{name}` as {length} non-negative int ids (one per image), "
            f"received shape {values.shape} and dtype {values.dtype}."
        )
    return values.astype("int32")


def _alpha(foregrounds, masks, channels):
    if masks is not None:
        masks = np.asarray(masks, "float32")
        expected = foregrounds.shape[:-1] + (1,)
        if masks.shape != expected:
            raise ValueError(
                f"Expected `foreground_masks` of shape {expected}, received {masks.shape}."
            )
        return masks
    if foregrounds.shape[-1] == channels + 1:
        return foregrounds[..., -1:]
    raise ValueError(
        "Expected `foreground_masks` or foregrounds with an alpha channel "
        f"({channels} + 1 channels), received foregrounds {foregrounds.shape} and no masks."
    )


def _draw(rng, pool, count, what):
    if len(pool) == 0:
        raise ValueError(f"Cannot balance the set: no sample of {what}.")
    return rng.choice(pool, count, replace=count > len(pool))
