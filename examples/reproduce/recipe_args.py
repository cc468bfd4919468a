"""What the recipes in `examples/reproduce` share: training arguments, their checks, group metrics and tables."""

import numpy as np

import keras_provguide as kpg

NUM_GROUPS = 4  # (label, spurious attribute) pairs of the binary group-robustness benchmarks


def add_training_arguments(parser, epochs, output_dir):
    """`--image-size` ... `--output-dir`, with the recipe's `epochs` and `output_dir` defaults.

    `epochs=None` leaves `--epochs` out (for recipes that count epochs per phase).
    """
    parser.add_argument("--weights", default="imagenet", help="'imagenet', 'none' or a weights file")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    if epochs is not None:
        parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--guidance-weight", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="Keras's fit verbosity")
    parser.add_argument("--output-dir", default=output_dir)


def check_training_arguments(parser, args):
    """Exits through `parser.error` with what was expected and received."""
    epochs = getattr(args, "epochs", 1)
    if (args.image_size < 32 or args.batch_size < 1 or epochs < 1 or args.learning_rate <= 0
            or args.guidance_weight < 0):
        parser.error(
            "expected --image-size >= 32, --batch-size >= 1, --epochs >= 1, --learning-rate > 0 "
            f"and --guidance-weight >= 0, received {args.image_size}, {args.batch_size}, "
            f"{epochs}, {args.learning_rate}, {args.guidance_weight}"
        )
    return args


def group_metrics(train_groups):
    """Worst-group, mean (balanced) and train-weighted average accuracy, and plain accuracy."""
    counts = np.bincount(train_groups, minlength=NUM_GROUPS)
    return [
        kpg.metrics.WorstGroupAccuracy(NUM_GROUPS),
        kpg.metrics.BalancedGroupAccuracy(NUM_GROUPS),
        kpg.metrics.AverageGroupAccuracy(counts),
        "accuracy",
    ]


def print_group_table(title, scores):
    """The test scores of `group_metrics` as a one-row Markdown table."""
    print(f"\n| {title} | worst-group | mean (balanced) | average | accuracy |")
    print("|---|---|---|---|---|")
    print(f"| test | {scores['worst_group_accuracy']:.3f} | {scores['balanced_group_accuracy']:.3f} | "
          f"{scores['average_group_accuracy']:.3f} | {scores['accuracy']:.3f} |")
