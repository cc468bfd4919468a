"""The README's usage example and set-up scripts behave as written."""

import os
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_usage_example_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    usage = blocks[0]
    assert len(usage.strip().splitlines()) <= 12
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(usage, str(README), "exec"), namespace)
    assert (tmp_path / "guided.keras").exists()
    history = namespace["model"].history.history
    assert {"loss", "guidance_penalty", "accuracy"} <= set(history)


def test_readme_localization_example_runs():
    import tensorflow as tf

    import keras_provguide as kpg

    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    (block,) = [b for b in blocks if "max_box_acc(maps, test_boxes)" in b]
    data = kpg.datasets.digit_localization(num_train=64, num_test=8, image_size=32)
    namespace = {
        "kpg": kpg,
        "keras": __import__("keras"),
        "train": tf.data.Dataset.from_tensor_slices(
            {"images": data["train"]["images"], "labels": data["train"]["labels"]}
        ),
        "test_images": data["test"]["images"],
        "test_labels": data["test"]["labels"],
        "test_boxes": data["test"]["boxes"],
    }
    exec(compile(block.replace("epochs=20", "epochs=1"), str(README), "exec"), namespace)
    assert namespace["maps"].shape == (8, 32, 32)
    assert 0.0 <= namespace["scores"]["max_box_acc_v2"] <= 1.0
    assert namespace["model"].history.history["guidance_penalty"][0] > 0


def test_test_script_refuses_a_disk_too_small_for_its_environment(tmp_path):
    import shutil
    import subprocess

    script = tmp_path / "scripts" / "test-all-backends.sh"
    script.parent.mkdir()
    shutil.copy(README.parent / "scripts" / "test-all-backends.sh", script)
    env = dict(os.environ, MIN_FREE_MB=str(2**40), VENV=str(tmp_path / "venv"))
    completed = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 1
    assert f"expected at least {2**40} MB free for the virtual environment" in completed.stderr
    assert "found " in completed.stderr and " MB on /" in completed.stderr
    assert not (tmp_path / "venv").exists()  # Refused before anything was written.


def test_readme_keypoint_example_runs():
    import numpy as np
    import tensorflow as tf

    import keras_provguide as kpg

    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    (block,) = [b for b in blocks if "ProvenanceBatchMix" in b]
    data = kpg.datasets.keypoint_actions(num_train=16, num_test=4, num_frames=16)
    people = data["train"]["joint_ids"][0] < 17  # The persons' points; the objects' come last.

    def persons(split):
        return {key: value[:, people] for key, value in kpg.data.keypoint_inputs(split).items()}

    train = dict(persons(data["train"]), labels=data["train"]["labels"])
    test = data["test"]
    namespace = {
        "kpg": kpg,
        "keras": __import__("keras"),
        "keypoint": np.random.default_rng(0).random((2, 16, 17, 2)) * [320, 240],
        "keypoint_score": np.ones((2, 16, 17)),
        "dataset": tf.data.Dataset.from_tensor_slices(train).batch(8),
        "test_points": persons(test),
        "gttubes": kpg.localization.ground_truth_tubes(test["labels"], test["boxes"], test["frames"]),
        "videos": range(4),
    }
    exec(compile(block.replace("epochs=30", "epochs=1"), str(README), "exec"), namespace)
    assert namespace["points"]["keypoints"].shape == (2 * 16 * 17, 4)
    assert namespace["model"].history.history["guidance_penalty"][0] > 0
    points = namespace["test_points"]
    groups = {(c, f, i) for c in range(4) for f, i, m in zip(
        points["frame_ids"][c], points["instance_ids"][c], points["point_mask"][c]) if m > 0}
    assert len(namespace["detections"]["clip"]) == len(groups)
