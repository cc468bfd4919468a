"""Cost of a guided training step against a plain one, per backend and model.

For each backend (its own process) and model, times `train_on_batch` on the
same batch for a plain `keras.Model` and for `kpg.GuidedModel` with each
second-order path, interleaving the three so that they share the machine's
state; reports the median over the timed steps, the guided/plain ratio, and
the peak memory of each mode (measured in a separate process per mode).
Runs on CPU, or on the GPU each backend picks when one is present.

    python benchmarks/step_overhead.py                      # everything
    python benchmarks/step_overhead.py --backends jax --models small_cnn --steps 5
"""

import argparse
import json
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402

MODES = ("plain", "double_backprop", "forward_over_reverse", "finite_difference")
MODELS = {
    # name: (image side, batch size)
    "small_cnn": (32, 64),
    "resnet18": (64, 16),
    "resnet18_224": (224, 32),  # The ResNet-18 layout at ImageNet size (GPU table).
}
NUM_CLASSES = 10


def build_model(name):
    import keras

    side, _ = MODELS[name]
    inputs = keras.Input((side, side, 3))
    if name == "small_cnn":
        x = inputs
        for filters, strides in ((16, 1), (32, 2), (64, 2)):
            x = keras.layers.Conv2D(filters, 3, strides=strides, padding="same")(x)
            x = keras.layers.BatchNormalization()(x)
            x = keras.layers.ReLU()(x)
    else:  # ResNet-18 layout (2-2-2-2 basic blocks, 64-512 channels), small stem.
        # (At 224x224 the stem is the same stride-2 3x3 convolution, without
        # the max pool: a heavier step than torchvision's, not a lighter one.)
        x = keras.layers.Conv2D(64, 3, strides=2, padding="same", use_bias=False)(inputs)
        x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
        for stage, filters in enumerate((64, 128, 256, 512)):
            for block in range(2):
                strides = 2 if stage > 0 and block == 0 else 1
                shortcut = x
                y = keras.layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
                y = keras.layers.ReLU()(keras.layers.BatchNormalization()(y))
                y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
                y = keras.layers.BatchNormalization()(y)
                if strides != 1 or shortcut.shape[-1] != filters:
                    shortcut = keras.layers.Conv2D(filters, 1, strides=strides, use_bias=False)(shortcut)
                    shortcut = keras.layers.BatchNormalization()(shortcut)
                x = keras.layers.ReLU()(keras.layers.Add()([y, shortcut]))
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(NUM_CLASSES)(x), name=name)


def build_step(model_name, mode, seed=0, penalty_every=1, penalty_fraction=1.0, batch=None):
    """A compiled model for `mode` and the `(x, y)` batch it trains on (default size: `MODELS`)."""
    import keras
    import numpy as np

    import keras_provguide as kpg

    keras.utils.set_random_seed(seed)
    side, default_batch = MODELS[model_name]
    batch = batch or default_batch
    rng = np.random.default_rng(seed)
    images = rng.random((batch, side, side, 3), dtype="float32")
    provenance = (rng.random((batch, side, side, 1)) > 0.5).astype("float32")
    labels = rng.integers(0, NUM_CLASSES, batch)
    backbone = build_model(model_name)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if mode == "plain":
        model, x = backbone, images
    else:
        model = kpg.GuidedModel(
            backbone, guidance_weight=0.1, second_order=mode,
            penalty_every=penalty_every, penalty_fraction=penalty_fraction,
        )
        x = {"images": images, "provenance": provenance}
    model.compile(keras.optimizers.SGD(0.01), loss)
    return model, x, labels


def timing_worker(model_name, steps, warmup, penalty_every=1, penalty_fraction=1.0):
    import numpy as np

    runs = {
        mode: build_step(model_name, mode, penalty_every=penalty_every, penalty_fraction=penalty_fraction)
        for mode in MODES
    }
    for model, x, y in runs.values():
        for _ in range(warmup):
            model.train_on_batch(x, y)
    # A whole number of k-step cycles: any k consecutive steps hold exactly
    # one penalised step, so the mean is what an epoch costs per step.
    steps = whole_cycles(steps, penalty_every)
    times = {mode: [] for mode in MODES}
    for _ in range(steps):
        for mode, (model, x, y) in runs.items():
            start = time.perf_counter()
            model.train_on_batch(x, y)  # Returns host values: the step is finished.
            times[mode].append(time.perf_counter() - start)
    # With penalty_every > 1 the steps alternate between two costs: report
    # the mean, which is what an epoch costs.
    average = np.median if penalty_every == 1 else np.mean
    return {
        "device": common.device_name(),
        "median_ms": {mode: 1e3 * float(average(t)) for mode, t in times.items()},
        "steps": steps,
        "cycles": steps // penalty_every,
    }


def whole_cycles(steps, penalty_every):
    """`steps` rounded up to a multiple of `penalty_every`."""
    return -(-steps // penalty_every) * penalty_every


def profile_worker(model_name, steps, warmup):
    """Where a guided step's time goes: compiled parts of it, timed alike.

    `forward` is a compiled evaluation step (forward pass and loss);
    `input_gradient` a compiled guided evaluation step, which adds the
    first-order input gradient (one backward pass to the images); the
    training steps follow.
    """
    import numpy as np

    plain, images, labels = build_step(model_name, "plain")
    guided, x, _ = build_step(model_name, "double_backprop")
    parts = {
        "forward": lambda: plain.test_on_batch(images, labels),
        "input_gradient": lambda: guided.test_on_batch(x, labels),
        "plain_step": lambda: plain.train_on_batch(images, labels),
    }
    for mode in MODES[1:]:
        model, inputs, y = build_step(model_name, mode)
        parts[mode] = lambda model=model, inputs=inputs, y=y: model.train_on_batch(inputs, y)
    times = {name: [] for name in parts}
    for _ in range(max(warmup, 1)):
        for run in parts.values():
            run()
    for _ in range(steps):
        for name, run in parts.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {"device": common.device_name(),
            "median_ms": {name: 1e3 * float(np.median(t)) for name, t in times.items()}}


def memory_worker(model_name, mode, warmup):
    """Peak memory of training steps in `mode`, above the process after building."""
    import keras

    model, x, y = build_step(model_name, mode)
    device = common.device_name()
    baseline = _peak_bytes(device)
    for _ in range(max(warmup, 2)):
        model.train_on_batch(x, y)
    peak = _peak_bytes(device)
    return {"mode": mode, "peak_mb": peak / 2**20, "step_peak_mb": (peak - baseline) / 2**20,
            "backend": keras.backend.backend()}


def _peak_bytes(device):
    import keras

    backend = keras.backend.backend()
    if device != "cpu":
        if backend == "torch":
            import torch

            return torch.cuda.max_memory_allocated()
        if backend == "jax":
            import jax

            return jax.devices()[0].memory_stats()["peak_bytes_in_use"]
        import tensorflow as tf

        return tf.config.experimental.get_memory_info("GPU:0")["peak"]
    # Linux reports the peak resident set size in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=list(common.BACKENDS), choices=common.BACKENDS)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--steps", type=int, default=20, help="timed steps per mode (>= 1)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--penalty-every", type=int, default=1,
        help="guided models apply the penalty every k steps (the mean step time over whole k-step cycles is "
             "then reported: --steps is rounded up to a multiple of k)",
    )
    parser.add_argument(
        "--penalty-fraction", type=float, default=1.0,
        help="guided models compute the penalty on this fraction of each batch",
    )
    parser.add_argument("--output", default=os.path.join(HERE, "results", "step_overhead.json"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--memory-mode", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument(
        "--profile", action="store_true",
        help="time the parts of a step (forward, input gradient, plain step) instead",
    )
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.penalty_every < 1 or not 0 < args.penalty_fraction <= 1:
        parser.error(
            "expected --steps >= 1, --warmup >= 0, --penalty-every >= 1 and --penalty-fraction "
            f"in (0, 1], received {args.steps}, {args.warmup}, {args.penalty_every}, "
            f"{args.penalty_fraction}"
        )

    if args.worker:
        (model_name,) = args.models
        if args.memory_mode:
            result = memory_worker(model_name, args.memory_mode, args.warmup)
        elif args.profile:
            result = profile_worker(model_name, args.steps, args.warmup)
        else:
            result = timing_worker(
                model_name, args.steps, args.warmup, args.penalty_every, args.penalty_fraction
            )
        print(json.dumps(result))
        return

    rows = []
    script = os.path.abspath(__file__)
    if args.profile:
        return profile(script, args)
    for backend in args.backends:
        for model_name in args.models:
            common_args = ["--models", model_name, "--warmup", str(args.warmup)]
            timing = common.run_worker(
                script, backend,
                common_args + [
                    "--steps", str(args.steps), "--penalty-every", str(args.penalty_every),
                    "--penalty-fraction", str(args.penalty_fraction),
                ],
            )
            memory = {
                mode: common.run_worker(script, backend, common_args + ["--memory-mode", mode])
                for mode in MODES
            }
            plain = timing["median_ms"]["plain"]
            row = {"backend": backend, "model": model_name, "device": timing["device"],
                   "penalty_every": args.penalty_every, "penalty_fraction": args.penalty_fraction,
                   "batch": MODELS[model_name][1], "steps": timing["steps"]}
            for mode in MODES:
                row[f"{mode}_ms"] = timing["median_ms"][mode]
                row[f"{mode}_peak_mb"] = memory[mode]["peak_mb"]
                row[f"{mode}_step_mb"] = memory[mode]["step_peak_mb"]
                if mode != "plain":
                    row[f"{mode}_ratio"] = timing["median_ms"][mode] / plain
            rows.append(row)
            print(f"{backend:>10} {model_name:>9}: plain {plain:.1f} ms, "
                  f"double backprop x{row['double_backprop_ratio']:.2f}, "
                  f"forward-over-reverse x{row['forward_over_reverse_ratio']:.2f}, "
                  f"finite difference x{row['finite_difference_ratio']:.2f}", flush=True)

    columns = [
        ("backend", "backend", "{}"), ("model", "model", "{}"), ("device", "device", "{}"),
        ("plain_ms", "plain ms", "{:.1f}"),
        ("double_backprop_ms", "double backprop ms", "{:.1f}"),
        ("double_backprop_ratio", "ratio", "{:.2f}"),
        ("forward_over_reverse_ms", "fwd-over-rev ms", "{:.1f}"),
        ("forward_over_reverse_ratio", "ratio", "{:.2f}"),
        ("finite_difference_ms", "finite diff. ms", "{:.1f}"),
        ("finite_difference_ratio", "ratio", "{:.2f}"),
        ("plain_step_mb", "plain MB", "{:.0f}"),
        ("double_backprop_step_mb", "double bp MB", "{:.0f}"),
        ("forward_over_reverse_step_mb", "fwd-over-rev MB", "{:.0f}"),
        ("finite_difference_step_mb", "finite diff. MB", "{:.0f}"),
    ]
    print()
    print(common.markdown_table(rows, columns))
    common.write_json(args.output, {"environment": common.environment(), "rows": rows})
    print(f"\nwrote {args.output}")


def profile(script, args):
    rows = []
    for backend in args.backends:
        for model_name in args.models:
            result = common.run_worker(
                script, backend,
                ["--models", model_name, "--warmup", str(args.warmup), "--steps", str(args.steps), "--profile"],
            )
            row = {"backend": backend, "model": model_name, "device": result["device"]}
            row.update({f"{k}_ms": v for k, v in result["median_ms"].items()})
            rows.append(row)
    columns = [("backend", "backend", "{}"), ("model", "model", "{}"), ("device", "device", "{}")] + [
        (f"{name}_ms", header, "{:.1f}")
        for name, header in (
            ("forward", "forward ms"), ("input_gradient", "forward + input grad ms"),
            ("plain_step", "plain step ms"), ("double_backprop", "double backprop ms"),
            ("forward_over_reverse", "fwd-over-rev ms"),
        )
    ]
    print(common.markdown_table(rows, columns))
    output = args.output.replace(".json", "_profile.json")
    common.write_json(output, {"environment": common.environment(), "rows": rows})
    print(f"\nwrote {output}")


if __name__ == "__main__":
    main()
