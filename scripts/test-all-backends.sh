#!/usr/bin/env bash
# Runs the whole test suite on TensorFlow, PyTorch and JAX, each backend in its
# own process, from a fresh virtual environment (CPU-only pins).
#   bash scripts/test-all-backends.sh            # all three backends
#   BACKENDS="jax torch" bash scripts/test-all-backends.sh
#   MIN_FREE_MB=3000 bash scripts/test-all-backends.sh   # the free-disk bar for a new .venv
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
BACKENDS="${BACKENDS:-tensorflow torch jax}"

if [ ! -x "$VENV/bin/python" ]; then
  # A fresh environment takes about 3.6 GB (TensorFlow 1.3, PyTorch 0.75,
  # JAX 0.35, the rest 1.2; measured 2026-11-24): refuse at once, with the
  # numbers, rather than fail mid-install with a half-written environment.
  need_mb="${MIN_FREE_MB:-3800}"
  read -r free_mb mount < <(df -Pm "$(dirname "$VENV")" | awk 'NR == 2 {print $4, $6}')
  if [ -n "$free_mb" ] && [ "$free_mb" -lt "$need_mb" ]; then
    echo "!! expected at least ${need_mb} MB free for the virtual environment $VENV," \
      "found ${free_mb} MB on ${mount};" \
      "free some space or set VENV to a path on a larger disk" >&2
    exit 1
  fi
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -c constraints-cpu.txt -e ".[all,keras-cv,docs]"
# KerasHub declares tensorflow-text, which pulls the full `tensorflow` beside
# tensorflow-cpu; its image backbones need neither, so it goes in without its
# declared dependencies, and with the ones its import needs.
"$VENV/bin/python" -m pip install --quiet --no-deps "keras-hub==0.32.0"
"$VENV/bin/python" -m pip install --quiet -c constraints-cpu.txt tokenizers sentencepiece regex rich kagglehub

# KPG_STRICT_SKIPS=1: a skip not on tests/allowed_skips.json fails the backend.
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONHASHSEED=0 KPG_STRICT_SKIPS=1
reports="$(mktemp -d)"
# JAX compiles the same small programs in many tests: one persistent compilation
# cache per run, empty at its start, shared by the pytest workers and the
# subprocesses they start (on two files it took 20% off JAX's time, 2026-12-06).
export JAX_COMPILATION_CACHE_DIR="$reports/jax-cache" JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
# Each worker's OpenMP pool gets its share of the cores: with two workers on two
# cores, torch's default (a thread per core in each worker) oversubscribes them,
# and tests/test_examples.py took 55 s instead of 31 (TensorFlow and JAX
# unchanged; 2 cores, 2026-12-07). An OMP_NUM_THREADS already set is kept.
cores="$(nproc 2>/dev/null || echo 2)"
workers=$(( cores < 4 ? cores : 4 ))
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(( cores / workers ))}"
status=0
echo "=== ruff check (pyproject.toml's [tool.ruff])"
lint="passed"
"$VENV/bin/ruff" check . || { status=1; lint="FAILED"; }
docs="passed"
echo "=== mkdocs build --strict (mkdocs.yml)"
NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true "$VENV/bin/mkdocs" build --strict --quiet \
  --site-dir "$reports/site" || { status=1; docs="FAILED"; }
for backend in $BACKENDS; do
  echo "=== KERAS_BACKEND=$backend"
  rc=0
  # Two workers (or as many as cores, up to 4): compilation is single-threaded,
  # so two processes on two cores finish a backend in about 60% of the time.
  KERAS_BACKEND="$backend" "$VENV/bin/python" -m pytest -p no:cacheprovider --durations=30 \
    -n auto --maxprocesses=4 \
    --junitxml="$reports/$backend.xml" tests || rc=$?
  if [ "$rc" -eq 5 ]; then
    echo "!! pytest collected no tests on $backend" >&2
    status=1
  elif [ "$rc" -ne 0 ]; then
    status=1
  fi
done

"$VENV/bin/python" - "$reports" "$lint" "$docs" $BACKENDS <<'PY'
import sys, xml.etree.ElementTree as ET
folder, lint, docs, backends = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
print(f"ruff check: {lint}; mkdocs build --strict: {docs}")
total = {"passed": 0, "failed": 0, "skipped": 0}
for backend in backends:
    try:
        suite = ET.parse(f"{folder}/{backend}.xml").getroot().find("testsuite")
    except (OSError, ET.ParseError):
        total["failed"] += 1
        print(f"{backend}: no report")
        continue
    tests, skipped = int(suite.get("tests")), int(suite.get("skipped"))
    failed = int(suite.get("failures")) + int(suite.get("errors"))
    print(f"{backend}: {tests - failed - skipped} passed, {failed} failed, {skipped} skipped")
    total["passed"] += tests - failed - skipped
    total["failed"] += failed
    total["skipped"] += skipped
print(f"all backends: {total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped")
PY
if [ "$status" -ne 0 ]; then
  echo "!! CI failed: see 'ruff check', 'mkdocs build' and the backends above" >&2
fi
exit "$status"
