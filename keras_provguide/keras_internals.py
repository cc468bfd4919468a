"""The Keras internals keras-provguide relies on, where no public API serves.

Each is reached through one function here, and fails loudly, naming the
installed Keras version, when Keras moves it; `tests/test_package.py`
checks them all.
"""

import keras


def sublayers(model):
    """Every layer nested in `model` (models, and layers inside custom layers), without `model`.

    `keras.Model.layers` lists only the top level and stops at custom layers
    that hold layers of their own; Keras's own tracking walks them all.
    """
    walk = getattr(model, "_flatten_layers", None)
    if walk is None:
        raise RuntimeError(
            f"keras-provguide expected `Layer._flatten_layers` in Keras {keras.__version__}, "
            "which no longer has it: please report this with your Keras version."
        )
    return list(walk(include_self=False, recursive=True))
