"""Mixed precision as the guidance paper trains: half-precision passes, the penalty in float32.

Under `mixed_float16` and `mixed_bfloat16` the forward and backward passes
run in half precision; the input gradient is cast to float32 before it is
squared and summed, and under `mixed_float16` both terms of the loss are
loss-scaled: the trainer scales the total loss (the task and the penalty's
second-order term), and `second_order.LossScaledBackward` scales the input
gradient's own backward pass.
"""

import os

import keras
import numpy as np
import pytest

import keras_provguide as kpg
from keras_provguide.guidance import second_order

RNG = np.random.default_rng(0)
IMAGES = RNG.random((8, 8, 8, 3)).astype("float32")
PROVENANCE = (RNG.random((8, 8, 8, 1)) > 0.5).astype("float32")
LABELS = RNG.integers(0, 4, 8)

#: Measured on a 2-core CPU (2026-12-06), the worst over the three backends
#: and both exact paths: the step 0.020 (float16) and 0.037 (bfloat16) from
#: the float32 step, its penalty part 0.037 and 0.027, `P` 0.001 and 0.003;
#: TensorFlow without oneDNN reached 0.081 for the step and 0.233 for its
#: penalty part under bfloat16 (a small difference of two steps, each
#: rounded to 8 significant bits). The bounds leave about 1.5-2x.
TOLERANCES = {"mixed_float16": (0.05, 0.08), "mixed_bfloat16": (0.15, 0.35)}


def _torch_runs_bfloat16_on_amx():
    """Whether torch's oneDNN kernels may run bfloat16 on AMX tiles here (Linux CPU flags).

    Measured on an Intel Xeon with `amx_bf16` (2026-12-07, torch 2.13.0):
    under `mixed_bfloat16` the double-backprop step's penalty part lies 0.755
    from float32's, at guidance weights 0.7, 3 and 10 alike (the whole step
    0.065, 0.25, 0.56); with AMX off (`ONEDNN_MAX_CPU_ISA=AVX512_CORE`) it
    is 0.027, and with oneDNN off 0.12. Forward-over-reverse, TensorFlow
    and JAX stay inside the bounds on the same CPU. Plain PyTorch shows it
    (no Keras): a bfloat16 convolution's double-backprop kernel gradient
    lies 0.77 from float32's at a batch of 8, 0.01 at 4 and 6, and 0.01 at
    8 with `ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16` (the speed guide says so).
    """
    if keras.backend.backend() != "torch":
        return False
    # The documented way out caps oneDNN below AMX; the test then holds its bounds.
    isa_cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    if isa_cap not in ("ALL", "DEFAULT") and "AMX" not in isa_cap:
        return False
    import torch

    try:
        with open("/proc/cpuinfo") as file:
            flags = file.read().split()
    except OSError:
        return False
    return "amx_bf16" in flags and torch.backends.mkldnn.is_available()


def _net():
    # No convolution bias before BatchNorm: its exact gradient is zero, so
    # its relative error would measure rounding noise alone.
    return keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(8, 3, padding="same", use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.ReLU(),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(4),
    ])


def _step(policy, weights, second_order_path, guidance_weight=0.7, make=_net):
    """One SGD step under `policy` from `weights`: (the update of every weight, the step's logs, the model)."""
    keras.config.set_dtype_policy(policy)
    classifier = make()
    classifier.set_weights(weights)
    model = kpg.GuidedModel(classifier, guidance_weight=guidance_weight, second_order=second_order_path)
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    keras.config.set_dtype_policy("float32")
    logs = model.train_on_batch({"images": IMAGES, "provenance": PROVENANCE}, LABELS, return_dict=True)
    update = np.concatenate([(a - b).ravel() for a, b in zip(weights, model.classifier.get_weights())])
    return update, logs, model


def _relative_error(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize("second_order_path", ["double_backprop", "forward_over_reverse"])
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_step_matches_the_float32_step(policy, second_order_path, request):
    if policy == "mixed_bfloat16" and second_order_path == "double_backprop" and _torch_runs_bfloat16_on_amx():
        # A known limit, not a bound loosened: strict, so it fails here once the penalty part comes inside.
        request.applymarker(pytest.mark.xfail(
            strict=True, reason="torch's oneDNN bfloat16 kernels on AMX: the penalty part lies 0.755 from float32's"))
    weights = _net().get_weights()
    full, full_logs, _ = _step("float32", weights, second_order_path)
    full_task, _, _ = _step("float32", weights, second_order_path, guidance_weight=0.0)
    half, half_logs, model = _step(policy, weights, second_order_path)
    half_task, _, _ = _step(policy, weights, second_order_path, guidance_weight=0.0)
    assert model.classifier.compute_dtype == policy.split("_")[1]
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
    step_tolerance, penalty_tolerance = TOLERANCES[policy]
    assert _relative_error(half, full) < step_tolerance
    # The penalty's own part of the step, apart from the task's.
    assert _relative_error(half - half_task, full - full_task) < penalty_tolerance
    assert half_logs["guidance_penalty"] == pytest.approx(full_logs["guidance_penalty"], rel=1e-2, abs=0)


def _small_gradient_mlp():
    return keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Flatten(),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(4),
    ])


@pytest.mark.parametrize("second_order_path", ["double_backprop", "forward_over_reverse"])
def test_input_gradient_backward_is_loss_scaled_under_float16(second_order_path):
    # Weights of 3e-4 make every input gradient about 1e-7, at the bottom of
    # float16's range (subnormals end at 6e-8): an unscaled half-precision
    # backward pass rounds most of them to zero (measured without the
    # scaling: P 95% too small on torch, 0 on TensorFlow and JAX).
    weights = [w * 3e-4 if w.ndim == 2 else w for w in _small_gradient_mlp().get_weights()]
    _, full_logs, _ = _step("float32", weights, second_order_path, make=_small_gradient_mlp)
    _, half_logs, _ = _step("mixed_float16", weights, second_order_path, make=_small_gradient_mlp)
    assert full_logs["guidance_penalty"] > 0
    assert half_logs["guidance_penalty"] == pytest.approx(full_logs["guidance_penalty"], rel=1e-2, abs=0)


def test_loss_scaled_backward_unscales_in_float32():
    from keras_provguide import backend

    autodiff = backend.get()
    net = _small_gradient_mlp()
    images = keras.ops.convert_to_tensor(IMAGES)

    def forward(x):
        return net(x), None

    def scores_fn(y_pred):
        return [keras.ops.sum(keras.ops.cast(y_pred, "float32"), axis=-1)]

    _, _, (plain,) = autodiff.input_gradients(forward, images, scores_fn, create_graph=False)
    scaled = second_order.LossScaledBackward(autodiff, 2.0**15)
    _, _, (unscaled,) = scaled.input_gradients(forward, images, scores_fn, create_graph=False)
    assert keras.backend.standardize_dtype(unscaled.dtype) == "float32"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(unscaled), keras.ops.convert_to_numpy(plain),
                               rtol=1e-5, atol=1e-9)
    assert scaled.STATELESS_STEPS == autodiff.STATELESS_STEPS  # The rest is the backend's own.
