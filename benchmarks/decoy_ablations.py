"""Decoy digits: guidance against its ablations over seeds, the weight chosen on validation.

The prior art's table (Ross et al. 2017, Decoy-MNIST) on
`kpg.datasets.decoy_digits`, trained through `examples/decoy_digits.py`
(the same MLP, data and epochs for every configuration):

- `plain`: no penalty;
- `guided`: the penalty off the digit, i.e. on the decoy swatch that
  provenance marks;
- `random_mask`: ablation, the penalty on a random 4x4 square (the
  swatch's area);
- `unmasked`: ablation, the penalty on every pixel.

Protocol (`common.WeightSearch`, fixed before any run): on `--select-seed`
`guided` trains once per weight of `--weights` and keeps the one with the
best validation accuracy (a `num_val` split of held-out digits whose swatch
is random, as at test); the ablations take that weight; every configuration
then trains on every seed and is evaluated on test. Reports test accuracy
and the share of input-gradient energy on the swatch, mean ± std over seeds,
and paired per-seed differences.

    python benchmarks/decoy_ablations.py --resume                  # TensorFlow, 5 seeds
    python benchmarks/decoy_ablations.py --backends torch jax --seeds 0 \\
        --selection-backend tensorflow --resume
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402

CONFIGS = ("plain", "guided", "random_mask", "unmasked")
LABELS = {
    "plain": "plain",
    "guided": "guidance (swatch as non-target)",
    "random_mask": "ablation: random-square provenance",
    "unmasked": "ablation: unmasked penalty",
}
HEADLINE = ("accuracy", "accuracy")
WEIGHT_LABEL = "weight (chosen on val.)"
TITLE = "Decoy digits"
COLUMNS = [("accuracy", "test accuracy"), ("decoy_share", "gradient share on swatch")]
GUIDED = ("guided", "random_mask", "unmasked")
# The ablations change only the mask, at the weight chosen for the method.
WEIGHT_OF = {"random_mask": "guided", "unmasked": "guided"}
COMPARISONS = (("guided", "plain"), ("guided", "random_mask"), ("guided", "unmasked"))
METRICS = ("accuracy", "decoy_share", "seconds")
# Arguments that change the numbers: a resumed run must match them.
SETTINGS = ("epochs", "num_train", "num_val")


def worker(seed, config, weight, args):
    """Trains one configuration at one guidance weight for one seed on the active backend."""
    import keras_provguide as kpg

    example = common.load_example("decoy_digits")
    data = kpg.datasets.decoy_digits(num_train=args.num_train, seed=seed, num_val=args.num_val)
    result = example.run(config, data, seed=seed, epochs=args.epochs, guidance_weight=weight)
    result.pop("model")
    return common.search_run(sys.modules[__name__], seed, config, weight, args, result)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_search_arguments(
        parser, CONFIGS, seeds=[0, 1, 2, 3, 4], weights=[0.1, 1.0, 10.0, 100.0],
        output=os.path.join(HERE, "results", "decoy_ablations.json"),
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--num-train", type=int, default=1200)
    parser.add_argument("--num-val", type=int, default=200)
    args = parser.parse_args(argv)
    if (args.epochs < 1 or args.num_train < 1 or args.num_val < 1
            or args.num_train + args.num_val > 1796 or min(args.weights) < 0):
        parser.error(
            "expected --epochs >= 1, --num-train >= 1, --num-val >= 1 with "
            "--num-train + --num-val <= 1796 (scikit-learn has 1797 digits; one is left "
            f"for test) and --weights >= 0, received {args.epochs}, {args.num_train}, "
            f"{args.num_val}, {args.weights}"
        )

    return common.run_weight_search(sys.modules[__name__], args)


if __name__ == "__main__":
    main()
