"""
# From Fake to Real

**What you learn:** how to pre-train on a group-balanced synthetic set and
then fine-tune on real data in one `fit` (Qraitem et al., ECCV 2024), with
provenance guidance in the synthetic phase, group-robust losses and metrics,
and Deep Feature Reweighting.

Pooling real and synthetic images lets a model learn the pair (background,
real-or-synthetic) as a new shortcut. From Fake to Real (FFR) never pools
them: synthetic first, real after.

    KERAS_BACKEND=jax python docs/guides/from_fake_to_real.py
"""

import keras

import keras_provguide as kpg

keras.utils.set_random_seed(0)

"""
## Data with a spurious background

`kpg.datasets.spurious_digits` is a small Waterbirds: the label is a digit's
parity, the background is grass or brick, and in the real training set the
background agrees with the label for 95% of each class. Validation and test
are group-balanced, and the synthetic set pastes digits on both textures
equally, with provenance. The group of an image is `2 * label + background`,
carried as `x["groups"]`.
"""

splits = kpg.datasets.spurious_digits(num_train=640, num_val=200, num_test=400, synthetic_per_group=160)
print({name: len(split["labels"]) for name, split in splits.items()})

"""
## Two phases in one `fit`

`kpg.data.FakeThenReal` is an endless `PyDataset`: batches come from the
synthetic set for `synthetic_epochs` epochs and from the real set after.
`fit` needs `steps_per_epoch=data.steps_per_epoch`, one pass over the real
set. `real_sampling="group_balanced"` draws real batches so that every group
is equally likely (the "resampling" method).

`kpg.callbacks.FromFakeToReal` acts at the first real epoch: it resets the
optimizer and sets `real_learning_rate`, freezes BatchNorm statistics if
asked, sets the guidance weight to `real_guidance_weight` (0: real steps cost
a plain step), and turns a compiled `GroupDRO` from ERM into group DRO.
"""

backbone = keras.Sequential([
    keras.Input((32, 32, 3)),
    keras.layers.Conv2D(16, 3, padding="same"), keras.layers.BatchNormalization(momentum=0.9),
    keras.layers.ReLU(), keras.layers.MaxPooling2D(),
    keras.layers.Conv2D(32, 3, padding="same"), keras.layers.BatchNormalization(momentum=0.9),
    keras.layers.ReLU(), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2),
])
data = kpg.data.FakeThenReal(splits["synthetic"], splits["train"], synthetic_epochs=10, batch_size=64)
model = kpg.GuidedModel(backbone, guidance_weight=0.03)  # guidance in the synthetic phase
model.compile("adam", kpg.losses.GroupDRO(num_groups=4),
              metrics=[kpg.metrics.WorstGroupAccuracy(4), kpg.metrics.BalancedGroupAccuracy(4)])
val = kpg.data.split_labels({key: splits["val"][key] for key in ("images", "groups", "labels")})
history = model.fit(data, epochs=13, steps_per_epoch=data.steps_per_epoch, validation_data=val, verbose=0,
                    callbacks=[kpg.callbacks.FromFakeToReal(data, real_learning_rate=1e-4, freeze_batchnorm=True, verbose=0),
                               keras.callbacks.ModelCheckpoint("best.keras", monitor="val_worst_group_accuracy",
                                                               save_best_only=True)])
print("phase per epoch:", history.history["phase"])
print("val worst-group accuracy:", [round(v, 3) for v in history.history["val_worst_group_accuracy"]])

"""
`history.history["phase"]` is 0 in synthetic epochs and 1 in real ones. The
checkpoint keeps the epoch of best validation worst-group accuracy, as the
FFR code selects. Under `keras.callbacks.BackupAndRestore`, an interrupted
run resumes in the right phase and ends with the weights an uninterrupted
run would have (tested on every backend).

## Evaluating by group

`WorstGroupAccuracy` and `BalancedGroupAccuracy` skip groups with no sample
and work as checkpoint monitors. `AverageGroupAccuracy(train_group_counts)`
is the "average accuracy" of the group-robustness papers.
"""

best = keras.models.load_model("best.keras")
test = kpg.data.split_labels({key: splits["test"][key] for key in ("images", "groups", "labels")})
print({key: round(value, 3) for key, value in best.evaluate(*test, verbose=0, return_dict=True).items()})

"""
## Deep Feature Reweighting

`kpg.fine_tuning.deep_feature_reweighting` (Kirichenko et al.) refits the
last `Dense` layer on held-out real data: an L1 logistic regression on
group-balanced subsets, its strength chosen by worst-group accuracy.
"""

kpg.fine_tuning.deep_feature_reweighting(best, splits["val"]["images"], splits["val"]["labels"],
                                         splits["val"]["groups"])
print({key: round(value, 3) for key, value in best.evaluate(*test, verbose=0, return_dict=True).items()})

"""
## The pieces

- `kpg.losses.GroupDRO(num_groups, step_size=0.01, generalization_adjustment=0)`:
  the online group DRO of Sagawa et al. Its group weights save with the model.
- Groups travel through `fit`, `evaluate`, `tf.data` and `PyDataset` inputs.
  A group-aware loss or metric without `x["groups"]`, or ids outside
  `[0, num_groups)`, is refused before training.
- A synthetic set on disk goes in a `csv_manifest` of its own;
  `FakeThenReal` reads any loader's split batch by batch, so neither set has
  to fit in memory ([your own data](your_own_data.md)).

`examples/from_fake_to_real.py` trains every configuration (ERM, pooled,
FFR, FFR + guidance, GroupDRO, resampling, DFR), and
`benchmarks/ffr_guidance.py` judges them over 30 seeds: see the
[results](../results.md).
"""
