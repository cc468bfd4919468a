import numpy as np
import pytest

import keras_provguide as kpg


def _edit(seed=0):
    rng = np.random.default_rng(seed)
    original = rng.integers(20, 120, (2, 20, 24, 3)).astype("uint8")
    edited = original.copy()
    edited[0, 5:15, 3:10] += 100  # An inpainted object.
    edited[1, :4] += 60  # A changed sky.
    # Compression-like noise everywhere, below the edit's change.
    noisy = np.clip(edited.astype(int) + rng.integers(-6, 7, edited.shape), 0, 255).astype("uint8")
    return original, noisy


def test_otsu_marks_exactly_the_unedited_pixels():
    original, edited = _edit()
    provenance = kpg.layers.edit_provenance(original, edited)
    assert provenance.shape == (2, 20, 24, 1) and provenance.dtype == np.float32
    changed = np.abs(original.astype(int) - edited.astype(int)).mean(-1) > 40
    np.testing.assert_array_equal(provenance[..., 0] == 0.0, changed)


def test_single_image_fixed_threshold_and_no_change():
    original, edited = _edit()
    single = kpg.layers.edit_provenance(original[0], edited[0], method=20.0)
    assert single.shape == (20, 24, 1)
    expected = np.ones((20, 24), "float32")
    expected[5:15, 3:10] = 0.0
    np.testing.assert_array_equal(single[..., 0], expected)
    np.testing.assert_array_equal(kpg.layers.edit_provenance(original, original), 1.0)


@pytest.mark.parametrize(
    "original, edited, method, match",
    [
        (np.zeros((4, 4, 3)), np.zeros((4, 5, 3)), "otsu", "same shape"),
        (np.zeros((4, 4)), np.zeros((4, 4)), "otsu", "same shape"),
        (np.zeros((4, 4, 3)), np.zeros((4, 4, 3)), "mean", "method"),
        (np.zeros((4, 4, 3)), np.full((4, 4, 3), np.nan), "otsu", "finite"),
    ],
)
def test_bad_inputs(original, edited, method, match):
    with pytest.raises(ValueError, match=match):
        kpg.layers.edit_provenance(original, edited, method=method)
