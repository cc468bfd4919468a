"""From Fake to Real on spurious digits: pre-train on balanced synthetic data, fine-tune on real.

The label is the parity of a digit; in the real training set, 95% of even
digits sit on grass and 95% of odd digits on brick, so a model can read the
background instead of the digit. Validation and test sets are
group-balanced; groups are (parity, background). The synthetic set is
balanced over the four groups, with a colour cast and noise that real images
lack, and carries provenance (the pasted digit).

Trains, with model selection on validation worst-group accuracy:

- `erm`: ERM on real data;
- `pooled`: real and synthetic data pooled in one training set;
- `ffr`: From Fake to Real, synthetic pre-training then real ERM fine-tuning,
  in one `fit` (`kpg.data.FakeThenReal` + `kpg.callbacks.FromFakeToReal`);
- `ffr_guided`: the same with provenance guidance in the synthetic phase
  (weight 0.1, chosen by validation worst-group accuracy among 0.1, 0.3 and
  1.0 in `benchmarks/spurious_digits.py`);
- `ffr_groupdro`: FFR with GroupDRO fine-tuning;
- `groupdro`: GroupDRO on real data alone;
- `ffr_dfr`: FFR, then Deep Feature Reweighting of the last layer on half of
  the validation set (selection on the other half).

and prints test worst-group, balanced and mean accuracy. Run on any backend:

    KERAS_BACKEND=jax python examples/from_fake_to_real.py
    KERAS_BACKEND=torch python examples/from_fake_to_real.py --configs erm ffr
"""

import argparse
import os
import tempfile
import time

import keras
import numpy as np

import keras_provguide as kpg
from keras_provguide.data.fake_then_real import shuffled_pass_indices

CONFIGS = ("erm", "pooled", "ffr", "ffr_guided", "ffr_groupdro", "groupdro", "ffr_dfr")
NUM_GROUPS = 4
KEYS = ("images", "groups")


def build_cnn(seed, batchnorm_momentum=0.9):
    """A small 3-block CNN with BatchNorm for 32x32 RGB images, 2 logits.

    BatchNorm momentum 0.9 is PyTorch's default (which the From-Fake-to-Real
    code uses), not Keras's 0.99: over the few hundred steps of a phase,
    moving statistics at 0.99 still lag far behind the weights, and the
    synthetic phase's model then scores near 0 worst-group accuracy in
    inference mode (`benchmarks/ffr_stability.py`).
    """
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((32, 32, 3))]
    for width in (16, 32, 64):
        layers += [
            keras.layers.Conv2D(width, 3, padding="same", use_bias=False),
            keras.layers.BatchNormalization(momentum=batchnorm_momentum),
            keras.layers.ReLU(),
            keras.layers.MaxPooling2D(),
        ]
    layers += [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)]
    return keras.Sequential(layers, name="cnn")


def inputs(split, keys=KEYS):
    """`(x, y)` of a split: the model-input keys and the labels."""
    return {key: split[key] for key in keys}, split["labels"]


def pooled(real, synthetic):
    """Real and synthetic samples in one set (provenance dropped)."""
    keys = ("images", "labels", "groups")
    return {key: np.concatenate([real[key], synthetic[key]]) for key in keys}


def compiled_model(seed, loss="erm", guidance_weight=0.0, learning_rate=1e-3, group_counts=None,
                   batchnorm_momentum=0.9, **guided_options):
    model = kpg.GuidedModel(
        build_cnn(seed, batchnorm_momentum), guidance_weight=guidance_weight, **guided_options
    )
    model.guidance_enabled = guidance_weight > 0
    if loss == "groupdro":
        loss = kpg.losses.GroupDRO(NUM_GROUPS)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(
        keras.optimizers.Adam(learning_rate),
        loss=loss,
        metrics=[
            kpg.metrics.WorstGroupAccuracy(NUM_GROUPS),
            kpg.metrics.BalancedGroupAccuracy(NUM_GROUPS),
            "accuracy",
        ],
    )
    return model


def run(config, splits, seed=0, synthetic_epochs=10, real_epochs=10, batch_size=64,
        guidance_weight=0.1, real_learning_rate=1e-4, freeze_batchnorm=True, verbose=0,
        learning_rate=1e-3, batchnorm_momentum=0.9, callbacks=(), **guided_options):
    """Trains one configuration; returns test metrics and the selected epoch.

    `callbacks` are added to the `fit` (e.g. to record curves);
    `learning_rate` is Adam's (for the FFR configurations, the synthetic
    phase's; `real_learning_rate` is the real phase's); `batchnorm_momentum`
    is passed to `build_cnn`; `guided_options` go to `kpg.GuidedModel`
    (`penalty_every`, `lazy_rescale`, `second_order`).

    Every configuration trains `synthetic_epochs + real_epochs` epochs of
    the same number of steps (one pass over the real training set), and keeps
    the weights of the epoch with the best validation worst-group accuracy.
    """
    if config not in CONFIGS:
        raise ValueError(f"Expected a config in {CONFIGS}, received {config!r}.")
    for name, rate in (("learning_rate", learning_rate), ("real_learning_rate", real_learning_rate)):
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not rate > 0:
            raise ValueError(f"Expected `{name}` to be a number > 0, received {rate!r}.")
    train, val, test, synthetic = (splits[k] for k in ("train", "val", "test", "synthetic"))
    epochs = synthetic_epochs + real_epochs
    selection_val, dfr_val = val, None
    if config == "ffr_dfr":
        order = np.random.default_rng(seed).permutation(len(val["labels"]))
        half = len(order) // 2
        dfr_val = {k: v[order[:half]] for k, v in val.items()}
        selection_val = {k: v[order[half:]] for k, v in val.items()}
    uses_ffr = config.startswith("ffr")
    model = compiled_model(
        seed,
        loss="groupdro" if config in ("ffr_groupdro", "groupdro") else "erm",
        guidance_weight=guidance_weight if config == "ffr_guided" else 0.0,
        learning_rate=learning_rate,
        batchnorm_momentum=batchnorm_momentum,
        **guided_options,
    )
    with tempfile.TemporaryDirectory() as tmp:
        best = os.path.join(tmp, "best.weights.h5")
        callbacks = list(callbacks) + [
            keras.callbacks.ModelCheckpoint(
                best, monitor="val_worst_group_accuracy", mode="max",
                save_best_only=True, save_weights_only=True,
            )
        ]
        after_synthetic = os.path.join(tmp, "after_synthetic.weights.h5")
        if uses_ffr and synthetic_epochs > 0:
            callbacks.append(_SaveAtEpoch(synthetic_epochs - 1, after_synthetic))
        fit_args = dict(epochs=epochs, validation_data=inputs(selection_val), verbose=verbose)
        start = time.perf_counter()
        if uses_ffr:
            keys = ("images", "provenance", "groups") if config == "ffr_guided" else KEYS
            data = kpg.data.FakeThenReal(
                inputs(synthetic, keys), inputs(train), synthetic_epochs=synthetic_epochs,
                batch_size=batch_size, seed=seed,
            )
            callbacks.append(
                kpg.callbacks.FromFakeToReal(
                    data, real_learning_rate=real_learning_rate,
                    freeze_batchnorm=freeze_batchnorm, verbose=verbose,
                )
            )
            history = model.fit(
                data, steps_per_epoch=data.steps_per_epoch, callbacks=callbacks, **fit_args
            )
        else:
            x, y = inputs(pooled(train, synthetic) if config == "pooled" else train)
            steps = int(np.ceil(len(train["labels"]) / batch_size))
            # The same number of steps per epoch as the FFR stream.
            dataset = ShuffledStream(x, y, batch_size, seed)
            history = model.fit(dataset, steps_per_epoch=steps, callbacks=callbacks, **fit_args)
        seconds = time.perf_counter() - start
        result = {"seconds": seconds}
        if os.path.exists(after_synthetic):
            model.load_weights(after_synthetic)
            scores = model.evaluate(*inputs(test), verbose=0, return_dict=True)
            result["after_synthetic_worst_group_accuracy"] = float(scores["worst_group_accuracy"])
        model.load_weights(best)
    monitor = history.history["val_worst_group_accuracy"]
    result["selected_epoch"] = int(np.argmax(monitor))
    result["val_worst_group_accuracy"] = float(np.max(monitor))
    if config == "ffr_dfr":
        report = kpg.fine_tuning.deep_feature_reweighting(model, *_dfr_args(dfr_val), seed=seed)
        result["dfr_c"] = report["c"]
    scores = model.evaluate(*inputs(test), verbose=0, return_dict=True)
    result.update(
        worst_group_accuracy=float(scores["worst_group_accuracy"]),
        balanced_group_accuracy=float(scores["balanced_group_accuracy"]),
        accuracy=float(scores["accuracy"]),
    )
    return result


def _dfr_args(split):
    return split["images"], split["labels"], split["groups"]


class _SaveAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch, path):
        super().__init__()
        self.epoch, self.path = epoch, path

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.model.save_weights(self.path)


class ShuffledStream(keras.utils.PyDataset):
    """Endless shuffled passes over arrays, in fixed-size batches (as FakeThenReal's)."""

    def __init__(self, x, y, batch_size, seed):
        super().__init__()
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed

    @property
    def num_batches(self):
        return None

    def __getitem__(self, index):
        rows = shuffled_pass_indices(len(self.y), self.batch_size, index, (self.seed,))
        return {k: v[rows] for k, v in self.x.items()}, self.y[rows]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["erm", "pooled", "ffr", "ffr_guided"],
                        choices=CONFIGS)
    parser.add_argument("--synthetic-epochs", type=int, default=10)
    parser.add_argument("--real-epochs", type=int, default=10)
    parser.add_argument("--guidance-weight", type=float, default=0.1)
    parser.add_argument("--bias", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args(argv)

    splits = kpg.datasets.spurious_digits(bias=args.bias, seed=args.seed)
    print(f"backend: {keras.backend.backend()}; bias {args.bias}; train group counts "
          f"{np.bincount(splits['train']['groups']).tolist()}")
    print(f"{'config':<14} {'worst-group':>11} {'balanced':>9} {'mean':>6} {'epoch':>6} {'s':>6}")
    results = {}
    for config in args.configs:
        result = run(
            config, splits, seed=args.seed, synthetic_epochs=args.synthetic_epochs,
            real_epochs=args.real_epochs, guidance_weight=args.guidance_weight,
            verbose=args.verbose,
        )
        results[config] = result
        print(f"{config:<14} {result['worst_group_accuracy']:>11.3f} "
              f"{result['balanced_group_accuracy']:>9.3f} {result['accuracy']:>6.3f} "
              f"{result['selected_epoch']:>6d} {result['seconds']:>6.1f}")
    return results


if __name__ == "__main__":
    main()
