"""Builders that turn raw images into `GuidedModel`-ready data.

- `balanced_composites`: a copy-paste synthetic set balanced over every
  (class, background group) cell.
- `from_directory`: image + mask pairs from disk, as a `tf.data.Dataset` or
  a `keras.utils.PyDataset`.
- `FakeThenReal`: synthetic batches first, real batches after, never
  pooled (the data side of `kpg.callbacks.FromFakeToReal`).
- `skeletons_to_points`, `keypoint_inputs`: skeleton sequences
  `(M, T, V, C)` as the keypoint point clouds of `KeypointLocalizer`.
- `split_labels`: a batch dict to the `(inputs, labels)` pair of `fit`.
- `steady_epochs`: a `tf.data` pipeline with autotuning off, whose epochs
  do not stall at their start.
- `keras_cv_augmentation`: run keras-cv augmentation layers on
  provenance-carrying batches (TensorFlow, optional extra).
"""

from keras_provguide.data.balanced_composites import balanced_composites
from keras_provguide.data.fake_then_real import FakeThenReal
from keras_provguide.data.from_directory import from_directory
from keras_provguide.data.keras_cv import keras_cv_augmentation
from keras_provguide.data.keypoints import keypoint_inputs, skeletons_to_points
from keras_provguide.data.split_labels import split_labels
from keras_provguide.data.steady_epochs import steady_epochs

__all__ = [
    "FakeThenReal",
    "balanced_composites", "from_directory", "keras_cv_augmentation", "keypoint_inputs",
    "skeletons_to_points", "split_labels", "steady_epochs"]
