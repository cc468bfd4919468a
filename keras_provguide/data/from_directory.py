"""`from_directory`: image + provenance-mask pairs from a folder, read by the package's one file stack.

This module finds and checks the files (class folders, masks by stem,
sizes); `keras_provguide.datasets.files` reads and batches them, as it does
for every published-format loader.
"""

import os

import numpy as np

from keras_provguide.datasets.files import FileTable, check_image_size, check_loader_options, table_dataset

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def from_directory(
    images_dir,
    masks_dir=None,
    labels="inferred",
    image_size=None,
    batch_size=32,
    shuffle=True,
    seed=None,
    augment=None,
    output="tf.data",
):
    """Loads images and their provenance masks from disk, ready for `fit`.

    Layout: with `labels="inferred"`, `images_dir` holds one subdirectory per
    class (sorted names give the class ids), as in
    `keras.utils.image_dataset_from_directory`. Each image's mask is the PNG
    with the same relative path and stem under `masks_dir`
    (`images/cat/001.jpg` -> `masks/cat/001.png`), a grayscale image where
    255 marks pixels of the labelled target. Without `masks_dir`, the images
    must be RGBA and their alpha channel is the mask.

    Every file is checked before the first batch: a missing or extra mask, a
    mask whose size differs from its image's, an unreadable file, an image
    without alpha (when `masks_dir` is `None`) or, without `image_size`,
    images of different sizes raise a `ValueError` that names the file.

    Args:
        images_dir: path to the images.
        masks_dir: path to the masks, or `None` to read alpha channels.
        labels: `"inferred"` (from subdirectories), a list of int class ids
            in the sorted order of the image paths, or `None` (no labels).
        image_size: `(height, width)` to resize images and masks to
            (bilinear, so soft mask edges stay shares), or `None` to keep
            the common size.
        batch_size: int > 0.
        shuffle: bool; reshuffled each epoch.
        seed: int or `None`, for shuffling.
        augment: optional callable on batch dicts (`"images"`,
            `"provenance"`, `"labels"`), e.g. a `kpg.layers` layer or a
            `keras.layers.Pipeline` of them, applied before the split.
        output: `"tf.data"` for a `tf.data.Dataset` (needs TensorFlow), or
            `"pydataset"` for a `keras.utils.PyDataset`.

    Returns:
        A dataset of `(inputs, labels)` batches, `inputs` a dict with
        `"images"` float32 `(B, H, W, 3)` in [0, 1] and `"provenance"`
        float32 `(B, H, W, 1)` in [0, 1] (plus whatever `augment` adds), or
        of `inputs` alone when `labels` is `None`. The dataset has a
        `file_paths` attribute (and `class_names` with inferred labels).

    Example:

    ```python
    train = kpg.data.from_directory(
        "objects/images", "objects/masks", image_size=(64, 64),
        augment=kpg.layers.RandomFlip(seed=0),
    )
    model.fit(train, epochs=10)
    ```
    """
    check_loader_options(batch_size, output)
    size = None if image_size is None else check_image_size(tuple(image_size) if isinstance(image_size, list)
                                                             else image_size)
    if augment is not None and not callable(augment):
        raise ValueError(f"Expected `augment` to be callable, received {augment!r}.")
    index = _index_files(images_dir, masks_dir, labels)
    table = FileTable(index.images, index.labels, masks=index.masks, alpha=index.masks is None)
    dataset = table_dataset(table, size or _common_size(index), batch_size, shuffle, seed, output, augment)
    if index.class_names is not None:
        dataset.class_names = index.class_names
    return dataset


class _Index:
    """Matched, checked file paths: images, masks (or None), labels, sizes."""

    def __init__(self, images, masks, labels, class_names, sizes):
        self.images, self.masks, self.labels = images, masks, labels
        self.class_names, self.sizes = class_names, sizes


def _list_images(root):
    found = []
    for directory, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                found.append(os.path.relpath(os.path.join(directory, name), root))
    return found


def _index_files(images_dir, masks_dir, labels):
    for name, path in (("images_dir", images_dir), ("masks_dir", masks_dir)):
        if path is not None and not os.path.isdir(path):
            raise ValueError(f"Expected `{name}` to be a directory, received {path!r}.")
    relative = _list_images(images_dir)
    class_names = None
    if isinstance(labels, str) and labels == "inferred":
        class_names = sorted(
            entry for entry in os.listdir(images_dir)
            if os.path.isdir(os.path.join(images_dir, entry))
        )
        if not class_names:
            raise ValueError(
                f"labels='inferred' needs one subdirectory per class in {images_dir!r}, "
                "found none; pass `labels` as a list or None."
            )
        relative = [path for path in relative if os.sep in path]
        label_ids = [class_names.index(path.split(os.sep)[0]) for path in relative]
    elif labels is None:
        label_ids = None
    else:
        label_ids = list(labels)
        if len(label_ids) != len(relative) or not all(
            isinstance(v, (int, np.integer)) and v >= 0 for v in label_ids
        ):
            raise ValueError(
                f"Expected `labels` as {len(relative)} non-negative int class ids (one per "
                f"image file, sorted by path), received {len(label_ids)} values."
            )
    if not relative:
        raise ValueError(f"Found no image files ({', '.join(IMAGE_EXTENSIONS)}) in {images_dir!r}.")

    images = [os.path.join(images_dir, path) for path in relative]
    masks = None
    if masks_dir is not None:
        masks = [os.path.join(masks_dir, os.path.splitext(path)[0] + ".png") for path in relative]
        _check_no_extra_masks(masks_dir, masks)
    sizes = []
    for i, image_path in enumerate(images):
        size, mode = _header(image_path)
        if masks is None:
            if mode not in _ALPHA_MODES:
                raise ValueError(
                    f"{image_path}: expected an image with an alpha channel (its "
                    f"provenance) since `masks_dir` is None, received mode {mode}."
                )
        else:
            if not os.path.exists(masks[i]):
                raise ValueError(f"{image_path}: no mask; expected {masks[i]}.")
            mask_size, _ = _header(masks[i])
            if mask_size != size:
                raise ValueError(
                    f"{masks[i]}: mask of size {mask_size[0]}x{mask_size[1]} (width x "
                    f"height) for image {image_path} of size {size[0]}x{size[1]}."
                )
        sizes.append(size)
    return _Index(images, masks, label_ids, class_names, sizes)


def _check_no_extra_masks(masks_dir, expected):
    expected = {os.path.normpath(path) for path in expected}
    for path in _list_images(masks_dir):
        full = os.path.normpath(os.path.join(masks_dir, path))
        if full not in expected:
            raise ValueError(f"{full}: mask without an image (expected images with the same stem).")


def _header(path):
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.size, image.mode
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: unreadable image ({type(error).__name__}: {error}).") from None


def _common_size(index):
    first = index.sizes[0]
    for path, size in zip(index.images, index.sizes):
        if size != first:
            raise ValueError(
                f"{path}: size {size[0]}x{size[1]} differs from {index.images[0]} "
                f"({first[0]}x{first[1]}); pass `image_size` to resize."
            )
    return (first[1], first[0])
