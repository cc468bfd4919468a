"""Small offline datasets built from data that ships with scikit-learn.

Nothing is downloaded: every builder is deterministic for its seed and
builds in seconds.
"""

from keras_provguide.datasets.decoy_digits import decoy_digits

__all__ = ["decoy_digits"]
