"""Decoy digits: the Decoy-MNIST construction of Right for the Right Reasons."""

import numpy as np

_CANVAS = 28
_DIGIT = 16
_SWATCH = 4


def decoy_digits(num_train=1200, seed=0, num_val=0, pool_seed=None):
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
        pool_seed: None (the default), or an int that fixes the evaluation
            pools: the digits are split into train, val and test by
            `pool_seed` (stratified by class, so the counts are within a
            digit per class of `num_train` and `num_val`), and every val and test digit
            is drawn once per shade (ten images, each at a corner drawn from
            `pool_seed`), so val and test are the same whatever `seed`, and
            the swatch's shade is independent of the label there by
            construction. `seed` then draws only the training corners and
            order. With it, val and test hold `10 * num_val` and
            `10 * (1797 - num_train - num_val)` images.

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
    if pool_seed is not None:
        if int(num_val) < 1:
            raise ValueError(
                f"Expected `num_val` >= 1 with `pool_seed` (a fixed validation pool), "
                f"received {num_val!r}."
            )
        return _fixed_pools(digits, int(num_train), int(num_val), seed, pool_seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(total)
    labels = digits.target[order].astype("int32")
    shade_labels = labels.copy()
    shade_labels[num_train:] = rng.integers(0, 10, total - num_train)
    corners = rng.integers(0, 4, total)
    images, provenance = _render(digits.images[order], shade_labels, corners)

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


def _render(digit_images, shade_labels, corners):
    """Digits on the canvas with a swatch of shade `shade_labels` at `corners`: `(images, provenance)`."""
    count = len(digit_images)
    # 8x8 -> 16x16 by pixel repetition keeps the strokes sharp.
    upscaled = np.kron(digit_images / 16.0, np.ones((2, 2)))
    images = np.zeros((count, _CANVAS, _CANVAS), "float32")
    start = (_CANVAS - _DIGIT) // 2
    images[:, start : start + _DIGIT, start : start + _DIGIT] = upscaled
    shades = (255.0 - 25.0 * np.asarray(shade_labels)) / 255.0
    swatch = np.zeros((count, _CANVAS, _CANVAS), bool)
    far = _CANVAS - _SWATCH
    for i, corner in enumerate(corners):
        row, col = (0 if corner < 2 else far), (0 if corner % 2 == 0 else far)
        swatch[i, row : row + _SWATCH, col : col + _SWATCH] = True
    images = np.where(swatch, shades[:, None, None], images).astype("float32")
    return images, (~swatch).astype("float32")


def _fixed_pools(digits, num_train, num_val, seed, pool_seed):
    """Train from `seed`; val and test fixed by `pool_seed`, every digit once per shade."""
    labels = digits.target.astype("int32")
    total = len(labels)
    pool_rng = np.random.default_rng(pool_seed)
    parts = ([], [], [])
    for label in range(10):
        members = pool_rng.permutation(np.flatnonzero(labels == label))
        cut_train = round(len(members) * num_train / total)
        cut_val = cut_train + round(len(members) * num_val / total)
        for part, chunk in zip(parts, np.split(members, [cut_train, cut_val])):
            part.append(chunk)
    train_index, val_index, test_index = (np.concatenate(part) for part in parts)

    def counterfactual(index):
        index = np.repeat(index, 10)
        shade_labels = np.tile(np.arange(10), len(index) // 10)
        images, provenance = _render(
            digits.images[index], shade_labels, pool_rng.integers(0, 4, len(index))
        )
        return {"images": images[..., None], "provenance": provenance[..., None],
                "labels": labels[index]}

    val, test = counterfactual(val_index), counterfactual(test_index)
    rng = np.random.default_rng(seed)
    train_index = rng.permutation(train_index)
    images, provenance = _render(
        digits.images[train_index], labels[train_index], rng.integers(0, 4, len(train_index))
    )
    train = {"images": images[..., None], "provenance": provenance[..., None],
             "labels": labels[train_index]}
    return {"train": train, "val": val, "test": test}
