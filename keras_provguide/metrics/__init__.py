"""Group-robustness metrics; group ids come from `x["groups"]` (see `kpg.groups`).

- `WorstGroupAccuracy`: the lowest accuracy over the groups seen.
- `BalancedGroupAccuracy`: the mean of the group accuracies.
- `AverageGroupAccuracy`: the group accuracies weighted by the training
  set's group proportions (the "average accuracy" of group-robustness papers).
"""

from keras_provguide.metrics.group_accuracy import AverageGroupAccuracy, BalancedGroupAccuracy, WorstGroupAccuracy

__all__ = ["AverageGroupAccuracy", "BalancedGroupAccuracy", "WorstGroupAccuracy"]
