#!/usr/bin/env bash
# Runs the main example end to end on a fresh machine: Decoy digits, built
# offline from scikit-learn's digits. KERAS_BACKEND picks the backend (jax by
# default); its framework is installed (CPU-only pins).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
export KERAS_BACKEND="${KERAS_BACKEND:-jax}"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -c constraints-cpu.txt -e ".[$KERAS_BACKEND]"
TF_CPP_MIN_LOG_LEVEL=2 "$VENV/bin/python" examples/decoy_digits.py "$@"
