"""WSOL on digits: CAM, CutMix and ResizeMix, with and without guidance, weights chosen on validation.

The guidance paper's CUB rows on `kpg.datasets.digit_localization`, trained
through `examples/wsol_cutmix_guidance.py` (same model, data and epochs for
every configuration):

- `cam`, `cutmix`, `resizemix`: the baselines;
- `cutmix_guided`, `resizemix_guided`: the two-source guidance penalty with
  the mixing mask as provenance;
- `cutmix_random_mask`: ablation, a random box of the pasted area as
  provenance; `cutmix_unmasked`: ablation, the penalty on the whole image.

Protocol, fixed before any run:

1. Selection. On `--select-seed` only, `cutmix_guided` trains once per
   weight of `--weights` and keeps the weight with the best validation
   MaxBoxAccV2 (a `num_val` split with boxes and its own digits, as
   wsolevaluation selects on its small fully annotated split). Test is
   never looked at. The ablations and `resizemix_guided` take that weight:
   as in the paper's ablations, they change only the mask (or the mix).
2. Evaluation. Every configuration trains on every seed of `--seeds` (the
   penalised ones at their chosen weight; the selection run is reused for
   the selection seed); the last epoch is evaluated on test.

The table gives mean ± std over seeds of MaxBoxAccV2 (CAMs of the true
class, IoU 0.3/0.5/0.7, all contours), MaxBoxAcc at IoU 0.5 and top-1; the
paired per-seed differences of each guided configuration against its
baseline and ablations; and the selection grid. One `(backend, seed, config,
weight)` per process; with `--resume`, runs already in `--output` with the
same settings are kept. `--selection-backend` reuses another backend's
chosen weights (to add a seed on another backend without its own search).

    python benchmarks/wsol_digits.py --resume                 # TensorFlow, 5 seeds
    python benchmarks/wsol_digits.py --backends torch jax --seeds 0 \\
        --selection-backend tensorflow --resume
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402

CONFIGS = (
    "cam", "cutmix", "cutmix_guided", "cutmix_random_mask", "cutmix_unmasked",
    "resizemix", "resizemix_guided",
)
LABELS = {
    "cam": "CAM",
    "cutmix": "CAM + CutMix",
    "cutmix_guided": "CAM + CutMix + guidance",
    "cutmix_random_mask": "ablation: random-box provenance",
    "cutmix_unmasked": "ablation: unmasked penalty",
    "resizemix": "CAM + ResizeMix",
    "resizemix_guided": "CAM + ResizeMix + guidance",
}
HEADLINE = ("max_box_acc_v2", "MaxBoxAccV2")
WEIGHT_LABEL = "weight (chosen on val.)"
TITLE = "WSOL on digits"
COLUMNS = [("max_box_acc_v2", "MaxBoxAccV2"), ("max_box_acc_05", "MaxBoxAcc@0.5"), ("top1_accuracy", "top-1")]
GUIDED = ("cutmix_guided", "cutmix_random_mask", "cutmix_unmasked", "resizemix_guided")
# Configurations that take the weight chosen for another: the ablations change
# only the mask, and ResizeMix the mix, at the weight chosen for CutMix + guidance.
WEIGHT_OF = {
    "cutmix_random_mask": "cutmix_guided",
    "cutmix_unmasked": "cutmix_guided",
    "resizemix_guided": "cutmix_guided",
}
# Paired differences reported: (method, reference).
COMPARISONS = (
    ("cutmix_guided", "cutmix"),
    ("cutmix_guided", "cutmix_random_mask"),
    ("cutmix_guided", "cutmix_unmasked"),
    ("cutmix_guided", "cam"),
    ("resizemix_guided", "resizemix"),
)
METRICS = ("max_box_acc_v2", "max_box_acc_05", "top1_accuracy", "seconds")
# Arguments that change the numbers: a resumed run must match them.
SETTINGS = (
    "epochs", "num_train", "num_val", "num_test", "image_size", "scale_range",
    "batchnorm_momentum",
)


def worker(seed, config, weight, args):
    """Trains one configuration at one guidance weight for one seed on the active backend."""
    example = common.load_example("wsol_cutmix_guidance")
    data = example.load_data(
        args.num_train, args.num_test, args.image_size, seed,
        num_val=args.num_val, scale_range=tuple(args.scale_range),
    )
    result = example.run(
        config, data, seed=seed, epochs=args.epochs, guidance_weight=weight,
        batchnorm_momentum=args.batchnorm_momentum,
    )
    return common.search_run(sys.modules[__name__], seed, config, weight, args, result)


def settings_of(args):
    """The arguments a run's numbers depend on."""
    settings = {key: getattr(args, key) for key in SETTINGS}
    settings["scale_range"] = [float(v) for v in settings["scale_range"]]
    return settings


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_search_arguments(
        parser, CONFIGS, seeds=[0, 1, 2, 3, 4], weights=[0.001, 0.01, 0.03, 0.09],
        output=os.path.join(HERE, "results", "wsol_digits.json"),
    )
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--num-train", type=int, default=1000)
    parser.add_argument("--num-val", type=int, default=300)
    parser.add_argument("--num-test", type=int, default=500)
    parser.add_argument("--image-size", type=int, default=40)
    parser.add_argument("--scale-range", nargs=2, type=float, default=[0.3, 0.6],
                        help="the digit's side as a share of the image side")
    parser.add_argument("--batchnorm-momentum", type=float, default=0.9)
    args = parser.parse_args(argv)
    low, high = args.scale_range
    if (args.epochs < 1 or args.num_train < 64 or args.num_val < 1 or args.num_test < 1
            or args.image_size < 16 or min(args.weights) < 0 or not 0 < low <= high <= 1
            or not 0 <= args.batchnorm_momentum < 1):
        parser.error(
            "expected --epochs >= 1, --num-train >= 64 (one batch), --num-val >= 1, "
            "--num-test >= 1, --image-size >= 16, --weights >= 0, --scale-range "
            "0 < low <= high <= 1 and --batchnorm-momentum in [0, 1), received "
            f"{args.epochs}, {args.num_train}, {args.num_val}, {args.num_test}, "
            f"{args.image_size}, {args.weights}, {args.scale_range}, {args.batchnorm_momentum}"
        )

    return common.run_weight_search(sys.modules[__name__], args)


if __name__ == "__main__":
    main()
