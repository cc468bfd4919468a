"""WSOL on digits under the protocol: CAM, CutMix and ResizeMix, with and without guidance, and both ablations.

The guidance paper's CUB rows on `kpg.datasets.digit_localization`, trained
through `examples/wsol_cutmix_guidance.py` (the same CAMLocalizer, data and
20 epochs for every configuration; the last epoch is evaluated):

- `cam`, `cutmix`, `resizemix`: the baselines, each over Adam's learning
  rate (3e-4, 1e-3, 3e-3, 1e-2);
- `cutmix_guided`, `resizemix_guided`: the two-source penalty with the mixing
  mask as provenance, each over its own weight grid (0.001, 0.01, 0.03, 0.09);
- `cutmix_random_mask`: ablation, a random box of the pasted area as
  provenance; `cutmix_unmasked`: ablation, the penalty on the whole image;
  each over its own weight grid.

Four trials per configuration on the search seed, chosen on validation
MaxBoxAccV2 (`protocol.py`); a penalised configuration trains at the
learning rate its mix (`cutmix` or `resizemix`) chose.

Two constructions, two stores (`--variant`):

- `objects` (family `wsol`): objects at a CUB-like share of the image. The
  digit's side is drawn from 0.37-0.77 of the image side: the 10th-90th
  percentiles of sqrt(box area / image area) over wsolevaluation's CUB test
  boxes (5,794 images, median 0.56; metadata of clovaai/wsolevaluation at
  96f4b88, measured 2026-12-05). The earlier 0.3-0.6 made objects smaller
  than CUB's.
- `background` (family `wsol_background`): the same, with backgrounds tinted
  by a class colour on 90% of training images (a random one's at test), so
  the background predicts the class as Decoy's swatch does. If guidance is
  to separate from its ablations anywhere, it is here.

Pools (fixed by `protocol.POOL_SEED`): class-balanced validation and test sets
of 5,000 images each (500 per class), from digits no training image uses.

Seeds, fixed before the first run under this protocol: evaluation seeds 0-9
on TensorFlow, 0-2 on torch and JAX; `cutmix_guided` trains every weight on
every seed. The positive controls train first: the border-colour probe, and
CutMix against CAM (a mix must not be below plain: the run stops if its
interval lies below zero).

    python benchmarks/wsol_digits.py --configs cam cutmix resizemix    # the controls, TensorFlow, about 2 hours
    python benchmarks/wsol_digits.py                                   # the rest, about 3 hours more (resumable)
    python benchmarks/wsol_digits.py --variant background              # the background construction

Each trial is stored as it finishes, so any part resumes.

Measured on this 2-core CPU (TensorFlow, 2026-12-05), `objects`: the
controls stage (CAM and CutMix over the search and 10 seeds, 38 trials)
took 40 minutes of trial time, 70-90 s a trial before MaxBoxAcc scored all
thresholds in one pass. It failed: CutMix - CAM -0.031 [-0.061, -0.002]
MaxBoxAccV2 (3 seeds of 10 above), CutMix's top-1 0.690 against CAM's
0.779 after 20 epochs on 1,000 images; the border probe is at chance
(train 0.127, test 0.105), as it should be where no shortcut was built. By
the protocol, guidance is not judged on `objects`; the `background`
construction is next.

Is it under-training? A pilot on the search seed, validation pool only
(TensorFlow, 2026-12-06, one trial each at the chosen learning rate 1e-3,
50 epochs as wsolevaluation trains CUB): CAM 0.559 MaxBoxAccV2 (top-1
0.878), CutMix 0.506 (top-1 0.669), against 0.552 and 0.506 at 20 epochs.
More epochs leave the gap where it was, so `objects` keeps its 20 epochs.
The published figures order them the same way: wsolevaluation's CAM scores
63.7 on CUB VGG16 and the guidance paper's CutMix baseline 62.3 (ResizeMix
57.6). A mix below plain is the paper's own setting on CUB, so no
construction faithful to it passes "not below plain"; what guidance would
have to show there is recovering what the mix lost, which the protocol
judges on `background`, where the control passes.

`background`, same day: controls complete on 10 seeds, the search of
every configuration, and seeds 0-5 of the rest (about 16 minutes a seed).
Those guided trials trained at 1e-3 while CutMix chose 3e-3 and ResizeMix
1e-2, so they are history (`results/protocol/wsol_background_penalised_at_default_rate.md`:
guidance - CutMix -0.004 [-0.017, +0.009], ResizeMix + guidance - ResizeMix
-0.035 [-0.057, -0.014] on 6 seeds); the guided configurations are rerun
at their mix's rate. Every guided trial's top-1 was at chance (0.107).
The border probe scores 0.908 on train and 0.107 at test
(chance 0.1): the shortcut is real. CutMix - CAM -0.009 [-0.044, +0.025]
(5 above, 5 below): the control passes (not below), so guidance is judged
here when its seeds have run. What was measured says what to expect:

- every model's test top-1 is at chance (CAM 0.109, CutMix 0.108, and
  each guided trial so far 0.107): on this construction the models learn
  the background and not the digit;
- CutMix's box provenance cannot forbid that: each source's own region
  holds its own background, which the two-source penalty allows it to
  read. Guidance here guards against reading the partner's pixels, not
  against the background shortcut. A construction that tests the latter
  needs provenance marking the background as non-target (the digit mask
  within each source), which the paper's WSOL rows do not use;
- the search chose the top of the grid (0.09) for every penalised
  configuration: a grid above 0.09, registered before its run, is left.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402
import protocol  # noqa: E402

RATES = (3e-4, 1e-3, 3e-3, 1e-2)
WEIGHTS = (0.001, 0.01, 0.03, 0.09)
PENALISED = ("cutmix_guided", "cutmix_random_mask", "cutmix_unmasked", "resizemix_guided")
LABELS = {
    "cam": "CAM",
    "cutmix": "CAM + CutMix",
    "cutmix_guided": "CAM + CutMix + guidance",
    "cutmix_random_mask": "ablation: random-box provenance",
    "cutmix_unmasked": "ablation: unmasked penalty",
    "resizemix": "CAM + ResizeMix",
    "resizemix_guided": "CAM + ResizeMix + guidance",
}
SETTINGS = {"epochs": 20, "num_train": 1000, "num_val": 5000, "num_test": 5000, "image_size": 40,
            "scale_range": [0.37, 0.77], "batchnorm_momentum": 0.9, "pool_seed": protocol.POOL_SEED,
            "background_bias": None}


VARIANTS = ("objects", "background")


def family(variant="objects"):
    """The WSOL family of `variant` (`"objects"` or `"background"`)."""
    protocol.check_variant(VARIANTS, variant)
    return protocol.Family(
        name="wsol" if variant == "objects" else "wsol_background",
        grids=protocol.tuned_grids(LABELS, PENALISED, WEIGHTS, RATES),
        metric="max_box_acc_v2",
        comparisons=(
            ("cutmix", "cam"), ("cutmix_guided", "cutmix"), ("cutmix_guided", "cutmix_random_mask"),
            ("cutmix_guided", "cutmix_unmasked"), ("cutmix_guided", "cam"), ("resizemix_guided", "resizemix"),
        ),
        controls=(("cutmix", "cam"),),
        labels=LABELS,
        full_grid=("cutmix_guided",),
        inherit={"cutmix_guided": "cutmix", "cutmix_random_mask": "cutmix", "cutmix_unmasked": "cutmix",
                 "resizemix_guided": "resizemix"},
        defaults={"learning_rate": 1e-3},  # `examples/wsol_cutmix_guidance.py`'s `run`
        settings=dict(SETTINGS, background_bias=None if variant == "objects" else 0.9),
        paper={("cutmix_guided", "cutmix"): "CUB VGG16 MaxBoxAccV2 62.3 → 65.1 (CutMix)",
               ("resizemix_guided", "resizemix"): "CUB VGG16 MaxBoxAccV2 57.6 → 62.2 (ResizeMix)",
               ("cutmix_guided", "cutmix_random_mask"): "random mask 60.5 vs 65.1",
               ("cutmix_guided", "cutmix_unmasked"): "unmasked 61.1 vs 65.1"},
        secondary=("top1_accuracy", "max_box_acc_05"),
        control_rule="not_below",
    )


FAMILY = family()


def data_of(seed, settings):
    example = common.load_example("wsol_cutmix_guidance")
    return example.load_data(
        settings["num_train"], settings["num_test"], settings["image_size"], seed,
        num_val=settings["num_val"], scale_range=tuple(settings["scale_range"]),
        pool_seed=settings["pool_seed"], background_bias=settings["background_bias"],
    )


def worker_trials(trials, settings):
    """Trains each `(seed, config, value)` on the active backend; yields its record."""
    example = common.load_example("wsol_cutmix_guidance")

    def train(config, value, data, seed, **inherited):
        options = {"guidance_weight": value} if config in PENALISED else {"learning_rate": value}
        result = example.run(config, data, seed=seed, epochs=settings["epochs"],
                             batchnorm_momentum=settings["batchnorm_momentum"], **options, **inherited)
        return {k: v for k, v in result.items() if k != "seconds"}

    return protocol.each_trial(
        trials, lambda seed, config: data_of(seed, settings),
        lambda data, seed: common.border_probe(data["train"], data["test"]), train,
    )


if __name__ == "__main__":
    protocol.main(sys.modules[__name__])
