"""Image + mask folders: fit-ready datasets, and errors that name the file."""

import os

import keras
import numpy as np
import pytest
from layer_data import to_numpy
from PIL import Image

import keras_provguide as kpg


def _write(root, classes=("cat", "dog"), per_class=3, size=(12, 10), alpha=False):
    rng = np.random.default_rng(0)
    images_dir, masks_dir = os.path.join(root, "images"), os.path.join(root, "masks")
    for name in classes:
        os.makedirs(os.path.join(images_dir, name))
        os.makedirs(os.path.join(masks_dir, name))
        for i in range(per_class):
            height, width = size
            pixels = rng.integers(0, 256, (height, width, 3)).astype("uint8")
            mask = np.zeros((height, width), "uint8")
            mask[2 + i : 6 + i, 3:8] = 255
            if alpha:
                Image.fromarray(np.dstack([pixels, mask])).save(os.path.join(images_dir, name, f"{i}.png"))
            else:
                Image.fromarray(pixels).save(os.path.join(images_dir, name, f"{i}.png"))
                Image.fromarray(mask).save(os.path.join(masks_dir, name, f"{i}.png"))
    return images_dir, masks_dir


def _all_batches(dataset, output):
    batches = list(dataset) if output == "tf.data" else [dataset[i] for i in range(len(dataset))]
    inputs = {k: np.concatenate([to_numpy(b[0][k]) for b in batches]) for k in batches[0][0]}
    labels = np.concatenate([to_numpy(b[1]) for b in batches])
    return inputs, labels


@pytest.mark.parametrize("output", ["tf.data", "pydataset"])
@pytest.mark.parametrize("alpha", [False, True])
def test_pairs_load_with_labels_and_exact_masks(tmp_path, output, alpha):
    images_dir, masks_dir = _write(str(tmp_path), alpha=alpha)
    dataset = kpg.data.from_directory(
        images_dir, None if alpha else masks_dir, batch_size=4, shuffle=False, output=output
    )
    assert dataset.class_names == ["cat", "dog"]
    inputs, labels = _all_batches(dataset, output)
    np.testing.assert_array_equal(labels, [0, 0, 0, 1, 1, 1])
    assert inputs["images"].shape == (6, 12, 10, 3) and inputs["provenance"].shape == (6, 12, 10, 1)
    for i, path in enumerate(dataset.file_paths):
        with Image.open(path) as image:
            expected = np.asarray(image.convert("RGB"), "float32") / 255
        np.testing.assert_allclose(inputs["images"][i], expected, atol=1e-6)
        k = i % 3
        mask = np.zeros((12, 10), "float32")
        mask[2 + k : 6 + k, 3:8] = 1.0
        np.testing.assert_array_equal(inputs["provenance"][i, ..., 0], mask)


@pytest.mark.parametrize("output", ["tf.data", "pydataset"])
def test_augment_keeps_masks_aligned_and_fit_runs(tmp_path, output):
    images_dir, masks_dir = _write(str(tmp_path), per_class=4)
    dataset = kpg.data.from_directory(
        images_dir, masks_dir, image_size=(16, 16), batch_size=4, seed=0, output=output,
        augment=kpg.layers.RandomFlip("horizontal_and_vertical", seed=0),
    )
    inputs, _ = _all_batches(dataset, output)
    assert inputs["images"].shape == (8, 16, 16, 3)
    backbone = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(), keras.layers.Dense(2)])
    model = kpg.GuidedModel(backbone, guidance_weight=0.1)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(dataset, epochs=2, verbose=0).history
    assert len(history["loss"]) == 2 and history["guidance_penalty"][0] > 0


def test_explicit_labels_and_no_labels(tmp_path):
    images_dir, masks_dir = _write(str(tmp_path), per_class=2)
    dataset = kpg.data.from_directory(
        images_dir, masks_dir, labels=[3, 1, 4, 1], shuffle=False, output="pydataset"
    )
    np.testing.assert_array_equal(dataset[0][1], [3, 1, 4, 1])
    unlabelled = kpg.data.from_directory(images_dir, masks_dir, labels=None, output="pydataset")
    assert set(unlabelled[0]) == {"images", "provenance"}


def _expect(match, *args, **kwargs):
    with pytest.raises(ValueError, match=match):
        kpg.data.from_directory(*args, **kwargs)


def test_errors_name_the_file(tmp_path):
    images_dir, masks_dir = _write(str(tmp_path))
    missing = os.path.join(masks_dir, "dog", "1.png")
    os.remove(missing)
    _expect(f"{os.path.join(images_dir, 'dog', '1.png')}: no mask; expected {missing}", images_dir, masks_dir)

    Image.fromarray(np.zeros((5, 5), "uint8")).save(missing)
    _expect(f"{missing}: mask of size 5x5", images_dir, masks_dir)

    with open(missing, "wb") as file:
        file.write(b"not a png")
    _expect(f"{missing}: unreadable image", images_dir, masks_dir)

    Image.fromarray(np.zeros((12, 10), "uint8")).save(missing)
    extra = os.path.join(masks_dir, "dog", "9.png")
    Image.fromarray(np.zeros((12, 10), "uint8")).save(extra)
    _expect(f"{extra}: mask without an image", images_dir, masks_dir)
    os.remove(extra)

    odd = os.path.join(images_dir, "cat", "7.png")
    Image.fromarray(np.zeros((9, 9, 3), "uint8")).save(odd)
    Image.fromarray(np.zeros((9, 9), "uint8")).save(os.path.join(masks_dir, "cat", "7.png"))
    _expect(f"{odd}: size 9x9 differs", images_dir, masks_dir)
    _expect(f"{os.path.join(images_dir, 'cat', '0.png')}: expected an image with an alpha", images_dir)


def test_bad_arguments(tmp_path):
    images_dir, masks_dir = _write(str(tmp_path))
    _expect("directory", os.path.join(str(tmp_path), "nowhere"))
    _expect("output", images_dir, masks_dir, output="numpy")
    _expect("batch_size", images_dir, masks_dir, batch_size=0)
    _expect("image_size", images_dir, masks_dir, image_size=(8,))
    _expect("labels", images_dir, masks_dir, labels=[0, 1])
    flat = os.path.join(str(tmp_path), "flat")
    os.makedirs(flat)
    _expect("subdirectory per class", flat)
