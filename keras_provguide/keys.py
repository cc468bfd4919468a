"""The keys of the package's batch dicts, defined once and imported everywhere else.

A batch from the layers and loaders is a dict: `"images"` and, where they
apply, `"provenance"` (1 on the labelled target), `"source_labels"` (the
two sources of a mix), `"groups"` (group ids for group-robust losses and
metrics), `"bounding_boxes"` (keras-cv's) and `"labels"`, which
`kpg.data.split_labels` moves out into the `y` of `fit`.
"""

IMAGES = "images"
PROVENANCE = "provenance"
SOURCE_LABELS = "source_labels"
GROUPS = "groups"
LABELS = "labels"
BOUNDING_BOXES = "bounding_boxes"
