"""The examples run end to end (with fewer epochs) on the active backend."""

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_decoy_digits_example(tmp_path, capsys):
    results = _load("decoy_digits").main(["--epochs", "3", "--output-dir", str(tmp_path)])
    assert (tmp_path / "decoy_digits_guided.keras").exists()
    assert "reloaded predictions identical: True" in capsys.readouterr().out
    assert results["guided"][1] < results["plain"][1]


def test_folder_to_guided_fit_example(tmp_path):
    results = _load("folder_to_guided_fit").main(
        ["--epochs", "1", "--num-train", "120", "--data-dir", str(tmp_path), "--loader", "tf.data"]
    )
    assert sorted(results["class_names"]) == [str(d) for d in range(10)]
    assert len(list((tmp_path / "masks").rglob("*.png"))) == 120
    assert results["history"]["guidance_penalty"][0] > 0
    assert 0.0 <= results["accuracy"] <= 1.0
