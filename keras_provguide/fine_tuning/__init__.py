"""Fine-tuning methods for the real phase beyond the compiled loss.

- `deep_feature_reweighting`: retrain the last layer on group-balanced
  held-out real data (Kirichenko et al., ICLR 2023), as From Fake to Real's
  DFR variant does.

ERM and GroupDRO are compiled losses (`kpg.losses.GroupDRO`); group-balanced
resampling is `kpg.data.FakeThenReal(real_sampling="group_balanced")`.
"""

from keras_provguide.fine_tuning.deep_feature_reweighting import deep_feature_reweighting

__all__ = ["deep_feature_reweighting"]
