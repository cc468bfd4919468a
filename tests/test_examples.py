"""The examples run end to end (with fewer epochs) on the active backend."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import BACKEND

import keras_provguide as kpg

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_decoy_digits_example(tmp_path, capsys):
    results = _load("decoy_digits").main(["--epochs", "3", "--output-dir", str(tmp_path)])
    assert (tmp_path / "decoy_digits_guided.keras").exists()
    assert "reloaded predictions identical: True" in capsys.readouterr().out
    assert results["guided"]["decoy_share"] < results["plain"]["decoy_share"]


def test_decoy_digits_ablations_change_only_the_provenance():
    example = _load("decoy_digits")
    data = kpg.datasets.decoy_digits(num_train=100, num_val=50)
    train = data["train"]
    random = example.training_inputs("random_mask", train, seed=0)["provenance"]
    assert np.all((random == 0).sum((1, 2, 3)) == 16)  # one 4x4 square, the swatch's area
    assert not np.array_equal(random, train["provenance"])
    assert not example.training_inputs("unmasked", train, seed=0)["provenance"].any()
    np.testing.assert_array_equal(
        example.training_inputs("guided", train, seed=0)["provenance"], train["provenance"]
    )
    result = example.run("random_mask", data, epochs=1)
    assert 0.0 <= result["val_accuracy"] <= 1.0 and 0.0 <= result["decoy_share"] <= 1.0
    with pytest.raises(ValueError, match="config"):
        example.run("rrr", data)


def test_folder_to_guided_fit_example(tmp_path):
    results = _load("folder_to_guided_fit").main(
        ["--epochs", "1", "--num-train", "120", "--data-dir", str(tmp_path), "--loader", "tf.data"]
    )
    assert sorted(results["class_names"]) == [str(d) for d in range(10)]
    assert len(list((tmp_path / "masks").rglob("*.png"))) == 120
    assert results["history"]["guidance_penalty"][0] > 0
    assert 0.0 <= results["accuracy"] <= 1.0


def test_from_fake_to_real_example():
    results = _load("from_fake_to_real").main(
        ["--configs", "ffr_groupdro", "ffr_dfr", "--synthetic-epochs", "1", "--real-epochs", "1"]
    )
    for result in results.values():
        assert 0.0 <= result["worst_group_accuracy"] <= result["balanced_group_accuracy"] <= 1.0
        assert result["selected_epoch"] in (0, 1)
    assert results["ffr_dfr"]["dfr_c"] > 0


def test_wsol_example_trains_with_fake_provenance_and_draws(tmp_path):
    results = _load("wsol_cutmix_guidance").main([
        "--configs", "cutmix_random_mask", "--epochs", "1", "--num-train", "64",
        "--num-test", "8", "--image-size", "16", "--output-dir", str(tmp_path),
    ])
    result = results["cutmix_random_mask"]
    assert 0.0 <= result["max_box_acc_v2"] <= 1.0 and 0.0 <= result["top1_accuracy"] <= 1.0
    assert (tmp_path / "wsol_cutmix_random_mask.png").stat().st_size > 0


def test_wsol_ablations_keep_the_mix_and_change_only_the_mask():
    import tensorflow as tf

    example = _load("wsol_cutmix_guidance")
    data = example.load_data(num_train=64, num_test=8, image_size=16)
    inputs, labels = next(iter(example.training_data(data["train"], "cutmix_guided", 64, seed=0)))
    true_share = 1.0 - tf.reduce_mean(inputs["provenance"], axis=[1, 2, 3])
    fake, _ = example._random_box_provenance(inputs, labels)
    fake_share = 1.0 - tf.reduce_mean(fake["provenance"], axis=[1, 2, 3])
    # A box of the same area share, rounded to whole pixels, placed at random.
    assert float(tf.reduce_max(tf.abs(fake_share - true_share))) < 0.15
    assert float(tf.reduce_mean(tf.abs(fake["provenance"] - inputs["provenance"]))) > 0
    assert set(fake) == set(inputs)
    whole, _ = example._whole_image_penalty(inputs, labels)
    assert set(whole) == {"images", "provenance"} and float(tf.reduce_max(whole["provenance"])) == 0.0


def test_action_localization_example(tmp_path):
    results = _load("action_localization").main([
        "--configs", "temporal_mix_guided", "--epochs", "1", "--num-train", "32",
        "--num-test", "8", "--num-frames", "3", "--output-dir", str(tmp_path),
    ])
    result = results["temporal_mix_guided"]
    for key in ("top1_accuracy", "frame_accuracy", "tube_accuracy"):
        assert 0.0 <= result[key] <= 1.0
    assert (tmp_path / "action_temporal_mix_guided.png").stat().st_size > 0


def test_clip_ablations_keep_the_partner_length_and_change_only_the_mask():
    import tensorflow as tf

    example = _load("action_localization")
    data = example.load_data(num_train=32, num_test=4, num_frames=6, seed=1)
    dataset = example.training_data(data["train"], "temporal_mix_random_mask", 32, seed=0)
    fake, _ = next(iter(dataset))
    true, _ = next(iter(example.training_data(data["train"], "temporal_mix_guided", 32, seed=0)))
    frames = lambda p: tf.reduce_sum(p, axis=[1, 2, 3, 4])  # noqa: E731
    # The same number of source-0 frames per clip, placed elsewhere for some clips.
    tf.debugging.assert_equal(frames(fake["provenance"]), frames(true["provenance"]))
    assert float(tf.reduce_max(tf.abs(fake["provenance"] - true["provenance"]))) == 1.0
    partner = 1.0 - fake["provenance"][:, :, 0, 0, 0]
    # The fake partner frames form one contiguous segment.
    steps = tf.reduce_sum(tf.abs(partner[:, 1:] - partner[:, :-1]), axis=1)
    assert float(tf.reduce_max(steps)) <= 2.0
    whole, _ = example._whole_clip_penalty(true, None)
    assert set(whole) == {"images", "provenance"} and float(tf.reduce_max(whole["provenance"])) == 0.0


def test_clip_paste_configs_paste_the_partners_digit_and_their_ablations_change_only_the_mask():
    import tensorflow as tf

    example = _load("action_localization")
    data = example.load_data(num_train=32, num_test=4, num_frames=3, seed=1)
    true, labels = next(iter(example.training_data(data["train"], "paste_mix_guided", 32, seed=0)))
    fake, fake_labels = next(iter(example.training_data(data["train"], "paste_mix_random_mask", 32, seed=0)))
    plain, _ = next(iter(example.training_data(data["train"], "paste_mix", 32, seed=0)))
    assert set(plain) == {"images"} and true["provenance"].shape == (32, 3, 32, 32, 1)
    tf.debugging.assert_equal(plain["images"], true["images"])
    tf.debugging.assert_equal(fake["images"], true["images"])
    tf.debugging.assert_equal(fake_labels, labels)
    # The partner owns only its digit: a small share of each clip, never all of it.
    partner_share = 1.0 - tf.reduce_mean(true["provenance"], axis=[1, 2, 3, 4])
    assert 0.0 < float(tf.reduce_mean(partner_share)) < 0.3
    tf.debugging.assert_equal(fake["provenance"], tf.roll(true["provenance"], 1, axis=0))
    results = example.main(["--configs", "paste_mix_guided", "--epochs", "1", "--num-train", "32",
                            "--num-test", "8", "--num-frames", "3"])
    assert all(0.0 <= results["paste_mix_guided"][key] <= 1.0 for key in ("top1_accuracy", "frame_accuracy"))


def test_clip_object_configs_mark_each_clips_own_digit_and_their_ablations_change_only_the_mask():
    import tensorflow as tf

    example = _load("action_localization")
    data = example.load_data(num_train=32, num_test=4, num_frames=3, seed=1, background_bias=0.9)
    true, labels = next(iter(example.training_data(data["train"], "object_guided", 32, seed=0)))
    fake, fake_labels = next(iter(example.training_data(data["train"], "object_random_mask", 32, seed=0)))
    whole, _ = next(iter(example.training_data(data["train"], "object_unmasked", 32, seed=0)))
    plain, plain_labels = next(iter(example.training_data(data["train"], "plain", 32, seed=0)))
    # No synthesis: the plain batch, with each clip's own digit alpha as provenance.
    assert set(plain) == {"images"} and labels.shape == (32, 10)
    tf.debugging.assert_equal(true["images"], plain["images"])
    tf.debugging.assert_equal(labels, plain_labels)
    # Each clip's provenance is its own digit's alpha (the clip found by its pixels).
    flat = data["train"]["images"].reshape(32, -1)
    for clip, mask in zip(true["images"].numpy(), true["provenance"].numpy()):
        (index,) = np.flatnonzero((flat == clip.reshape(1, -1)).all(axis=1))
        np.testing.assert_array_equal(mask, data["train"]["provenance"][index])
    assert 0.0 < float(tf.reduce_mean(true["provenance"])) < 0.3  # the digit, never the background
    tf.debugging.assert_equal(fake["images"], true["images"])
    tf.debugging.assert_equal(fake_labels, labels)
    tf.debugging.assert_equal(fake["provenance"], tf.roll(true["provenance"], 1, axis=0))
    assert float(tf.reduce_max(whole["provenance"])) == 0.0
    # A penalised object configuration trains end to end in `test_benchmarks.py`'s clip object test.


def test_keypoint_action_localization_example():
    results = _load("keypoint_action_localization").main([
        "--configs", "skp", "batch_mix_guided", "--epochs", "1", "--num-train", "32", "--num-test", "8",
    ])
    for result in results.values():
        for key in ("clip_accuracy", "frame_ap", "video_ap"):
            assert 0.0 <= result[key] <= 1.0


def test_keypoint_ablations_change_only_the_mask():
    import tensorflow as tf

    example = _load("keypoint_action_localization")
    data = example.load_data(num_train=32, num_test=4, seed=1)
    true, _ = next(iter(example.training_data(data["train"], "batch_mix_guided", 4, 32, seed=0)))
    fake, _ = next(iter(example.training_data(data["train"], "batch_mix_random_mask", 4, 32, seed=0)))
    np.testing.assert_array_equal(fake["keypoints"].numpy(), true["keypoints"].numpy())
    share = lambda p: float(tf.reduce_mean(p[..., 0] * true["point_mask"]))  # noqa: E731
    assert abs(share(fake["provenance"]) - share(true["provenance"])) < 0.05
    assert float(tf.reduce_mean(tf.abs(fake["provenance"] - true["provenance"]))) > 0.2
    whole, _ = example._every_point_penalty(true, None)
    assert "source_labels" not in whole and float(tf.reduce_max(whole["provenance"])) == 0.0
    plain, labels = next(iter(example.training_data(data["train"], "batch_mix", 4, 32, seed=0)))
    assert "provenance" not in plain and plain["keypoints"].shape[1] == true["keypoints"].shape[1]
    # Each clip of a mix is scored apart, with its own label: the model reads which clip each point is.
    for batch in (true, fake, whole, plain):
        np.testing.assert_array_equal(batch["source_ids"].numpy(), true["source_ids"].numpy())
    assert tuple(labels.shape) == (32, 2, 4)
    with pytest.raises(ValueError, match="mix_from"):
        example.run("batch_mix", data, epochs=3, mix_from=3)


def _two_device_example_command(*args):
    script = str(EXAMPLES / "distributed.py")
    if BACKEND == "torch":
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
        return launcher + [script, *args]
    return [sys.executable, script, "--cpu-devices", "2", *args]


def test_distributed_example_on_two_cpu_devices(tmp_path):
    command = _two_device_example_command(
        "--epochs", "1", "--num-train", "255", "--output-dir", str(tmp_path)
    )
    env = dict(os.environ, KERAS_BACKEND=BACKEND, TF_CPP_MIN_LOG_LEVEL="2")
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "2 replicas, global batch 64 (32 per replica)" in run.stdout
    assert "reloaded predictions identical: True" in run.stdout
    assert (tmp_path / "distributed_guided.keras").exists()


def test_distributed_example_rejects_a_batch_that_does_not_split():
    example = _load("distributed")

    class TwoReplicas(example.Engine):
        replicas = 2

    args = example.parse_args(["--batch-size", "33", "--epochs", "1"])
    with pytest.raises(ValueError, match="divisible by the 2 replicas, received 33"):
        example.train(args, TwoReplicas())
    with pytest.raises(SystemExit):
        example.parse_args(["--cpu-devices", "0"])
