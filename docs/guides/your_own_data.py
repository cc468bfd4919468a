"""
# Your own data

**What you learn:** how to feed your files to guided training: a folder of
images with mask PNGs, a CSV manifest, and the formats the benchmarks
publish (wsolevaluation's metadata for CUB / ILSVRC / OpenImages, group_DRO's
Waterbirds, CelebA, UTKFace, ALIA-style edit pairs). Each loader reads and
checks its metadata whole: a bad line is a `ValueError` naming the file and
the line.

Every loader returns `{split: dataset}` of the data contract, as `tf.data`
(`output="tf.data"`) or `keras.utils.PyDataset` (`output="pydataset"`); only
`"train"` is shuffled. To stay self-contained, this guide first writes a few
tiny files in each format.

    KERAS_BACKEND=torch python docs/guides/your_own_data.py
"""

import os
import pickle

import keras
import numpy as np
from PIL import Image

import keras_provguide as kpg

rng = np.random.default_rng(0)


def write_image(path, width=40, height=30, mode="RGB"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    channels = 3 if mode == "RGB" else 1
    pixels = rng.integers(0, 256, (height, width, channels), dtype="uint8")
    Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode).save(path)


def write_lines(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as file:
        file.write("\n".join(lines) + "\n")


"""
## A folder of images and masks

The layout most people keep: `images/<class>/<name>.png`, and
`masks/<class>/<name>.png` with 255 on the labelled object (or RGBA images,
whose alpha is the mask). `kpg.data.from_directory` reads both, resizes them
together, and can run mask-aligned augmentation and mixing on every batch.
"""

for label in ("cat", "dog"):
    for i in range(4):
        write_image(f"folder/images/{label}/{i}.png")
        write_image(f"folder/masks/{label}/{i}.png", mode="L")

augment = keras.layers.Pipeline([kpg.layers.RandomFlip("horizontal", seed=0),
                                 kpg.layers.ProvenanceCutMix(num_classes=2, seed=0)])
train = kpg.data.from_directory("folder/images", "folder/masks", image_size=(32, 32), batch_size=4,
                                augment=augment, output="pydataset", seed=0)
x, y = train[0]
print("folder batch:", {key: tuple(value.shape) for key, value in x.items()}, "labels", tuple(y.shape))

"""
## A CSV manifest

`kpg.datasets.csv_manifest` reads `path,label,split` and the optional
`group` and `mask` columns. With `group`, `x["groups"]` reaches GroupDRO,
the group metrics and DFR; with `mask`, `x["provenance"]` carries it. Keep
synthetic and real images in two manifests, and give `kpg.data.FakeThenReal`
a split of each: it reads them batch by batch, so neither has to fit in
memory.
"""

rows = ["path,label,group,split,mask"]
for i in range(6):
    write_image(f"synthetic/images/{i}.png")
    write_image(f"synthetic/masks/{i}.png", mode="L")
    rows.append(f"images/{i}.png,{i % 2},{2 * (i % 2) + (i // 3) % 2},{('train', 'val', 'test')[i % 3]},"
                f"masks/{i}.png")
write_lines("synthetic/manifest.csv", rows)
manifest = kpg.datasets.csv_manifest("synthetic/manifest.csv", image_size=32, output="pydataset")
x, y = manifest["train"][0]
print("manifest:", sorted(x), "groups", x["groups"].tolist())

"""
## wsolevaluation's metadata (CUB, ILSVRC, OpenImages)

`kpg.datasets.wsol_metadata(metadata_root, data_root)` reads
`{train,val,test}/{image_ids,class_labels,image_sizes,localization}.txt`.
Images are resized straight to the evaluation size, as wsolevaluation does;
`.boxes` come rescaled as its `resize_bbox`, in this package's exclusive
`xyxy`, and go straight into `kpg.localization.max_box_acc`. For OpenImages,
`.masks()` gives the masks and ignore regions for `pxap`.
"""

for split in ("train", "val", "test"):
    folder = f"wsol/metadata/{split}"
    write_lines(f"{folder}/image_ids.txt", ["001.Bird/a.jpg", "002.Bird/b.jpg"])
    write_lines(f"{folder}/class_labels.txt", ["001.Bird/a.jpg,0", "002.Bird/b.jpg,1"])
    write_lines(f"{folder}/image_sizes.txt", ["001.Bird/a.jpg,40,30", "002.Bird/b.jpg,40,30"])
    write_lines(f"{folder}/localization.txt", ["001.Bird/a.jpg,4,3,30,25", "002.Bird/b.jpg,10,5,39,29"])
write_image("wsol/images/001.Bird/a.jpg")
write_image("wsol/images/002.Bird/b.jpg")
cub = kpg.datasets.wsol_metadata("wsol/metadata", "wsol/images", image_size=32, output="pydataset")
print("CUB-style boxes at 32x32:", [boxes.tolist() for boxes in cub["test"].boxes])

"""
## Group robustness: Waterbirds, CelebA, UTKFace

- `kpg.datasets.waterbirds(root)` reads group_DRO's `metadata.csv`
  (`img_filename,y,split,place`); groups are `2 * y + place`.
- `kpg.datasets.celeba(root, target="Blond_Hair", spurious="Male")` reads
  `list_attr_celeba.txt`, `list_eval_partition.txt` and `img_align_celeba/`.
- `kpg.datasets.utkface(root, target="gender", spurious="age")` parses
  `<age>_<gender>_<race>_<date>.jpg` names into a seeded split; by default
  the age attribute follows the FFR code (age 20-50 against age 5 or less,
  other ages dropped).
"""

write_lines("waterbirds/metadata.csv", ["img_id,img_filename,y,split,place,place_filename"] + [
    f"{i},{i:03d}.Bird/{i}.jpg,{i % 2},{i % 3},{(i // 2) % 2},x.jpg" for i in range(6)])
for i in range(6):
    write_image(f"waterbirds/{i:03d}.Bird/{i}.jpg")
birds = kpg.datasets.waterbirds("waterbirds", image_size=32, output="pydataset")
print("waterbirds groups per split:", {name: split.groups.tolist() for name, split in birds.items()})

"""
## From Fake to Real's own splits

The FFR authors publish the exact subsets they trained on
(`data/{celeba_Smiling,utk_face,spuco_animals}_{train,valid,test}_{bias}.pkl`,
each a dict of `filenames`, `targets`, `biases` and `real_gen`), with the
absolute paths of their machine. `kpg.datasets.ffr_split` finds each file in
your image folder by name; its groups are `2 * target + bias`.
"""

names = [f"{age}_{i % 2}_0_2017.jpg" for i, age in enumerate((25, 3, 40, 2))]
for name in names:
    write_image(f"UTKFace/{name}")
with open("utk_face_train_0.95.pkl", "wb") as file:
    pickle.dump({"filenames": [f"/their/machine/UTKFace/{name}" for name in names],
                 "targets": [0, 1, 0, 1], "biases": [0, 1, 0, 1], "real_gen": [0, 0, 0, 0]}, file)
split = kpg.datasets.ffr_split("utk_face_train_0.95.pkl", "UTKFace", image_size=32, output="pydataset")
print("FFR split groups:", split.groups.tolist())

"""
## Generative edits

`kpg.datasets.edited_pairs(originals_dir, edits_dir)` matches each edit
(`edits/<class>/<name>*.png`) with its original (`originals/<class>/<name>.*`)
and recovers provenance with `kpg.layers.edit_provenance`.

## One recipe per paper table

`examples/reproduce/` holds a recipe per table of the two papers, on these
loaders: `wsol_cub.py` (CUB, CAM with CutMix or ResizeMix, with or without
guidance), `waterbirds_edits.py` (Waterbirds with ALIA-style edits),
`ffr_faces.py` (CelebA and UTKFace, every From Fake to Real configuration)
and `ucf101_24_keypoints.py`. Each runs end to end in the test suite on a
fixture written in the published format, prints its progress, logs every
epoch to CSV, and says in its docstring where each default comes from;
`--help` lists the options.

**Backbones.** `kpg.models.vgg16_gap` and `kpg.models.resnet50_stride1` are
the CAM backbones wsolevaluation evaluates, `kpg.models.resnet50` the
group-robustness papers' classifier, all on `keras.applications`;
`kpg.models.keras_hub_backbone` takes a KerasHub preset. All take images in
[0, 1] and apply their weights' preprocessing inside the model, so
provenance and input gradients stay in image space.

A full paper row costs one to several days on a laptop-class CPU
(`benchmarks/recipe_throughput.py`): use a GPU for the real benchmarks.
"""
