import numpy as np
import pytest
from layer_data import BLUE, RED

import keras_provguide as kpg


def _inputs():
    foregrounds = np.broadcast_to(RED, (6, 8, 8, 3)).copy()
    masks = np.zeros((6, 8, 8, 1), "float32")
    masks[:, 2:6, 2:6] = 1.0
    labels = np.asarray([0, 0, 1, 1, 2, 2], "int32")
    backgrounds = np.broadcast_to(BLUE, (4, 20, 20, 3)).copy()
    backgrounds[2:] *= 0.5  # Group 1 is a darker blue.
    groups = np.asarray([0, 0, 1, 1], "int32")
    return foregrounds, labels, backgrounds, groups, masks


def test_every_cell_has_per_group_images():
    fg, labels, bg, groups, masks = _inputs()
    out = kpg.data.balanced_composites(fg, labels, bg, groups, per_group=5, foreground_masks=masks)
    assert out["images"].shape == (30, 20, 20, 3)
    cells = np.stack([out["labels"], out["background_groups"]], 1)
    unique, counts = np.unique(cells, axis=0, return_counts=True)
    assert len(unique) == 6 and np.all(counts == 5)
    np.testing.assert_array_equal(out["groups"], out["labels"] * 2 + out["background_groups"])
    # The rows say where each image came from.
    np.testing.assert_array_equal(labels[out["foreground_index"]], out["labels"])
    np.testing.assert_array_equal(groups[out["background_index"]], out["background_groups"])


def test_provenance_is_the_pasted_object_and_background_group_is_kept():
    fg, labels, bg, groups, masks = _inputs()
    out = kpg.data.balanced_composites(fg, labels, bg, groups, per_group=3, foreground_masks=masks)
    p = out["provenance"]
    shade = np.where(out["background_groups"] == 0, 1.0, 0.5)[:, None, None, None]
    expected = p * RED + (1 - p) * BLUE * shade
    np.testing.assert_allclose(out["images"], expected, atol=1e-6)
    assert np.all(p.sum((1, 2, 3)) > 4)


def test_deterministic_and_alpha_channel():
    fg, labels, bg, groups, masks = _inputs()
    a = kpg.data.balanced_composites(fg, labels, bg, groups, per_group=2, foreground_masks=masks, seed=1)
    rgba = np.concatenate([fg, masks], -1)
    b = kpg.data.balanced_composites(rgba, labels, bg, groups, per_group=2, seed=1)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(per_group=0), "per_group"),
        (dict(foreground_masks=None), "alpha"),
        (dict(foreground_labels=np.asarray([0, 0, 2, 2, 2, 2])), "class 1"),
        (dict(background_groups=np.asarray([0, 1])), "background_groups"),
        (dict(foreground_masks=np.ones((6, 4, 4, 1))), "foreground_masks"),
    ],
)
def test_bad_inputs(change, match):
    fg, labels, bg, groups, masks = _inputs()
    kwargs = dict(
        foregrounds=fg, foreground_labels=labels, backgrounds=bg, background_groups=groups,
        per_group=2, foreground_masks=masks,
    )
    kwargs.update(change)
    with pytest.raises(ValueError, match=match):
        kpg.data.balanced_composites(**kwargs)
