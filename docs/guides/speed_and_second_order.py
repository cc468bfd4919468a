"""
# Speed and the second-order paths

**What you learn:** what a guided step costs, the three ways `GuidedModel`
takes the penalty's second derivative, and the schedules that make guidance
cheaper (`penalty_every`, `penalty_fraction`), with what each keeps.

The penalty's parameter gradient needs a second derivative: the input
gradient is itself differentiated with respect to the weights.

    KERAS_BACKEND=jax python docs/guides/speed_and_second_order.py
"""

import keras
import numpy as np

import keras_provguide as kpg

"""
## The three paths

`GuidedModel(second_order=...)`:

- `"double_backprop"` (exact) differentiates the input gradient again in
  reverse mode.
- `"forward_over_reverse"` (exact) takes the input gradient `g`, then the
  forward-mode derivative of the score along `u = stop_gradient(dP/dg)`. Its
  parameter gradient equals that of `P`.
- `"finite_difference"` (approximate; Finlay and Oberman, 2019) replaces
  that derivative by a difference of scores at `x` and `x + a u`: no
  second-derivative kernels at all. On smooth networks it converges to the
  exact step, the error linear in `finite_difference_step`; through ReLU
  kinks it does not, and it acts as a penalty on score changes over a small
  neighbourhood. Under mixed precision it needs a step of at least 3e-2.
- `"auto"` (the default) takes the exact path measured fastest on the
  backend: double backprop on TensorFlow and PyTorch, forward-over-reverse on
  JAX.

The two exact paths give the same step to within 2e-6 (tested on every
backend). Here is one step of each on a small CNN, from the same weights:
"""

rng = np.random.default_rng(0)
images = rng.random((64, 32, 32, 3), dtype="float32")
provenance = (rng.random((64, 32, 32, 1)) > 0.5).astype("float32")
labels = rng.integers(0, 10, 64)


def cnn():
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((32, 32, 3)), keras.layers.Conv2D(32, 3, activation="tanh"),
        keras.layers.Conv2D(32, 3, activation="tanh"), keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10),
    ])


def one_step(guidance_weight=1.0, **options):
    model = kpg.GuidedModel(cnn(), guidance_weight=guidance_weight, **options)
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.train_on_batch({"images": images, "provenance": provenance}, labels)
    return np.concatenate([np.ravel(keras.ops.convert_to_numpy(w)) for w in model.trainable_weights])


exact = one_step(second_order="double_backprop")
moved = np.abs(exact - one_step(guidance_weight=0.0)).max()  # what the penalty changes in one step
for path in ("forward_over_reverse", "finite_difference"):
    difference = np.abs(one_step(second_order=path) - exact).max()
    print(f"{path}: {difference / moved:.1e} of the penalty's own step away from double backprop")

"""
## What a step costs

`benchmarks/step_overhead.py` times the paths against a plain step,
interleaved, with warm-up and medians, and measures memory; its tables are
in `benchmarks/step_overhead.md`. On a 2-core CPU an exact guided step costs about
2-3x a plain step; on an H100, 2.1x (JAX) to 3.1x (torch) at ResNet-18 and
224x224. Time your own model the same way before choosing a schedule.

On PyTorch the guided step is torch's eager double backward: the same step
written in plain PyTorch costs as much (`benchmarks/torch_profile.py`). On
a Linux CPU, glibc's allocator returns each step's large buffers to the
system and faults them back in; keeping them takes 7-15% off a torch
guided step. Set `MALLOC_MMAP_THRESHOLD_=4000000000` and
`MALLOC_TRIM_THRESHOLD_=8000000000` before Python starts, or, in the
process before training:

```python
import ctypes
libc = ctypes.CDLL("libc.so.6")
libc.mallopt(-3, 2**30)      # M_MMAP_THRESHOLD
libc.mallopt(-1, 2**31 - 1)  # M_TRIM_THRESHOLD
```

## What an epoch costs: `tf.data`'s autotuning

With `tf.data`'s autotuning on (its default), a new epoch can wait for
its tuning thread, whose waits double up to about 10 s: short epochs
snap to whole multiples of 10.25 s (`benchmarks/epoch_stall.py`, on a
2-core CPU, every backend). The package's file readers turn it off and use
fixed sizes; for a pipeline of your own, `kpg.data.steady_epochs` does
the same, and leaves the elements and their order as they were:

```python
dataset = tf.data.Dataset.from_tensor_slices(arrays).shuffle(n, seed=0).batch(32)
model.fit(kpg.data.steady_epochs(dataset.prefetch(2)), epochs=12)
```

## Cheaper schedules

- `penalty_every=k` applies the penalty on one step in `k`; the other steps
  cost a plain step. By default (`lazy_rescale=True`) the penalised steps
  weigh it `k * guidance_weight`, so its average pull is that of
  every-step guidance, as StyleGAN2's lazy R1 regularisation does. On JAX
  and on TensorFlow under XLA, the guided and plain steps are compiled
  apart and picked on the host.
- `penalty_fraction=f` penalises the first `ceil(f * B)` samples of each
  batch, an unbiased estimate of the full batch's penalty.

What each keeps, measured on Decoy digits and From Fake to Real + guidance
over 30 seeds per backend, is in `benchmarks/cheaper_guidance.md`: `penalty_every=4`
keeps nearly all of guidance's effect for 1.3-1.5x a plain step on a 2-core
CPU, `penalty_every=8` about three fifths of it for at most 1.27x.

## Mixed precision

The guidance paper trains in mixed precision with the penalty in float32;
so does `GuidedModel`, on every backend and every exact path. Under
`keras.mixed_precision.set_global_policy("mixed_float16")` or
`"mixed_bfloat16"`:

- the forward pass, the backward pass and the input gradient's own
  backward pass run in half precision;
- the input gradient is cast to float32 before it is masked, squared and
  summed, so `P` and its second-order term accumulate in float32;
- under `mixed_float16`, Keras wraps the optimizer in a
  `LossScaleOptimizer`, which scales the total loss (the task and the
  penalty's second-order term); the input gradient's backward pass is
  scaled by the same loss scale (per sample, as the task loss's) and
  unscaled in float32, as in PyTorch's recipe for gradient penalties
  under automatic mixed precision. Without it, input gradients below
  float16's range (about 6e-8) would be lost.
  An overflow in either pass makes the step's gradients non-finite; the
  `LossScaleOptimizer` then skips the step and lowers the scale.
- Evaluation's penalty takes an unscaled half-precision input gradient.

One step matches the float32 step within 2% (float16) and 4% (bfloat16)
on this guide's kind of network (`tests/test_mixed_precision.py`), with
one exception we measured. On an Intel CPU with AMX-BF16 (`amx_bf16` in
`/proc/cpuinfo`), PyTorch's oneDNN kernels put the double-backprop
penalty's gradient for a convolution kernel 0.77 from float32's at one
shape, the test's batch of 8 RGB images of 8x8 pixels. At batches of 4,
6, 16, 32 and 64, and on 16x16 and 32x32 images, it is 0.011 or less
(plain PyTorch, without Keras, shows the same). At that shape the whole
bfloat16 step is 6.5% off at guidance weight 0.7 and 56% at weight 10.
Capping oneDNN below AMX before PyTorch is imported,
`ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16`, brings the step back within 1.2%
of float32's and its penalty part within 3%. `float32` and
`second_order="forward_over_reverse"` are not affected. TensorFlow and
JAX stay inside the bounds on the same CPU.

`finite_difference` needs `finite_difference_step >= 3e-2` under half
precision: smaller shifts' score differences round to zero, and the model
refuses them before the first step.

## Backends

| backend | second-order autodiff | notes |
|---|---|---|
| TensorFlow | nested `tf.GradientTape` | `jit_compile` on or off (`finite_difference`: XLA or eager only). BatchNorm statistics are computed without `tf.nn.moments`'s `stop_gradient` in guided steps, which would drop a second-order term. On a CPU, `channels_first` convolutions need oneDNN; without it, training refuses such a model before the first step and names the way out |
| PyTorch | `torch.autograd.grad(create_graph=True)` | eager: `torch.compile` cannot double-backward, so `jit_compile=True` is refused |
| JAX | `jax.vjp` inside `jax.value_and_grad` | stateless: the guidance weight is read from the training state, so schedules work under `jit` |
"""
