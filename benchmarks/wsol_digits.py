"""WSOL on digits: MaxBoxAccV2 and top-1 for CAM, CutMix and CutMix with guidance, over seeds.

Each (backend, seed, configuration) trains in its own process through
`examples/wsol_cutmix_guidance.py` (same model, data and epochs), and the
table reports mean ± std over seeds of MaxBoxAccV2 (CAMs of the true class,
deltas 0.3/0.5/0.7, all contours), MaxBoxAcc at IoU 0.5, top-1 accuracy and
training seconds. The two ablations of the guidance paper are included: a
random box as fake provenance, and the penalty over the whole image.

Finished runs are written to the JSON after each one; `--resume` reuses the
runs of the output file made with the same settings (the guidance weight
counts only for the guided configurations).

    python benchmarks/wsol_digits.py                          # torch, 3 seeds
    python benchmarks/wsol_digits.py --backends jax --seeds 0 --configs cam cutmix
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402

CONFIGS = ("cam", "cutmix", "cutmix_guided", "cutmix_random_mask", "cutmix_unmasked")
LABELS = {
    "cam": "CAM",
    "cutmix": "CAM + CutMix",
    "cutmix_guided": "CAM + CutMix + guidance",
    "cutmix_random_mask": "ablation: random-box provenance",
    "cutmix_unmasked": "ablation: unmasked penalty",
}
METRICS = ("max_box_acc_v2", "max_box_acc_05", "top1_accuracy", "seconds")
GUIDED = ("cutmix_guided", "cutmix_random_mask", "cutmix_unmasked")
# Arguments that change the numbers: a resumed run must match them.
SETTINGS = ("epochs", "num_train", "num_test", "image_size", "guidance_weight")


def worker(seed, config, args):
    """Trains one configuration for one seed on the active backend."""
    example = common.load_example("wsol_cutmix_guidance")
    data = example.load_data(args.num_train, args.num_test, args.image_size, seed)
    result = example.run(
        config, data, seed=seed, epochs=args.epochs, guidance_weight=args.guidance_weight
    )
    settings = run_settings(config, {key: getattr(args, key) for key in SETTINGS})
    return {"seed": seed, "config": config, "settings": settings, "device": common.device_name(), **result}


def summarise(runs, backend, configs):
    """Mean ± std over seeds per configuration; `runs` are worker results."""
    import numpy as np

    rows = []
    for config in configs:
        mine = [run for run in runs if run["config"] == config]
        if not mine:
            continue
        row = {"backend": backend, "config": LABELS[config], "seeds": len(mine)}
        for key in METRICS:
            values = [run[key] for run in mine]
            row[key], row[key + "_std"] = float(np.mean(values)), float(np.std(values))
            row[key + "_text"] = f"{row[key]:.3f} ± {row[key + '_std']:.3f}"
        row["seconds_text"] = f"{row['seconds']:.0f}"
        rows.append(row)
    return rows


def run_settings(config, settings):
    """The settings a run of `config` depends on: the guidance weight only where guidance is on."""
    if config in GUIDED:
        return dict(settings)
    return {key: value for key, value in settings.items() if key != "guidance_weight"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["torch"], choices=common.BACKENDS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--num-train", type=int, default=2000)
    parser.add_argument("--num-test", type=int, default=500)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--guidance-weight", type=float, default=0.01)
    parser.add_argument("--resume", action="store_true", help="skip runs already in --output")
    parser.add_argument("--output", default=os.path.join(HERE, "results", "wsol_digits.json"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.num_train < 64 or args.num_test < 1 or args.guidance_weight < 0:
        parser.error(
            "expected --epochs >= 1, --num-train >= 64 (one batch), --num-test >= 1 and "
            f"--guidance-weight >= 0, received {args.epochs}, {args.num_train}, "
            f"{args.num_test}, {args.guidance_weight}"
        )

    if args.worker:
        print(json.dumps(worker(args.seeds[0], args.configs[0], args)))
        return None

    script = os.path.abspath(__file__)
    settings = {key: getattr(args, key) for key in SETTINGS}
    shared = []
    for key, value in settings.items():
        shared += ["--" + key.replace("_", "-"), str(value)]
    runs = common.earlier_runs(args.output) if args.resume else {}
    rows = []
    for backend in args.backends:
        done = runs.setdefault(backend, [])
        chosen = []
        for seed in args.seeds:
            for config in args.configs:
                wanted = run_settings(config, settings)
                earlier = [
                    r for r in done
                    if (r["seed"], r["config"], r.get("settings")) == (seed, config, wanted)
                ]
                if not earlier:
                    earlier = [common.run_worker(
                        script, backend, shared + ["--seeds", str(seed), "--configs", config]
                    )]
                    done.append(earlier[0])
                    common.write_json(args.output, {
                        "environment": common.environment(), "settings": settings, "runs": runs,
                    })
                chosen.append(earlier[-1])
        rows += summarise(chosen, backend, args.configs)
    table = common.markdown_table(rows, [
        ("backend", "backend", "{}"),
        ("config", "configuration", "{}"),
        ("max_box_acc_v2_text", "MaxBoxAccV2", "{}"),
        ("max_box_acc_05_text", "MaxBoxAcc@0.5", "{}"),
        ("top1_accuracy_text", "top-1", "{}"),
        ("seconds_text", "train s", "{}"),
    ])
    print(table)
    common.write_json(args.output, {
        "environment": common.environment(), "settings": settings, "runs": runs, "rows": rows,
    })
    return rows


if __name__ == "__main__":
    main()
