"""Task models that work as `GuidedModel` backbones on every backend.

- `small_resnet`: a small residual feature extractor for small images.
- `ImageClassifier`: features -> global average pooling -> class logits.
- `CAMLocalizer`: features -> conv -> global average pooling -> dense, as in
  CAM (Zhou et al., 2016), with `class_activation_maps` and `predict_boxes`.
- `ClipLocalizer`: the same for clips `(B, T, H, W, C)`: per-frame maps and
  action tubes (`frame_activation_maps`, `predict_tubes`).
"""

from keras_provguide.models.cam_localizer import CAMLocalizer
from keras_provguide.models.clip_localizer import ClipLocalizer
from keras_provguide.models.image_classifier import ImageClassifier
from keras_provguide.models.small_resnet import small_resnet

__all__ = ["CAMLocalizer", "ClipLocalizer", "ImageClassifier", "small_resnet"]
