"""
# Keypoint action localization

**What you learn:** how the guidance paper's UCF101-24 row runs on skeletons:
clips as point clouds, Structured Keypoint Pooling (SKP, Hachiuma et al.,
CVPR 2023) trained on clip labels, batch mixing with two-source provenance,
and per-person, per-frame detections scored by frame-AP and video-AP.

    KERAS_BACKEND=jax python docs/guides/keypoint_action_localization.py
"""

import keras
import numpy as np
import tensorflow as tf

import keras_provguide as kpg

keras.utils.set_random_seed(0)

"""
## Skeletons as points

A pose detector gives pyskl's layout: `keypoint` `(M persons, T frames,
V joints, 2)` and `keypoint_score` `(M, T, V)`. `kpg.data.skeletons_to_points`
flattens it into one point per joint: `"keypoints"` `(N, 4)` (`x, y` over the
frame size, `t`, score), the only input differentiated, with the structure
`"instance_ids"`, `"frame_ids"`, `"joint_ids"` and `"point_mask"`.
"""

rng = np.random.default_rng(0)
keypoint = rng.random((2, 8, 17, 2)) * [320, 240]
points = kpg.data.skeletons_to_points(keypoint, np.ones((2, 8, 17)), img_shape=(240, 320))
print({key: value.shape for key, value in points.items()})

"""
## A dataset with a shortcut

`kpg.datasets.keypoint_actions` draws stick figures, one of whom acts, plus
an object whose type matches the class on 90% of training clips: the
shortcut. Each split holds the points (persons, then objects), the clip
labels, and the actor's per-frame boxes for evaluation.
"""

data = kpg.datasets.keypoint_actions(num_train=64, num_test=16, num_frames=8, max_persons=2)
train, test = data["train"], data["test"]
num_classes = int(train["labels"].max()) + 1

"""
## Batch mixing with guidance

`kpg.layers.ProvenanceBatchMix` puts two clips' point clouds in one sample,
as the SKP authors' batch mixing does: `"source_ids"` tells the model which
clip each point came from, and each clip is scored from its own people with
its own label (labels `(B, 2, K)`). The two clips meet only through the
model's context features, which is what the two-source penalty guards:
each clip's score may not depend on the other clip's keypoints.
"""

localizer = kpg.models.KeypointLocalizer(num_classes, num_joint_types=17 + num_classes, max_instances=6,
                                         max_frames=8, width=32)
model = kpg.GuidedModel(localizer, guidance_weight=1.0, penalty_reduction="mean")
model.compile("adam", keras.losses.CategoricalCrossentropy(from_logits=True))
stream = tf.data.Dataset.from_tensor_slices({**kpg.data.keypoint_inputs(train), "labels": train["labels"]})
mix = kpg.layers.ProvenanceBatchMix(num_classes=num_classes, seed=0)
history = model.fit(stream.batch(16, drop_remainder=True).map(mix).map(kpg.data.split_labels), epochs=3,
                    verbose=0)
print("guidance_penalty:", [round(v, 5) for v in history.history["guidance_penalty"]])

"""
The SKP authors switch mixing on after plain epochs (from epoch 20 of
their schedule); `examples/keypoint_action_localization.py` does the same
with `mix_from`.

## Detections and the metrics

At inference `KeypointLocalizer` switches its pooling: `predict_detections`
scores every person in every frame, with a box around their keypoints.
`frame_ap` and `video_ap` follow ACT / MOC-Detector's conventions
(inclusive boxes, frames from 1, trapezoid AP); `link_tubes` links
detections into tubes.
"""

inputs = kpg.data.keypoint_inputs(test)
detections = localizer.predict_detections(inputs, image_size=(240, 320))
videos = range(len(test["labels"]))
gttubes = kpg.localization.ground_truth_tubes(test["labels"], test["boxes"], test["frames"])
frame = kpg.localization.frame_ap(kpg.localization.detection_rows(detections, num_classes), gttubes, videos,
                                  num_classes)
video = kpg.localization.video_ap(kpg.localization.link_tubes(detections, num_classes), gttubes, videos,
                                  num_classes)
print(f"frame-AP@0.5 {frame['mean']:.3f}, video-AP@0.5 {video['mean']:.3f}")

"""
## The rest

- Augmentations that keep provenance on its points: `KeypointFlip` (left
  and right joints swapped), `KeypointScale`, `KeypointTranslate`,
  `KeypointTemporalCrop`, `PointDropout`.
- Loaders: `kpg.datasets.pyskl_annotations` (pyskl / MMAction2 pickles),
  `ucf101_24_ground_truth` (`UCF101v2-GT.pkl`) and `keypoint_action_clips`
  (the two joined); the recipe `examples/reproduce/ucf101_24_keypoints.py`.
- On torch, `second_order="forward_over_reverse"` is refused for models with
  `LayerNormalization`: torch's reverse-mode derivative of its forward-mode
  `layer_norm` formula was measured wrong (torch 2.13). Double backprop,
  torch's default, is right, and `KeypointLocalizer` normalises with
  `keras.ops`, so every path works for it.

Which to use: keypoints when you have (or can run) a pose detector, as the
paper does; the RGB-clip `ClipLocalizer` ([WSOL guide](wsol_and_cams.md))
when the evidence is in the pixels. `benchmarks/keypoint_localization.py`
judges the family ([results](../results.md)).
"""
