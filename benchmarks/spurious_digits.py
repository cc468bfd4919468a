"""From Fake to Real on spurious digits: worst-group and mean accuracy over seeds.

Each (backend, seed) runs in its own process and trains every configuration
of `examples/from_fake_to_real.py` (same model, steps and model selection on
validation worst-group accuracy); the table reports mean ± std over seeds of
test worst-group accuracy, mean accuracy (the test set is group-balanced, so
this is also the balanced accuracy), and the worst-group accuracy right
after synthetic pre-training for the FFR rows.

    python benchmarks/spurious_digits.py                        # torch, 3 seeds
    python benchmarks/spurious_digits.py --backends jax tensorflow --seeds 0 1 2
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402

CONFIGS = ("erm", "pooled", "ffr", "ffr_groupdro", "ffr_guided", "groupdro", "ffr_dfr")
LABELS = {
    "erm": "ERM on real",
    "pooled": "real + synthetic pooled",
    "ffr": "FFR (ERM fine-tuning)",
    "ffr_groupdro": "FFR + GroupDRO",
    "ffr_guided": "FFR + guidance in synthetic phase",
    "groupdro": "GroupDRO on real",
    "ffr_dfr": "FFR + DFR (last layer)",
}


def worker(seed, configs, args):
    import keras_provguide as kpg

    example = common.load_example("from_fake_to_real")
    splits = kpg.datasets.spurious_digits(bias=args.bias, seed=seed)
    results = {}
    for config in configs:
        results[config] = example.run(
            config, splits, seed=seed, synthetic_epochs=args.synthetic_epochs,
            real_epochs=args.real_epochs, guidance_weight=args.guidance_weight,
            batchnorm_momentum=args.batchnorm_momentum,
        )
    return {"seed": seed, "device": common.device_name(), "results": results}


def summarise(runs, backend, configs):
    import numpy as np

    rows = []
    for config in configs:
        def stats(key):
            values = [run["results"][config].get(key) for run in runs]
            values = [v for v in values if v is not None]
            return (float(np.mean(values)), float(np.std(values))) if values else (None, None)

        row = {"backend": backend, "config": LABELS[config], "seeds": len(runs)}
        for key, short in (
            ("worst_group_accuracy", "wga"), ("accuracy", "acc"),
            ("after_synthetic_worst_group_accuracy", "pre"), ("seconds", "s"),
            ("val_worst_group_accuracy", "val"),
        ):
            row[short], row[short + "_std"] = stats(key)
        for short in ("wga", "acc", "pre", "val"):
            if row[short] is not None:
                row[short + "_text"] = f"{row[short]:.3f} ± {row[short + '_std']:.3f}"
        rows.append(row)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["torch"], choices=common.BACKENDS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    parser.add_argument("--synthetic-epochs", type=int, default=10)
    parser.add_argument("--real-epochs", type=int, default=10)
    parser.add_argument("--guidance-weight", type=float, default=0.1)
    parser.add_argument("--bias", type=float, default=0.95)
    parser.add_argument("--batchnorm-momentum", type=float, default=0.9,
                        help="Keras BatchNorm momentum of the CNN (0.9, PyTorch's default, as the example)")
    parser.add_argument("--output", default=os.path.join(HERE, "results", "spurious_digits.json"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if (args.synthetic_epochs < 1 or args.real_epochs < 1 or not 0.5 <= args.bias < 1
            or not 0 <= args.batchnorm_momentum < 1):
        parser.error(
            "expected --synthetic-epochs >= 1, --real-epochs >= 1, --bias in [0.5, 1) and "
            "--batchnorm-momentum in [0, 1), received "
            f"{args.synthetic_epochs}, {args.real_epochs}, {args.bias}, {args.batchnorm_momentum}"
        )

    if args.worker:
        print(json.dumps(worker(args.seeds[0], args.configs, args)))
        return None

    script = os.path.abspath(__file__)
    shared = [
        "--configs", *args.configs, "--synthetic-epochs", str(args.synthetic_epochs),
        "--real-epochs", str(args.real_epochs), "--guidance-weight", str(args.guidance_weight),
        "--bias", str(args.bias), "--batchnorm-momentum", str(args.batchnorm_momentum),
    ]
    rows, runs = [], {}
    for backend in args.backends:
        runs[backend] = [
            common.run_worker(script, backend, shared + ["--seeds", str(seed)])
            for seed in args.seeds
        ]
        rows += summarise(runs[backend], backend, args.configs)
    table = common.markdown_table(rows, [
        ("backend", "backend", "{}"),
        ("config", "configuration", "{}"),
        ("wga_text", "worst-group acc.", "{}"),
        ("acc_text", "mean acc.", "{}"),
        ("pre_text", "worst-group after synthetic", "{}"),
        ("val_text", "val. worst-group (selection)", "{}"),
    ])
    print(table)
    common.write_json(args.output, {
        "environment": common.environment(), "arguments": vars(args), "rows": rows, "runs": runs,
    })
    return rows


if __name__ == "__main__":
    main()
