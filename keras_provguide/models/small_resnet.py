"""A small residual network for small images: the built-in feature extractor."""

import keras


def small_resnet(
    input_shape=(32, 32, 3), widths=(16, 32, 64), blocks_per_stage=1, batchnorm_momentum=0.99,
    name="small_resnet",
):
    """A functional feature extractor: a stem conv, then one stage per width.

    Each stage holds `blocks_per_stage` basic residual blocks (two 3x3
    conv + BatchNorm, ReLU); every stage after the first halves the
    resolution. The output is the last stage's feature map
    `(B, H / 2 ** (stages - 1), W / 2 ** (stages - 1), widths[-1])`.

    Args:
        input_shape: `(H, W, C)`.
        widths: filters per stage.
        blocks_per_stage: int >= 1.
        batchnorm_momentum: float in [0, 1), the momentum of every
            BatchNormalization's moving statistics (Keras's default 0.99).
            Short runs (a few hundred steps) need a lower one, e.g. 0.9:
            at 0.99 the moving statistics still carry a large share of
            their initial values after 200 steps, so inference lags
            training.
        name: the model name.

    Returns:
        a `keras.Model` mapping images to feature maps.

    Example:

    ```python
    features = kpg.models.small_resnet((32, 32, 3), widths=(16, 32, 64))
    classifier = kpg.models.ImageClassifier(10, backbone=features)
    ```
    """
    if not widths or any(int(w) < 1 for w in widths):
        raise ValueError(f"Expected `widths` as positive ints, received {widths!r}.")
    if not isinstance(blocks_per_stage, int) or blocks_per_stage < 1:
        raise ValueError(f"Expected `blocks_per_stage` to be an int >= 1, received {blocks_per_stage!r}.")
    if isinstance(batchnorm_momentum, bool) or not isinstance(batchnorm_momentum, (int, float)) \
            or not 0.0 <= batchnorm_momentum < 1.0:
        raise ValueError(
            f"Expected `batchnorm_momentum` to be a float in [0, 1), received {batchnorm_momentum!r}."
        )
    inputs = keras.Input(tuple(input_shape))
    x = _conv_bn(inputs, widths[0], 3, 1, batchnorm_momentum)
    x = keras.layers.ReLU()(x)
    for stage, width in enumerate(widths):
        for block in range(blocks_per_stage):
            stride = 2 if stage > 0 and block == 0 else 1
            x = _basic_block(x, int(width), stride, batchnorm_momentum)
    return keras.Model(inputs, x, name=name)


def _conv_bn(x, filters, kernel, stride, momentum):
    x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False)(x)
    return keras.layers.BatchNormalization(momentum=momentum)(x)


def _basic_block(x, filters, stride, momentum):
    shortcut = x
    y = keras.layers.ReLU()(_conv_bn(x, filters, 3, stride, momentum))
    y = _conv_bn(y, filters, 3, 1, momentum)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = _conv_bn(shortcut, filters, 1, stride, momentum)
    return keras.layers.ReLU()(keras.layers.Add()([y, shortcut]))
