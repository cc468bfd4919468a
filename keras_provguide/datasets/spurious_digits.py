"""Spurious digits: a Waterbirds-like task on digits and textures."""

import numpy as np

from keras_provguide.data.balanced_composites import balanced_composites
from keras_provguide.datasets import sources
from keras_provguide.layers import base, composite

BACKGROUNDS = ("grass", "brick")
_SIZE = 32
_INK = np.asarray([0.97, 0.97, 0.92], "float32")
_SCALE_RANGE = (0.5, 0.8)



def spurious_digits(
    bias=0.95, num_train=1000, num_val=200, num_test=400, synthetic_per_group=250, seed=0,
    pool_seed=None,
):
    """Digit parity on textured backgrounds, with a spurious background cue.

    The task of Waterbirds (Sagawa et al., 2020) built from scikit-learn's
    digits and scikit-image's textures. The label is the digit's parity
    (0 = even, 1 = odd); the background is grass (0) or brick (1). In the
    real training split the background agrees with the label (even on grass,
    odd on brick) for a fraction `bias` of each class, so a model can score
    well there by reading the background. The validation and test splits are
    group-balanced, where that shortcut fails.

    The `"synthetic"` split is the counterpart of From Fake to Real: balanced
    over the four groups, its images carry a visible "generator look" (a
    colour cast and pixel noise) that real images do not, and it has
    provenance: 1 on the digit's pixels, 0 on the background.

    Each split is built from its own digits (train, val and test share
    none; the synthetic split reuses training digits on new backgrounds and
    placements, as a generator trained on them would).

    Args:
        bias: float in [0.5, 1], the share of aligned backgrounds in train.
        num_train, num_val, num_test: real split sizes. `num_val` and
            `num_test` must be multiples of 4 (group-balanced).
        synthetic_per_group: synthetic images per group.
        seed: int; every split is a deterministic function of it (and of
            `pool_seed`, when given).
        pool_seed: None (the default), or an int that fixes the evaluation
            pools: the digits are split once by `pool_seed` (60% train, 20%
            val, 20% test, whatever the sizes; digits repeat on new
            backgrounds and placements when a split asks for more), and val
            and test are drawn from `pool_seed` alone, the same for every
            `seed`.

    Returns:
        `{"train", "val", "test", "synthetic"}`, each a dict of NumPy arrays:
        `"images"` float32 `(N, 32, 32, 3)` in [0, 1], `"labels"` int32
        (parity), `"digits"` int32 (0-9), `"digit_ids"` int32 (the row of
        `sklearn.datasets.load_digits()` drawn), `"backgrounds"` int32 (0 grass,
        1 brick), `"groups"` int32 `= 2 * label + background` (groups 0 and
        3 are the majority in train). `"synthetic"` adds `"provenance"`
        float32 `(N, 32, 32, 1)`.

    Example:

    ```python
    data = kpg.datasets.spurious_digits(bias=0.95)
    train = data["train"]
    np.mean(train["labels"] == train["backgrounds"])   # about 0.95
    ```
    """
    if not isinstance(synthetic_per_group, int) or synthetic_per_group < 1:
        raise ValueError(
            f"Expected `synthetic_per_group` to be an int >= 1, received {synthetic_per_group!r}."
        )
    rng = np.random.default_rng(seed)
    pool_rng = None if pool_seed is None else np.random.default_rng(pool_seed)
    splits = real_splits(rng, bias, num_train, num_val, num_test, pool_rng)
    for split in splits.values():
        del split["object_masks"]
    sprites, digits = sources.digit_sprites()
    splits["synthetic"] = _synthetic_split(
        rng, sprites, digits, np.unique(splits["train"]["digit_ids"]), synthetic_per_group
    )
    return splits


def real_splits(rng, bias, num_train, num_val, num_test, pool_rng=None):
    """The real `"train"`, `"val"` and `"test"` splits, with `"object_masks"` (the digits' alpha).

    Draws from `rng`; `spurious_digits` and `edited_digits` share it. With
    `pool_rng`, the digits are split into train, val and test in fixed shares
    (`sources.FIXED_POOL_SHARES`) and val and test are drawn from `pool_rng` alone,
    so they do not change with `rng`.
    """
    if not 0.5 <= float(bias) <= 1.0:
        raise ValueError(f"Expected `bias` in [0.5, 1], received {bias!r}.")
    for name, value in (("num_val", num_val), ("num_test", num_test)):
        if not isinstance(value, int) or value < 4 or value % 4:
            raise ValueError(
                f"Expected `{name}` to be a positive multiple of 4 (four balanced "
                f"groups), received {value!r}."
            )
    if not isinstance(num_train, int) or num_train < 2:
        raise ValueError(f"Expected `num_train` to be an int >= 2, received {num_train!r}.")
    sprites, digits = sources.digit_sprites()
    if pool_rng is None:
        pool_rng = rng
        pools = _split_pool(rng.permutation(len(digits)), (num_train, num_val, num_test))
    else:
        pools = _split_pool(pool_rng.permutation(len(digits)), sources.FIXED_POOL_SHARES)

    train_index = _take(rng, pools[0], num_train)
    train_labels = digits[train_index] % 2
    aligned = rng.random(num_train) < bias
    splits = {
        "train": _real_split(
            rng, sprites, digits, train_index, np.where(aligned, train_labels, 1 - train_labels)
        ),
    }
    for name, pool, size in (("val", pools[1], num_val), ("test", pools[2], num_test)):
        splits[name] = _balanced_real_split(pool_rng, sprites, digits, pool, size)
    return splits


def _split_pool(order, sizes):
    total = sum(sizes)
    bounds = np.cumsum([0] + [round(len(order) * s / total) for s in sizes])
    return [order[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _take(rng, pool, count):
    return rng.choice(pool, count, replace=count > len(pool))


def _real_split(rng, sprites, digits, index, backgrounds):
    """Pastes digits `index` onto textures `backgrounds` (0/1), no generator look."""
    backgrounds = np.asarray(backgrounds, "int32")
    scenes = np.empty((len(index), _SIZE, _SIZE, 3), "float32")
    for texture_id, name in enumerate(BACKGROUNDS):
        chosen = backgrounds == texture_id
        scenes[chosen] = sources.texture_crops(name, int(chosen.sum()), _SIZE, rng)
    foregrounds, alpha = _ink(sprites[index])
    draws = [rng.random(len(index), dtype="float32") for _ in range(3)]
    images, masks, _ = composite.composite_images(
        base.numpy_backend(), scenes, foregrounds, alpha, draws, _SCALE_RANGE, (0.0, 1.0)
    )
    labels = digits[index] % 2
    return {
        "images": images.astype("float32"),
        "labels": labels.astype("int32"),
        "digits": digits[index].astype("int32"),
        "digit_ids": index.astype("int32"),
        "backgrounds": backgrounds,
        "groups": (2 * labels + backgrounds).astype("int32"),
        "object_masks": np.asarray(masks, "float32"),
    }


def _balanced_real_split(rng, sprites, digits, pool, size):
    index, backgrounds = [], []
    for label in (0, 1):
        of_label = pool[digits[pool] % 2 == label]
        for background in (0, 1):
            index.append(_take(rng, of_label, size // 4))
            backgrounds.append(np.full(size // 4, background))
    order = rng.permutation(size)
    return _real_split(
        rng, sprites, digits, np.concatenate(index)[order], np.concatenate(backgrounds)[order]
    )


def _synthetic_split(rng, sprites, digits, pool, per_group):
    scenes, scene_groups = [], []
    for texture_id, name in enumerate(BACKGROUNDS):
        scenes.append(sources.texture_crops(name, 2 * per_group, _SIZE, rng))
        scene_groups.append(np.full(2 * per_group, texture_id, "int32"))
    foregrounds, alpha = _ink(sprites[pool])
    synthetic = balanced_composites(
        foregrounds, digits[pool] % 2, np.concatenate(scenes), np.concatenate(scene_groups),
        per_group, foreground_masks=alpha, scale_range=_SCALE_RANGE,
        seed=int(rng.integers(2**31)),
    )
    order = rng.permutation(len(synthetic["labels"]))
    synthetic = {key: value[order] for key, value in synthetic.items()}
    # The "generator look": a warm colour cast, lifted blacks and pixel noise.
    cast = synthetic["images"] * np.asarray([1.08, 0.94, 0.86], "float32") + 0.04
    noise = rng.normal(0.0, 0.05, cast.shape).astype("float32")
    return {
        "images": np.clip(cast + noise, 0.0, 1.0).astype("float32"),
        "provenance": synthetic["provenance"],
        "labels": synthetic["labels"],
        "digits": digits[pool][synthetic["foreground_index"]],
        "digit_ids": pool[synthetic["foreground_index"]].astype("int32"),
        "backgrounds": synthetic["background_groups"],
        "groups": synthetic["groups"],
    }


def _ink(sprites):
    """Sprites `(N, 16, 16)` as light ink: `(foregrounds, alpha)`."""
    alpha = sprites[..., None]
    foregrounds = np.broadcast_to(_INK, sprites.shape + (3,)).astype("float32")
    return foregrounds, alpha
