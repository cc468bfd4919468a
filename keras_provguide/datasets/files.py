"""The one stack that reads image files into batches of the package's dict contract.

Every reader of images on disk (the published-format loaders `wsol_metadata`,
`waterbirds`, `celeba`, `utkface`, `csv_manifest`, `edited_pairs`,
`ffr_split`, and `kpg.data.from_directory`) lists its files in a `FileTable`
(one row per image, checked before the first batch) and hands it to
`table_dataset`, which reads, resizes and batches the files as a
`tf.data.Dataset` or a `keras.utils.PyDataset`.
"""

import os
import pickle

import numpy as np

from keras_provguide.checks import int_at_least
from keras_provguide.data.indexed_batches import IndexedBatches
from keras_provguide.data.steady_epochs import PARALLEL_CALLS, PREFETCH_BATCHES, steady_epochs
from keras_provguide.keys import GROUPS, IMAGES, LABELS, PROVENANCE

OUTPUTS = ("tf.data", "pydataset")


class FileTable:
    """The rows of one split: image paths and what each image comes with.

    Args:
        paths: image paths.
        labels: int class ids, one per path.
        groups: optional int group ids, one per path (`x["groups"]`).
        masks: optional provenance mask paths, one per path (grayscale; 255
            on the labelled target).
        originals: optional paths of the unedited images, one per path:
            provenance is then `kpg.layers.edit_provenance(original, image)`.
        alpha: bool; provenance is each image's own alpha channel.

    `labels` may be `None` (a stream of inputs alone).
    """

    def __init__(self, paths, labels, groups=None, masks=None, originals=None, alpha=False):
        self.paths = [str(p) for p in paths]
        self.labels = None if labels is None else np.asarray(labels, "int32").reshape(-1)
        self.groups = None if groups is None else np.asarray(groups, "int32").reshape(-1)
        self.masks = None if masks is None else [str(p) for p in masks]
        self.originals = None if originals is None else [str(p) for p in originals]
        self.alpha = bool(alpha)
        for name in ("labels", "groups", "masks", "originals"):
            values = getattr(self, name)
            if values is not None and len(values) != len(self.paths):
                raise ValueError(
                    f"Expected one {name[:-1]} per image ({len(self.paths)}), "
                    f"received {len(values)}."
                )
        if (self.masks is not None) + (self.originals is not None) + self.alpha > 1:
            raise ValueError("Expected provenance from one of `masks`, `originals` and `alpha`, received several.")

    def __len__(self):
        return len(self.paths)

    def subset(self, rows):
        """A `FileTable` of the rows `rows` (int indices), in that order."""
        rows = np.asarray(rows, "int64").reshape(-1)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self)):
            raise ValueError(f"Expected row indices in [0, {len(self)}), received {rows.min()}..{rows.max()}.")
        pick = lambda values: None if values is None else [values[r] for r in rows]  # noqa: E731
        return FileTable(pick(self.paths), None if self.labels is None else self.labels[rows], pick(self.groups),
                         pick(self.masks), pick(self.originals), self.alpha)

    def check_files(self, where):
        """Raises a `ValueError` naming the first missing file and `where` it was listed."""
        for name in ("paths", "masks", "originals"):
            for path in getattr(self, name) or ():
                if not os.path.isfile(path):
                    raise ValueError(f"{where}: {path} does not exist (listed as an image's file).")


def load_pickle(path, encoding="ASCII"):
    """The object pickled at `path`, or a `ValueError` naming it (missing, or not a pickle)."""
    try:
        with open(path, "rb") as file:
            return pickle.load(file, encoding=encoding)
    except FileNotFoundError:
        raise ValueError(f"Expected a pickle file at {path}, found none.") from None
    except (pickle.UnpicklingError, EOFError) as error:
        raise ValueError(f"{path}: not a readable pickle ({error}).") from None


def check_image_size(image_size):
    """`image_size` as `(height, width)` of positive ints, or a `ValueError`."""
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    if (not isinstance(image_size, (tuple, list)) or len(image_size) != 2
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in image_size)):
        raise ValueError(
            f"Expected `image_size` as an int or (height, width) positive ints, received {image_size!r}."
        )
    return tuple(image_size)


def check_loader_options(batch_size, output):
    int_at_least(batch_size, 1, "batch_size")
    if output not in OUTPUTS:
        raise ValueError(f"Expected `output` in {OUTPUTS}, received {output!r}.")


def read_image(path, size, mode="RGB"):
    """The file at `path` as float32 `(H, W, channels)` in [0, 1], resized bilinearly to `size`.

    `mode="RGB+A"` gives `(rgb (H, W, 3), alpha (H, W, 1))`, each resized on
    its own (so the colours of transparent pixels are not premultiplied).
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            planes = [image.convert("RGB"), image.getchannel("A")] if mode == "RGB+A" else [image.convert(mode)]
        height, width = size
        arrays = []
        for plane in planes:
            if plane.size != (width, height):
                plane = plane.resize((width, height), Image.BILINEAR)
            pixels = np.asarray(plane, "float32") / 255.0
            arrays.append(pixels if pixels.ndim == 3 else pixels[..., None])
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: unreadable image ({type(error).__name__}: {error}).") from None
    return tuple(arrays) if mode == "RGB+A" else arrays[0]


class RowReader:
    """Reads rows of a `FileTable` as elements of the dict contract.

    `spec` is `{key: (shape, dtype)}` of one element, `"labels"` included.
    """

    def __init__(self, table, size):
        self.table, self.size = table, size
        height, width = size
        self.spec = {IMAGES: ((height, width, 3), "float32")}
        if table.masks is not None or table.originals is not None or table.alpha:
            self.spec[PROVENANCE] = ((height, width, 1), "float32")
        if table.groups is not None:
            self.spec[GROUPS] = ((), "int32")
        if table.labels is not None:
            self.spec[LABELS] = ((), "int32")

    def __call__(self, i):
        table = self.table
        if table.alpha:
            images, provenance = read_image(table.paths[i], self.size, mode="RGB+A")
            element = {IMAGES: images, PROVENANCE: provenance}
        else:
            element = {IMAGES: read_image(table.paths[i], self.size)}
        if table.masks is not None:
            element[PROVENANCE] = read_image(table.masks[i], self.size, mode="L")
        if table.originals is not None:
            from keras_provguide.layers.edit_provenance import edit_provenance

            original = read_image(table.originals[i], self.size)
            element[PROVENANCE] = edit_provenance(original, element[IMAGES])
        if table.groups is not None:
            element[GROUPS] = np.int32(table.groups[i])
        if table.labels is not None:
            element[LABELS] = np.int32(table.labels[i])
        return element

    def batch(self, rows):
        """The rows `rows` stacked: `{key: (len(rows), ...)}`, `"labels"` included."""
        elements = [self(int(r)) for r in rows]
        return {key: np.stack([e[key] for e in elements]) for key in self.spec}


def _split(batch, augment):
    """`(inputs, labels)` after `augment`, or the inputs alone for a table without labels."""
    if augment is not None:
        batch = augment(batch)
    batch = dict(batch)
    if LABELS not in batch:
        return batch
    labels = batch.pop(LABELS)
    return batch, labels


class TableDataset(IndexedBatches):
    """The `output="pydataset"` form of `table_dataset`."""

    def __init__(self, table, size, batch_size, shuffle, seed, augment):
        super().__init__(len(table), batch_size, shuffle, seed)
        self._read, self._augment = RowReader(table, size), augment

    def __getitem__(self, i):
        return _split(self._read.batch(self.rows(i)), self._augment)


def _tf_dataset(table, size, batch_size, shuffle, seed, augment):
    import tensorflow as tf

    read = RowReader(table, size)
    keys = list(read.spec)
    dataset = tf.data.Dataset.range(len(table))
    if shuffle:
        dataset = dataset.shuffle(len(table), seed=seed, reshuffle_each_iteration=True)

    def load(i):
        values = tf.numpy_function(
            lambda i: tuple(read(int(i))[key] for key in keys), [i],
            [tf.as_dtype(read.spec[key][1]) for key in keys], stateful=False,
        )
        return {key: tf.ensure_shape(v, read.spec[key][0]) for key, v in zip(keys, values)}

    # Fixed sizes, autotuning off: with it on, a new epoch can stall up to
    # 10 s on every backend (`kpg.data.steady_epochs`).
    dataset = dataset.map(load, num_parallel_calls=PARALLEL_CALLS).batch(batch_size)
    dataset = dataset.map(lambda batch: _split(batch, augment), num_parallel_calls=PARALLEL_CALLS)
    return steady_epochs(dataset.prefetch(PREFETCH_BATCHES))


def table_dataset(table, image_size, batch_size=32, shuffle=False, seed=None, output="tf.data",
                  augment=None):
    """Batches of `(inputs, labels)` (inputs alone without labels) read from `table`'s files.

    `inputs` holds `"images"` float32 `(B, H, W, 3)` in [0, 1], and
    `"provenance"` `(B, H, W, 1)` and `"groups"` `(B,)` when the table has
    them. Images are resized straight to `image_size` (bilinear), as the
    WSOL and group-robustness evaluation code does. The dataset carries the
    table's `file_paths`, `labels` and `groups` (in file order; batches come
    in that order unless `shuffle`), and `row_reader`, a `RowReader` of
    its rows, through which `kpg.data.FakeThenReal` draws its own batches.
    """
    size = check_image_size(image_size)
    check_loader_options(batch_size, output)
    if augment is not None and not callable(augment):
        raise ValueError(f"Expected `augment` to be callable, received {augment!r}.")
    if output == "pydataset":
        dataset = TableDataset(table, size, batch_size, shuffle, seed, augment)
    else:
        dataset = _tf_dataset(table, size, batch_size, shuffle, seed, augment)
    dataset.file_paths, dataset.labels, dataset.groups = table.paths, table.labels, table.groups
    dataset.row_reader = RowReader(table, size)
    return dataset
