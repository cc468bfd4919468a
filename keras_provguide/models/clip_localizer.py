"""`ClipLocalizer`: a clip classifier whose class activation maps localize the action in space and time."""

import keras
import numpy as np

from keras_provguide.localization import wsol
from keras_provguide.models.cam_localizer import check_images, class_maps, largest_region_box
from keras_provguide.models.image_classifier import feature_backbone, from_task_config


@keras.saving.register_keras_serializable(package="keras_provguide")
class ClipLocalizer(keras.Model):
    """Per-frame backbone -> spatio-temporal conv -> global average pooling -> dense.

    Clips `(B, T, H, W, C)` are labelled with one class. Each frame goes
    through the same image backbone (`TimeDistributed`), a 3x3x3 conv mixes
    neighbouring frames, and the pooled features give the clip's logits. As
    in CAM, the activation map of class `k` is `sum_c W[c, k] * F[..., c]`
    over the `(T, h, w, C)` feature volume, so it says where and when the
    class evidence is: one map per frame, and from them an action tube.

    It takes the same `GuidedModel` contract as image models: clip-level
    provenance `(B, T, 1, 1, 1)` or `(B, T, H, W, 1)`, for example from
    `kpg.layers.ProvenanceTemporalMix`.

    Args:
        num_classes: int >= 2.
        backbone: a Keras model mapping one frame to a feature map
            `(h, w, C)`; `None` builds `small_resnet(input_shape[1:])`.
        input_shape: `(T, H, W, C)` of the clips (a `backbone` fixes `H, W, C`).
        cam_width: filters of the 3x3x3 conv + ReLU before pooling (0
            leaves it out, and frames are then scored independently).
        name: the model name.

    Example:

    ```python
    localizer = kpg.models.ClipLocalizer(num_classes=10, input_shape=(8, 32, 32, 3))
    model = kpg.GuidedModel(localizer)          # train on clip labels
    maps = localizer.frame_activation_maps(clips)       # (B, 8, 32, 32) in [0, 1]
    boxes, frames = localizer.predict_tubes(clips)      # (B, 8, 4), (B, 8) bool
    ```
    """

    def __init__(
        self, num_classes, backbone=None, input_shape=(8, 32, 32, 3), cam_width=64,
        name="clip_localizer", **kwargs,
    ):
        input_shape = tuple(input_shape)
        if len(input_shape) != 4 or not isinstance(input_shape[0], int) or input_shape[0] < 1:
            raise ValueError(
                "Expected `input_shape` (frames, height, width, channels) with frames an "
                f"int >= 1, received {input_shape!r}."
            )
        backbone = feature_backbone(num_classes, backbone, input_shape[1:])
        inputs = keras.Input((input_shape[0],) + tuple(backbone.input_shape[1:]))
        features = keras.layers.TimeDistributed(backbone, name="frames")(inputs)
        if cam_width:
            features = keras.layers.Conv3D(
                cam_width, 3, padding="same", activation="relu", name="cam_conv"
            )(features)
        pooled = keras.layers.GlobalAveragePooling3D(name="pool")(features)
        outputs = keras.layers.Dense(num_classes, name="logits")(pooled)
        super().__init__(inputs, outputs, name=name, **kwargs)
        self.backbone = backbone
        self.num_classes = num_classes
        self.num_frames = input_shape[0]
        self.cam_width = cam_width

    def frame_activation_maps(self, clips, class_ids=None, batch_size=16):
        """Activation maps `(B, T, H, W)` in [0, 1], min-max normalised per clip, NumPy.

        One normalisation over the whole clip keeps frames comparable: a
        frame without the class's evidence stays near 0.

        Args:
            clips: `(B, T, H, W, C)`.
            class_ids: int `(B,)`, the class of each clip's maps; `None`
                takes the predicted class.
            batch_size: clips per forward pass.
        """
        clips = check_images(clips, self.input_shape, "clips")
        maps = class_maps(self, clips, class_ids, batch_size)
        batch, frames, height, width = maps.shape
        flat = wsol.normalize_score_maps(maps.reshape(batch, frames * height, width))
        return flat.reshape(maps.shape).astype("float32")

    def predict_tubes(self, clips, threshold=0.2, frame_threshold=0.5, class_ids=None):
        """The action tube of each clip: per-frame boxes and the frames it spans.

        A frame belongs to the tube when its peak activation reaches
        `frame_threshold` (maps are normalised per clip, so the strongest
        frame always does). Its box is the rectangle of the largest region
        above `threshold` of its own peak, as `CAMLocalizer.predict_boxes`.

        Returns:
            `(boxes, frames)`: float32 `(B, T, 4)` exclusive `(x0, y0, x1, y1)`
            (zeros off the tube) and bool `(B, T)`; they feed
            `kpg.localization.tube_accuracy` directly.
        """
        for name, value in (("threshold", threshold), ("frame_threshold", frame_threshold)):
            try:
                inside = 0.0 <= float(value) <= 1.0
            except (TypeError, ValueError):
                inside = False
            if not inside:
                raise ValueError(f"Expected `{name}` in [0, 1], received {value!r}.")
        maps = self.frame_activation_maps(clips, class_ids)
        frames = maps.max(axis=(2, 3)) >= frame_threshold
        boxes = np.zeros(maps.shape[:2] + (4,), "float32")
        for clip, frame in zip(*np.nonzero(frames)):
            boxes[clip, frame] = largest_region_box(maps[clip, frame], threshold)
        return boxes, frames

    def get_config(self):
        return {
            "name": self.name,
            "num_classes": self.num_classes,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "input_shape": (self.num_frames,) + tuple(self.backbone.input_shape[1:]),
            "cam_width": self.cam_width,
        }

    @classmethod
    def from_config(cls, config):
        return from_task_config(cls, config)
