"""How group labels reach group-aware losses and metrics.

Group ids travel with the data as `x["groups"]` (int, shape `(B,)`), next to
`"images"` and `"provenance"`. Keras hands losses and metrics only
`(y_true, y_pred, sample_weight)`, so `GuidedModel.compute_loss` and
`compute_metrics` open a `group_scope` around them, and `GroupDRO`,
`WorstGroupAccuracy` and `BalancedGroupAccuracy` read the batch's groups
from it. The scope holds the traced tensors of the step being built, on
every backend, and is closed when that loss or metric call returns.
"""

import contextlib
import threading

from keras import ops

from keras_provguide.keys import GROUPS

_local = threading.local()


@contextlib.contextmanager
def group_scope(groups, training=False):
    """Makes `groups` the group ids of the batch being processed."""
    stack = _stack()
    stack.append((groups, bool(training)))
    try:
        yield
    finally:
        stack.pop()


def current_groups(owner):
    """`(groups, training)` of the open scope; raises if there is none."""
    stack = _stack()
    if not stack or stack[-1][0] is None:
        raise ValueError(
            f"{type(owner).__name__} needs group ids: expected the inputs dict "
            "to hold a 'groups' entry (int, shape (batch,)) when training or "
            "evaluating a `kpg.GuidedModel`, received a batch without one. "
            "Outside `fit`/`evaluate`, pass `groups=` to `update_state`."
        )
    return stack[-1]


def groups_of(x):
    """The `"groups"` entry of an inputs dict, or `None`."""
    return x.get(GROUPS) if isinstance(x, dict) else None


def group_sums(values, groups, num_groups, sample_weight=None):
    """Per-group weighted sums of `values` and of the weights, both `(G,)`.

    Ids outside `[0, num_groups)` count in no group.
    """
    values = ops.reshape(ops.cast(values, "float32"), (-1,))
    ids = ops.reshape(ops.cast(groups, "int32"), (-1,))
    members = ops.cast(
        ops.equal(ids[:, None], ops.arange(num_groups, dtype="int32")[None, :]), "float32"
    )
    weights = ops.ones_like(values) if sample_weight is None else ops.reshape(
        ops.cast(sample_weight, "float32"), (-1,)
    )
    weighted = members * weights[:, None]
    return ops.sum(weighted * values[:, None], axis=0), ops.sum(weighted, axis=0)


def check_num_groups(num_groups, owner):
    if not isinstance(num_groups, int) or isinstance(num_groups, bool) or num_groups < 1:
        raise ValueError(
            f"Expected `num_groups` of {owner} to be an int >= 1, received {num_groups!r}."
        )
    return num_groups


def _stack():
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack
