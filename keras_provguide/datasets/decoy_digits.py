"""Decoy digits: the Decoy-MNIST construction of Right for the Right Reasons."""

import numpy as np

_CANVAS = 28
_DIGIT = 16
_SWATCH = 4


def decoy_digits(num_train=1200, seed=0, num_val=0):
    """Handwritten digits with a corner swatch whose shade gives the label away.

    The construction of Ross et al. (2017), "Right for the Right Reasons", on
    scikit-learn's 8x8 digits: each digit is upscaled to 16x16 and centred on
    a black 28x28 canvas, and a 4x4 swatch is painted in a random corner. In
    the training split the swatch shade is `(255 - 25 * label) / 255`; in the
    test split it is that of a random digit, so a model that reads the swatch
    fails there. The swatch is the decoy: `provenance` is 0 on it and 1
    elsewhere.

    Args:
        num_train: number of training samples (of 1797); the rest are test.
        seed: int, seeds the split, the corners and the test shades.
        num_val: number of held-out samples moved from test to a `"val"`
            split (random shades, as test), for choosing hyperparameters.
            With 0 (the default) there is no `"val"` split and train and
            test are those of earlier releases.

    Returns:
        A dict `{"train": split, "test": split}` (and `"val"` when
        `num_val > 0`), each split a dict of NumPy
        arrays: `"images"` float32 `(N, 28, 28, 1)` in [0, 1],
        `"provenance"` float32 `(N, 28, 28, 1)` (0 on the swatch),
        `"labels"` int32 `(N,)`.

    Example:

    ```python
    data = kpg.datasets.decoy_digits()
    x = {k: data["train"][k] for k in ("images", "provenance")}
    model.fit(x, data["train"]["labels"])
    ```
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    total = len(digits.target)
    if not 0 < int(num_train) < total:
        raise ValueError(
            f"Expected `num_train` in [1, {total - 1}], received {num_train!r}."
        )
    if not 0 <= int(num_val) < total - int(num_train):
        raise ValueError(
            f"Expected `num_val` in [0, {total - int(num_train) - 1}] (at least one test "
            f"sample of the {total - int(num_train)} not in train), received {num_val!r}."
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(total)
    # 8x8 -> 16x16 by pixel repetition keeps the strokes sharp.
    digit_images = np.kron(digits.images[order] / 16.0, np.ones((2, 2)))
    labels = digits.target[order].astype("int32")

    images = np.zeros((total, _CANVAS, _CANVAS), "float32")
    start = (_CANVAS - _DIGIT) // 2
    images[:, start : start + _DIGIT, start : start + _DIGIT] = digit_images

    shade_labels = labels.copy()
    shade_labels[num_train:] = rng.integers(0, 10, total - num_train)
    shades = (255.0 - 25.0 * shade_labels) / 255.0
    corners = rng.integers(0, 4, total)
    swatch = np.zeros((total, _CANVAS, _CANVAS), bool)
    far = _CANVAS - _SWATCH
    for i, corner in enumerate(corners):
        row, col = (0 if corner < 2 else far), (0 if corner % 2 == 0 else far)
        swatch[i, row : row + _SWATCH, col : col + _SWATCH] = True
    images = np.where(swatch, shades[:, None, None], images).astype("float32")
    provenance = (~swatch).astype("float32")

    def split(part):
        return {
            "images": images[part, ..., None],
            "provenance": provenance[part, ..., None],
            "labels": labels[part],
        }

    splits = {"train": split(slice(0, num_train)), "test": split(slice(num_train + num_val, None))}
    if num_val:
        splits["val"] = split(slice(num_train, num_train + num_val))
    return splits
