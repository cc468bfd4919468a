"""Digit localization: digits pasted at random places and scales on textures."""

import numpy as np

from keras_provguide.checks import int_at_least
from keras_provguide.datasets import sources
from keras_provguide.layers import base, composite


def digit_localization(
    num_train=1000, num_test=500, image_size=64, scale_range=(0.25, 0.6), seed=0, num_val=0,
    pool_seed=None, background_bias=None,
):
    """Handwritten digits on textures, with a box and a mask for each, for localization.

    Each image pastes one scikit-learn digit (upscaled to 16x16, light ink)
    onto a random crop of grass, brick or gravel, at a random scale and
    position; the label is the digit. Train, validation and test use
    disjoint digits.
    The mask is the pasted alpha, so it doubles as copy-paste provenance.

    Boxes are `(x0, y0, x1, y1)` in pixel-corner coordinates, the tight box
    of the mask above 0.5: pixel column `i` spans `[i, i + 1)`, so the box
    covers columns `x0 .. x1 - 1` and its width is `x1 - x0` (Keras's
    `"xyxy"` format).

    Args:
        num_train, num_test: split sizes (digits are reused when a split
            needs more than its share of the 1797).
        image_size: int >= 16, side of the square images.
        scale_range: `(min, max)` in `(0, 1]`, the digit's side as a fraction
            of the image side.
        seed: int; the data are a deterministic function of it.
        num_val: int >= 0; with `num_val > 0` a `"val"` split of that size
            (boxes included, for choosing hyperparameters as the WSOL
            protocol does on its small fully annotated split). With 0, the
            train and test splits are exactly those of earlier releases.
        pool_seed: None (the default), or an int that fixes the evaluation
            pools: the digits are split once by `pool_seed` (60% train, 20%
            val, 20% test), and val and test are drawn from `pool_seed`
            alone, class-balanced (`num_val` and `num_test` then multiples
            of 10), the same for every `seed`.
        background_bias: None (the default: backgrounds say nothing of the
            label), or a float in [0, 1]: every background is tinted with
            one of ten colours, that of the image's own class for a share
            `background_bias` of the training images (a random class's
            otherwise) and of a random class in val and test, so the
            background predicts the class in training only. The splits then
            carry `"background_classes"` (the class whose colour tints it).

    Returns:
        `{"train", "test"}` (and `"val"`), each a dict of NumPy arrays: `"images"` float32
        `(N, S, S, 3)` in [0, 1], `"labels"` int32 `(N,)`, `"boxes"` float32
        `(N, 4)`, `"provenance"` float32 `(N, S, S, 1)` (the mask, 1 on the
        digit), `"backgrounds"` int32 (0 grass, 1 brick, 2 gravel).

    Example:

    ```python
    data = kpg.datasets.digit_localization(num_train=200, num_test=100)
    data["train"]["boxes"][0]    # e.g. [23., 9., 47., 33.]
    ```
    """
    for name, value in (("num_train", num_train), ("num_test", num_test)):
        int_at_least(value, 1, name)
    sources.check_num_val(num_val)
    int_at_least(image_size, 16, "image_size")
    scale_range = base.check_range(scale_range, "scale_range", 0.0, 1.0, low_open=True)
    background_bias = sources.check_background_bias(background_bias)
    rng = np.random.default_rng(seed)
    sprites, digits = sources.digit_sprites()
    if pool_seed is not None:
        splits = _fixed_pools(rng, sprites, digits, num_train, num_test, num_val, image_size, scale_range,
                              pool_seed)
    else:
        order = rng.permutation(len(digits))
        train, test, val = sources.digit_pools(order, num_train, num_test, num_val)
        splits = {
            "train": _split(rng, sprites, digits, train, num_train, image_size, scale_range),
            "test": _split(rng, sprites, digits, test, num_test, image_size, scale_range),
        }
        if num_val:
            # Drawn last, so that `num_val=0` leaves the other splits' draws unchanged.
            splits["val"] = _split(rng, sprites, digits, val, num_val, image_size, scale_range)
    sources.tint_splits(splits, background_bias, seed, pool_seed)
    return splits


def _fixed_pools(rng, sprites, digits, num_train, num_test, num_val, size, scale_range, pool_seed):
    pool_rng = np.random.default_rng(pool_seed)
    train, val, test = sources.fixed_digit_pools(pool_rng, digits, num_val, num_test)
    splits = {
        name: _split(pool_rng, sprites, digits, index, len(index), size, scale_range, exact=True)
        for name, index in (("val", val), ("test", test))
    }
    splits["train"] = _split(rng, sprites, digits, train, num_train, size, scale_range)
    return {key: splits[key] for key in ("train", "val", "test")}


def _split(rng, sprites, digits, pool, count, size, scale_range, exact=False):
    """`count` composites of digits drawn from `pool` (of exactly `pool`, in order, when `exact`)."""
    index = pool if exact else rng.choice(pool, count, replace=count > len(pool))
    backgrounds, scenes = sources.random_texture_scenes(count, size, rng)
    alpha = sprites[index][..., None]
    ink = rng.uniform(0.85, 1.0, (count, 1, 1, 3)).astype("float32")
    foregrounds = np.broadcast_to(ink, alpha.shape[:3] + (3,)).astype("float32")
    draws = [rng.random(count, dtype="float32") for _ in range(3)]
    # The sprite fills its 16x16 canvas, so its scale is the canvas's.
    images, provenance, boxes = composite.composite_images(
        base.numpy_backend(), scenes, foregrounds, alpha, draws, scale_range, (0.0, 1.0)
    )
    return {
        "images": images.astype("float32"),
        "labels": digits[index],
        "boxes": boxes.astype("float32"),
        "provenance": provenance.astype("float32"),
        "backgrounds": backgrounds,
    }
