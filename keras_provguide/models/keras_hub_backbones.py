"""KerasHub image backbones as feature models from images in [0, 1].

KerasHub (`keras-hub`, the optional extra) is where Keras users get
pretrained backbones now that keras-cv is archived. A KerasHub `Backbone`
expects images already normalised by its preset's `ImageConverter`; this
wrapper puts that normalisation inside the model (a frozen `Rescaling`), so
the package's loaders, provenance and input gradients all stay in image
space, as with `vgg16_gap` and `resnet50`.
"""

import keras

_INSTALL = (
    "keras-hub is not installed. `pip install keras-hub`; on a CPU-only TensorFlow route, "
    "`pip install --no-deps keras-hub && pip install tokenizers sentencepiece regex rich kagglehub` "
    "(keras-hub declares tensorflow-text, which pulls the full `tensorflow` beside tensorflow-cpu; "
    "its image backbones need neither)."
)


def _keras_hub():
    try:
        import keras_hub
    except ImportError as error:
        raise ImportError(_INSTALL) from error
    return keras_hub


def keras_hub_backbone(backbone, input_shape=(224, 224, 3), load_weights=True, image_converter=None,
                       name=None):
    """A KerasHub image `Backbone` as a feature model from images in [0, 1].

    Args:
        backbone: a KerasHub preset, named as KerasHub names it
            (`"resnet_50_imagenet"`, `"vgg_16_imagenet"`, ...; loading one
            by name needs the network once) or a local preset directory
            (`Backbone.save_to_preset`), or a `keras_hub.models.Backbone`
            instance.
        input_shape: `(height, width, 3)` of the images.
        load_weights: for a preset, whether to load its pretrained weights.
        image_converter: the `keras_hub.layers.ImageConverter` whose `scale`
            and `offset` normalise the backbone's inputs; by default the
            preset's. With a `Backbone` instance and no converter, the
            images reach it unchanged, in [0, 1].
        name: the model's name; by default `<backbone name>_features`.

    Returns:
        A `keras.Model` from images in [0, 1] to the backbone's feature map
        `(B, h, w, C)`, for `kpg.models.ImageClassifier` and
        `kpg.models.CAMLocalizer`. Loading a `.keras` file that holds it
        needs `import keras_hub` first, as any KerasHub model does.

    Example:

    ```python
    features = kpg.models.keras_hub_backbone("resnet_50_imagenet")
    model = kpg.GuidedModel(kpg.models.ImageClassifier(2, backbone=features), guidance_weight=0.05)
    ```
    """
    keras_hub = _keras_hub()
    if (not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3 or input_shape[-1] != 3
            or not all(isinstance(s, int) and s > 0 for s in input_shape[:2])):
        raise ValueError(f"Expected `input_shape` (height, width, 3), received {input_shape!r}.")
    if image_converter is not None and not isinstance(image_converter, keras_hub.layers.ImageConverter):
        raise ValueError(
            "Expected `image_converter` to be a keras_hub.layers.ImageConverter or None, received "
            f"{type(image_converter).__name__}."
        )
    if isinstance(backbone, str):
        preset = backbone
        try:
            backbone = keras_hub.models.Backbone.from_preset(preset, load_weights=bool(load_weights))
            if image_converter is None:
                image_converter = keras_hub.layers.ImageConverter.from_preset(preset)
        except Exception as error:  # KerasHub raises several kinds for a missing or unreachable preset
            raise ValueError(
                f"Could not load the KerasHub preset {preset!r} ({type(error).__name__}: {error}). A preset "
                "named by KerasHub is downloaded once (network needed); offline, pass a local preset "
                "directory or a keras_hub.models.Backbone."
            ) from error
    elif not isinstance(backbone, keras_hub.models.Backbone):
        raise ValueError(
            "Expected `backbone` to be a KerasHub preset name or directory, or a keras_hub.models.Backbone, "
            f"received {type(backbone).__name__}."
        )
    images = keras.Input(tuple(input_shape), name="images")
    x = images
    if image_converter is not None and (image_converter.scale is not None or image_converter.offset is not None):
        # The converter maps pixels in [0, 255]: x * scale + offset.
        scale = 1.0 if image_converter.scale is None else image_converter.scale
        scale = [255.0 * s for s in scale] if isinstance(scale, (list, tuple)) else 255.0 * scale
        offset = 0.0 if image_converter.offset is None else image_converter.offset
        x = keras.layers.Rescaling(scale, offset, name="image_converter")(x)
    features = backbone(x)
    if len(features.shape) != 4:
        raise ValueError(
            f"Expected a KerasHub image backbone with a feature map (B, h, w, C) as output, received "
            f"{type(backbone).__name__} with output shape {tuple(features.shape)} (token backbones such as "
            "ViT need their own pooling head)."
        )
    return keras.Model(images, features, name=name or f"{backbone.name}_features")
