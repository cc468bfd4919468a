"""Moving digits: clips of a digit crossing a texture for part of the clip, with per-frame boxes."""

import numpy as np

from keras_provguide.checks import int_at_least
from keras_provguide.datasets import sources
from keras_provguide.layers import base, composite


def moving_digits(
    num_train=600, num_test=200, num_frames=8, image_size=32, scale_range=(0.4, 0.7),
    min_duration=0.5, seed=0, num_val=0, pool_seed=None, background_bias=None,
):
    """Clips for spatio-temporal localization: the label is the digit, the tube is where it is.

    Each clip shows one texture crop (grass, brick or gravel) for
    `num_frames` frames. A scikit-learn digit (upscaled to 16x16, light
    ink, one scale per clip) is present on a run of consecutive frames,
    at least `min_duration` of the clip, moving in a straight line between
    two random positions; the other frames show the texture alone. Train,
    validation and test use disjoint digits.

    Boxes are `(x0, y0, x1, y1)` pixel corners with exclusive ends (as in
    `digit_localization`); frames without the digit have box `(0, 0, 0, 0)`
    and `frames` false.

    Args:
        num_train, num_test: split sizes in clips.
        num_frames: int >= 2, frames per clip.
        image_size: int >= 16, side of the square frames.
        scale_range: `(min, max)` in `(0, 1]`, the digit's side as a
            fraction of the frame side.
        min_duration: float in `(0, 1]`, the least share of frames showing
            the digit.
        seed: int; the data are a deterministic function of it.
        num_val: int >= 0; with `num_val > 0` a `"val"` split of that many
            clips, for choosing hyperparameters. With 0, the train and test
            splits are exactly those of earlier releases.
        pool_seed: None (the default), or an int that fixes val and test,
            class-balanced, for every `seed` (as in `digit_localization`).
        background_bias: None (the default), or a float in [0, 1]: the
            background of each clip is tinted with its class's colour on a
            share `background_bias` of training clips, a random class's
            elsewhere (as in `digit_localization`).

    Returns:
        `{"train", "test"}` (and `"val"`), each a dict of NumPy arrays: `"images"` float32
        `(N, T, S, S, 3)` in [0, 1], `"labels"` int32 `(N,)`, `"boxes"`
        float32 `(N, T, 4)`, `"frames"` bool `(N, T)` (the digit is
        present), `"provenance"` float32 `(N, T, S, S, 1)` (the digit's
        mask), `"backgrounds"` int32 `(N,)`.

    Example:

    ```python
    data = kpg.datasets.moving_digits(num_train=100, num_test=50)
    data["train"]["images"].shape    # (100, 8, 32, 32, 3)
    ```
    """
    for name, value in (("num_train", num_train), ("num_test", num_test)):
        int_at_least(value, 1, name)
    int_at_least(num_frames, 2, "num_frames")
    int_at_least(image_size, 16, "image_size")
    scale_range = base.check_range(scale_range, "scale_range", 0.0, 1.0, low_open=True)
    try:
        min_duration = float(min_duration)
    except (TypeError, ValueError):
        min_duration = -1.0
    if not 0.0 < min_duration <= 1.0:
        raise ValueError(f"Expected `min_duration` in (0, 1], received {min_duration!r}.")
    sources.check_num_val(num_val)
    background_bias = sources.check_background_bias(background_bias)
    rng = np.random.default_rng(seed)
    sprites, digits = sources.digit_sprites()
    shape = (num_frames, image_size, scale_range, min_duration)
    if pool_seed is not None:
        pool_rng = np.random.default_rng(pool_seed)
        train, val, test = sources.fixed_digit_pools(pool_rng, digits, num_val, num_test)
        splits = {name: _split(pool_rng, sprites, digits, index, len(index), shape, exact=True)
                  for name, index in (("val", val), ("test", test))}
        splits = {"train": _split(rng, sprites, digits, train, num_train, shape), **splits}
    else:
        order = rng.permutation(len(digits))
        train, test, val = sources.digit_pools(order, num_train, num_test, num_val)
        splits = {
            "train": _split(rng, sprites, digits, train, num_train, shape),
            "test": _split(rng, sprites, digits, test, num_test, shape),
        }
        if num_val:
            # Drawn last, so that `num_val=0` leaves the other splits' draws unchanged.
            splits["val"] = _split(rng, sprites, digits, val, num_val, shape)
    sources.tint_splits(splits, background_bias, seed, pool_seed)
    return splits


def _split(rng, sprites, digits, pool, count, shape, exact=False):
    """`count` clips of digits drawn from `pool` (of exactly `pool`, in order, when `exact`)."""
    frames, size, scale_range, min_duration = shape
    index = pool if exact else rng.choice(pool, count, replace=count > len(pool))
    backgrounds, scenes = sources.random_texture_scenes(count, size, rng)

    # When the digit is there: a run of at least `min_duration` of the frames.
    shortest = max(1, int(np.ceil(min_duration * frames)))
    duration = rng.integers(shortest, frames + 1, count)
    start = rng.integers(0, frames - duration + 1)
    times = np.arange(frames)[None, :]
    present = (times >= start[:, None]) & (times < (start + duration)[:, None])
    # Where: a straight line between two positions over the run.
    progress = np.clip((times - start[:, None]) / np.maximum(duration - 1, 1)[:, None], 0.0, 1.0)
    begin, end = rng.random((2, count, 2), dtype="float32")
    position = begin[:, None, :] + progress[..., None] * (end - begin)[:, None, :]
    scale = np.repeat(rng.random(count, dtype="float32"), frames)

    alpha = np.repeat(sprites[index][..., None], frames, axis=0)
    ink = np.repeat(rng.uniform(0.85, 1.0, (count, 1, 1, 3)).astype("float32"), frames, axis=0)
    foregrounds = np.broadcast_to(ink, alpha.shape[:3] + (3,)).astype("float32")
    draws = [scale, position[..., 0].reshape(-1).astype("float32"), position[..., 1].reshape(-1).astype("float32")]
    images, provenance, boxes = composite.composite_images(
        base.numpy_backend(), np.repeat(scenes, frames, axis=0), foregrounds, alpha,
        draws, scale_range, (0.0, 1.0),
    )
    flat_present = present.reshape(-1)
    images = np.where(flat_present[:, None, None, None], images, np.repeat(scenes, frames, axis=0))
    provenance = provenance * flat_present[:, None, None, None]
    boxes = boxes * flat_present[:, None]
    return {
        "images": images.reshape(count, frames, size, size, 3).astype("float32"),
        "labels": digits[index],
        "boxes": boxes.reshape(count, frames, 4).astype("float32"),
        "frames": present,
        "provenance": provenance.reshape(count, frames, size, size, 1).astype("float32"),
        "backgrounds": backgrounds,
    }
