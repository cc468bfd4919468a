"""Group-robustness metrics; group ids come from `x["groups"]` (see `kpg.groups`).

- `WorstGroupAccuracy`: the lowest accuracy over the groups seen.
- `BalancedGroupAccuracy`: the mean of the group accuracies.
"""

from keras_provguide.metrics.group_accuracy import BalancedGroupAccuracy
from keras_provguide.metrics.group_accuracy import WorstGroupAccuracy

__all__ = ["BalancedGroupAccuracy", "WorstGroupAccuracy"]
