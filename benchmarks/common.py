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
    import keras

    versions = {"python": platform.python_version(), "keras": keras.__version__}
    for name in ("tensorflow", "torch", "jax", "numpy"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
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


def write_report(output, markdown, rows, title, label_of):
    """Prints `markdown` and writes it beside `output` (`.md`), with one seed figure per backend.

    `rows` carry `"backend"` and `"per_seed"` worst-group accuracies;
    `label_of(row)` names a row's column in the figure.
    """
    print(markdown)
    stem = os.path.splitext(output)[0]
    write_text(stem + ".md", markdown + "\n")
    for backend in sorted({row["backend"] for row in rows}):
        save_seed_figure(
            f"{stem}_{backend}.png", f"{title}, {backend}: test worst-group accuracy",
            "worst-group accuracy",
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
