"""From a folder of images and masks to guided training with CutMix, in a few lines.

Writes a small dataset to disk the way users keep theirs (one folder per
class, a mask PNG per image: here digits pasted on textures, from
`kpg.datasets.digit_localization`), then loads it with
`kpg.data.from_directory`. Each batch is flipped and rotated with its masks
and mixed with `kpg.layers.ProvenanceCutMix`, and a small CNN trains as a
`kpg.GuidedModel` with the two-source penalty. Prints test accuracy on
unmixed test images.

Run on any backend:

    KERAS_BACKEND=torch python examples/folder_to_guided_fit.py
"""

import argparse
import os
import tempfile

import keras
import numpy as np
from PIL import Image

import keras_provguide as kpg


def write_folder(root, split):
    """Saves `split` as `root/images/<digit>/<i>.png` and `root/masks/<digit>/<i>.png`."""
    for i, (image, mask, label) in enumerate(
        zip(split["images"], split["provenance"], split["labels"])
    ):
        for kind, array in (("images", image), ("masks", mask[..., 0])):
            folder = os.path.join(root, kind, str(label))
            os.makedirs(folder, exist_ok=True)
            pixels = np.round(np.clip(array, 0.0, 1.0) * 255).astype("uint8")
            Image.fromarray(pixels).save(os.path.join(folder, f"{i:05d}.png"))
    return os.path.join(root, "images"), os.path.join(root, "masks")


def build_cnn(side, num_classes=10):
    layers = [keras.Input((side, side, 3))]
    for filters in (32, 64, 128):
        layers += [
            keras.layers.Conv2D(filters, 3, padding="same"),
            # A short memory, so the statistics keep up in a short run.
            keras.layers.BatchNormalization(momentum=0.9),
            keras.layers.ReLU(),
            keras.layers.MaxPooling2D(),
        ]
    layers += [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(num_classes)]
    return keras.Sequential(layers)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--num-train", type=int, default=1000)
    parser.add_argument("--guidance-weight", type=float, default=0.05)
    parser.add_argument("--loader", choices=["tf.data", "pydataset"], default="pydataset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="where to write the folder (default: temp)")
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)

    side = 32
    data = kpg.datasets.digit_localization(
        num_train=args.num_train, num_test=200, image_size=side, scale_range=(0.5, 0.9), seed=args.seed
    )
    root = args.data_dir or tempfile.mkdtemp(prefix="kpg-folder-")
    images_dir, masks_dir = write_folder(root, data["train"])
    print(f"backend: {keras.backend.backend()}; wrote {args.num_train} image/mask pairs to {root}")

    # The lines a user writes for their own folder:
    augment = keras.layers.Pipeline([
        kpg.layers.RandomFlip("horizontal", seed=args.seed),
        kpg.layers.RandomRotation(0.05, seed=args.seed),
        kpg.layers.ProvenanceCutMix(num_classes=10, seed=args.seed),
    ])
    train = kpg.data.from_directory(
        images_dir, masks_dir, batch_size=32, seed=args.seed, augment=augment, output=args.loader
    )
    model = kpg.GuidedModel(build_cnn(side), guidance_weight=args.guidance_weight)
    model.compile(
        keras.optimizers.Adam(2e-3),
        keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(train, epochs=args.epochs, verbose=2)

    test = data["test"]
    logits = model.predict(test["images"], verbose=0)
    accuracy = float(np.mean(np.argmax(logits, -1) == test["labels"]))
    print(f"\ntest accuracy (unmixed test images): {accuracy:.3f}")
    print(f"last guidance_penalty: {history.history['guidance_penalty'][-1]:.4g}")
    return {"accuracy": accuracy, "history": history.history, "class_names": train.class_names}


if __name__ == "__main__":
    main()
