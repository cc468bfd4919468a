"""The wait at each new epoch of a `tf.data` pipeline, with `tf.data`'s autotuning on and off.

`epoch_overhead.py` found torch's and JAX's CPU epochs at whole multiples of
10.25 s. This isolates the cause, with no model cost to hide it: a
one-weight model trains on a `tf.data` pipeline of `--batches` batches, and
a callback sleeps `--pause` seconds after each step, as a real step would
take. An epoch should then last `batches * pause` seconds plus Keras's
own bookkeeping; the stall is what it takes beyond that. Each backend
runs in its own process, once with the pipeline as built (autotuning on,
`tf.data`'s default) and once through `kpg.data.steady_epochs` (off).

    python benchmarks/epoch_stall.py                 # all backends, about 10 minutes

Measured on this 2-core AMD EPYC, 2026-12-06, the defaults (8 batches,
1.5 s a step, so 12 s of steps an epoch; 6 timed epochs;
`results/epoch_stall.json`, the table in `epoch_overhead.md`): with
autotuning on, 3, 2 and 3 epochs of 6 took 20.47 s on TensorFlow, torch and
JAX (a stall of 8.5 s); with it off, none took more than 12.55 s.
"""

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402

RESULTS = os.path.join(HERE, "results", "epoch_stall.json")
MODES = ("autotune on", "autotune off")


def worker(mode, batches, pause, epochs, batch_size=32):
    """Seconds of each epoch after the first, on the active backend."""
    import keras
    import numpy as np
    import tensorflow as tf

    import keras_provguide as kpg

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((batches * batch_size, 8), dtype=np.float32)
    y = (x[:, 0] > 0.5).astype("int32")
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=0).batch(batch_size).prefetch(2)
    if mode == "autotune off":
        dataset = kpg.data.steady_epochs(dataset)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    timer = sleeping_timer(pause)
    model.fit(dataset, epochs=epochs + 1, verbose=0, callbacks=[timer])
    return {"epoch_seconds": timer.seconds[1:], "device": common.device_name()}


def sleeping_timer(pause):
    """A callback that sleeps `pause` s after each step and keeps each epoch's wall seconds (`seconds`)."""
    import keras

    class Timer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            time.sleep(pause)

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    return Timer()


def summarise(backend, mode, result, batches, pause):
    seconds = result["epoch_seconds"]
    steps = batches * pause
    return {
        "backend": backend, "mode": mode, "device": result["device"], "epochs": len(seconds),
        "steps_s": steps, "median_epoch_s": statistics.median(seconds), "max_epoch_s": max(seconds),
        "median_stall_s": statistics.median(seconds) - steps, "max_stall_s": max(seconds) - steps,
        "epoch_seconds": seconds,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=list(common.BACKENDS), choices=common.BACKENDS)
    parser.add_argument("--batches", type=int, default=8, help="batches an epoch")
    parser.add_argument("--pause", type=float, default=1.5, help="seconds slept after each step")
    parser.add_argument("--epochs", type=int, default=6, help="timed epochs, after one untimed")
    parser.add_argument("--output", default=RESULTS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("batches", "epochs"):
        if getattr(args, name) < 1:
            parser.error(f"expected --{name} >= 1, received {getattr(args, name)}")
    if not args.pause >= 0:
        parser.error(f"expected --pause >= 0, received {args.pause}")
    if args.worker:
        import json

        print(json.dumps(worker(args.mode, args.batches, args.pause, args.epochs)))
        return None
    rows = []
    for backend in args.backends:
        for mode in MODES:
            result = common.run_worker(__file__, backend, ["--mode", mode, "--batches", str(args.batches),
                                                          "--pause", str(args.pause), "--epochs", str(args.epochs)])
            rows.append(summarise(backend, mode, result, args.batches, args.pause))
            print(f"{backend}, {mode}: epochs {[round(s, 2) for s in result['epoch_seconds']]} s", flush=True)
    columns = [("backend", "backend", "{}"), ("mode", "pipeline", "{}"), ("epochs", "epochs", "{}"),
               ("steps_s", "steps s", "{:.1f}"), ("median_epoch_s", "median epoch s", "{:.2f}"),
               ("max_epoch_s", "max epoch s", "{:.2f}"), ("median_stall_s", "median stall s", "{:.2f}"),
               ("max_stall_s", "max stall s", "{:.2f}")]
    print(common.markdown_table(rows, columns))
    common.write_json(args.output, {
        "environment": common.environment(),
        "settings": {"batches": args.batches, "pause": args.pause, "epochs": args.epochs},
        "rows": rows,
    })
    return rows


if __name__ == "__main__":
    main()
