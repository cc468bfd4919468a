"""The paper recipes in examples/reproduce run end to end on fixtures in the published formats."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import BACKEND
from PIL import Image

RECIPES = Path(__file__).resolve().parent.parent / "examples" / "reproduce"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"reproduce_{name}", RECIPES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wsol_fixture(root):
    """CUB-like metadata (wsolevaluation's format): 2 classes, a box per image, 3 splits."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 8), ("val", 4), ("test", 4)):
        ids, labels, sizes, boxes = [], [], [], []
        for i in range(count):
            label = i % 2
            image_id = f"{label:03d}.Bird/{split}_{i}.jpg"
            width, height = 48 + 8 * (i % 3), 40
            pixels = rng.integers(0, 60, (height, width, 3), dtype=np.uint8)
            pixels[10:30, 12:36] = 200 if label else 120  # the "bird"
            path = os.path.join(root, "images", image_id)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            Image.fromarray(pixels).save(path)
            ids.append(image_id)
            labels.append(f"{image_id},{label}")
            sizes.append(f"{image_id},{width},{height}")
            boxes.append(f"{image_id},12,10,35,29")
        folder = os.path.join(root, "metadata", split)
        os.makedirs(folder)
        for name, lines in (("image_ids.txt", ids), ("class_labels.txt", labels),
                            ("image_sizes.txt", sizes), ("localization.txt", boxes)):
            Path(folder, name).write_text("\n".join(lines) + "\n")
    return os.path.join(root, "metadata"), os.path.join(root, "images")


def _small_backbone_for_vgg16(recipe, monkeypatch):
    """The recipe's `--backbone vgg16` builds a small ResNet: for tests whose subject is not the backbone.

    `test_wsol_cub_recipe_runs_end_to_end[cutmix_guided-last]` still trains VGG16 itself.
    """
    monkeypatch.setitem(recipe.BACKBONES, "vgg16", lambda shape, weights=None: recipe.kpg.models.small_resnet(shape))


@pytest.mark.parametrize("config, select", [("cutmix_guided", "last"), ("resizemix", "best")])
def test_wsol_cub_recipe_runs_end_to_end(tmp_path, config, select, capsys, monkeypatch):
    metadata, images = _wsol_fixture(str(tmp_path))
    recipe = _load("wsol_cub")
    if select == "best":
        _small_backbone_for_vgg16(recipe, monkeypatch)  # this case is about selection; the other trains VGG16
    results = recipe.main([
        "--metadata-root", metadata, "--data-root", images, "--config", config, "--select", select,
        "--weights", "none", "--image-size", "32", "--batch-size", "4", "--epochs", "2",
        "--verbose", "0", "--output-dir", str(tmp_path / "run"),
    ])
    for split in ("val", "test"):
        for value in results[split].values():
            assert 0.0 <= value <= 1.0
    header, *rows = (line.split(",") for line in (tmp_path / "run" / "log.csv").read_text().splitlines())
    assert len(rows) == 2 and "loss" in header
    val_scores = [float(row[header.index("val_max_box_acc_v2")]) for row in rows]
    # The final val score is the last epoch's, or the best epoch's with --select best.
    expected = max(val_scores) if select == "best" else val_scores[-1]
    assert results["val"]["max_box_acc_v2"] == pytest.approx(expected, abs=1e-6)
    if config.endswith("_guided"):
        assert float(rows[0][header.index("guidance_penalty")]) > 0
    assert f"| {config} (vgg16) |" in capsys.readouterr().out


def test_wsol_cub_recipe_rejects_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        _load("wsol_cub").parse_args(["--metadata-root", "m", "--data-root", "d", "--image-size", "8"])
    assert "--image-size >= 32" in capsys.readouterr().err


def _waterbirds_fixture(root):
    """group_DRO's metadata.csv and images, plus edits of the training images (ALIA-style)."""
    rng = np.random.default_rng(1)
    lines = ["img_id,img_filename,y,split,place,place_filename"]
    originals = os.path.join(root, "originals")
    edits = os.path.join(root, "edits")
    for i in range(16):
        y, place, split = i % 2, (i // 2) % 2, (0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2)[i]
        species = f"{i % 3:03d}.Species"
        name = f"Bird_{i:04d}.jpg"
        pixels = np.full((40, 40, 3), 40 if place else 160, np.uint8)  # land/water background
        pixels[12:28, 12:28] = (200, 60, 60) if y else (60, 60, 200)  # the bird
        pixels = np.clip(pixels + rng.integers(0, 10, pixels.shape), 0, 255).astype(np.uint8)
        path = os.path.join(root, "wb", species, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(pixels).save(path)
        lines.append(f"{i + 1},{species}/{name},{y},{split},{place},x/{i}.jpg")
        if split == 0:  # an edit of each training image: a new background
            os.makedirs(os.path.join(originals, species), exist_ok=True)
            os.makedirs(os.path.join(edits, species), exist_ok=True)
            Image.fromarray(pixels).save(os.path.join(originals, species, name))
            edited = pixels.copy()
            background = np.ones((40, 40), bool)
            background[12:28, 12:28] = False
            edited[background] = 255 - edited[background]
            Image.fromarray(edited).save(os.path.join(edits, species, f"Bird_{i:04d}-0.png"))
    Path(root, "wb", "metadata.csv").write_text("\n".join(lines) + "\n")
    return os.path.join(root, "wb"), originals, edits


@pytest.mark.parametrize("config", ["alia_guided", "erm"])
def test_waterbirds_edits_recipe_runs_end_to_end(tmp_path, config, capsys):
    root, originals, edits = _waterbirds_fixture(str(tmp_path))
    scores = _load("waterbirds_edits").main([
        "--waterbirds-root", root, "--originals", originals, "--edits", edits, "--config", config,
        "--backbone", "small_resnet", "--image-size", "32", "--batch-size", "4", "--epochs", "1",
        "--verbose", "0", "--output-dir", str(tmp_path / "run"),
    ])
    for key in ("worst_group_accuracy", "balanced_group_accuracy", "average_group_accuracy"):
        assert 0.0 <= scores[key] <= 1.0
    assert scores["worst_group_accuracy"] <= scores["balanced_group_accuracy"]
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    header, row = (line.split(",") for line in log)
    assert "val_worst_group_accuracy" in header
    if config == "alia_guided":
        assert float(row[header.index("guidance_penalty")]) > 0
    assert f"| {config} |" in capsys.readouterr().out


def test_waterbirds_edits_recipe_needs_the_edits(capsys):
    with pytest.raises(SystemExit):
        _load("waterbirds_edits").parse_args(["--waterbirds-root", "w", "--config", "alia"])
    assert "expected --originals and --edits" in capsys.readouterr().err


def _faces_fixture(root):
    """CelebA's release layout (Smiling vs Male, 3 splits) and a synthetic manifest with masks."""
    rng = np.random.default_rng(2)
    names = ["Male", "Smiling", "Young"]
    rows, partition = [], []
    for i in range(36):
        smiling, male = i % 2, (i // 2) % 2
        split = 0 if i < 20 else (1 if i < 28 else 2)
        name = f"{i + 1:06d}.jpg"
        pixels = rng.integers(0, 40, (40, 36, 3), dtype=np.uint8)
        pixels[:, :, 2 if male else 0] += 80  # the spurious cue: a colour cast
        pixels[24:30, 10:26] = 220 if smiling else 30  # the "smile"
        path = os.path.join(root, "celeba", "img_align_celeba", name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(pixels).save(path)
        rows.append(f"{name}  {2 * male - 1}  {2 * smiling - 1}  1")
        partition.append(f"{name} {split}")
    Path(root, "celeba", "list_attr_celeba.txt").write_text("\n".join([str(len(rows)), " ".join(names)] + rows) + "\n")
    Path(root, "celeba", "list_eval_partition.txt").write_text("\n".join(partition) + "\n")
    lines = ["path,label,group,split,mask"]
    os.makedirs(os.path.join(root, "synthetic", "masks"))
    for i in range(16):  # balanced over the four groups
        smiling, male = i % 2, (i // 2) % 2
        pixels = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
        pixels[20:26, 8:24] = 220 if smiling else 30
        mask = np.zeros((32, 32), np.uint8)
        mask[16:30, 4:28] = 255  # the face as provenance
        Image.fromarray(pixels).save(os.path.join(root, "synthetic", f"{i}.png"))
        Image.fromarray(mask).save(os.path.join(root, "synthetic", "masks", f"{i}.png"))
        lines.append(f"{i}.png,{smiling},{2 * smiling + male},train,masks/{i}.png")
    Path(root, "synthetic", "manifest.csv").write_text("\n".join(lines) + "\n")
    return os.path.join(root, "celeba"), os.path.join(root, "synthetic", "manifest.csv")


@pytest.mark.parametrize("config", ["ffr_guided", "ffr_groupdro", "ffr_dfr", "erm"])
def test_ffr_faces_recipe_runs_end_to_end(tmp_path, config, capsys):
    celeba, manifest = _faces_fixture(str(tmp_path))
    scores = _load("ffr_faces").main([
        "--dataset", "celeba", "--data-root", celeba, "--synthetic-manifest", manifest, "--config", config,
        "--backbone", "small_resnet", "--image-size", "32", "--batch-size", "8", "--synthetic-epochs", "1",
        "--real-epochs", "2", "--verbose", "0", "--output-dir", str(tmp_path / "run"),
    ] + (["--bias", "0.7"] if config == "ffr_groupdro" else []))
    for key in ("worst_group_accuracy", "balanced_group_accuracy", "average_group_accuracy"):
        assert 0.0 <= scores[key] <= 1.0
    assert scores["worst_group_accuracy"] <= scores["balanced_group_accuracy"]
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    header, *rows = (line.split(",") for line in log)
    if config == "erm":
        assert len(rows) == 2 and set(scores["selected_val_worst_group_accuracy"]) == {"real"}
    else:
        assert [int(float(r[header.index("phase")])) for r in rows] == [0, 1, 1]
        assert set(scores["selected_val_worst_group_accuracy"]) == {"synthetic", "real"}
        penalties = [float(r[header.index("guidance_penalty")]) for r in rows]
        assert (penalties[0] > 0) == (config == "ffr_guided") and penalties[1:] == [0.0, 0.0]
    if config == "ffr_dfr":
        assert scores["dfr_c"] > 0
    assert f"| celeba {config} |" in capsys.readouterr().out


def test_ffr_faces_bias_keeps_one_minus_bias_of_each_minority_group():
    module = _load("ffr_faces")
    labels = np.repeat([0, 0, 1, 1], [90, 30, 20, 60])
    groups = np.repeat([0, 1, 2, 3], [90, 30, 20, 60])
    rows = module.biased_rows(labels, groups, 0.9, 0, np.random.default_rng(0))
    assert np.bincount(groups[rows], minlength=4).tolist() == [90, 10, 7, 60]
    rows = module.biased_rows(labels, groups, 0.99, 10, np.random.default_rng(0))
    assert np.bincount(groups[rows], minlength=4).tolist() == [90, 10, 10, 60]


@pytest.mark.parametrize("argv, message", [
    (["--config", "ffr_erm"], "expected --synthetic-manifest"),
    (["--config", "erm", "--bias", "1.0"], r"expected --bias in \[0.5, 1\)"),
    (["--config", "erm", "--real-epochs", "0"], "--real-epochs >= 1"),
])
def test_ffr_faces_recipe_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit):
        _load("ffr_faces").parse_args(["--data-root", "d"] + argv)
    assert re.search(message, capsys.readouterr().err)


def _add_val_only_class(metadata, images):
    """A third class whose only image is in `val` (wsolevaluation's val is a different sample of images)."""
    image_id = "002.Bird/val_only.jpg"
    pixels = np.zeros((40, 48, 3), np.uint8)
    pixels[10:30, 12:36] = 250
    os.makedirs(os.path.join(images, "002.Bird"))
    Image.fromarray(pixels).save(os.path.join(images, image_id))
    for name, line in (("image_ids.txt", image_id), ("class_labels.txt", f"{image_id},2"),
                       ("image_sizes.txt", f"{image_id},48,40"), ("localization.txt", f"{image_id},12,10,35,29")):
        with open(os.path.join(metadata, "val", name), "a") as file:
            file.write(line + "\n")


def test_wsol_cub_recipe_counts_a_class_seen_in_val_only(tmp_path, monkeypatch):
    metadata, images = _wsol_fixture(str(tmp_path))
    _add_val_only_class(metadata, images)
    recipe = _load("wsol_cub")
    _small_backbone_for_vgg16(recipe, monkeypatch)  # the class count is the subject, not VGG16
    argv = ["--metadata-root", metadata, "--data-root", images, "--config", "cam", "--weights", "none",
            "--image-size", "32", "--batch-size", "4", "--epochs", "1", "--verbose", "0"]
    results = recipe.main(argv + ["--output-dir", str(tmp_path / "run")])
    assert 0.0 <= results["val"]["top1"] <= 1.0
    # A class count that leaves a label out fails before training, naming the split's labels file.
    with pytest.raises(ValueError, match=r"val.class_labels.txt: expected labels in \[0, 1\] \(--num-classes 2\), "
                                         r"received 2"):
        recipe.main(argv + ["--num-classes", "2", "--output-dir", str(tmp_path / "short")])
    assert not (tmp_path / "short").exists()


def _ffr_split_fixture(root):
    """FFR's data/celeba_Smiling_{train,valid,test}_0.95.pkl (the authors' paths) and CelebA-HQ-img."""
    from test_ffr_splits import write_ffr_split

    images = os.path.join(root, "CelebAMask-HQ", "CelebA-HQ-img")
    folder = os.path.join(root, "From-Fake-to-Real", "data")
    os.makedirs(folder)
    splits, number = {}, 0
    for name, count in (("train", 12), ("valid", 8), ("test", 8)):
        rows = []
        for i in range(count):
            rows.append((f"{number}.jpg", i % 2, (i // 2) % 2))
            number += 1
        splits[name] = write_ffr_split(os.path.join(folder, f"celeba_Smiling_{name}_0.95.pkl"), images, rows)
    return folder, images, splits


def test_ffr_faces_recipe_trains_on_ffrs_published_subsets(tmp_path, capsys):
    _, manifest = _faces_fixture(str(tmp_path))
    folder, images, published = _ffr_split_fixture(str(tmp_path))
    module = _load("ffr_faces")
    argv = ["--dataset", "celeba", "--data-root", images, "--ffr-split", folder, "--bias", "0.95",
            "--synthetic-manifest", manifest, "--config", "ffr_erm", "--backbone", "small_resnet",
            "--image-size", "32", "--batch-size", "8", "--synthetic-epochs", "1", "--real-epochs", "1",
            "--verbose", "0", "--output-dir", str(tmp_path / "run")]
    real = module.real_splits(module.parse_args(argv))
    for split, name in (("train", "train"), ("val", "valid"), ("test", "test")):
        assert real[split].file_paths == [os.path.join(images, os.path.basename(f))
                                          for f in published[name]["filenames"]]
        np.testing.assert_array_equal(real[split].groups, 2 * published[name]["targets"] + published[name]["biases"])
    scores = module.main(argv)
    assert 0.0 <= scores["worst_group_accuracy"] <= scores["balanced_group_accuracy"] <= 1.0
    assert "| celeba ffr_erm |" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"celeba_Smiling_train_0.99.pkl does not exist: .* found \['celeba_Smiling_"):
        module.main([a if a != "0.95" else "0.99" for a in argv])


def test_ffr_faces_recipe_checks_every_label_before_training(tmp_path):
    celeba, manifest = _faces_fixture(str(tmp_path))
    lines = Path(manifest).read_text().splitlines()
    lines[3] = lines[3].replace(".png,0,", ".png,2,", 1)  # a third class in the synthetic set
    Path(manifest).write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"manifest.csv: expected labels in \[0, 1\] \(the task is binary\), "
                                         r"received 2"):
        _load("ffr_faces").main([
            "--data-root", celeba, "--synthetic-manifest", manifest, "--config", "ffr_erm",
            "--backbone", "small_resnet", "--image-size", "32", "--verbose", "0",
            "--output-dir", str(tmp_path / "run"),
        ])
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argv, message", [
    (["--ffr-split", "data"], r"expected --bias .* with --ffr-split"),
    (["--ffr-split", "data", "--bias", "0.95", "--spurious", "Young"], r"expected --bias .* with --ffr-split"),
    (["--age-threshold", "30"], r"expected --age-threshold with --dataset utkface only"),
    (["--weights", "absent.weights.h5"], r"expected --weights imagenet, none or a weights file, .*no such file"),
])
def test_ffr_faces_recipe_rejects_bad_data_options(argv, message, capsys):
    with pytest.raises(SystemExit):
        _load("ffr_faces").parse_args(["--data-root", "d", "--config", "erm"] + argv)
    assert re.search(message, capsys.readouterr().err)


def test_ffr_faces_recipe_uses_ffrs_utkface_age_rule_unless_told_a_threshold(tmp_path):
    root = tmp_path / "UTKFace"
    root.mkdir()
    for i in range(30):
        age = (25, 3, 70, 40, 1, 33)[i % 6]
        Image.fromarray(np.full((8, 8, 3), i, np.uint8)).save(root / f"{age}_{i % 2}_0_201701{i:06d}.jpg.chip.jpg")
    module = _load("ffr_faces")
    argv = ["--dataset", "utkface", "--data-root", str(root), "--config", "erm", "--image-size", "32"]

    def ages(splits):
        return sorted({int(os.path.basename(p).split("_")[0]) for d in splits.values() for p in d.file_paths})

    assert ages(module.real_splits(module.parse_args(argv))) == [1, 3, 25, 33, 40]  # FFR's: 70 is dropped
    assert ages(module.real_splits(module.parse_args(argv + ["--age-threshold", "30"])))[-1] == 70


@pytest.mark.parametrize("recipe, argv", [
    ("wsol_cub", ["--metadata-root", "absent", "--data-root", "absent"]),
    ("waterbirds_edits", ["--waterbirds-root", "absent", "--config", "erm"]),
    ("ffr_faces", ["--data-root", "absent", "--config", "erm"]),
])
def test_recipes_say_how_to_proceed_when_the_imagenet_weights_cannot_be_fetched(tmp_path, recipe, argv):
    # A fresh process: an empty Keras cache ($KERAS_HOME, read when Keras is imported) and no network.
    code = (
        "import runpy, sys, urllib.error, urllib.request\n"
        "def offline(*args, **kwargs):\n"
        "    raise urllib.error.URLError('no network in this test')\n"
        "urllib.request.urlopen = offline\n"
        f"sys.argv = {[recipe] + argv!r}\n"
        f"runpy.run_path({str(RECIPES / f'{recipe}.py')!r}, run_name='__main__')\n"
    )
    home = tmp_path / "keras_home"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, KERAS_HOME=str(home), KERAS_BACKEND=BACKEND))
    assert result.returncode == 1, result.stderr[-2000:]
    assert "cannot get the ImageNet weights (Exception: URL fetch failure" in result.stderr
    for advice in (str(home / "models"), "--weights <file>", "--weights none"):
        assert advice in result.stderr
    assert "Traceback" not in result.stderr  # the message, not Keras's traceback; no data was read
