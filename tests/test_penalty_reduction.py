"""`penalty_reduction`: the penalty summed or averaged over a sample's elements."""

import keras
import numpy as np
import pytest
from conftest import conv_backbone, linear_backbone

import keras_provguide as kpg

RNG = np.random.default_rng(5)
B, K = 6, 3
SAMPLE_WEIGHT = np.linspace(0.5, 1.5, 8).astype("float32")
RNG_STEP = np.random.default_rng(0)
PROVENANCE = (np.random.default_rng(1).random((8, 8, 8, 1)) > 0.5).astype("float32")
LABELS = np.random.default_rng(2).integers(0, 4, 8)
PARTNERS = np.random.default_rng(3).integers(0, 4, 8)


@pytest.mark.parametrize("norm", ["l2", "l1"])
@pytest.mark.parametrize("shape", [(4, 4, 2), (3, 4, 4, 2)], ids=["image", "clip"])
def test_mean_is_the_sum_over_the_number_of_elements(norm, shape):
    size = int(np.prod(shape))
    weights = RNG.normal(size=(size, K)).astype("float32")
    images = RNG.random((B, *shape)).astype("float32")
    mask = (RNG.random((B, *shape[:-1], 1)) > 0.5).astype("float32")
    labels = np.arange(B) % K
    backbone = linear_backbone(shape, weights)
    off_target = np.stack(
        [(1 - mask[b]) * weights[:, labels[b]].reshape(shape) for b in range(B)]
    )
    terms = off_target**2 if norm == "l2" else np.abs(off_target)
    expected_sum = terms.reshape(B, -1).sum(1).mean()
    summed = kpg.guidance_penalty(backbone, images, mask, labels, norm=norm)
    averaged = kpg.guidance_penalty(
        backbone, images, mask, labels, norm=norm, penalty_reduction="mean"
    )
    np.testing.assert_allclose(summed, expected_sum, rtol=1e-5)
    np.testing.assert_allclose(averaged, expected_sum / size, rtol=1e-5)


def _step(weights, reduction, guidance_weight, second_order, two_sources):
    backbone = conv_backbone()
    backbone.set_weights(weights)
    model = kpg.GuidedModel(
        backbone, guidance_weight=guidance_weight, second_order=second_order,
        penalty_reduction=reduction,
    )
    images = RNG_STEP.random((8, 8, 8, 3)).astype("float32")
    x = {"images": images, "provenance": PROVENANCE}
    if two_sources:
        x["source_labels"] = np.stack([LABELS, PARTNERS], 1)
        y = (0.6 * np.eye(4)[LABELS] + 0.4 * np.eye(4)[PARTNERS]).astype("float32")
        loss = keras.losses.CategoricalCrossentropy(from_logits=True)
    else:
        y, loss = LABELS, keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.SGD(1.0), loss)
    before = model.get_weights()
    logs = model.train_on_batch(x, y, sample_weight=SAMPLE_WEIGHT, return_dict=True)
    return [b - a for a, b in zip(model.get_weights(), before)], logs


@pytest.mark.parametrize("two_sources", [False, True], ids=["one_source", "two_sources"])
@pytest.mark.parametrize("second_order", ["double_backprop", "forward_over_reverse"])
def test_a_mean_weight_of_w_times_n_takes_the_sum_step_of_w(second_order, two_sources):
    elements = 8 * 8 * 3
    weights = conv_backbone().get_weights()
    state = RNG_STEP.bit_generator.state
    summed, sum_logs = _step(weights, "sum", 0.7, second_order, two_sources)
    RNG_STEP.bit_generator.state = state  # The same images for both.
    averaged, mean_logs = _step(weights, "mean", 0.7 * elements, second_order, two_sources)
    flat = [np.concatenate([v.ravel() for v in d]) for d in (summed, averaged)]
    assert np.linalg.norm(flat[0]) > 0
    np.testing.assert_allclose(flat[1], flat[0], rtol=1e-4, atol=1e-6 * np.abs(flat[0]).max())
    assert mean_logs["guidance_penalty"] == pytest.approx(
        sum_logs["guidance_penalty"] / elements, rel=1e-5
    )
    assert mean_logs["loss"] == pytest.approx(sum_logs["loss"], rel=1e-5)


def test_reduction_is_validated_and_saved():
    with pytest.raises(ValueError, match="penalty_reduction"):
        kpg.GuidedModel(conv_backbone(), penalty_reduction="max")
    with pytest.raises(ValueError, match="penalty_reduction"):
        kpg.guidance_penalty(
            conv_backbone(), np.zeros((1, 8, 8, 3)), np.ones((1, 8, 8, 1)), [0],
            penalty_reduction="median",
        )
    model = kpg.GuidedModel(conv_backbone(), penalty_reduction="mean")
    assert kpg.GuidedModel.from_config(model.get_config()).penalty_reduction == "mean"
    assert kpg.GuidedModel(conv_backbone()).penalty_reduction == "sum"
