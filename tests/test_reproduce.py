"""The paper recipes in examples/reproduce run end to end on fixtures in the published formats."""

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
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


@pytest.mark.parametrize("config", ["cutmix_guided", "resizemix"])
def test_wsol_cub_recipe_runs_end_to_end(tmp_path, config, capsys):
    metadata, images = _wsol_fixture(str(tmp_path))
    results = _load("wsol_cub").main([
        "--metadata-root", metadata, "--data-root", images, "--config", config,
        "--weights", "none", "--image-size", "32", "--batch-size", "4", "--epochs", "1",
        "--verbose", "0", "--output-dir", str(tmp_path / "run"),
    ])
    for split in ("val", "test"):
        for value in results[split].values():
            assert 0.0 <= value <= 1.0
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert len(log) == 2 and "loss" in log[0]
    if config.endswith("_guided"):
        header, row = (line.split(",") for line in log)
        assert float(row[header.index("guidance_penalty")]) > 0
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
