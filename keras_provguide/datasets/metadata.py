"""What the published-format loaders share: reading metadata files line by line, and building their splits.

Each loader reads its metadata completely and checks it (every line, every
listed file) before it returns, so a bad layout fails at once with a
`ValueError` naming the file and line, and nothing is half loaded. Each
returns `{split: dataset}` built by `files.table_dataset`: batches of
`(inputs, labels)` with `inputs["images"]` and, where the format gives
them, `inputs["groups"]` and `inputs["provenance"]`.
"""

import csv
import os

import numpy as np

from keras_provguide.datasets.files import FileTable, check_image_size, check_loader_options, table_dataset

SPLITS = ("train", "val", "test")
SPLIT_IDS = {0: "train", 1: "val", 2: "test"}


def lines(path):
    """`(line_number, text)` of the non-empty lines of `path`, or a `ValueError` naming it."""
    if not os.path.isfile(path):
        raise ValueError(f"{path} does not exist: expected it in the dataset's published layout.")
    with open(path, encoding="utf-8") as file:
        return [(n, line.rstrip("\r\n")) for n, line in enumerate(file, 1) if line.strip()]


def fields(path, number, line, count, separator=","):
    fields = [f.strip() for f in line.split(separator)] if separator else line.split()
    if len(fields) != count:
        raise ValueError(
            f"{path}, line {number}: expected {count} fields, received {len(fields)} in {line!r}."
        )
    return fields


def integer(path, number, text, what):
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{path}, line {number}: expected an integer {what}, received {text!r}.") from None


def checked_options(image_size, batch_size, output, splits):
    """`(size, splits)` after checking every loader's shared options."""
    size = check_image_size(image_size)
    check_loader_options(batch_size, output)
    return size, check_splits(splits)


def check_splits(splits):
    splits = (splits,) if isinstance(splits, str) else tuple(splits)
    if not splits or any(s not in SPLITS for s in splits):
        raise ValueError(f"Expected `splits` from {SPLITS}, received {splits!r}.")
    return splits


def split_datasets(tables, image_size, batch_size, seed, output, augment):
    """`{split: dataset}`: only `"train"` is shuffled (and augmented)."""
    return {
        split: table_dataset(
            table, image_size, batch_size, shuffle=split == "train", seed=seed, output=output,
            augment=augment if split == "train" else None,
        )
        for split, table in tables.items()
    }


def csv_rows(path, required):
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


def grouped_datasets(columns, where, size, splits, batch_size, seed, output, augment):
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
    return split_datasets(tables, size, batch_size, seed, output, augment)
