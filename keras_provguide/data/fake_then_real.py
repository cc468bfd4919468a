"""`FakeThenReal`: one stream of batches, synthetic for the first epochs and real after."""

import math

import keras
import numpy as np

from keras_provguide.checks import int_at_least
from keras_provguide.data.split_labels import split_labels
from keras_provguide.groups import GROUPS
from keras_provguide.keys import IMAGES, PROVENANCE, SOURCE_LABELS

SYNTHETIC, REAL = "synthetic", "real"
SAMPLING = ("shuffle", "group_balanced")
_KEYS = (IMAGES, PROVENANCE, SOURCE_LABELS, GROUPS)


class FakeThenReal(keras.utils.PyDataset):
    """Batches of synthetic data for `synthetic_epochs` epochs, then of real data.

    The two sets are never pooled: every batch comes from one of them, chosen
    by its epoch. Each epoch is `steps_per_epoch` batches of exactly
    `batch_size` samples, in both phases; a phase walks through its set in
    shuffled passes (a new permutation each pass), or, with
    `real_sampling="group_balanced"`, draws the real batches with
    replacement so that every group is equally likely.

    The stream is endless, so `fit` needs `steps_per_epoch`:
    `model.fit(data, epochs=..., steps_per_epoch=data.steps_per_epoch,
    callbacks=[kpg.callbacks.FromFakeToReal(data)])`. Batch `i` of epoch `e`
    is a function of `(seed, e, i)` only, so a run resumed with
    `BackupAndRestore` sees the same batches as an uninterrupted one (the
    callback tells the stream where a resumed `fit` starts).

    Both phases yield the same structure, as `tf.data` needs: inputs keys
    `"images"`, `"provenance"`, `"source_labels"`, `"groups"` present in
    either set (other keys are dropped). A phase without `"provenance"` gets
    all-ones provenance, which marks every element as target (penalty 0);
    `FromFakeToReal` turns the penalty off there anyway. `"groups"` and
    `"source_labels"` must be in both sets or in neither.

    Args:
        synthetic: the synthetic set: `(x, y)` with `x` a dict of arrays
            holding `"images"` (or an image array), or a dict of arrays
            holding `"labels"` (as `kpg.datasets.spurious_digits` returns),
            or a split of a `kpg.datasets` file loader (`csv_manifest`,
            `celeba`, `waterbirds`, ...), read from disk batch by batch so a
            set larger than memory works (the loader's `augment` is not
            applied).
        real: the real training set, in any of these forms.
        synthetic_epochs: int >= 0, the number of epochs on synthetic data.
        batch_size: int >= 1.
        steps_per_epoch: batches per epoch, in both phases; by default one
            pass over the real set, `ceil(len(real) / batch_size)`.
        real_sampling: `"shuffle"` or `"group_balanced"` (needs `"groups"`).
        seed: int, seeds every permutation and draw.

    Example:

    ```python
    splits = kpg.datasets.spurious_digits()
    data = kpg.data.FakeThenReal(splits["synthetic"], splits["train"],
                                 synthetic_epochs=5, batch_size=64)
    model.fit(data, epochs=10, steps_per_epoch=data.steps_per_epoch,
              callbacks=[kpg.callbacks.FromFakeToReal(data)])
    ```
    """

    def __init__(
        self, synthetic, real, synthetic_epochs, batch_size=32, steps_per_epoch=None,
        real_sampling="shuffle", seed=0,
    ):
        super().__init__()
        self.synthetic_epochs = int_at_least(synthetic_epochs, 0, "synthetic_epochs")
        self.batch_size = int_at_least(batch_size, 1, "batch_size")
        if real_sampling not in SAMPLING:
            raise ValueError(
                f"Expected `real_sampling` in {SAMPLING}, received {real_sampling!r}."
            )
        self.real_sampling = real_sampling
        self.seed = int(seed)
        sets = {SYNTHETIC: _as_set(synthetic, SYNTHETIC), REAL: _as_set(real, REAL)}
        #: Whether each set came with its own provenance (before padding).
        self.has_provenance = {
            name: PROVENANCE in data.spec for name, data in sets.items()
        }
        self._sets = _harmonise(sets[SYNTHETIC], sets[REAL])
        num_real = len(sets[REAL])
        if steps_per_epoch is None:
            steps_per_epoch = math.ceil(num_real / self.batch_size)
        self.steps_per_epoch = int_at_least(steps_per_epoch, 1, "steps_per_epoch")
        self._balanced_p = None
        if real_sampling == "group_balanced":
            if sets[REAL].groups is None:
                raise ValueError(
                    "real_sampling='group_balanced' needs 'groups' in the real set, "
                    f"received keys {sorted(sets[REAL].spec)}."
                )
            groups = sets[REAL].groups
            counts = np.bincount(groups)
            p = 1.0 / counts[groups]
            self._balanced_p = p / p.sum()
        self._first_epoch = 0

    @property
    def num_batches(self):
        return None  # Endless: `fit` reads `steps_per_epoch`.

    def phase(self, epoch):
        """`"synthetic"` or `"real"`: the set epoch `epoch` (0-based) draws from."""
        return SYNTHETIC if epoch < self.synthetic_epochs else REAL

    def begin_at_epoch(self, epoch):
        """Tells the stream that the next `fit` starts at `epoch` (`FromFakeToReal` calls it)."""
        self._first_epoch = int_at_least(epoch, 0, "epoch")

    def batch(self, epoch, step):
        """The `(x, y)` batch number `step` of epoch `epoch`."""
        phase = self.phase(epoch)
        phase_step = (epoch - (0 if phase == SYNTHETIC else self.synthetic_epochs)) * (
            self.steps_per_epoch
        ) + step
        harmonised = self._sets[phase]
        return _read(harmonised, self._indices(phase, phase_step, len(harmonised[0])))

    def __getitem__(self, index):
        step = self._first_epoch * self.steps_per_epoch + int(index)
        return self.batch(step // self.steps_per_epoch, step % self.steps_per_epoch)

    def _indices(self, phase, phase_step, size):
        if phase == REAL and self._balanced_p is not None:
            rng = np.random.default_rng([self.seed, 1, phase_step])
            return rng.choice(size, self.batch_size, p=self._balanced_p)
        return shuffled_pass_indices(
            size, self.batch_size, phase_step, (self.seed, 0 if phase == SYNTHETIC else 1)
        )


def shuffled_pass_indices(size, batch_size, step, seed_key):
    """Rows of batch `step` when endless passes over `size` rows are cut into batches.

    Each pass is its own permutation, seeded by `seed_key + (pass,)`; a batch
    that straddles two passes takes the end of one and the start of the next.
    """
    positions = step * batch_size + np.arange(batch_size)
    passes = positions // size
    indices = np.empty(batch_size, "int64")
    for one_pass in np.unique(passes):
        order = np.random.default_rng([*seed_key, int(one_pass)]).permutation(size)
        here = passes == one_pass
        indices[here] = order[positions[here] % size]
    return indices


class _ArraySet:
    """A set held in memory: `x` a dict of arrays, `y` labels."""

    def __init__(self, x, y):
        self.x, self.y = x, y
        self.labels = y
        self.groups = x.get(GROUPS)
        self.spec = {key: (value.shape[1:], value.dtype) for key, value in x.items()}
        self.label_spec = (y.shape[1:], y.dtype)

    def __len__(self):
        return len(self.y)

    def take(self, indices):
        return {key: value[indices] for key, value in self.x.items()}, self.y[indices]


class _FileSet:
    """A set read from files, row by row: a `kpg.datasets` loader's dataset."""

    def __init__(self, reader):
        self.reader = reader
        self.labels, self.groups = reader.table.labels, reader.table.groups
        self.spec = {key: spec for key, spec in reader.spec.items() if key in _KEYS}
        self.label_spec = reader.spec["labels"]

    def __len__(self):
        return len(self.labels)

    def take(self, indices):
        batch = self.reader.batch(indices)
        return {key: batch[key] for key in self.spec}, batch["labels"]


def _as_set(data, name):
    if hasattr(data, "row_reader"):
        return _FileSet(data.row_reader)
    if isinstance(data, dict) and "labels" in data:
        x, y = split_labels(data)
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
    else:
        raise ValueError(
            f"Expected the {name} set as (x, y), a dict holding 'labels' or a dataset of a "
            f"`kpg.datasets` loader, received {type(data).__name__}."
        )
    if not isinstance(x, dict):
        x = {IMAGES: x}
    if IMAGES not in x:
        raise ValueError(
            f"Expected the {name} inputs to hold 'images', received keys {sorted(x)}."
        )
    x = {key: np.asarray(value) for key, value in x.items() if key in _KEYS}
    y = np.asarray(y)
    size = len(x[IMAGES])
    if size == 0:
        raise ValueError(f"Expected a non-empty {name} set, received 0 samples.")
    for key, value in list(x.items()) + [("labels", y)]:
        if len(value) != size:
            raise ValueError(
                f"Expected {size} entries in the {name} set's '{key}' (one per "
                f"image), received {len(value)}."
            )
    if GROUPS in x:
        if not np.issubdtype(x[GROUPS].dtype, np.integer) or x[GROUPS].ndim != 1:
            raise ValueError(
                f"Expected the {name} set's 'groups' as integer ids of shape "
                f"({size},), received dtype {x[GROUPS].dtype}, shape {x[GROUPS].shape}."
            )
        if x[GROUPS].min() < 0:
            raise ValueError(f"Expected 'groups' ids >= 0 in the {name} set.")
    return _ArraySet(x, y)


def _harmonise(synthetic, real):
    """`{phase: (set, dtypes, provenance shape or None)}`: both sets read with the same keys, dtypes and shapes.

    A set without provenance, beside one with it, gets all-ones provenance
    at each batch.
    """
    sets = {SYNTHETIC: synthetic, REAL: real}
    for key in (GROUPS, SOURCE_LABELS):
        present = [name for name, data in sets.items() if key in data.spec]
        if len(present) == 1:
            raise ValueError(
                f"Expected '{key}' in both the synthetic and the real set or in "
                f"neither, received it in the {present[0]} set only."
            )
    shapes = {name: tuple(data.spec[IMAGES][0]) for name, data in sets.items()}
    if shapes[SYNTHETIC] != shapes[REAL]:
        raise ValueError(
            "Expected synthetic and real images of the same shape, received "
            f"{shapes[SYNTHETIC]} and {shapes[REAL]}."
        )
    label_shapes = {name: tuple(data.label_spec[0]) for name, data in sets.items()}
    if label_shapes[SYNTHETIC] != label_shapes[REAL]:
        raise ValueError(
            "Expected synthetic and real labels of the same kind, received "
            f"per-sample shapes {label_shapes[SYNTHETIC]} and {label_shapes[REAL]}."
        )
    keys = set().union(*(data.spec for data in sets.values()))
    provenance = [data.spec[PROVENANCE][0] for data in sets.values()
                  if PROVENANCE in data.spec]
    if len(provenance) == 2 and tuple(provenance[0]) != tuple(provenance[1]):
        raise ValueError(
            "Expected synthetic and real provenance of the same shape, received "
            f"{tuple(provenance[0])} and {tuple(provenance[1])}."
        )
    integer = all(np.issubdtype(np.dtype(data.label_spec[1]), np.integer) for data in sets.values())
    dtypes = {key: "int32" if key in (GROUPS, SOURCE_LABELS) else "float32" for key in keys}
    dtypes["labels"] = "int32" if integer else "float32"
    return {name: (data, dtypes, tuple(provenance[0]) if provenance else None)
            for name, data in sets.items()}


def _read(harmonised, indices):
    """`(x, y)` of the rows `indices`, with the keys and dtypes of both phases."""
    data, dtypes, provenance_shape = harmonised
    x, y = data.take(indices)
    if provenance_shape is not None and PROVENANCE not in x:
        x[PROVENANCE] = np.ones((len(indices),) + provenance_shape, "float32")
    return {key: np.asarray(value, dtypes[key]) for key, value in x.items()}, np.asarray(y, dtypes["labels"])


