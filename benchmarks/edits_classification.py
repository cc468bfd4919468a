"""Classification from generative edits: does provenance guidance on ALIA-style edits help?

The guidance paper's Waterbirds / iWildCam / CUB rows, on `kpg.datasets.edited_digits`:
real training images whose background predicts the label (bias 0.95), one
background edit of each by an imperfect editor, provenance recovered from the
pixels by Otsu (`kpg.layers.edit_provenance`), group-balanced real validation
and test sets. Configurations (same CNN, steps and selection for all):

- `oracle`: a reference, not a method: ERM on a group-balanced real training
  set of the same size (bias 0.5), what the construction allows at best;
- `erm`: ERM on the real images;
- `alia`: real + edited images pooled (ALIA);
- `guided`: the same, with the penalty on the edited images, Otsu provenance;
- `guided_true_mask`: the penalty with the true digit mask as provenance
  (a diagnostic: does better provenance than Otsu's change anything?);
- `random_mask`: ablation, a random box of the Otsu mask's area as provenance;
- `unmasked`: ablation, the penalty on the whole edited image.

Protocol, fixed before any run: for each seed, every penalised configuration
trains once per weight of `--weights`; the weight with the best validation
worst-group accuracy is kept (test is never looked at), and within a run the
epoch with the best validation worst-group accuracy. Test metrics: worst-group
accuracy, mean accuracy (= balanced, the test set is group-balanced) and the
"average accuracy" of group-robustness papers (group accuracies weighted by
the real training set's group shares). Paired per-seed differences against
`alia` and each ablation. One `(backend, seed, config)` per process; with
`--resume`, runs already in `--output` with the same settings are kept.

    python benchmarks/edits_classification.py --resume                    # torch, 5 seeds
    python benchmarks/edits_classification.py --backends jax tensorflow --seeds 0 --resume
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402

CONFIGS = ("oracle", "erm", "alia", "guided", "guided_true_mask", "random_mask", "unmasked")
LABELS = {
    "oracle": "reference: ERM on group-balanced real data",
    "erm": "ERM on real",
    "alia": "real + edits pooled (ALIA)",
    "guided": "ALIA + guidance (Otsu provenance)",
    "guided_true_mask": "ALIA + guidance (true digit mask)",
    "random_mask": "ablation: random box of the same area",
    "unmasked": "ablation: unmasked penalty",
}
PENALISED = ("guided", "guided_true_mask", "random_mask", "unmasked")
NUM_GROUPS = 4
METRICS = ("worst_group_accuracy", "accuracy", "average_accuracy")
# Arguments that change the numbers: a resumed run must match them.
SETTINGS = ("epochs", "bias", "num_train", "batch_size", "weights", "batchnorm_momentum")


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


def train_one(config, data, seed, weight, epochs, batch_size, batchnorm_momentum):
    """Trains `config` at guidance `weight`; returns the best-validation epoch's scores."""
    import time

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
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x, y = training_set(config, data, seed)
    # Every configuration takes the same number of steps: one pass over
    # real + edited images per epoch.
    steps = int(np.ceil(2 * len(data["train"]["labels"]) / batch_size))
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
    """How well Otsu recovers the digit: IoU, the digit's recall, the share of pixels kept."""
    import numpy as np

    kept = edited["provenance"][..., 0] > 0.5
    digit = edited["object_masks"][..., 0] > 0.5
    inter = (kept & digit).sum((1, 2))
    union = np.maximum((kept | digit).sum((1, 2)), 1)
    return {
        "iou": float(np.mean(inter / union)),
        "digit_recall": float(inter.sum() / max(digit.sum(), 1)),
        "kept_share": float(kept.mean()),
        "digit_share": float(digit.mean()),
    }


def worker(seed, config, args):
    """All weights of `config` for one seed; the validation-selected one is marked."""
    import keras_provguide as kpg

    data = kpg.datasets.edited_digits(bias=args.bias, num_train=args.num_train, seed=seed)
    if config == "oracle":
        data["balanced_train"] = kpg.datasets.edited_digits(
            bias=0.5, num_train=args.num_train, seed=seed
        )["train"]
    weights = args.weights if config in PENALISED else [0.0]
    trials = [
        train_one(
            config, data, seed, w, args.epochs, args.batch_size, args.batchnorm_momentum
        )
        for w in weights
    ]
    chosen = max(range(len(trials)), key=lambda i: trials[i]["val_worst_group_accuracy"])
    return {
        "seed": seed, "config": config, "settings": settings_of(args),
        "device": common.device_name(), "trials": trials, "selected": trials[chosen],
        "provenance_quality": provenance_quality(data["edited"]),
    }


def settings_of(args):
    return {key: getattr(args, key) for key in SETTINGS}


def summarise(runs, backend, configs):
    """Mean ± std over seeds per configuration, and paired differences of `guided`."""
    import numpy as np

    by_seed = {}
    for run in runs:
        by_seed.setdefault(run["seed"], {})[run["config"]] = run["selected"]
    seeds = sorted(s for s, done in by_seed.items() if all(c in done for c in configs))
    rows = []
    for config in configs:
        row = {"backend": backend, "config": LABELS[config], "seeds": len(seeds)}
        for key in METRICS + ("weight",):
            values = [by_seed[s][config][key] for s in seeds]
            if values:
                row[key], row[key + "_std"] = float(np.mean(values)), float(np.std(values))
                row[key + "_text"] = f"{row[key]:.3f} ± {row[key + '_std']:.3f}"
        row["per_seed"] = [by_seed[s][config]["worst_group_accuracy"] for s in seeds]
        row["weights_chosen"] = [by_seed[s][config]["weight"] for s in seeds]
        rows.append(row)
    differences = []
    if "guided" in configs:
        for reference in ("alia", "random_mask", "unmasked", "guided_true_mask", "erm"):
            if reference not in configs:
                continue
            values = common.paired_differences(
                [by_seed[s] for s in seeds], "worst_group_accuracy", "guided", reference
            )
            differences.append({
                "backend": backend, "comparison": f"guided - {reference}",
                "per_seed": [round(v, 4) for v in values],
                "mean": float(np.mean(values)) if values else None,
                "std": float(np.std(values)) if values else None,
            })
    return rows, differences


def _matching(done, settings, seed, config):
    return [r for r in done if (r["seed"], r["config"], r["settings"]) == (seed, config, settings)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["torch"], choices=common.BACKENDS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--bias", type=float, default=0.95)
    parser.add_argument("--num-train", type=int, default=600, help="real training images")
    parser.add_argument("--batchnorm-momentum", type=float, default=0.9,
                        help="Keras momentum of the CNN's BatchNorm (0.9 = PyTorch's default)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--weights", nargs="+", type=float, default=[0.01, 0.03, 0.09],
                        help="the guidance weights tried; one is chosen per seed on validation")
    parser.add_argument("--resume", action="store_true", help="keep runs already in --output")
    parser.add_argument("--output", default=os.path.join(HERE, "results", "edits_classification.json"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if (args.epochs < 1 or args.batch_size < 1 or args.num_train < 2
            or not 0.5 <= args.bias <= 1 or min(args.weights) < 0
            or not 0 <= args.batchnorm_momentum < 1):
        parser.error(
            "expected --epochs >= 1, --batch-size >= 1, --num-train >= 2, --bias in [0.5, 1], "
            "--weights >= 0 and --batchnorm-momentum in [0, 1), received "
            f"{args.epochs}, {args.batch_size}, {args.num_train}, {args.bias}, "
            f"{args.weights}, {args.batchnorm_momentum}"
        )

    if args.worker:
        print(json.dumps(worker(args.seeds[0], args.configs[0], args)))
        return None

    script = os.path.abspath(__file__)
    settings = settings_of(args)
    shared = ["--epochs", str(args.epochs), "--bias", str(args.bias),
              "--num-train", str(args.num_train), "--batch-size", str(args.batch_size),
              "--batchnorm-momentum", str(args.batchnorm_momentum),
              "--weights", *map(str, args.weights)]
    runs = common.earlier_runs(args.output) if args.resume else {}
    for backend in args.backends:
        done = runs.setdefault(backend, [])
        for seed in args.seeds:
            for config in args.configs:
                if not _matching(done, settings, seed, config):
                    done.append(common.run_worker(
                        script, backend, shared + ["--seeds", str(seed), "--configs", config]
                    ))
                    common.write_json(args.output, {
                        "environment": common.environment(), "settings": settings, "runs": runs,
                    })
    # The report covers every backend in the file with these settings, so
    # runs of other backends added later (`--backends jax --resume`) join it.
    rows, differences, current = [], [], {}
    for backend, done in runs.items():
        current[backend] = [
            run for run in done if run["settings"] == settings and run["config"] in args.configs
        ]
        backend_rows, backend_differences = summarise(current[backend], backend, args.configs)
        rows += [row for row in backend_rows if row["seeds"]]
        differences += backend_differences
    common.write_report(
        args.output, render(rows, differences, current), rows, "Edits classification",
        lambda row: row["config"],
    )
    common.write_results(args.output, runs, settings=settings, rows=rows, differences=differences)
    return rows, differences


def render(rows, differences, runs):
    """The Markdown tables: configurations, paired differences, provenance quality."""
    table = common.markdown_table(rows, [
        ("backend", "backend", "{}"),
        ("config", "configuration", "{}"),
        ("seeds", "seeds", "{}"),
        ("worst_group_accuracy_text", "worst-group acc.", "{}"),
        ("accuracy_text", "mean acc.", "{}"),
        ("average_accuracy_text", "average acc. (train-weighted)", "{}"),
        ("weights_chosen", "weight chosen on val., per seed", "{}"),
    ])
    for difference in differences:
        difference["text"] = (
            "–" if difference["mean"] is None
            else f"{difference['mean']:+.3f} ± {difference['std']:.3f}"
        )
    paired = common.markdown_table(differences, [
        ("backend", "backend", "{}"),
        ("comparison", "paired difference (worst-group)", "{}"),
        ("text", "mean ± std", "{}"),
        ("per_seed", "per seed", "{}"),
    ])
    quality = []
    for backend, backend_runs in runs.items():
        seen = {}
        for run in backend_runs:
            seen.setdefault(run["seed"], run["provenance_quality"])
        for seed, q in sorted(seen.items()):
            quality.append({"backend": backend, "seed": seed, **q})
    recovered = common.markdown_table(quality, [
        ("backend", "backend", "{}"), ("seed", "seed", "{}"),
        ("iou", "IoU(Otsu, digit)", "{:.3f}"), ("digit_recall", "digit pixels kept", "{:.3f}"),
        ("kept_share", "image share kept", "{:.3f}"), ("digit_share", "digit share", "{:.3f}"),
    ])
    return "\n\n".join([table, paired, recovered])


if __name__ == "__main__":
    main()
