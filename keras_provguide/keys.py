"""The keys of the package's batch dicts, defined once and imported everywhere else.

A batch from the layers and loaders is a dict: `"images"` and, where they
apply, `"provenance"` (1 on the labelled target), `"source_labels"` (the
two sources of a mix), `"groups"` (group ids for group-robust losses and
metrics), `"bounding_boxes"` (keras-cv's) and `"labels"`, which
`kpg.data.split_labels` moves out into the `y` of `fit`.

Keypoint batches hold `"keypoints"` (the differentiated input, in place of
`"images"`) and the structure the pooling reads: `"instance_ids"`,
`"frame_ids"`, `"joint_ids"` and `"point_mask"` (`kpg.data.keypoints`);
after per-source batch mixing also `"source_ids"` (which clip each point
came from: 0 the sample's own, 1 its partner's).
"""

IMAGES = "images"
PROVENANCE = "provenance"
SOURCE_LABELS = "source_labels"
GROUPS = "groups"
LABELS = "labels"
BOUNDING_BOXES = "bounding_boxes"
KEYPOINTS = "keypoints"
INSTANCE_IDS = "instance_ids"
FRAME_IDS = "frame_ids"
JOINT_IDS = "joint_ids"
POINT_MASK = "point_mask"
SOURCE_IDS = "source_ids"
#: The keys a keypoint model reads besides `"keypoints"`; never differentiated.
POINT_STRUCTURE = (INSTANCE_IDS, FRAME_IDS, JOINT_IDS, POINT_MASK, SOURCE_IDS)
