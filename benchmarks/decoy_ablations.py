"""Decoy digits under the protocol: guidance against plain training and both ablations.

The prior art's table (Ross et al. 2017, Decoy-MNIST) on
`kpg.datasets.decoy_digits`, trained through `examples/decoy_digits.py`
(the same MLP, data and 10 epochs for every configuration):

- `plain`: no penalty, its grid over Adam's learning rate;
- `guided`: the penalty on the decoy swatch that provenance marks;
- `random_mask`: ablation, the penalty on a random 4x4 square (the swatch's
  area);
- `unmasked`: ablation, the penalty on every pixel.

Each penalised configuration searches its own weight grid (0.1, 1, 10, 100);
`plain` searches four learning rates (3e-4, 1e-3, 3e-3, 1e-2): four trials
each, chosen on validation accuracy of the search seed (`protocol.py`).

Pools (fixed by `protocol.POOL_SEED`, the same for every seed): the digits
are split once, stratified by class, into train (700), validation (540) and
test (557 digits); every validation and test digit is drawn once per swatch
shade, so the pools hold 5,390 and 5,570 images, at least 520 per class, and
the swatch says nothing about the label there. A seed draws the training
swatches' corners and order, and the model's initial weights.

Seeds, fixed before the first run under this protocol: evaluation seeds
0-9 on TensorFlow, 0-2 on torch and JAX. Every configuration trains every
grid value on every seed, so every fixed-weight result is reported.

Positive control: a decision tree that sees only the four corner squares'
mean shades (the shortcut and nothing else) must predict the label on train
and fall to chance (0.1) on test. Decoy has no synthesis to control: the
swatch is its shortcut.

    python benchmarks/decoy_ablations.py                              # TensorFlow, 10 seeds, about 12 minutes
    python benchmarks/decoy_ablations.py --backends torch jax         # seeds 0-2, about 5 minutes
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402
import protocol  # noqa: E402

WEIGHTS = (0.1, 1.0, 10.0, 100.0)
FAMILY = protocol.Family(
    name="decoy",
    grids={
        "plain": protocol.Grid("learning_rate", (3e-4, 1e-3, 3e-3, 1e-2)),
        "guided": protocol.Grid("guidance_weight", WEIGHTS),
        "random_mask": protocol.Grid("guidance_weight", WEIGHTS),
        "unmasked": protocol.Grid("guidance_weight", WEIGHTS),
    },
    metric="accuracy",
    comparisons=(("guided", "plain"), ("guided", "random_mask"), ("guided", "unmasked")),
    labels={
        "plain": "plain",
        "guided": "guidance (swatch as non-target)",
        "random_mask": "ablation: random-square provenance",
        "unmasked": "ablation: unmasked penalty",
    },
    full_grid=("plain", "guided", "random_mask", "unmasked"),
    inherit={"guided": "plain", "random_mask": "plain", "unmasked": "plain"},
    defaults={"learning_rate": 1e-3},  # `examples/decoy_digits.py`'s `run`
    settings={"epochs": 10, "num_train": 700, "num_val": 540, "pool_seed": protocol.POOL_SEED},
    paper={("guided", "plain"): "Decoy-MNIST accuracy 0.52 → 0.96 (RRR)"},
    secondary=("decoy_share",),
)


def data_of(seed, settings):
    import keras_provguide as kpg

    return kpg.datasets.decoy_digits(
        num_train=settings["num_train"], num_val=settings["num_val"], seed=seed,
        pool_seed=settings["pool_seed"],
    )


def corner_shades(images):
    """The mean of each 4x4 corner square: what the swatch shows, and nothing of the digit."""
    import numpy as np

    far = images.shape[1] - 4
    return np.stack([images[:, r:r + 4, c:c + 4].mean(axis=(1, 2, 3))
                     for r in (0, far) for c in (0, far)], axis=1)


def shortcut_probe(data, seed):
    from sklearn.tree import DecisionTreeClassifier

    probe = DecisionTreeClassifier(random_state=seed).fit(
        corner_shades(data["train"]["images"]), data["train"]["labels"]
    )
    return {
        "probe": "decision tree on the corner shades",
        "train_accuracy": float(probe.score(corner_shades(data["train"]["images"]), data["train"]["labels"])),
        "test_accuracy": float(probe.score(corner_shades(data["test"]["images"]), data["test"]["labels"])),
        "chance": 0.1,
    }


def worker_trials(trials, settings):
    """Trains each `(seed, config, value)` on the active backend; yields its record."""
    example = common.load_example("decoy_digits")

    def train(config, value, data, seed, **inherited):
        grid = FAMILY.grids[config].name
        options = {grid: value, **({"guidance_weight": 0.0} if grid == "learning_rate" else {}), **inherited}
        result = example.run(config, data, seed=seed, epochs=settings["epochs"], **options)
        return {k: result[k] for k in ("accuracy", "val_accuracy", "decoy_share", "val_decoy_share")}

    return protocol.each_trial(trials, lambda seed, config: data_of(seed, settings), shortcut_probe, train)


if __name__ == "__main__":
    protocol.main(sys.modules[__name__])
