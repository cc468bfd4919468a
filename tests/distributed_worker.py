"""Guided training on one device, or data-parallel on two, on the active backend.

Imported by `test_distributed.py` for the one-device reference; run as a
script for two devices:

    KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=2 \\
        python tests/distributed_worker.py OUT.npz
    KERAS_BACKEND=tensorflow python tests/distributed_worker.py OUT.npz
    KERAS_BACKEND=torch python -m torch.distributed.run --standalone \\
        --nproc_per_node=2 tests/distributed_worker.py OUT.npz

JAX runs under `keras.distribution.DataParallel` over the two host devices,
TensorFlow under `tf.distribute.MirroredStrategy` over two logical CPUs, torch
with one gloo process per device (`GuidedModel` trains through
`DistributedDataParallel`). Every run sees the same global batches; a torch
process gets its half of each.
"""

import os
import sys

import numpy as np

GLOBAL_BATCH, NUM_CLASSES, NUM_BATCHES = 8, 4, 2


def _data_and_weights():
    rng = np.random.default_rng(7)
    n = GLOBAL_BATCH * NUM_BATCHES
    data = {
        "images": rng.random((n, 8, 8, 3)).astype("float32"),
        "provenance": rng.random((n, 8, 8, 1)).astype("float32"),
        "labels": rng.integers(0, NUM_CLASSES, n).astype("int32"),
    }
    shapes = [(3, 3, 3, 6), (6,), (3, 3, 6, 6), (6,), (6, NUM_CLASSES), (NUM_CLASSES,)]
    weights = [rng.normal(scale=0.5, size=s).astype("float32") for s in shapes]
    return data, weights


def _model(weights, penalty_every):
    import keras

    import keras_provguide as kpg

    # No BatchNorm: MirroredStrategy and DDP normalise each replica's share of
    # the batch with its own statistics, which is not the one-device step.
    backbone = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(6, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(6, 3, strides=2, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(NUM_CLASSES),
        ]
    )
    backbone.set_weights(weights)
    model = kpg.GuidedModel(backbone, guidance_weight=1.0, penalty_every=penalty_every)
    model.compile(
        keras.optimizers.SGD(1.0),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def guided_values(shard=None, reduce_logs=None):
    """Weights and logs after one guided step, after a short fit, and after fine-tuning it.

    `shard(array)` selects this process's rows of each global batch (torch);
    `reduce_logs(logs)` averages the logs over processes.
    """
    import keras

    data, weights = _data_and_weights()
    shard = shard or (lambda array: array)
    reduce_logs = reduce_logs or (lambda logs: logs)
    x = {"images": shard(data["images"]), "provenance": shard(data["provenance"])}
    y = shard(data["labels"])
    local_batch = len(y) // NUM_BATCHES
    values = {}

    # One step on the first global batch. SGD with learning rate 1: the
    # update is minus the gradient of the total loss.
    model = _model(weights, penalty_every=1)
    first = {k: v[:local_batch] for k, v in x.items()}
    history = model.fit(first, y[:local_batch], batch_size=local_batch, shuffle=False, verbose=0)
    for key, value in reduce_logs(history.history).items():
        values[f"step_{key}"] = np.asarray(value[-1])
    for i, (old, new) in enumerate(zip(weights, model.classifier.get_weights())):
        values[f"step_update_{i}"] = old - new

    # A short fit: two epochs of two steps, penalty on every other step.
    model = _model(weights, penalty_every=2)
    history = model.fit(x, y, batch_size=local_batch, epochs=2, shuffle=False, verbose=0)
    for key, value in reduce_logs(history.history).items():
        values[f"fit_{key}"] = np.asarray(value)
    for i, weight in enumerate(model.classifier.get_weights()):
        values[f"fit_weight_{i}"] = weight
    values["replicas"] = np.asarray(_replicas(model))

    # Fine-tuning: freeze the first convolution and train on.
    model.classifier.layers[0].trainable = False
    model.compile(
        keras.optimizers.SGD(1.0), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    model.fit(x, y, batch_size=local_batch, epochs=1, shuffle=False, verbose=0)
    for i, weight in enumerate(model.classifier.get_weights()):
        values[f"frozen_weight_{i}"] = weight
    return values
    return values


def batchnorm_updates(rows=slice(0, GLOBAL_BATCH), shard=None):
    """The update of each trainable weight by one guided SGD step (rate 1) of a BatchNorm model on `rows`.

    On two devices, each replica (TensorFlow, torch) normalises its own share
    of the batch; JAX's data-parallel program normalises the global batch.
    """
    import keras

    import keras_provguide as kpg

    data, _ = _data_and_weights()
    shard = shard or (lambda array: array)
    backbone = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(6, 3, padding="same", use_bias=False),
        keras.layers.BatchNormalization(momentum=0.5),
        keras.layers.ReLU(),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(NUM_CLASSES),
    ])
    rng = np.random.default_rng(11)
    backbone.set_weights([
        np.ones(w.shape, "float32") if any(k in w.path for k in ("gamma", "moving_variance"))
        else np.zeros(w.shape, "float32") if "moving_mean" in w.path
        else rng.normal(scale=0.5, size=w.shape).astype("float32")
        for w in backbone.weights
    ])
    model = kpg.GuidedModel(backbone, guidance_weight=1.0)
    model.compile(keras.optimizers.SGD(1.0), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = {"images": shard(data["images"][rows]), "provenance": shard(data["provenance"][rows])}
    y = shard(data["labels"][rows])
    before = [keras.ops.convert_to_numpy(w) for w in backbone.trainable_weights]
    model.fit(x, y, batch_size=len(y), shuffle=False, verbose=0)
    after = [keras.ops.convert_to_numpy(w) for w in backbone.trainable_weights]
    return {f"batchnorm_update_{i}": old - new for i, (old, new) in enumerate(zip(before, after))}


def _replicas(model):
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        return len(model.classifier.weights[0].value.sharding.device_set)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.distribute.get_strategy().num_replicas_in_sync
    from torch import distributed
    from torch.nn.parallel import DistributedDataParallel

    wrapper, _ = model.__dict__.get("_distributed_wrapper", (None, None))
    keras_wrapper = model.__dict__.get("ddp_model")
    if keras_wrapper is not None:  # Keras's own wrapper, and never a second one of ours.
        wrapper = None if wrapper is not None else keras_wrapper
    wrapped = isinstance(wrapper, DistributedDataParallel)
    return distributed.get_world_size() if wrapped else 1


def _emulate_keras_ddp():
    """Makes the installed Keras's torch trainer wrap models in DDP itself, as Keras after 3.15 does.

    Keras's `TorchTrainer` gained `ddp_model`, built once per model by
    `_initialize_ddp` in `make_train_function`. Returns the list that
    records each wrapper it builds.
    """
    from keras.src.backend.torch.trainer import TorchTrainer
    from torch import distributed
    from torch.nn.parallel import DistributedDataParallel

    built = []

    def _initialize_ddp(self):
        if distributed.is_initialized() and self.ddp_model is None:
            wrapper = DistributedDataParallel(self, find_unused_parameters=False)
            object.__setattr__(self, "ddp_model", wrapper)
            built.append(wrapper)

    make_train_function = TorchTrainer.make_train_function

    def make_train_function_with_ddp(self, force=False):
        if self.train_function is not None and not force:
            return self.train_function
        self._initialize_ddp()
        return make_train_function(self, force)

    TorchTrainer.ddp_model = None
    TorchTrainer._initialize_ddp = _initialize_ddp
    TorchTrainer.make_train_function = make_train_function_with_ddp
    return built


def _run_jax(out):
    import jax
    import keras

    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
    np.savez(out, **guided_values(), **batchnorm_updates())


def _run_tensorflow(out):
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        values = guided_values()
        values.update(batchnorm_updates())
    np.savez(out, **values)


def _run_torch(out):
    import torch
    from torch import distributed

    distributed.init_process_group("gloo")
    keras_wrappers = _emulate_keras_ddp() if os.environ.get("KPG_EMULATE_KERAS_DDP") == "1" else None
    rank, world = distributed.get_rank(), distributed.get_world_size()
    part = GLOBAL_BATCH // world

    def shard(array):
        return np.concatenate(
            [array[i + rank * part : i + (rank + 1) * part] for i in range(0, len(array), GLOBAL_BATCH)]
        )

    def reduce_logs(logs):
        # Keras logs each process's own share; equal shares average exactly.
        averaged = {}
        for key, value in logs.items():
            tensor = torch.tensor(value, dtype=torch.float64)
            distributed.all_reduce(tensor)
            averaged[key] = (tensor / world).tolist()
        return averaged

    values = guided_values(shard, reduce_logs)
    values.update(batchnorm_updates(shard=shard))
    if keras_wrappers is not None:
        values["keras_ddp_builds"] = np.asarray(len(keras_wrappers))
    # Every process must end with the same weights.
    for key in [k for k in values if k.endswith(tuple(f"weight_{i}" for i in range(6)))]:
        weight = torch.tensor(values[key])
        spread = weight.clone()
        distributed.all_reduce(weight, op=distributed.ReduceOp.MAX)
        distributed.all_reduce(spread, op=distributed.ReduceOp.MIN)
        values[key.replace("_weight_", "_spread_")] = (weight - spread).numpy()
    if rank == 0:
        np.savez(out, **values)
    # No process leaves while the other may still be inside a collective:
    # a rank that tears gloo down early has aborted its peer's exit
    # ("terminate called without an active exception").
    distributed.barrier()
    distributed.destroy_process_group()
    # Even so, about one exit in ten on 2 loaded cores aborts after the last
    # line of Python, in a C++ destructor during interpreter teardown
    # ("terminate called without an active exception", main thread with no
    # Python frame; measured with PYTHONFAULTHANDLER=1; 0 in 33 runs without
    # the teardown). Gloo's worker threads meet the finalising interpreter, as
    # in pytorch/pytorch#179291. Everything is written and every collective
    # done by now: leave without the teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    import keras

    runs = {"jax": _run_jax, "tensorflow": _run_tensorflow, "torch": _run_torch}
    runs[keras.backend.backend()](sys.argv[1])
