"""What every benchmark here shares: per-backend worker processes, tables, JSON.

Each backend runs in its own process (`KERAS_BACKEND` is fixed at import), so
a benchmark script re-runs itself with `--worker` per backend and collects
one JSON line from each.
"""

import contextlib
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile

BACKENDS = ("tensorflow", "torch", "jax")
# Keras dtype policies a timing benchmark can build its models under: the
# guidance paper trains in mixed precision (its penalty in float32).
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples")


def load_example(name):
    """The module `examples/<name>.py`, whose model and training recipe a benchmark measures.

    It is registered in `sys.modules` under its file's stem, where tools
    that read a function's module (AutoGraph, in a `tf.data` map) look.
    """
    spec = importlib.util.spec_from_file_location(os.path.basename(name), os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
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


@contextlib.contextmanager
def dtype_policy(name):
    """Models built and compiled inside use the Keras dtype policy `name`; the global policy is restored after.

    A worker process keeps it for its whole run; the restore is for callers
    in the same process (the tests).
    """
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


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


def keep_tf_data_on_cpu():
    """Under torch or JAX, hides the GPUs from TensorFlow, which then only reads the input pipeline (tf.data).

    Otherwise TensorFlow reserves nearly all of a GPU's memory the first
    time it runs, beside the backend that trains. Call it before the first
    `tf.data` pipeline; with no GPU it does nothing.
    """
    import keras

    if keras.backend.backend() == "tensorflow":
        return
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        tf.config.set_visible_devices([], "GPU")


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


def read_json_lines(path):
    """A file of one JSON object per line, as a list; a missing file gives none, a torn line is skipped."""
    try:
        with open(path) as file:
            lines = file.readlines()
    except FileNotFoundError:
        return []
    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries


def append_json_line(path, entry):
    """Appends `entry` as one JSON line, flushed to disk before returning (what a resumed run reads back)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a") as file:
        file.write(json.dumps(entry, sort_keys=True) + "\n")
        file.flush()
        os.fsync(file.fileno())


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


def write_bytes(path, write):
    """Calls `write(file)` on a binary file that replaces `path` atomically (a PNG, say)."""
    _write_atomically(path, write, mode="wb")


def _write_atomically(path, write, mode="w"):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
    try:
        with os.fdopen(handle, mode) as file:
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
