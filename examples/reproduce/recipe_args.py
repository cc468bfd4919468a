"""What the recipes in `examples/reproduce` share: training arguments, their checks, group metrics and tables."""

import os

import numpy as np

import keras_provguide as kpg

NUM_GROUPS = 4  # (label, spurious attribute) pairs of the binary group-robustness benchmarks


def add_training_arguments(parser, epochs, output_dir):
    """`--image-size` ... `--output-dir`, with the recipe's `epochs` and `output_dir` defaults.

    `epochs=None` leaves `--epochs` out (for recipes that count epochs per phase).
    """
    parser.add_argument("--weights", default="imagenet",
                        help="'imagenet' (downloaded once into Keras's cache, $KERAS_HOME/models or "
                             "~/.keras/models), 'none' (random) or a weights file")
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
    if args.weights not in ("imagenet", "none") and not os.path.isfile(args.weights):
        parser.error(f"expected --weights imagenet, none or a weights file, received {args.weights!r} (no such file)")
    return args


def classifier_backbone(name, shape, weights):
    """`--backbone`: `kpg.models.resnet50` with `--weights`, or `small_resnet` (random) for smoke runs."""
    if name == "resnet50":
        return kpg.models.resnet50(shape, weights=None if weights == "none" else weights)
    # ResNet-50 from random weights on 0-255 inputs diverges at the smoke tests' sizes.
    return kpg.models.small_resnet(shape, batchnorm_momentum=0.9)


def keras_cache():
    """Where Keras keeps the weights it downloads: `$KERAS_HOME/models`, by default `~/.keras/models`."""
    return os.path.join(os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras")), "models")


def check_weights(weights, build):
    """Exits when `--weights imagenet` can be neither found in Keras's cache nor downloaded.

    Recipes call it first, so that an offline run stops before it reads any
    data. `build(input_shape, weights)` builds the recipe's backbone; here at
    32x32, with `"imagenet"`: Keras looks in its cache and downloads the
    file if it is not there, exactly as the run would.
    """
    if weights != "imagenet":
        return
    try:
        build((32, 32, 3), "imagenet")
    except Exception as error:  # Keras raises a bare Exception on a failed download ("URL fetch failure ...")
        raise SystemExit(
            f"error: cannot get the ImageNet weights ({type(error).__name__}: {error}).\n"
            "Keras downloads them once and keeps them in its cache, "
            f"{keras_cache()} ($KERAS_HOME/models, by default ~/.keras/models). To proceed, either:\n"
            "  - run once with network access, or copy the file named above into that folder;\n"
            "  - pass --weights <file>: that file, or another weights file of this backbone, anywhere on disk;\n"
            "  - or pass --weights none to train from random weights."
        ) from None


def class_count(labels, num_classes=None, why=None):
    """`num_classes`, or one more than the largest label, checked against every label before training.

    `labels` is `{where: int labels}`, every split and every source of a
    run, so that a class seen in one split only still counts; a label
    outside `[0, num_classes)` is a `ValueError` naming where it is and
    `why` the classes are what they are (default: `--num-classes`).
    """
    found = {where: (int(np.min(values)), int(np.max(values))) for where, values in labels.items() if len(values)}
    if num_classes is None:
        num_classes = max(high for _, high in found.values()) + 1
    for where, (low, high) in found.items():
        if low < 0 or high >= num_classes:
            raise ValueError(
                f"{where}: expected labels in [0, {num_classes - 1}] ({why or f'--num-classes {num_classes}'}), "
                f"received {low if low < 0 else high}."
            )
    return num_classes


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
