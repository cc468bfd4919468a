"""The benchmark code runs on the active backend (tiny settings; no timing asserted)."""

import argparse
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))

import common  # noqa: E402
import spurious_digits  # noqa: E402
import step_overhead  # noqa: E402


def test_step_overhead_worker_times_every_mode():
    result = step_overhead.timing_worker("small_cnn", steps=1, warmup=0)
    assert set(result["median_ms"]) == set(step_overhead.MODES)
    assert all(t > 0 for t in result["median_ms"].values())
    assert result["device"] == "cpu" or result["device"]


def test_resnet18_has_the_resnet18_layout():
    model = step_overhead.build_model("resnet18")
    assert model.output_shape == (None, step_overhead.NUM_CLASSES)
    assert len([l for l in model.layers if "add" in l.name]) == 8  # 2-2-2-2 basic blocks.
    convs = [l for l in model.layers if isinstance(l, __import__("keras").layers.Conv2D)]
    assert [c.filters for c in convs if c.kernel_size == (3, 3)][-1] == 512


def test_results_are_written_atomically(tmp_path):
    path = os.path.join(tmp_path, "out", "r.json")
    common.write_json(path, {"rows": [1]})
    assert json.load(open(path)) == {"rows": [1]}

    class Unserializable:
        pass

    with pytest.raises(TypeError):
        common.write_json(path, {"rows": Unserializable()})
    assert json.load(open(path)) == {"rows": [1]}  # The old file is intact.
    assert os.listdir(os.path.dirname(path)) == ["r.json"]  # No temporary file left.


def test_markdown_table_formats_and_marks_missing():
    table = common.markdown_table([{"a": 1.234, "b": None}], [("a", "A", "{:.1f}"), ("b", "B", "{}")])
    assert table.splitlines() == ["| A | B |", "|---|---|", "| 1.2 | – |"]


def test_bad_arguments_exit_with_a_message(capsys):
    with pytest.raises(SystemExit):
        step_overhead.main(["--steps", "0"])
    assert "--steps >= 1" in capsys.readouterr().err


def test_spurious_digits_summary_is_mean_and_std_over_seeds():
    runs = [
        {"results": {"ffr": {"worst_group_accuracy": w, "accuracy": 0.9, "seconds": 1.0,
                             "after_synthetic_worst_group_accuracy": None}}}
        for w in (0.5, 0.7)
    ]
    (row,) = spurious_digits.summarise(runs, "jax", ["ffr"])
    assert (row["wga"], row["wga_std"], row["seeds"]) == (pytest.approx(0.6), pytest.approx(0.1), 2)
    assert row["wga_text"] == "0.600 ± 0.100" and row["pre"] is None


def test_spurious_digits_worker_runs_a_configuration():
    args = argparse.Namespace(
        bias=0.95, synthetic_epochs=1, real_epochs=1, guidance_weight=1.0
    )
    result = spurious_digits.worker(0, ["ffr"], args)
    ffr = result["results"]["ffr"]
    assert 0.0 <= ffr["worst_group_accuracy"] <= ffr["accuracy"] <= 1.0
    assert 0.0 <= ffr["after_synthetic_worst_group_accuracy"] <= 1.0


def test_spurious_digits_bad_arguments_exit_with_a_message(capsys):
    with pytest.raises(SystemExit):
        spurious_digits.main(["--bias", "1.0"])
    assert "--bias in [0.5, 1)" in capsys.readouterr().err
