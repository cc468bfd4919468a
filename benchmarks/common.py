"""What every benchmark here shares: per-backend worker processes, tables, JSON.

Each backend runs in its own process (`KERAS_BACKEND` is fixed at import), so
a benchmark script re-runs itself with `--worker` per backend and collects
one JSON line from each.
"""

import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile

BACKENDS = ("tensorflow", "torch", "jax")
EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples")


def load_example(name):
    """The module `examples/<name>.py`, whose model and training recipe a benchmark measures."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_worker(script, backend, args, timeout=3600):
    """Runs `python script --worker <args>` under `backend`; returns its last JSON line."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    completed = subprocess.run(
        [sys.executable, script, "--worker", *args],
        env=env, capture_output=True, text=True, timeout=timeout,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(
            f"{backend} worker {args} failed (exit {completed.returncode}):\n"
            f"{completed.stderr[-3000:]}"
        )
    return json.loads(lines[-1])


def environment():
    """Date, machine and library versions, for the record."""
    from importlib import metadata

    # Read from the installed distributions: importing Keras here would
    # pick a backend (TensorFlow unless KERAS_BACKEND says otherwise), which
    # a machine without TensorFlow cannot import.
    versions = {"python": platform.python_version()}
    for name, distributions in (
        ("keras", ("keras",)), ("tensorflow", ("tensorflow", "tensorflow-cpu")),
        ("torch", ("torch",)), ("jax", ("jax",)), ("numpy", ("numpy",)),
    ):
        for distribution in distributions:
            try:
                versions[name] = metadata.version(distribution)
                break
            except metadata.PackageNotFoundError:
                pass
    return {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "versions": versions,
    }


def device_name():
    """The accelerator Keras uses for the active backend, or "cpu"."""
    import keras

    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return device.device_kind if device.platform != "cpu" else "cpu"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return gpus[0].name if gpus else "cpu"


def worst_group_curve(x_test, y_test, curve):
    """A callback appending each epoch's validation and test worst-group accuracy to `curve`.

    Test curves are for diagnosis only: selection stays on validation.
    """
    import keras

    class WorstGroupCurve(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            scores = self.model.evaluate(x_test, y_test, verbose=0, return_dict=True)
            curve.append({
                "val": float(logs["val_worst_group_accuracy"]),
                "test": float(scores["worst_group_accuracy"]),
            })

    return WorstGroupCurve()


def random_boxes_like(provenance, seed):
    """Per image, a random square box whose area is that image's kept area (1 inside)."""
    import numpy as np

    rng = np.random.default_rng([seed, 7])
    count, height, width = provenance.shape[:3]
    boxes = np.zeros_like(provenance)
    areas = provenance.reshape(count, -1).mean(1) * height * width
    for i, area in enumerate(areas):
        side_y = int(np.clip(round(np.sqrt(area)), 1, height))
        side_x = int(np.clip(round(area / side_y), 1, width))
        top = rng.integers(0, height - side_y + 1)
        left = rng.integers(0, width - side_x + 1)
        boxes[i, top : top + side_y, left : left + side_x] = 1.0
    return boxes


def border_colours(images, width=3):
    """Per image, each channel's mean and std over the outer ring: the background's look, not the object's."""
    import numpy as np

    ring = np.ones(images.shape[1:3], bool)
    ring[width:-width, width:-width] = False
    pixels = images[:, ring]
    return np.concatenate([pixels.mean(1), pixels.std(1)], axis=1)


def border_probe(train, test):
    """A shortcut-only probe: logistic regression on `border_colours`, its train and test accuracy.

    On a construction whose background predicts the label in train and not
    in a group-balanced test, it scores near the bias on train and near
    chance (0.5 for two classes) on test.
    """
    from sklearn.linear_model import LogisticRegression

    probe = LogisticRegression(max_iter=1000).fit(border_colours(train["images"]), train["labels"])
    return {
        "probe": "logistic regression on the border ring's colours",
        "train_accuracy": float(probe.score(border_colours(train["images"]), train["labels"])),
        "test_accuracy": float(probe.score(border_colours(test["images"]), test["labels"])),
        "chance": 1.0 / len(set(train["labels"].tolist())),
    }


def markdown_table(rows, columns):
    """`rows` (dicts) as a Markdown table with `columns` `(key, header, format)`."""
    lines = [
        "| " + " | ".join(header for _, header, _ in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in rows:
        cells = [fmt.format(row[key]) if row.get(key) is not None else "–" for key, _, fmt in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_json(path, payload):
    """Writes `payload` atomically: a crash never leaves a half-written file."""
    _write_atomically(path, lambda file: json.dump(payload, file, indent=2))


def write_results(path, runs, **payload):
    """Writes `runs` and `payload` atomically under an `"environment"` stamp (date, machine, versions).

    The stamp is now's when `runs` differ from the file's; a run that only
    re-reports (`--resume` with nothing left to run) keeps the stamp of the
    runs it reports.
    """
    stamp = None
    try:
        with open(path) as file:
            earlier = json.load(file)
        if earlier.get("runs") == json.loads(json.dumps(runs)):
            stamp = earlier.get("environment")
    except (OSError, ValueError, AttributeError):
        pass
    write_json(path, {"environment": stamp or environment(), **payload, "runs": runs})


def write_text(path, text):
    """Writes `text` atomically (a Markdown report, say)."""
    _write_atomically(path, lambda file: file.write(text))


def _write_atomically(path, write):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            write(file)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def earlier_runs(path):
    """The `"runs"` of an earlier results file, per backend; none if missing or unreadable."""
    try:
        with open(path) as file:
            return json.load(file).get("runs", {})
    except (OSError, ValueError):
        return {}


def paired_differences(runs, metric, method, reference):
    """Per-seed `method - reference` of `metric` over `runs` (dicts of config -> metrics)."""
    return [run[method][metric] - run[reference][metric] for run in runs]


def write_report(output, markdown, rows, title, label_of, metric="worst-group accuracy"):
    """Prints `markdown` and writes it beside `output` (`.md`), with one seed figure per backend.

    `rows` carry `"backend"` and `"per_seed"` values of `metric` (test);
    `label_of(row)` names a row's column in the figure.
    """
    print(markdown)
    stem = os.path.splitext(output)[0]
    write_text(stem + ".md", markdown + "\n")
    for backend in sorted({row["backend"] for row in rows}):
        save_seed_figure(
            f"{stem}_{backend}.png", f"{title}, {backend}: test {metric}", metric,
            [(label_of(row), row["per_seed"]) for row in rows if row["backend"] == backend],
        )


def save_seed_figure(path, title, ylabel, series):
    """A PNG strip plot: one column per `(label, per-seed values)`, points and their mean.

    Drawn on its own Agg figure, so the caller's pyplot state is untouched;
    written atomically.
    """
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(1.3 * len(series) + 1.5, 3.6))
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    for column, (_, values) in enumerate(series):
        values = np.asarray(values, "float64")
        offsets = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else np.zeros(1)
        axis.scatter(column + offsets, values, s=18, color="tab:blue", alpha=0.7, zorder=3)
        axis.hlines(values.mean(), column - 0.3, column + 0.3, color="black", linewidth=2, zorder=4)
    axis.set_xticks(range(len(series)))
    axis.set_xticklabels([label for label, _ in series], rotation=25, ha="right", fontsize=8)
    axis.set_ylabel(ylabel)
    axis.set_title(title, fontsize=9)
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, suffix=".png")
    os.close(handle)
    try:
        figure.savefig(temporary, dpi=110)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return path


class WeightSearch:
    """The guidance weight chosen on validation, then every seed at the chosen weight.

    Protocol, shared by the localization benchmarks: on `select_seed` only,
    every searched configuration trains once per grid weight and keeps the
    one with the best validation `metric` (`"val_" + metric` in a run; ties
    go to the smaller weight; test is never looked at). A penalised
    configuration in `weight_of` takes the weight chosen for another (the
    paper's ablations change the mask at the method's weight). Every
    configuration then trains on every seed, the penalised ones at their
    chosen weight (the search run is reused for the search seed).

    A run is `python script --worker ... --seeds S --configs C --weight W`,
    one process each, and is kept in `output` (written after each run) with
    its `settings`; earlier runs with the same settings are reused.
    """

    def __init__(
        self, script, output, settings, worker_args, penalised, metric, runs=None, weight_of=None,
    ):
        self.script, self.output, self.settings = script, output, settings
        self.worker_args, self.penalised, self.metric = list(worker_args), penalised, metric
        self.runs = runs if runs is not None else {}
        self.weight_of = dict(weight_of or {})
        self.searched = [c for c in penalised if c not in self.weight_of]

    def run(self, backend, seed, config, weight):
        """The run of `(seed, config, weight)` on `backend`, trained only if not already kept."""
        weight = weight if config in self.penalised else 0.0
        done = self.runs.setdefault(backend, [])
        for run in done:
            if (run["seed"], run["config"], run.get("weight"), run["settings"]) == (
                seed, config, weight, self.settings
            ):
                return run
        run = run_worker(self.script, backend, self.worker_args + [
            "--seeds", str(seed), "--configs", config, "--weight", str(weight),
        ])
        done.append(run)
        write_json(self.output, {
            "environment": environment(), "settings": self.settings, "runs": self.runs,
        })
        return run

    def current(self, backend):
        """`backend`'s runs with these settings (runs of earlier protocols are kept, not shown)."""
        return [
            run for run in self.runs.get(backend, [])
            if run["settings"] == self.settings and "weight" in run
        ]

    def chosen(self, backend, select_seed, weights):
        """Per penalised configuration whose search ran whole on `backend`, its weight."""
        chosen = {}
        for config in self.searched:
            trials = {
                run["weight"]: run["val_" + self.metric] for run in self.current(backend)
                if run["config"] == config and run["seed"] == select_seed
            }
            if all(w in trials for w in weights):
                chosen[config] = max(sorted(weights), key=lambda w: trials[w])
        for config, source in self.weight_of.items():
            if source in chosen:
                chosen[config] = chosen[source]
        return chosen

    def execute(self, backends, seeds, configs, weights, select_seed, selection_backend=None):
        """Runs the search (where it is each backend's own), then every seed."""
        penalised = [c for c in configs if c in self.penalised]
        searched = {self.weight_of.get(c, c) for c in penalised}
        for backend in backends:
            searcher = selection_backend or backend
            if searcher == backend:
                for config in [c for c in self.searched if c in searched]:
                    for weight in weights:
                        self.run(backend, select_seed, config, weight)
            chosen = self.chosen(searcher, select_seed, weights)
            missing = [c for c in penalised if c not in chosen]
            if missing:
                raise SystemExit(
                    f"No weight chosen for {missing} on {searcher}: run its search first "
                    f"(--backends {searcher} --seeds {select_seed})."
                )
            for seed in seeds:
                for config in configs:
                    self.run(backend, seed, config, chosen.get(config, 0.0))

    def evaluated(self, backend, configs, chosen):
        """`backend`'s runs of `configs` at the chosen weights (0 for unpenalised ones)."""
        return [
            run for run in self.current(backend)
            if run["config"] in configs and run["weight"] == chosen.get(run["config"], 0.0)
        ]

    def summaries(self, configs, labels, metrics, headline, comparisons, select_seed, weights,
                  selection_backend=None):
        """`(rows, differences, searched)` over every backend in the file with these settings.

        Runs of backends added later (`--backends jax --resume`) join the
        report; `seed_summary` gives the rows and differences, `search_rows`
        the searches.
        """
        rows, differences, searched = [], [], []
        for backend in self.runs:
            searcher = selection_backend or backend
            chosen = self.chosen(searcher, select_seed, weights)
            backend_rows, backend_differences = seed_summary(
                self.evaluated(backend, configs, chosen), backend, configs, labels, metrics,
                headline, comparisons,
            )
            rows += [row for row in backend_rows if row["seeds"]]
            differences += backend_differences
            if searcher == backend:
                searched += self.search_rows(backend, select_seed, weights, chosen, labels)
        return rows, differences, searched

    def search_rows(self, backend, select_seed, weights, chosen, labels):
        """The validation search of `backend` as table rows."""
        rows = [
            {"backend": backend, "config": labels[run["config"]], "weight": run["weight"],
             "val": run["val_" + self.metric],
             "mark": "chosen" if run["weight"] == chosen.get(run["config"]) else ""}
            for run in self.current(backend)
            if run["seed"] == select_seed and run["config"] in self.searched
            and run["weight"] in weights
        ]
        return sorted(rows, key=lambda row: (row["config"], row["weight"]))


def seed_summary(runs, backend, configs, labels, metrics, headline, comparisons):
    """Mean ± std over the seeds every configuration has run, and paired differences.

    `runs` carry `"seed"`, `"config"`, `"weight"` and `metrics`; `headline`
    is the metric of the figure (`"per_seed"`) and of the paired
    `comparisons` `(method, reference)`.
    """
    import numpy as np

    by_seed = {}
    for run in runs:
        by_seed.setdefault(run["seed"], {})[run["config"]] = run
    seeds = sorted(s for s, done in by_seed.items() if all(c in done for c in configs))
    rows = []
    for config in configs:
        row = {"backend": backend, "config": labels[config], "seeds": len(seeds)}
        if seeds:
            for key in metrics:
                values = [by_seed[s][config][key] for s in seeds]
                row[key], row[key + "_std"] = float(np.mean(values)), float(np.std(values))
                row[key + "_text"] = f"{row[key]:.3f} ± {row[key + '_std']:.3f}"
            row["per_seed"] = [by_seed[s][config][headline] for s in seeds]
            row["weight"] = by_seed[seeds[0]][config]["weight"] or None
        rows.append(row)
    differences = []
    for method, reference in comparisons:
        if seeds and method in configs and reference in configs:
            values = paired_differences([by_seed[s] for s in seeds], headline, method, reference)
            differences.append({
                "backend": backend, "comparison": f"{labels[method]} − {labels[reference]}",
                "per_seed": [round(v, 4) for v in values],
                "mean": float(np.mean(values)), "std": float(np.std(values)),
                "text": f"{np.mean(values):+.3f} ± {np.std(values):.3f}",
            })
    return rows, differences


def search_report(rows, differences, searched, metric_columns, headline, weight_label):
    """The Markdown of a `WeightSearch` benchmark: configurations, paired differences, the search.

    `metric_columns` are `(key, header)` of the metrics (`key + "_text"`
    holds mean ± std); `headline` names the paired and searched metric.
    """
    for row in rows:
        row["seconds_text"] = f"{row['seconds']:.0f}"
    table = markdown_table(rows, [
        ("backend", "backend", "{}"), ("config", "configuration", "{}"), ("seeds", "seeds", "{}"),
        ("weight", weight_label, "{}"),
        *[(key + "_text", header, "{}") for key, header in metric_columns],
        ("seconds_text", "train s", "{}"),
    ])
    paired = markdown_table(differences, [
        ("backend", "backend", "{}"), ("comparison", f"paired difference ({headline})", "{}"),
        ("text", "mean ± std", "{}"), ("per_seed", "per seed", "{}"),
    ])
    search = markdown_table(searched, [
        ("backend", "backend", "{}"), ("config", "configuration", "{}"),
        ("weight", "weight", "{}"), ("val", f"val. {headline}", "{:.3f}"), ("mark", "", "{}"),
    ])
    return "\n\n".join([table, paired, search])


def add_search_arguments(parser, configs, seeds, weights, output):
    """The command-line arguments every `WeightSearch` benchmark takes."""
    import argparse

    parser.add_argument("--backends", nargs="+", default=["tensorflow"], choices=BACKENDS)
    parser.add_argument("--seeds", nargs="+", type=int, default=list(seeds))
    parser.add_argument("--configs", nargs="+", default=list(configs), choices=configs)
    parser.add_argument("--weights", nargs="+", type=float, default=list(weights),
                        help="the guidance weights searched on validation")
    parser.add_argument("--select-seed", type=int, default=0, help="the seed the search runs on")
    parser.add_argument("--selection-backend", choices=BACKENDS, default=None,
                        help="take the chosen weights from this backend's search (default: each its own)")
    parser.add_argument("--resume", action="store_true", help="keep runs already in --output")
    parser.add_argument("--output", default=output)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--weight", type=float, default=0.0, help=argparse.SUPPRESS)


def settings_of(benchmark, args):
    """The arguments a run's numbers depend on: `benchmark.SETTINGS` (or its own `settings_of`)."""
    own = getattr(benchmark, "settings_of", None)
    return own(args) if own is not None else {key: getattr(args, key) for key in benchmark.SETTINGS}


def search_run(benchmark, seed, config, weight, args, result):
    """A `WeightSearch` worker's record: its coordinates, settings, device and `result`."""
    return {
        "seed": seed, "config": config, "weight": weight if config in benchmark.GUIDED else 0.0,
        "settings": settings_of(benchmark, args), "device": device_name(), **result,
    }


def run_weight_search(benchmark, args):
    """Runs a `WeightSearch` benchmark from its parsed `args`; writes and returns its report.

    `benchmark` is the benchmark's module: its `SETTINGS` (the argument
    names a run depends on; a module-level `settings_of(args)` may adjust
    them), `GUIDED`, `WEIGHT_OF`, `LABELS`, `METRICS`,
    `COMPARISONS`, `COLUMNS`, `HEADLINE` (`(metric, label)` searched,
    paired and drawn), `WEIGHT_LABEL` and `TITLE`. Returns `(rows,
    differences)`. With `--worker`, runs `benchmark.worker(seed, config,
    weight, args)` alone and prints its JSON line instead.
    """
    if args.worker:
        print(json.dumps(benchmark.worker(args.seeds[0], args.configs[0], args.weight, args)))
        return None
    settings = settings_of(benchmark, args)
    worker_args = []
    for key in benchmark.SETTINGS:
        value = getattr(args, key)
        values = value if isinstance(value, list) else [value]
        worker_args += ["--" + key.replace("_", "-"), *map(str, values)]
    metric, label = benchmark.HEADLINE
    search = WeightSearch(
        os.path.abspath(benchmark.__file__), args.output, settings, worker_args,
        benchmark.GUIDED, metric, earlier_runs(args.output) if args.resume else {},
        benchmark.WEIGHT_OF,
    )
    search.execute(
        args.backends, args.seeds, args.configs, args.weights, args.select_seed,
        args.selection_backend,
    )
    rows, differences, searched = search.summaries(
        args.configs, benchmark.LABELS, benchmark.METRICS, metric, benchmark.COMPARISONS,
        args.select_seed, args.weights, args.selection_backend,
    )
    markdown = search_report(
        rows, differences, searched, benchmark.COLUMNS, label, benchmark.WEIGHT_LABEL
    )
    write_report(args.output, markdown, rows, benchmark.TITLE, lambda row: row["config"], label)
    write_json(args.output, {
        "environment": environment(), "settings": settings, "weights": args.weights,
        "select_seed": args.select_seed, "runs": search.runs, "rows": rows,
        "differences": differences, "search": searched,
    })
    return rows, differences
