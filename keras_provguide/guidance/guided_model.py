"""`GuidedModel`: provenance-masked input-gradient guidance inside `model.fit`."""

import inspect
import warnings

import keras
from keras import ops

from keras_provguide import backend as autodiff
from keras_provguide import groups as groups_lib
from keras_provguide.checks import int_at_least, non_negative_float, positive_float
from keras_provguide.guidance import data_checks
from keras_provguide.guidance import inputs as inputs_lib
from keras_provguide.guidance import penalty as penalty_lib
from keras_provguide.guidance import second_order as second_order_lib
from keras_provguide.keys import IMAGES, KEYPOINTS, POINT_STRUCTURE


@keras.saving.register_keras_serializable(package="keras_provguide")
class GuidedModel(autodiff.guided_trainer(), keras.Model):
    """Trains any class-score model with provenance-based input-gradient guidance.

    The total loss is the compiled task loss plus `guidance_weight * P`, where
    `P` penalises the model's input gradients on input elements that do not
    come from the labelled target:

    - one source, label `y`: `P = mean_b sum((1 - M) * d s_y / d x) ** 2`;
    - two-source mixes (`"source_labels"` given, `M` = share of source 0):
      `P = mean_b sum((1 - M) * d s_a / d x + M * d s_b / d x) ** 2`

    (the sum over a sample's elements becomes a mean with
    `penalty_reduction="mean"`).

    `P` is differentiated exactly, second order, through the backend's
    autodiff. A batch without `"provenance"` trains as plain ERM (`P = 0`).
    The input gradient is taken of the batch's summed score in the training
    forward pass, so with BatchNorm in training mode it includes the
    cross-sample terms that flow through the batch statistics.

    Args:
        classifier: the model being guided: a Keras model mapping images to
            class scores (logits) `(B, K)`, such as `kpg.models.ImageClassifier`
            or `CAMLocalizer`. (Earlier releases called this argument
            `backbone`; that name still works, with a `DeprecationWarning`.)
        guidance_weight: float, the weight of `P` in the total loss. Stored
            in a non-trainable variable, so callbacks can schedule it
            (`model.guidance_weight.assign(0.0)`).
        score: the scalar whose input gradient is guided: `"logit"` (the
            labelled class logit, default), `"log_prob_sum"` (sum over
            classes of log-softmax) or `"loss"` (softmax cross-entropy
            against the labels). For soft labels without `"source_labels"`,
            `"logit"` is the label-weighted sum of logits.
        norm: `"l2"` (squares, default) or `"l1"` (absolute values) of the
            off-target input gradient's elements.
        penalty_reduction: how a sample's terms are reduced: `"sum"` over all
            its elements (default; the paper's squared L2 norm) or `"mean"`,
            the sum divided by the number of elements, so that one weight
            suits inputs of any size and rank (images, clips). A `"sum"`
            weight `w` equals a `"mean"` weight `w * n` for inputs of `n`
            elements.
        second_order: how the parameter gradient of `P` is taken: a name
            registered in `keras_provguide.guidance.second_order`, where each
            path is documented: `"double_backprop"` and
            `"forward_over_reverse"` (exact), `"finite_difference"`
            (approximate, first-order kernels only; a different regulariser
            through ReLU kinks), or `"auto"` (default), the exact path
            measured fastest on the active backend. The speed guide compares
            them.
        finite_difference_step: float > 0, the step of
            `second_order="finite_difference"` relative to the input scale:
            `a u` has a root-mean-square of `finite_difference_step` times
            that of the batch's images (default 1e-2; see
            `benchmarks/step_overhead.md` for the error it gives). A model that
            computes in float16 or bfloat16 needs at least 3e-2 (smaller
            steps' score differences round to zero; refused with an error).
            On TensorFlow this path runs under XLA (`jit_compile="auto"`
            means `True` for it) or eagerly, never in plain graph mode, where
            its update was measured wrong in some processes. Ignored by the
            other paths.
        penalty_every: int >= 1. Apply the penalty on one training step in
            `penalty_every` (the first of each run of steps); the other
            steps are plain ERM steps at plain cost.
        lazy_rescale: bool. With `penalty_every = k > 1`, weigh the penalty
            `k * guidance_weight` on the steps that apply it (default
            `True`), so that its average pull over `k` steps is that of
            every-step guidance at `guidance_weight`: lazy regularization
            as StyleGAN2 applies its R1 penalty. `False` weighs it
            `guidance_weight` there, an average pull of
            `guidance_weight / k` (the behaviour before this option; a
            model saved then loads with `False`).
        penalty_fraction: float in (0, 1]. Compute the penalty on the first
            `ceil(penalty_fraction * B)` samples of each training batch (the
            task loss still uses all of them), in a second, stateless forward
            pass: its BatchNorm statistics are the sub-batch's, and the moving
            averages are updated by the full batch only. `P` stays a mean
            over samples, now over the sub-batch's: in batches of
            exchangeable samples it estimates the full batch's `P` without
            bias, so `guidance_weight` keeps its meaning and needs no
            rescaling (exactly equal where the sub-batch's samples are
            representative, e.g. a batch of two copies of it, and the model
            has no batch statistics).
        **kwargs: passed to `keras.Model` (`name`, `dtype`, ...).

    Call arguments:
        inputs: an image tensor `(B, *spatial, C)`, or a dict with
            `"images"` (other keys are ignored).
        training: passed to the classifier.

    Training data: `x = {"images": float (B, *spatial, C), "provenance":
    (B, *spatial, 1 or C) in [0, 1], "source_labels": optional int (B, 2),
    "groups": optional int (B,)}`, `y` = class ids `(B,)` or one-hot/soft
    labels `(B, K)`. Provenance 1 marks elements of the labelled target; it
    broadcasts over channels, so `channels_first` data uses
    `(B, 1 or C, *spatial)`. Group ids reach group-aware losses and metrics
    (`kpg.losses.GroupDRO`, `kpg.metrics.WorstGroupAccuracy`).

    Data parallel training works on each backend's engine, with the penalty
    computed per replica and reduced as the task loss is: JAX under
    `keras.distribution.DataParallel`, TensorFlow under a `tf.distribute`
    strategy (build and compile in its scope), torch in processes launched by
    `torchrun`, where the model trains through `DistributedDataParallel`
    once `torch.distributed` is initialised (each process fits its own shard;
    every trainable weight must be used in the forward pass, as DDP
    requires; Keras's own wrapper where the installed Keras builds one). A
    step equals the one-device step on the same global batch; see the
    README's "Several devices and hosts".

    Logs `loss` (task loss plus weighted penalty) and `guidance_penalty` (`P`,
    unweighted); `evaluate` reports `guidance_penalty` when the data carries
    provenance. Each sample's penalty is scaled by its `sample_weight`.

    Example:

    ```python
    import keras, numpy as np
    import keras_provguide as kpg

    classifier = keras.Sequential([
        keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3)
    ])
    model = kpg.GuidedModel(classifier, guidance_weight=0.1)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = {
        "images": np.random.rand(16, 8, 8, 1).astype("float32"),
        "provenance": np.ones((16, 8, 8, 1), "float32"),
    }
    history = model.fit(x, np.arange(16) % 3, epochs=1, verbose=0)
    ```
    """

    def __init__(
        self, classifier=None, guidance_weight=0.05, score="logit", norm="l2",
        second_order="auto", penalty_every=1, penalty_fraction=1.0,
        penalty_reduction="sum", lazy_rescale=True, finite_difference_step=1e-2, backbone=None, **kwargs,
    ):
        super().__init__(**kwargs)
        if backbone is not None:
            if classifier is not None:
                raise ValueError(
                    "Expected the guided model as `classifier` only, received both `classifier` and its "
                    "deprecated name `backbone`."
                )
            warnings.warn(
                "`GuidedModel(backbone=...)` is deprecated: the guided model is not a feature "
                "extractor; pass it as `classifier` (or positionally).", DeprecationWarning, stacklevel=2,
            )
            classifier = backbone
        if not isinstance(classifier, keras.layers.Layer):
            raise ValueError(
                "Expected `classifier` to be a Keras model or layer returning class "
                f"scores, received {type(classifier).__name__}."
            )
        penalty_lib.check_options(score=score, norm=norm, reduction=penalty_reduction)
        guidance_weight = non_negative_float(guidance_weight, "guidance_weight")
        second_order_lib.check_name(second_order)
        penalty_every = int_at_least(penalty_every, 1, "penalty_every")
        if not isinstance(lazy_rescale, bool):
            raise ValueError(f"Expected `lazy_rescale` to be a bool, received {lazy_rescale!r}.")
        finite_difference_step = positive_float(finite_difference_step, "finite_difference_step")
        try:
            penalty_fraction = float(penalty_fraction)
        except (TypeError, ValueError):
            penalty_fraction = -1.0
        if not 0.0 < penalty_fraction <= 1.0:
            raise ValueError(
                f"Expected `penalty_fraction` in (0, 1], received {penalty_fraction!r}."
            )
        # Stored as `backbone`, the attribute Keras's saver names its weights by, so `.keras`
        # files of earlier releases keep loading; `classifier` is its public name.
        self.backbone = classifier
        self.score = score
        self.norm = norm
        self.penalty_reduction = penalty_reduction
        self.second_order = second_order
        self.penalty_every = penalty_every
        self.penalty_fraction = penalty_fraction
        self.lazy_rescale = lazy_rescale
        self.finite_difference_step = finite_difference_step
        self._guidance_weight = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(guidance_weight),
            trainable=False,
            dtype="float32",
            name="guidance_weight",
        )
        self.penalty_tracker = keras.metrics.Mean(name="guidance_penalty")
        self._guidance_enabled = True
        # A built classifier makes a built model: `load_weights` and
        # `BackupAndRestore` need that before the first batch.
        if classifier.built:
            self.built = True

    @property
    def classifier(self):
        """The guided model: a Keras model mapping images to class scores."""
        return self.backbone

    @property
    def second_order_path(self):
        """The second-order path guided steps use: `second_order`, with `"auto"` resolved.

        `"auto"` takes the path measured fastest on the active backend (see
        `benchmarks/step_overhead.md`).
        """
        return second_order_lib.resolve(self.second_order, autodiff.get())

    @property
    def penalty_scale(self):
        """The factor on `guidance_weight` in the steps that apply the penalty.

        `penalty_every` with `lazy_rescale`, else 1.
        """
        return self.penalty_every if self.lazy_rescale else 1

    @property
    def guidance_weight(self):
        """The `keras.Variable` holding the weight of the penalty."""
        return self._guidance_weight

    @guidance_weight.setter
    def guidance_weight(self, value):
        self._guidance_weight.assign(non_negative_float(value, "guidance_weight"))

    @property
    def guidance_enabled(self):
        """Whether training steps compute the penalty (default `True`).

        `False` trains every batch as plain ERM at plain cost, provenance or
        not: `kpg.callbacks.FromFakeToReal` sets it for the real phase. The
        switch rebuilds the compiled training step, also in the middle of
        `fit` (between epochs).
        """
        return self._guidance_enabled

    @guidance_enabled.setter
    def guidance_enabled(self, value):
        if not isinstance(value, bool):
            raise ValueError(f"Expected `guidance_enabled` to be a bool, received {value!r}.")
        if value == self._guidance_enabled:
            return
        self._guidance_enabled = value
        if self.train_function is not None:
            self.make_train_function(force=True)

    @property
    def metrics(self):
        # The state of group-robust losses rides along as metric variables,
        # which every backend's compiled step carries.
        return super().metrics + [
            loss.state for loss in keras.tree.flatten(getattr(self, "loss", None))
            if isinstance(getattr(loss, "state", None), keras.metrics.Metric)
        ]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        with groups_lib.group_scope(groups_lib.groups_of(x), training=training):
            return super().compute_loss(
                x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
            )

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        with groups_lib.group_scope(groups_lib.groups_of(x)):
            return super().compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def build(self, input_shape=None):
        input_shape = _classifier_input_shape(input_shape)
        if not self.classifier.built and input_shape is not None:
            # A symbolic call builds every sublayer, also of a subclassed
            # classifier without a `build()` of its own.
            self.classifier(keras.tree.map_shape_structure(
                lambda shape: keras.KerasTensor(tuple(shape)), input_shape
            ))
        self.built = True

    def call(self, inputs, training=None):
        batch = inputs_lib.unpack_inputs(inputs)
        return self.classifier(batch.model_inputs(batch.images), training=training)

    def compute_output_shape(self, input_shape):
        return self.classifier.compute_output_shape(_classifier_input_shape(input_shape))

    # Value checks need concrete data, so they run once, before the compiled
    # steps (`data_checks.check_data`): on whole arrays, or on the first batch.

    def fit(self, *args, **kwargs):
        arguments = _bind(keras.Model.fit, self, args, kwargs)
        autodiff.get().check_model_runs_here(self)
        x, validation_data = arguments.get("x"), arguments.get("validation_data")
        data_checks.check_data(self, x, arguments.get("y"))
        if isinstance(validation_data, (tuple, list)):
            vx, vy, _ = keras.utils.unpack_x_y_sample_weight(tuple(validation_data))
            data_checks.check_data(self, vx, vy)
        elif validation_data is not None:
            data_checks.check_data(self, validation_data, None)
        endless = isinstance(x, keras.utils.PyDataset) and x.num_batches is None
        if (endless or _is_tf_dataset(x)) and "shuffle" not in arguments:
            # These inputs shuffle themselves, and Keras ignores `shuffle` for
            # them; its default `True` would only bring a warning saying so.
            arguments["shuffle"] = False
        return super().fit(**arguments)

    def make_train_function(self, force=False):
        # A backend that cannot run the model's second-order path says so before the first step.
        second_order_lib.check_runs_here(self, autodiff.get())
        return super().make_train_function(force)

    def evaluate(self, *args, **kwargs):
        arguments = _bind(keras.Model.evaluate, self, args, kwargs)
        autodiff.get().check_model_runs_here(self)
        data_checks.check_data(self, arguments.get("x"), arguments.get("y"))
        return super().evaluate(**arguments)

    def predict(self, *args, **kwargs):
        arguments = _bind(keras.Model.predict, self, args, kwargs)
        autodiff.get().check_model_runs_here(self)
        return super().predict(**arguments)

    def get_config(self):
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.saving.serialize_keras_object(self.dtype_policy),
            "classifier": keras.saving.serialize_keras_object(self.classifier),
            "guidance_weight": float(ops.convert_to_numpy(self._guidance_weight)),
            "score": self.score,
            "norm": self.norm,
            "penalty_reduction": self.penalty_reduction,
            "second_order": self.second_order,
            "penalty_every": self.penalty_every,
            "penalty_fraction": self.penalty_fraction,
            "lazy_rescale": self.lazy_rescale,
            "finite_difference_step": self.finite_difference_step,
        }
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        # Saved before `lazy_rescale` existed: penalised steps were not rescaled.
        config.setdefault("lazy_rescale", False)
        # Saved before the rename: the guided model under `backbone`.
        config["classifier"] = keras.saving.deserialize_keras_object(
            config.pop("classifier") if "classifier" in config else config.pop("backbone")
        )
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.saving.deserialize_keras_object(config["dtype"])
        return cls(**config)


def _classifier_input_shape(input_shape):
    """The shape(s) the classifier takes: the images' shape, or a keypoint batch's dict of shapes."""
    if not isinstance(input_shape, dict):
        return input_shape
    if IMAGES not in input_shape and KEYPOINTS in input_shape:
        keys = (KEYPOINTS, *POINT_STRUCTURE)
        return {key: shape for key, shape in input_shape.items() if key in keys}
    return input_shape[IMAGES]


def _bind(method, model, args, kwargs):
    """The arguments of a call to Keras's `method`, by name, as the caller gave them.

    Defaults are left out, so Keras still applies its own; a call Keras would
    refuse (too many arguments, one given twice) raises a `TypeError` here.
    """
    signature = inspect.signature(method)
    arguments = dict(signature.bind(model, *args, **kwargs).arguments)
    for name, parameter in signature.parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            arguments.update(arguments.pop(name, {}))
    del arguments[next(iter(signature.parameters))]  # `self`
    return arguments


def _is_tf_dataset(x):
    """True for a `tf.data.Dataset`, without importing TensorFlow."""
    return any(
        cls.__module__.startswith("tensorflow") and cls.__name__.endswith("DatasetV2")
        for cls in type(x).__mro__
    )
