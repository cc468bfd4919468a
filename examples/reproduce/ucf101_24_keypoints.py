"""Reproduce the guidance paper's UCF101-24 row on keypoints: SKP, + batch mixing, + guidance.

Reads pyskl's UCF101 skeleton pickle (`kpg.datasets.pyskl_annotations`) and
the ACT / MOC detectors' `UCF101v2-GT.pkl` (`kpg.datasets.ucf101_24_ground_truth`),
joins them by video (`kpg.datasets.keypoint_action_clips`), trains a
`kpg.models.KeypointLocalizer` on clip labels only, and scores frame-AP@0.5
and video-AP@0.5 on the test videos with ACT's conventions
(`kpg.localization`).

Where the defaults come from:

- From SKP (Hachiuma, Sato and Sekii, CVPR 2023): keypoints as a point
  cloud pooled point -> person in a frame -> frame -> clip, clip labels in
  training, the pooling switch for person-wise frame-wise scores, and batch
  mixing of two videos' point clouds.
- From the SKP authors' follow-up (Nagano et al., arXiv 2608.25701): mixed
  clips scored apart, each from its own people with its own label
  (`ProvenanceBatchMix`'s `"per_source"` mode), and mixing switched on at
  epoch 20 (`--mix-from`), after plain epochs.
- From the guidance paper: the two-source penalty with each keypoint's video
  as provenance.
- Ours (neither paper gives them): 16 frames sampled uniformly, 4 people
  per frame, width 64, Adam at 1e-3, batch 16, 30 epochs, guidance weight
  10 (the penalty is a mean over points), tube linking and trimming (`kpg.localization.link_tubes`). Choose
  them on a held-out part of train, never on test.
- A difference from ACT's evaluation: detections exist on the sampled
  frames only, so the ground truth is restricted to those frames (frame-AP)
  and tubes are compared over them (video-AP).

Writes a CSV log of every epoch (`keras.callbacks.CSVLogger`), shows Keras's
progress bar (`--verbose 1`), and prints a results table:

    python examples/reproduce/ucf101_24_keypoints.py --config batch_mix_guided \\
        --skeletons data/ucf101/ucf101_hrnet.pkl --ground-truth UCF101v2-GT.pkl --output-dir runs/ucf24
"""

import argparse
import os

import keras
import numpy as np
import tensorflow as tf

import keras_provguide as kpg

CONFIGS = ("skp", "batch_mix", "batch_mix_guided")


def training_pipeline(train, config, num_classes, batch_size, seed):
    """`(inputs, labels)` batches: plain clips, or batch-mixed with provenance (kept for guidance)."""
    keys = {**kpg.data.keypoint_inputs(train), "labels": train["labels"]}
    # Autotuning off: it can stall each new epoch by up to 10 s (kpg.data.steady_epochs).
    dataset = kpg.data.steady_epochs(
        tf.data.Dataset.from_tensor_slices(keys).shuffle(len(train["labels"]), seed=seed))
    dataset = dataset.batch(batch_size, drop_remainder=len(train["labels"]) > batch_size)
    if config == "skp":
        return dataset.map(
            lambda batch: (kpg.data.keypoint_inputs(batch), tf.one_hot(batch["labels"], num_classes))
        ).prefetch(2)
    dataset = dataset.map(kpg.layers.ProvenanceBatchMix(num_classes=num_classes, seed=seed))
    dataset = dataset.map(kpg.data.split_labels)
    if config == "batch_mix":
        dataset = dataset.map(lambda inputs, labels: (kpg.data.keypoint_inputs(inputs), labels))
    return dataset.prefetch(2)


def scores(localizer, split, gttubes, num_classes):
    """Clip top-1, frame-AP@0.5 and video-AP@0.5 on the sampled frames of `split`."""
    inputs = kpg.data.keypoint_inputs(split)
    logits = keras.ops.convert_to_numpy(localizer.predict(inputs, verbose=0))
    detections = localizer.predict_detections(inputs, image_size=split["image_size"])
    # Sampled-frame positions, so that the frame-AP rows name the videos' frames.
    numbers = split["frame_numbers"][detections["clip"], detections["frame"]]
    rows = kpg.localization.detection_rows(dict(detections, frame=numbers - 1), num_classes)
    videos = list(split["videos"])
    sampled = _ground_truth_on(gttubes, videos, split["frame_numbers"], renumber=False)
    frame = kpg.localization.frame_ap(rows, sampled, videos, num_classes)
    tubes = kpg.localization.link_tubes(detections, num_classes, videos=videos)
    video = kpg.localization.video_ap(tubes, _ground_truth_on(gttubes, videos, split["frame_numbers"]),
                                      videos, num_classes)
    return {"top1": float(np.mean(np.argmax(logits, 1) == split["labels"])),
            "frame_ap": frame["mean"], "video_ap": video["mean"]}


def _ground_truth_on(gttubes, videos, frame_numbers, renumber=True):
    """Each video's tubes on its sampled frames; numbered 1.. by sampled position with `renumber`."""
    restricted = {}
    for video, numbers in zip(videos, frame_numbers):
        restricted[video] = {}
        for label, tubes in gttubes[video].items():
            kept = []
            for tube in tubes:
                tube = np.asarray(tube, "float64")
                position = {int(f): i for i, f in enumerate(tube[:, 0])}
                rows = [(k + 1 if renumber else f, *tube[position[int(f)], 1:5])
                        for k, f in enumerate(numbers) if int(f) in position]
                if rows:
                    kept.append(np.array(rows))
            if kept:
                restricted[video][int(label)] = kept
    return restricted


def run(args):
    """Trains `args.config`; returns the test scores."""
    annotations = kpg.datasets.pyskl_annotations(args.skeletons)
    ground_truth = kpg.datasets.ucf101_24_ground_truth(args.ground_truth)
    clips = kpg.datasets.keypoint_action_clips(
        annotations, ground_truth, split=args.split, num_frames=args.num_frames, max_persons=args.max_persons,
    )
    num_classes = len(clips["labels_names"])
    keras.utils.set_random_seed(args.seed)
    localizer = kpg.models.KeypointLocalizer(
        num_classes, num_joint_types=int(clips["train"]["joint_ids"].max()) + 1,
        max_instances=2 * args.max_persons, max_frames=args.num_frames, width=args.width,
    )
    guided = args.config == "batch_mix_guided"
    model = kpg.GuidedModel(localizer, guidance_weight=args.guidance_weight if guided else 0.0,
                            penalty_reduction="mean")
    model.guidance_enabled = guided
    model.compile(keras.optimizers.Adam(args.learning_rate), keras.losses.CategoricalCrossentropy(from_logits=True))
    os.makedirs(args.output_dir, exist_ok=True)
    log = os.path.join(args.output_dir, "log.csv")
    # Plain epochs first; the mixed configurations mix from `--mix-from` on (one CSV log for both parts).
    mix_from = args.epochs if args.config == "skp" else args.mix_from
    if mix_from:
        model.fit(training_pipeline(clips["train"], "skp", num_classes, args.batch_size, args.seed),
                  epochs=mix_from, verbose=args.verbose, callbacks=[keras.callbacks.CSVLogger(log)])
    if mix_from < args.epochs:
        model.fit(training_pipeline(clips["train"], args.config, num_classes, args.batch_size, args.seed),
                  initial_epoch=mix_from, epochs=args.epochs, verbose=args.verbose,
                  callbacks=[keras.callbacks.CSVLogger(log, append=mix_from > 0)])
    return scores(localizer, clips["test"], clips["gttubes"], num_classes)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skeletons", required=True, help="pyskl's skeleton pickle (e.g. ucf101_hrnet.pkl)")
    parser.add_argument("--ground-truth", required=True, help="UCF101v2-GT.pkl of ACT / MOC")
    parser.add_argument("--config", default="batch_mix_guided", choices=CONFIGS)
    parser.add_argument("--split", type=int, default=1)
    parser.add_argument("--num-frames", type=int, default=16)
    parser.add_argument("--max-persons", type=int, default=4)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--mix-from", type=int, default=20,
                        help="the epoch from which batch_mix* configurations mix (plain epochs before)")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--guidance-weight", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="Keras's fit verbosity")
    parser.add_argument("--output-dir", default="runs/ucf101_24_keypoints")
    args = parser.parse_args(argv)
    if (min(args.num_frames, args.max_persons, args.width, args.batch_size, args.epochs) < 1
            or args.learning_rate <= 0 or args.guidance_weight < 0):
        parser.error(
            "expected --num-frames, --max-persons, --width, --batch-size and --epochs >= 1, "
            "--learning-rate > 0 and --guidance-weight >= 0, received "
            f"{args.num_frames}, {args.max_persons}, {args.width}, {args.batch_size}, {args.epochs}, "
            f"{args.learning_rate} and {args.guidance_weight}"
        )
    if args.config != "skp" and not 0 <= args.mix_from < args.epochs:
        parser.error(f"expected --mix-from in [0, {args.epochs - 1}] (mixing needs an epoch), received {args.mix_from}")
    return args


def main(argv=None):
    args = parse_args(argv)
    results = run(args)
    print(f"\n| {args.config} | clip top-1 | frame-AP@0.5 | video-AP@0.5 |")
    print("|---|---|---|---|")
    print(f"| test | {results['top1']:.3f} | {results['frame_ap']:.3f} | {results['video_ap']:.3f} |")
    return results


if __name__ == "__main__":
    main()
