"""Edited digits: real images with a background shortcut, and generative-edit copies of them."""

import numpy as np

from keras_provguide.datasets import sources
from keras_provguide.datasets import spurious_digits as spurious
from keras_provguide.layers.edit_provenance import edit_provenance

#: Background ids of the edited copies: the two real ones and a new one.
EDIT_BACKGROUNDS = ("grass", "brick", "gravel")


def edited_digits(
    bias=0.95, num_train=1000, num_val=200, num_test=400, seed=0,
    object_change=0.03, artefact_strength=0.02, pool_seed=None, edits_per_image=1, smoothing=0.6,
    seam_width=1, mask_threshold=None,
):
    """Digit parity on textures, plus ALIA-style background edits of the real training images.

    The setting of the guidance paper's classification rows (Waterbirds,
    iWildCam and CUB with ALIA edits), built offline. The real splits are
    those of `spurious_digits`: the label is the digit's parity, the
    background grass (0) or brick (1), and in the real training set the
    background agrees with the label for a share `bias` of each class;
    validation and test are group-balanced.

    The `"edited"` split holds `edits_per_image` edits of every real
    training image, made by a deliberately imperfect editor that re-renders
    the background as another texture, as ALIA's prompted image-to-image
    editing does (ALIA prompts several backgrounds per image):

    - the new background is one of the two textures the image does not
      have (grass -> brick or gravel, brick -> grass or gravel), so with one
      edit per image half of the edits of majority images land in a minority
      group and half on a background that real data never shows; with two,
      every image is edited onto both, and real plus edited images hold as
      many grass as brick backgrounds in each class;
    - the editor's idea of the object is the true digit mask (its soft
      alpha, or where `mask_threshold` is given, the pixels whose alpha
      exceeds it) dilated by `seam_width` pixels and softened, so the seam
      blends old and new pixels. With the soft alpha, the digit's
      anti-aliased edge keeps the old background blended in: a ring that
      still predicts the label after the edit;
    - the object itself is re-rendered slightly: a per-image colour gain of
      about `1 +- object_change` and pixel noise;
    - the new background is smoothed by a Gaussian of standard deviation
      `smoothing` pixels (a decoder's loss of fine texture), and a fixed
      4-pixel checkerboard of amplitude `artefact_strength` covers the
      whole image: the generator's fingerprint.

    Provenance is not handed over: it is recovered from the pixels, as the
    paper does, by `kpg.layers.edit_provenance(original, edited)` (Otsu's
    threshold on the per-pixel change). The true digit mask is returned
    beside it for diagnosis only.

    Args:
        bias: float in [0.5, 1], the share of aligned backgrounds in train.
        num_train, num_val, num_test: real split sizes (`num_val` and
            `num_test` multiples of 4).
        seed: int; everything is a deterministic function of it (and of
            `pool_seed`, when given).
        pool_seed: None (the default), or an int that fixes val and test
            for every `seed`, as in `spurious_digits`.
        object_change: float in [0, 0.2], the editor's change of object
            colours (the standard deviation of the per-channel gain).
        artefact_strength: float in [0, 0.1], the amplitude of the
            editor's checkerboard.
        edits_per_image: 1 (the default: one of the two other textures) or
            2 (both), edits of each real training image.
        smoothing: float in [0, 2], the standard deviation in pixels of the
            editor's blur of the new background (0: none).
        seam_width: int in [0, 3], the pixels by which the editor's object
            mask is dilated: the width of the ring of old background the
            edit keeps around the object (0: none beyond the softened edge).
        mask_threshold: None (the default: the digit's soft alpha), or a
            float in [0, 1): the editor keeps only the pixels whose alpha
            exceeds it, and re-renders the digit's edge with the rest.

    Returns:
        `{"train", "val", "test", "edited"}`. The real splits have the keys
        of `spurious_digits` (`"images"`, `"labels"`, `"groups"`, ...) and
        `"object_masks"` float32 `(N, 32, 32, 1)`, the true digit alpha.
        `"edited"` has `"images"`, `"labels"`, `"provenance"` (Otsu, 1 on
        pixels the edit kept), `"object_masks"` (of its source image),
        `"source_index"` (the row of `"train"` edited), `"backgrounds"`
        (int32 ids into `EDIT_BACKGROUNDS`: 0 grass, 1 brick, 2 gravel) and
        `"groups"` (`2 * label + background` for grass and brick, `4 + label`
        for gravel).

    Example:

    ```python
    data = kpg.datasets.edited_digits(bias=0.95)
    edited = data["edited"]
    float(np.mean(edited["provenance"]))   # the share of pixels the edits kept
    ```
    """
    for name, value, high in (
        ("object_change", object_change, 0.2), ("artefact_strength", artefact_strength, 0.1),
        ("smoothing", smoothing, 2.0),
    ):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= high:
            raise ValueError(f"Expected `{name}` in [0, {high}], received {value!r}.")
    if edits_per_image not in (1, 2) or isinstance(edits_per_image, bool):
        raise ValueError(f"Expected `edits_per_image` 1 or 2, received {edits_per_image!r}.")
    if seam_width not in (0, 1, 2, 3) or isinstance(seam_width, bool):
        raise ValueError(f"Expected `seam_width` an int in [0, 3], received {seam_width!r}.")
    if mask_threshold is not None and (
        not isinstance(mask_threshold, (int, float)) or isinstance(mask_threshold, bool)
        or not 0 <= mask_threshold < 1
    ):
        raise ValueError(f"Expected `mask_threshold` None or a float in [0, 1), received {mask_threshold!r}.")
    # The real splits: spurious digits with their true masks, no synthetic split.
    rng = np.random.default_rng(seed)
    splits = spurious.real_splits(
        rng, bias=bias, num_train=num_train, num_val=num_val, num_test=num_test,
        pool_rng=None if pool_seed is None else np.random.default_rng(pool_seed),
    )
    editor = {
        "object_change": object_change, "artefact_strength": artefact_strength, "smoothing": smoothing,
        "seam_width": seam_width, "mask_threshold": mask_threshold,
    }
    splits["edited"] = _edit(np.random.default_rng([seed, 1]), splits["train"], edits_per_image, editor)
    return splits


def _edit(rng, train, edits_per_image, editor):
    if edits_per_image == 2:
        # Both textures each image does not have: the one-edit editor, twice.
        source = np.concatenate([np.arange(len(train["labels"]))] * 2)
        first = {key: value[source] for key, value in train.items()}
        offsets = np.repeat([1, 2], len(train["labels"]))
        edited = _edit_with(rng, first, offsets, **editor)
        edited["source_index"] = source.astype("int32")
        return edited
    # Each image gets one of the two textures it does not have.
    offsets = rng.integers(1, len(EDIT_BACKGROUNDS), len(train["labels"]))
    return _edit_with(rng, train, offsets, **editor)


def _edit_with(rng, train, offsets, object_change, artefact_strength, smoothing, seam_width, mask_threshold):
    """Edits each image of `train` onto the texture `offsets` steps from its own."""
    from skimage.filters import gaussian
    from skimage.morphology import dilation

    count, size = len(train["labels"]), train["images"].shape[1]
    backgrounds = ((train["backgrounds"] + offsets) % len(EDIT_BACKGROUNDS)).astype("int32")
    scenes = np.empty_like(train["images"])
    for texture_id, name in enumerate(EDIT_BACKGROUNDS):
        chosen = backgrounds == texture_id
        scenes[chosen] = sources.texture_crops(name, int(chosen.sum()), size, rng)
    if smoothing > 0:
        scenes = np.stack([gaussian(s, sigma=smoothing, channel_axis=-1) for s in scenes])
    footprint = np.ones((2 * seam_width + 1,) * 2, bool)
    masks = train["object_masks"][..., 0]
    if mask_threshold is not None:
        masks = (masks > mask_threshold).astype("float32")
    keep = np.stack([gaussian(dilation(mask, footprint), sigma=0.7)[..., None] for mask in masks])
    keep = np.clip(keep / max(float(keep.max()), 1e-6), 0.0, 1.0)
    gains = rng.normal(1.0, object_change, (count, 1, 1, 3))
    noise = rng.normal(0.0, 0.01, train["images"].shape)
    objects = train["images"] * gains + noise
    rows, cols = np.indices((size, size))
    checkerboard = np.where((rows // 4 + cols // 4) % 2 == 0, 1.0, -1.0)[None, :, :, None]
    edited = keep * objects + (1.0 - keep) * scenes + artefact_strength * checkerboard
    edited = np.clip(edited, 0.0, 1.0).astype("float32")
    labels = train["labels"]
    groups = np.where(backgrounds < 2, 2 * labels + backgrounds, 4 + labels).astype("int32")
    return {
        "images": edited,
        "labels": labels.copy(),
        "provenance": edit_provenance(train["images"], edited),
        "object_masks": train["object_masks"].copy(),
        "source_index": np.arange(count, dtype="int32"),
        "backgrounds": backgrounds,
        "groups": groups,
    }
