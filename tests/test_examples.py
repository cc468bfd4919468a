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


def test_from_fake_to_real_example():
    results = _load("from_fake_to_real").main(
        ["--configs", "ffr_groupdro", "ffr_dfr", "--synthetic-epochs", "1", "--real-epochs", "1"]
    )
    for result in results.values():
        assert 0.0 <= result["worst_group_accuracy"] <= result["balanced_group_accuracy"] <= 1.0
        assert result["selected_epoch"] in (0, 1)
    assert results["ffr_dfr"]["dfr_c"] > 0
