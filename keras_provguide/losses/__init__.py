"""Group-robust losses; group ids come from `x["groups"]` (see `kpg.groups`).

- `GroupDRO`: online group distributionally robust optimisation.
"""

from keras_provguide.losses.group_dro import GroupDRO

__all__ = ["GroupDRO"]
