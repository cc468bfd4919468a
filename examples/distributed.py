"""Guided training on several devices: data parallel on every backend.

Trains the Decoy digits model of `decoy_digits.py` with `kpg.GuidedModel`,
data parallel on the engine of the active backend, and reports the test
accuracy (random swatch) and the share of input-gradient energy on the decoy:

- JAX: `keras.distribution.DataParallel` over all devices, one process;
- TensorFlow: `tf.distribute.MirroredStrategy` over all devices, one process;
- torch: one process per device launched by `torchrun`, each training
  through `DistributedDataParallel` on its shard of the data.

Every replica computes the task loss and the penalty on its share of each
global batch, and the gradients are averaged over replicas: a step equals a
one-device step on the whole global batch (see `tests/test_distributed.py`).

On one CPU, `--cpu-devices 2` splits it into two devices (JAX, TensorFlow);
torch takes its processes from `torchrun`:

    KERAS_BACKEND=jax python examples/distributed.py --cpu-devices 2
    KERAS_BACKEND=tensorflow python examples/distributed.py --cpu-devices 2
    KERAS_BACKEND=torch torchrun --standalone --nproc_per_node=2 examples/distributed.py

On GPUs, leave out `--cpu-devices` (torch: `--nproc_per_node` = number of
GPUs; processes use NCCL).
"""

import argparse
import os
import sys
import tempfile

# The model and the decoy measure are those of `decoy_digits.py`, imported
# once the engine is set up (JAX reads its device flags when first imported).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--batch-size", type=int, default=64,
        help="global batch, split evenly over the replicas",
    )
    parser.add_argument(
        "--learning-rate", type=float, default=1e-3,
        help="for the global batch; keep it when only the number of replicas changes",
    )
    parser.add_argument("--guidance-weight", type=float, default=1.0)
    parser.add_argument("--num-train", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cpu-devices", type=int, default=None,
        help="split the CPU into this many devices (JAX and TensorFlow)",
    )
    parser.add_argument("--output-dir", default=None, help="where to save the .keras model")
    args = parser.parse_args(argv)
    if args.cpu_devices is not None and args.cpu_devices < 1:
        parser.error(f"--cpu-devices must be >= 1, received {args.cpu_devices}")
    if args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, received {args.batch_size}")
    return args


def main(argv=None):
    args = parse_args(argv)
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if args.cpu_devices and backend == "jax":
        # Read once, when JAX starts: set before Keras imports it.
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "")
            + f" --xla_force_host_platform_device_count={args.cpu_devices}"
        ).strip()
        os.environ["JAX_PLATFORMS"] = "cpu"
    engine = {"jax": JaxEngine, "tensorflow": TensorFlowEngine, "torch": TorchEngine}
    if backend not in engine:
        raise ValueError(
            f"Expected KERAS_BACKEND in {sorted(engine)}, received {backend!r}."
        )
    return train(args, engine[backend](args.cpu_devices))


def train(args, engine):
    import keras
    import numpy as np
    from decoy_digits import build_mlp, decoy_share

    import keras_provguide as kpg

    if args.batch_size % engine.replicas:
        raise ValueError(
            f"Expected --batch-size divisible by the {engine.replicas} replicas, "
            f"received {args.batch_size}."
        )
    keras.utils.set_random_seed(args.seed)
    data = kpg.datasets.decoy_digits(num_train=args.num_train, seed=args.seed)
    # Every batch, the last included, must split evenly over the replicas
    # (JAX shards each batch along its first axis): trim both splits.
    train_split = engine.shard(trim(data["train"], engine.replicas))
    test = trim(data["test"], engine.replicas)
    local_batch = args.batch_size // engine.processes
    engine.log(
        f"backend {keras.backend.backend()}, {engine.name}: {engine.replicas} replicas, "
        f"global batch {args.batch_size} ({args.batch_size // engine.replicas} per replica), "
        f"learning rate {args.learning_rate}"
    )

    with engine.scope():
        model = kpg.GuidedModel(build_mlp(args.seed), guidance_weight=args.guidance_weight)
        model.compile(
            keras.optimizers.Adam(args.learning_rate),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
    history = model.fit(
        {"images": train_split["images"], "provenance": train_split["provenance"]},
        train_split["labels"],
        batch_size=local_batch,
        epochs=args.epochs,
        verbose=2 if engine.is_main else 0,
    )
    logs = model.evaluate(test["images"], test["labels"], verbose=0, return_dict=True)
    share = decoy_share(model, test)
    engine.log(
        f"test accuracy (random swatch) {logs['accuracy']:.3f}; "
        f"gradient share on the swatch {share:.4f}"
    )

    result = {
        "replicas": engine.replicas,
        "accuracy": float(logs["accuracy"]),
        "decoy_share": share,
        "history": history.history,
        "path": None,
    }
    if engine.is_main:  # one process writes the file
        output_dir = args.output_dir or tempfile.mkdtemp(prefix="kpg-")
        os.makedirs(output_dir, exist_ok=True)
        result["path"] = os.path.join(output_dir, "distributed_guided.keras")
        model.save(result["path"])
        reloaded = keras.models.load_model(result["path"])
        same = np.allclose(
            reloaded.predict(test["images"][:64], verbose=0),
            model.predict(test["images"][:64], verbose=0),
            atol=1e-5,
        )
        engine.log(f"saved {result['path']}; reloaded predictions identical: {same}")
    engine.close()
    return result


def trim(split, multiple):
    usable = len(split["labels"]) // multiple * multiple
    return {key: value[:usable] for key, value in split.items()}


class Engine:
    """One process drives every device: the whole data goes to `fit`."""

    name = "one process"
    processes = 1
    is_main = True

    def shard(self, split):
        return split

    def scope(self):
        import contextlib

        return contextlib.nullcontext()

    def log(self, message):
        if self.is_main:
            print(message, flush=True)

    def close(self):
        pass


class JaxEngine(Engine):
    def __init__(self, cpu_devices):
        import jax
        import keras

        # Several hosts: call `keras.distribution.initialize()` first; then
        # `jax.devices()` lists the devices of every host.
        devices = jax.devices()
        self.replicas = len(devices)
        self.name = f"keras.distribution.DataParallel over {self.replicas} {devices[0].platform} devices"
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))


class TensorFlowEngine(Engine):
    def __init__(self, cpu_devices):
        import tensorflow as tf

        if cpu_devices:
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices
            )
            self.strategy = tf.distribute.MirroredStrategy(
                [f"/cpu:{i}" for i in range(cpu_devices)]
            )
        else:  # every GPU, or the CPU
            self.strategy = tf.distribute.MirroredStrategy()
        self.replicas = self.strategy.num_replicas_in_sync
        self.name = f"tf.distribute.MirroredStrategy over {self.replicas} devices"

    def scope(self):
        # Build and compile inside: the variables are mirrored on every device.
        return self.strategy.scope()


class TorchEngine(Engine):
    def __init__(self, cpu_devices):
        import torch
        from torch import distributed

        del cpu_devices  # The processes come from torchrun.
        self.launched = "WORLD_SIZE" in os.environ
        if self.launched:
            if torch.cuda.is_available():
                # Before the model is built: Keras puts variables on this GPU.
                torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
            distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
            self.rank, self.processes = distributed.get_rank(), distributed.get_world_size()
        else:
            self.rank, self.processes = 0, 1
        self.replicas = self.processes
        self.is_main = self.rank == 0
        self.name = f"DistributedDataParallel, {self.processes} processes (torchrun)"

    def shard(self, split):
        # Process r takes rows r, r + n, ...: each global batch is the union
        # of the processes' batches, and every process runs as many steps.
        return {k: v[self.rank::self.processes] for k, v in split.items()}

    def close(self):
        if self.launched:
            from torch import distributed

            # The main process may still be saving: no process tears gloo
            # down while another can still reach a collective.
            distributed.barrier()
            distributed.destroy_process_group()


if __name__ == "__main__":
    main()
