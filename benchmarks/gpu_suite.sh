#!/usr/bin/env bash
# The GPU timing suite in one command, on a machine with an NVIDIA GPU:
# a fresh virtual environment with CUDA builds of torch, JAX and TensorFlow,
# then step_overhead.py (small_cnn, resnet18_224, resnet50_224; every
# second-order path; float32 and mixed_float16; penalty every 1 and 4 steps)
# and epoch_overhead.py (both recipe models at 224x224; k = 1 and 4; float32
# and mixed_float16). Each run writes its JSON and Markdown under
# benchmarks/results/gpu/, named by its settings.
#
#   bash benchmarks/gpu_suite.sh                 # install into .venv-gpu, then run everything
#   bash benchmarks/gpu_suite.sh --skip-install  # use .venv-gpu (or $VENV) as it is
#   bash benchmarks/gpu_suite.sh --dry-run       # print every command, run none; check the
#                                                # benchmarks' arguments with .venv's python
#
# Settings: VENV (default .venv-gpu), TORCH_CUDA (the PyTorch wheel index's
# CUDA tag, default cu128), CHECK_PYTHON (the python --dry-run checks
# arguments with, default .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."

dry_run=0
skip_install=0
for argument in "$@"; do
  case "$argument" in
    --dry-run) dry_run=1 ;;
    --skip-install) skip_install=1 ;;
    *) echo "gpu_suite.sh: expected --dry-run or --skip-install, received $argument" >&2; exit 2 ;;
  esac
done

VENV="${VENV:-.venv-gpu}"
PY="$VENV/bin/python"
OUT=benchmarks/results/gpu
# The torch the project pins (constraints-cpu.txt), as a CUDA build.
TORCH_VERSION="$(sed -n 's/^torch==//p' constraints-cpu.txt)"
TORCH_INDEX="https://download.pytorch.org/whl/${TORCH_CUDA:-cu128}"
backends=(tensorflow torch jax)

say() {  # A command as it is (or would be) run, quoted for a shell.
  printf '+'
  printf ' %q' "$@"
  printf '\n'
}

run() {  # Prints a command, and runs it unless --dry-run.
  say "$@"
  if [ "$dry_run" -eq 0 ]; then
    "$@"
  fi
}

install() {
  run python3 -m venv "$VENV"
  run "$PY" -m pip install --upgrade pip
  run "$PY" -m pip install "torch==$TORCH_VERSION" --index-url "$TORCH_INDEX"
  run "$PY" -m pip install -e .
  run "$PY" -m pip install "jax[cuda12]"
  # TensorFlow's CUDA wheels pin their own CUDA libraries, and may not
  # install beside torch's and JAX's: without them the suite goes on with
  # torch and JAX, and CPU TensorFlow still reads the input pipelines (tf.data).
  if ! run "$PY" -m pip install "tensorflow[and-cuda]"; then
    echo "!! tensorflow[and-cuda] did not install: no TensorFlow GPU rows;" \
      "installing CPU TensorFlow for tf.data" >&2
    run "$PY" -m pip install tensorflow-cpu
  fi
}

gpu_backends() {  # The backends that see a GPU in $VENV, each in its own process.
  local found=()
  for backend in "${backends[@]}"; do
    device="$(KERAS_BACKEND="$backend" TF_CPP_MIN_LOG_LEVEL=2 "$PY" -c \
      'import sys; sys.path.insert(0, "benchmarks"); import common; print(common.device_name())' 2>/dev/null \
      | tail -n 1 || true)"
    if [ -n "$device" ] && [ "$device" != "cpu" ]; then
      echo "$backend sees $device" >&2
      found+=("$backend")
    else
      echo "!! $backend sees no GPU in $VENV: no $backend rows" >&2
    fi
  done
  echo "${found[@]}"
}

suite() {  # Every benchmark run, each handed to "$1" as: script, arguments.
  local each="$1" precision k
  for precision in float32 mixed_float16; do
    for k in 1 4; do
      "$each" benchmarks/step_overhead.py --backends "${backends[@]}" \
        --models small_cnn resnet18_224 resnet50_224 --precision "$precision" --penalty-every "$k" \
        --output "$OUT/step_overhead_${precision}_every${k}.json" \
        --markdown "$OUT/step_overhead_${precision}_every${k}.md"
    done
  done
  for precision in float32 mixed_float16; do
    "$each" benchmarks/epoch_overhead.py --backends "${backends[@]}" \
      --models vgg16_gap_cam resnet50_classifier --image-size 224 --batch-size 32 --images 1024 \
      --penalty-every 1 4 --precision "$precision" \
      --output "$OUT/epoch_overhead_${precision}_224.json"
  done
}

failed=()
benchmark() {  # Runs one benchmark; a failure is reported at the end, and the others still run.
  say "$PY" "$@"
  "$PY" "$@" || failed+=("$*")
}

show() {
  say "$PY" "$@"
}

check() {  # Parses and validates the arguments only.
  "${CHECK_PYTHON:-.venv/bin/python}" "$@" --check-args
}

if [ "$dry_run" -eq 1 ]; then
  if [ "$skip_install" -eq 0 ]; then
    install
  fi
  suite show
  echo "=== checking each benchmark's arguments (--check-args)"
  suite check
  exit 0
fi

if [ "$skip_install" -eq 0 ]; then
  install
fi
read -r -a backends <<<"$(gpu_backends)"
if [ "${#backends[@]}" -eq 0 ]; then
  echo "!! no backend sees a GPU in $VENV: nothing to time" >&2
  exit 1
fi
mkdir -p "$OUT"
export TF_CPP_MIN_LOG_LEVEL=2
suite benchmark
if [ "${#failed[@]}" -gt 0 ]; then
  printf '!! failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "wrote $OUT/"
