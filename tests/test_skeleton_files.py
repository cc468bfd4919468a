"""The skeleton readers on fixtures in pyskl's and ACT / MOC's published formats, and the UCF101-24 recipe on them."""

import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pytest

import keras_provguide as kpg

RECIPE = Path(__file__).resolve().parent.parent / "examples" / "reproduce" / "ucf101_24_keypoints.py"
CLASSES = ["Basketball", "Biking"]


def _write_fixture(root, videos_per_class=3, frames=12):
    """A pyskl pickle (float16 arrays, as pyskl writes them) and a UCF101v2-GT.pkl (pickle protocol 2)."""
    rng = np.random.default_rng(0)
    annotations, gttubes, nframes, resolution, names = [], {}, {}, {}, []
    for label, name in enumerate(CLASSES):
        for i in range(videos_per_class):
            video = f"{name}/v_{name}_g0{i + 1}_c01"
            names.append(video)
            keypoint = (rng.random((2, frames, 17, 2)) * [320, 240]).astype("float16")
            keypoint[1, :3] = 0  # Second person undetected at first.
            annotations.append({
                "frame_dir": f"v_{name}_g0{i + 1}_c01", "label": label, "img_shape": (240, 320),
                "original_shape": (240, 320), "total_frames": frames, "keypoint": keypoint,
                "keypoint_score": rng.random((2, frames, 17)).astype("float16"),
            })
            start = 2 + i
            tube = np.array([[f, 40.0 + f, 50.0, 120.0 + f, 200.0] for f in range(start, frames + 1)], "float32")
            gttubes[video] = {label: [tube]}
            nframes[video] = frames
            resolution[video] = (240, 320)
    train = [v for v in names if not v.endswith("g01_c01")]
    test = [v for v in names if v.endswith("g01_c01")]
    skeletons = Path(root, "ucf101_hrnet.pkl")
    with open(skeletons, "wb") as file:
        pickle.dump({"split": {"train1": [Path(v).name for v in train], "test1": [Path(v).name for v in test]},
                     "annotations": annotations}, file)
    ground_truth = Path(root, "UCF101v2-GT.pkl")
    with open(ground_truth, "wb") as file:
        pickle.dump({"labels": CLASSES, "gttubes": gttubes, "nframes": nframes, "train_videos": [train],
                     "test_videos": [test], "resolution": resolution}, file, protocol=2)
    return skeletons, ground_truth


def test_readers_load_the_published_formats_and_join_them(tmp_path):
    skeletons, ground_truth = _write_fixture(tmp_path)
    annotations = kpg.datasets.pyskl_annotations(skeletons)
    assert len(annotations) == 6 and annotations[0]["keypoint"].dtype == np.float32
    assert len(kpg.datasets.pyskl_annotations(skeletons, split="test1")) == 2
    truth = kpg.datasets.ucf101_24_ground_truth(ground_truth)
    clips = kpg.datasets.keypoint_action_clips(annotations, truth, num_frames=4, max_persons=3)
    train, test = clips["train"], clips["test"]
    assert train["keypoints"].shape == (4, 3 * 4 * 17, 4) and test["labels"].tolist() == [0, 1]
    assert clips["missing"] == []
    # Frames sampled at the middles of 4 equal segments of 12 frames: 2, 5, 8, 11 (from 1).
    np.testing.assert_array_equal(test["frame_numbers"][0], [2, 5, 8, 11])
    # The fixture's two people fill the first two of three slots, best mean score first.
    assert test["point_mask"][:, 2 * 4 * 17:].max() == 0.0
    source = annotations[0]
    best = int(np.argmax(source["keypoint_score"].mean(axis=(1, 2))))
    np.testing.assert_allclose(test["keypoints"][0, 0, :2] * [320, 240], source["keypoint"][best, 1, 0], rtol=1e-5)
    np.testing.assert_allclose(test["keypoints"][0, 0, 3], source["keypoint_score"][best, 1, 0], rtol=1e-5)


@pytest.mark.parametrize("edit, match", [
    (lambda d: d["annotations"][1].pop("label"), r"annotation 1 \('v_Basketball_g02_c01'\): missing keys"),
    (lambda d: d["annotations"][2].update(keypoint=np.zeros((2, 5, 17, 2))), "annotation 2.*total_frames"),
    (lambda d: d["annotations"][0].update(keypoint_score=np.zeros((2, 12, 16))), "keypoint_score"),
    (lambda d: d["annotations"][0].pop("img_shape"), "img_shape"),
])
def test_a_bad_pyskl_record_is_named(tmp_path, edit, match):
    skeletons, _ = _write_fixture(tmp_path)
    data = pickle.loads(skeletons.read_bytes())
    edit(data)
    skeletons.write_bytes(pickle.dumps(data))
    with pytest.raises(ValueError, match=match) as error:
        kpg.datasets.pyskl_annotations(skeletons)
    assert str(skeletons) in str(error.value)


@pytest.mark.parametrize("edit, match", [
    (lambda d: d.pop("resolution"), "missing keys"),
    (lambda d: d["gttubes"]["Biking/v_Biking_g02_c01"][1][0].__setitem__((0, 0), 0), "frames count from 1"),
    (lambda d: d["gttubes"]["Biking/v_Biking_g02_c01"].update({7: [np.zeros((3, 5))]}), "label 7"),
])
def test_a_bad_ground_truth_is_named(tmp_path, edit, match):
    _, ground_truth = _write_fixture(tmp_path)
    data = pickle.loads(ground_truth.read_bytes(), encoding="latin1")
    edit(data)
    ground_truth.write_bytes(pickle.dumps(data, protocol=2))
    with pytest.raises(ValueError, match=match) as error:
        kpg.datasets.ucf101_24_ground_truth(ground_truth)
    assert str(ground_truth) in str(error.value)


def test_unjoinable_names_are_refused(tmp_path):
    skeletons, ground_truth = _write_fixture(tmp_path)
    annotations = [dict(a, frame_dir="other_" + a["frame_dir"]) for a in kpg.datasets.pyskl_annotations(skeletons)]
    with pytest.raises(ValueError, match="frame_dir names"):
        kpg.datasets.keypoint_action_clips(annotations, kpg.datasets.ucf101_24_ground_truth(ground_truth))


def test_ucf101_24_recipe_runs_end_to_end(tmp_path, capsys):
    skeletons, ground_truth = _write_fixture(tmp_path)
    spec = importlib.util.spec_from_file_location("ucf101_24_keypoints", RECIPE)
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    results = recipe.main([
        "--skeletons", str(skeletons), "--ground-truth", str(ground_truth), "--config", "batch_mix_guided",
        "--num-frames", "4", "--max-persons", "2", "--width", "8", "--batch-size", "2", "--epochs", "2",
        "--mix-from", "1", "--verbose", "0", "--output-dir", str(tmp_path / "run"),
    ])
    assert set(results) == {"top1", "frame_ap", "video_ap"}
    assert all(0.0 <= value <= 1.0 for value in results.values())
    header, *rows = (line.split(",") for line in (tmp_path / "run" / "log.csv").read_text().splitlines())
    assert len(rows) == 2 and "loss" in header
    assert "| test |" in capsys.readouterr().out


def test_ucf101_24_recipe_pipelines_mix_only_where_asked(tmp_path):
    skeletons, ground_truth = _write_fixture(tmp_path)
    spec = importlib.util.spec_from_file_location("ucf101_24_keypoints", RECIPE)
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    clips = kpg.datasets.keypoint_action_clips(
        kpg.datasets.pyskl_annotations(skeletons), kpg.datasets.ucf101_24_ground_truth(ground_truth), num_frames=4)
    points = clips["train"]["keypoints"].shape[1]
    shapes = {}
    for config in recipe.CONFIGS:
        inputs, labels = next(iter(recipe.training_pipeline(clips["train"], config, 2, 4, seed=0)))
        shapes[config] = (inputs["keypoints"].shape[1], "provenance" in inputs, labels.shape)
    assert shapes == {"skp": (points, False, (4, 2)), "batch_mix": (2 * points, False, (4, 2, 2)),
                      "batch_mix_guided": (2 * points, True, (4, 2, 2))}
    with pytest.raises(SystemExit):
        recipe.parse_args(["--skeletons", "s", "--ground-truth", "g", "--epochs", "5", "--mix-from", "5"])
