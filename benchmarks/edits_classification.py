"""Classification from generative edits under the protocol: does guidance on ALIA-style edits help?

The guidance paper's Waterbirds / iWildCam / CUB rows, on `kpg.datasets.edited_digits`:
real training images whose background predicts the label (bias 0.95), one
background edit of each by an imperfect editor, provenance recovered from the
pixels by Otsu (`kpg.layers.edit_provenance`). Configurations (same CNN, 10
epochs of the same number of steps, the epoch of best validation worst-group
accuracy kept):

- `oracle`: a reference, not a method: ERM on a group-balanced real training
  set of the same size (bias 0.5), what the construction allows at best;
- `erm`: ERM on the real images;
- `alia`: real + edited images pooled (ALIA);
- `guided`: the same, with the penalty on the edited images, Otsu provenance;
- `guided_true_mask`: the penalty with the true digit mask as provenance
  (a diagnostic: does better provenance than Otsu's change anything?);
- `random_mask`: ablation, a random box of the Otsu mask's area as provenance;
- `unmasked`: ablation, the penalty on the whole edited image.

Four trials per configuration on the search seed (`protocol.py`): the
unpenalised ones over Adam's learning rate (3e-4, 1e-3, 3e-3, 1e-2), the
penalised ones each over its own weight grid (0.01, 0.03, 0.1, 0.3) at the
learning rate ALIA chose, chosen on validation worst-group accuracy.

The construction: two edits of every real training image, one per texture
it does not have, so real and edited images together hold as many grass as
brick backgrounds in each class; the editor's smoothing and seam stay, its
checkerboard fingerprint is off (`artefact_strength=0`), and the editor
keeps only the pixels where the digit's alpha exceeds 0.8
(`mask_threshold=0.8, seam_width=0`), re-rendering the digit's edge on the
new background. Each change was made because the positive control failed,
before any guided run:

- one edit per image, checkerboard 0.02: ALIA over ERM +0.057 [-0.042,
  +0.156] worst-group, 10 seeds (`results/protocol/edits_one_edit_per_image.md`);
- two edits per image, checkerboard 0.02: -0.039 [-0.128, +0.050], 10 seeds
  (`results/protocol/edits_two_edits_checkerboard.md`);
- an exploration on seeds 1000-1002 then put ALIA below ERM on 2 of 3
  with the checkerboard alone: the CNN tells edits from real images by it;
- without the checkerboard, on 600 real images: +0.052 [-0.067, +0.172],
  10 seeds, 8 above and 2 below (`results/protocol/edits_600_images.md`),
  with ERM's worst-group accuracy swinging from 0.01 to 0.59 between seeds:
  at bias 0.95, 600 images leave 15 minority images per class;
- on 2,000 real images (50 per minority group; Waterbirds has 56 landbirds
  on water among 4,795): -0.069 [-0.129, -0.009] on 10 seeds
  (`results/protocol/edits_soft_alpha_editor.md`).

Why the edits did not help, measured (2026-12-06, seeds outside the
protocol's, 1000-1002, two learning rates each, the one of better
validation kept): the editor kept the digit by its soft alpha, dilated by
a pixel, and the digit's anti-aliased edge in a real image is the old
background blended with ink. So every edit carried its source's background
colour in a ring around the strokes. A logistic regression on the mean
colour of that edge (alpha 0.05-0.6) reads the label from 84% of held-out
real + edited training images at bias 0.99, while the backgrounds
themselves read at chance (49%): the edits balanced the background and
left the shortcut in the edge. Removing the editor's smoothing did not
help (ALIA - ERM +0.02, -0.13, -0.05 at bias 0.95); keeping only pixels of
alpha above 0.8 took the edge probe to chance (49%, bias 0.99) and put
ALIA above ERM on every seed: +0.25, +0.13, +0.02 at bias 0.95, with ERM on group-balanced
real data at 0.97-0.98, so guidance has room above ALIA. Otsu's provenance
still keeps most of the new background (about 77% of pixels kept against
12% of digit; IoU with the digit 0.08): the per-pixel change of the new
background spreads widely (median 0.12-0.16, 90th percentile 0.20-0.29 on
four edits) and Otsu's threshold (0.17-0.25) falls inside that spread, not
between digit and background. That is the paper's provenance, imperfect as
on real edits; the `guided_true_mask` diagnostic shows what better
provenance would change.
`pooled_edge_probe_accuracy` in each seed's probe record measures the
edge leak of the construction being run.

A first guided run (2026-12-06, TensorFlow, seeds 0-4) trained the
penalised configurations at Adam's 1e-3 while ALIA's search chose 1e-2;
guidance fell below ALIA on every seed (-0.284 [-0.426, -0.143]), and ALIA
itself at 1e-3 (a diagnostic outside the protocol) scored 0.545 on seeds
0-3 against its 0.710 at 1e-2. That confound is why the protocol now trains
every penalised configuration at its baseline's chosen rate; the run is
kept as history (`results/protocol/edits_penalised_at_default_rate.md`)
and the guided configurations are rerun at ALIA's rate.

Measured at ALIA's rate (TensorFlow, 2026-12-06, seeds 0-9, about 9
minutes a seed for the penalised configurations and 20 for their search):
guidance ties ALIA. Guidance (Otsu) - ALIA +0.017 [-0.077, +0.111]
worst-group (6 above, 4 below; 0.727 against 0.710); against the random-box
ablation -0.016 [-0.117, +0.086], against the unmasked one +0.040 [-0.035,
+0.115]; the true digit mask - Otsu -0.039 [-0.160, +0.081]. The search
chose the grid's lowest weight (0.01) for every penalised configuration,
and the fixed weights fall as the weight grows (0.727, 0.677, 0.647,
0.618): no weight of the grid moves worst-group accuracy above ALIA's. What
every penalty, masked or not, does raise is the average-group accuracy
(0.935-0.944 against ALIA's 0.887): on this construction the penalty acts
as a generic regulariser, not through provenance. The balanced reference
reaches 0.970, so the room above ALIA is there and guidance does not take
it.

On torch and JAX (seeds 0-2, 2026-12-07, the default grids, about 22 s a
trial on torch and 28 s on JAX): the second control fails on both, ALIA - ERM +0.059 [-0.108,
+0.225] on torch and +0.049 [-0.118, +0.215] on JAX (2 of 3 seeds above on
each; ERM and ALIA chose 1e-2, the grid's highest, as on TensorFlow), so
`main` stopped before any penalised trial. Three seeds cannot pass this
control: TensorFlow's own seeds 0-2 give +0.103 [-0.255, +0.460], and its
10 seeds' per-seed spread (standard deviation 0.105) puts a 3-seed
interval's half-width near 0.26, three times the effect. Protocol rule 6
now says so (registered 2026-12-07, before any further run, for every
family): the controls judge a construction on its main backend's seeds,
and another backend's 3 seeds fail a control only where its interval lies
wholly below zero. By that rule these two pass (TensorFlow's passed on its
10 seeds), so the penalised configurations ran next on torch and JAX:
seeds 0-2, the default grids, at the rate each backend's ALIA chose
(1e-2 on both). Measured (2026-12-07, 44 trials a backend, about 50
minutes each, penalised trials 1-1.5 minutes): guidance ties ALIA on both,
-0.088 [-0.384, +0.208] on torch (1 above, 2 below) and -0.017 [-0.498,
+0.463] on JAX (1 above, 2 below), and ties both ablations and the true
mask on each. The fixed weights fall at the top as on TensorFlow (torch
0.670, 0.669, 0.629, 0.573 at 0.01-0.3; JAX 0.679, 0.699, 0.713, 0.623).
The average-group accuracy: on JAX every penalty raises it above ALIA's
(0.922-0.967 against 0.872), as on TensorFlow; on torch only the masked
ones do (Otsu 0.942, true mask 0.951 against 0.914; random box 0.894,
unmasked 0.880). The same reading as TensorFlow's, on three seeds whose
intervals are 0.6-1.0 wide.

Pools (fixed by `protocol.POOL_SEED`): group-balanced real validation and
test sets of 2,000 images each (500 per group), from digits no training
image uses. A seed draws the real training set, its edits and the model's
initial weights.

Seeds, fixed before the first run under this protocol: evaluation seeds 0-9
on TensorFlow, 0-2 on torch and JAX; `guided` trains every weight on every
seed. The positive controls run first (`--configs oracle erm alia`): the
border-colour probe, and ALIA over ERM; guidance is judged only if they pass.

    python benchmarks/edits_classification.py --configs erm alia   # the controls, TensorFlow, 13 min
    python benchmarks/edits_classification.py                      # then the rest, about 1.7 h
    python benchmarks/edits_classification.py --backends torch jax --seeds 0 1 2
    R=benchmarks/results/protocol   # the stores; --reuse copies the trials both grids share
    python benchmarks/edits_classification.py --variant centred --reuse $R/edits.jsonl   # re-centred grids
    python benchmarks/edits_classification.py --variant centred --reuse $R/edits.jsonl --backends torch jax

The `centred` variant (registered 2026-12-07, before any of its runs): the
protocol's reports now mark a choice at its grid's edge, and here every
choice sat at one: ERM, ALIA and the balanced reference at 1e-2, the
highest rate (ERM's validation worst-group rising at every step: 0.120,
0.580, 0.614, 0.730), and every penalised configuration at 0.01, the
lowest weight. Its rule: the same data, settings, pools, comparisons and
seeds (0-9 on TensorFlow, 0-2 on torch and JAX); the rates 3e-3-1e-1 and
the weights 0.001-0.03 (`VARIANTS["centred"]`), each moved in the same
half-decade steps until the choices above lie inside; the penalised
configurations at the rate ALIA chooses; four trials per configuration;
`guided` at every weight on every seed; search seed
`protocol.SEARCH_SEED`, never reported. The trials both grids hold are
copied from `edits.jsonl`, not retrained. It runs before the default
family's torch and JAX seeds: those would judge guidance on grids that
hold neither side's best value.

Measured (TensorFlow, 10 seeds, 2026-12-07, the controls' 40 trials about
25 s each): every baseline's choice now lies inside its grid (ERM 1e-2,
validation 0.614, 0.730, 0.630, 0.594 at 3e-3-1e-1; ALIA 3e-2, 0.568,
0.696, 0.872, 0.462), and the second positive control fails: ALIA - ERM
+0.058 [-0.035, +0.151] (7 above, 1 level, 2 below), so `main` stopped
before any penalised trial and guidance is not judged on these grids.
ALIA's move from 1e-2 to 3e-2, on one search seed's validation, lowered
its test worst-group from 0.710 to 0.681; at 1e-2, on the same seeds,
ALIA - ERM is `default`'s +0.087 [+0.012, +0.162]. The per-seed
differences spread from -0.20 to +0.23 at 3e-2 (-0.09 to +0.22 at 1e-2):
at 10 seeds this construction's synthesis effect sits near the width of
its interval, and which rate a single search seed picks decides the
control. Not changed here: a construction with a larger minority group,
or a seed count fixed for that spread, would be a variant registered
before its runs.
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402
import protocol  # noqa: E402

NUM_GROUPS = 4
PENALISED = ("guided", "guided_true_mask", "random_mask", "unmasked")
RATES = (3e-4, 1e-3, 3e-3, 1e-2)
DEFAULT_RATE = 1e-3  # `train_one`'s, what a penalised configuration trains at unless ALIA chose another
WEIGHTS = (0.01, 0.03, 0.1, 0.3)
# The `edited_digits` options a family's settings may fix; absent ones keep their defaults.
EDITOR_OPTIONS = ("edits_per_image", "artefact_strength", "mask_threshold", "seam_width")
# Each variant: the unpenalised configurations' learning rates, then the
# penalised ones' weights. In `default` ERM, ALIA and the balanced reference
# all chose 1e-2, their grid's highest, and every penalised configuration
# 0.01, its lowest (`results/protocol/edits.md`). `centred` moves both grids,
# in the same steps, until those choices lie inside them.
VARIANTS = {"default": (RATES, WEIGHTS), "centred": ((3e-3, 1e-2, 3e-2, 1e-1), (0.001, 0.003, 0.01, 0.03))}


def family(variant="default"):
    """The edits family of `variant`, one of `VARIANTS`: the same data, settings and seeds, its own grids."""
    protocol.check_variant(VARIANTS, variant)
    rates, weights = VARIANTS[variant]
    return protocol.Family(
        name="edits" if variant == "default" else f"edits_{variant}",
        grids=protocol.tuned_grids(("oracle", "erm", "alia", *PENALISED), PENALISED, weights, rates),
        metric="worst_group_accuracy",
        comparisons=(
            ("alia", "erm"), ("guided", "alia"), ("guided", "random_mask"), ("guided", "unmasked"),
            ("guided_true_mask", "guided"),
        ),
        controls=(("alia", "erm"),),
        inherit={config: "alia" for config in PENALISED},
        defaults={"learning_rate": DEFAULT_RATE},
        labels={
            "oracle": "reference: ERM on group-balanced real data",
            "erm": "ERM on real",
            "alia": "real + edits pooled (ALIA)",
            "guided": "ALIA + guidance (Otsu provenance)",
            "guided_true_mask": "ALIA + guidance (true digit mask)",
            "random_mask": "ablation: random box of the same area",
            "unmasked": "ablation: unmasked penalty",
        },
        full_grid=("guided",),
        settings={"bias": 0.95, "num_train": 2000, "num_val": 2000, "num_test": 2000, "epochs": 10,
                  "batch_size": 64, "batchnorm_momentum": 0.9, "pool_seed": protocol.POOL_SEED,
                  "edits_per_image": 2, "artefact_strength": 0.0, "mask_threshold": 0.8, "seam_width": 0},
        paper={("alia", "erm"): "Waterbirds top-1 62.2 → 71.4 (ALIA edits)",
               ("guided", "alia"): "Waterbirds top-1 71.4 → 80.7 (+ guidance)"},
        secondary=("accuracy", "average_accuracy"),
    )


FAMILY = family()


def provenance_for(config, edited, seed):
    """The provenance of the edited images that `config` penalises with, or `None`."""
    import numpy as np

    if config in ("guided",):
        return edited["provenance"]
    if config == "guided_true_mask":
        return edited["object_masks"]
    if config == "unmasked":
        return np.zeros_like(edited["provenance"])
    if config == "random_mask":
        return common.random_boxes_like(edited["provenance"], seed)
    return None


def training_set(config, data, seed):
    """`(x, y)` arrays of `config`'s training set; real rows carry provenance 1 (no penalty)."""
    import numpy as np

    train, edited = data["train"], data["edited"]
    if config == "oracle":
        return {"images": data["balanced_train"]["images"]}, data["balanced_train"]["labels"]
    if config == "erm":
        return {"images": train["images"]}, train["labels"]
    x = {"images": np.concatenate([train["images"], edited["images"]])}
    provenance = provenance_for(config, edited, seed)
    if provenance is not None:
        x["provenance"] = np.concatenate([np.ones_like(provenance[: len(train["labels"])]), provenance])
    return x, np.concatenate([train["labels"], edited["labels"]])


def group_scores(model, split, train_group_counts):
    """Worst-group, mean and train-weighted average accuracy of `model` on a real split."""
    import keras_provguide as kpg

    logits = model.predict(split["images"], batch_size=256, verbose=0)
    metrics = {
        "worst_group_accuracy": kpg.metrics.WorstGroupAccuracy(NUM_GROUPS),
        "average_accuracy": kpg.metrics.AverageGroupAccuracy(train_group_counts),
    }
    scores = {}
    for name, metric in metrics.items():
        metric.update_state(split["labels"], logits, groups=split["groups"])
        scores[name] = float(metric.result())
    scores["accuracy"] = float((logits.argmax(-1) == split["labels"]).mean())
    return scores


def train_one(config, data, seed, weight, epochs, batch_size, batchnorm_momentum, learning_rate=DEFAULT_RATE):
    """Trains `config` at guidance `weight` and Adam's `learning_rate`; returns the best-validation epoch's scores."""

    import keras
    import numpy as np

    import keras_provguide as kpg

    example = common.load_example("from_fake_to_real")
    counts = np.bincount(data["train"]["groups"], minlength=NUM_GROUPS)
    model = kpg.GuidedModel(
        example.build_cnn(seed, batchnorm_momentum), guidance_weight=weight
    )
    model.guidance_enabled = config in PENALISED
    model.compile(
        keras.optimizers.Adam(learning_rate),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x, y = training_set(config, data, seed)
    # Every configuration takes the same number of steps: one pass over
    # real + edited images per epoch.
    steps = int(np.ceil((len(data["train"]["labels"]) + len(data["edited"]["labels"])) / batch_size))
    best = {"val": -1.0}

    class SelectOnValidation(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            val = group_scores(self.model, data["val"], counts)["worst_group_accuracy"]
            if val > best["val"]:
                best.update(val=val, epoch=epoch, weights=self.model.get_weights())

    start = time.perf_counter()
    model.fit(
        example.ShuffledStream(x, y, batch_size, seed), steps_per_epoch=steps, epochs=epochs,
        callbacks=[SelectOnValidation()], verbose=0,
    )
    seconds = time.perf_counter() - start
    model.set_weights(best["weights"])
    return {
        "weight": weight if config in PENALISED else 0.0,
        "val_worst_group_accuracy": best["val"],
        "selected_epoch": best["epoch"],
        "seconds": seconds,
        **group_scores(model, data["test"], counts),
    }


def provenance_quality(edited):
    """How well Otsu recovers the digit: IoU, the recall of the digit and of its core, the share of pixels kept.

    The digit is its alpha above 0.5, its core alpha above 0.95: an editor
    that re-renders the digit's edge changes pixels of the first, not of
    the second.
    """
    import numpy as np

    kept = edited["provenance"][..., 0] > 0.5
    digit = edited["object_masks"][..., 0] > 0.5
    core = edited["object_masks"][..., 0] > 0.95
    inter = (kept & digit).sum((1, 2))
    union = np.maximum((kept | digit).sum((1, 2)), 1)
    return {
        "iou": float(np.mean(inter / union)),
        "digit_recall": float(inter.sum() / max(digit.sum(), 1)),
        "core_recall": float((kept & core).sum() / max(core.sum(), 1)),
        "kept_share": float(kept.mean()),
        "digit_share": float(digit.mean()),
    }


def edge_probe(data):
    """Does the pooled training set still tie the digit's edge to the label?

    A logistic regression on the mean colour of each training image's digit
    edge (alpha in (0.05, 0.6)), fitted on half of real + edited images and
    scored on the other half. An editor that keeps the old background
    blended into the edge leaves the label readable there after the edit.
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    train, edited = data["train"], data["edited"]
    images = np.concatenate([train["images"], edited["images"]])
    labels = np.concatenate([train["labels"], edited["labels"]])
    alpha = np.concatenate([train["object_masks"], edited["object_masks"]])
    edge = (alpha > 0.05) & (alpha < 0.6)
    colours = (images * edge).sum((1, 2)) / np.maximum(edge.sum((1, 2)), 1)
    order = np.random.default_rng(0).permutation(len(labels))
    fit, held_out = order[: len(order) // 2], order[len(order) // 2:]
    probe = LogisticRegression(max_iter=2000).fit(colours[fit], labels[fit])
    return float(probe.score(colours[held_out], labels[held_out]))


def data_of(seed, config, settings):
    import keras_provguide as kpg

    sizes = {k: settings[k] for k in ("num_train", "num_val", "num_test")}
    data = kpg.datasets.edited_digits(
        bias=settings["bias"], seed=seed, pool_seed=settings["pool_seed"],
        **{k: settings[k] for k in EDITOR_OPTIONS if k in settings}, **sizes,
    )
    if config == "oracle":
        data["balanced_train"] = kpg.datasets.edited_digits(
            bias=0.5, seed=seed, pool_seed=settings["pool_seed"], **sizes
        )["train"]
    return data


def worker_trials(trials, settings):
    """Trains each `(seed, config, value)` on the active backend; yields its record."""

    def probe(data, seed):
        return dict(common.border_probe(data["train"], data["test"]),
                    provenance_quality=provenance_quality(data["edited"]),
                    pooled_edge_probe_accuracy=edge_probe(data))

    def train(config, value, data, seed, learning_rate=DEFAULT_RATE):
        # A penalised configuration's value is its weight; it trains at ALIA's chosen rate.
        penalised = config in PENALISED
        result = train_one(
            config, data, seed, value if penalised else 0.0, settings["epochs"], settings["batch_size"],
            settings["batchnorm_momentum"], learning_rate=learning_rate if penalised else value,
        )
        return {k: result[k] for k in (
            "worst_group_accuracy", "val_worst_group_accuracy", "accuracy", "average_accuracy", "selected_epoch")}

    return protocol.each_trial(trials, lambda seed, config: data_of(seed, config, settings), probe, train)


if __name__ == "__main__":
    protocol.main(sys.modules[__name__])
