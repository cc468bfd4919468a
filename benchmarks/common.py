"""What every benchmark here shares: per-backend worker processes, tables, JSON.

Each backend runs in its own process (`KERAS_BACKEND` is fixed at import), so
a benchmark script re-runs itself with `--worker` per backend and collects
one JSON line from each.
"""

import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile

BACKENDS = ("tensorflow", "torch", "jax")


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
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            json.dump(payload, file, indent=2)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
