"""From Fake to Real's published splits: the pickles of mqraitem/From-Fake-to-Real's `data/` folder.

The FFR code subsamples each benchmark's minority groups at random and
stores the result, so that every method trains and is scored on the same
images: `data/{celeba_Smiling,utk_face}_{train,valid,test}_{bias}.pkl` and
`data/spuco_animals_{train,val,test}_{bias}.pkl`. Each is a dict of
`filenames` (absolute paths on the authors' machine), `targets`, `biases`
and `real_gen` (0 real, 1 generated), one entry per image, as the FFR
datasets (`datasets/celeba.py`, `utk_face.py`, `spuco_animals.py`) dump
and reload them.
"""

import os
import posixpath

import numpy as np

from keras_provguide.datasets.files import (
    FileTable,
    check_image_size,
    check_loader_options,
    load_pickle,
    table_dataset,
)

FFR_KEYS = ("filenames", "targets", "biases", "real_gen")


def ffr_split(pickle_path, image_root, image_size=224, batch_size=32, shuffle=False, seed=None,
              output="tf.data", augment=None):
    """One split of From Fake to Real, exactly as its authors drew it, read from your copy of the images.

    Each listed path is found in `image_root` by its file name (the FFR
    pickles hold the authors' absolute paths): `image_root` is your
    `CelebAMask-HQ/CelebA-HQ-img`, UTKFace or SpuCo folder. The label is the
    pickle's `targets` and the group `2 * target + bias`, as group_DRO
    numbers them; SpuCo Animals' dog classes (2, 3) have biases 2 and 3,
    which count as 0 and 1 there, so its eight groups are 0-7 in the order
    of the FFR code's `GROUPS`.

    Args:
        pickle_path: one FFR split pickle, e.g. `data/utk_face_train_0.95.pkl`.
        image_root: the folder holding every listed file, by name.
        image_size: int or `(height, width)`.
        batch_size, seed, output, augment: as `kpg.data.from_directory`.
        shuffle: whether batches are shuffled (a training split's).

    Returns:
        A dataset of `(inputs, labels)` batches (`inputs["images"]`,
        `inputs["groups"]`), as `kpg.datasets.celeba`'s splits, carrying
        `file_paths`, `labels`, `groups` and `row_reader`, plus `biases`
        and `real_gen` (int32, 0 real and 1 generated) in file order.

    Example:

    ```python
    train = kpg.datasets.ffr_split("From-Fake-to-Real/data/utk_face_train_0.95.pkl", "UTKFace",
                                   shuffle=True, seed=0)
    val = kpg.datasets.ffr_split("From-Fake-to-Real/data/utk_face_valid_0.95.pkl", "UTKFace")
    model.fit(train, validation_data=val)
    ```
    """
    size = check_image_size(image_size)
    check_loader_options(batch_size, output)
    if not os.path.isdir(image_root):
        raise ValueError(f"{image_root} is not a folder: expected the images of {pickle_path} in it.")
    data = load_pickle(pickle_path)
    if not isinstance(data, dict) or any(key not in data for key in FFR_KEYS):
        received = f"keys {sorted(map(str, data))}" if isinstance(data, dict) else f"a {type(data).__name__}"
        raise ValueError(f"{pickle_path}: expected an FFR split, a dict with keys {list(FFR_KEYS)}, received "
                         f"{received}.")
    lengths = [len(data[key]) for key in FFR_KEYS]
    if len(set(lengths)) != 1 or not lengths[0]:
        raise ValueError(f"{pickle_path}: expected {', '.join(FFR_KEYS)} of one length >= 1, received lengths "
                         f"{lengths}.")
    targets, biases, real_gen = (_integers(pickle_path, key, data[key]) for key in FFR_KEYS[1:])
    if not set(np.unique(real_gen)) <= {0, 1}:
        raise ValueError(f"{pickle_path}: expected real_gen 0 (real) or 1 (generated), received "
                         f"{sorted(set(np.unique(real_gen).tolist()))}.")
    for target in np.unique(targets):
        pairs = np.unique(biases[targets == target] // 2)
        if len(pairs) > 1:
            raise ValueError(f"{pickle_path}: expected the biases of target {target} to be one pair (0, 1 or 2, 3), "
                             f"received {sorted(set(biases[targets == target].tolist()))}.")
    paths = _local_paths(pickle_path, image_root, data["filenames"])
    table = FileTable(paths, targets, 2 * targets + biases % 2)
    dataset = table_dataset(table, size, batch_size, shuffle=shuffle, seed=seed, output=output, augment=augment)
    dataset.biases, dataset.real_gen = biases, real_gen
    return dataset


def _integers(pickle_path, key, values):
    """`values` as int32 >= 0 (FFR stores `real_gen` as floats in some pickles), or a `ValueError`."""
    array = np.asarray(values)
    if array.ndim != 1 or array.dtype.kind not in "iuf" or not np.all(array == np.round(array)) or array.min() < 0:
        raise ValueError(f"{pickle_path}: expected {key!r} as integers >= 0, one per image, received "
                         f"{array.dtype} values of shape {array.shape}.")
    return array.astype("int32")


def _local_paths(pickle_path, image_root, filenames):
    """Each listed file's path in `image_root`, matched by file name."""
    by_name = {}
    for listed in map(str, filenames):
        name = posixpath.basename(listed)
        if name in by_name:
            raise ValueError(f"{pickle_path}: {by_name[name]} and {listed} share the file name {name}, so "
                             "they cannot be told apart in one image folder.")
        by_name[name] = listed
    for name, listed in by_name.items():
        if not os.path.isfile(os.path.join(image_root, name)):
            raise ValueError(f"{pickle_path}: {name} (listed as {listed}) is not in {image_root}.")
    return [os.path.join(image_root, posixpath.basename(str(listed))) for listed in filenames]
