"""The same weights on two backends give the same penalty and parameter gradients.

Each backend's run compares itself with the next one in the cycle
tensorflow -> torch -> jax -> tensorflow, computed in a subprocess, so the
three runs together compare every pair once.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import BACKEND
from parity_worker import parity_values

NEXT = {"tensorflow": "torch", "torch": "jax", "jax": "tensorflow"}


def _installed(name):
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _check_close(key, ours, theirs, other):
    """Relative error <= 1e-4, or an absolute 1e-6 where the true value is zero.

    A conv bias followed by BatchNorm has an exactly zero gradient, which
    backends return as 0 or as float noise around 1e-8.
    """
    difference = float(np.linalg.norm(ours - theirs))
    scale = max(float(np.linalg.norm(ours)), float(np.linalg.norm(theirs)))
    assert difference <= max(1e-4 * scale, 1e-6), (
        f"{key}: {BACKEND} vs {other} differ by {difference:.2e} (norm {scale:.2e})"
    )


def test_penalty_and_gradients_match_the_next_backend(tmp_path):
    other = NEXT[BACKEND]
    if not _installed(other):
        pytest.skip(f"{other} is not installed")
    out = tmp_path / f"{other}.npz"
    env = dict(os.environ, KERAS_BACKEND=other)
    worker = Path(__file__).with_name("parity_worker.py")
    subprocess.run([sys.executable, str(worker), str(out)], env=env, check=True, timeout=300)
    theirs = np.load(out)
    ours = parity_values()
    assert set(ours) == set(theirs.files)
    assert ours["penalty_hard"] > 0 and ours["penalty_two_source"] > 0
    for key, value in ours.items():
        _check_close(key, np.asarray(value), theirs[key], other)
