"""`edit_provenance`: provenance of a generative edit, from the pixels it changed."""

import numpy as np


def edit_provenance(original, edited, method="otsu"):
    """Marks the pixels a generative edit left untouched.

    For synthetic images made by editing a real image (inpainting a new
    background, changing the weather), the labelled target is what the edit
    kept. The per-pixel change is the mean absolute difference over channels;
    pixels whose change is at most a threshold are provenance 1, the rest 0.
    The threshold is Otsu's (scikit-image), computed per image, or a fixed
    float.

    Args:
        original: array `(H, W, C)` or `(N, H, W, C)`, the image before the
            edit, in any range (uint8 or float).
        edited: array of the same shape and scale, the image after the edit.
        method: `"otsu"` or a float threshold on the mean absolute change,
            in the images' units.

    Returns:
        float32 array of shape `(..., H, W, 1)`: 1 on unedited pixels. An
        image with no change at all is provenance 1 everywhere.

    Example:

    ```python
    provenance = kpg.layers.edit_provenance(photos, inpainted)
    ```
    """
    original = np.asarray(original)
    edited = np.asarray(edited)
    if original.shape != edited.shape or original.ndim not in (3, 4):
        raise ValueError(
            "Expected `original` and `edited` of the same shape, (H, W, C) or "
            f"(N, H, W, C), received {original.shape} and {edited.shape}."
        )
    if not (method == "otsu" or isinstance(method, (int, float)) and not isinstance(method, bool)):
        raise ValueError(f"Expected `method` 'otsu' or a float threshold, received {method!r}.")
    change = np.abs(original.astype("float64") - edited.astype("float64")).mean(axis=-1)
    if not np.all(np.isfinite(change)):
        raise ValueError("Expected finite `original` and `edited`, received NaN or infinite values.")
    batched = change if change.ndim == 3 else change[None]
    kept = np.stack([batched_image <= _threshold(batched_image, method) for batched_image in batched])
    kept = kept.astype("float32")[..., None]
    return kept if change.ndim == 3 else kept[0]


def _threshold(change, method):
    if method != "otsu":
        return float(method)
    if change.max() == change.min():
        return change.max()  # Nothing to separate: all pixels kept or all edited alike.
    from skimage.filters import threshold_otsu

    # Otsu over the exact values, not 256 bins: with binning the threshold
    # can land inside the top bin of the unchanged pixels (compression
    # noise) and mark some of them edited. With one bin per value it is the
    # largest value of the unchanged class.
    values, counts = np.unique(change, return_counts=True)
    return threshold_otsu(hist=(counts, values))
