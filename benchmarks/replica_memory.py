"""Memory of a guided training step per replica, against a plain step.

Data-parallel replicas each hold the model and the activations of their share
of the global batch, so what sizes a replica is the step's memory at the
per-replica batch. Two exact measurements that do not depend on allocator
timing, on the `small_cnn` of `step_overhead.py` (32x32x3, BatchNorm):

- JAX: XLA's own accounting of the compiled training step
  (`memory_analysis()`: temporary buffers, per device), under
  `keras.distribution.DataParallel` over 1 and over 2 host devices with the
  same per-replica batch, so the two columns show that a replica's memory
  follows its share of the batch, not the global batch.
- torch: the bytes of the tensors autograd saves for the backward passes
  during one step (activations; parameters excluded), in one process, which
  is what each DDP process holds. DDP adds gradient buckets of about the
  parameters' size.

    python benchmarks/replica_memory.py
    python benchmarks/replica_memory.py --batches 16 32 --backends jax
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402
import step_overhead  # noqa: E402

MODES = step_overhead.MODES
MODEL = "small_cnn"
RESULTS = os.path.join(HERE, "results", "replica_memory.json")


def _model_and_batch(mode, batch):
    import numpy as np

    model, x, y = step_overhead.build_step(MODEL, mode, batch=batch)
    return model, x, np.asarray(y, "int32")


def jax_worker(batches, devices, modes=MODES):
    """Temporary bytes per device of the compiled step, per mode and per-replica batch."""
    import jax
    import keras

    previous = keras.distribution.distribution()
    distribution = keras.distribution.DataParallel(devices=jax.devices()[:devices])
    keras.distribution.set_distribution(distribution)
    try:
        rows = _jax_rows(batches, devices, distribution, modes)
    finally:
        keras.distribution.set_distribution(previous)
    return {"rows": rows, "device": common.device_name()}


def _jax_rows(batches, devices, distribution, modes):
    import jax

    rows = []
    for batch in batches:
        for mode in modes:
            model, x, y = _model_and_batch(mode, batch * devices)
            model.train_on_batch(x, y)  # builds the optimizer and the metrics
            state = (
                [v.value for v in model.trainable_variables],
                [v.value for v in model.non_trainable_variables],
                [v.value for v in model.optimizer.variables],
                [v.value for v in model.metrics_variables],
            )
            data = jax.tree.map(
                lambda a: jax.device_put(
                    a, distribution.get_data_layout(a.shape).backend_layout
                ),
                (x, y),
            )
            compiled = jax.jit(model.train_step).lower(state, data).compile()
            analysis = compiled.memory_analysis()
            rows.append({
                "backend": "jax", "devices": devices, "batch_per_replica": batch, "mode": mode,
                "temp_mb": analysis.temp_size_in_bytes / 2**20,
                "arguments_mb": analysis.argument_size_in_bytes / 2**20,
            })
    return rows


def torch_worker(batches, modes=MODES):
    """Bytes of the tensors autograd saves during one step, parameters excluded."""
    import torch

    rows = []
    for batch in batches:
        for mode in modes:
            model, x, y = _model_and_batch(mode, batch)
            model.train_on_batch(x, y)
            parameters = {v.value.untyped_storage().data_ptr() for v in model.variables}
            saved = {}

            def pack(tensor):
                try:
                    storage = tensor.untyped_storage()
                    key, size = storage.data_ptr(), storage.nbytes()
                except RuntimeError:  # no data of its own (e.g. an empty placeholder)
                    key, size = id(tensor), tensor.numel() * tensor.element_size()
                if key not in parameters:
                    saved[key] = size
                return tensor

            with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
                model.train_on_batch(x, y)
            rows.append({
                "backend": "torch", "devices": 1, "batch_per_replica": batch, "mode": mode,
                "saved_mb": sum(saved.values()) / 2**20,
            })
    return {"rows": rows, "device": common.device_name()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["jax", "torch"], choices=["jax", "torch"])
    parser.add_argument("--batches", nargs="+", type=int, default=[16, 32, 64])
    parser.add_argument("--output", default=RESULTS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--devices", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.batches) < 1:
        parser.error(f"--batches must be >= 1, received {args.batches}")

    if args.worker:
        import json

        import keras

        if keras.backend.backend() == "jax":
            result = jax_worker(args.batches, args.devices)
        else:
            result = torch_worker(args.batches)
        print(json.dumps(result))
        return result

    batches = [str(b) for b in args.batches]
    rows = []
    for backend in args.backends:
        device_counts = (1, 2) if backend == "jax" else (1,)
        for devices in device_counts:
            flags = f"--xla_force_host_platform_device_count={devices}"
            os.environ["XLA_FLAGS"] = flags
            result = common.run_worker(
                __file__, backend, ["--batches", *batches, "--devices", str(devices)]
            )
            rows += result["rows"]
    payload = {**common.environment(), "model": MODEL, "rows": rows}
    common.write_json(args.output, payload)
    print(summary(payload))
    return payload


def summary(payload):
    """Markdown tables: MB per replica and the guided/plain ratio."""
    lines = []
    for backend, key, what in (
        ("jax", "temp_mb", "XLA temporary buffers per device, MB"),
        ("torch", "saved_mb", "tensors saved for backward per process, MB"),
    ):
        rows = [r for r in payload["rows"] if r["backend"] == backend]
        if not rows:
            continue
        table = []
        for devices in sorted({r["devices"] for r in rows}):
            for batch in sorted({r["batch_per_replica"] for r in rows}):
                cells = {
                    r["mode"]: r[key] for r in rows
                    if r["devices"] == devices and r["batch_per_replica"] == batch
                }
                table.append({
                    "devices": devices, "batch": batch, **cells,
                    "ratio_db": cells["double_backprop"] / cells["plain"],
                    "ratio_for": cells["forward_over_reverse"] / cells["plain"],
                })
        lines += [f"{backend}: {what}", "", common.markdown_table(table, [
            ("devices", "devices", "{}"),
            ("batch", "batch per replica", "{}"),
            ("plain", "plain", "{:.1f}"),
            ("double_backprop", "double backprop", "{:.1f}"),
            ("forward_over_reverse", "forward over reverse", "{:.1f}"),
            ("ratio_db", "double backprop / plain", "{:.2f}"),
            ("ratio_for", "forward over reverse / plain", "{:.2f}"),
        ]), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
