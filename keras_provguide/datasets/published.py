"""Loaders for the formats the WSOL and group-robustness benchmarks publish.

Each loader reads its metadata completely and checks it (every line, every
listed file) before it returns, so a bad layout fails at once with a
`ValueError` naming the file and line, and nothing is half loaded. Each
returns `{split: dataset}` built by `files.table_dataset`: batches of
`(inputs, labels)` with `inputs["images"]` and, where the format gives
them, `inputs["groups"]` and `inputs["provenance"]`.
"""

import csv
import os
import re

import numpy as np

from keras_provguide.checks import int_at_least
from keras_provguide.datasets.files import (
    FileTable,
    check_image_size,
    check_loader_options,
    table_dataset,
)

SPLITS = ("train", "val", "test")
_SPLIT_IDS = {0: "train", 1: "val", 2: "test"}


def _lines(path):
    """`(line_number, text)` of the non-empty lines of `path`, or a `ValueError` naming it."""
    if not os.path.isfile(path):
        raise ValueError(f"{path} does not exist: expected it in the dataset's published layout.")
    with open(path, encoding="utf-8") as file:
        return [(n, line.rstrip("\r\n")) for n, line in enumerate(file, 1) if line.strip()]


def _fields(path, number, line, count, separator=","):
    fields = [f.strip() for f in line.split(separator)] if separator else line.split()
    if len(fields) != count:
        raise ValueError(
            f"{path}, line {number}: expected {count} fields, received {len(fields)} in {line!r}."
        )
    return fields


def _integer(path, number, text, what):
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{path}, line {number}: expected an integer {what}, received {text!r}.") from None


def _checked_options(image_size, batch_size, output, splits):
    """`(size, splits)` after checking every loader's shared options."""
    size = check_image_size(image_size)
    check_loader_options(batch_size, output)
    return size, _check_splits(splits)


def _check_splits(splits):
    splits = (splits,) if isinstance(splits, str) else tuple(splits)
    if not splits or any(s not in SPLITS for s in splits):
        raise ValueError(f"Expected `splits` from {SPLITS}, received {splits!r}.")
    return splits


def _datasets(tables, image_size, batch_size, seed, output, augment):
    """`{split: dataset}`: only `"train"` is shuffled (and augmented)."""
    return {
        split: table_dataset(
            table, image_size, batch_size, shuffle=split == "train", seed=seed, output=output,
            augment=augment if split == "train" else None,
        )
        for split, table in tables.items()
    }


# WSOL: wsolevaluation's metadata (Choe et al., CVPR 2020).


def wsol_metadata(metadata_root, data_root, image_size=224, splits=SPLITS, batch_size=32, seed=None,
                  output="tf.data", augment=None):
    """CUB, ILSVRC or OpenImages in wsolevaluation's metadata format.

    Layout (github.com/clovaai/wsolevaluation, `metadata/<DATASET>/<split>/`)::

        metadata_root/train/image_ids.txt     relative image path per line
                            class_labels.txt  <image_id>,<class id>
                            image_sizes.txt   <image_id>,<width>,<height> (may be empty)
                            localization.txt  <image_id>,<x0>,<y0>,<x1>,<y1> per box
                                              (or, OpenImages: <image_id>,<mask>,<ignore mask>)
        metadata_root/val/...  metadata_root/test/...
        data_root/<image_id>                  the images (and OpenImages' masks)

    Sizes serve only to rescale boxes (masks carry their own size), and
    wsolevaluation publishes them empty for OpenImages and for ILSVRC's
    train: an image that `image_sizes.txt` leaves out and whose boxes need
    rescaling takes its size from its file's header.

    Images are resized straight to `image_size`, as that protocol evaluates
    them; boxes are rescaled with them as its `resize_bbox` does (truncated
    to integers) and returned in this package's exclusive `(x0, y0, x1, y1)`
    (their inclusive corners plus one), so `kpg.localization.max_box_acc`
    scores them exactly as the reference code does. Training needs only
    images and class labels; a split's localization rides on its dataset:

    - `dataset.boxes`: a list with one `(K, 4)` float32 array per image, in
      file order (splits with box annotations);
    - `dataset.masks()`: `(masks, ignore_masks)`, `(N, H, W)` uint8 arrays
      resized with nearest neighbours, masks the union of an image's
      instances and ignore the ignore box minus them, as the reference's
      `get_mask` builds them for PxAP (OpenImages).

    Args:
        metadata_root: the folder holding `train/`, `val/` and `test/`.
        data_root: the folder image ids (and mask paths) are relative to.
        image_size: int or `(height, width)`; 224 in the protocol.
        splits: the splits to load.
        batch_size, seed, output, augment: as `kpg.data.from_directory`;
            only `"train"` is shuffled and augmented.

    Returns:
        `{split: dataset}` of `(inputs, labels)` batches.

    Example:

    ```python
    splits = kpg.datasets.wsol_metadata("wsolevaluation/metadata/CUB", "CUB_200_2011/images")
    model.fit(splits["train"], epochs=50)
    maps = localizer.class_activation_maps(test_images)
    kpg.localization.max_box_acc(maps, splits["test"].boxes)
    ```
    """
    size, splits = _checked_options(image_size, batch_size, output, splits)
    datasets = {}
    for split in splits:
        folder = os.path.join(metadata_root, split)
        table, boxes, masks = _wsol_split(folder, data_root, size)
        dataset = _datasets({split: table}, size, batch_size, seed, output, augment)[split]
        if boxes is not None:
            dataset.boxes = boxes
        if masks is not None:
            dataset.masks = _mask_loader(masks, size)
        datasets[split] = dataset
    return datasets


def _wsol_split(folder, data_root, size):
    ids_path = os.path.join(folder, "image_ids.txt")
    ids = [line.strip() for _, line in _lines(ids_path)]
    if not ids:
        raise ValueError(f"{ids_path}: expected at least one image id, received none.")
    if len(set(ids)) != len(ids):
        raise ValueError(f"{ids_path}: an image id is listed twice.")
    known = set(ids)

    def keyed(name, count):
        path = os.path.join(folder, name)
        found = {}
        for number, line in _lines(path):
            fields = _fields(path, number, line, count)
            if fields[0] not in known:
                raise ValueError(f"{path}, line {number}: {fields[0]} is not in {ids_path}.")
            found.setdefault(fields[0], []).append((number, fields[1:]))
        return path, found

    labels_path, labels = keyed("class_labels.txt", 2)
    missing = [i for i in ids if i not in labels]
    if missing:
        raise ValueError(f"{labels_path}: no class label for {missing[0]} (listed in {ids_path}).")
    sizes_path, listed = keyed("image_sizes.txt", 3)
    sizes = {}
    for image_id, ((number, (width, height)), *_) in listed.items():
        sizes[image_id] = (_integer(sizes_path, number, width, "width"),
                           _integer(sizes_path, number, height, "height"))
        if min(sizes[image_id]) < 1:
            raise ValueError(
                f"{sizes_path}, line {number}: expected a width and height >= 1, received {sizes[image_id]}."
            )
    class_ids = []
    for image_id in ids:
        number, (value,) = labels[image_id][0]
        class_ids.append(_integer(labels_path, number, value, "class id"))
    if min(class_ids) < 0:
        raise ValueError(f"{labels_path}: expected class ids >= 0, received {min(class_ids)}.")
    table = FileTable([os.path.join(data_root, i) for i in ids], class_ids)
    table.check_files(ids_path)

    boxes = masks = None
    localization = os.path.join(folder, "localization.txt")
    if os.path.isfile(localization):
        rows = _lines(localization)
        width = len(rows[0][1].split(",")) if rows else 0
        if width == 5:

            def size_of(image_id):
                if image_id not in sizes:
                    sizes[image_id] = _header_size(os.path.join(data_root, image_id), sizes_path, image_id)
                return sizes[image_id]

            boxes = _wsol_boxes(localization, rows, ids, known, size_of, size)
        elif width == 3:
            masks = _wsol_masks(localization, rows, ids, known, data_root)
        elif rows:
            raise ValueError(
                f"{localization}, line {rows[0][0]}: expected 5 fields (<id>,x0,y0,x1,y1) or 3 "
                f"(<id>,<mask>,<ignore mask>), received {width}."
            )
    return table, boxes, masks


def _wsol_boxes(path, rows, ids, known, size_of, size):
    height, width = size
    found = {}
    for number, line in rows:
        image_id, *corners = _fields(path, number, line, 5)
        if image_id not in known:
            raise ValueError(f"{path}, line {number}: {image_id} is not in image_ids.txt.")
        x0, y0, x1, y1 = (_integer(path, number, c, "box corner") for c in corners)
        if not (0 <= x0 <= x1 and 0 <= y0 <= y1):
            raise ValueError(
                f"{path}, line {number}: expected 0 <= x0 <= x1 and 0 <= y0 <= y1, received "
                f"{(x0, y0, x1, y1)}."
            )
        w, h = size_of(image_id)
        # The reference's resize_bbox: scale, truncate; inclusive corners, +1 for ours.
        box = [int(x0 * width / w), int(y0 * height / h), int(x1 * width / w) + 1,
               int(y1 * height / h) + 1]
        found.setdefault(image_id, []).append(box)
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValueError(f"{path}: no box for {missing[0]}.")
    return [np.asarray(found[i], "float32") for i in ids]


def _header_size(path, sizes_path, image_id):
    """`(width, height)` from the header of the image at `path`, for an id `image_sizes.txt` leaves out."""
    from PIL import Image

    try:
        with Image.open(path) as image:  # reads the header; no pixel is decoded
            return image.size
    except (OSError, ValueError) as error:
        raise ValueError(
            f"{sizes_path}: no size for {image_id}, and {path} is not an image to read it from "
            f"({type(error).__name__}: {error}); its boxes need the original size to be rescaled."
        ) from None


def _wsol_masks(path, rows, ids, known, data_root):
    found, ignore = {}, {}
    for number, line in rows:
        image_id, mask, ignore_mask = _fields(path, number, line, 3)
        if image_id not in known:
            raise ValueError(f"{path}, line {number}: {image_id} is not in image_ids.txt.")
        for listed in (mask, ignore_mask):
            if listed and not os.path.isfile(os.path.join(data_root, listed)):
                raise ValueError(f"{path}, line {number}: {os.path.join(data_root, listed)} does not exist.")
        found.setdefault(image_id, []).append(os.path.join(data_root, mask))
        if ignore_mask:
            ignore[image_id] = os.path.join(data_root, ignore_mask)
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValueError(f"{path}: no mask for {missing[0]}.")
    return [(found[i], ignore.get(i)) for i in ids]


def _mask_loader(entries, size):
    def masks():
        """`(masks, ignore_masks)`, `(N, H, W)` uint8, as the reference's `get_mask`."""
        import cv2

        height, width = size

        def load(path):
            image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise ValueError(f"{path}: unreadable mask.")
            return cv2.resize(image.astype("float32"), (width, height), interpolation=cv2.INTER_NEAREST) > 0.5

        all_masks, all_ignore = [], []
        for paths, ignore_path in entries:
            mask = np.any([load(p) for p in paths], axis=0)
            ignore = np.zeros_like(mask) if ignore_path is None else load(ignore_path) & ~mask
            all_masks.append(mask)
            all_ignore.append(ignore)
        return np.asarray(all_masks, "uint8"), np.asarray(all_ignore, "uint8")

    return masks


# Group robustness: Waterbirds, CelebA, UTKFace, and users' own manifests.


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
    size, splits = _checked_options(image_size, batch_size, output, splits)
    path = os.path.join(root, "metadata.csv")
    rows = _csv_rows(path, ("img_filename", "y", "split", "place"))
    columns = {key: [] for key in ("paths", "labels", "groups", "splits")}
    for number, row in rows:
        y, place = (_integer(path, number, row[k], k) for k in ("y", "place"))
        split = _integer(path, number, row["split"], "split")
        if y not in (0, 1) or place not in (0, 1) or split not in _SPLIT_IDS:
            raise ValueError(
                f"{path}, line {number}: expected y and place in {{0, 1}} and split in {{0, 1, 2}}, "
                f"received y={y}, place={place}, split={split}."
            )
        columns["paths"].append(os.path.join(root, row["img_filename"]))
        columns["labels"].append(y)
        columns["groups"].append(2 * y + place)
        columns["splits"].append(_SPLIT_IDS[split])
    return _grouped(columns, path, size, splits, batch_size, seed, output, augment)


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
    size, splits = _checked_options(image_size, batch_size, output, splits)
    attributes = os.path.join(root, "list_attr_celeba.txt")
    lines = _lines(attributes)
    if len(lines) < 3:
        raise ValueError(f"{attributes}: expected a count line, a names line and rows, received {len(lines)} lines.")
    names = lines[1][1].split()
    for which, name in (("target", target), ("spurious", spurious)):
        if name not in names:
            raise ValueError(f"Expected `{which}` to name an attribute of {attributes} ({names}), received {name!r}.")
    t, s = names.index(target), names.index(spurious)
    partition_path = os.path.join(root, "list_eval_partition.txt")
    partition = {}
    for number, line in _lines(partition_path):
        name, split = _fields(partition_path, number, line, 2, separator=None)
        split = _integer(partition_path, number, split, "partition")
        if split not in _SPLIT_IDS:
            raise ValueError(f"{partition_path}, line {number}: expected partition 0, 1 or 2, received {split}.")
        partition[name] = _SPLIT_IDS[split]
    columns = {key: [] for key in ("paths", "labels", "groups", "splits")}
    for number, line in lines[2:]:
        fields = _fields(attributes, number, line, len(names) + 1, separator=None)
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
    return _grouped(columns, attributes, size, splits, batch_size, seed, output, augment)


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
    size, splits = _checked_options(image_size, batch_size, output, splits)
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
    return _grouped(columns, root, size, splits, batch_size, seed, output, augment)


def _utk_age(age, age_threshold):
    """Binary age: 1 from `age_threshold` on, or FFR's 0 for 20-50 and 1 for <= 5 (`None`: dropped)."""
    if age_threshold is not None:
        return int(age >= age_threshold)
    return 0 if 20 <= age <= 50 else 1 if age <= 5 else None


def csv_manifest(path, root=None, image_size=224, splits=SPLITS, batch_size=32, seed=None,
                 output="tf.data", augment=None):
    """A CSV manifest of your own data: `path,label,split` and optional `group`, `mask`.

    Layout::

        path,label,group,split,mask
        images/0001.jpg,1,3,train,masks/0001.png
        images/0002.jpg,0,0,val,

    Paths are relative to `root` (default: the manifest's folder). `split`
    is `train`, `val` or `test` (or 0 / 1 / 2). With a `group` column,
    `inputs["groups"]` carries it; with a `mask` column (a grayscale PNG,
    255 on the labelled target), `inputs["provenance"]` carries it, and
    every row needs a mask. Keep synthetic and real images in two manifests:
    `kpg.data.FakeThenReal` takes a split of each.

    Example:

    ```python
    synthetic = kpg.datasets.csv_manifest("synthetic/manifest.csv", output="pydataset")
    real = kpg.datasets.waterbirds("waterbird_complete95_forest2water2", output="pydataset")
    data = kpg.data.FakeThenReal(synthetic["train"], real["train"], synthetic_epochs=10)
    ```
    """
    size, splits = _checked_options(image_size, batch_size, output, splits)
    root = os.path.dirname(os.path.abspath(path)) if root is None else root
    rows = _csv_rows(path, ("path", "label", "split"))
    has_group = "group" in rows[0][1]
    has_mask = "mask" in rows[0][1]
    columns = {key: [] for key in ("paths", "labels", "splits")}
    if has_group:
        columns["groups"] = []
    if has_mask:
        columns["masks"] = []
    names = {str(k): v for k, v in _SPLIT_IDS.items()} | {v: v for v in SPLITS}
    for number, row in rows:
        label = _integer(path, number, row["label"], "label")
        if label < 0 or row["split"] not in names:
            raise ValueError(
                f"{path}, line {number}: expected a label >= 0 and a split in train/val/test or "
                f"0/1/2, received label={label}, split={row['split']!r}."
            )
        columns["paths"].append(os.path.join(root, row["path"]))
        columns["labels"].append(label)
        columns["splits"].append(names[row["split"]])
        if has_group:
            columns["groups"].append(_integer(path, number, row["group"], "group"))
        if has_mask:
            if not row["mask"]:
                raise ValueError(f"{path}, line {number}: empty mask; give every row a mask or drop the column.")
            columns["masks"].append(os.path.join(root, row["mask"]))
    return _grouped(columns, path, size, splits, batch_size, seed, output, augment)


def _csv_rows(path, required):
    if not os.path.isfile(path):
        raise ValueError(f"{path} does not exist: expected it in the dataset's published layout.")
    with open(path, newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        header = reader.fieldnames or []
        missing = [c for c in required if c not in header]
        if missing:
            raise ValueError(f"{path}, line 1: expected columns {list(required)}, missing {missing} in {header}.")
        rows = [(reader.line_num, {k: (v or "").strip() for k, v in row.items()}) for row in reader]
    if not rows:
        raise ValueError(f"{path}: expected at least one row, received none.")
    return rows


def _grouped(columns, where, size, splits, batch_size, seed, output, augment):
    """`{split: dataset}` from parsed `columns` (`paths`, `labels`, `splits`; `groups`, `masks`)."""
    tables = {}
    split_of = np.asarray(columns["splits"])
    for split in splits:
        rows = np.flatnonzero(split_of == split)
        if not len(rows):
            raise ValueError(f"{where}: no image in split {split!r}.")
        pick = lambda key: None if key not in columns else [columns[key][r] for r in rows]  # noqa: E731
        table = FileTable(pick("paths"), pick("labels"), pick("groups"), pick("masks"))
        table.check_files(where)
        tables[split] = table
    return _datasets(tables, size, batch_size, seed, output, augment)


# Edited pairs: originals and their generative edits (ALIA-style).


def edited_pairs(originals_dir, edits_dir, image_size=224, batch_size=32, shuffle=True, seed=None,
                 output="tf.data", augment=None, groups=None, labels=None):
    """Generative edits of real images, with provenance recovered from each pair.

    Layout::

        originals_dir/<class>/<name>.<ext>        the real images, one folder per class
        edits_dir/<class>/<name><suffix>.<ext>    their edits, any number per original

    An edit belongs to the original of its class folder whose stem begins
    its name (`bird_01.jpg` -> `bird_01.png`, `bird_01-0.png`, `bird_01_snow.jpg`;
    the longest matching stem wins). Labels come from the original's class
    folder (sorted names give the ids), and provenance is
    `kpg.layers.edit_provenance(original, edit)` (Otsu on the pixel change,
    as the guidance paper recovers it), computed at the loaded resolution.

    Args:
        groups: optional `{original file name: group id}`; each edit takes
            its original's group.
        labels: optional `{original file name: class id}`, for benchmarks
            whose folders are not their classes (Waterbirds' folders are
            species, its label land/water bird); replaces the folder ids.

    Returns:
        One dataset of the edits (`"images"`, `"provenance"`, `"groups"`
        when given), with `file_paths`, `labels`, `originals` and
        `class_names`.

    Example:

    ```python
    edits = kpg.datasets.edited_pairs("originals", "edits")  # provenance by edit_provenance
    model.fit(edits, epochs=10)
    ```
    """
    from keras_provguide.data.from_directory import IMAGE_EXTENSIONS

    size = check_image_size(image_size)
    check_loader_options(batch_size, output)
    for folder in (originals_dir, edits_dir):
        if not os.path.isdir(folder):
            raise ValueError(f"{folder} is not a folder.")
    class_names = sorted(d for d in os.listdir(originals_dir) if os.path.isdir(os.path.join(originals_dir, d)))
    if not class_names:
        raise ValueError(f"{originals_dir}: expected one folder per class, found none.")
    labels_of = labels
    paths, originals, labels, group_ids = [], [], [], []
    for label, name in enumerate(class_names):
        stems = {}
        for file in sorted(os.listdir(os.path.join(originals_dir, name))):
            if file.lower().endswith(IMAGE_EXTENSIONS):
                stems[os.path.splitext(file)[0]] = file
        edit_folder = os.path.join(edits_dir, name)
        edits = sorted(os.listdir(edit_folder)) if os.path.isdir(edit_folder) else []
        for edit in (e for e in edits if e.lower().endswith(IMAGE_EXTENSIONS)):
            matches = [s for s in stems if edit.startswith(s)]
            if not matches:
                raise ValueError(
                    f"{os.path.join(edit_folder, edit)}: no original in "
                    f"{os.path.join(originals_dir, name)} whose name begins it."
                )
            original = stems[max(matches, key=len)]
            paths.append(os.path.join(edit_folder, edit))
            originals.append(os.path.join(originals_dir, name, original))
            if labels_of is not None and original not in labels_of:
                raise ValueError(f"Expected a label for {original} in `labels`, found none.")
            labels.append(label if labels_of is None else labels_of[original])
            if groups is not None:
                if original not in groups:
                    raise ValueError(f"Expected a group for {original} in `groups`, found none.")
                group_ids.append(groups[original])
    if not paths:
        raise ValueError(f"{edits_dir}: expected edits in class folders matching {class_names}, found none.")
    table = FileTable(paths, labels, group_ids if groups is not None else None, originals=originals)
    dataset = table_dataset(table, size, batch_size, shuffle=shuffle, seed=seed, output=output,
                            augment=augment)
    dataset.originals, dataset.class_names = table.originals, class_names
    return dataset
