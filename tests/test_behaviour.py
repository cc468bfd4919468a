"""Guidance moves input-gradient energy off a decoy and fixes accuracy where the decoy lies."""

import keras
from conftest import sparse_ce

import keras_provguide as kpg


def _train(data, guidance_weight):
    keras.utils.set_random_seed(0)
    backbone = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(50, activation="relu"),
            keras.layers.Dense(30, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model = kpg.GuidedModel(backbone, guidance_weight=guidance_weight)
    model.compile(keras.optimizers.Adam(1e-3), sparse_ce(), metrics=["accuracy"])
    train = data["train"]
    x = {"images": train["images"], "provenance": train["provenance"]}
    model.fit(x, train["labels"], epochs=8, batch_size=64, verbose=0)
    return model


def _decoy_share(model, split):
    grads = kpg.input_gradients(model, split["images"], split["labels"])
    energy = grads**2
    return float((energy * (1.0 - split["provenance"])).sum() / energy.sum())


def test_guidance_moves_gradient_off_the_decoy_and_raises_accuracy():
    data = kpg.datasets.decoy_digits(seed=0)
    test = data["test"]
    results = {}
    for name, weight in (("plain", 0.0), ("guided", 1.0)):
        model = _train(data, weight)
        accuracy = model.evaluate(test["images"], test["labels"], verbose=0, return_dict=True)
        results[name] = (_decoy_share(model, test), accuracy["accuracy"])
    (plain_share, plain_acc), (guided_share, guided_acc) = results["plain"], results["guided"]
    assert guided_share < 0.1 * plain_share, results
    assert guided_acc > plain_acc + 0.03, results
