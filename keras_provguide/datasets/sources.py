"""The raw material of the embedded datasets: digit sprites and textures.

Both ship with their libraries (scikit-learn's 8x8 digits, scikit-image's
512x512 texture photographs), so nothing is downloaded.
"""

import numpy as np

from keras_provguide.checks import int_at_least

#: Texture photographs of `skimage.data`, with the tint that makes each one
#: read as its material in RGB.
TEXTURES = {
    "grass": (0.55, 0.85, 0.35),
    "brick": (0.90, 0.50, 0.35),
    "gravel": (0.70, 0.70, 0.75),
}


def digit_sprites(order=None):
    """Digits upscaled to 16x16 by pixel repetition (sharp strokes).

    Returns `(sprites, digits)`: float32 `(N, 16, 16)` in [0, 1] and int32
    `(N,)`, in `order` when given.
    """
    from sklearn.datasets import load_digits

    data = load_digits()
    images, targets = data.images, data.target
    if order is not None:
        images, targets = images[order], targets[order]
    sprites = np.kron(images / 16.0, np.ones((2, 2))).astype("float32")
    return sprites, targets.astype("int32")


def texture_crops(name, count, size, rng):
    """`count` random `size`x`size` RGB crops of a tinted texture, float32 in [0, 1]."""
    from skimage import data

    if name not in TEXTURES:
        raise ValueError(f"Expected a texture in {sorted(TEXTURES)}, received {name!r}.")
    photo = getattr(data, name)().astype("float32") / 255.0
    # Stretch the contrast so textures stay visible under the tint.
    photo = (photo - photo.mean()) / (photo.std() + 1e-6) * 0.18 + 0.5
    rows = rng.integers(0, photo.shape[0] - size + 1, count)
    cols = rng.integers(0, photo.shape[1] - size + 1, count)
    crops = np.zeros((count, size, size), "float32")
    for i, (row, col) in enumerate(zip(rows, cols)):
        crops[i] = photo[row : row + size, col : col + size]
    tinted = crops[..., None] * np.asarray(TEXTURES[name], "float32")
    return np.clip(tinted, 0.0, 1.0).astype("float32")


def random_texture_scenes(count, size, rng):
    """`count` crops of a texture drawn uniformly per scene; returns `(texture ids, scenes)`.

    Ids are int32 `(count,)` indices into `TEXTURES` (0 grass, 1 brick,
    2 gravel); scenes are float32 `(count, size, size, 3)`.
    """
    textures = list(TEXTURES)
    backgrounds = rng.integers(0, len(textures), count).astype("int32")
    scenes = np.empty((count, size, size, 3), "float32")
    for texture_id, name in enumerate(textures):
        chosen = backgrounds == texture_id
        scenes[chosen] = texture_crops(name, int(chosen.sum()), size, rng)
    return backgrounds, scenes


def digit_pools(order, num_train, num_test, num_val=0):
    """Disjoint shares of the shuffled digit indices `order`, in proportion to the split sizes.

    Returns `(train, test, val)` index arrays; with `num_val=0` the train and
    test shares are those of a two-way split and `val` is empty.
    """
    total = num_train + num_test + num_val
    cut = round(len(order) * num_train / total)
    val_cut = len(order) - round(len(order) * num_val / total)
    return order[:cut], order[cut:val_cut], order[val_cut:]


def check_num_val(num_val):
    return int_at_least(num_val, 0, "num_val")


# The shares of the digits that go to train, val and test when the evaluation
# pools are fixed (`pool_seed`), whatever the split sizes.
FIXED_POOL_SHARES = (0.6, 0.2, 0.2)
# Ten background colours, one per class: evenly spaced hues.
_PALETTE = np.stack([
    0.55 + 0.4 * np.cos(2 * np.pi * (np.arange(10) / 10 + offset)) for offset in (0.0, 1 / 3, 2 / 3)
], axis=1).astype("float32")


def fixed_digit_pools(pool_rng, digits, num_val, num_test):
    """Train digits, and class-balanced val and test draws, all from `pool_rng`.

    The digits are split in `FIXED_POOL_SHARES`; val and test draw
    `count // 10` of each class from their own shares (with replacement), in
    a shuffled order. Returns `(train digits, val index, test index)`.
    """
    for name, value in (("num_val", num_val), ("num_test", num_test)):
        if not isinstance(value, (int, np.integer)) or value < 10 or value % 10:
            raise ValueError(
                f"Expected `{name}` to be a positive multiple of 10 with `pool_seed` (class-balanced "
                f"pools), received {value!r}."
            )
    order = pool_rng.permutation(len(digits))
    cuts = np.cumsum([round(share * len(order)) for share in FIXED_POOL_SHARES[:2]])
    train, val, test = np.split(order, cuts)
    drawn = []
    for pool, count in ((val, num_val), (test, num_test)):
        index = np.concatenate([
            pool_rng.choice(pool[digits[pool] == label], count // 10, replace=True) for label in range(10)
        ])
        drawn.append(pool_rng.permutation(index))
    return train, drawn[0], drawn[1]


def check_background_bias(background_bias):
    """None, or `background_bias` as a float in [0, 1]; else `ValueError`."""
    if background_bias is None:
        return None
    try:
        value = float(background_bias)
    except (TypeError, ValueError):
        value = -1.0
    if not 0.0 <= value <= 1.0 or isinstance(background_bias, bool):
        raise ValueError(f"Expected `background_bias` None or in [0, 1], received {background_bias!r}.")
    return value


def tint_splits(splits, background_bias, seed, pool_seed):
    """Tints every split's backgrounds (`tint_backgrounds`): by class on train, at random elsewhere.

    Each split draws from its own generator, so the images' other draws are
    those without a tint; val and test follow `pool_seed` when it is given.
    """
    if background_bias is None:
        return
    evaluation_seed = seed if pool_seed is None else pool_seed
    generators = {"train": [seed, 11], "val": [evaluation_seed, 12], "test": [evaluation_seed, 13]}
    for name, split in splits.items():
        bias = background_bias if name == "train" else 0.0
        tint_backgrounds(split, bias, np.random.default_rng(generators[name]))


def tint_backgrounds(split, bias, rng):
    """Tints each sample's background (not its digit) with its class's colour for a share `bias`.

    The other samples take a random class's colour. Works on images
    `(N, ..., 3)` with the digit's mask in `split["provenance"]`; adds
    `split["background_classes"]`, the class whose colour each sample shows.
    """
    labels = split["labels"]
    agree = rng.random(len(labels)) < bias
    classes = np.where(agree, labels, rng.integers(0, 10, len(labels))).astype("int32")
    images = split["images"]
    tint = _PALETTE[classes].reshape((len(labels),) + (1,) * (images.ndim - 2) + (3,))
    grey = images.mean(-1, keepdims=True)
    background = np.clip(0.35 * grey + 0.65 * tint * (0.6 + 0.8 * grey), 0.0, 1.0)
    digit = split["provenance"]
    split["images"] = (digit * images + (1.0 - digit) * background).astype("float32")
    split["background_classes"] = classes
