"""
# Weakly supervised localization and CAMs

**What you learn:** how to train a class activation map (CAM) localizer on
class labels only, mixed with CutMix and guided by the mix's two-source
provenance (the guidance paper's CUB and ImageNet rows); how to score it with
the WSOL metrics of Choe et al. (CVPR 2020); and the same for clips.

    KERAS_BACKEND=tensorflow python docs/guides/wsol_and_cams.py
"""

import keras
import tensorflow as tf

import keras_provguide as kpg

keras.utils.set_random_seed(0)

"""
## Images with boxes

`kpg.datasets.digit_localization` pastes digits on textures and keeps each
digit's box and mask. Training uses only the class labels.
"""

data = kpg.datasets.digit_localization(num_train=256, num_test=64, image_size=32, scale_range=(0.4, 0.8))
train, test = data["train"], data["test"]

"""
## CutMix with two-source guidance

`ProvenanceCutMix` fills a box of each image with a partner's pixels. Each
source's class score is then penalised for the other source's pixels. Boxes
in and out of this package are `(x0, y0, x1, y1)` pixel corners with
exclusive ends (Keras's `"xyxy"`).
"""

localizer = kpg.models.CAMLocalizer(num_classes=10, input_shape=(32, 32, 3), cam_width=32)
model = kpg.GuidedModel(localizer, guidance_weight=0.01)
model.compile("adam", keras.losses.CategoricalCrossentropy(from_logits=True))
mix = kpg.layers.ProvenanceCutMix(num_classes=10, seed=0)
stream = tf.data.Dataset.from_tensor_slices({"images": train["images"], "labels": train["labels"]})
model.fit(stream.shuffle(256, seed=0).batch(64).map(mix).map(kpg.data.split_labels), epochs=3, verbose=0)

"""
## Scoring localization

`class_activation_maps` gives normalised maps `(N, H, W)`, for the predicted
class or for `class_ids`. `kpg.localization.max_box_acc` computes MaxBoxAcc
and MaxBoxAccV2 exactly as wsolevaluation does (OpenCV contours of the uint8
map, inclusive `+1` IoU); `pxap` scores masks, and `gt_known_loc` and
`top1_loc` the older metrics.
"""

maps = localizer.class_activation_maps(test["images"], class_ids=test["labels"])
scores = kpg.localization.max_box_acc(maps, test["boxes"])
print(f"MaxBoxAccV2 {scores['max_box_acc_v2']:.3f}, MaxBoxAcc@0.5 {scores['max_box_acc'][0.5]:.3f}, "
      f"at the CAM threshold {scores['best_threshold'][0.5]:.2f}")
boxes = localizer.predict_boxes(test["images"][:4])
print("predicted boxes:", boxes.round(1).tolist())

"""
## Seeing it

`kpg.visualization.save_attribution_grid` writes a PNG, one row per image:
the image, its provenance, the input-gradient map and the CAM with boxes.
"""

gradients = kpg.input_gradients(localizer, test["images"][:4], test["labels"][:4])
kpg.visualization.save_attribution_grid("wsol.png", test["images"][:4], provenance=test["provenance"][:4],
                                        input_gradients=gradients, cams=maps[:4], boxes=boxes,
                                        gt_boxes=test["boxes"][:4])

"""
## Clips

`kpg.models.ClipLocalizer` runs an image backbone on every frame of a clip
`(B, T, H, W, C)`, mixes frames with a 3x3x3 convolution and pools to a clip
label. Its `frame_activation_maps` are normalised per clip, so a frame
without the action stays dark, and `predict_tubes` gives per-frame boxes and
the frames the tube spans. `kpg.layers.ProvenanceTemporalMix` splices a run
of frames from a partner clip, with provenance over frames.
"""

clips = kpg.datasets.moving_digits(num_train=16, num_test=8, num_frames=4, image_size=24)
clip_localizer = kpg.models.ClipLocalizer(10, input_shape=(4, 24, 24, 3), cam_width=16)
clip_model = kpg.GuidedModel(clip_localizer, guidance_weight=1.0, penalty_reduction="mean")
clip_model.compile("adam", keras.losses.CategoricalCrossentropy(from_logits=True))
temporal_mix = kpg.layers.ProvenanceTemporalMix(num_classes=10, seed=0)
clip_stream = tf.data.Dataset.from_tensor_slices({"images": clips["train"]["images"],
                                                  "labels": clips["train"]["labels"]})
clip_model.fit(clip_stream.batch(16).map(temporal_mix).map(kpg.data.split_labels), epochs=1, verbose=0)
tube_boxes, tube_frames = clip_localizer.predict_tubes(clips["test"]["images"])
accuracy = kpg.localization.tube_accuracy(tube_boxes, clips["test"]["boxes"], tube_frames,
                                          clips["test"]["frames"])
print(f"tube accuracy after one epoch: {accuracy:.3f}")

"""
`penalty_reduction="mean"` averages the penalty over the elements, so the
weight does not grow with the number of frames.

The paper's own action-localization row runs on keypoints, not pixels: see
[the keypoint guide](keypoint_action_localization.md).

`examples/wsol_cutmix_guidance.py` and `examples/action_localization.py`
train every configuration; `benchmarks/wsol_digits.py` and
`benchmarks/clip_localization.py` judge them ([results](../results.md)). For
CUB, ILSVRC and OpenImages in wsolevaluation's format, see
[your own data](your_own_data.md).
"""
