"""From Fake to Real under the protocol: FFR against ERM and pooling, and guidance in its synthetic phase.

Spurious digits (`kpg.datasets.spurious_digits`, bias 0.95: the background
agrees with the parity label on 95% of real training images) through
`examples/from_fake_to_real.py`: the same CNN, 10 synthetic + 10 real epochs
of the same number of steps, and the epoch of best validation worst-group
accuracy kept, for every configuration:

- `erm`: ERM on the real images; its grid, Adam's learning rate;
- `pooled`: real and synthetic images in one set; learning rate;
- `ffr`: synthetic pre-training, then real fine-tuning (From Fake to Real);
  its grid, the real phase's learning rate;
- `ffr_guided`: FFR with the penalty on the synthetic images' backgrounds
  (provenance 1 on the digit); its grid, the guidance weight;
- `ffr_random_mask`: ablation, the penalty outside a random box of each
  digit mask's area; guidance weight;
- `ffr_unmasked`: ablation, the penalty on every pixel; guidance weight.

Four trials per configuration on the search seed, chosen on validation
worst-group accuracy (`protocol.py`). The weight grid is 0.01, 0.03, 0.1,
0.3; the learning-rate grids are 3e-4, 1e-3, 3e-3, 1e-2 (ERM, pooled) and
3e-5, 1e-4, 3e-4, 1e-3 (FFR's real phase). The penalised configurations
fine-tune at the real-phase rate FFR chose. A first run fine-tuned them at
the example's 1e-4 while FFR chose 3e-5 on every backend (guidance - FFR
-0.010 [-0.027, +0.007], 30 seeds, TensorFlow); it is kept as history
(`results/protocol/ffr_penalised_at_default_rate.md`). The rerun at 3e-5
(TensorFlow, 30 seeds, 2026-12-06; its three configurations took about
2.5 minutes a seed after a 5-minute search): guidance - FFR +0.017
[+0.006, +0.028] (23 above, 2 level, 5 below), reproduced. The penalty
helps, the provenance does not add to it here: guidance ties the
random-box ablation (+0.002 [-0.002, +0.006]) and the unmasked penalty
(-0.004 [-0.013, +0.004]). Our reading, not measured: the cue is the
background colour, which fills most of the image, so damping the
gradient everywhere, or outside a digit-sized box, removes it about as
well as damping it outside the digit's mask.

Pools (fixed by `protocol.POOL_SEED`): group-balanced validation and test
sets of 2,000 real images each, 500 per group (label x background), from
digits no training image uses. A seed draws the real training set, the
synthetic set and the model's initial weights.

Seeds, fixed before the first run under this protocol: guidance's effect
over FFR was 2-4 points in 30 earlier seeds, so its comparison takes 30
evaluation seeds (0-29) on TensorFlow, 3 (0-2) on torch and JAX.
`ffr_guided` trains every weight on every seed (the fixed-weight results).

Positive controls: a logistic regression that sees only the border ring's
colour statistics (the background, not the digit) must predict the label
on train and fall to chance on the balanced test pool; FFR must beat ERM
(the synthetic phase helps).

    python benchmarks/ffr_guidance.py                  # TensorFlow, 30 seeds, about 2.5 hours (resumable)
    python benchmarks/ffr_guidance.py --backends torch jax --seeds 0 1 2
    R=benchmarks/results/protocol   # the stores; --reuse copies the trials both grids share
    python benchmarks/ffr_guidance.py --variant centred --reuse $R/ffr.jsonl   # re-centred grids
    python benchmarks/ffr_guidance.py --variant centred --reuse $R/ffr.jsonl --backends torch jax

The `centred` variant (registered 2026-12-07, before any of its runs): the
protocol's reports now mark a choice at its grid's edge, and here ERM chose
1e-2, its highest rate, on all three backends (validation worst-group
0.326, 0.484, 0.302, rising at every step), FFR's real phase 3e-5, its
lowest, on all three, and guidance and both ablations 0.01, their lowest,
on torch. A baseline whose best rate lies beyond its grid has not had an
equal chance. Its rule: the same data, settings, pools, comparisons and
seeds (0-29 on TensorFlow, 0-2 on torch and JAX); each grid moved, in the
same half-decade steps, until every backend's choice above lies inside it:
ERM 3e-3-1e-1, pooling 1e-3-3e-2, FFR's real phase 3e-6-1e-4, every
penalised configuration 0.003-0.1 (`VARIANTS["centred"]`); four trials per
configuration; search seed `protocol.SEARCH_SEED`, never reported. The
trials both grids hold (same settings, seed, configuration, value and
inherited rate) are copied from `ffr.jsonl`, not retrained.

Measured (TensorFlow, 30 seeds, complete 2026-12-07; about 20 s a
trial): ERM keeps 1e-2, now inside its grid (validation 0.066 at 3e-2,
0.000 at 1e-1). FFR's real phase chose 3e-6, the lowest again, on a flat
validation (0.856, 0.838, 0.852 at 3e-6, 1e-5, 3e-5; 0.784 at 1e-4): the
less the real phase moves the synthetic model, the better here, and below
this grid lies a real phase that does nothing, synthetic-only training;
we do not move it further. Pooling chose 3e-2, its highest. FFR - ERM
+0.531 [+0.479, +0.582] (30 of 30 seeds above); FFR - pooled +0.148
[+0.079, +0.216]. Guidance chose 0.1, the grid's highest, on validation
0.906 against 0.902 at 0.03; guidance - FFR +0.010 [-0.002, +0.022] (20
above, 1 level, 9 below): a tie. The fixed weights, paired with FFR on
the same seeds (the report's last column, not verdicts): 0.003 +0.009
[-0.001, +0.020], 0.01 +0.021 [+0.010, +0.032], 0.03 +0.021 [+0.009,
+0.033], 0.1 +0.010 [-0.002, +0.022]: past 0.03 the gain falls, as at
0.3 in `default` (0.823 against 0.863 at 0.1), so the grid's top edge
does not hide a better weight; the single search seed chose the worse of
two weights 0.004 apart on validation. Both ablations chose 0.03, and
there guidance equals them (0.884, 0.884 and 0.883; paired, -0.000
[-0.005, +0.005] and +0.000 [-0.004, +0.005]); at the selected
weights guidance is 0.011 below each ([-0.019, -0.003], reversed): the
penalty helps FFR, where it points does not, as in `default`.

torch and JAX (seeds 0-2 each, 2026-12-07, about 10 minutes each): FFR's
real phase chose 1e-5, inside the grid, on both; FFR - ERM +0.384
[+0.267, +0.501] and +0.505 [+0.165, +0.846]; guidance - FFR +0.005
[-0.003, +0.012] (torch, weight 0.01) and -0.001 [-0.008, +0.007] (JAX,
0.003, the grid's lowest, on validation 0.900 level with 0.03 and 0.1):
ties, as is every comparison with an ablation; no fixed weight differs
from FFR by more than 0.02 on either.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402
import protocol  # noqa: E402

WEIGHTS = (0.01, 0.03, 0.1, 0.3)
RATES = (3e-4, 1e-3, 3e-3, 1e-2)
# Each variant: the grids of ERM, pooling, FFR's real phase and the penalised
# configurations. In `default`, ERM chose 1e-2, its grid's highest, on every
# backend, FFR's real phase 3e-5, its lowest, and several penalised
# configurations 0.01, their lowest (`results/protocol/ffr.md`). `centred`
# moves each grid, in the same steps, until every backend's `default` choice
# lies inside it.
VARIANTS = {
    "default": {"erm": RATES, "pooled": RATES, "ffr": (3e-5, 1e-4, 3e-4, 1e-3), "weights": WEIGHTS},
    "centred": {"erm": (3e-3, 1e-2, 3e-2, 1e-1), "pooled": (1e-3, 3e-3, 1e-2, 3e-2),
                "ffr": (3e-6, 1e-5, 3e-5, 1e-4), "weights": (0.003, 0.01, 0.03, 0.1)},
}


def family(variant="default"):
    """The FFR family of `variant`, one of `VARIANTS`: the same data, settings and seeds, its own grids."""
    protocol.check_variant(VARIANTS, variant)
    grids = VARIANTS[variant]
    return protocol.Family(
        name="ffr" if variant == "default" else f"ffr_{variant}",
        grids={
            "erm": protocol.Grid("learning_rate", grids["erm"]),
            "pooled": protocol.Grid("learning_rate", grids["pooled"]),
            "ffr": protocol.Grid("real_learning_rate", grids["ffr"]),
            **{config: protocol.Grid("guidance_weight", grids["weights"])
               for config in ("ffr_guided", "ffr_random_mask", "ffr_unmasked")},
        },
        metric="worst_group_accuracy",
        comparisons=(
            ("ffr", "erm"), ("ffr", "pooled"),
            ("ffr_guided", "ffr"), ("ffr_guided", "ffr_random_mask"), ("ffr_guided", "ffr_unmasked"),
        ),
        controls=(("ffr", "erm"),),
        labels={
            "erm": "ERM on real",
            "pooled": "real + synthetic pooled",
            "ffr": "FFR (synthetic, then real)",
            "ffr_guided": "FFR + guidance in the synthetic phase",
            "ffr_random_mask": "ablation: random box of the digit's area",
            "ffr_unmasked": "ablation: unmasked penalty",
        },
        full_grid=("ffr_guided",),
        inherit={"ffr_guided": "ffr", "ffr_random_mask": "ffr", "ffr_unmasked": "ffr"},
        defaults={"real_learning_rate": 1e-4},  # `examples/from_fake_to_real.py`'s `run`
        eval_seeds=protocol.EVAL_SEEDS_30,
        settings={"bias": 0.95, "num_train": 1000, "num_val": 2000, "num_test": 2000,
                  "synthetic_per_group": 250, "synthetic_epochs": 10, "real_epochs": 10,
                  "pool_seed": protocol.POOL_SEED},
        paper={("ffr", "erm"): "FFR: up to +20 worst-group points (CelebA, UTKFace, SpuCo)",
               ("ffr_guided", "ffr"): "guidance paper: FFR + guidance above FFR"},
        secondary=("accuracy",),
    )


FAMILY = family()


def data_of(seed, settings):
    import keras_provguide as kpg

    return kpg.datasets.spurious_digits(
        bias=settings["bias"], num_train=settings["num_train"], num_val=settings["num_val"],
        num_test=settings["num_test"], synthetic_per_group=settings["synthetic_per_group"],
        seed=seed, pool_seed=settings["pool_seed"],
    )


def splits_for(config, data, seed):
    """`data` with the synthetic provenance `config` penalises with."""
    import numpy as np

    synthetic = data["synthetic"]
    if config == "ffr_random_mask":
        provenance = common.random_boxes_like(synthetic["provenance"], seed)
    elif config == "ffr_unmasked":
        provenance = np.zeros_like(synthetic["provenance"])
    else:
        return data
    return dict(data, synthetic=dict(synthetic, provenance=provenance))


def worker_trials(trials, settings):
    """Trains each `(seed, config, value)` on the active backend; yields its record."""
    example = common.load_example("from_fake_to_real")

    def train(config, value, data, seed, **inherited):
        run_as = "ffr_guided" if config.startswith("ffr_") else config
        result = example.run(
            run_as, splits_for(config, data, seed), seed=seed,
            synthetic_epochs=settings["synthetic_epochs"], real_epochs=settings["real_epochs"],
            **{FAMILY.grids[config].name: value}, **inherited,
        )
        return {k: result[k] for k in (
            "worst_group_accuracy", "val_worst_group_accuracy", "accuracy", "selected_epoch")}

    return protocol.each_trial(
        trials, lambda seed, config: data_of(seed, settings),
        lambda data, seed: common.border_probe(data["train"], data["test"]), train,
    )


if __name__ == "__main__":
    protocol.main(sys.modules[__name__])
