"""`from_directory`: image + provenance-mask pairs from disk."""

import os

import numpy as np

from keras_provguide.data.indexed_batches import IndexedBatches

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
    if output not in ("tf.data", "pydataset"):
        raise ValueError(f"Expected `output` 'tf.data' or 'pydataset', received {output!r}.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"Expected `batch_size` to be an int >= 1, received {batch_size!r}.")
    if image_size is not None:
        if len(image_size) != 2 or not all(isinstance(s, int) and s > 0 for s in image_size):
            raise ValueError(
                f"Expected `image_size` as (height, width) positive ints, received {image_size!r}."
            )
        image_size = tuple(image_size)
    if augment is not None and not callable(augment):
        raise ValueError(f"Expected `augment` to be callable, received {augment!r}.")
    index = _index_files(images_dir, masks_dir, labels)
    size = image_size or _common_size(index)
    if output == "pydataset":
        dataset = _DirectoryDataset(index, size, batch_size, shuffle, seed, augment)
    else:
        dataset = _tf_dataset(index, size, batch_size, shuffle, seed, augment)
        dataset.file_paths = index.images
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

    with _reading(path):
        with Image.open(path) as image:
            return image.size, image.mode


def _common_size(index):
    first = index.sizes[0]
    for path, size in zip(index.images, index.sizes):
        if size != first:
            raise ValueError(
                f"{path}: size {size[0]}x{size[1]} differs from {index.images[0]} "
                f"({first[0]}x{first[1]}); pass `image_size` to resize."
            )
    return (first[1], first[0])


def _load_pair(image_path, mask_path, size):
    """`(image (H, W, 3), provenance (H, W, 1))` float32 in [0, 1]."""
    from PIL import Image

    with _reading(image_path):
        with Image.open(image_path) as image:
            image.load()
            mask = image.getchannel("A") if mask_path is None else None
            image = image.convert("RGB")
    if mask_path is not None:
        with _reading(mask_path):
            with Image.open(mask_path) as mask_file:
                mask = mask_file.convert("L")
    height, width = size
    if image.size != (width, height):
        image = image.resize((width, height), Image.BILINEAR)
        mask = mask.resize((width, height), Image.BILINEAR)
    pixels = np.asarray(image, "float32") / 255.0
    provenance = np.asarray(mask, "float32")[..., None] / 255.0
    return pixels, provenance


class _reading:
    """Re-raises any error while reading `path` as a `ValueError` naming it."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if error is not None and not isinstance(error, ValueError):
            raise ValueError(
                f"{self.path}: unreadable image ({kind.__name__}: {error})."
            ) from None
        return False


def _finish(batch, augment, with_labels):
    if augment is not None:
        batch = augment(batch)
    if not with_labels:
        return batch
    from keras_provguide.data.split_labels import split_labels

    return split_labels(batch)


class _DirectoryDataset(IndexedBatches):
    """The `output="pydataset"` form of `from_directory`."""

    def __init__(self, index, size, batch_size, shuffle, seed, augment):
        super().__init__(len(index.images), batch_size, shuffle, seed)
        self.file_paths = index.images
        self._index, self._size, self._augment = index, size, augment

    def __getitem__(self, i):
        rows = self.rows(i)
        masks = self._index.masks
        pairs = [
            _load_pair(self._index.images[r], None if masks is None else masks[r], self._size)
            for r in rows
        ]
        batch = {
            "images": np.stack([p[0] for p in pairs]),
            "provenance": np.stack([p[1] for p in pairs]),
        }
        if self._index.labels is not None:
            batch["labels"] = np.asarray([self._index.labels[r] for r in rows], "int32")
        return _finish(batch, self._augment, self._index.labels is not None)


def _tf_dataset(index, size, batch_size, shuffle, seed, augment):
    import tensorflow as tf

    height, width = size
    masks = index.masks if index.masks is not None else [""] * len(index.images)
    labels = index.labels if index.labels is not None else [0] * len(index.images)
    dataset = tf.data.Dataset.from_tensor_slices((index.images, masks, labels))
    if shuffle:
        dataset = dataset.shuffle(len(index.images), seed=seed, reshuffle_each_iteration=True)

    def load(image_path, mask_path, label):
        def read(image_path, mask_path):
            mask_path = mask_path.decode() or None
            return _load_pair(image_path.decode(), mask_path, size)

        image, provenance = tf.numpy_function(
            read, [image_path, mask_path], [tf.float32, tf.float32], stateful=False
        )
        element = {
            "images": tf.ensure_shape(image, (height, width, 3)),
            "provenance": tf.ensure_shape(provenance, (height, width, 1)),
        }
        if index.labels is not None:
            element["labels"] = tf.cast(label, tf.int32)
        return element

    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)
    dataset = dataset.map(
        lambda batch: _finish(batch, augment, index.labels is not None),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return dataset.prefetch(tf.data.AUTOTUNE)
