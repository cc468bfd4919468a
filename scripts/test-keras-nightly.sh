#!/usr/bin/env bash
# Runs the test suite against keras-nightly, in a second environment beside the README's.
#   bash scripts/test-keras-nightly.sh                 # all three backends
#   BACKENDS=torch bash scripts/test-keras-nightly.sh  # one
# The second environment (.venv-nightly) holds keras-nightly only, and reads
# every other package from .venv (made by scripts/test-all-backends.sh), so it
# takes megabytes, not gigabytes.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE="${VENV:-.venv}"
NIGHTLY="${NIGHTLY_VENV:-.venv-nightly}"
BACKENDS="${BACKENDS:-tensorflow torch jax}"
if [ ! -x "$BASE/bin/python" ]; then
  echo "!! expected the environment $BASE (run scripts/test-all-backends.sh first), found none" >&2
  exit 1
fi
if [ ! -x "$NIGHTLY/bin/python" ]; then
  "$BASE/bin/python" -m venv --without-pip "$NIGHTLY"
  base_site="$("$BASE/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  nightly_site="$("$NIGHTLY/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  # After the nightly's own packages: .venv's, with their .pth files (the editable install among them).
  echo "import site; site.addsitedir('$base_site')" > "$nightly_site/kpg_base_environment.pth"
fi
"$NIGHTLY/bin/python" -m pip install --quiet --upgrade --pre --no-deps keras-nightly
"$NIGHTLY/bin/python" -c "import keras, keras_provguide; print('keras', keras.__version__, 'from', keras.__file__)"
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONHASHSEED=0
status=0
for backend in $BACKENDS; do
  echo "=== keras-nightly, KERAS_BACKEND=$backend"
  KERAS_BACKEND="$backend" "$NIGHTLY/bin/python" -m pytest -p no:cacheprovider -q -n auto --maxprocesses=4 tests \
    || status=1
done
exit "$status"
