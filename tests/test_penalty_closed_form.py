"""The penalty and its parameter gradient against closed forms (linear backbone)."""

import keras
import numpy as np
import pytest
from conftest import linear_backbone

import keras_provguide as kpg

RNG = np.random.default_rng(0)
SHAPE = (4, 5, 3)
D = int(np.prod(SHAPE))
K = 3
B = 6
W = RNG.normal(size=(D, K)).astype("float32")
IMAGES = RNG.random((B, *SHAPE)).astype("float32")
LABELS = np.array([0, 1, 2, 0, 1, 2], "int32")
MASK = (RNG.random((B, 4, 5, 1)) > 0.5).astype("float32")
SOURCES = np.array([[0, 1], [1, 2], [2, 0], [0, 0], [1, 0], [2, 1]], "int32")


def weight_column(k):
    return W[:, k].reshape(SHAPE)


def hard_penalty(mask, labels, norm="l2"):
    off = np.stack([(1 - mask[b]) * weight_column(labels[b]) for b in range(B)])
    return closed_norm(off, norm)


def two_source_penalty(mask, sources):
    off = np.stack(
        [
            (1 - mask[b]) * weight_column(sources[b, 0]) + mask[b] * weight_column(sources[b, 1])
            for b in range(B)
        ]
    )
    return closed_norm(off, "l2")


def closed_norm(off, norm):
    per_sample = (off**2 if norm == "l2" else np.abs(off)).reshape(B, -1).sum(1)
    return per_sample.mean()


def test_input_gradients_are_the_weight_columns():
    model = linear_backbone(SHAPE, W)
    grads = kpg.input_gradients(model, IMAGES, LABELS)
    expected = np.stack([weight_column(k) for k in LABELS])
    np.testing.assert_allclose(grads, expected, rtol=1e-5, atol=1e-6)


def test_input_gradients_default_to_the_predicted_class():
    model = linear_backbone(SHAPE, W)
    predicted = np.argmax(IMAGES.reshape(B, -1) @ W, axis=-1)
    grads = kpg.input_gradients(model, IMAGES)
    np.testing.assert_allclose(grads, np.stack([weight_column(k) for k in predicted]), rtol=1e-5)


@pytest.mark.parametrize("norm", ["l2", "l1"])
def test_hard_label_penalty(norm):
    model = linear_backbone(SHAPE, W)
    value = kpg.guidance_penalty(model, IMAGES, MASK, LABELS, norm=norm)
    np.testing.assert_allclose(value, hard_penalty(MASK, LABELS, norm), rtol=1e-5)


def test_one_hot_labels_match_class_ids():
    model = linear_backbone(SHAPE, W)
    one_hot = np.eye(K, dtype="float32")[LABELS]
    np.testing.assert_allclose(
        kpg.guidance_penalty(model, IMAGES, MASK, one_hot),
        hard_penalty(MASK, LABELS),
        rtol=1e-5,
    )


def test_two_source_penalty():
    model = linear_backbone(SHAPE, W)
    share = RNG.random((B, 4, 5, 1)).astype("float32")
    value = kpg.guidance_penalty(model, IMAGES, share, None, source_labels=SOURCES)
    np.testing.assert_allclose(value, two_source_penalty(share, SOURCES), rtol=1e-5)


def test_full_provenance_gives_zero_penalty():
    model = linear_backbone(SHAPE, W)
    ones = np.ones((B, 4, 5, 1), "float32")
    assert kpg.guidance_penalty(model, IMAGES, ones, LABELS) == 0.0


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("score", ["log_prob_sum", "loss"])
def test_log_softmax_scores(score):
    model = linear_backbone(SHAPE, W)
    probs = _softmax(IMAGES.reshape(B, -1) @ W)
    expected_probs_term = probs @ W.T  # (B, D): W^T p per sample
    if score == "log_prob_sum":
        grads = W.sum(1)[None] - K * expected_probs_term
    else:
        grads = expected_probs_term - W.T[LABELS]
    grads = grads.reshape(B, *SHAPE)
    np.testing.assert_allclose(
        kpg.input_gradients(model, IMAGES, LABELS, score=score), grads, rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(
        kpg.guidance_penalty(model, IMAGES, MASK, LABELS, score=score),
        closed_norm((1 - MASK) * grads, "l2"),
        rtol=1e-4,
    )


def _zero_loss(y_true, y_pred):
    return keras.ops.sum(y_pred * 0.0, axis=-1)


@pytest.mark.parametrize("two_source", [False, True], ids=["hard", "two_source"])
def test_fit_step_applies_the_exact_second_order_gradient(two_source):
    """With a zero task loss and SGD, one step moves W by -lr * w * dP/dW exactly.

    dP/dW_k = (2 / B) * sum_b c_bk * r_b where r_b is sample b's off-target
    gradient and c_bk its coefficient on column k: (1 - M) for the hard label
    y_b = k; (1 - M) for source a and M for source b in a mix.
    """
    lr, weight = 0.1, 0.5
    model = kpg.GuidedModel(linear_backbone(SHAPE, W), guidance_weight=weight)
    model.compile(keras.optimizers.SGD(lr), _zero_loss)
    if two_source:
        mask = RNG.random((B, 4, 5, 1)).astype("float32")
        coefs = [((1 - mask[b]), SOURCES[b, 0], mask[b], SOURCES[b, 1]) for b in range(B)]
        x = {"images": IMAGES, "provenance": mask, "source_labels": SOURCES}
        y = np.eye(K, dtype="float32")[SOURCES[:, 0]]
    else:
        mask = MASK
        coefs = [((1 - mask[b]), LABELS[b], 0.0 * mask[b], LABELS[b]) for b in range(B)]
        x = {"images": IMAGES, "provenance": mask}
        y = LABELS
    grad = np.zeros_like(W)
    for ca, ka, cb, kb in coefs:
        residual = ca * weight_column(ka) + cb * weight_column(kb)
        grad[:, ka] += (2.0 / B) * np.broadcast_to(ca * residual, SHAPE).reshape(-1)
        grad[:, kb] += (2.0 / B) * np.broadcast_to(cb * residual, SHAPE).reshape(-1)
    model.fit(x, y, batch_size=B, epochs=1, shuffle=False, verbose=0)
    new_w = model.classifier.layers[-1].get_weights()[0]
    np.testing.assert_allclose(new_w, W - lr * weight * grad, rtol=1e-4, atol=1e-6)
