"""Accuracy per group, reduced to the worst group or to the mean over groups."""

import keras
import numpy as np
from keras import ops

from keras_provguide import groups as groups_lib


class GroupAccuracy(keras.metrics.Metric):
    """Counts hits per group; subclasses reduce the group accuracies.

    Predictions are the argmax over classes, or `y_pred > threshold` for a
    single output. Labels are class ids `(B,)` or one-hot/soft `(B, K)`
    (argmax). Groups with no sample yet are left out of the reduction.
    """

    def __init__(self, num_groups, threshold=0.5, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.num_groups = groups_lib.check_num_groups(num_groups, type(self).__name__)
        self.threshold = float(threshold)
        # Lets `ModelCheckpoint(mode="auto")` know that higher is better.
        self._direction = "up"
        self.hits = self.add_variable(
            shape=(num_groups,), initializer="zeros", dtype="float32", name="hits"
        )
        self.counts = self.add_variable(
            shape=(num_groups,), initializer="zeros", dtype="float32", name="counts"
        )

    def update_state(self, y_true, y_pred, sample_weight=None, groups=None):
        """Adds a batch; `groups` (int `(B,)`) defaults to the batch's `x["groups"]`."""
        if groups is None:
            groups, _ = groups_lib.current_groups(self)
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.convert_to_tensor(y_true)
        if y_pred.shape[-1] == 1:
            predicted = ops.cast(ops.reshape(y_pred, (-1,)) > self.threshold, "int32")
        else:
            predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] not in (None, 1):
            labels = ops.argmax(y_true, axis=-1)
        else:
            labels = ops.reshape(y_true, (-1,))
        hit = ops.equal(predicted, ops.cast(labels, "int32"))
        hits, counts = groups_lib.group_sums(hit, groups, self.num_groups, sample_weight)
        self.hits.assign_add(hits)
        self.counts.assign_add(counts)

    def group_accuracies(self):
        """NumPy `(G,)` accuracies; NaN for groups with no sample."""
        hits = np.asarray(ops.convert_to_numpy(self.hits), "float64")
        counts = np.asarray(ops.convert_to_numpy(self.counts), "float64")
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, hits / counts, np.nan)

    def _present_accuracies(self):
        present = self.counts > 0
        accuracies = ops.divide_no_nan(self.hits, self.counts)
        return present, accuracies

    def reset_state(self):
        self.hits.assign(ops.zeros((self.num_groups,), "float32"))
        self.counts.assign(ops.zeros((self.num_groups,), "float32"))

    def get_config(self):
        return {
            "name": self.name,
            "dtype": self.dtype,
            "num_groups": self.num_groups,
            "threshold": self.threshold,
        }


@keras.saving.register_keras_serializable(package="keras_provguide")
class WorstGroupAccuracy(GroupAccuracy):
    """The lowest accuracy over groups: the headline metric of group robustness.

    Use it as a `ModelCheckpoint`/`EarlyStopping` monitor
    (`"val_worst_group_accuracy"`) for model selection on validation data.
    Returns 0 before any sample is seen.

    Args:
        num_groups: int, the number of groups; ids are `0 .. num_groups - 1`.
        threshold: decision threshold for single-output models (use 0.0 for
            logits).
        name: the metric name, `"worst_group_accuracy"` by default.

    Call arguments (`update_state`):
        y_true: class ids `(B,)` or one-hot labels `(B, K)`.
        y_pred: scores `(B, K)`.
        sample_weight: optional `(B,)`.
        groups: int `(B,)`; inside `GuidedModel.fit`/`evaluate` it comes
            from the inputs dict's `"groups"` entry.

    Example:

    ```python
    metric = kpg.metrics.WorstGroupAccuracy(num_groups=2)
    metric.update_state([0, 1, 1], [[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]], groups=[0, 1, 1])
    float(metric.result())  # 0.5: group 1 has one hit in two
    ```
    """

    def __init__(self, num_groups, threshold=0.5, name="worst_group_accuracy", dtype=None):
        super().__init__(num_groups, threshold=threshold, name=name, dtype=dtype)

    def result(self):
        present, accuracies = self._present_accuracies()
        worst = ops.min(ops.where(present, accuracies, ops.ones_like(accuracies)))
        return ops.where(ops.any(present), worst, ops.zeros_like(worst))


@keras.saving.register_keras_serializable(package="keras_provguide")
class BalancedGroupAccuracy(GroupAccuracy):
    """The mean of the group accuracies (each group counts once, whatever its size).

    Args, call arguments: as `WorstGroupAccuracy`; name
    `"balanced_group_accuracy"` by default.

    Example:

    ```python
    metric = kpg.metrics.BalancedGroupAccuracy(num_groups=2)
    metric.update_state([0, 1, 1], [[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]], groups=[0, 1, 1])
    float(metric.result())  # 0.75 = (1.0 + 0.5) / 2
    ```
    """

    def __init__(self, num_groups, threshold=0.5, name="balanced_group_accuracy", dtype=None):
        super().__init__(num_groups, threshold=threshold, name=name, dtype=dtype)

    def result(self):
        present, accuracies = self._present_accuracies()
        present = ops.cast(present, "float32")
        return ops.sum(accuracies * present) / ops.maximum(ops.sum(present), 1.0)


@keras.saving.register_keras_serializable(package="keras_provguide")
class AverageGroupAccuracy(GroupAccuracy):
    """Group accuracies weighted by the training set's group proportions.

    The "average accuracy" of group-robustness papers (Sagawa et al., 2020;
    Kirichenko et al., 2023, DFR): on a group-balanced test set, the plain
    mean accuracy would weigh every group alike; this metric weighs each
    group as often as it occurs in training, i.e. it estimates accuracy on
    the training distribution. Groups with no sample yet are left out and
    the remaining weights renormalised.

    Args:
        train_group_counts: the number (or share) of training samples in
            each group, length `num_groups`, all >= 0 and not all 0.
        threshold: decision threshold for single-output models.
        name: the metric name, `"average_group_accuracy"` by default.

    Call arguments: as `WorstGroupAccuracy`.

    Example:

    ```python
    metric = kpg.metrics.AverageGroupAccuracy(train_group_counts=[90, 10])
    metric.update_state([0, 1, 1], [[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]], groups=[0, 1, 1])
    float(metric.result())  # 0.95 = 0.9 * 1.0 + 0.1 * 0.5
    ```
    """

    def __init__(
        self, train_group_counts, threshold=0.5, name="average_group_accuracy", dtype=None
    ):
        counts = np.asarray(train_group_counts, "float64")
        if counts.ndim != 1 or counts.size < 1 or not np.all(np.isfinite(counts)) \
                or np.any(counts < 0) or counts.sum() <= 0:
            raise ValueError(
                "Expected `train_group_counts` as a list of numbers >= 0, one per "
                f"group and not all 0, received {train_group_counts!r}."
            )
        super().__init__(counts.size, threshold=threshold, name=name, dtype=dtype)
        self.train_group_counts = [float(c) for c in counts]
        self._proportions = ops.convert_to_tensor((counts / counts.sum()).astype("float32"))

    def result(self):
        present, accuracies = self._present_accuracies()
        weights = self._proportions * ops.cast(present, "float32")
        return ops.divide_no_nan(ops.sum(accuracies * weights), ops.sum(weights))

    def get_config(self):
        config = super().get_config()
        del config["num_groups"]
        config["train_group_counts"] = self.train_group_counts
        return config
