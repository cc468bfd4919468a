"""The published-format loaders read fixtures written here in each exact format."""

import os

import keras
import numpy as np
import pytest
from PIL import Image

import keras_provguide as kpg


def _image(path, width, height, seed=0, mode="RGB"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "L": 1}[mode]
    pixels = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    Image.fromarray(pixels if channels == 3 else pixels[..., 0], mode).save(path)


def _write(path, lines):
    """`lines` into `path`; no lines make an empty file, as wsolevaluation's empty `image_sizes.txt`."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as file:
        file.write("".join(line + "\n" for line in lines))


def _batches(dataset):
    return [
        (keras.tree.map_structure(keras.ops.convert_to_numpy, x), keras.ops.convert_to_numpy(y))
        for x, y in (dataset if not isinstance(dataset, keras.utils.PyDataset)
                     else (dataset[i] for i in range(len(dataset))))
    ]


# wsolevaluation


def _cub(root):
    """Two images per split, CUB-like ids, one of them with two boxes."""
    sizes = {"a/1.jpg": (100, 50), "b/2.jpg": (60, 120)}
    for split in ("train", "val", "test"):
        folder = os.path.join(root, "metadata", split)
        _write(os.path.join(folder, "image_ids.txt"), list(sizes))
        _write(os.path.join(folder, "class_labels.txt"), ["a/1.jpg,0", "b/2.jpg,1"])
        _write(os.path.join(folder, "image_sizes.txt"), [f"{k},{w},{h}" for k, (w, h) in sizes.items()])
        _write(os.path.join(folder, "localization.txt"),
               ["a/1.jpg,10,5,59,44", "b/2.jpg,0,0,59,119", "b/2.jpg,30,60,45,90"])
    for seed, (name, (w, h)) in enumerate(sizes.items()):
        _image(os.path.join(root, "images", name), w, h, seed)
    return os.path.join(root, "metadata"), os.path.join(root, "images")


def test_wsol_metadata_rescales_boxes_as_the_reference_and_keeps_file_order(tmp_path):
    metadata, images = _cub(str(tmp_path))
    splits = kpg.datasets.wsol_metadata(metadata, images, image_size=32, batch_size=2)
    test = splits["test"]
    # resize_bbox: int(x * 32 / w) on inclusive corners; ours adds one to x1, y1.
    np.testing.assert_array_equal(test.boxes[0], [[3, 3, 19, 29]])
    np.testing.assert_array_equal(test.boxes[1], [[0, 0, 32, 32], [16, 16, 25, 25]])
    ((x, y),) = _batches(test)
    assert x["images"].shape == (2, 32, 32, 3) and list(y) == [0, 1]
    assert 0.0 <= x["images"].min() and x["images"].max() <= 1.0
    assert test.file_paths[1].endswith(os.path.join("b", "2.jpg"))
    # The boxes go straight into the WSOL metric: a map on the first box finds it.
    maps = np.zeros((2, 32, 32), "float32")
    maps[0, 3:29, 3:19] = 1.0
    maps[1, 16:25, 16:25] = 1.0
    scores = kpg.localization.max_box_acc(maps, test.boxes, iou_thresholds=(0.5,))
    assert scores["max_box_acc"][0.5] == 1.0


def test_file_pipelines_have_fixed_sizes_and_autotuning_off(tmp_path):
    """Autotuning stalls Keras's torch and JAX trainers at each new epoch (`kpg.data.steady_epochs`)."""
    metadata, images = _cub(str(tmp_path))
    splits = kpg.datasets.wsol_metadata(metadata, images, image_size=16, batch_size=1)
    train = splits["train"]
    assert train.options().autotune.enabled is False
    # Still shuffled each epoch from its seed, and every image read once an epoch.
    epochs = [sorted(int(y[0]) for _, y in _batches(train)) for _ in range(2)]
    assert epochs == [[0, 1], [0, 1]]


def test_wsol_metadata_reads_openimages_masks_for_pxap(tmp_path):
    root = str(tmp_path)
    folder = os.path.join(root, "metadata", "test")
    _write(os.path.join(folder, "image_ids.txt"), ["test/c/1.jpg"])
    _write(os.path.join(folder, "class_labels.txt"), ["test/c/1.jpg,3"])
    _write(os.path.join(folder, "image_sizes.txt"), ["test/c/1.jpg,40,40"])
    _write(os.path.join(folder, "localization.txt"), [
        "test/c/1.jpg,test/c/1_m1.png,test/c/1_ignore.png", "test/c/1.jpg,test/c/1_m2.png,",
    ])
    data = os.path.join(root, "data")
    _image(os.path.join(data, "test/c/1.jpg"), 40, 40)
    for name, (r0, r1) in (("1_m1.png", (0, 10)), ("1_m2.png", (30, 40)), ("1_ignore.png", (0, 20))):
        mask = np.zeros((40, 40), np.uint8)
        mask[r0:r1] = 255
        Image.fromarray(mask).save(os.path.join(data, "test/c", name))
    (split,) = kpg.datasets.wsol_metadata(
        os.path.join(root, "metadata"), data, image_size=20, splits="test"
    ).values()
    masks, ignore = split.masks()
    assert masks.shape == ignore.shape == (1, 20, 20)
    assert masks[0, :5].all() and masks[0, 15:].all() and not masks[0, 5:15].any()
    assert ignore[0, 5:10].all() and not ignore[0, :5].any() and not ignore[0, 10:].any()
    assert not hasattr(split, "boxes")


def test_wsol_metadata_reads_openimages_as_published_with_empty_image_sizes(tmp_path):
    # metadata/OpenImages: every split's image_sizes.txt is empty, and train's localization.txt too.
    root = str(tmp_path)
    for split in ("train", "val", "test"):
        folder = os.path.join(root, "metadata", split)
        ids = [f"{split}/01226z/{name}.jpg" for name in ("ed9d2feb6d44cff3", "d762413ad905af7f")]
        _write(os.path.join(folder, "image_ids.txt"), ids)
        _write(os.path.join(folder, "class_labels.txt"), [f"{ids[0]},0", f"{ids[1]},1"])
        _write(os.path.join(folder, "image_sizes.txt"), [])
        masks = []
        for i, image_id in enumerate(ids):
            _image(os.path.join(root, "data", image_id), 30 + 10 * i, 20, i)
            if split != "train":
                stem = image_id[:-len(".jpg")]
                mask = np.zeros((20, 30 + 10 * i), np.uint8)
                mask[:10] = 255  # the top half, at the image's own size
                Image.fromarray(mask).save(os.path.join(root, "data", f"{stem}_m01226z_7dab3053.png"))
                Image.fromarray(np.zeros_like(mask)).save(os.path.join(root, "data", f"{stem}_ignore.png"))
                masks.append(f"{image_id},{stem}_m01226z_7dab3053.png,{stem}_ignore.png")
        _write(os.path.join(folder, "localization.txt"), masks)
    splits = kpg.datasets.wsol_metadata(os.path.join(root, "metadata"), os.path.join(root, "data"), image_size=16)
    assert not hasattr(splits["train"], "boxes") and not hasattr(splits["train"], "masks")
    np.testing.assert_array_equal(splits["train"].labels, [0, 1])
    for split in ("val", "test"):
        masks, ignore = splits[split].masks()
        assert masks.shape == (2, 16, 16) and not ignore.any()
        assert masks[:, :8].all() and not masks[:, 8:].any()


def _ilsvrc(root):
    """metadata/ILSVRC as published: train's image_sizes.txt and localization.txt empty, val and test boxed."""
    images = {
        "train": {"train/n01440764/n01440764_10026.JPEG": (0, (40, 30)),
                  "train/n01443537/n01443537_10007.JPEG": (1, (30, 40))},
        "val": {"val2/0/0.jpeg": (0, (100, 50)), "val2/1/0.jpeg": (1, (60, 120))},
        "test": {"val/ILSVRC2012_val_00000001.JPEG": (0, (100, 50)),
                 "val/ILSVRC2012_val_00000002.JPEG": (1, (60, 120))},
    }
    for split, listed in images.items():
        folder = os.path.join(root, "metadata", split)
        _write(os.path.join(folder, "image_ids.txt"), list(listed))
        _write(os.path.join(folder, "class_labels.txt"), [f"{k},{label}" for k, (label, _) in listed.items()])
        sizes, boxes = [], []
        for seed, (image_id, (_, (w, h))) in enumerate(listed.items()):
            _image(os.path.join(root, "images", image_id), w, h, seed)
            if split != "train":
                sizes.append(f"{image_id},{w},{h}")
                boxes.append(f"{image_id},10,5,59,44" if w == 100 else f"{image_id},0,0,59,119")
        _write(os.path.join(folder, "image_sizes.txt"), sizes)
        _write(os.path.join(folder, "localization.txt"), boxes)
    _write(os.path.join(root, "metadata", "train", "image_ids_proxy.txt"), list(images["train"])[:1])
    return os.path.join(root, "metadata"), os.path.join(root, "images")


def test_wsol_metadata_reads_ilsvrc_train_as_published_with_empty_image_sizes(tmp_path):
    metadata, images = _ilsvrc(str(tmp_path))
    splits = kpg.datasets.wsol_metadata(metadata, images, image_size=32, batch_size=2)
    assert not hasattr(splits["train"], "boxes")
    np.testing.assert_array_equal(splits["train"].labels, [0, 1])
    ((x, _),) = _batches(splits["train"])
    assert x["images"].shape == (2, 32, 32, 3)
    for split in ("val", "test"):
        np.testing.assert_array_equal(splits[split].boxes[0], [[3, 3, 19, 29]])
        np.testing.assert_array_equal(splits[split].boxes[1], [[0, 0, 32, 32]])


def test_wsol_metadata_rescales_a_box_by_its_image_header_where_image_sizes_leaves_it_out(tmp_path):
    metadata, images = _cub(str(tmp_path))
    _write(os.path.join(metadata, "val", "image_sizes.txt"), ["a/1.jpg,100,50"])  # b/2.jpg (60x120) left out
    splits = kpg.datasets.wsol_metadata(metadata, images, image_size=32)
    for listed, read in zip(splits["test"].boxes, splits["val"].boxes):
        np.testing.assert_array_equal(read, listed)
    np.testing.assert_array_equal(splits["val"].boxes[1], [[0, 0, 32, 32], [16, 16, 25, 25]])
    with open(os.path.join(images, "b", "2.jpg"), "w") as file:
        file.write("not an image")
    with pytest.raises(ValueError, match=r"val.image_sizes.txt: no size for b/2.jpg, and .*2.jpg is not an image"):
        kpg.datasets.wsol_metadata(metadata, images, image_size=32)


@pytest.mark.parametrize(
    "file, lines, match",
    [
        ("class_labels.txt", ["a/1.jpg,0", "b/2.jpg"], r"class_labels.txt, line 2: expected 2 fields"),
        ("class_labels.txt", ["a/1.jpg,0", "c/3.jpg,1"], r"line 2: c/3.jpg is not in"),
        ("class_labels.txt", ["a/1.jpg,0", "b/2.jpg,x"], r"line 2: expected an integer class id"),
        ("localization.txt", ["a/1.jpg,10,5,9,44", "b/2.jpg,0,0,5,5"], r"line 1: expected 0 <= x0 <= x1"),
        ("image_sizes.txt", ["a/1.jpg,100,50", "b/2.jpg,60,x"], r"image_sizes.txt, line 2: expected an integer height"),
        ("image_sizes.txt", ["a/1.jpg,0,50"], r"image_sizes.txt, line 1: expected a width and height >= 1"),
    ],
)
def test_wsol_metadata_names_the_file_and_line_of_a_bad_layout(tmp_path, file, lines, match):
    metadata, images = _cub(str(tmp_path))
    _write(os.path.join(metadata, "val", file), lines)
    with pytest.raises(ValueError, match=match):
        kpg.datasets.wsol_metadata(metadata, images, image_size=16)


def test_wsol_metadata_names_a_missing_image(tmp_path):
    metadata, images = _cub(str(tmp_path))
    os.remove(os.path.join(images, "b", "2.jpg"))
    with pytest.raises(ValueError, match=r"image_ids.txt: .*2.jpg does not exist"):
        kpg.datasets.wsol_metadata(metadata, images, splits=["test"])


# Group robustness


def _waterbirds(root):
    lines = ["img_id,img_filename,y,split,place,place_filename"]
    for i, (y, split, place) in enumerate([(0, 0, 0), (1, 0, 1), (1, 0, 0), (0, 1, 1), (1, 2, 1)]):
        name = f"{i:03d}.Bird/{i}.jpg"
        _image(os.path.join(root, name), 30, 20, i)
        lines.append(f"{i + 1},{name},{y},{split},{place},/l/lake/{i}.jpg")
    _write(os.path.join(root, "metadata.csv"), lines)


def test_waterbirds_groups_are_two_y_plus_place(tmp_path):
    _waterbirds(str(tmp_path))
    splits = kpg.datasets.waterbirds(str(tmp_path), image_size=16, batch_size=8)
    assert set(splits) == {"train", "val", "test"}
    ((x, y),) = _batches(splits["train"])  # shuffled: compare as sets of (label, group)
    assert sorted(zip(y.tolist(), x["groups"].tolist())) == [(0, 0), (1, 2), (1, 3)]
    np.testing.assert_array_equal(splits["val"].groups, [1])
    assert x["images"].shape == (3, 16, 16, 3)


def test_waterbirds_bad_value_names_the_line(tmp_path):
    _waterbirds(str(tmp_path))
    path = os.path.join(str(tmp_path), "metadata.csv")
    lines = open(path).read().splitlines()
    lines[3] = lines[3].replace(",1,0,0,", ",1,5,0,")
    _write(path, lines)
    with pytest.raises(ValueError, match=r"metadata.csv, line 4: expected y and place"):
        kpg.datasets.waterbirds(str(tmp_path))


def _celeba(root):
    names = ["5_o_Clock_Shadow", "Blond_Hair", "Male"]
    rows = [("000001.jpg", "-1 1 -1", 0), ("000002.jpg", "1 -1 1", 0), ("000003.jpg", "1 1 1", 1),
            ("000004.jpg", "-1 -1 -1", 2)]
    _write(os.path.join(root, "list_attr_celeba.txt"),
           [str(len(rows)), " ".join(names)] + [f"{n}  {v.replace(' ', '  ')}" for n, v, _ in rows])
    _write(os.path.join(root, "list_eval_partition.txt"), [f"{n} {s}" for n, _, s in rows])
    for i, (name, _, _) in enumerate(rows):
        _image(os.path.join(root, "img_align_celeba", name), 17, 21, i)


def test_celeba_target_and_spurious_by_name(tmp_path):
    _celeba(str(tmp_path))
    splits = kpg.datasets.celeba(str(tmp_path), image_size=(12, 10), output="pydataset")
    np.testing.assert_array_equal(splits["train"].labels, [1, 0])
    np.testing.assert_array_equal(splits["train"].groups, [2, 1])  # 2 * blond + male
    np.testing.assert_array_equal(splits["val"].groups, [3])
    x, y = splits["test"][0]
    assert x["images"].shape == (1, 12, 10, 3) and x["groups"].tolist() == [0]
    other = kpg.datasets.celeba(str(tmp_path), target="Male", spurious="Blond_Hair", splits="train")
    np.testing.assert_array_equal(other["train"].groups, [1, 2])
    with pytest.raises(ValueError, match=r"`target` to name an attribute"):
        kpg.datasets.celeba(str(tmp_path), target="Smiling")


def test_celeba_bad_attribute_value_names_the_line(tmp_path):
    _celeba(str(tmp_path))
    path = os.path.join(str(tmp_path), "list_attr_celeba.txt")
    lines = open(path).read().splitlines()
    lines[3] = lines[3].replace("-1", "0", 1)
    _write(path, lines)
    with pytest.raises(ValueError, match=r"list_attr_celeba.txt, line 4: expected \+1 or -1"):
        kpg.datasets.celeba(str(tmp_path))


def test_utkface_labels_come_from_file_names(tmp_path):
    root = str(tmp_path)
    names = [f"{age}_{gender}_{race}_2017011{i}.jpg.chip.jpg"
             for i, (age, gender, race) in enumerate([(25, 0, 1), (45, 1, 2), (31, 1, 0), (8, 0, 4),
                                                      (70, 0, 3), (29, 1, 1), (50, 1, 0), (19, 0, 2),
                                                      (33, 0, 1), (22, 1, 3)])]
    for i, name in enumerate(names):
        _image(os.path.join(root, name), 20, 20, i)
    splits = kpg.datasets.utkface(root, age_threshold=30, image_size=8, seed=1)
    assert sum(len(d.labels) for d in splits.values()) == 10
    assert [len(d.labels) for d in splits.values()] == [6, 2, 2]
    for dataset in splits.values():
        for path, label, group in zip(dataset.file_paths, dataset.labels, dataset.groups):
            age, gender = (int(v) for v in os.path.basename(path).split("_")[:2])
            assert label == gender and group == 2 * gender + (age >= 30)
    again = kpg.datasets.utkface(root, age_threshold=30, image_size=8, seed=1)
    assert again["test"].file_paths == splits["test"].file_paths
    _image(os.path.join(root, "61_1_20170109150557335.jpg.chip.jpg"), 20, 20)
    with pytest.raises(ValueError, match=r"61_1_2017.*expected a name <age>_<gender"):
        kpg.datasets.utkface(root)
    with pytest.raises(ValueError, match="`spurious` in"):
        kpg.datasets.utkface(root, spurious="race")
    with pytest.raises(ValueError, match="`age_threshold` to be an int >= 1"):
        kpg.datasets.utkface(root, age_threshold=0)


def test_utkface_age_is_from_fake_to_reals_by_default(tmp_path):
    # utk_face.py's rule: ages 20-50 (bias 0) against ages <= 5 (bias 1); every other age is dropped.
    root = str(tmp_path)
    ages = [1, 5, 6, 19, 20, 35, 50, 51, 70, 3, 44, 26]
    for i, age in enumerate(ages):
        _image(os.path.join(root, f"{age}_{i % 2}_{i % 5}_2017011{i:02d}.jpg.chip.jpg"), 20, 20, i)
    splits = kpg.datasets.utkface(root, image_size=8, seed=1, fractions=(0.5, 0.25, 0.25))
    kept = {}
    for dataset in splits.values():
        for path, label, group in zip(dataset.file_paths, dataset.labels, dataset.groups):
            age, gender = (int(v) for v in os.path.basename(path).split("_")[:2])
            kept[age] = group
            assert label == gender and group == 2 * gender + (age <= 5)
    assert sorted(kept) == [1, 3, 5, 20, 26, 35, 44, 50]
    # The rule drops images but moves no kept image to another split.
    by_threshold = kpg.datasets.utkface(root, age_threshold=30, image_size=8, seed=1, fractions=(0.5, 0.25, 0.25))
    for split, dataset in splits.items():
        assert set(dataset.file_paths) <= set(by_threshold[split].file_paths)


def _manifest(root, with_mask=True):
    lines = ["path,label,group,split" + (",mask" if with_mask else "")]
    for i in range(6):
        _image(os.path.join(root, "images", f"{i}.png"), 12, 12, i)
        mask = np.zeros((12, 12), np.uint8)
        mask[2:8, 2:8] = 255
        os.makedirs(os.path.join(root, "masks"), exist_ok=True)
        Image.fromarray(mask).save(os.path.join(root, "masks", f"{i}.png"))
        split = ("train", "train", "train", "train", "val", "test")[i]
        lines.append(f"images/{i}.png,{i % 2},{i % 4},{split}" + (f",masks/{i}.png" if with_mask else ""))
    _write(os.path.join(root, "manifest.csv"), lines)
    return os.path.join(root, "manifest.csv")


@pytest.mark.parametrize("output", ["tf.data", "pydataset"])
def test_csv_manifest_carries_provenance_and_groups_into_a_guided_fit(tmp_path, output):
    path = _manifest(str(tmp_path))
    splits = kpg.datasets.csv_manifest(path, image_size=12, batch_size=2, seed=0, output=output)
    (x, y), _ = _batches(splits["train"])
    assert set(x) == {"images", "provenance", "groups"}
    assert x["provenance"].shape == (2, 12, 12, 1) and x["provenance"][:, 4, 4, 0].tolist() == [1.0, 1.0]
    assert x["provenance"][:, 10, 10, 0].tolist() == [0.0, 0.0]
    model = kpg.GuidedModel(
        keras.Sequential([keras.Input((12, 12, 3)), keras.layers.Flatten(), keras.layers.Dense(2)]),
        guidance_weight=1.0,
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(splits["train"], epochs=1, verbose=0)
    assert history.history["guidance_penalty"][0] > 0


def test_csv_manifest_bad_rows_name_the_line(tmp_path):
    path = _manifest(str(tmp_path))
    lines = open(path).read().splitlines()
    _write(path, lines[:3] + [lines[3].replace(",train,", ",holdout,")] + lines[4:])
    with pytest.raises(ValueError, match=r"manifest.csv, line 4: expected a label >= 0 and a split"):
        kpg.datasets.csv_manifest(path)
    _write(path, ["path,label"])
    with pytest.raises(ValueError, match=r"line 1: expected columns .* missing \['split'\]"):
        kpg.datasets.csv_manifest(path)


def test_edited_pairs_recover_provenance_from_each_pair(tmp_path):
    root = str(tmp_path)
    rng = np.random.default_rng(0)
    for label, name in enumerate(("cat", "dog")):
        for i in range(2):
            original = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            os.makedirs(os.path.join(root, "originals", name), exist_ok=True)
            os.makedirs(os.path.join(root, "edits", name), exist_ok=True)
            Image.fromarray(original).save(os.path.join(root, "originals", name, f"{name}{i}.png"))
            for k in range(2):  # two edits per original: new background, object kept
                edited = original.copy()
                edited[:, 8:] = (edited[:, 8:].astype(int) + 128) % 256  # every pixel moves by 128
                Image.fromarray(edited).save(os.path.join(root, "edits", name, f"{name}{i}-{k}.png"))
    dataset = kpg.datasets.edited_pairs(
        os.path.join(root, "originals"), os.path.join(root, "edits"), image_size=16, batch_size=8,
        shuffle=False, groups={"cat0.png": 0, "cat1.png": 1, "dog0.png": 2, "dog1.png": 3},
    )
    ((x, y),) = _batches(dataset)
    assert y.tolist() == [0, 0, 0, 0, 1, 1, 1, 1] and x["groups"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert dataset.class_names == ["cat", "dog"]
    assert dataset.originals[2].endswith(os.path.join("cat", "cat1.png"))
    assert x["provenance"][:, :, :8].min() == 1.0 and x["provenance"][:, :, 8:].max() == 0.0
    relabelled = kpg.datasets.edited_pairs(
        os.path.join(root, "originals"), os.path.join(root, "edits"), image_size=16, shuffle=False,
        labels={"cat0.png": 1, "cat1.png": 0, "dog0.png": 1, "dog1.png": 1},
    )
    assert relabelled.labels.tolist() == [1, 1, 0, 0, 1, 1, 1, 1]
    with pytest.raises(ValueError, match="a label for cat1.png"):
        kpg.datasets.edited_pairs(os.path.join(root, "originals"), os.path.join(root, "edits"),
                                  labels={"cat0.png": 1})
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(os.path.join(root, "edits", "dog", "cow.png"))
    with pytest.raises(ValueError, match=r"cow.png: no original"):
        kpg.datasets.edited_pairs(os.path.join(root, "originals"), os.path.join(root, "edits"))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda d: kpg.datasets.wsol_metadata(d, d, image_size=0), "image_size"),
        (lambda d: kpg.datasets.wsol_metadata(d, d, splits=["training"]), "splits"),
        (lambda d: kpg.datasets.waterbirds(d, batch_size=0), "batch_size"),
        (lambda d: kpg.datasets.waterbirds(d, output="numpy"), "output"),
        (lambda d: kpg.datasets.celeba(d), "list_attr_celeba.txt does not exist"),
        (lambda d: kpg.datasets.utkface(d, fractions=(0.5, 0.5, 0.5)), "fractions"),
        (lambda d: kpg.datasets.csv_manifest(os.path.join(d, "none.csv")), "none.csv does not exist"),
    ],
)
def test_bad_arguments_get_clear_errors(tmp_path, call, match):
    with pytest.raises(ValueError, match=match):
        call(str(tmp_path))
