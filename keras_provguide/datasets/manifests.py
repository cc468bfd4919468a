"""Your own data as a CSV manifest: path, label, split, and optional group and provenance mask."""

import os

from keras_provguide.datasets import metadata
from keras_provguide.datasets.metadata import SPLITS


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
    size, splits = metadata.checked_options(image_size, batch_size, output, splits)
    root = os.path.dirname(os.path.abspath(path)) if root is None else root
    rows = metadata.csv_rows(path, ("path", "label", "split"))
    has_group = "group" in rows[0][1]
    has_mask = "mask" in rows[0][1]
    columns = {key: [] for key in ("paths", "labels", "splits")}
    if has_group:
        columns["groups"] = []
    if has_mask:
        columns["masks"] = []
    names = {str(k): v for k, v in metadata.SPLIT_IDS.items()} | {v: v for v in SPLITS}
    for number, row in rows:
        label = metadata.integer(path, number, row["label"], "label")
        if label < 0 or row["split"] not in names:
            raise ValueError(
                f"{path}, line {number}: expected a label >= 0 and a split in train/val/test or "
                f"0/1/2, received label={label}, split={row['split']!r}."
            )
        columns["paths"].append(os.path.join(root, row["path"]))
        columns["labels"].append(label)
        columns["splits"].append(names[row["split"]])
        if has_group:
            columns["groups"].append(metadata.integer(path, number, row["group"], "group"))
        if has_mask:
            if not row["mask"]:
                raise ValueError(f"{path}, line {number}: empty mask; give every row a mask or drop the column.")
            columns["masks"].append(os.path.join(root, row["mask"]))
    return metadata.grouped_datasets(columns, path, size, splits, batch_size, seed, output, augment)
