"""`ImageClassifier`: a feature backbone with a pooled linear head."""

import keras

from keras_provguide.models.small_resnet import small_resnet


@keras.saving.register_keras_serializable(package="keras_provguide")
class ImageClassifier(keras.Model):
    """Image classifier: backbone features -> global average pooling -> dense logits.

    The backbone is the built-in `small_resnet` for small images, or any
    Keras model that maps images to a feature map `(B, h, w, C)`, such as a
    `keras.applications` model built with `include_top=False`
    (`weights=None` works offline). It returns logits, so it plugs into
    `kpg.GuidedModel` and `from_logits=True` losses.

    Args:
        num_classes: int >= 2.
        backbone: a feature model, or `None` for `small_resnet(input_shape)`.
        input_shape: the image shape of the built-in backbone.
        dropout: dropout rate before the head.
        name: the model name.

    Example:

    ```python
    classifier = kpg.models.ImageClassifier(num_classes=10, input_shape=(32, 32, 3))
    model = kpg.GuidedModel(classifier, guidance_weight=0.1)
    ```
    """

    def __init__(self, num_classes, backbone=None, input_shape=(32, 32, 3), dropout=0.0, name="image_classifier",
                 **kwargs):
        backbone = feature_backbone(num_classes, backbone, input_shape)
        inputs = keras.Input(backbone.input_shape[1:])
        x = keras.layers.GlobalAveragePooling2D(name="pool")(backbone(inputs))
        if dropout:
            x = keras.layers.Dropout(dropout, name="dropout")(x)
        outputs = keras.layers.Dense(num_classes, name="logits")(x)
        super().__init__(inputs, outputs, name=name, **kwargs)
        self.backbone = backbone
        self.num_classes = num_classes
        self.dropout = dropout

    def get_config(self):
        return {
            "name": self.name,
            "num_classes": self.num_classes,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "dropout": self.dropout,
        }

    @classmethod
    def from_config(cls, config):
        return from_task_config(cls, config)


def feature_backbone(num_classes, backbone, input_shape):
    """Checks a task's arguments; returns `backbone`, or the built-in one for `None`."""
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"Expected `num_classes` to be an int >= 2, received {num_classes!r}.")
    if backbone is None:
        backbone = small_resnet(input_shape)
    check_feature_backbone(backbone)
    return backbone


def from_task_config(cls, config):
    """A task model from its config, the backbone deserialised first."""
    config = dict(config)
    config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
    return cls(**config)


def check_feature_backbone(backbone):
    if not isinstance(backbone, keras.Model) or len(backbone.output_shape) != 4:
        shape = getattr(backbone, "output_shape", None)
        raise ValueError(
            "Expected `backbone` to be a Keras model returning a feature map "
            f"(B, h, w, C), received {type(backbone).__name__} with output shape {shape}."
        )
