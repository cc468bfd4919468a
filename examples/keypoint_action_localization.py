"""Keypoint action localization: skeleton clips with clip labels in, per-person per-frame detections out.

The guidance paper's third family in its own modality: a
`kpg.models.KeypointLocalizer` (Structured Keypoint Pooling) learns the
action of each clip of `kpg.datasets.keypoint_actions` (stick figures, one of
them acting, and an object whose type matches the class on 90% of training
clips) from clip labels only. At inference its pooling switch scores every
person in every frame; those detections give frame-AP@0.5, and tubes linked
from them video-AP@0.5 (ACT's conventions, `kpg.localization`).
Configurations:

- `skp`: plain training (the SKP baseline);
- `batch_mix`: `kpg.layers.ProvenanceBatchMix` batches (two clips' point
  clouds in one sample), each clip scored from its own groups with its own
  label (the `"per_source"` mode: the SKP authors' batch mixing as their
  follow-up describes it), switched on at epoch `mix_from` after plain
  epochs (they found mixing from the start worse);
- `batch_mix_guided`: the same with the two-source guidance penalty: each
  source's class score may not depend on the other clip's keypoints;
- `batch_mix_random_mask`: the penalty with random provenance of the same
  share (each point source 0 with the clip's share of its own points);
- `batch_mix_unmasked`: the mixed-label score's gradient penalised on every
  point (ablation: no mask).

Every configuration trains the same number of epochs; the mixed ones train
plain batches before `mix_from` (the guided ones without penalty, as it
needs two sources). The penalty is averaged over a sample's points and
channels (`penalty_reduction="mean"`). Run on any backend:

    KERAS_BACKEND=jax python examples/keypoint_action_localization.py --configs skp batch_mix batch_mix_guided
"""

import argparse
import time

import keras
import numpy as np
import tensorflow as tf

import keras_provguide as kpg

CONFIGS = ("skp", "batch_mix", "batch_mix_guided", "batch_mix_random_mask", "batch_mix_unmasked")
GUIDED = ("batch_mix_guided", "batch_mix_random_mask", "batch_mix_unmasked")
IMAGE_SIZE = (240, 320)
MAX_PERSONS = 3


def load_data(num_train=600, num_test=400, num_classes=4, seed=0, num_val=0, pool_seed=None,
              object_bias=0.9, num_frames=8):
    """The keypoint-action splits this example trains on (see `keypoint_actions`)."""
    return kpg.datasets.keypoint_actions(
        num_train=num_train, num_val=num_val, num_test=num_test, num_classes=num_classes,
        num_frames=num_frames,
        image_size=IMAGE_SIZE, max_persons=MAX_PERSONS, object_bias=object_bias, seed=seed,
        pool_seed=pool_seed,
    )


def training_data(train, config, num_classes, batch_size, seed):
    """A `tf.data` pipeline of `(inputs, labels)` batches for one configuration."""
    keys = {**kpg.data.keypoint_inputs(train), "labels": train["labels"]}
    # Autotuning off: it can stall each new epoch by up to 10 s (kpg.data.steady_epochs).
    dataset = kpg.data.steady_epochs(
        tf.data.Dataset.from_tensor_slices(keys).shuffle(len(train["labels"]), seed=seed))
    dataset = dataset.batch(batch_size, drop_remainder=True)
    if config == "skp":
        def one_hot(batch):
            return kpg.data.keypoint_inputs(batch), tf.one_hot(batch["labels"], num_classes)
        return dataset.map(one_hot).prefetch(2)
    dataset = dataset.map(kpg.layers.ProvenanceBatchMix(num_classes=num_classes, seed=seed))
    dataset = dataset.map(kpg.data.split_labels)
    if config == "batch_mix":
        dataset = dataset.map(lambda inputs, labels: (kpg.data.keypoint_inputs(inputs), labels))
    if config == "batch_mix_random_mask":
        dataset = dataset.map(_random_provenance)
    if config == "batch_mix_unmasked":
        dataset = dataset.map(_every_point_penalty)
    return dataset.prefetch(2)


def _random_provenance(inputs, labels):
    """Each point source 0 with probability its clip's share of source-0 points (fake provenance)."""
    mask = inputs["point_mask"]
    true = inputs["provenance"][..., 0] * mask
    share = tf.reduce_sum(true, axis=1, keepdims=True) / tf.maximum(tf.reduce_sum(mask, axis=1, keepdims=True), 1.0)
    fake = tf.cast(tf.random.uniform(tf.shape(mask)) < share, "float32")
    return dict(inputs, provenance=fake[..., None]), labels


def _every_point_penalty(inputs, labels):
    """Provenance 0 everywhere and no source labels: both clips' scores' gradients are penalised on every point."""
    plain = kpg.data.keypoint_inputs(inputs)
    return dict(plain, provenance=tf.zeros_like(inputs["provenance"])), labels


def evaluate(localizer, split):
    """Clip top-1, frame-AP@0.5 and video-AP@0.5 (ACT's conventions) on `split`."""
    inputs = kpg.data.keypoint_inputs(split)
    logits = keras.ops.convert_to_numpy(localizer.predict(inputs, batch_size=64, verbose=0))
    num_classes = logits.shape[-1]
    videos = range(len(split["labels"]))
    gttubes = kpg.localization.ground_truth_tubes(split["labels"], split["boxes"], split["frames"])
    detections = localizer.predict_detections(inputs, image_size=IMAGE_SIZE, batch_size=64)
    frame = kpg.localization.frame_ap(kpg.localization.detection_rows(detections, num_classes), gttubes,
                                      videos, num_classes)
    tubes = kpg.localization.link_tubes(detections, num_classes)
    video = kpg.localization.video_ap(tubes, gttubes, videos, num_classes)
    return {
        "frame_ap": frame["mean"], "video_ap": video["mean"],
        "clip_accuracy": float(np.mean(np.argmax(logits, 1) == split["labels"])),
    }


def build_model(num_classes, config, guidance_weight=0.01, width=32, num_frames=8):
    """The `GuidedModel` around a `KeypointLocalizer` for clips of this example's data."""
    localizer = kpg.models.KeypointLocalizer(
        num_classes, num_joint_types=17 + num_classes, max_instances=2 * (MAX_PERSONS + 1),
        max_frames=num_frames, width=width,
    )
    guided = config in GUIDED
    model = kpg.GuidedModel(localizer, guidance_weight=guidance_weight if guided else 0.0,
                            penalty_reduction="mean")
    model.guidance_enabled = guided
    return model


def run(config, data, seed=0, epochs=15, batch_size=32, guidance_weight=0.01, learning_rate=3e-3, width=32,
        mix_from=None):
    """Trains one configuration with Adam at `learning_rate`; returns its test (and validation) scores.

    The mixed configurations train plain batches for the first `mix_from`
    epochs (default two thirds of `epochs`), mixed ones after. Validation
    scores, when `data` has a `"val"` split, come back as `"val_<metric>"`.
    """
    if config not in CONFIGS:
        raise ValueError(f"Expected a config in {CONFIGS}, received {config!r}.")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"Expected `epochs` to be an int >= 1, received {epochs!r}.")
    if not isinstance(learning_rate, (int, float)) or isinstance(learning_rate, bool) or not learning_rate > 0:
        raise ValueError(f"Expected `learning_rate` to be a number > 0, received {learning_rate!r}.")
    mix_from = 2 * epochs // 3 if mix_from is None else mix_from
    if not isinstance(mix_from, int) or not 0 <= mix_from < epochs:
        raise ValueError(f"Expected `mix_from` an int in [0, {epochs - 1}] (epochs={epochs}), received {mix_from!r}.")
    train, test = data["train"], data["test"]
    num_classes = int(max(train["labels"].max(), test["labels"].max())) + 1
    keras.utils.set_random_seed(seed)
    model = build_model(num_classes, config, guidance_weight, width, num_frames=train["frames"].shape[1])
    model.compile(keras.optimizers.Adam(learning_rate), keras.losses.CategoricalCrossentropy(from_logits=True))
    start = time.perf_counter()
    plain_epochs = epochs if config == "skp" else mix_from
    if plain_epochs:
        model.fit(training_data(train, "skp", num_classes, batch_size, seed), epochs=plain_epochs, verbose=0)
    if config != "skp":
        model.fit(training_data(train, config, num_classes, batch_size, seed), initial_epoch=mix_from,
                  epochs=epochs, verbose=0)
    result = {**evaluate(model.classifier, test), "seconds": time.perf_counter() - start}
    if "val" in data:
        result.update({f"val_{key}": value for key, value in evaluate(model.classifier, data["val"]).items()})
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS[:3]), choices=CONFIGS)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--mix-from", type=int, default=None,
                        help="the epoch at which the mixed configurations start mixing (default: 2/3 of --epochs)")
    parser.add_argument("--num-train", type=int, default=600)
    parser.add_argument("--num-test", type=int, default=400)
    parser.add_argument("--guidance-weight", type=float, default=0.01)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.guidance_weight < 0 or args.num_train < 1 or args.num_test < 1:
        parser.error(
            "expected --epochs, --num-train and --num-test >= 1 and --guidance-weight >= 0, received "
            f"{args.epochs}, {args.num_train}, {args.num_test} and {args.guidance_weight}"
        )
    if args.mix_from is not None and not 0 <= args.mix_from < args.epochs:
        parser.error(f"expected --mix-from in [0, {args.epochs - 1}], received {args.mix_from}")
    data = load_data(args.num_train, args.num_test, seed=args.seed)
    print(f"backend: {keras.backend.backend()}; {args.num_train} train and {args.num_test} test skeleton clips")
    print(f"{'config':<22} {'clip acc':>8} {'frame-AP':>8} {'video-AP':>8} {'s':>6}")
    results = {}
    for config in args.configs:
        result = run(config, data, seed=args.seed, epochs=args.epochs, guidance_weight=args.guidance_weight,
                     learning_rate=args.learning_rate, mix_from=args.mix_from)
        results[config] = result
        print(f"{config:<22} {result['clip_accuracy']:>8.3f} {result['frame_ap']:>8.3f} "
              f"{result['video_ap']:>8.3f} {result['seconds']:>6.1f}")
    return results


if __name__ == "__main__":
    main()
