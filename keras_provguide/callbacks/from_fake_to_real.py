"""`FromFakeToReal`: the switch from synthetic pre-training to real fine-tuning."""

import keras

from keras_provguide import keras_internals
from keras_provguide.checks import non_negative_float, positive_float
from keras_provguide.data.fake_then_real import REAL, SYNTHETIC, FakeThenReal

PHASE_IDS = {SYNTHETIC: 0, REAL: 1}


class FromFakeToReal(keras.callbacks.Callback):
    """Runs From Fake to Real (Qraitem et al., ECCV 2024) inside one `fit`.

    With a `kpg.data.FakeThenReal` stream, the model trains on synthetic
    data for `data.synthetic_epochs` epochs and on real data after, never on
    both at once. At the first real epoch the callback:

    - resets the optimizer state (moments and step count, as a fresh
      optimizer of the same config) and sets `real_learning_rate`;
    - freezes BatchNorm statistics if `freeze_batchnorm`: BatchNorm layers
      normalise with their moving statistics and stop updating them, while
      their scale and offset keep training (PyTorch's `.eval()` BatchNorm);
    - sets the guidance weight of a `GuidedModel` to `real_guidance_weight`;
      at 0 (the default: real data has no provenance) the penalty is not
      computed at all;
    - turns a compiled `kpg.losses.GroupDRO` from plain ERM (the synthetic
      phase pre-trains with ERM, as the paper does) to group DRO.

    Each epoch's logs get `phase`: 0 synthetic, 1 real (`history.history`).
    With `keras.callbacks.BackupAndRestore`, a resumed run re-enters the
    right phase; the optimizer state then comes from the checkpoint, and is
    reset only when the run resumes exactly at the first real epoch.

    Args:
        data: the `kpg.data.FakeThenReal` passed to `fit`.
        real_learning_rate: float, the learning rate of the real phase;
            `None` keeps the optimizer's.
        reset_optimizer: bool, reset the optimizer state at the switch.
        freeze_batchnorm: bool, freeze BatchNorm statistics in the real
            phase.
        real_guidance_weight: float >= 0, the guidance weight of the real
            phase (needs provenance in the real set to matter).
        verbose: 1 prints a line at the switch.

    Example:

    ```python
    data = kpg.data.FakeThenReal(synthetic, real, synthetic_epochs=5, batch_size=64)
    schedule = kpg.callbacks.FromFakeToReal(data, real_learning_rate=1e-4)
    model.fit(data, epochs=12, steps_per_epoch=data.steps_per_epoch,
              callbacks=[schedule], validation_data=val)
    ```
    """

    def __init__(
        self, data, real_learning_rate=None, reset_optimizer=True,
        freeze_batchnorm=False, real_guidance_weight=0.0, verbose=1,
    ):
        super().__init__()
        if not isinstance(data, FakeThenReal):
            raise ValueError(
                "Expected `data` to be the `kpg.data.FakeThenReal` passed to fit, "
                f"received {type(data).__name__}."
            )
        if real_learning_rate is not None:
            real_learning_rate = positive_float(real_learning_rate, "real_learning_rate")
        real_guidance_weight = non_negative_float(real_guidance_weight, "real_guidance_weight")
        self.data = data
        self.real_learning_rate = real_learning_rate
        self.reset_optimizer = bool(reset_optimizer)
        self.freeze_batchnorm = bool(freeze_batchnorm)
        self.real_guidance_weight = real_guidance_weight
        self.verbose = verbose
        self._phase = None
        self._first_epoch = True

    def on_train_begin(self, logs=None):
        steps = self.params.get("steps")
        if steps != self.data.steps_per_epoch:
            raise ValueError(
                "Expected `fit(..., steps_per_epoch=data.steps_per_epoch)` = "
                f"{self.data.steps_per_epoch} with a FakeThenReal stream, received "
                f"steps_per_epoch={steps}."
            )
        if self.real_guidance_weight > 0 and not self.data.has_provenance[REAL]:
            raise ValueError(
                f"Expected provenance in the real set with real_guidance_weight="
                f"{self.real_guidance_weight}, received a real set without 'provenance' "
                "(its penalty would be 0). Set real_guidance_weight=0."
            )
        optimizer = self.model.optimizer
        # A schedule serialises as a dict, a float learning rate as a number.
        if self.real_learning_rate is not None and optimizer is not None and isinstance(
            optimizer.get_config().get("learning_rate"), dict
        ):
            raise ValueError(
                "Expected an optimizer with a float learning rate to set "
                f"real_learning_rate={self.real_learning_rate}, received one with a "
                "LearningRateSchedule."
            )
        self._phase = None
        self._first_epoch = True

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch:
            self.data.begin_at_epoch(epoch)
            self._first_epoch = False
        phase = self.data.phase(epoch)
        if phase == self._phase:
            return
        self._phase = phase
        if phase == REAL:
            self._enter_real_phase(switch=epoch == self.data.synthetic_epochs)
        else:
            _set_group_losses_robust(self.model, False)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["phase"] = PHASE_IDS[self.data.phase(epoch)]

    def on_train_end(self, logs=None):
        _restore_batchnorm(self.model)

    def _enter_real_phase(self, switch):
        model, optimizer = self.model, self.model.optimizer
        if switch and self.reset_optimizer and optimizer is not None:
            _reset_optimizer(optimizer, model.trainable_variables)
        if self.real_learning_rate is not None and optimizer is not None:
            optimizer.learning_rate = self.real_learning_rate
        if self.freeze_batchnorm:
            _freeze_batchnorm(model)
        _set_group_losses_robust(model, True)
        rebuilt = False
        if hasattr(model, "guidance_enabled"):
            model.guidance_weight = self.real_guidance_weight
            # The setter rebuilds the compiled step when the flag changes.
            rebuilt = model.guidance_enabled != (self.real_guidance_weight > 0)
            model.guidance_enabled = self.real_guidance_weight > 0
        # The compiled step bakes in BatchNorm's mode: build it again, once.
        if self.freeze_batchnorm and not rebuilt and model.train_function is not None:
            model.make_train_function(force=True)
        if self.verbose:
            print(
                "FromFakeToReal: real phase"
                + (", optimizer reset" if switch and self.reset_optimizer else "")
                + (f", learning rate {self.real_learning_rate}" if self.real_learning_rate else "")
                + (", BatchNorm statistics frozen" if self.freeze_batchnorm else "")
            )


def _reset_optimizer(optimizer, variables):
    """Every optimizer variable back to the value a fresh optimizer starts from."""
    fresh = optimizer.__class__.from_config(optimizer.get_config())
    fresh.build(variables)
    if len(fresh.variables) != len(optimizer.variables):
        raise ValueError(
            f"Could not reset {type(optimizer).__name__}: a fresh copy has "
            f"{len(fresh.variables)} variables, the optimizer {len(optimizer.variables)}."
        )
    for old, new in zip(optimizer.variables, fresh.variables):
        old.assign(new.value)


def _batchnorm_layers(model):
    return [
        layer for layer in keras_internals.sublayers(model)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]


def _freeze_batchnorm(model):
    for layer in _batchnorm_layers(model):
        if "call" in layer.__dict__:
            continue
        cls_call = type(layer).call

        def frozen_call(inputs, training=None, mask=None, layer=layer, cls_call=cls_call):
            return cls_call(layer, inputs, training=False, mask=mask)

        layer.call = frozen_call


def _restore_batchnorm(model):
    for layer in _batchnorm_layers(model):
        layer.__dict__.pop("call", None)


def _set_group_losses_robust(model, robust):
    for loss in keras.tree.flatten(getattr(model, "loss", None)):
        if hasattr(loss, "set_robust"):
            loss.set_robust(robust)

