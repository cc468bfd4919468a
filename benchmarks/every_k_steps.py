"""Per-step times of guided steps under `penalty_every=2` against every-step guidance (one backend).

Issue 18 reported torch's penalised steps at `penalty_every=2` slower than
every-step guided ones (152 against 109 ms). This times, in one process and
interleaved, `small_cnn` with the auto path at `k = 1` and `k = 2` (its
penalised and plain steps apart) and a plain model; median of `--steps`.
Run it once as is and once with glibc's allocator told to keep freed memory
(`MALLOC_MMAP_THRESHOLD_=4000000000 MALLOC_TRIM_THRESHOLD_=8000000000`) to
see the cost of returning and re-faulting large buffers every step.

    KERAS_BACKEND=torch python benchmarks/every_k_steps.py
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import step_overhead  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--model", default="small_cnn", choices=list(step_overhead.MODELS))
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"expected --steps >= 1, received {args.steps}")
    import keras
    import numpy as np

    mode = "forward_over_reverse" if keras.backend.backend() == "jax" else "double_backprop"
    guided = {k: step_overhead.build_step(args.model, mode, penalty_every=k) for k in (1, 2)}
    plain = step_overhead.build_step(args.model, "plain")
    for _ in range(4):
        for model, x, y in [*guided.values(), plain]:
            model.train_on_batch(x, y)
    times = {"k1": [], "k2_penalised": [], "k2_plain": [], "plain": []}
    for _ in range(args.steps):
        for k, (model, x, y) in guided.items():
            due = k == 1 or int(keras.ops.convert_to_numpy(model.optimizer.iterations)) % k == 0
            start = time.perf_counter()
            model.train_on_batch(x, y)
            times["k1" if k == 1 else "k2_penalised" if due else "k2_plain"].append(time.perf_counter() - start)
        model, x, y = plain
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times["plain"].append(time.perf_counter() - start)
    print(json.dumps({
        "backend": keras.backend.backend(), "model": args.model, "path": mode,
        "malloc_mmap_threshold": os.environ.get("MALLOC_MMAP_THRESHOLD_"),
        "median_ms": {key: round(1e3 * float(np.median(value)), 1) for key, value in times.items()},
    }))


if __name__ == "__main__":
    main()
