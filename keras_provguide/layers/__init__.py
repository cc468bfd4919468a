"""Preprocessing layers that make and carry provenance.

Every layer takes and returns a dict of batch arrays (`"images"`,
`"provenance"`, `"labels"`, and where relevant `"source_labels"`,
`"bounding_boxes"`, `"groups"`), runs eagerly on every backend and inside a
`tf.data` pipeline, is seeded and serializable.

- Synthesis: `Composite` (copy-paste), `ProvenanceCutMix`,
  `ProvenanceResizeMix` (two-source image mixes), `ProvenancePasteMix`
  (a partner's object pasted on each image or clip, copy-paste), `ProvenanceTemporalMix`
  (two-source clip mixes, spliced in time), `edit_provenance` (generative
  edits).
- Mask-aligned geometric augmentation: `RandomFlip`, `RandomCrop`,
  `RandomTranslation`, `RandomZoom`, `RandomRotation`.
- Keypoint point clouds (`kpg.data.keypoints`): `ProvenanceBatchMix` (two
  clips' points in one sample, SKP's batch mixing), and `KeypointFlip`,
  `KeypointScale`, `KeypointTranslate`, `KeypointTemporalCrop`,
  `PointDropout`.
"""

from keras_provguide.layers.aligned_augmentation import (
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from keras_provguide.layers.composite import Composite
from keras_provguide.layers.cut_mix import ProvenanceCutMix
from keras_provguide.layers.edit_provenance import edit_provenance
from keras_provguide.layers.keypoint_layers import (
    KeypointFlip,
    KeypointScale,
    KeypointTemporalCrop,
    KeypointTranslate,
    PointDropout,
    ProvenanceBatchMix,
)
from keras_provguide.layers.paste_mix import ProvenancePasteMix
from keras_provguide.layers.resize_mix import ProvenanceResizeMix
from keras_provguide.layers.temporal_mix import ProvenanceTemporalMix

__all__ = [
    "Composite",
    "KeypointFlip",
    "KeypointScale",
    "KeypointTemporalCrop",
    "KeypointTranslate",
    "PointDropout",
    "ProvenanceBatchMix",
    "ProvenanceCutMix",
    "ProvenancePasteMix",
    "ProvenanceResizeMix",
    "ProvenanceTemporalMix",
    "RandomCrop",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "edit_provenance",
]
