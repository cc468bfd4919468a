"""The README's usage example and set-up scripts behave as written."""

import os
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_usage_example_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    usage = blocks[0]
    assert len(usage.strip().splitlines()) <= 12
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(usage, str(README), "exec"), namespace)
    assert (tmp_path / "guided.keras").exists()
    history = namespace["model"].history.history
    assert {"loss", "guidance_penalty", "accuracy"} <= set(history)


def test_test_script_refuses_a_disk_too_small_for_its_environment(tmp_path):
    import shutil
    import subprocess

    script = tmp_path / "scripts" / "test-all-backends.sh"
    script.parent.mkdir()
    shutil.copy(README.parent / "scripts" / "test-all-backends.sh", script)
    env = dict(os.environ, MIN_FREE_MB=str(2**40), VENV=str(tmp_path / "venv"))
    completed = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 1
    assert f"expected at least {2**40} MB free for the virtual environment" in completed.stderr
    assert "found " in completed.stderr and " MB on /" in completed.stderr
    assert not (tmp_path / "venv").exists()  # Refused before anything was written.
