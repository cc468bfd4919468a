"""wsolevaluation's metadata (Choe et al., CVPR 2020): CUB, ILSVRC and OpenImages."""

import os

import numpy as np

from keras_provguide.datasets import metadata
from keras_provguide.datasets.files import FileTable
from keras_provguide.datasets.metadata import SPLITS


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
    size, splits = metadata.checked_options(image_size, batch_size, output, splits)
    datasets = {}
    for split in splits:
        folder = os.path.join(metadata_root, split)
        table, boxes, masks = _wsol_split(folder, data_root, size)
        dataset = metadata.split_datasets({split: table}, size, batch_size, seed, output, augment)[split]
        if boxes is not None:
            dataset.boxes = boxes
        if masks is not None:
            dataset.masks = _mask_loader(masks, size)
        datasets[split] = dataset
    return datasets


def _wsol_split(folder, data_root, size):
    ids_path = os.path.join(folder, "image_ids.txt")
    ids = [line.strip() for _, line in metadata.lines(ids_path)]
    if not ids:
        raise ValueError(f"{ids_path}: expected at least one image id, received none.")
    if len(set(ids)) != len(ids):
        raise ValueError(f"{ids_path}: an image id is listed twice.")
    known = set(ids)

    def keyed(name, count):
        path = os.path.join(folder, name)
        found = {}
        for number, line in metadata.lines(path):
            fields = metadata.fields(path, number, line, count)
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
        sizes[image_id] = (metadata.integer(sizes_path, number, width, "width"),
                           metadata.integer(sizes_path, number, height, "height"))
        if min(sizes[image_id]) < 1:
            raise ValueError(
                f"{sizes_path}, line {number}: expected a width and height >= 1, received {sizes[image_id]}."
            )
    class_ids = []
    for image_id in ids:
        number, (value,) = labels[image_id][0]
        class_ids.append(metadata.integer(labels_path, number, value, "class id"))
    if min(class_ids) < 0:
        raise ValueError(f"{labels_path}: expected class ids >= 0, received {min(class_ids)}.")
    table = FileTable([os.path.join(data_root, i) for i in ids], class_ids)
    table.check_files(ids_path)

    boxes = masks = None
    localization = os.path.join(folder, "localization.txt")
    if os.path.isfile(localization):
        rows = metadata.lines(localization)
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
        image_id, *corners = metadata.fields(path, number, line, 5)
        if image_id not in known:
            raise ValueError(f"{path}, line {number}: {image_id} is not in image_ids.txt.")
        x0, y0, x1, y1 = (metadata.integer(path, number, c, "box corner") for c in corners)
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
        image_id, mask, ignore_mask = metadata.fields(path, number, line, 3)
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
