"""Pictures of where a model looks (matplotlib, PNG out).

- `save_attribution_grid`: one row per image: image | provenance |
  input-gradient map | CAM overlay, with boxes.
"""

from keras_provguide.visualization.grid import save_attribution_grid

__all__ = ["save_attribution_grid"]
