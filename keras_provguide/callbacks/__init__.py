"""Callbacks for training schedules.

- `FromFakeToReal`: synthetic pre-training, then real fine-tuning, in one
  `fit` (with `kpg.data.FakeThenReal`).
"""

from keras_provguide.callbacks.from_fake_to_real import FromFakeToReal

__all__ = ["FromFakeToReal"]
