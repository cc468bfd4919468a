"""Spatio-temporal localization on moving digits: clip labels in, action tubes out.

A `kpg.models.ClipLocalizer` learns the digit of each clip
(`kpg.datasets.moving_digits`: a digit crosses a texture for part of the
clip) from clip labels only, and localizes it in every frame with its
activation maps. Configurations:

- `plain`: plain training;
- `temporal_mix`: `kpg.layers.ProvenanceTemporalMix` batches (segments of two
  clips spliced in time, BatchMix-style), soft labels;
- `temporal_mix_guided`: the same with the two-source guidance penalty: each
  source's class score may not depend on the other source's frames;
- `temporal_mix_random_mask`: the penalty with a random segment of the
  partner's length as provenance (ablation: fake provenance);
- `temporal_mix_unmasked`: the mixed-label score's gradient penalised on
  every frame (ablation: no mask);
- `paste_mix`, `paste_mix_guided`, `paste_mix_random_mask`,
  `paste_mix_unmasked`: the same four with `kpg.layers.ProvenancePasteMix`
  in place of the splice: each clip receives its partner's digit, cut out
  by the digit's alpha, on every frame, so both digits show together (as
  two videos' skeletons share one point cloud in SKP's batch mixing). The
  partner owns only its pasted digit; the random-mask ablation takes the
  pasted digit's mask of another clip in the batch;
- `object_guided`, `object_random_mask`, `object_unmasked`: no synthesis;
  each clip's provenance is its own digit's alpha, so everything else
  (the background included) is non-target, as Decoy-MNIST's swatch
  (Ross et al.'s right-for-the-right-reasons setting); the random-mask
  ablation takes another clip's digit alpha, the unmasked one penalises
  every element.

The penalty sums over a clip's T x H x W x C elements by default
(`penalty_reduction="sum"`); `--penalty-reduction mean` averages them, so a
weight means the same for clips and images of any size. The backbone is
`kpg.models.small_resnet` with BatchNorm momentum 0.9 (short runs; see
`examples/wsol_cutmix_guidance.py`).

Reports clip top-1 accuracy, frame localization accuracy (MaxBoxAcc at IoU
0.5 over the frames that show the digit, maps of the true class) and tube
accuracy (predicted tube, frames and boxes, with tube IoU >= 0.5); writes a
PNG of one clip's frames, input gradients and maps. Run on any backend:

    KERAS_BACKEND=torch python examples/action_localization.py --configs plain temporal_mix_guided
"""

import argparse
import os
import time

import keras
import numpy as np
import tensorflow as tf

import keras_provguide as kpg

CONFIGS = (
    "plain", "temporal_mix", "temporal_mix_guided", "temporal_mix_random_mask",
    "temporal_mix_unmasked", "paste_mix", "paste_mix_guided", "paste_mix_random_mask",
    "paste_mix_unmasked", "object_guided", "object_random_mask", "object_unmasked",
)
GUIDED = (
    "temporal_mix_guided", "temporal_mix_random_mask", "temporal_mix_unmasked",
    "paste_mix_guided", "paste_mix_random_mask", "paste_mix_unmasked",
    "object_guided", "object_random_mask", "object_unmasked",
)
NUM_CLASSES = 10


def load_data(num_train=1000, num_test=200, num_frames=4, image_size=32, seed=0, num_val=0,
              pool_seed=None, background_bias=None):
    """The moving-digit splits this example trains on (see `moving_digits`)."""
    return kpg.datasets.moving_digits(
        num_train=num_train, num_test=num_test, num_frames=num_frames,
        image_size=image_size, seed=seed, num_val=num_val, pool_seed=pool_seed,
        background_bias=background_bias,
    )


def training_data(train, config, batch_size, seed):
    """A `tf.data` pipeline of `(inputs, labels)` batches for one configuration."""
    synthesis = config.split("_")[0]  # plain, temporal, paste or object
    keys = {"images": train["images"], "labels": train["labels"]}
    if synthesis in ("paste", "object"):
        keys["provenance"] = train["provenance"]  # The digit's alpha: what the paste cuts out.
    # Autotuning off: it can stall each new epoch by up to 10 s (kpg.data.steady_epochs).
    dataset = kpg.data.steady_epochs(
        tf.data.Dataset.from_tensor_slices(keys).shuffle(len(train["labels"]), seed=seed))
    dataset = dataset.batch(batch_size, drop_remainder=True)
    if synthesis in ("plain", "object"):
        def one_hot(batch):
            inputs = {key: batch[key] for key in ("images", "provenance") if key in batch}
            return inputs, tf.one_hot(batch["labels"], NUM_CLASSES)

        dataset = dataset.map(one_hot)
        variant = config[len(synthesis):]
    else:
        if synthesis == "paste":
            mix = kpg.layers.ProvenancePasteMix(clips=True, num_classes=NUM_CLASSES, seed=seed)
        else:
            mix = kpg.layers.ProvenanceTemporalMix(num_classes=NUM_CLASSES, seed=seed)
        dataset = dataset.map(mix).map(kpg.data.split_labels)
        variant = config.split("_mix")[1]
    if variant == "" and synthesis != "plain":
        dataset = dataset.map(lambda inputs, labels: ({"images": inputs["images"]}, labels))
    if variant == "_random_mask":
        dataset = dataset.map(_random_segment_provenance if synthesis == "temporal" else _another_clips_paste)
    if variant == "_unmasked":
        dataset = dataset.map(_whole_clip_penalty)
    return dataset.prefetch(2)


def _another_clips_paste(inputs, labels):
    """Each clip's provenance taken from the next clip of the batch: a digit's shape, in the wrong place."""
    return dict(inputs, provenance=tf.roll(inputs["provenance"], shift=1, axis=0)), labels


def _random_segment_provenance(inputs, labels):
    """Per clip, the partner's frame count as a segment at a random start, as provenance."""
    provenance = inputs["provenance"]  # (B, T, 1, 1, 1), 1 on source 0's frames
    batch, frames = tf.shape(provenance)[0], tf.shape(provenance)[1]
    length = frames - tf.cast(tf.round(tf.reduce_sum(provenance, axis=[1, 2, 3, 4])), "int32")
    start = tf.cast(tf.random.uniform([batch]) * tf.cast(frames - length + 1, "float32"), "int32")
    times = tf.range(frames)[None, :]
    partner = (times >= start[:, None]) & (times < (start + length)[:, None])
    fake = 1.0 - tf.cast(partner, provenance.dtype)
    return dict(inputs, provenance=fake[:, :, None, None, None]), labels


def _whole_clip_penalty(inputs, labels):
    """Provenance 0 everywhere and no source labels: the mixed-label score's gradient
    is penalised on every frame."""
    return {"images": inputs["images"], "provenance": tf.zeros_like(inputs["provenance"])}, labels


def evaluate(localizer, test):
    """Clip top-1, frame localization (MaxBoxAcc protocol) and tube accuracy on `test`.

    Frames: the maps of the true class on the frames that show the digit go
    through `kpg.localization.max_box_acc` (each map renormalised, best
    threshold over tau, largest-region and all-contour boxes as Choe et al.).
    Tubes: `predict_tubes` at that best threshold, its frames and boxes
    against the true tube at tube IoU >= 0.5.
    """
    logits = keras.ops.convert_to_numpy(localizer.predict(test["images"], verbose=0))
    maps = localizer.frame_activation_maps(test["images"], class_ids=test["labels"])
    present = test["frames"]
    frames = kpg.localization.max_box_acc(maps[present], test["boxes"][present], iou_thresholds=(0.5,))
    threshold = frames["best_threshold"][0.5]
    tube_boxes, tube_frames = localizer.predict_tubes(
        test["images"], threshold=threshold, class_ids=test["labels"]
    )
    return {
        "top1_accuracy": float(np.mean(np.argmax(logits, 1) == test["labels"])),
        "frame_accuracy": frames["max_box_acc"][0.5],
        "tube_accuracy": kpg.localization.tube_accuracy(
            tube_boxes, test["boxes"], tube_frames, present
        ),
        "threshold": threshold,
    }


def run(
    config, data, seed=0, epochs=15, batch_size=32, guidance_weight=0.01, image_path=None,
    penalty_reduction="sum", batchnorm_momentum=0.9, learning_rate=1e-3,
):
    """Trains one configuration with Adam at `learning_rate`; returns its test (and validation) scores.

    Validation scores, when `data` has a `"val"` split, come back as `"val_<metric>"`.
    """
    if config not in CONFIGS:
        raise ValueError(f"Expected a config in {CONFIGS}, received {config!r}.")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"Expected `epochs` to be an int >= 1, received {epochs!r}.")
    if not isinstance(learning_rate, (int, float)) or isinstance(learning_rate, bool) or not learning_rate > 0:
        raise ValueError(f"Expected `learning_rate` to be a number > 0, received {learning_rate!r}.")
    train, test = data["train"], data["test"]
    keras.utils.set_random_seed(seed)
    shape = train["images"].shape[1:]
    backbone = kpg.models.small_resnet(shape[1:], batchnorm_momentum=batchnorm_momentum)
    localizer = kpg.models.ClipLocalizer(NUM_CLASSES, backbone=backbone, input_shape=shape)
    guided = config in GUIDED
    model = kpg.GuidedModel(
        localizer, guidance_weight=guidance_weight if guided else 0.0,
        penalty_reduction=penalty_reduction,
    )
    model.guidance_enabled = guided
    model.compile(
        keras.optimizers.Adam(learning_rate),
        keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=["categorical_accuracy"],
    )
    start = time.perf_counter()
    model.fit(training_data(train, config, batch_size, seed), epochs=epochs, verbose=0)
    result = {**evaluate(localizer, test), "seconds": time.perf_counter() - start}
    if "val" in data:
        result.update({f"val_{key}": value for key, value in evaluate(localizer, data["val"]).items()})
    if image_path is not None:
        clip = 0
        frames = test["images"][clip]
        labels = np.full(len(frames), test["labels"][clip])
        maps = localizer.frame_activation_maps(test["images"][:1], class_ids=test["labels"][:1])[0]
        clip_gradients = kpg.input_gradients(model, test["images"][:1], test["labels"][:1])[0]
        kpg.visualization.save_attribution_grid(
            image_path, frames, test["provenance"][clip], input_gradients=clip_gradients,
            cams=maps, gt_boxes=test["boxes"][clip],
            titles=[f"frame {t}, digit {labels[t]}" for t in range(len(frames))],
            max_rows=len(frames),
        )
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS[:3]), choices=CONFIGS)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--num-train", type=int, default=1000)
    parser.add_argument("--num-test", type=int, default=200)
    parser.add_argument("--num-frames", type=int, default=4)
    parser.add_argument("--guidance-weight", type=float, default=0.01)
    parser.add_argument("--penalty-reduction", choices=("sum", "mean"), default="sum")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default=None, help="where to write the PNG grids")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.guidance_weight < 0:
        parser.error(
            "expected --epochs >= 1 and --guidance-weight >= 0, "
            f"received {args.epochs} and {args.guidance_weight}"
        )

    data = load_data(args.num_train, args.num_test, args.num_frames, seed=args.seed)
    print(
        f"backend: {keras.backend.backend()}; {args.num_train} train and {args.num_test} test "
        f"clips of {args.num_frames} frames, 32x32"
    )
    print(f"{'config':<20} {'top-1':>6} {'frame acc':>9} {'tube acc':>8} {'s':>6}")
    results = {}
    for config in args.configs:
        path = None
        if args.output_dir:
            os.makedirs(args.output_dir, exist_ok=True)
            path = os.path.join(args.output_dir, f"action_{config}.png")
        result = run(config, data, seed=args.seed, epochs=args.epochs,
                     guidance_weight=args.guidance_weight, image_path=path,
                     penalty_reduction=args.penalty_reduction)
        results[config] = result
        print(f"{config:<20} {result['top1_accuracy']:>6.3f} {result['frame_accuracy']:>9.3f} "
              f"{result['tube_accuracy']:>8.3f} {result['seconds']:>6.1f}")
    return results


if __name__ == "__main__":
    main()
