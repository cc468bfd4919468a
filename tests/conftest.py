import keras
import numpy as np
import pytest

BACKEND = keras.backend.backend()


def pytest_report_header(config):
    return f"KERAS_BACKEND={BACKEND}, keras {keras.__version__}"


@pytest.fixture(autouse=True)
def _seed_and_policy():
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")
    keras.config.set_image_data_format("channels_last")


def linear_backbone(input_shape, weights, bias=None):
    """Flatten + Dense with the given `(D, K)` kernel: d logit_k / d x = weights[:, k]."""
    num_classes = weights.shape[1]
    model = keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            keras.layers.Dense(num_classes),
        ]
    )
    bias = np.zeros(num_classes, "float32") if bias is None else bias
    model.layers[-1].set_weights([weights.astype("float32"), bias.astype("float32")])
    return model


def conv_backbone(input_shape=(8, 8, 3), num_classes=4, data_format=None):
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(4, 3, padding="same", data_format=data_format),
            keras.layers.BatchNormalization(axis=1 if data_format == "channels_first" else -1),
            keras.layers.ReLU(),
            keras.layers.GlobalAveragePooling2D(data_format=data_format),
            keras.layers.Dense(num_classes),
        ]
    )


def sparse_ce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def requires_backend(*names):
    return pytest.mark.skipif(
        BACKEND not in names, reason=f"needs KERAS_BACKEND in {names}"
    )

