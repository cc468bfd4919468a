"""Small offline datasets built from data that ships with scikit-learn and scikit-image.

Nothing is downloaded: every builder is deterministic for its seed, returns
NumPy arrays in a documented dict schema, and builds in seconds.

- `decoy_digits`: Decoy-MNIST of Right for the Right Reasons.
- `spurious_digits`: a Waterbirds-like task with a balanced synthetic set.
- `edited_digits`: the same task with ALIA-style background edits and their
  provenance recovered from the pixels.
- `digit_localization`: digits on textures with boxes and masks.
- `moving_digits`: clips of a digit crossing a texture, with per-frame boxes.
- `keypoint_actions`: COCO-17 stick figures acting, as keypoint point
  clouds, with a co-occurring object as the shortcut and the actor's boxes.

Loaders of the published benchmark formats (your files on disk, checked
line by line; `{split: dataset}` of the dict contract), one module per
benchmark family, all reading images through `files.py` and sharing
`metadata.py`:

- `wsol_metadata`: CUB / ILSVRC / OpenImages in wsolevaluation's metadata,
  boxes rescaled as that protocol does, OpenImages masks for PxAP;
- `waterbirds`, `celeba`, `utkface`: the group-robustness benchmarks, with
  `x["groups"]`;
- `ffr_split`: one split of From Fake to Real exactly as its authors drew
  it (their published pickles), with `x["groups"]`;
- `csv_manifest`: your own data (path, label, split, optional group and
  provenance mask);
- `edited_pairs`: originals and their generative edits, provenance
  recovered from each pair;
- `pyskl_annotations`, `ucf101_24_ground_truth`, `keypoint_action_clips`:
  pyskl / MMAction2 skeleton pickles and the ACT / MOC UCF101-24 ground
  truth, joined into keypoint clips.
"""

from keras_provguide.datasets.decoy_digits import decoy_digits
from keras_provguide.datasets.digit_localization import digit_localization
from keras_provguide.datasets.edited_digits import edited_digits
from keras_provguide.datasets.edits import edited_pairs
from keras_provguide.datasets.ffr_splits import ffr_split
from keras_provguide.datasets.group_robustness import celeba, utkface, waterbirds
from keras_provguide.datasets.keypoint_actions import keypoint_actions
from keras_provguide.datasets.manifests import csv_manifest
from keras_provguide.datasets.moving_digits import moving_digits
from keras_provguide.datasets.skeleton_files import (
    keypoint_action_clips,
    pyskl_annotations,
    ucf101_24_ground_truth,
)
from keras_provguide.datasets.spurious_digits import spurious_digits
from keras_provguide.datasets.wsol import wsol_metadata

__all__ = [
    "celeba", "csv_manifest", "decoy_digits", "digit_localization", "edited_digits",
    "edited_pairs", "ffr_split", "keypoint_action_clips", "keypoint_actions", "moving_digits",
    "pyskl_annotations", "spurious_digits", "ucf101_24_ground_truth", "utkface", "waterbirds", "wsol_metadata",
]
