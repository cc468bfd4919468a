"""`kpg.datasets.ffr_split` reads pickles written as the From-Fake-to-Real code writes them."""

import os
import pickle

import keras
import numpy as np
import pytest
from PIL import Image

import keras_provguide as kpg

# Where the FFR authors' pickles say the images are; no such folder here.
AUTHORS_ROOT = "/usr4/cs505/someone/ivc-ml/datasets/utk_face/images"


def write_ffr_split(path, image_root, rows, real_gen_dtype="float64", filenames_as_array=False):
    """`rows` of `(file name, target, bias)` as the FFR code's `pickle.dump` of its dataset, plus the images.

    FFR's UTKFace pickles hold `real_gen` as float64 and their file names as
    a list; SpuCo's hold them as a NumPy string array.
    """
    os.makedirs(image_root, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, _, _ in rows:
        pixels = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(os.path.join(image_root, name), format="PNG")
    filenames = [f"{AUTHORS_ROOT}/{name}" for name, _, _ in rows]
    data = {
        "filenames": np.array(filenames) if filenames_as_array else filenames,
        "targets": np.array([t for _, t, _ in rows], "int64"),
        "biases": np.array([b for _, _, b in rows], "int64"),
        "real_gen": np.zeros(len(rows), real_gen_dtype),
    }
    with open(path, "wb") as file:
        pickle.dump(data, file)
    return data


UTK_ROWS = [("25_0_1_20170114034234198.jpg.chip.jpg", 0, 0), ("3_0_0_20170120134446448.jpg.chip.jpg", 0, 1),
            ("40_1_4_20170113183427182.jpg.chip.jpg", 1, 0), ("2_1_3_20170119171619825.jpg.chip.jpg", 1, 1),
            ("26_1_3_20170119183941022.jpg.chip.jpg", 1, 0)]


@pytest.mark.parametrize("output", ["tf.data", "pydataset"])
def test_ffr_split_finds_the_authors_files_by_name_and_groups_them(tmp_path, output):
    path, root = str(tmp_path / "utk_face_train_0.95.pkl"), str(tmp_path / "UTKFace")
    write_ffr_split(path, root, UTK_ROWS)
    dataset = kpg.datasets.ffr_split(path, root, image_size=8, batch_size=5, output=output)
    assert dataset.file_paths == [os.path.join(root, name) for name, _, _ in UTK_ROWS]
    np.testing.assert_array_equal(dataset.labels, [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(dataset.groups, [0, 1, 2, 3, 2])  # 2 * target + bias
    np.testing.assert_array_equal(dataset.real_gen, [0, 0, 0, 0, 0])
    assert dataset.real_gen.dtype == np.int32
    x, y = next(iter(dataset)) if output == "tf.data" else dataset[0]
    x = keras.tree.map_structure(keras.ops.convert_to_numpy, x)
    assert x["images"].shape == (5, 8, 8, 3) and x["groups"].tolist() == [0, 1, 2, 3, 2]
    assert keras.ops.convert_to_numpy(y).tolist() == [0, 0, 1, 1, 1]
    # The split plugs into a fit with group metrics, as the other group-robustness loaders.
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(2)])
    model = kpg.GuidedModel(model, guidance_weight=0.0)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[kpg.metrics.WorstGroupAccuracy(4)])
    history = model.fit(dataset, epochs=1, verbose=0)
    assert 0.0 <= history.history["worst_group_accuracy"][0] <= 1.0


def test_ffr_split_numbers_spuco_animals_groups_as_the_ffr_code(tmp_path):
    # spuco_animals: birds (targets 0, 1) on land / water (biases 0, 1), dogs (2, 3) indoors / outdoors (2, 3).
    rows = [(f"{i}.jpg", t, b) for i, (t, b) in enumerate(
        [(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3)])]
    path, root = str(tmp_path / "spuco_animals_test_0.9.pkl"), str(tmp_path / "spuco")
    write_ffr_split(path, root, rows, real_gen_dtype="int64", filenames_as_array=True)
    dataset = kpg.datasets.ffr_split(path, root, image_size=8)
    np.testing.assert_array_equal(dataset.groups, np.arange(8))  # the order of the FFR code's GROUPS
    np.testing.assert_array_equal(dataset.biases, [0, 1, 0, 1, 2, 3, 2, 3])


@pytest.mark.parametrize("change, match", [
    (lambda data: data.pop("biases"), r"expected an FFR split, a dict with keys .* received keys"),
    (lambda data: data.update(targets=data["targets"][:4]), r"of one length >= 1, received lengths \[5, 4, 5, 5\]"),
    (lambda data: data.update(real_gen=np.full(5, 0.5)), r"expected 'real_gen' as integers >= 0"),
    (lambda data: data.update(real_gen=np.array([0, 2, 0, 0, 0])), r"expected real_gen 0 \(real\) or 1"),
    (lambda data: data.update(biases=np.array([0, 1, 2, 1, 0])), r"biases of target 1 to be one pair"),
    (lambda data: data["filenames"].__setitem__(4, "/elsewhere/" + UTK_ROWS[0][0]), r"share the file name"),
])
def test_ffr_split_rejects_a_bad_pickle_clearly(tmp_path, change, match):
    path, root = str(tmp_path / "utk_face_valid_0.95.pkl"), str(tmp_path / "UTKFace")
    data = write_ffr_split(path, root, UTK_ROWS)
    change(data)
    with open(path, "wb") as file:
        pickle.dump(data, file)
    with pytest.raises(ValueError, match=match):
        kpg.datasets.ffr_split(path, root)


def test_ffr_split_names_a_missing_image_and_the_root(tmp_path):
    path, root = str(tmp_path / "utk_face_test_0.95.pkl"), str(tmp_path / "UTKFace")
    write_ffr_split(path, root, UTK_ROWS)
    os.remove(os.path.join(root, UTK_ROWS[2][0]))
    with pytest.raises(ValueError, match=rf"{UTK_ROWS[2][0]} \(listed as {AUTHORS_ROOT}/.*\) is not in .*UTKFace"):
        kpg.datasets.ffr_split(path, root)
    with pytest.raises(ValueError, match=r"Expected a pickle file at .*none.pkl, found none"):
        kpg.datasets.ffr_split(str(tmp_path / "none.pkl"), root)
    with pytest.raises(ValueError, match=r"elsewhere is not a folder"):
        kpg.datasets.ffr_split(path, str(tmp_path / "elsewhere"))
    with open(path, "wb") as file:
        pickle.dump([1, 2, 3], file)
    with pytest.raises(ValueError, match=r"expected an FFR split, .* received a list"):
        kpg.datasets.ffr_split(path, root)
