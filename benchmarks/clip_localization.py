"""Spatio-temporal localization on moving digits: temporal mixing +- guidance, weights chosen on validation.

The guidance paper's UCF101-24 row (BatchMix + L_PG) on
`kpg.datasets.moving_digits`, trained through `examples/action_localization.py`
(same model, data and epochs for every configuration):

- `plain`, `temporal_mix` (`kpg.layers.ProvenanceTemporalMix`: a segment of a
  partner clip spliced in time): the baselines;
- `temporal_mix_guided`: the two-source penalty, each source's class score
  kept from depending on the other source's frames;
- `temporal_mix_random_mask`: ablation, a random segment of the partner's
  length as provenance; `temporal_mix_unmasked`: ablation, the penalty on
  every frame.

The penalty is averaged over a clip's T x H x W x C elements
(`penalty_reduction="mean"`), so the grid's weights are on another scale
than the image benchmarks' sums: weight `w` here equals `w / (T H W C)`
(`w / 12288` for 4 frames of 32x32x3) under `"sum"`.

Protocol (`common.WeightSearch`, fixed before any run): on `--select-seed`
`temporal_mix_guided` trains once per weight of `--weights` and keeps the
one with the best validation frame localization accuracy (a `num_val` split
with its own digits); the ablations take that weight (they change only the
mask); every configuration then trains on every seed,
the last epoch evaluated on test. Reports clip top-1, frame localization
accuracy (MaxBoxAcc at IoU 0.5 on the frames showing the digit, maps of the
true class) and tube accuracy (tube IoU >= 0.5), mean ± std over seeds, and
paired per-seed differences.

    python benchmarks/clip_localization.py --resume            # TensorFlow, 5 seeds
    python benchmarks/clip_localization.py --backends torch --seeds 0 \\
        --selection-backend tensorflow --resume
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402

CONFIGS = (
    "plain", "temporal_mix", "temporal_mix_guided", "temporal_mix_random_mask",
    "temporal_mix_unmasked",
)
LABELS = {
    "plain": "plain",
    "temporal_mix": "temporal mix",
    "temporal_mix_guided": "temporal mix + guidance",
    "temporal_mix_random_mask": "ablation: random-segment provenance",
    "temporal_mix_unmasked": "ablation: unmasked penalty",
}
HEADLINE = ("frame_accuracy", "frame loc. acc.")
WEIGHT_LABEL = "weight (mean reduction, chosen on val.)"
TITLE = "Clip localization"
COLUMNS = [("frame_accuracy", "frame loc. acc."), ("tube_accuracy", "tube acc."), ("top1_accuracy", "clip top-1")]
GUIDED = ("temporal_mix_guided", "temporal_mix_random_mask", "temporal_mix_unmasked")
# The ablations change only the mask, at the weight chosen for the method.
WEIGHT_OF = {
    "temporal_mix_random_mask": "temporal_mix_guided",
    "temporal_mix_unmasked": "temporal_mix_guided",
}
COMPARISONS = (
    ("temporal_mix_guided", "temporal_mix"),
    ("temporal_mix_guided", "temporal_mix_random_mask"),
    ("temporal_mix_guided", "temporal_mix_unmasked"),
    ("temporal_mix_guided", "plain"),
)
METRICS = ("frame_accuracy", "tube_accuracy", "top1_accuracy", "seconds")
# Arguments that change the numbers: a resumed run must match them.
SETTINGS = (
    "epochs", "num_train", "num_val", "num_test", "num_frames", "batch_size",
    "penalty_reduction", "batchnorm_momentum",
)


def worker(seed, config, weight, args):
    """Trains one configuration at one guidance weight for one seed on the active backend."""
    example = common.load_example("action_localization")
    data = example.load_data(
        args.num_train, args.num_test, args.num_frames, seed=seed, num_val=args.num_val
    )
    result = example.run(
        config, data, seed=seed, epochs=args.epochs, batch_size=args.batch_size,
        guidance_weight=weight, penalty_reduction=args.penalty_reduction,
        batchnorm_momentum=args.batchnorm_momentum,
    )
    return common.search_run(sys.modules[__name__], seed, config, weight, args, result)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_search_arguments(
        parser, CONFIGS, seeds=[0, 1, 2, 3, 4], weights=[1.0, 3.0, 10.0, 100.0, 1000.0],
        output=os.path.join(HERE, "results", "clip_localization.json"),
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--num-train", type=int, default=600, help="training clips")
    parser.add_argument("--num-val", type=int, default=200)
    parser.add_argument("--num-test", type=int, default=300)
    parser.add_argument("--num-frames", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--penalty-reduction", choices=("sum", "mean"), default="mean")
    parser.add_argument("--batchnorm-momentum", type=float, default=0.9)
    args = parser.parse_args(argv)
    if (args.epochs < 1 or args.num_train < args.batch_size or args.batch_size < 1
            or args.num_val < 1 or args.num_test < 1 or args.num_frames < 2
            or min(args.weights) < 0 or not 0 <= args.batchnorm_momentum < 1):
        parser.error(
            "expected --epochs >= 1, --batch-size >= 1, --num-train >= --batch-size, "
            "--num-val >= 1, --num-test >= 1, --num-frames >= 2, --weights >= 0 and "
            "--batchnorm-momentum in [0, 1), received "
            f"{args.epochs}, {args.batch_size}, {args.num_train}, {args.num_val}, "
            f"{args.num_test}, {args.num_frames}, {args.weights}, {args.batchnorm_momentum}"
        )

    return common.run_weight_search(sys.modules[__name__], args)


if __name__ == "__main__":
    main()
