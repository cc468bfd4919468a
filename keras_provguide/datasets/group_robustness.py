"""The group-robustness benchmarks' own layouts: Waterbirds (group_DRO), CelebA, UTKFace."""

import os
import re

import numpy as np

from keras_provguide.checks import int_at_least
from keras_provguide.datasets import metadata
from keras_provguide.datasets.metadata import SPLITS


def waterbirds(root, image_size=224, splits=SPLITS, batch_size=32, seed=None, output="tf.data",
               augment=None):
    """Waterbirds as group_DRO publishes it (Sagawa et al., ICLR 2020).

    Layout::

        root/metadata.csv   img_id,img_filename,y,split,place,place_filename
        root/<img_filename> the images (e.g. 001.Black_footed_Albatross/....jpg)

    `y` is the label (1 waterbird), `place` the background (1 water),
    `split` 0 / 1 / 2 for train / val / test. Groups are `2 * y + place`
    (0 landbird on land, 1 landbird on water, 2 waterbird on land, 3
    waterbird on water), as group_DRO numbers them.

    Example:

    ```python
    splits = kpg.datasets.waterbirds("waterbird_complete95_forest2water2", output="pydataset")
    splits["train"].groups  # 2 * y + place, per image
    ```
    """
    size, splits = metadata.checked_options(image_size, batch_size, output, splits)
    path = os.path.join(root, "metadata.csv")
    rows = metadata.csv_rows(path, ("img_filename", "y", "split", "place"))
    columns = {key: [] for key in ("paths", "labels", "groups", "splits")}
    for number, row in rows:
        y, place = (metadata.integer(path, number, row[k], k) for k in ("y", "place"))
        split = metadata.integer(path, number, row["split"], "split")
        if y not in (0, 1) or place not in (0, 1) or split not in metadata.SPLIT_IDS:
            raise ValueError(
                f"{path}, line {number}: expected y and place in {{0, 1}} and split in {{0, 1, 2}}, "
                f"received y={y}, place={place}, split={split}."
            )
        columns["paths"].append(os.path.join(root, row["img_filename"]))
        columns["labels"].append(y)
        columns["groups"].append(2 * y + place)
        columns["splits"].append(metadata.SPLIT_IDS[split])
    return metadata.grouped_datasets(columns, path, size, splits, batch_size, seed, output, augment)


def celeba(root, target="Blond_Hair", spurious="Male", image_size=224, splits=SPLITS,
           batch_size=32, seed=None, output="tf.data", augment=None):
    """CelebA from its official release (Liu et al., ICCV 2015).

    Layout::

        root/list_attr_celeba.txt      line 1: image count; line 2: the 40 attribute
                                       names; then <file> and one +1/-1 per attribute
        root/list_eval_partition.txt   <file> 0|1|2 (train / val / test)
        root/img_align_celeba/<file>   the images

    The label is `target` (1 where the attribute is +1) and the group
    `2 * label + spurious`, as group_DRO numbers them; the usual task is
    `Blond_Hair` with `Male` as the spurious attribute.

    Example:

    ```python
    splits = kpg.datasets.celeba("celeba", target="Blond_Hair", spurious="Male")
    model.fit(splits["train"], validation_data=splits["val"])
    ```
    """
    size, splits = metadata.checked_options(image_size, batch_size, output, splits)
    attributes = os.path.join(root, "list_attr_celeba.txt")
    lines = metadata.lines(attributes)
    if len(lines) < 3:
        raise ValueError(f"{attributes}: expected a count line, a names line and rows, received {len(lines)} lines.")
    names = lines[1][1].split()
    for which, name in (("target", target), ("spurious", spurious)):
        if name not in names:
            raise ValueError(f"Expected `{which}` to name an attribute of {attributes} ({names}), received {name!r}.")
    t, s = names.index(target), names.index(spurious)
    partition_path = os.path.join(root, "list_eval_partition.txt")
    partition = {}
    for number, line in metadata.lines(partition_path):
        name, split = metadata.fields(partition_path, number, line, 2, separator=None)
        split = metadata.integer(partition_path, number, split, "partition")
        if split not in metadata.SPLIT_IDS:
            raise ValueError(f"{partition_path}, line {number}: expected partition 0, 1 or 2, received {split}.")
        partition[name] = metadata.SPLIT_IDS[split]
    columns = {key: [] for key in ("paths", "labels", "groups", "splits")}
    for number, line in lines[2:]:
        fields = metadata.fields(attributes, number, line, len(names) + 1, separator=None)
        values = [fields[1 + t], fields[1 + s]]
        if any(v not in ("1", "-1") for v in values):
            raise ValueError(f"{attributes}, line {number}: expected +1 or -1 attributes, received {values}.")
        if fields[0] not in partition:
            raise ValueError(f"{attributes}, line {number}: {fields[0]} has no line in {partition_path}.")
        label, attribute = (int(v == "1") for v in values)
        columns["paths"].append(os.path.join(root, "img_align_celeba", fields[0]))
        columns["labels"].append(label)
        columns["groups"].append(2 * label + attribute)
        columns["splits"].append(partition[fields[0]])
    return metadata.grouped_datasets(columns, attributes, size, splits, batch_size, seed, output, augment)


_UTK_NAME = re.compile(r"^(\d+)_([01])_([0-4])_\d+.*\.(jpg|jpeg|png)$", re.IGNORECASE)
UTK_ATTRIBUTES = ("age", "gender")  # binary here; race has five values


def utkface(root, target="gender", spurious="age", age_threshold=None, fractions=(0.6, 0.2, 0.2),
            image_size=200, splits=SPLITS, batch_size=32, seed=0, output="tf.data", augment=None):
    """UTKFace (Zhang et al., CVPR 2017): labels from the file names.

    Layout: `root/<age>_<gender>_<race>_<date&time>.jpg` (the aligned and
    cropped release; `.chip.jpg` names too). Gender is 0 male / 1 female,
    race 0–4. From Fake to Real's task is gender with age as the spurious
    attribute, and `age` becomes binary by its rule (its `utk_face.py`):
    0 for ages 20 to 50, 1 for ages 5 and under, and every other age is
    dropped. With `age_threshold`, `age` is instead 1 for ages >=
    `age_threshold` and 0 below, and every image is kept. The release has
    no splits: images are split at random by `seed` into `fractions` of
    train / val / test (before FFR's rule drops ages, so the split of a kept
    image does not depend on the rule). Files whose names do not follow the
    pattern are an error (three release files are known to lack a field:
    remove them).

    Args:
        age_threshold: `None` for FFR's rule, or an int >= 1.

    Example:

    ```python
    splits = kpg.datasets.utkface("UTKFace", target="gender", spurious="age", seed=0)
    ```
    """
    size, splits = metadata.checked_options(image_size, batch_size, output, splits)
    for which, name in (("target", target), ("spurious", spurious)):
        if name not in UTK_ATTRIBUTES:
            raise ValueError(f"Expected `{which}` in {UTK_ATTRIBUTES}, received {name!r}.")
    if target == spurious:
        raise ValueError(f"Expected different `target` and `spurious`, received {target!r} twice.")
    if age_threshold is not None:
        int_at_least(age_threshold, 1, "age_threshold")
    if len(fractions) != 3 or min(fractions) < 0 or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"Expected three `fractions` >= 0 summing to 1, received {fractions!r}.")
    if not os.path.isdir(root):
        raise ValueError(f"{root} is not a folder: expected UTKFace's images in it.")
    names = sorted(n for n in os.listdir(root) if not n.startswith("."))
    if not names:
        raise ValueError(f"{root}: expected UTKFace images, found none.")
    values = {}
    for name in names:
        match = _UTK_NAME.match(name)
        if match is None:
            raise ValueError(
                f"{os.path.join(root, name)}: expected a name <age>_<gender 0|1>_<race 0-4>_<date>.jpg."
            )
        age, gender, race = (int(match.group(k)) for k in (1, 2, 3))
        values[name] = {"age": _utk_age(age, age_threshold), "gender": gender, "race": race}
    order = np.random.default_rng(seed).permutation(len(names))
    bounds = np.round(np.cumsum(fractions)[:2] * len(names)).astype(int)
    split_of = np.empty(len(names), object)
    for split, part in zip(SPLITS, np.split(order, bounds)):
        split_of[part] = split
    kept = [i for i, n in enumerate(names) if values[n]["age"] is not None]
    columns = {
        "paths": [os.path.join(root, names[i]) for i in kept],
        "labels": [values[names[i]][target] for i in kept],
        "groups": [2 * values[names[i]][target] + values[names[i]][spurious] for i in kept],
        "splits": [split_of[i] for i in kept],
    }
    return metadata.grouped_datasets(columns, root, size, splits, batch_size, seed, output, augment)


def _utk_age(age, age_threshold):
    """Binary age: 1 from `age_threshold` on, or FFR's 0 for 20-50 and 1 for <= 5 (`None`: dropped)."""
    if age_threshold is not None:
        return int(age >= age_threshold)
    return 0 if 20 <= age <= 50 else 1 if age <= 5 else None
