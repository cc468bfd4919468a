"""Why From Fake to Real varies between seeds on spurious digits, measured candidate by candidate.

Runs `examples/from_fake_to_real.py`'s configurations (`ffr`, `ffr_guided`,
`ffr_dfr` by default) over seeds, for each BatchNorm momentum of
`--momenta`, and records every epoch's validation and test worst-group
accuracy. Test curves are for diagnosis only: model selection stays on
validation, as in the example. Per configuration and momentum the table gives:

- the selected model's test worst-group accuracy, mean ± std over seeds;
- `after synthetic`: test worst-group accuracy at the end of the synthetic
  phase (is pre-training itself unstable?);
- `selection gap`: the best test worst-group accuracy over epochs minus the
  selected one (does a small validation set pick badly?);
- `epoch jitter`: the std of test worst-group accuracy over the real phase's
  epochs (does the model swing from epoch to epoch?);
- `drift`: last epoch minus end of synthetic phase (does real fine-tuning
  drift back to the shortcut?).

The guidance weight of `ffr_guided` is chosen per momentum on validation
(never test): on `--select-seed` it trains once per weight of `--weights`
and keeps the one whose selected epoch has the best validation worst-group
accuracy (ties to the smaller weight); every seed then runs at that weight.
`--selection-backend` reuses another backend's choice.

    python benchmarks/ffr_stability.py --resume                 # torch, 5 seeds
    python benchmarks/ffr_stability.py --backends jax tensorflow --seeds 0 \\
        --selection-backend torch --resume
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402

CONFIGS = ("ffr", "ffr_guided", "ffr_dfr")
SETTINGS = ("synthetic_epochs", "real_epochs", "bias")
GUIDED = "ffr_guided"


def worker(seed, config, momentum, weight, args):
    """One run at guidance weight `weight` with per-epoch validation and test worst-group accuracy."""
    import keras_provguide as kpg

    example = common.load_example("from_fake_to_real")
    splits = kpg.datasets.spurious_digits(bias=args.bias, seed=seed)
    x_test, y_test = example.inputs(splits["test"])
    curve = []
    result = example.run(
        config, splits, seed=seed, synthetic_epochs=args.synthetic_epochs,
        real_epochs=args.real_epochs, guidance_weight=weight,
        batchnorm_momentum=momentum, callbacks=[common.worst_group_curve(x_test, y_test, curve)],
    )
    return {
        "seed": seed, "config": config, "momentum": momentum,
        "weight": weight if config == GUIDED else 0.0,
        "settings": {key: getattr(args, key) for key in SETTINGS},
        "device": common.device_name(), "result": result, "curve": curve,
    }


def diagnostics(run, synthetic_epochs):
    """The per-run quantities of the table, from its curve and result."""
    import numpy as np

    test = np.asarray([point["test"] for point in run["curve"]])
    real_phase = test[synthetic_epochs:]
    return {
        "worst_group_accuracy": run["result"]["worst_group_accuracy"],
        "after_synthetic": float(test[synthetic_epochs - 1]),
        "selection_gap": float(test.max() - test[run["result"]["selected_epoch"]]),
        "epoch_jitter": float(real_phase.std()),
        "drift": float(test[-1] - test[synthetic_epochs - 1]),
    }


def upgraded(run):
    """`run` in the current layout: runs from before the weight search kept the
    guidance weight in their settings, whatever their configuration."""
    if "weight" in run:
        return run
    settings = dict(run["settings"])
    weight = settings.pop("guidance_weight")
    return dict(run, settings=settings, weight=weight if run["config"] == GUIDED else 0.0)


def find(done, seed, config, momentum, weight, settings):
    """The run of `done` with these coordinates, or None."""
    for run in done:
        if (run["seed"], run["config"], run["momentum"], run["weight"], run["settings"]) == (
                seed, config, momentum, weight, settings):
            return run
    return None


def chosen_weights(done, select_seed, momenta, weights, settings):
    """Per momentum, the weight of `weights` whose `ffr_guided` run on `select_seed`
    has the best validation worst-group accuracy (ties to the smaller); None
    where a run is missing."""
    chosen = {}
    for momentum in momenta:
        trials = [find(done, select_seed, GUIDED, momentum, w, settings) for w in sorted(weights)]
        if all(trials):
            best = max(range(len(trials)),
                       key=lambda i: (trials[i]["result"]["val_worst_group_accuracy"], -i))
            chosen[momentum] = sorted(weights)[best]
        else:
            chosen[momentum] = None
    return chosen


def search_rows(done, backend, select_seed, momenta, weights, settings, chosen):
    """One row per searched weight: its validation and (for the record) test worst-group."""
    rows = []
    for momentum in momenta:
        for weight in sorted(weights):
            run = find(done, select_seed, GUIDED, momentum, weight, settings)
            if run is not None:
                rows.append({
                    "backend": backend, "momentum": momentum, "weight": weight,
                    "val": run["result"]["val_worst_group_accuracy"],
                    "mark": "chosen" if chosen.get(momentum) == weight else "",
                })
    return rows


KEYS = ("worst_group_accuracy", "after_synthetic", "selection_gap", "epoch_jitter", "drift")


def summarise(runs, backend, synthetic_epochs):
    import numpy as np

    groups = {}
    for run in runs:
        groups.setdefault((run["config"], run["momentum"]), []).append(run)
    rows = []
    for (config, momentum), mine in sorted(groups.items()):
        values = [diagnostics(run, synthetic_epochs) for run in mine]
        row = {"backend": backend, "config": config, "momentum": momentum, "seeds": len(mine)}
        for key in KEYS:
            numbers = [v[key] for v in values]
            row[key], row[key + "_std"] = float(np.mean(numbers)), float(np.std(numbers))
            row[key + "_text"] = f"{row[key]:.3f} ± {row[key + '_std']:.3f}"
        row["per_seed"] = [round(v["worst_group_accuracy"], 3) for v in values]
        rows.append(row)
    return rows


def paired(runs, backend):
    """Per-seed differences `ffr_guided - ffr` and `ffr_dfr - ffr`, per momentum."""
    import numpy as np

    table = {}
    for run in runs:
        table.setdefault((run["momentum"], run["seed"]), {})[run["config"]] = (
            run["result"]["worst_group_accuracy"]
        )
    rows = []
    for momentum in sorted({m for m, _ in table}):
        for method in ("ffr_guided", "ffr_dfr"):
            values = [
                done[method] - done["ffr"]
                for (m, _), done in sorted(table.items())
                if m == momentum and method in done and "ffr" in done
            ]
            if values:
                rows.append({
                    "backend": backend, "momentum": momentum, "comparison": f"{method} - ffr",
                    "per_seed": [round(v, 3) for v in values],
                    "text": f"{np.mean(values):+.3f} ± {np.std(values):.3f}",
                })
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["torch"], choices=common.BACKENDS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    parser.add_argument("--momenta", nargs="+", type=float, default=[0.99, 0.9],
                        help="Keras BatchNorm momenta (0.99 Keras's default, 0.9 PyTorch's)")
    parser.add_argument("--synthetic-epochs", type=int, default=10)
    parser.add_argument("--real-epochs", type=int, default=10)
    parser.add_argument("--weights", nargs="+", type=float, default=[0.03, 0.1, 0.3, 1.0],
                        help="the guidance weights of ffr_guided searched on validation")
    parser.add_argument("--select-seed", type=int, default=0, help="the seed the weight search runs on")
    parser.add_argument("--selection-backend", choices=common.BACKENDS, default=None,
                        help="take the chosen weights from this backend's search (default: each its own)")
    parser.add_argument("--bias", type=float, default=0.95)
    parser.add_argument("--resume", action="store_true", help="keep runs already in --output")
    parser.add_argument("--output", default=os.path.join(HERE, "results", "ffr_stability.json"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if (args.synthetic_epochs < 1 or args.real_epochs < 1 or not 0.5 <= args.bias < 1
            or not all(0 <= m < 1 for m in args.momenta) or min(args.weights) < 0):
        parser.error(
            "expected --synthetic-epochs >= 1, --real-epochs >= 1, --bias in [0.5, 1), "
            "--momenta in [0, 1) and --weights >= 0, received "
            f"{args.synthetic_epochs}, {args.real_epochs}, {args.bias}, {args.momenta}, "
            f"{args.weights}"
        )
    if args.worker:
        print(json.dumps(worker(args.seeds[0], args.configs[0], args.momenta[0], args.weights[0], args)))
        return None

    script = os.path.abspath(__file__)
    settings = {key: getattr(args, key) for key in SETTINGS}
    shared = ["--synthetic-epochs", str(args.synthetic_epochs), "--real-epochs",
              str(args.real_epochs), "--bias", str(args.bias)]
    runs = common.earlier_runs(args.output) if args.resume else {}
    runs = {backend: [upgraded(run) for run in done] for backend, done in runs.items()}

    def ensure(backend, seed, config, momentum, weight):
        done = runs.setdefault(backend, [])
        if find(done, seed, config, momentum, weight, settings) is None:
            done.append(common.run_worker(script, backend, shared + [
                "--seeds", str(seed), "--configs", config, "--momenta", str(momentum),
                "--weights", str(weight),
            ]))
            common.write_json(args.output, {
                "environment": common.environment(), "settings": settings, "runs": runs,
            })

    # A `--selection-backend` must have searched already: its choice is reused, not made.
    if GUIDED in args.configs and args.selection_backend is None:
        for backend in args.backends:
            for momentum in args.momenta:
                for weight in args.weights:
                    ensure(backend, args.select_seed, GUIDED, momentum, weight)
    for backend in args.backends:
        chosen = chosen_weights(runs.get(args.selection_backend or backend, []),
                                args.select_seed, args.momenta, args.weights, settings)
        if GUIDED in args.configs and None in chosen.values():
            raise SystemExit(
                f"no complete weight search of {GUIDED} on seed {args.select_seed} by "
                f"{args.selection_backend} in {args.output}: run that backend first"
            )
        for seed in args.seeds:
            for momentum in args.momenta:
                for config in args.configs:
                    ensure(backend, seed, config, momentum,
                           chosen[momentum] if config == GUIDED else 0.0)
    # Every backend in the file with these settings joins the report.
    rows, differences, searched = [], [], []
    for backend, done in runs.items():
        chooser = runs.get(args.selection_backend or backend, [])
        chosen = chosen_weights(chooser, args.select_seed, args.momenta, args.weights, settings)
        mine = [r for r in done if r["settings"] == settings and r["config"] in args.configs
                and r["momentum"] in chosen
                and r["weight"] == (chosen[r["momentum"]] if r["config"] == GUIDED else 0.0)]
        for row in summarise(mine, backend, args.synthetic_epochs):
            row["weight"] = chosen[row["momentum"]] if row["config"] == GUIDED else "–"
            rows.append(row)
        differences += paired(mine, backend)
        if args.selection_backend in (None, backend):
            searched += search_rows(done, backend, args.select_seed, args.momenta, args.weights,
                                    settings, chosen)
    table = common.markdown_table(rows, [
        ("backend", "backend", "{}"), ("config", "configuration", "{}"),
        ("momentum", "BN momentum", "{}"), ("weight", "weight (chosen on val.)", "{}"),
        ("seeds", "seeds", "{}"),
        ("worst_group_accuracy_text", "test worst-group (selected)", "{}"),
        ("per_seed", "per seed", "{}"),
        ("after_synthetic_text", "after synthetic", "{}"),
        ("selection_gap_text", "selection gap", "{}"),
        ("epoch_jitter_text", "epoch jitter", "{}"),
        ("drift_text", "drift", "{}"),
    ])
    table += "\n\n" + common.markdown_table(differences, [
        ("backend", "backend", "{}"), ("momentum", "BN momentum", "{}"),
        ("comparison", "paired difference (worst-group)", "{}"),
        ("text", "mean ± std", "{}"), ("per_seed", "per seed", "{}"),
    ])
    if searched:
        table += "\n\n" + common.markdown_table(searched, [
            ("backend", "backend", "{}"), ("momentum", "BN momentum", "{}"),
            ("weight", f"{GUIDED} weight, seed {args.select_seed}", "{}"),
            ("val", "val. worst-group (selected epoch)", "{:.3f}"), ("mark", "", "{}"),
        ])
    common.write_report(
        args.output, table, rows, "FFR on spurious digits",
        lambda row: f"{row['config']} m={row['momentum']}",
    )
    common.write_results(args.output, runs, settings=settings, rows=rows,
                         differences=differences, search=searched)
    return rows


if __name__ == "__main__":
    main()
