"""The attribution grid writes a PNG with one row per image and one column per map."""

import numpy as np
import pytest
from PIL import Image

import keras_provguide as kpg


def _inputs(count=3):
    rng = np.random.default_rng(0)
    images = rng.random((count, 16, 16, 3)).astype("float32")
    provenance = np.zeros((count, 16, 16, 1), "float32")
    provenance[:, 4:12, 4:12] = 1.0
    return images, provenance


def test_grid_has_a_panel_per_map_and_row(tmp_path):
    images, provenance = _inputs()
    small = kpg.visualization.save_attribution_grid(str(tmp_path / "a.png"), images, dpi=50)
    full = kpg.visualization.save_attribution_grid(
        str(tmp_path / "b.png"), images, provenance, input_gradients=images - 0.5,
        cams=provenance[..., 0], boxes=[[4, 4, 12, 12]] * 3, gt_boxes=[[3, 3, 12, 12]] * 3, dpi=50,
    )
    width_small, height_small = Image.open(small).size
    width_full, height_full = Image.open(full).size
    assert width_full == pytest.approx(4 * width_small, rel=0.02)  # four columns instead of one
    assert height_full == height_small  # three rows either way
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]  # no temporary left


def test_bad_input_is_named_and_writes_nothing(tmp_path):
    images, provenance = _inputs()
    with pytest.raises(ValueError, match="cams"):
        kpg.visualization.save_attribution_grid(str(tmp_path / "c.png"), images, cams=provenance[:2, ..., 0])
    with pytest.raises(ValueError, match=".png"):
        kpg.visualization.save_attribution_grid(str(tmp_path / "c.jpg"), images)
    assert list(tmp_path.iterdir()) == []


def test_leaves_the_plotting_backend_and_open_figures_alone(tmp_path):
    import matplotlib
    import matplotlib.pyplot as plt

    original = matplotlib.get_backend()
    matplotlib.use("svg")  # Stands for a notebook's inline backend: anything but Agg.
    try:
        figures = plt.get_fignums()
        images, provenance = _inputs()
        kpg.visualization.save_attribution_grid(str(tmp_path / "d.png"), images, provenance, dpi=30)
        assert matplotlib.get_backend() == "svg"
        assert plt.get_fignums() == figures
    finally:
        matplotlib.use(original)
    assert Image.open(tmp_path / "d.png").size[0] > 0
