"""The README's usage example runs as written."""

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
