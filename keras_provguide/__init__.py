"""keras-provguide: learn from synthetic training data without learning its shortcuts.

Public API (import as `import keras_provguide as kpg`):

- `GuidedModel`: a `keras.Model` that adds the provenance-masked
  input-gradient penalty to any class-score backbone inside `model.fit`.
- `input_gradients`, `guidance_penalty`: the same maths for analysis.
- `layers`: preprocessing layers that make provenance (compositing,
  two-source mixing, generative edits) and carry it through augmentation.
- `data`: builders of provenance-carrying datasets (balanced synthetic sets,
  image + mask folders, keras-cv pipelines).
- `datasets`: small offline datasets built from scikit-learn and
  scikit-image data.
- `callbacks`: `FromFakeToReal`, synthetic-then-real training in one `fit`.
- `losses`, `metrics`: group-robust training and evaluation (`GroupDRO`,
  `WorstGroupAccuracy`, `BalancedGroupAccuracy`); group ids travel as
  `x["groups"]`.
- `fine_tuning`: Deep Feature Reweighting of the last layer.
- `models`: task models (`ImageClassifier`, `CAMLocalizer` with class
  activation maps and boxes) that work as `GuidedModel` backbones.
- `visualization`: PNG grids of where a model looks (image, provenance,
  input gradients, CAMs).
- `localization`: the WSOL metrics of Choe et al. (MaxBoxAcc, MaxBoxAccV2,
  PxAP, GT-known and top-1 localization).
"""

from keras_provguide import (
    callbacks,
    data,
    datasets,
    fine_tuning,
    layers,
    localization,
    losses,
    metrics,
    models,
    visualization,
)
from keras_provguide.guidance.functional import guidance_penalty, input_gradients
from keras_provguide.guidance.guided_model import GuidedModel

__version__ = "0.1.0"

__all__ = [
    "GuidedModel",
    "callbacks",
    "data",
    "datasets",
    "fine_tuning",
    "guidance_penalty",
    "input_gradients",
    "layers",
    "localization",
    "losses",
    "metrics",
    "models",
    "visualization",
]
