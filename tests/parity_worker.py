"""Computes the guidance penalty and one guided step's parameter update on the active backend.

Run as `KERAS_BACKEND=... python tests/parity_worker.py OUT.npz`; imported by
`test_cross_backend_parity.py`. Weights and data come from NumPy with a
fixed seed, so every backend sees the same numbers.
"""

import sys

import keras
import numpy as np

import keras_provguide as kpg

B, K = 8, 4


def parity_values():
    rng = np.random.default_rng(42)
    backbone = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(6, 3, padding="same"),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.Conv2D(6, 3, strides=2, padding="same"),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(K),
        ]
    )
    weights = []
    for w in backbone.get_weights():
        weights.append(rng.normal(scale=0.5, size=w.shape).astype("float32"))
    # BatchNorm moving variances must stay positive.
    weights = [np.abs(w) + 0.5 if i in (5, 11) else w for i, w in enumerate(weights)]
    backbone.set_weights(weights)
    images = rng.random((B, 8, 8, 3)).astype("float32")
    mask = rng.random((B, 8, 8, 1)).astype("float32")
    labels = rng.integers(0, K, B).astype("int32")
    sources = rng.integers(0, K, (B, 2)).astype("int32")

    values = {
        "penalty_hard": kpg.guidance_penalty(backbone, images, mask, labels),
        "penalty_two_source": kpg.guidance_penalty(
            backbone, images, mask, None, source_labels=sources
        ),
    }
    model = kpg.GuidedModel(backbone, guidance_weight=1.0)
    model.compile(
        keras.optimizers.SGD(1.0),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(
        {"images": images, "provenance": mask}, labels, batch_size=B, shuffle=False, verbose=0
    )
    # SGD with learning rate 1: the update is minus the gradient of the total loss.
    for i, (old, new) in enumerate(zip(weights, backbone.get_weights())):
        if i not in (4, 5, 10, 11):  # moving statistics are not gradients
            values[f"grad_{i}"] = old - new
    return values


if __name__ == "__main__":
    np.savez(sys.argv[1], **parity_values())
