"""The base of every provenance-carrying preprocessing layer."""

import keras
import numpy as np

from keras_provguide.keras_internals import DataLayer
from keras_provguide.keys import IMAGES, PROVENANCE


class ProvenanceLayer(DataLayer):
    """A preprocessing layer that takes and returns a dict of batch arrays.

    Subclasses write `transform(data, seed)` with `self.backend` ops (not
    `keras.ops`): Keras's `DataLayer` switches that namespace to TensorFlow
    inside a `tf.data` pipeline, so the same layer runs eagerly on every
    backend and inside `Dataset.map`. Images are handled channels-last inside
    `transform`; `channels_first` inputs are transposed on the way in and out.

    Args:
        seed: int or `None`, seeds the layer's random draws.
        data_format: `"channels_last"` or `"channels_first"`; defaults to
            `keras.config.image_data_format()`.
    """

    #: Keys the input dict must hold.
    required_keys = (IMAGES,)
    #: Keys holding spatial maps that follow `images` through a transpose.
    spatial_keys = (IMAGES, PROVENANCE)
    #: Rank of a batch of `images`: 4 for `(B, H, W, C)`, 5 for clips `(B, T, H, W, C)`.
    image_rank = 4

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)
        data_format = data_format or keras.config.image_data_format()
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(
                "Expected `data_format` 'channels_last' or 'channels_first', "
                f"received {data_format!r}."
            )
        self.data_format = data_format

    def call(self, data, training=True):
        data = self._checked_copy(data)
        if not training:
            return data
        transpose = self.data_format == "channels_first"
        last = self.image_rank - 1
        if transpose:
            data = self._transpose(data, (0, *range(2, last + 1), 1))
        data = self.transform(data, self._get_seed_generator(self.backend._backend))
        if transpose:
            data = self._transpose(data, (0, last, *range(1, last)))
        return data

    def transform(self, data, seed):
        raise NotImplementedError

    def _checked_copy(self, data):
        name = type(self).__name__
        if not isinstance(data, dict):
            raise ValueError(
                f"{name} expects a dict with keys {list(self.required_keys)}, "
                f"received a {type(data).__name__}."
            )
        missing = [k for k in self.required_keys if k not in data]
        if missing:
            raise ValueError(
                f"{name} expects a dict with keys {list(self.required_keys)}, "
                f"received keys {sorted(data)} (missing {missing})."
            )
        data = dict(data)
        for key in self.required_keys:
            rank = len(data[key].shape)
            if key in self.spatial_keys and rank != self.image_rank:
                layout = "(batch, height, width, channels)"
                if self.image_rank == 5:
                    layout = "(batch, frames, height, width, channels)"
                raise ValueError(
                    f"{name} works on batches: expected '{key}' of rank "
                    f"{self.image_rank} {layout}, received shape "
                    f"{tuple(data[key].shape)}. Batch the data first."
                )
        return data

    def _transpose(self, data, axes):
        for key in self.spatial_keys:
            if key in data:
                data[key] = self.backend.numpy.transpose(data[key], axes)
        return data

    def _float(self, value):
        return self.backend.cast(self.backend.convert_to_tensor(value), self.compute_dtype)

    def _uniform(self, batch_size, low, high, seed):
        return self.backend.random.uniform(
            (batch_size,), minval=low, maxval=high, dtype=self.compute_dtype, seed=seed
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"seed": self.seed, "data_format": self.data_format})
        return config


def check_range(value, name, low, high, low_open=False):
    """A `(min, max)` pair within `[low, high]`, as floats; else `ValueError`."""
    try:
        pair = tuple(float(v) for v in value)
    except TypeError:
        pair = ()
    ok = len(pair) == 2 and low <= pair[0] <= pair[1] <= high
    if ok and low_open:
        ok = pair[0] > low
    if not ok:
        bound = "(" if low_open else "["
        raise ValueError(
            f"Expected `{name}` as (min, max) with {bound}{low}, {high}] containing "
            f"min <= max, received {value!r}."
        )
    return pair


class _NumpyOps:
    """The few backend ops the layers' maths uses, on NumPy arrays.

    The dataset builders run that maths through it, so a dataset is the same
    arrays on every backend. (Importing Keras's own NumPy backend module
    would replace `keras.src.backend.numpy`, the active backend's ops, for
    the whole process.)
    """

    numpy = np

    @staticmethod
    def cast(value, dtype):
        return np.asarray(value).astype(dtype)

    @staticmethod
    def shape(value):
        return np.shape(value)


def numpy_backend():
    """NumPy in the shape of a Keras backend namespace, whatever `KERAS_BACKEND` is."""
    return _NumpyOps
