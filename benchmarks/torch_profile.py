"""Where torch's guided step spends its time, against the same step written in plain PyTorch.

On `step_overhead.py`'s small CNN (three Conv-BatchNorm-ReLU blocks, batch
64 at 32x32), in one torch process, interleaved, the median of `--steps`:

- Keras on torch: the plain step and the guided step (`double_backprop`,
  `forward_over_reverse`), with the images channels-last (Keras's default:
  every convolution transposes to torch's NCHW and back) and
  channels-first;
- the same network and step written in plain PyTorch (`torch.nn`, native
  BatchNorm, `torch.autograd.grad(create_graph=True)`): the floor that
  eager PyTorch sets, with no Keras in the way.

Then `torch.profiler` on the Keras guided step, its operators' own time
grouped by kind (convolutions, element-wise, copies, reductions, matrix
products), and what the operators do not account for (Python and
dispatch). Writes `results/torch_profile.json` and prints a Markdown table.

    python benchmarks/torch_profile.py            # about 3 minutes on 2 CPU cores
"""

import argparse
import collections
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402

SIDE, BATCH, NUM_CLASSES = 32, 64, 10
BLOCKS = ((16, 1), (32, 2), (64, 2))
KINDS = {
    "convolution": ("convolution", "conv2d", "_convolution"),
    "matrix product": ("aten::mm", "aten::addmm", "aten::bmm", "aten::linear"),
    "copy": ("copy_", "_to_copy", "contiguous", "clone"),
    "reduction": ("aten::sum", "aten::mean", "aten::var", "aten::amax"),
}


def kind_of(op_name):
    """The kind an operator's own time is counted under (`"element-wise"` for the rest)."""
    for kind, markers in KINDS.items():
        if any(marker in op_name for marker in markers):
            return kind
    return "element-wise"


def batch(seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    images = rng.random((BATCH, SIDE, SIDE, 3), dtype="float32")
    provenance = (rng.random((BATCH, SIDE, SIDE, 1)) > 0.5).astype("float32")
    return images, provenance, rng.integers(0, NUM_CLASSES, BATCH)


def keras_step(mode, data_format, seed=0):
    """A `train_on_batch` closure of Keras on torch: `mode` is "plain" or a second-order path."""
    import keras
    import numpy as np

    import keras_provguide as kpg

    keras.utils.set_random_seed(seed)
    images, provenance, labels = batch(seed)
    channels_last = data_format == "channels_last"
    if not channels_last:
        images, provenance = (np.ascontiguousarray(a.transpose(0, 3, 1, 2)) for a in (images, provenance))
    inputs = keras.Input(images.shape[1:])
    x = inputs
    for filters, strides in BLOCKS:
        x = keras.layers.Conv2D(filters, 3, strides=strides, padding="same", data_format=data_format)(x)
        x = keras.layers.BatchNormalization(axis=-1 if channels_last else 1)(x)
        x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D(data_format=data_format)(x)
    model = keras.Model(inputs, keras.layers.Dense(NUM_CLASSES)(x))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    x = images
    if mode != "plain":
        model = kpg.GuidedModel(model, guidance_weight=0.1, second_order=mode)
        x = {"images": images, "provenance": provenance}
    model.compile(keras.optimizers.SGD(0.01), loss)
    return lambda: model.train_on_batch(x, labels)


def torch_step(guided, seed=0):
    """The same network and step in plain PyTorch (NCHW, native BatchNorm)."""
    import torch

    torch.manual_seed(seed)
    images, provenance, labels = batch(seed)
    images = torch.from_numpy(images.transpose(0, 3, 1, 2).copy())
    off_target = 1.0 - torch.from_numpy(provenance.transpose(0, 3, 1, 2).copy())
    labels = torch.from_numpy(labels)
    layers, channels = [], 3
    for filters, strides in BLOCKS:
        layers += [torch.nn.Conv2d(channels, filters, 3, strides, 1), torch.nn.BatchNorm2d(filters, eps=1e-3),
                   torch.nn.ReLU()]
        channels = filters
    net = torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                              torch.nn.Linear(channels, NUM_CLASSES))
    optimizer = torch.optim.SGD(net.parameters(), 0.01)

    def run():
        optimizer.zero_grad()
        inputs = images.detach().requires_grad_(guided)
        logits = net(inputs)
        loss = torch.nn.functional.cross_entropy(logits, labels)
        if guided:
            score = logits.gather(1, labels[:, None]).sum()
            (gradient,) = torch.autograd.grad(score, inputs, create_graph=True)
            loss = loss + 0.1 * (off_target * gradient).square().sum((1, 2, 3)).mean()
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    return run


def time_interleaved(runs, steps, warmup):
    import numpy as np

    for run in runs.values():
        for _ in range(warmup):
            run()
    times = {name: [] for name in runs}
    for _ in range(steps):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * float(np.median(t)) for name, t in times.items()}


def profile_step(run, steps):
    """Per kind, the operators' own milliseconds per step; `"not in operators"` is the rest of the wall time."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(steps):
            run()
        wall = time.perf_counter() - start
    totals = collections.Counter()
    for event in prof.key_averages():
        totals[kind_of(event.key)] += event.self_cpu_time_total / 1e3 / steps
    totals["not in operators"] = max(0.0, 1e3 * wall / steps - sum(totals.values()))
    return dict(totals)


def main(argv=None):
    os.environ.setdefault("KERAS_BACKEND", "torch")  # Before Keras is imported.
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per configuration (>= 1)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--output", default=os.path.join(HERE, "results", "torch_profile.json"))
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        parser.error(f"expected --steps >= 1 and --warmup >= 0, received {args.steps} and {args.warmup}")
    import keras

    if keras.backend.backend() != "torch":
        parser.error(f"expected KERAS_BACKEND=torch, received {keras.backend.backend()!r}")
    runs = {}
    for data_format in ("channels_last", "channels_first"):
        for mode in ("plain", "double_backprop", "forward_over_reverse"):
            runs[f"keras {data_format} {mode}"] = keras_step(mode, data_format)
    runs["plain PyTorch plain"] = torch_step(guided=False)
    runs["plain PyTorch double_backprop"] = torch_step(guided=True)
    medians = time_interleaved(runs, args.steps, args.warmup)
    rows = []
    for setting in ("keras channels_last", "keras channels_first", "plain PyTorch"):
        plain = medians[f"{setting} plain"]
        for mode in ("double_backprop", "forward_over_reverse"):
            if f"{setting} {mode}" in medians:
                guided = medians[f"{setting} {mode}"]
                rows.append({"setting": setting, "mode": mode, "plain_ms": plain, "guided_ms": guided,
                             "ratio": guided / plain})
    columns = [("setting", "setting", "{}"), ("mode", "second order", "{}"), ("plain_ms", "plain ms", "{:.1f}"),
               ("guided_ms", "guided ms", "{:.1f}"), ("ratio", "ratio", "{:.2f}")]
    print(common.markdown_table(rows, columns))
    kinds = profile_step(runs["keras channels_last double_backprop"], max(2, args.steps // 4))
    total = sum(kinds.values())
    print("\nKeras on torch, channels-last, double backprop: where a step's time goes")
    print(common.markdown_table(
        [{"kind": kind, "ms": ms, "share": ms / total} for kind, ms in sorted(kinds.items(), key=lambda kv: -kv[1])],
        [("kind", "kind", "{}"), ("ms", "ms per step", "{:.1f}"), ("share", "share", "{:.0%}")],
    ))
    common.write_json(args.output, {"environment": common.environment(), "rows": rows, "profile_ms": kinds,
                                    "device": common.device_name()})
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
