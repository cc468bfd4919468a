"""`save_attribution_grid`: image, provenance, input gradients and CAMs side by side."""

import os
import tempfile

import numpy as np


def save_attribution_grid(
    path, images, provenance=None, input_gradients=None, cams=None, boxes=None,
    gt_boxes=None, titles=None, max_rows=8, dpi=100,
):
    """Writes a PNG grid, one row per image, one column per map given.

    Columns: the image (with `gt_boxes` in green and predicted `boxes` in
    red, exclusive `(x0, y0, x1, y1)` pixel corners); the provenance; the
    input-gradient magnitude (absolute value summed over channels, scaled
    to its own maximum); the CAM over the image. Columns whose data is
    `None` are left out. The file is written atomically.

    Args:
        path: the `.png` file to write.
        images: `(B, H, W, C)` in [0, 1] (C = 1 or 3).
        provenance: optional `(B, H, W, 1 or C)`.
        input_gradients: optional `(B, H, W, C)`, e.g. `kpg.input_gradients`.
        cams: optional `(B, H, W)` in [0, 1], e.g.
            `CAMLocalizer.class_activation_maps`.
        boxes, gt_boxes: optional `(B, 4)`; empty boxes (`x1 <= x0` or
            `y1 <= y0`, such as frames without the object) are not drawn.
        titles: optional list of row titles.
        max_rows: the number of images shown at most.
        dpi: resolution.

    Returns:
        `path`.

    Example:

    ```python
    kpg.visualization.save_attribution_grid(
        "where.png", images, provenance,
        input_gradients=kpg.input_gradients(model, images, labels),
        cams=localizer.class_activation_maps(images))
    ```
    """
    # A figure of its own on an Agg canvas: pyplot's global backend (a
    # notebook's inline one, say) and its list of open figures stay as they are.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not str(path).lower().endswith(".png"):
        raise ValueError(f"Expected a path ending in .png, received {path!r}.")
    images = _batch(images, "images", 4)
    rows = min(len(images), int(max_rows))
    columns = [("image", images)]
    if provenance is not None:
        columns.append(("provenance", _batch(provenance, "provenance", 4, len(images))))
    if input_gradients is not None:
        gradients = np.abs(_batch(input_gradients, "input_gradients", 4, len(images))).sum(-1)
        scale = gradients.reshape(len(gradients), -1).max(1)[:, None, None]
        columns.append(("input gradient", gradients / np.where(scale > 0, scale, 1.0)))
    if cams is not None:
        columns.append(("CAM", _batch(cams, "cams", 3, len(images))))
    figure = Figure(figsize=(2.2 * len(columns), 2.2 * rows))
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, len(columns), squeeze=False)
    for row in range(rows):
        for column, (name, data) in enumerate(columns):
            axis = axes[row, column]
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(name, fontsize=9)
            if name in ("image", "CAM"):
                axis.imshow(_displayable(images[row]))
            if name == "image":
                for box_set, colour in ((gt_boxes, "lime"), (boxes, "red")):
                    if box_set is not None:
                        _draw_box(axis, np.asarray(box_set)[row], colour)
            elif name == "CAM":
                axis.imshow(data[row], cmap="jet", alpha=0.5, vmin=0, vmax=1)
            else:
                cmap = "gray" if name == "provenance" else "hot"
                axis.imshow(np.asarray(data[row]).squeeze(), cmap=cmap, vmin=0, vmax=1)
        if titles is not None:
            axes[row, 0].set_ylabel(str(titles[row]), fontsize=8)
    figure.tight_layout()
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, suffix=".png")
    os.close(handle)
    try:
        figure.savefig(temporary, dpi=dpi)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return path


def _batch(value, name, rank, size=None):
    array = np.asarray(value, "float32")
    if array.ndim != rank or (size is not None and len(array) != size):
        expected = f"rank {rank}" + (f" with {size} entries" if size is not None else "")
        raise ValueError(f"Expected `{name}` of {expected}, received shape {array.shape}.")
    return array


def _displayable(image):
    image = np.clip(image, 0.0, 1.0)
    return image[..., 0] if image.shape[-1] == 1 else image


def _draw_box(axis, box, colour):
    from matplotlib.patches import Rectangle

    x0, y0, x1, y1 = (float(v) for v in box)
    if x1 <= x0 or y1 <= y0:  # an empty box: nothing there (e.g. a frame without the action)
        return
    axis.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor=colour, linewidth=1.5))
