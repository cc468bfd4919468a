"""How far `second_order="finite_difference"` steps from the exact step, per backend, model and step size.

For each backend (its own process) and `step_overhead` model, one guided
SGD step at learning rate 1 from the same weights on the same batch, by
`double_backprop` (exact) and by `finite_difference` at each
`finite_difference_step` h; reports `|update_fd - update_exact| /
|update_exact|` over every weight (BatchNorm statistics included). On a
smooth network the error falls linearly with h until float32 rounding (or a
GPU's TF32 convolutions) takes over (`tests/test_cheaper_guidance.py`); the
`step_overhead` models are ReLU networks, where the shift crosses kinks and
the error does not fall with h: measured 0.1-0.9 there, growing as h
shrinks. The path is then judged by its effect (`cheaper_guidance.py`).

    python benchmarks/finite_difference_error.py
    python benchmarks/finite_difference_error.py --backends torch --models resnet18_224 --steps 1e-1 1e-2 1e-3
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402
import step_overhead  # noqa: E402


def _update(model_name, second_order, step=None):
    import keras
    import numpy as np

    import keras_provguide as kpg

    model, x, y = step_overhead.build_step(model_name, second_order)
    options = {} if step is None else {"finite_difference_step": step}
    guided = kpg.GuidedModel(model.classifier, guidance_weight=1.0, second_order=second_order, **options)
    guided.compile(keras.optimizers.SGD(1.0), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [np.asarray(w) for w in guided.get_weights()]
    guided.train_on_batch(x, y)
    return np.concatenate([(b - a).ravel() for a, b in zip(guided.get_weights(), before)])


def worker(model_name, steps):
    import numpy as np

    exact = _update(model_name, "double_backprop")
    errors = {}
    for step in steps:
        update = _update(model_name, "finite_difference", step)
        errors[str(step)] = float(np.linalg.norm(update - exact) / np.linalg.norm(exact))
    return {"device": common.device_name(), "relative_error": errors}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=list(common.BACKENDS), choices=common.BACKENDS)
    parser.add_argument("--models", nargs="+", default=["small_cnn"], choices=list(step_overhead.MODELS))
    parser.add_argument("--steps", nargs="+", type=float, default=[1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4])
    parser.add_argument("--output", default=os.path.join(HERE, "results", "finite_difference_error.json"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.steps) <= 0:
        parser.error(f"expected --steps > 0, received {args.steps}")
    if args.worker:
        (model_name,) = args.models
        print(json.dumps(worker(model_name, args.steps)))
        return
    rows = []
    for backend in args.backends:
        for model_name in args.models:
            result = common.run_worker(
                os.path.abspath(__file__), backend,
                ["--models", model_name, "--steps", *map(str, args.steps)],
            )
            row = {"backend": backend, "model": model_name, "device": result["device"]}
            row.update({f"h={k}": v for k, v in result["relative_error"].items()})
            rows.append(row)
            print(json.dumps(row), flush=True)
    columns = [("backend", "backend", "{}"), ("model", "model", "{}"), ("device", "device", "{}")] + [
        (f"h={step}", f"h = {step:g}", "{:.1e}") for step in args.steps
    ]
    print()
    print(common.markdown_table(rows, columns))
    common.write_json(args.output, {"environment": common.environment(), "rows": rows})
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
