"""Originals and their generative edits (ALIA-style), provenance recovered from each pair."""

import os

from keras_provguide.datasets.files import FileTable, check_image_size, check_loader_options, table_dataset


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
