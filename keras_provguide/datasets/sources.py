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
