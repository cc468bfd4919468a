"""Cost of a guided training step against a plain one, per backend and model.

For each backend (its own process) and model, times `train_on_batch` on the
same batch for a plain `keras.Model` and for `kpg.GuidedModel` with each
second-order path, interleaving the three so that they share the machine's
state; reports the median over the timed steps, the guided/plain ratio, and
the peak memory of each mode (measured in a separate process per mode).
Runs on CPU, or on the GPU each backend picks when one is present.

    python benchmarks/step_overhead.py                      # every path, the CPU tables' models
    python benchmarks/step_overhead.py --backends jax --models small_cnn --steps 5
    python benchmarks/step_overhead.py --models resnet50_224 --precision mixed_float16 \\
        --modes double_backprop                             # the GPU suite's kind of row

`--precision` builds every model (plain included) under that Keras dtype
policy; `--modes` times only those second-order paths (plain always).
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
    "resnet50_224": (224, 32),  # The ResNet-50 layout at ImageNet size (GPU suite only).
}
# The CPU tables' models: resnet50_224 is timed by benchmarks/gpu_suite.sh.
DEFAULT_MODELS = ("small_cnn", "resnet18", "resnet18_224")
NUM_CLASSES = 10
MODE_NAMES = {
    "double_backprop": "double backprop",
    "forward_over_reverse": "forward-over-reverse",
    "finite_difference": "finite difference",
}


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
    elif name == "resnet50_224":
        x = _resnet50(inputs)
    else:
        x = _resnet18(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(NUM_CLASSES)(x), name=name)


def _conv_bn(x, filters, kernel, strides=1, relu=True):
    import keras

    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    return keras.layers.ReLU()(x) if relu else x


def _residual(x, y, strides):
    """ReLU of `y` plus `x`, through a 1x1 projection when the shape changes."""
    import keras

    if strides != 1 or x.shape[-1] != y.shape[-1]:
        x = _conv_bn(x, y.shape[-1], 1, strides, relu=False)
    return keras.layers.ReLU()(keras.layers.Add()([y, x]))


def _resnet18(x):
    """The ResNet-18 layout (2-2-2-2 basic blocks, 64-512 channels), small stem.

    At 224x224 the stem is the same stride-2 3x3 convolution, without the
    max pool: a heavier step than torchvision's, not a lighter one.
    """
    x = _conv_bn(x, 64, 3, strides=2)
    for stage, filters in enumerate((64, 128, 256, 512)):
        for block in range(2):
            strides = 2 if stage > 0 and block == 0 else 1
            y = _conv_bn(x, filters, 3, strides)
            x = _residual(x, _conv_bn(y, filters, 3, relu=False), strides)
    return x


def _resnet50(x):
    """The ResNet-50 layout: 3-4-6-3 bottleneck blocks, 64-512 wide, 256-2048 out.

    torchvision's `resnet50`: a 7x7 stride-2 stem and a 3x3 stride-2 max
    pool (so its cost is the model the guidance paper trains, 4.1 GFLOPs a
    forward pass at 224x224), the stride on each stage's first 3x3
    convolution.
    """
    import keras

    x = _conv_bn(x, 64, 7, strides=2)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same")(x)
    for stage, (width, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3))):
        for block in range(blocks):
            strides = 2 if stage > 0 and block == 0 else 1
            y = _conv_bn(x, width, 1)
            y = _conv_bn(y, width, 3, strides)
            x = _residual(x, _conv_bn(y, 4 * width, 1, relu=False), strides)
    return x


def build_step(model_name, mode, seed=0, penalty_every=1, penalty_fraction=1.0, batch=None):
    """A compiled model for `mode` and the `(x, y)` batch it trains on (default size: `MODELS`)."""
    import keras
    import numpy as np

    import keras_provguide as kpg
    from keras_provguide.guidance.second_order import HALF_PRECISION_MIN_STEP

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
        # Under float16 or bfloat16 the default finite-difference step rounds
        # to zero and is refused; the step's cost does not depend on its size.
        half = {"finite_difference_step": HALF_PRECISION_MIN_STEP} if backbone.compute_dtype != "float32" else {}
        model = kpg.GuidedModel(
            backbone, guidance_weight=0.1, second_order=mode,
            penalty_every=penalty_every, penalty_fraction=penalty_fraction, **half,
        )
        x = {"images": images, "provenance": provenance}
    model.compile(keras.optimizers.SGD(0.01), loss)
    return model, x, labels


def timing_worker(model_name, steps, warmup, penalty_every=1, penalty_fraction=1.0, modes=MODES,
                  precision="float32"):
    """Milliseconds per step of each of `modes` ("plain" among them) under the dtype policy `precision`."""
    with common.dtype_policy(precision):
        runs = {
            mode: build_step(model_name, mode, penalty_every=penalty_every, penalty_fraction=penalty_fraction)
            for mode in modes
        }
        # A whole number of k-step cycles: any k consecutive steps hold exactly
        # one penalised step, so the mean is what an epoch costs per step.
        steps = whole_cycles(steps, penalty_every)
        times = interleaved_times(runs, steps, warmup)
    return {
        "device": common.device_name(),
        "compute_dtype": runs["plain"][0].compute_dtype,
        "median_ms": {mode: step_ms(t, penalty_every) for mode, t in times.items()},
        "steps": steps,
        "cycles": steps // penalty_every,
    }


def interleaved_times(runs, steps, warmup):
    """Seconds of each `train_on_batch` of `runs` (`{name: (model, x, y)}`), `steps` rounds of one step each.

    Interleaving the runs step by step makes them share the machine's state
    (clock, caches, other load); `warmup` untimed steps each go first.
    """
    for model, x, y in runs.values():
        for _ in range(warmup):
            model.train_on_batch(x, y)
    times = {name: [] for name in runs}
    for _ in range(steps):
        for name, (model, x, y) in runs.items():
            start = time.perf_counter()
            model.train_on_batch(x, y)  # Returns host values: the step is finished.
            times[name].append(time.perf_counter() - start)
    return times


def step_ms(times, penalty_every):
    """Milliseconds per step of `times` (seconds): their median, or with `penalty_every` > 1 their mean.

    With `penalty_every` > 1 the steps alternate between two costs: over a
    whole number of k-step cycles the mean is what an epoch costs per step.
    """
    import numpy as np

    return 1e3 * float(np.median(times) if penalty_every == 1 else np.mean(times))


def whole_cycles(steps, penalty_every):
    """`steps` rounded up to a multiple of `penalty_every`."""
    return -(-steps // penalty_every) * penalty_every


def profile_worker(model_name, steps, warmup, precision="float32"):
    """Where a guided step's time goes: compiled parts of it, timed alike.

    `forward` is a compiled evaluation step (forward pass and loss);
    `input_gradient` a compiled guided evaluation step, which adds the
    first-order input gradient (one backward pass to the images); the
    training steps follow.
    """
    import numpy as np

    with common.dtype_policy(precision):
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


def memory_worker(model_name, mode, warmup, precision="float32"):
    """Peak memory of training steps in `mode`, above the process after building."""
    import keras

    with common.dtype_policy(precision):
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
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), choices=list(MODELS))
    parser.add_argument(
        "--modes", nargs="+", default=list(MODES[1:]), choices=MODES[1:],
        help="the second-order paths to time (plain is always timed)",
    )
    parser.add_argument(
        "--precision", default="float32", choices=common.PRECISIONS,
        help="the Keras dtype policy every model is built under (plain included)",
    )
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
    parser.add_argument("--markdown", help="also write the table to this file")
    parser.add_argument("--check-args", action="store_true", help="check the arguments and exit")
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
    if args.check_args:
        print(f"{parser.prog}: arguments accepted")
        return
    modes = [mode for mode in MODES if mode == "plain" or mode in args.modes]

    if args.worker:
        (model_name,) = args.models
        if args.memory_mode:
            result = memory_worker(model_name, args.memory_mode, args.warmup, args.precision)
        elif args.profile:
            result = profile_worker(model_name, args.steps, args.warmup, args.precision)
        else:
            result = timing_worker(
                model_name, args.steps, args.warmup, args.penalty_every, args.penalty_fraction, modes,
                args.precision,
            )
        print(json.dumps(result))
        return

    rows = []
    script = os.path.abspath(__file__)
    if args.profile:
        return profile(script, args)
    for backend in args.backends:
        for model_name in args.models:
            common_args = ["--models", model_name, "--warmup", str(args.warmup), "--precision", args.precision]
            timing = common.run_worker(
                script, backend,
                common_args + [
                    "--steps", str(args.steps), "--penalty-every", str(args.penalty_every),
                    "--penalty-fraction", str(args.penalty_fraction), "--modes", *modes[1:],
                ],
            )
            memory = {
                mode: common.run_worker(script, backend, common_args + ["--memory-mode", mode])
                for mode in modes
            }
            plain = timing["median_ms"]["plain"]
            row = {"backend": backend, "model": model_name, "device": timing["device"],
                   "precision": args.precision, "penalty_every": args.penalty_every,
                   "penalty_fraction": args.penalty_fraction, "batch": MODELS[model_name][1],
                   "steps": timing["steps"]}
            for mode in modes:
                row[f"{mode}_ms"] = timing["median_ms"][mode]
                row[f"{mode}_peak_mb"] = memory[mode]["peak_mb"]
                row[f"{mode}_step_mb"] = memory[mode]["step_peak_mb"]
                if mode != "plain":
                    row[f"{mode}_ratio"] = timing["median_ms"][mode] / plain
            rows.append(row)
            ratios = ", ".join(f"{MODE_NAMES[mode]} x{row[f'{mode}_ratio']:.2f}" for mode in modes[1:])
            print(f"{backend:>10} {model_name:>9}: plain {plain:.1f} ms, {ratios}", flush=True)

    headers = {
        "double_backprop": ("double backprop ms", "double bp MB"),
        "forward_over_reverse": ("fwd-over-rev ms", "fwd-over-rev MB"),
        "finite_difference": ("finite diff. ms", "finite diff. MB"),
    }
    columns = [
        ("backend", "backend", "{}"), ("model", "model", "{}"), ("device", "device", "{}"),
        ("precision", "precision", "{}"), ("plain_ms", "plain ms", "{:.1f}"),
    ]
    for mode in modes[1:]:
        columns += [(f"{mode}_ms", headers[mode][0], "{:.1f}"), (f"{mode}_ratio", "ratio", "{:.2f}")]
    columns.append(("plain_step_mb", "plain MB", "{:.0f}"))
    columns += [(f"{mode}_step_mb", headers[mode][1], "{:.0f}") for mode in modes[1:]]
    table = common.markdown_table(rows, columns)
    print()
    print(table)
    common.write_json(args.output, {"environment": common.environment(), "rows": rows})
    print(f"\nwrote {args.output}")
    if args.markdown:
        common.write_text(args.markdown, table + "\n")
        print(f"wrote {args.markdown}")


def profile(script, args):
    rows = []
    for backend in args.backends:
        for model_name in args.models:
            result = common.run_worker(
                script, backend,
                ["--models", model_name, "--warmup", str(args.warmup), "--steps", str(args.steps), "--profile",
                 "--precision", args.precision],
            )
            row = {"backend": backend, "model": model_name, "device": result["device"],
                   "precision": args.precision}
            row.update({f"{k}_ms": v for k, v in result["median_ms"].items()})
            rows.append(row)
    columns = [("backend", "backend", "{}"), ("model", "model", "{}"), ("device", "device", "{}"),
               ("precision", "precision", "{}")] + [
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
