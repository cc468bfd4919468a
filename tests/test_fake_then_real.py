"""From Fake to Real in one fit: the stream never pools, the switch resets what it should,
and a run resumed with BackupAndRestore ends where an uninterrupted one does."""

import keras
import numpy as np
import pytest
from conftest import conv_backbone

import keras_provguide as kpg

SYNTHETIC_MARK, REAL_MARK = 1.0, -1.0


def _set(size, mark, groups, seed, provenance=True):
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(size, 8, 8, 3)).astype("float32")
    images[:, 0, 0, 0] = np.arange(size)  # sample id
    images[:, 0, 1, 0] = mark  # which set
    split = {"images": images, "labels": (np.asarray(groups) // 2).astype("int32"),
             "groups": np.asarray(groups, "int32"), "backgrounds": np.zeros(size, "int32")}
    if provenance:
        split["provenance"] = np.ones((size, 8, 8, 1), "float32")
        split["provenance"][:, :, :4] = 0.0
    return split


def _sets(real_groups=None):
    synthetic = _set(24, SYNTHETIC_MARK, np.repeat(np.arange(4), 6), 0)
    if real_groups is None:
        real_groups = np.repeat(np.arange(4), [10, 2, 2, 10])
    real = _set(len(real_groups), REAL_MARK, real_groups, 1, provenance=False)
    return synthetic, real


def _data(**kwargs):
    synthetic, real = _sets()
    kwargs = dict(dict(synthetic_epochs=2, batch_size=8), **kwargs)
    return kpg.data.FakeThenReal(synthetic, real, **kwargs)


def test_phases_never_mix_and_each_pass_visits_every_sample():
    data = _data()
    assert data.steps_per_epoch == 3  # ceil(24 real / 8)
    for epoch in range(4):
        ids = []
        for step in range(3):
            x, y = data.batch(epoch, step)
            marks = set(x["images"][:, 0, 1, 0].tolist())
            assert marks == {SYNTHETIC_MARK if epoch < 2 else REAL_MARK}
            ids.extend(x["images"][:, 0, 0, 0].astype(int).tolist())
        assert sorted(ids) == list(range(24))
    assert [data.phase(e) for e in range(4)] == ["synthetic", "synthetic", "real", "real"]


def test_real_provenance_is_padded_with_ones_and_extra_keys_dropped():
    x, y = _data().batch(3, 0)
    assert sorted(x) == ["groups", "images", "provenance"]
    np.testing.assert_array_equal(x["provenance"], 1.0)
    assert x["groups"].dtype == np.int32 and y.dtype == np.int32
    np.testing.assert_array_equal(y, x["groups"] // 2)


def test_batches_depend_only_on_seed_epoch_and_step():
    data, twin, other = _data(seed=3), _data(seed=3), _data(seed=4)
    data.begin_at_epoch(1)
    for index in range(5):
        epoch, step = 1 + index // 3, index % 3
        np.testing.assert_array_equal(data[index][0]["images"], twin.batch(epoch, step)[0]["images"])
    assert not np.array_equal(data.batch(0, 0)[1], other.batch(0, 0)[1]) or not np.array_equal(
        data.batch(0, 0)[0]["images"], other.batch(0, 0)[0]["images"]
    )


def test_group_balanced_sampling_draws_groups_equally():
    data = _data(real_sampling="group_balanced", batch_size=64)
    groups = np.concatenate([data.batch(2, step)[0]["groups"] for step in range(100)])
    shares = np.bincount(groups, minlength=4) / len(groups)
    np.testing.assert_allclose(shares, 0.25, atol=0.03)  # the real set is 10/2/2/10


def test_bad_sets_are_named():
    synthetic, real = _sets()
    with pytest.raises(ValueError, match="'groups' in both"):
        kpg.data.FakeThenReal(synthetic, {k: v for k, v in real.items() if k != "groups"}, 1)
    with pytest.raises(ValueError, match="same shape"):
        kpg.data.FakeThenReal(synthetic, dict(real, images=real["images"][:, :4]), 1)
    with pytest.raises(ValueError, match="'labels'"):
        kpg.data.FakeThenReal(synthetic, dict(real, labels=real["labels"][:3]), 1)
    with pytest.raises(ValueError, match="real_sampling"):
        kpg.data.FakeThenReal(synthetic, real, 1, real_sampling="balanced")
    with pytest.raises(ValueError, match="synthetic_epochs"):
        kpg.data.FakeThenReal(synthetic, real, -1)
    with pytest.raises(ValueError, match="FakeThenReal"):
        kpg.callbacks.FromFakeToReal((synthetic, real))


class _Probe(keras.callbacks.Callback):
    """Records the state the switch is meant to change, at every epoch end."""

    def __init__(self):
        super().__init__()
        self.records = []

    def on_epoch_end(self, epoch, logs=None):
        bn = next(layer for layer in self.model.classifier.layers if isinstance(layer, keras.layers.BatchNormalization))
        loss = self.model.loss
        self.records.append({
            "iterations": int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)),
            "learning_rate": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
            "moving_mean": keras.ops.convert_to_numpy(bn.moving_mean).copy(),
            "gamma": keras.ops.convert_to_numpy(bn.gamma).copy(),
            "guidance_weight": float(keras.ops.convert_to_numpy(self.model.guidance_weight)),
            "q": loss.group_weights.copy() if hasattr(loss, "group_weights") else None,
        })


def _model(loss=None, seed=0):
    keras.utils.set_random_seed(seed)
    model = kpg.GuidedModel(conv_backbone((8, 8, 3), num_classes=2), guidance_weight=0.5)
    model.compile(
        keras.optimizers.Adam(1e-2),
        loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[kpg.metrics.WorstGroupAccuracy(4)],
    )
    return model


def test_the_switch_resets_the_optimizer_and_freezes_batchnorm():
    data, probe = _data(), _Probe()
    model = _model()
    schedule = kpg.callbacks.FromFakeToReal(
        data, real_learning_rate=1e-3, freeze_batchnorm=True, verbose=0
    )
    history = model.fit(data, epochs=4, steps_per_epoch=3, callbacks=[schedule, probe], verbose=0)
    synthetic_end, first_real, last = probe.records[1], probe.records[2], probe.records[3]
    assert history.history["phase"] == [0, 0, 1, 1]
    assert synthetic_end["iterations"] == 6 and first_real["iterations"] == 3
    assert last["iterations"] == 6
    assert synthetic_end["learning_rate"] == pytest.approx(1e-2)
    assert first_real["learning_rate"] == pytest.approx(1e-3)
    assert min(history.history["guidance_penalty"][:2]) > 0
    assert history.history["guidance_penalty"][2:] == [0.0, 0.0]
    assert last["guidance_weight"] == 0.0 and not model.guidance_enabled
    # BatchNorm statistics move in the synthetic phase only; scale keeps training.
    assert not np.allclose(probe.records[0]["moving_mean"], synthetic_end["moving_mean"])
    np.testing.assert_array_equal(synthetic_end["moving_mean"], last["moving_mean"])
    assert not np.allclose(synthetic_end["gamma"], last["gamma"])
    # The model leaves fit as it came: no frozen BatchNorm call left behind.
    assert all("call" not in layer.__dict__ for layer in model.classifier.layers)


def test_group_dro_is_erm_in_the_synthetic_phase_and_robust_after():
    probe = _Probe()
    model = _model(loss=kpg.losses.GroupDRO(4, step_size=1.0))
    data = _data()
    model.fit(data, epochs=3, steps_per_epoch=3, verbose=0,
              callbacks=[kpg.callbacks.FromFakeToReal(data, verbose=0), probe])
    np.testing.assert_allclose(probe.records[1]["q"], 0.25)
    assert not np.allclose(probe.records[2]["q"], 0.25)


def test_fit_without_the_stream_length_or_real_provenance_is_refused():
    data = _data()
    with pytest.raises(ValueError, match="steps_per_epoch=data.steps_per_epoch"):
        _model().fit(data, epochs=1, steps_per_epoch=2, verbose=0,
                     callbacks=[kpg.callbacks.FromFakeToReal(data)])
    with pytest.raises(ValueError, match="provenance in the real set"):
        _model().fit(data, epochs=1, steps_per_epoch=3, verbose=0,
                     callbacks=[kpg.callbacks.FromFakeToReal(data, real_guidance_weight=0.1)])


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("interrupted")


def _ffr_run(backup_dir, extra=(), loss=None):
    data = _data()
    model = _model(loss=kpg.losses.GroupDRO(4, step_size=0.5))
    callbacks = [
        keras.callbacks.BackupAndRestore(backup_dir),
        kpg.callbacks.FromFakeToReal(data, real_learning_rate=3e-3, freeze_batchnorm=True, verbose=0),
        *extra,
    ]
    history = model.fit(data, epochs=4, steps_per_epoch=3, callbacks=callbacks, verbose=0)
    return model, history


@pytest.mark.parametrize("interrupt_at", [2, 3])  # at the switch; inside the real phase
def test_backup_and_restore_resumes_in_the_right_phase(tmp_path, interrupt_at):
    reference, _ = _ffr_run(str(tmp_path / "reference"))
    backup = str(tmp_path / "backup")
    with pytest.raises(RuntimeError, match="interrupted"):
        _ffr_run(backup, extra=[_Interrupt(interrupt_at)])
    resumed, history = _ffr_run(backup)
    assert history.history["phase"] == [0, 0, 1, 1][interrupt_at:]
    for expected, actual in zip(reference.weights, resumed.weights):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(actual), keras.ops.convert_to_numpy(expected),
            rtol=1e-5, atol=1e-6, err_msg=actual.path,
        )
    for expected, actual in zip(reference.optimizer.variables, resumed.optimizer.variables):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(actual), keras.ops.convert_to_numpy(expected),
            rtol=1e-5, atol=1e-6, err_msg=actual.path,
        )
    np.testing.assert_allclose(resumed.loss.group_weights, reference.loss.group_weights, rtol=1e-5)


def _manifest_split(root, count, with_mask):
    """A `kpg.datasets.csv_manifest` train split of `count` PNGs; the file name is the sample id."""
    import os

    from PIL import Image

    os.makedirs(os.path.join(root, "masks"), exist_ok=True)
    lines = ["path,label,group,split" + (",mask" if with_mask else "")]
    for i in range(count):
        pixels = np.full((8, 8, 3), i * 5, np.uint8)
        Image.fromarray(pixels).save(os.path.join(root, f"{i}.png"))
        mask = np.zeros((8, 8), np.uint8)
        mask[:, 4:] = 255
        Image.fromarray(mask).save(os.path.join(root, "masks", f"{i}.png"))
        lines.append(f"{i}.png,{i % 2},{i % 4},train" + (f",masks/{i}.png" if with_mask else ""))
    with open(os.path.join(root, "manifest.csv"), "w") as file:
        file.write("\n".join(lines) + "\n")
    return kpg.datasets.csv_manifest(os.path.join(root, "manifest.csv"), image_size=8, splits="train")["train"]


def test_file_backed_sets_give_the_batches_of_the_same_arrays(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "r").mkdir()
    synthetic = _manifest_split(str(tmp_path / "s"), 12, with_mask=True)
    real = _manifest_split(str(tmp_path / "r"), 10, with_mask=False)
    as_arrays = [s.row_reader.batch(np.arange(len(s.labels))) for s in (synthetic, real)]
    options = dict(synthetic_epochs=1, batch_size=4, real_sampling="group_balanced", seed=3)
    from_files = kpg.data.FakeThenReal(synthetic, real, **options)
    from_arrays = kpg.data.FakeThenReal(*as_arrays, **options)
    assert from_files.has_provenance == {"synthetic": True, "real": False}
    for epoch in (0, 1):
        for step in range(from_files.steps_per_epoch):
            (x, y), (x_ref, y_ref) = from_files.batch(epoch, step), from_arrays.batch(epoch, step)
            assert sorted(x) == sorted(x_ref) == ["groups", "images", "provenance"]
            for key in x:
                assert x[key].dtype == x_ref[key].dtype
                np.testing.assert_array_equal(x[key], x_ref[key])
            np.testing.assert_array_equal(y, y_ref)
            if epoch == 1:  # the real set has no masks: provenance 1 everywhere
                assert np.all(x["provenance"] == 1.0)
            else:
                assert np.all(x["provenance"][:, :, :4] == 0.0) and np.all(x["provenance"][:, :, 4:] == 1.0)


def test_real_learning_rate_is_refused_with_a_learning_rate_schedule():
    data, model = _data(), _model()
    model.compile(keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(1e-2, 10, 0.5)),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    schedule = kpg.callbacks.FromFakeToReal(data, real_learning_rate=1e-3, verbose=0)
    with pytest.raises(ValueError, match="float learning rate .* received one with a LearningRateSchedule"):
        model.fit(data, epochs=1, steps_per_epoch=data.steps_per_epoch, callbacks=[schedule], verbose=0)
    # Without real_learning_rate, the schedule goes on through the switch.
    history = model.fit(data, epochs=3, steps_per_epoch=data.steps_per_epoch,
                        callbacks=[kpg.callbacks.FromFakeToReal(data, verbose=0)], verbose=0)
    assert history.history["phase"] == [0, 0, 1]
