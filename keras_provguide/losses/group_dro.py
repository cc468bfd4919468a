"""`GroupDRO`: the online group-DRO objective of Sagawa et al. (ICLR 2020)."""

import keras
import numpy as np
from keras import ops

from keras_provguide import groups as groups_lib
from keras_provguide.checks import non_negative_float, positive_float


class GroupWeights(keras.metrics.Metric):
    """The state of `GroupDRO`, kept as metric variables.

    Keras threads metric variables through every backend's compiled step
    (JAX's stateless one included), so `GroupDRO` can update its group
    weights inside `compute_loss`. `GuidedModel.metrics` lists it; it logs
    nothing and `reset_metrics` leaves it alone (the weights live for the
    whole run).
    """

    def __init__(self, num_groups, name="group_dro_weights"):
        super().__init__(name=name)
        self.weights_q = self.add_variable(
            shape=(num_groups,),
            initializer=keras.initializers.Constant(1.0 / num_groups),
            dtype="float32",
            name="group_weights",
        )
        self.robust = self.add_variable(
            shape=(), initializer="ones", dtype="float32", name="robust"
        )

    def update_state(self, *args, **kwargs):
        raise NotImplementedError("GroupDRO updates its weights in its loss call.")

    def result(self):
        return {}

    def reset_state(self):
        pass


@keras.saving.register_keras_serializable(package="keras_provguide")
class GroupDRO(keras.losses.Loss):
    """Group DRO: minimise the loss of the worst group, through online group weights.

    Each training step computes the mean loss `l_g` of every group in the
    batch, adds the generalisation adjustment `C / sqrt(n_g)`, moves the
    group weights `q_g <- q_g * exp(step_size * l_g)` (normalised to sum 1;
    groups absent from the batch have `l_g = 0`), and returns
    `sum_g q_g * l_g`. The weights are constants in the gradient. Evaluation
    reports the same quantity without moving the weights.

    Use it as the compiled loss of a `kpg.GuidedModel`, whose batches carry
    group ids as `x["groups"]`. The weights are saved with the model's
    weights (and so with `BackupAndRestore`). `kpg.callbacks.FromFakeToReal`
    switches it to plain ERM in the synthetic phase.

    Args:
        num_groups: int, the number of groups; ids are `0 .. num_groups - 1`.
        step_size: float > 0, the step size `eta` of the weights (0.01, as
            in Sagawa et al. and From Fake to Real).
        generalization_adjustment: float >= 0, `C`; 0 turns it off.
        group_counts: the number of training samples `n_g` in each group;
            required when `generalization_adjustment > 0`.
        loss: the per-sample loss, called with `reduction=None` semantics;
            sparse categorical cross-entropy on logits by default.
        name: the loss name.

    Call arguments:
        y_true, y_pred: as the per-sample loss takes them.
        sample_weight: optional `(B,)`, weights samples inside their group.

    Example:

    ```python
    model = kpg.GuidedModel(backbone)
    model.compile("adam", loss=kpg.losses.GroupDRO(num_groups=4),
                  metrics=[kpg.metrics.WorstGroupAccuracy(4)])
    model.fit({"images": images, "groups": groups}, labels)
    ```
    """

    def __init__(
        self, num_groups, step_size=0.01, generalization_adjustment=0.0,
        group_counts=None, loss=None, name="group_dro", dtype=None,
    ):
        super().__init__(name=name, reduction="sum_over_batch_size", dtype=dtype)
        self.num_groups = groups_lib.check_num_groups(num_groups, "GroupDRO")
        self.step_size = positive_float(step_size, "step_size")
        self.generalization_adjustment = non_negative_float(
            generalization_adjustment, "generalization_adjustment"
        )
        if group_counts is not None:
            group_counts = np.asarray(group_counts, "float64")
            if group_counts.shape != (num_groups,) or np.any(group_counts <= 0):
                raise ValueError(
                    f"Expected `group_counts` of shape ({num_groups},) with positive "
                    f"entries, received {group_counts.tolist()}."
                )
        elif self.generalization_adjustment > 0:
            raise ValueError(
                "Expected `group_counts` (training samples per group) with "
                f"generalization_adjustment={self.generalization_adjustment}, received None."
            )
        self.group_counts = group_counts
        if loss is None:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
        else:
            loss = keras.losses.get(loss)
        self.per_sample_loss = loss
        self.state = GroupWeights(num_groups, name=f"{name}_weights")

    @property
    def group_weights(self):
        """The current group weights `q` as a NumPy `(G,)` array."""
        return np.asarray(ops.convert_to_numpy(self.state.weights_q))

    def set_robust(self, robust):
        """`False` makes the loss the plain batch mean (ERM) and freezes `q`."""
        self.state.robust.assign(1.0 if robust else 0.0)

    def __call__(self, y_true, y_pred, sample_weight=None):
        groups, training = groups_lib.current_groups(self)
        losses = self._per_sample(y_true, y_pred)
        sums, counts = groups_lib.group_sums(losses, groups, self.num_groups, sample_weight)
        group_losses = ops.divide_no_nan(sums, counts)
        if self.generalization_adjustment > 0:
            adjustment = self.generalization_adjustment / np.sqrt(self.group_counts)
            group_losses = group_losses + ops.convert_to_tensor(adjustment, "float32")
        robust = self.state.robust.value
        weights = self.state.weights_q.value
        if training:
            moved = weights * ops.exp(self.step_size * ops.stop_gradient(group_losses))
            moved = moved / ops.sum(moved)
            weights = ops.where(robust > 0, moved, weights)
            self.state.weights_q.assign(weights)
        robust_loss = ops.sum(ops.stop_gradient(weights) * group_losses)
        batch_mean = ops.sum(sums) / ops.cast(ops.shape(losses)[0], "float32")
        return ops.where(robust > 0, robust_loss, batch_mean)

    def _per_sample(self, y_true, y_pred):
        losses = self.per_sample_loss(y_true, y_pred)
        if len(losses.shape) != 1:
            raise ValueError(
                "Expected the per-sample loss of GroupDRO to return shape (batch,) "
                f"(built with reduction=None), received shape {tuple(losses.shape)}."
            )
        return losses

    # The weights are saved with the model's weights: `model.save_weights`
    # (and `BackupAndRestore`) visit the compiled loss.

    def save_own_variables(self, store):
        store["0"] = np.asarray(ops.convert_to_numpy(self.state.weights_q))

    def load_own_variables(self, store):
        if "0" in store:
            self.state.weights_q.assign(np.asarray(store["0"], "float32"))

    def get_config(self):
        return {
            "name": self.name,
            "dtype": self.dtype,
            "num_groups": self.num_groups,
            "step_size": self.step_size,
            "generalization_adjustment": self.generalization_adjustment,
            "group_counts": None if self.group_counts is None else self.group_counts.tolist(),
            "loss": keras.losses.serialize(self.per_sample_loss),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["loss"] = keras.losses.deserialize(config["loss"])
        return cls(**config)

