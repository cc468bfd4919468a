"""
# Making provenance

**What you learn:** how each kind of synthesis tells you which pixels belong
to the labelled target: copy-paste compositing, a group-balanced synthetic
set, two-source mixing (CutMix), augmentation that moves the mask with the
image, and generative edits whose provenance is recovered from the pixels.

Every layer in `kpg.layers` takes and returns a dict (`"images"`,
`"provenance"`, `"labels"`, and where relevant `"source_labels"`,
`"bounding_boxes"`, `"groups"`). The layers run eagerly on every backend and
inside `tf.data`, are seeded, and save with a model.
`kpg.data.split_labels` turns the dict into the `(inputs, labels)` pair that
`fit` takes.

    KERAS_BACKEND=torch python docs/guides/making_provenance.py
"""

import keras
import numpy as np
import skimage.data
import skimage.transform
import sklearn.datasets
import tensorflow as tf

import keras_provguide as kpg

"""
## Objects and scenes

Any segmented objects will do. Here they are scikit-learn's digits, upscaled
to 16x16, with their ink as the alpha mask; the scenes are crops of two
scikit-image textures, one per background group.
"""

digits = sklearn.datasets.load_digits()
objects = np.stack([skimage.transform.resize(d / 16.0, (16, 16)) for d in digits.images[:200]])
masks = (objects > 0.2).astype("float32")[..., None]
objects = np.repeat(objects[..., None], 3, axis=-1).astype("float32")
object_labels = digits.target[:200].astype("int32")

rng = np.random.default_rng(0)
scenes, scene_groups = [], []
for group, texture in enumerate((skimage.data.grass(), skimage.data.brick())):
    for _ in range(20):
        row, col = rng.integers(0, texture.shape[0] - 32, 2)
        crop = texture[row: row + 32, col: col + 32] / 255.0
        scenes.append(np.repeat(crop[..., None], 3, axis=-1))
        scene_groups.append(group)
scenes, scene_groups = np.stack(scenes).astype("float32"), np.array(scene_groups, "int32")

"""
## Copy-paste: `Composite`

`Composite` pastes each object at a random scale and place. Its provenance is
the pasted alpha, so every output pixel is exactly
`provenance * object + (1 - provenance) * scene`, and it adds the object's box.
"""

composite = kpg.layers.Composite(scale_range=(0.5, 0.9), seed=0)
batch = composite({"images": scenes[:8], "foregrounds": objects[:8], "foreground_masks": masks[:8],
                   "labels": object_labels[:8]})
print({key: tuple(value.shape) for key, value in batch.items() if key != "bounding_boxes"})
print("boxes:", keras.ops.convert_to_numpy(batch["bounding_boxes"]["boxes"])[0])

"""
## A group-balanced synthetic set

From Fake to Real pre-trains on a synthetic set in which background and class
are independent. `kpg.data.balanced_composites` builds one: `per_group`
images for every (class, background group) cell.
"""

synthetic = kpg.data.balanced_composites(objects, object_labels, scenes, scene_groups, per_group=4,
                                         foreground_masks=masks, seed=0)
counts = np.bincount(synthetic["groups"])
print(f"{len(synthetic['labels'])} images, {counts.min()} to {counts.max()} per (class, background) cell")

"""
## Mask-aligned augmentation and two-source mixing

`kpg.layers.RandomFlip`, `RandomCrop`, `RandomTranslation`, `RandomZoom` and
`RandomRotation` are Keras's layers of the same names, with the provenance
(and boxes) moved by the same draw. Pixels filled from outside get
provenance 0.

`ProvenanceCutMix` (and `ProvenanceResizeMix`) mix pairs within a batch. The
provenance becomes the share of source 0, `"source_labels"` `(B, 2)` names
both classes, and the soft labels' shares equal the provenance mean. The
penalty then asks each source's score to ignore the other source's pixels.
"""

augment = keras.layers.Pipeline([
    kpg.layers.RandomFlip("horizontal", seed=0),
    kpg.layers.RandomRotation(0.05, seed=0),
    kpg.layers.ProvenanceCutMix(num_classes=10, seed=0),
])
train = (tf.data.Dataset.from_tensor_slices({key: synthetic[key] for key in ("images", "provenance", "labels")})
         .shuffle(256, seed=0).batch(32).map(augment).map(kpg.data.split_labels))
x, y = next(iter(train))
print("mixed batch:", {key: tuple(value.shape) for key, value in x.items()}, "labels", tuple(y.shape))

model = kpg.GuidedModel(keras.Sequential([
    keras.Input((32, 32, 3)), keras.layers.Conv2D(16, 3, activation="relu"),
    keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10),
]), guidance_weight=0.05)
model.compile("adam", keras.losses.CategoricalCrossentropy(from_logits=True))
history = model.fit(train, epochs=2, verbose=0)
print("guidance_penalty per epoch:", [round(v, 4) for v in history.history["guidance_penalty"]])

"""
## Generative edits: provenance from the pixels

An image editor (inpainting, prompted image-to-image) hands back only the
edited image. `kpg.layers.edit_provenance(original, edited)` recovers which
pixels the edit kept: Otsu's threshold on the per-pixel change, 1 where the
edit left the image alone. Here the "edit" moves each object onto the other
texture, and the recovered provenance is compared with the true mask.
"""

original = synthetic["images"][:16]
other_scenes = scenes[(synthetic["background_index"][:16] + 20) % 40]
alpha = synthetic["provenance"][:16]
edited = alpha * original + (1 - alpha) * other_scenes
recovered = kpg.layers.edit_provenance(original, edited)
truth = alpha > 0.5
iou = np.logical_and(recovered > 0.5, truth).sum() / np.logical_or(recovered > 0.5, truth).sum()
print(f"recovered provenance: IoU {iou:.2f} with the pasted objects")

"""
## Every provenance maker

| layer / function | makes |
|---|---|
| `Composite(scale_range, position_range)` | an object pasted on a background: provenance = the pasted alpha, plus the object's box |
| `kpg.data.balanced_composites` | a set with the same count in every (class, background group) cell |
| `ProvenanceCutMix(alpha)`, `ProvenanceResizeMix(scale_range)` | pairs mixed within the batch: provenance = share of source 0, `source_labels` `(B, 2)` |
| `ProvenancePasteMix(label_mode, clips)` | images or clips with their objects' alpha as provenance: each receives its partner's object (copy-paste in the batch), provenance = share of source 0, labels by object area |
| `ProvenanceTemporalMix(alpha)` | clips `(B, T, H, W, C)`: a run of frames from a partner clip, provenance over frames |
| `ProvenanceBatchMix` | keypoint point clouds: two videos' points, each scored with its own label ([keypoint guide](keypoint_action_localization.md)) |
| `RandomFlip`, `RandomCrop`, `RandomTranslation`, `RandomZoom`, `RandomRotation` | Keras's augmentation, with provenance and boxes moved by the same draw |
| `edit_provenance(original, edited)` | generative edits: 1 on pixels the edit left unchanged |
| `kpg.data.keras_cv_augmentation(*layers)` | keras-cv layers (TensorFlow) on the same dicts, before ours |

Keras 3.15 defects worked around here, each covered by a test: `RandomCrop`
moves boxes by swapped offsets; `RandomFlip` leaves the TensorFlow backend
after moving boxes inside `tf.data`; `RandomRotation` on PyTorch edits its
transform in place, so a mask transformed in a second call moves
differently. Keras's own `CutMix` repeats a 1-channel mask to 3 channels and
`MixUp` mixes masks along the wrong axis, so they are not used.

**Next:** [From Fake to Real](from_fake_to_real.md), or
[your own data](your_own_data.md) from folders and the published formats.
"""
