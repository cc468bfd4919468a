"""Seconds per whole training epoch, guided against plain, through the recipes' real input pipelines.

The guidance paper reports epochs, not steps: 140 s plain and 150 s guided
(1.07x) in PyTorch, under mixed precision with the penalty in float32,
where image decoding, augmentation and the host-to-device copy are part
of each epoch. This benchmark measures the same kind of number:

- It writes a fixture folder of JPEG files in a recipe's published format
  (wsolevaluation's CUB metadata with a box per image for `wsol_cub.py`;
  group_DRO's Waterbirds `metadata.csv` with an ALIA-style edit of every
  image for `waterbirds_edits.py`), random pixels (the cost of an epoch
  does not depend on them).
- Each epoch reads those files through the recipe's own training pipeline
  (`kpg.datasets.wsol_metadata` then `wsol_cub.training_pipeline`: CutMix
  and `prefetch`; `kpg.datasets.waterbirds` and `edited_pairs` then
  `waterbirds_edits.training_stream`: real images pooled with the edits,
  provenance recovered from each pair), a `tf.data` pipeline on every
  backend, as the recipes run.
- The models are the recipes' (`vgg16_gap_cam`: VGG16-GAP CAM, 200
  classes; `resnet50_classifier`: ResNet-50 classifier, 2 classes) from
  random weights: plain is the network's own `fit` on the recipe's plain
  configuration (`cutmix`, `alia`), guided is `kpg.GuidedModel` (weight
  0.05, `second_order="auto"`) on its guided one (`cutmix_guided`,
  `alia_guided`) with the penalty every k steps.
- Per backend (its own process), model and precision (every model built
  under that Keras dtype policy), each mode trains one warm-up epoch, then
  `--epochs` timed epochs, interleaved between the modes so that they
  share the machine's state; the table gives the median epoch and its
  ratio to plain's. Beside it, the step ratio of the same models in the
  same process, as `step_overhead.py` measures it (`train_on_batch` on one
  batch of the pipeline, interleaved; the median, or with k > 1 the mean
  over whole k-step cycles).

    python benchmarks/epoch_overhead.py                   # CPU: 64x64, batch 32, 256 images
    python benchmarks/epoch_overhead.py --image-size 224 --images 1024 --penalty-every 1 4 \\
        --precision float32 mixed_float16 --output benchmarks/results/gpu/epoch_overhead.json

Each worker's result (one backend, model and precision: its ratios are
measured in that one process) is appended to `<output>.partial-<settings
hash>.jsonl` as it
finishes, so a stopped run resumes with the next one when called again with
the same settings; the finished run writes `<output>` and its `.md` and
removes the partial file.

Time: see benchmarks/epoch_overhead.md.
"""

import argparse
import hashlib
import json
import math
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402
import step_overhead  # noqa: E402


class WsolCub:
    """`wsol_cub.py`: CUB in wsolevaluation's metadata format, CutMix, the CAM and its one-hot labels."""

    configs = {False: "cutmix", True: "cutmix_guided"}  # by `guided`
    weight_decay = 5e-4

    @staticmethod
    def write(root, count, classes, picture, save):
        # The train split's image ids, class labels, sizes and a box per image.
        ids, labels, sizes, boxes = [], [], [], []
        for i in range(count):
            label = i % classes
            image_id = f"{label:03d}.Class/{i:05d}.jpg"
            pixels = picture(label)
            save(os.path.join(root, "images", image_id), pixels)
            height, width = pixels.shape[:2]
            ids.append(image_id)
            labels.append(f"{image_id},{label}")
            sizes.append(f"{image_id},{width},{height}")
            boxes.append(f"{image_id},{width // 4},{height // 4},{3 * width // 4 - 1},{3 * height // 4 - 1}")
        folder = os.path.join(root, "metadata", "train")
        os.makedirs(folder, exist_ok=True)
        for name, lines in (("image_ids.txt", ids), ("class_labels.txt", labels),
                            ("image_sizes.txt", sizes), ("localization.txt", boxes)):
            with open(os.path.join(folder, name), "w") as file:
                file.write("\n".join(lines) + "\n")

    @staticmethod
    def pipeline(recipe, root, image_size, batch_size, classes, config, seed):
        import keras_provguide as kpg

        train = kpg.datasets.wsol_metadata(
            os.path.join(root, "metadata"), os.path.join(root, "images"), image_size=image_size,
            splits=("train",), batch_size=batch_size, seed=seed,
        )["train"]
        return recipe.training_pipeline(train, config, classes, seed)

    @staticmethod
    def network(features, classes):
        import keras

        import keras_provguide as kpg

        # cam_width=0: pooling straight after the backbone's conv6, as the recipe.
        network = kpg.models.CAMLocalizer(classes, backbone=features, cam_width=0)
        return network, keras.losses.CategoricalCrossentropy(from_logits=True)


class WaterbirdsEdits:
    """`waterbirds_edits.py`: group_DRO's Waterbirds and ALIA-style edits of it, pooled; a classifier."""

    configs = {False: "alia", True: "alia_guided"}
    weight_decay = 1e-4

    @staticmethod
    def write(root, count, classes, picture, save):
        # The train split and an edit of every image: an epoch reads
        # count // 2 real images and as many edits.
        lines = ["img_id,img_filename,y,split,place,place_filename"]
        for i in range(count // 2):
            y, place = i % classes, (i // 2) % 2
            name = f"{i % 3:03d}.Species/Bird_{i:05d}.jpg"
            pixels = picture(y)
            save(os.path.join(root, "waterbirds", name), pixels)
            save(os.path.join(root, "originals", name), pixels)
            edited = pixels.copy()
            edited[: len(edited) // 4] = 255 - edited[: len(edited) // 4]  # A new background above the bird.
            save(os.path.join(root, "edits", name.replace(".jpg", "-0.jpg")), edited)
            lines.append(f"{i + 1},{name},{y},0,{place},places/{i}.jpg")
        with open(os.path.join(root, "waterbirds", "metadata.csv"), "w") as file:
            file.write("\n".join(lines) + "\n")

    @staticmethod
    def pipeline(recipe, root, image_size, batch_size, classes, config, seed):
        import keras_provguide as kpg

        real = kpg.datasets.waterbirds(os.path.join(root, "waterbirds"), image_size=image_size, splits=("train",),
                                       batch_size=batch_size, seed=seed)["train"]
        edits = recipe.edits_of(real, os.path.join(root, "originals"), os.path.join(root, "edits"), image_size,
                                batch_size, seed)
        return recipe.training_stream(real, edits, config, seed).batch(batch_size).prefetch(2)

    @staticmethod
    def network(features, classes):
        import keras

        import keras_provguide as kpg

        network = kpg.models.ImageClassifier(classes, backbone=features)
        return network, keras.losses.SparseCategoricalCrossentropy(from_logits=True)


# The recipes in examples/reproduce whose files, pipeline and task are timed.
RECIPES = {"wsol_cub": WsolCub, "waterbirds_edits": WaterbirdsEdits}
# name: (recipe, its kpg.models backbone, classes)
FAMILIES = {
    "vgg16_gap_cam": ("wsol_cub", "vgg16_gap", 200),
    "resnet50_classifier": ("waterbirds_edits", "resnet50", 2),
}
GUIDANCE_WEIGHT = 0.05  # Both recipes' default.


def mode_name(penalty_every):
    """The key of a mode: "plain" for `None`, else "guided_k<k>"."""
    return "plain" if penalty_every is None else f"guided_k{penalty_every}"


def write_images(recipe, root, count, image_size, classes, seed=0):
    """Writes `count` training images for `recipe` in its published format under `root`.

    The files are JPEGs of random pixels with a flat square per class, a
    quarter wider than `image_size` (each is resized as it is read, as real
    photographs are).
    """
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    height, width = image_size, image_size + image_size // 4

    def picture(label):
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        pixels[height // 4: 3 * height // 4, width // 4: 3 * width // 4] = 60 + 150 * label // max(classes - 1, 1)
        return pixels

    def save(path, pixels):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(pixels).save(path, quality=90)

    RECIPES[recipe].write(root, count, classes, picture, save)


def training_data(recipe, root, image_size, batch_size, classes, guided, seed=0):
    """The recipe's training pipeline over the files under `root`: `(inputs, labels)` batches.

    `guided` picks the recipe's guided configuration (`cutmix_guided`,
    `alia_guided`), else its plain one (`cutmix`, `alia`), whose inputs
    are reduced to the images for the plain network.
    """
    import tensorflow as tf

    module = common.load_example(os.path.join("reproduce", recipe))
    data = RECIPES[recipe].pipeline(module, root, image_size, batch_size, classes, RECIPES[recipe].configs[guided],
                                    seed)
    if guided:
        return data
    return data.map(lambda inputs, labels: (inputs["images"], labels), num_parallel_calls=tf.data.AUTOTUNE)


def build_model(family, image_size, penalty_every):
    """The recipe's network (plain, `penalty_every=None`) or its `kpg.GuidedModel`, compiled as the recipe does.

    Random weights (each backbone's default); SGD with the recipes'
    momentum and weight decay; no metrics (they read the batch's groups,
    which the plain network does not get).
    """
    import keras

    import keras_provguide as kpg

    recipe, backbone, classes = FAMILIES[family]
    network, loss = RECIPES[recipe].network(getattr(kpg.models, backbone)((image_size, image_size, 3)), classes)
    model = network
    if penalty_every is not None:
        model = kpg.GuidedModel(network, guidance_weight=GUIDANCE_WEIGHT, penalty_every=penalty_every)
    optimizer = keras.optimizers.SGD(1e-3, momentum=0.9, weight_decay=RECIPES[recipe].weight_decay)
    model.compile(optimizer, loss)
    return model


def worker(family, root, image_size, batch_size, epochs, penalty_every, steps, warmup, precision="float32",
           seed=0):
    """Epoch and step seconds of plain and each `penalty_every`, on the files `write_images` put under `root`.

    Returns `{"epoch_seconds": {mode: [s per timed epoch]}, "step_seconds":
    {mode: [s per timed step]}, "steps_per_epoch": {mode: steps}, ...}`,
    modes as `mode_name` names them.
    """
    import keras
    import numpy as np

    recipe, _, classes = FAMILIES[family]
    common.keep_tf_data_on_cpu()
    keras.utils.set_random_seed(seed)
    modes = {mode_name(k): k for k in (None, *penalty_every)}
    with common.dtype_policy(precision):
        models = {mode: build_model(family, image_size, k) for mode, k in modes.items()}
        compute_dtype = models["plain"].compute_dtype
    data = {mode: training_data(recipe, root, image_size, batch_size, classes, k is not None, seed)
            for mode, k in modes.items()}
    timer = epoch_timer()
    for mode, model in models.items():  # The warm-up epoch: tracing, compilation, the pipeline's first pass.
        model.fit(data[mode], epochs=1, verbose=0)
    epoch_seconds, steps_per_epoch = {mode: [] for mode in modes}, {}
    for _ in range(epochs):
        for mode, model in models.items():
            model.fit(data[mode], epochs=1, verbose=0, callbacks=[timer])
            epoch_seconds[mode].append(timer.seconds)
            steps_per_epoch[mode] = timer.steps
    batches = {mode: next(iter(data[mode])) for mode in modes}
    runs = {mode: (models[mode], *keras.tree.map_structure(np.asarray, batches[mode])) for mode in modes}
    cycle = math.lcm(*penalty_every)
    step_seconds = step_overhead.interleaved_times(runs, step_overhead.whole_cycles(steps, cycle), warmup)
    return {
        "device": common.device_name(), "compute_dtype": compute_dtype, "steps_per_epoch": steps_per_epoch,
        "epoch_seconds": epoch_seconds, "step_seconds": step_seconds,
    }


def epoch_timer():
    """A callback that keeps the wall time of the last epoch (`seconds`) and its step count (`steps`).

    The time runs from the epoch's start to its logs on the host, so the
    epoch's last step is finished.
    """
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start, self.steps = time.perf_counter(), 0

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1

        def on_epoch_end(self, epoch, logs=None):
            float(logs["loss"])
            self.seconds = time.perf_counter() - self.start

    return EpochTimer()


def summarise(backend, family, precision, result, penalty_every):
    """One row per mode: median epoch seconds and step ms, and both ratios to plain (`None` for plain).

    The step ratio of penalty every k compares means over whole k-step
    cycles when k > 1 (what an epoch costs per step), medians when k = 1.
    """
    epochs, steps = result["epoch_seconds"], result["step_seconds"]
    plain_epoch = statistics.median(epochs["plain"])
    rows = []
    for k in (None, *penalty_every):
        mode = mode_name(k)
        row = {
            "backend": backend, "model": family, "precision": precision, "device": result["device"],
            "mode": "plain" if k is None else f"guided, k={k}", "penalty_every": k,
            "steps_per_epoch": result["steps_per_epoch"][mode], "epoch_s": statistics.median(epochs[mode]),
            "step_ms": step_overhead.step_ms(steps[mode], k or 1), "epoch_ratio": None, "step_ratio": None,
        }
        if k is not None:
            row["epoch_ratio"] = row["epoch_s"] / plain_epoch
            row["step_ratio"] = row["step_ms"] / step_overhead.step_ms(steps["plain"], k)
        rows.append(row)
    return rows


COLUMNS = [
    ("backend", "backend", "{}"), ("model", "model", "{}"), ("precision", "precision", "{}"),
    ("device", "device", "{}"), ("mode", "mode", "{}"), ("steps_per_epoch", "steps/epoch", "{}"),
    ("epoch_s", "epoch s", "{:.2f}"), ("epoch_ratio", "epoch ratio", "{:.2f}"),
    ("step_ms", "step ms", "{:.1f}"), ("step_ratio", "step ratio", "{:.2f}"),
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=list(common.BACKENDS), choices=common.BACKENDS)
    parser.add_argument("--models", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--precision", nargs="+", default=["float32"], choices=common.PRECISIONS,
                        help="Keras dtype policies, each run in its own processes")
    parser.add_argument("--penalty-every", nargs="+", type=int, default=[1, 4, 8],
                        help="the guided modes: the penalty every k steps, one mode per k")
    parser.add_argument("--image-size", type=int, default=64, help="the side of the images (224 on a GPU)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--images", type=int, default=256, help="training images per epoch")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per mode, after one warm-up epoch")
    parser.add_argument("--steps", type=int, default=16,
                        help="timed train_on_batch steps per mode (rounded up to whole cycles of every k)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed train_on_batch steps per mode first")
    parser.add_argument("--output", default=os.path.join(HERE, "results", "epoch_overhead.json"),
                        help="the JSON file; the Markdown table goes beside it (.md)")
    parser.add_argument("--check-args", action="store_true", help="check the arguments and exit")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if (args.image_size < 32 or args.batch_size < 1 or args.images < args.batch_size or args.epochs < 1
            or args.steps < 1 or args.warmup < 0 or min(args.penalty_every) < 1):
        parser.error(
            "expected --image-size >= 32 (the backbones' smallest), --batch-size >= 1, --images >= --batch-size, "
            "--epochs >= 1, --steps >= 1, --warmup >= 0 and every --penalty-every >= 1, received "
            f"{args.image_size}, {args.batch_size}, {args.images}, {args.epochs}, {args.steps}, {args.warmup}, "
            f"{args.penalty_every}"
        )
    if len(set(args.penalty_every)) != len(args.penalty_every):
        parser.error(f"expected distinct --penalty-every values, received {args.penalty_every}")
    if not args.output.endswith(".json"):
        parser.error(f"expected --output ending in .json (the table goes beside it as .md), received {args.output}")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.check_args:
        print("epoch_overhead.py: arguments accepted")
        return None
    settings = ["--image-size", str(args.image_size), "--batch-size", str(args.batch_size),
                "--epochs", str(args.epochs), "--steps", str(args.steps), "--warmup", str(args.warmup),
                "--penalty-every", *map(str, args.penalty_every)]
    if args.worker:
        (family,), (precision,) = args.models, args.precision
        result = worker(family, args.data, args.image_size, args.batch_size, args.epochs, args.penalty_every,
                        args.steps, args.warmup, precision)
        print(json.dumps(result))
        return None

    rows = []
    stamp = {key: getattr(args, key) for key in ("image_size", "batch_size", "images", "epochs", "steps", "warmup",
                                                   "penalty_every")}
    partial = partial_path(args.output, stamp)
    done = finished_workers(partial, stamp)
    with tempfile.TemporaryDirectory() as folder:
        for family in args.models:
            # One folder per model, read by every backend and precision alike.
            root = os.path.join(folder, family)
            recipe, _, classes = FAMILIES[family]
            if any((backend, family, precision) not in done
                   for backend in args.backends for precision in args.precision):
                write_images(recipe, root, args.images, args.image_size, classes)
            for backend in args.backends:
                for precision in args.precision:
                    result = done.get((backend, family, precision))
                    if result is None:
                        result = common.run_worker(
                            os.path.abspath(__file__), backend,
                            ["--models", family, "--precision", precision, "--data", root, *settings],
                        )
                        entry = {"worker": [backend, family, precision], "settings": stamp, "result": result}
                        common.append_json_line(partial, entry)
                    found = summarise(backend, family, precision, result, args.penalty_every)
                    rows += found
                    print(f"{backend:>10} {family} {precision}: plain {found[0]['epoch_s']:.1f} s/epoch, " + ", ".join(
                        f"k={r['penalty_every']} x{r['epoch_ratio']:.2f} (step x{r['step_ratio']:.2f})"
                        for r in found[1:]), flush=True)
    table = common.markdown_table(rows, COLUMNS)
    text = (f"Epochs of {args.images} images at {args.image_size}x{args.image_size}, batch {args.batch_size}: "
            f"median of {args.epochs} timed epochs after a warm-up epoch; steps: {args.steps} timed "
            f"`train_on_batch` per mode (whole cycles of every k).\n\n{table}\n")
    print()
    print(text)
    payload = {"environment": common.environment(), "settings": stamp, "rows": rows}
    common.write_json(args.output, payload)
    common.write_text(os.path.splitext(args.output)[0] + ".md", text)
    if os.path.exists(partial):
        os.remove(partial)
    print(f"wrote {args.output} and its .md")
    return rows


def partial_path(output, stamp):
    """Where a run of these settings keeps its finished workers: one file per settings."""
    digest = hashlib.sha1(json.dumps(stamp, sort_keys=True).encode()).hexdigest()[:10]
    return f"{os.path.splitext(output)[0]}.partial-{digest}.jsonl"


def finished_workers(path, stamp):
    """`{(backend, model, precision): result}` of the workers a stopped run with these settings finished.

    A torn last line (a crash mid-write) and results of other settings are ignored.
    """
    return {tuple(entry["worker"]): entry["result"]
            for entry in common.read_json_lines(path) if entry.get("settings") == stamp}


if __name__ == "__main__":
    main()
