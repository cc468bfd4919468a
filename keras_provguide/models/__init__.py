"""Task models that work as `GuidedModel` backbones on every backend.

- `small_resnet`: a small residual feature extractor for small images.
- `ImageClassifier`: features -> global average pooling -> class logits.
- `CAMLocalizer`: features -> conv -> global average pooling -> dense, as in
  CAM (Zhou et al., 2016), with `class_activation_maps` and `predict_boxes`.
- `ClipLocalizer`: the same for clips `(B, T, H, W, C)`: per-frame maps and
  action tubes (`frame_activation_maps`, `predict_tubes`).
- `KeypointLocalizer`: keypoint point clouds pooled along their structure
  (Structured Keypoint Pooling), clip scores in training, per-person
  per-frame scores, detections and tubes at inference.
- `vgg16_gap`, `resnet50_stride1`: the WSOL literature's CAM backbones as
  wsolevaluation defines them, and `resnet50`, the group-robustness
  papers' classifier, on `keras.applications` (ImageNet weights pass
  through).
- `keras_hub_backbone`: a KerasHub image `Backbone` (a preset by name or
  directory, or an instance) with its preset's normalisation inside
  (optional extra `keras-hub`).
"""

from keras_provguide.models.cam_localizer import CAMLocalizer
from keras_provguide.models.clip_localizer import ClipLocalizer
from keras_provguide.models.image_classifier import ImageClassifier
from keras_provguide.models.keras_hub_backbones import keras_hub_backbone
from keras_provguide.models.keypoint_localizer import KeypointLocalizer
from keras_provguide.models.small_resnet import small_resnet
from keras_provguide.models.wsol_backbones import resnet50, resnet50_stride1, vgg16_gap

__all__ = [
    "CAMLocalizer", "ClipLocalizer", "ImageClassifier", "KeypointLocalizer", "keras_hub_backbone",
    "resnet50", "resnet50_stride1", "small_resnet", "vgg16_gap",
]
