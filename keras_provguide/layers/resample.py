"""Axis-aligned resampling of a batch into per-sample boxes.

A box is `(x0, y0, x1, y1)`, the package's one box order, in pixel-corner
coordinates of the output (pixel `i` spans `[i, i + 1)`, so `x1` is
exclusive); the whole input is stretched over it. The resampling
is bilinear with zeros outside the input, written as two interpolation
matrices per sample, `out = R_y @ image @ R_x^T`. It is linear in the image,
so warping `alpha * foreground` and `alpha` with the same boxes keeps every
output pixel an exact alpha blend.
"""


def interpolation_weights(ops, starts, stops, out_size, in_size, dtype):
    """`(batch, out_size, in_size)` weights mapping `[0, in_size)` onto `[start, stop)`."""
    in_size = ops.cast(in_size, dtype)
    centres = ops.numpy.arange(out_size, dtype=dtype)[None, :] + 0.5
    scale = in_size / ops.numpy.maximum(stops - starts, 1e-6)
    source = (centres - starts[:, None]) * scale[:, None] - 0.5
    grid = ops.numpy.arange(in_size, dtype=dtype)
    distance = ops.numpy.abs(source[:, :, None] - grid[None, None, :])
    return ops.numpy.maximum(1.0 - distance, 0.0)


def resample_into_boxes(ops, images, boxes, out_height, out_width):
    """Warps `images` `(B, h, w, C)` into `boxes` `(B, 4)` of an `(out_height, out_width)` canvas."""
    shape = ops.shape(images)
    dtype = images.dtype
    rows = interpolation_weights(ops, boxes[:, 1], boxes[:, 3], out_height, shape[1], dtype)
    cols = interpolation_weights(ops, boxes[:, 0], boxes[:, 2], out_width, shape[2], dtype)
    # Two contractions, not one three-way einsum (which NumPy would loop).
    images = ops.numpy.einsum("bih,bhwc->biwc", rows, images)
    return ops.numpy.einsum("biwc,bjw->bijc", images, cols)


def box_indicator(ops, boxes, height, width, dtype):
    """`(B, height, width, 1)`: 1 on the pixels whose centres lie inside `boxes`."""
    rows = ops.numpy.arange(height, dtype=dtype)[None, :] + 0.5
    cols = ops.numpy.arange(width, dtype=dtype)[None, :] + 0.5
    in_rows = (rows >= boxes[:, 1:2]) & (rows < boxes[:, 3:4])
    in_cols = (cols >= boxes[:, 0:1]) & (cols < boxes[:, 2:3])
    inside = ops.numpy.logical_and(in_rows[:, :, None], in_cols[:, None, :])
    return ops.cast(inside, dtype)[..., None]


def tight_boxes(ops, mask, threshold=0.5):
    """`(B, 4)` boxes `(x0, y0, x1, y1)` around the pixels of `mask` above `threshold`.

    Corners are pixel corners, so `x1 - x0` is the width in pixels; an empty
    mask gives `(0, 0, 0, 0)`.
    """
    marked = mask[..., 0] > threshold
    dtype = mask.dtype

    def span(any_along):  # any_along: (B, N) booleans
        hits = ops.cast(any_along, "int32")
        size = ops.shape(hits)[1]
        first = ops.numpy.argmax(hits, axis=1)
        last = size - ops.numpy.argmax(ops.numpy.flip(hits, axis=1), axis=1)
        present = ops.numpy.any(any_along, axis=1)
        first = ops.numpy.where(present, first, 0)
        last = ops.numpy.where(present, last, 0)
        return ops.cast(first, dtype), ops.cast(last, dtype)

    y0, y1 = span(ops.numpy.any(marked, axis=2))
    x0, x1 = span(ops.numpy.any(marked, axis=1))
    return ops.numpy.stack([x0, y0, x1, y1], axis=1)
