"""What the cheaper guided steps keep: lazy `penalty_every`, unscaled skipping, finite differences.

Each setting trains the same guided configuration over seeds, with the
guidance weight fixed beforehand by the validation search of the benchmark
that owns the task (never on test):

- `decoy`: `examples/decoy_digits.py`'s `guided` (the MLP, 10 epochs), at
  `--decoy-weight` 10, the weight `decoy_ablations.py` chose on validation;
  reports test accuracy and the share of input-gradient energy on the
  swatch; reference `plain`.
- `ffr`: `examples/from_fake_to_real.py`'s `ffr_guided` (BatchNorm momentum
  0.9, 10 + 10 epochs), at `--ffr-weight` 0.03, the weight
  `ffr_stability.py` chose on validation; reports test worst-group accuracy
  of the epoch selected on validation; reference `ffr` (no guidance).
  Because selection on a 50-image validation worst group is noisy, each
  record keeps the per-epoch validation and test curve, and the report pairs
  figures that no selection made beside the selected one: test worst-group
  accuracy at the last synthetic epoch, its mean over the synthetic (guided)
  phase's second half, and the curve's best test epoch, an oracle (a loss it
  shares is the trained models', a loss it does not is selection's); and,
  as a diagnostic chosen after the runs, selection on validation smoothed
  over 3 epochs.

Settings (`SETTINGS`): `exact` (every step, `second_order="auto"`),
`lazy_k{2,4,8}` (`penalty_every=k`, the weight times k on the steps that
apply it, the default), `unscaled_k{2,4,8}` (`lazy_rescale=False`, the
behaviour before lazy rescaling), `finite_difference` (every step) and
`finite_difference_lazy_k4`. Per backend and task: mean ± std over seeds,
and every setting's per-seed paired difference against `exact`.

With `--costs`, the report joins the cost ratios `step_overhead.py` wrote
(one file per `--penalty-every`), so that a row reads cost beside effect.

    python benchmarks/cheaper_guidance.py --resume                     # TensorFlow, 5 seeds
    python benchmarks/cheaper_guidance.py --backends jax torch --resume        # the same on JAX and torch
    python benchmarks/cheaper_guidance.py --backends tensorflow torch jax --tasks ffr \
        --settings reference exact lazy_k4 lazy_k8 --seeds $(seq 0 29) \
        --output benchmarks/results/cheaper_guidance_ffr_seeds.json --resume   # FFR, 30 seeds
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402

SETTINGS = {
    # name: GuidedModel options (None: the task's unguided reference).
    "reference": None,
    "exact": {},
    "lazy_k2": {"penalty_every": 2},
    "lazy_k4": {"penalty_every": 4},
    "lazy_k8": {"penalty_every": 8},
    "unscaled_k2": {"penalty_every": 2, "lazy_rescale": False},
    "unscaled_k4": {"penalty_every": 4, "lazy_rescale": False},
    "unscaled_k8": {"penalty_every": 8, "lazy_rescale": False},
    "finite_difference": {"second_order": "finite_difference"},
    "finite_difference_lazy_k4": {"second_order": "finite_difference", "penalty_every": 4},
}
TASKS = {
    # name: (metrics, headline metric, reference config label, further paired metrics)
    "decoy": (("accuracy", "decoy_share", "seconds"), "accuracy", "plain", ()),
    # Beside the selected epoch, figures no selection made (see the docstring).
    "ffr": (("worst_group_accuracy", "accuracy", "after_synthetic_worst_group_accuracy",
             "seconds"), "worst_group_accuracy", "ffr",
            ("after_synthetic_worst_group_accuracy", "guided_phase_worst_group_accuracy",
             "best_epoch_worst_group_accuracy", "smoothed_selection_worst_group_accuracy")),
}
# The arguments a run's numbers depend on: a resumed run must match them.
RUN_SETTINGS = ("decoy_weight", "ffr_weight", "decoy_epochs", "ffr_epochs")


def worker(task, seed, names, args):
    """Trains `names` (settings) of `task` for one seed on the active backend; one record each."""
    import keras_provguide as kpg

    records = []
    for name in names:
        options = SETTINGS[name]
        if task == "decoy":
            example = common.load_example("decoy_digits")
            data = kpg.datasets.decoy_digits(num_train=1200, seed=seed, num_val=200)
            config = "plain" if options is None else "guided"
            result = example.run(config, data, seed=seed, epochs=args.decoy_epochs,
                                 guidance_weight=args.decoy_weight, **(options or {}))
            result.pop("model")
        else:
            example = common.load_example("from_fake_to_real")
            splits = kpg.datasets.spurious_digits(bias=0.95, seed=seed)
            config = "ffr" if options is None else "ffr_guided"
            curve = []
            result = example.run(config, splits, seed=seed, synthetic_epochs=args.ffr_epochs,
                                 real_epochs=args.ffr_epochs, guidance_weight=args.ffr_weight,
                                 batchnorm_momentum=0.9, **(options or {}),
                                 callbacks=[common.worst_group_curve(*example.inputs(splits["test"]), curve)])
            result["curve"] = curve
        records.append({
            "task": task, "seed": seed, "setting": name, "device": common.device_name(),
            "settings": _run_settings(args), **result,
        })
    return records


def guided_phase_mean(curve, synthetic_epochs):
    """Mean test worst-group accuracy over the synthetic (guided) phase's second half: no selection."""
    import numpy as np

    tail = curve[synthetic_epochs // 2:synthetic_epochs]
    return float(np.mean([point["test"] for point in tail]))


def with_curve_metrics(run):
    """`run` with the figures its test curve gives, where it kept one.

    The guided phase's mean, the curve's maximum (an oracle) and a smoothed
    selection's figure: beside the selected epoch's they split a loss into
    one of the trained models (the oracle falls too) and one of selection
    (it does not). The two phases have equal length here (`--ffr-epochs`).
    """
    curve = run.get("curve")
    if not curve:
        return run
    return dict(
        run, guided_phase_worst_group_accuracy=guided_phase_mean(curve, len(curve) // 2),
        best_epoch_worst_group_accuracy=max(point["test"] for point in curve),
        smoothed_selection_worst_group_accuracy=smoothed_selection(curve),
    )


def smoothed_selection(curve, window=3):
    """Test worst-group accuracy at the epoch whose validation figure, averaged over `window` epochs around it, is best.

    A diagnostic of selection noise, added after the runs; the protocol
    selects on the single epoch's validation figure.
    """
    import numpy as np

    val = np.asarray([point["val"] for point in curve])
    kernel = np.ones(window)
    # The first and last epochs average the neighbours they have.
    smoothed = np.convolve(val, kernel, mode="same") / np.convolve(np.ones_like(val), kernel, mode="same")
    return curve[int(np.argmax(smoothed))]["test"]


def _run_settings(args):
    return {key: getattr(args, key) for key in RUN_SETTINGS}


def summary(runs, backend, task, names):
    """Rows of mean ± std per setting over the seeds every setting has run, and paired differences to `exact`."""
    import numpy as np

    metrics, headline, _, further = TASKS[task]
    by_seed = {}
    for run in runs:
        by_seed.setdefault(run["seed"], {})[run["setting"]] = with_curve_metrics(run)
    seeds = sorted(s for s, done in by_seed.items() if all(n in done for n in names))
    rows = []
    for name in names:
        if not seeds:
            break
        row = {"backend": backend, "task": task, "setting": name, "seeds": len(seeds)}
        for key in metrics:
            values = [by_seed[s][name][key] for s in seeds]
            row[key], row[key + "_std"] = float(np.mean(values)), float(np.std(values))
            row[key + "_text"] = f"{row[key]:.3f} ± {row[key + '_std']:.3f}"
        row["per_seed"] = [round(by_seed[s][name][headline], 4) for s in seeds]
        if "exact" in names and name != "exact":
            for key, prefix in [(headline, "vs_exact")] + [(k, f"{k}_vs_exact") for k in further]:
                if any(key not in by_seed[s][n] for s in seeds for n in (name, "exact")):
                    continue  # Runs recorded before the metric was.
                diffs = [by_seed[s][name][key] - by_seed[s]["exact"][key] for s in seeds]
                row[prefix] = f"{np.mean(diffs):+.3f} ± {np.std(diffs):.3f}"
                row[prefix + "_per_seed"] = [round(d, 3) for d in diffs]
        rows.append(row)
    return rows


def costs(paths):
    """`(backend, model, penalty_every) -> row` of `step_overhead.py` results."""
    table = {}
    for path in paths:
        try:
            with open(path) as file:
                rows = json.load(file)["rows"]
        except (OSError, ValueError, KeyError):
            continue
        for row in rows:
            table[(row["backend"], row["model"], row.get("penalty_every", 1))] = row
    return table


def cost_of(table, backend, model, name):
    """The measured guided/plain time ratio of setting `name`, or None where not measured."""
    options = SETTINGS[name]
    if options is None:
        return 1.0
    mode = options.get("second_order")
    if mode is None:
        mode = "forward_over_reverse" if backend == "jax" else "double_backprop"  # `auto` on CPU.
    row = table.get((backend, model, options.get("penalty_every", 1)))
    return None if row is None else row.get(f"{mode}_ratio")


def report(runs, names, cost_table, models):
    lines = []
    for task, (metrics, headline, reference, further) in TASKS.items():
        rows = []
        for backend, records in runs.items():
            rows += summary([r for r in records if r["task"] == task], backend, task, names)
        if not rows:
            continue
        for row in rows:
            row["label"] = f"{row['setting']} ({reference})" if row["setting"] == "reference" else row["setting"]
            for model in models:
                ratio = cost_of(cost_table, row["backend"], model, row["setting"])
                row[f"cost_{model}"] = "–" if ratio is None else f"{ratio:.2f}x"
        columns = [("backend", "backend", "{}"), ("label", "setting", "{}"), ("seeds", "seeds", "{}")]
        columns += [(f"{key}_text", key.replace("_", " "), "{}") for key in metrics if key != "seconds"]
        columns += [("vs_exact", f"paired {headline.replace('_', ' ')} − exact", "{}"),
                    ("vs_exact_per_seed", "per seed", "{}")]
        columns += [(f"{key}_vs_exact", f"paired {key.replace('_', ' ')} − exact", "{}")
                    for key in further if any(f"{key}_vs_exact" in row for row in rows)]
        columns += [(f"cost_{model}", f"step cost {model}", "{}") for model in models]
        lines.append(f"### {task}\n\n" + common.markdown_table(rows, columns))
    return "\n\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow"], choices=common.BACKENDS)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--decoy-weight", type=float, default=10.0)
    parser.add_argument("--ffr-weight", type=float, default=0.03)
    parser.add_argument("--decoy-epochs", type=int, default=10)
    parser.add_argument("--ffr-epochs", type=int, default=10, help="epochs of each FFR phase")
    parser.add_argument("--costs", nargs="*", default=[
        os.path.join(HERE, "results", name) for name in
        ("step_overhead.json", "step_overhead_every4.json", "step_overhead_every8.json")
    ], help="step_overhead.py results to join (one per --penalty-every)")
    parser.add_argument("--resume", action="store_true", help="keep runs already in --output")
    parser.add_argument("--output", default=os.path.join(HERE, "results", "cheaper_guidance.json"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if (args.decoy_epochs < 1 or args.ffr_epochs < 1 or args.decoy_weight <= 0
            or args.ffr_weight <= 0):
        parser.error(
            "expected --decoy-epochs and --ffr-epochs >= 1 and positive weights, received "
            f"{args.decoy_epochs}, {args.ffr_epochs}, {args.decoy_weight}, {args.ffr_weight}"
        )
    if args.worker:
        print(json.dumps({"records": worker(args.tasks[0], args.seeds[0], args.settings, args)}))
        return None

    runs = common.earlier_runs(args.output) if args.resume else {}
    settings = _run_settings(args)
    script = os.path.abspath(__file__)
    passed = ["--decoy-weight", str(args.decoy_weight), "--ffr-weight", str(args.ffr_weight),
              "--decoy-epochs", str(args.decoy_epochs), "--ffr-epochs", str(args.ffr_epochs)]
    for backend in args.backends:
        done = runs.setdefault(backend, [])
        for task in args.tasks:
            for seed in args.seeds:
                have = {r["setting"] for r in done
                        if (r["task"], r["seed"], r["settings"]) == (task, seed, settings)}
                todo = [name for name in args.settings if name not in have]
                if not todo:
                    continue
                # One process per (task, seed): the settings share its start-up.
                done += common.run_worker(script, backend, passed + [
                    "--tasks", task, "--seeds", str(seed), "--settings", *todo,
                ])["records"]
                common.write_json(args.output, {"environment": common.environment(), "runs": runs})
                print(f"{backend} {task} seed {seed}: {len(todo)} settings", flush=True)
    current = {
        backend: [r for r in records if r["settings"] == settings]
        for backend, records in runs.items()
    }
    markdown = report(current, args.settings, costs(args.costs), ("small_cnn", "resnet18"))
    print(markdown)
    common.write_text(os.path.splitext(args.output)[0] + ".md", markdown + "\n")
    common.write_results(args.output, runs)
    return markdown


if __name__ == "__main__":
    main()
