"""
# Several devices

**What you learn:** how to train `GuidedModel` data parallel on each
backend's own engine, and what changes with more devices.

Every replica computes the task loss and the penalty on its share of the
global batch, and the gradients are averaged over the replicas, so a step on
`n` devices is a step on one device with the same global batch.
`tests/test_distributed.py` checks this on two CPU devices for each engine,
to a relative 1e-5.

This guide runs on whatever devices the process sees (one CPU is fine).
`examples/distributed.py` splits one CPU into two devices to show the real
thing:

    KERAS_BACKEND=jax python examples/distributed.py --cpu-devices 2
    KERAS_BACKEND=tensorflow python examples/distributed.py --cpu-devices 2
    KERAS_BACKEND=torch torchrun --standalone --nproc_per_node=2 examples/distributed.py
"""

import contextlib

import keras

import keras_provguide as kpg

"""
## The engine of each backend

| backend | engine | what to write |
|---|---|---|
| JAX | `keras.distribution.DataParallel` | `keras.distribution.set_distribution(keras.distribution.DataParallel())` before building the model; `fit(batch_size=...)` takes the global batch. Several hosts: `keras.distribution.initialize()` first |
| TensorFlow | `tf.distribute.MirroredStrategy` | build and compile inside `strategy.scope()`; `fit(batch_size=...)` takes the global batch; each replica's penalty is scaled by `1 / num_replicas_in_sync`, as Keras scales the task loss |
| PyTorch | `DistributedDataParallel`, launched by `torchrun` | `torch.distributed.init_process_group(...)` in each process, then a plain `fit` on that process's shard with `batch_size` = global batch / processes. `GuidedModel` wraps itself in DDP on its first training step. On GPUs, call `torch.cuda.set_device(local_rank)` first and use NCCL |
"""

backend = keras.backend.backend()
scope = contextlib.nullcontext()
if backend == "jax":
    keras.distribution.set_distribution(keras.distribution.DataParallel())
    replicas = len(keras.distribution.list_devices())
elif backend == "tensorflow":
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy()
    scope, replicas = strategy.scope(), strategy.num_replicas_in_sync
else:  # torch: one process per device; without torchrun this process is the only one.
    import torch.distributed

    replicas = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
print(f"{backend}: {replicas} replica(s)")

"""
## The same training, on every engine

The global batch must split evenly over the replicas (on JAX every batch,
the last one included), so the data are trimmed to a multiple of it.
"""

data = kpg.datasets.decoy_digits(num_train=768)
train = data["train"]
global_batch = 64 * replicas
count = len(train["labels"]) // global_batch * global_batch
with scope:
    keras.utils.set_random_seed(0)
    model = kpg.GuidedModel(keras.Sequential([
        keras.Input((28, 28, 1)), keras.layers.Flatten(),
        keras.layers.Dense(50, activation="relu"), keras.layers.Dense(10),
    ]), guidance_weight=1.0)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
model.fit({"images": train["images"][:count], "provenance": train["provenance"][:count]},
          train["labels"][:count], batch_size=global_batch, epochs=2, verbose=0)
print({key: round(float(value[-1]), 4) for key, value in model.history.history.items()})

"""
## What changes with more devices

- **Learning rate.** With the global batch fixed, keep it: the steps are the
  same. If the global batch grows with the device count, scale and tune it.
- **`guidance_weight` stays as it is.** The penalty is a mean over samples,
  like the task loss.
- **BatchNorm statistics.** JAX computes them over the global batch;
  TensorFlow and torch per replica, so a model with BatchNorm differs
  slightly from its one-device run.
- **Logs.** JAX and TensorFlow log means over the global batch; each torch
  process logs its own share.
- **`penalty_fraction`** takes the first samples of each replica's share on
  TensorFlow and torch, and of the global batch on JAX.
- **Memory.** A guided step holds about 2-2.5x the activations of a plain
  step, so where a plain step fits `b` samples per device, a guided one fits
  about `b / 2` to `b / 2.5` (`benchmarks/replica_memory.py`).
"""
