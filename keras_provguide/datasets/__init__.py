"""Small offline datasets built from data that ships with scikit-learn and scikit-image.

Nothing is downloaded: every builder is deterministic for its seed, returns
NumPy arrays in a documented dict schema, and builds in seconds.

- `decoy_digits`: Decoy-MNIST of Right for the Right Reasons.
- `spurious_digits`: a Waterbirds-like task with a balanced synthetic set.
- `edited_digits`: the same task with ALIA-style background edits and their
  provenance recovered from the pixels.
- `digit_localization`: digits on textures with boxes and masks.
- `moving_digits`: clips of a digit crossing a texture, with per-frame boxes.
"""

from keras_provguide.datasets.decoy_digits import decoy_digits
from keras_provguide.datasets.digit_localization import digit_localization
from keras_provguide.datasets.edited_digits import edited_digits
from keras_provguide.datasets.moving_digits import moving_digits
from keras_provguide.datasets.spurious_digits import spurious_digits

__all__ = ["decoy_digits", "digit_localization", "edited_digits", "moving_digits", "spurious_digits"]
