"""`IndexedBatches`: the `PyDataset` base of the file loaders."""

import math

import keras
import numpy as np


class IndexedBatches(keras.utils.PyDataset):
    """Batches of the rows `0 .. count - 1`, reshuffled at each epoch's end when `shuffle`.

    Subclasses read a batch's rows (`self.rows(i)`) in `__getitem__`.
    """

    def __init__(self, count, batch_size, shuffle, seed):
        super().__init__()
        self._batch_size, self._shuffle = batch_size, shuffle
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(count)
        self.on_epoch_end()

    def __len__(self):
        return math.ceil(len(self._order) / self._batch_size)

    def rows(self, i):
        """The row indices of batch `i`."""
        if not 0 <= i < len(self):
            raise IndexError(f"Batch index {i} out of range [0, {len(self)}).")
        return self._order[i * self._batch_size : (i + 1) * self._batch_size]

    def on_epoch_end(self):
        if self._shuffle:
            self._order = self._rng.permutation(len(self._order))
