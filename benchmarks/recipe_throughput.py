"""Seconds per training step of the paper recipes' real models, to estimate a full run's time.

Times `train_on_batch` of each recipe's model at its published resolution
(random weights, random images: the step's cost does not depend on either),
plain and guided, for a few steps after one warm-up step; reports the
median, and the full-run estimate of each recipe from the published data
sizes. Each (backend, model) runs in its own process and is saved as it
finishes, so `--resume` skips what is already measured.

    python benchmarks/recipe_throughput.py --backends torch --output benchmarks/results/recipe_throughput.json
"""

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402

# The recipes' models at their published resolution: (backbone, task, image side, timed batch, classes).
MODELS = {
    "vgg16_gap_cam": ("vgg16_gap", "cam", 224, 32, 200),
    "resnet50_classifier": ("resnet50", "classifier", 224, 32, 2),
}
# recipe: (model, training images per epoch, epochs, of which guided in the guided
# configuration), the recipes' defaults. Images
# per epoch: CUB's 5994 (wsolevaluation's train split), Waterbirds' 4795 plus as
# many edits, and for FFR 10000 real training images (both phases walk the real
# set's length; scale with yours), 50 + 50 epochs. FFR's batch is 128, but a
# guided ResNet-50 step at 128 does not fit in 24 GB of host memory: every model
# is timed at 32 and the estimates scale per image. `ffr_guided` guides only
# the synthetic phase.
RECIPES = {
    "wsol_cub.py (VGG16-GAP)": ("vgg16_gap_cam", 5994, 15, 15),
    "waterbirds_edits.py (ResNet-50)": ("resnet50_classifier", 9590, 20, 20),
    "ffr_faces.py (ResNet-50)": ("resnet50_classifier", 10000, 100, 50),
}
MODES = ("plain", "guided")


def worker(args):
    import keras
    import numpy as np

    import keras_provguide as kpg

    backbone_name, task, side, batch, classes = MODELS[args.model]
    shape = (side, side, 3)
    backbone = getattr(kpg.models, backbone_name)(shape)
    if task == "cam":
        network = kpg.models.CAMLocalizer(classes, backbone=backbone, cam_width=0)
    else:
        network = kpg.models.ImageClassifier(classes, backbone=backbone)
    rng = np.random.default_rng(0)
    x = {"images": rng.uniform(size=(batch, *shape)).astype("float32"),
         "provenance": (rng.uniform(size=(batch, side, side, 1)) > 0.5).astype("float32")}
    y = rng.integers(0, classes, batch)
    seconds = {}
    for mode in MODES:
        model = kpg.GuidedModel(network, guidance_weight=0.05 if mode == "guided" else 0.0)
        model.guidance_enabled = mode == "guided"
        model.compile(keras.optimizers.SGD(1e-6, momentum=0.9),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        times = []
        for step in range(args.steps + 1):
            start = time.perf_counter()
            model.train_on_batch(x, y)
            if step:  # the first step builds and compiles
                times.append(time.perf_counter() - start)
        seconds[mode] = {"median": statistics.median(times), "all": times}
    print(json.dumps({"seconds_per_step": seconds, "device": common.device_name()}))


def estimate(recipe, plain, guided=None):
    """Hours of a full run of `recipe` at `plain` (and `guided`) seconds per step of its timed batch.

    Without `guided`, every epoch is plain; with it, the guided configuration's
    guided epochs take `guided` seconds per step.
    """
    model, images, epochs, guided_epochs = RECIPES[recipe]
    if guided is None:
        guided_epochs, guided = 0, plain
    seconds = (epochs - guided_epochs) * plain + guided_epochs * guided
    return images * seconds / MODELS[model][3] / 3600


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--model", choices=sorted(MODELS))
    parser.add_argument("--models", nargs="+", default=sorted(MODELS), choices=sorted(MODELS))
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "torch", "jax"])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--output", default=os.path.join(HERE, "results", "recipe_throughput.json"))
    parser.add_argument("--resume", action="store_true", help="keep what --output already holds")
    args = parser.parse_args()
    if args.steps < 1:
        parser.error(f"expected --steps >= 1, received {args.steps}")
    if args.worker:
        return worker(args)
    runs = common.earlier_runs(args.output) if args.resume else {}
    for backend in args.backends:
        for model in args.models:
            if model in runs.get(backend, {}):
                continue
            result = common.run_worker(__file__, backend, ["--model", model, "--steps", str(args.steps)])
            runs.setdefault(backend, {})[model] = result
            common.write_json(args.output, {"environment": common.environment(), "runs": runs})
            print(backend, model, {m: round(v["median"], 2) for m, v in result["seconds_per_step"].items()},
                  flush=True)
    print(report(runs))


COLUMNS = [
    ("backend", "backend", "{}"), ("recipe", "recipe", "{}"), ("plain", "plain s/step", "{:.1f}"),
    ("guided", "guided s/step", "{:.1f}"), ("ratio", "guided / plain", "{:.2f}"),
    ("plain_hours", "full run, plain (h)", "{:.0f}"), ("guided_hours", "full run, guided configuration (h)", "{:.0f}"),
]


def report(runs):
    """The Markdown table of `runs`: seconds per step of batch 32 and full-run hours per recipe."""
    rows = []
    for backend, models in runs.items():
        for recipe, (model, *_) in RECIPES.items():
            if model in models:
                plain, guided = (models[model]["seconds_per_step"][m]["median"] for m in MODES)
                rows.append({
                    "backend": backend, "recipe": recipe, "plain": plain, "guided": guided,
                    "ratio": guided / plain, "plain_hours": estimate(recipe, plain),
                    "guided_hours": estimate(recipe, plain, guided),
                })
    return common.markdown_table(rows, COLUMNS)

if __name__ == "__main__":
    main()
