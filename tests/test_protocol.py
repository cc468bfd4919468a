"""The evidence protocol (`benchmarks/protocol.py`): what it selects, counts and pairs, on known numbers."""

import importlib
import json
import os
import sys
import textwrap

import numpy as np
import pytest

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "benchmarks")
sys.path.insert(0, BENCHMARKS)

import protocol  # noqa: E402

SEARCH = protocol.SEARCH_SEED


def _family(**changes):
    options = dict(
        name="toy",
        grids={
            "base": protocol.Grid("learning_rate", (0.1, 0.2, 0.3)),
            "method": protocol.Grid("guidance_weight", (1.0, 2.0, 3.0)),
            "ablation": protocol.Grid("guidance_weight", (1.0, 2.0, 3.0)),
        },
        metric="score",
        comparisons=(("method", "base"), ("method", "ablation")),
        labels={"base": "base", "method": "method", "ablation": "ablation"},
        controls=(("ablation", "base"),),
        full_grid=("method",),
        eval_seeds=(0, 1, 2, 3),
    )
    options.update(changes)
    return protocol.Family(**options)


def test_unequal_grids_overlapping_seeds_and_unknown_pairs_are_refused():
    with pytest.raises(ValueError, match="equal size"):
        _family(grids={"base": protocol.Grid("learning_rate", (0.1,)),
                       "method": protocol.Grid("guidance_weight", (1.0, 2.0))},
                comparisons=())
    with pytest.raises(ValueError, match="disjoint from the search seed"):
        _family(eval_seeds=(0, SEARCH))
    with pytest.raises(ValueError, match="configurations of"):
        _family(comparisons=(("method", "missing"),))
    with pytest.raises(ValueError, match="grid over one of"):
        protocol.Grid("momentum", (0.9,))
    with pytest.raises(ValueError, match="distinct"):
        protocol.Grid("learning_rate", (0.1, 0.1))


def test_every_configuration_gets_the_same_number_of_search_trials():
    family = _family()
    trials = protocol.search_trials(family)
    counts = {config: sum(c == config for _, c, _ in trials) for config in family.grids}
    assert counts == {"base": 3, "method": 3, "ablation": 3}
    assert {seed for seed, _, _ in trials} == {SEARCH}


def test_the_choice_is_the_best_validation_value_and_ties_go_to_the_earlier_one():
    grid = protocol.Grid("guidance_weight", (1.0, 2.0, 3.0))
    assert protocol.choose(grid, {1.0: 0.5, 2.0: 0.7, 3.0: 0.6}) == 2.0
    assert protocol.choose(grid, {1.0: 0.7, 2.0: 0.7, 3.0: 0.6}) == 1.0
    assert protocol.choose(grid, {1.0: 0.7, 3.0: 0.9}) is None  # an unfinished search chooses nothing


def test_evaluation_runs_the_chosen_value_and_the_full_grid_where_asked():
    family = _family()
    trials = protocol.evaluation_trials(family, {"base": 0.2, "method": 3.0, "ablation": 1.0}, [0, 1])
    assert sorted(t for t in trials if t[1] == "base") == [(0, "base", 0.2), (1, "base", 0.2)]
    assert sorted(v for s, c, v in trials if c == "method" and s == 0) == [1.0, 2.0, 3.0]
    assert (0, protocol.PROBE, None) in trials and (1, protocol.PROBE, None) in trials


def test_paired_differences_give_students_t_interval_and_signs():
    stats = protocol.paired([0.1, 0.2, 0.3, 0.0])
    # mean 0.15, sd 0.1291, t(0.975, 3) = 3.18245
    half = 3.182446305 * np.std([0.1, 0.2, 0.3, 0.0], ddof=1) / 2
    assert stats["mean"] == pytest.approx(0.15)
    assert (stats["low"], stats["high"]) == (pytest.approx(0.15 - half), pytest.approx(0.15 + half))
    assert (stats["above"], stats["level"], stats["below"]) == (3, 1, 0)
    assert protocol.verdict(stats) == "tie (interval holds 0)"  # low = 0.15 - 0.205 < 0
    assert protocol.verdict(protocol.paired([0.1, 0.2, 0.3, 0.15])) == "reproduced"
    assert protocol.verdict(protocol.paired([0.1, -0.1, 0.05])) == "tie (interval holds 0)"
    assert protocol.verdict(protocol.paired([-0.1, -0.2, -0.15])) == "reversed"


def _record(seed, config, value, score, val):
    return {"backend": "jax", "settings": {"n": 1}, "seed": seed, "config": config, "value": value,
            "metrics": {"score": score, "val_score": val}, "seconds": 1.0, "device": "cpu",
            "date": "2026-12-05"}


def test_summary_selects_on_the_search_seed_and_reports_only_evaluation_seeds(tmp_path):
    family = _family(eval_seeds=(0, 1, 2))
    store = protocol.Store(str(tmp_path / "toy.jsonl"))
    # The search: base prefers 0.3, method 2.0, ablation 1.0 (validation only).
    for config, vals in (("base", (0.1, 0.2, 0.3)), ("method", (0.2, 0.9, 0.1)), ("ablation", (0.5, 0.4, 0.3))):
        for value, val in zip(family.grids[config].values, vals):
            store.add(_record(SEARCH, config, value, 99.0, val))
    for seed in (0, 1, 2):
        store.add(_record(seed, "base", 0.3, 0.5 + 0.01 * seed, 0.0))
        store.add(_record(seed, "base", 0.1, 0.9, 0.0))  # not the chosen rate: not in the rows
        for value in (1.0, 2.0, 3.0):
            store.add(_record(seed, "method", value, 0.6 + 0.1 * value, 0.0))
        store.add(_record(seed, "ablation", 1.0, 0.55, 0.0))
    summary = protocol.summarise(family, store, "jax", {"n": 1})
    assert summary["chosen"] == {"base": 0.3, "method": 2.0, "ablation": 1.0}
    rows = {row["config"]: row for row in summary["rows"]}
    assert rows["base"]["mean"] == pytest.approx(0.51) and rows["base"]["seeds"] == 3
    assert rows["method"]["mean"] == pytest.approx(0.8)
    first = summary["comparisons"][0]
    assert (first["method"], first["reference"]) == ("method", "base")
    assert first["per_seed"] == [0.3, 0.29, 0.28] and first["verdict"] == "reproduced"
    assert [row["value"] for row in summary["fixed"]] == [1.0, 2.0, 3.0]  # method's every weight
    # Each fixed weight is paired with method's first reference, base at its chosen 0.3 (0.50-0.52).
    weight_one = summary["fixed"][0]
    assert weight_one["reference"] == "base"
    assert weight_one["difference"]["per_seed"] == [0.2, 0.19, 0.18]
    assert summary["controls"][0]["mean"] == pytest.approx(0.04)
    assert all(row["value"] != 99.0 for row in summary["rows"])  # the search seed's test is never read
    # A choice at either end of its grid is marked: the best value may lie beyond it.
    text = protocol.report(family, [summary])
    assert "| jax | base | learning rate 0.3 | 0.300 | chosen: the grid's highest |" in text
    assert "| jax | method | guidance weight 2 | 0.900 | chosen |" in text
    assert ("| jax | method | guidance weight 3 | 3 | 0.900 [0.900, 0.900] "
            "| − base: +0.390 [+0.365, +0.415] (3 seeds) |") in text
    assert "| jax | ablation | guidance weight 1 | 0.500 | chosen: the grid's lowest |" in text
    assert text.rstrip().endswith("may lie beyond the grid: ablation (jax), base (jax).")


def test_store_resumes_and_skips_a_torn_last_line(tmp_path):
    path = tmp_path / "toy.jsonl"
    store = protocol.Store(str(path))
    store.add(_record(0, "base", 0.1, 0.5, 0.4))
    with open(path, "a") as file:
        file.write('{"backend": "jax", "settin')  # a crash mid-write
    again = protocol.Store(str(path))
    assert again.get("jax", {"n": 1}, 0, "base", 0.1)["metrics"]["score"] == 0.5
    assert protocol.pending(again, "jax", {"n": 1}, [(0, "base", 0.1), (1, "base", 0.1)]) == [(1, "base", 0.1)]
    assert protocol.pending(again, "jax", {"n": 2}, [(0, "base", 0.1)]) == [(0, "base", 0.1)]


def test_search_trials_are_stored_without_test_metrics():
    record = {"seed": SEARCH, "metrics": {"score": 0.9, "val_score": 0.8}}
    assert protocol.hide_search_test(record)["metrics"] == {"val_score": 0.8}
    evaluation = {"seed": 0, "metrics": {"score": 0.9, "val_score": 0.8}}
    assert protocol.hide_search_test(evaluation) == evaluation


TOY_FAMILY = '''
"""A toy family: scores are a fixed function of the trial, so the protocol's choices are known."""
import sys
sys.path.insert(0, {benchmarks!r})
import protocol

FAMILY = protocol.Family(
    name="toy",
    grids={{"base": protocol.Grid("learning_rate", (0.1, 0.2)),
            "method": protocol.Grid("guidance_weight", (1.0, 2.0))}},
    metric="score", comparisons=(("method", "base"),), labels={{"base": "base", "method": "method"}},
    eval_seeds=(0, 1, 2), settings={{"size": 3}}, controls={controls}, main_backend="jax", {extra}
)


def worker_trials(trials, settings):
    for seed, config, value, options in trials:
        if config == protocol.PROBE:
            metrics = {{"probe": "toy", "train_accuracy": 1.0, "test_accuracy": 0.5, "chance": 0.5}}
        else:
            score = (0.6 if config == "method" else 0.5) + 0.01 * seed + (0.1 if value in (0.2, 1.0) else 0.0)
            # A rate passed on (the baseline's choice) changes the method's score.
            score += 0.05 * (options.get("learning_rate", 0.1) == 0.2)
            metrics = {{"score": score, "val_score": score, "rate": options.get("learning_rate", 0.1)}}
        yield {{"seed": seed, "config": config, "value": value, "metrics": metrics, "seconds": 0.0,
               "device": "cpu", "date": "2026-12-05"}}


if __name__ == "__main__":
    protocol.main(sys.modules[__name__])
'''


def _toy_family(tmp_path, monkeypatch, name, controls=(), extra=""):
    """`TOY_FAMILY` written to `tmp_path/<name>.py` with its `controls` and `extra` fields, imported."""
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(TOY_FAMILY.format(
        benchmarks=os.path.abspath(BENCHMARKS), controls=controls, extra=extra)))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)  # Never another test's toy of the same name.
    return importlib.import_module(name)


def test_a_whole_run_gives_equal_trials_reports_intervals_and_resumes(tmp_path, monkeypatch):
    toy_family = _toy_family(tmp_path, monkeypatch, "toy_family")

    output = str(tmp_path / "toy.jsonl")
    (summary,) = protocol.main(toy_family, ["--backends", "jax", "--output", output])
    records = [json.loads(line) for line in open(output)]
    search = [r for r in records if r["seed"] == SEARCH]
    assert sorted((r["config"], r["value"]) for r in search) == [
        ("base", 0.1), ("base", 0.2), ("method", 1.0), ("method", 2.0)]
    assert all(set(r["metrics"]) == {"val_score"} for r in search)
    assert summary["chosen"] == {"base": 0.2, "method": 1.0}
    (difference,) = summary["comparisons"]
    assert difference["per_seed"] == [0.1, 0.1, 0.1] and difference["verdict"] == "reproduced"
    assert summary["probes"][0]["test_accuracy"] == 0.5
    markdown = open(str(tmp_path / "toy.md")).read()
    assert "Positive control 1" in markdown and "+0.100 [+0.100, +0.100] (3 seeds)" in markdown
    from PIL import Image

    with Image.open(str(tmp_path / "toy.png")) as picture:  # The figure of the selected results.
        assert picture.format == "PNG" and picture.size[0] > 300
    # Resumed: nothing is trained again.
    protocol.main(toy_family, ["--backends", "jax", "--output", output])
    assert len(open(output).readlines()) == len(records)


def test_a_report_of_an_empty_store_is_not_written(tmp_path, capsys, monkeypatch):
    toy_empty = _toy_family(tmp_path, monkeypatch, "toy_empty")

    assert protocol.main(toy_empty, ["--report-only", "--output", str(tmp_path / "never.jsonl")]) == []
    assert "holds no trial" in capsys.readouterr().out
    assert not any(name.startswith("never") for name in os.listdir(tmp_path))


def test_the_search_seed_is_refused_as_an_evaluation_seed(tmp_path, capsys, monkeypatch):
    toy_family2 = _toy_family(tmp_path, monkeypatch, "toy_family2")

    with pytest.raises(SystemExit):
        protocol.main(toy_family2, ["--seeds", str(SEARCH), "--output", str(tmp_path / "x.jsonl")])
    assert "without the search seed" in capsys.readouterr().err


def test_failed_positive_controls_stop_the_run_before_any_other_configuration(tmp_path, monkeypatch):
    # The toy's "base" scores 0.1 below "method" on every seed, so "base over
    # method" as the synthesis control fails, and "method" must never train.
    toy_family3 = _toy_family(tmp_path, monkeypatch, "toy_family3", controls=(("base", "base"),))

    output = str(tmp_path / "toy.jsonl")
    with pytest.raises(SystemExit, match="positive controls failed"):
        protocol.main(toy_family3, ["--backends", "jax", "--output", output])
    configs = {json.loads(line)["config"] for line in open(output)}
    assert configs == {"base", protocol.PROBE}
    # The failure is reported like any result.
    assert "| fails |" in open(str(tmp_path / "toy.md")).read()


def test_a_control_short_of_its_planned_seeds_is_running_not_passed(tmp_path, monkeypatch):
    toy_family4 = _toy_family(tmp_path, monkeypatch, "toy_family4", controls=(("method", "base"),))

    (summary,) = protocol.main(toy_family4, ["--backends", "jax", "--output", str(tmp_path / "toy.jsonl")])
    assert "| passes |" in open(str(tmp_path / "toy.md")).read()
    (control,) = summary["controls"]
    early = protocol.report(toy_family4.FAMILY, [dict(summary, controls=[dict(control, seeds=1)])])
    assert "running (1 of 3 seeds)" in early and "| passes |" not in early


BACKEND_TOY = '''
"""A toy whose synthesis gains {gains} (per seed) on torch and 0.1 on TensorFlow, its main backend."""
import os
import sys
sys.path.insert(0, {benchmarks!r})
import protocol

FAMILY = protocol.Family(
    name="toy", grids={{"base": protocol.Grid("learning_rate", (0.1,)), "synth": protocol.Grid("learning_rate", (0.1,)),
                       "method": protocol.Grid("guidance_weight", (1.0,))}},
    metric="score", comparisons=(("method", "synth"),), controls=(("synth", "base"),),
    labels={{"base": "base", "synth": "synth", "method": "method"}}, eval_seeds=tuple(range(10)),
)


def worker_trials(trials, settings):
    gains = {gains} if os.environ["KERAS_BACKEND"] == "torch" else [0.1] * 10
    for seed, config, value, options in trials:
        if config == protocol.PROBE:
            metrics = {{"probe": "toy", "train_accuracy": 1.0, "test_accuracy": 0.5, "chance": 0.5}}
        else:
            score = 0.5 + 0.01 * seed + {{"base": 0.0, "synth": gains[seed % len(gains)], "method": 0.3}}[config]
            metrics = {{"score": score, "val_score": score}}
        yield {{"seed": seed, "config": config, "value": value, "metrics": metrics, "seconds": 0.0}}


if __name__ == "__main__":
    protocol.main(sys.modules[__name__])
'''


@pytest.mark.parametrize("gains, trains_the_method", [
    ([0.2, -0.1, 0.05], True),  # A tie on 3 seeds: the main backend's 10 judge the construction.
    ([-0.1, -0.12, -0.08], False),  # Wholly below zero: the synthesis hurts on this backend.
])
def test_another_backend_fails_a_control_only_where_it_lies_wholly_below_zero(
        tmp_path, monkeypatch, gains, trains_the_method):
    name = "toy_backends" + ("_tie" if trains_the_method else "_loss")
    (tmp_path / f"{name}.py").write_text(BACKEND_TOY.format(benchmarks=os.path.abspath(BENCHMARKS), gains=gains))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    toy = importlib.import_module(name)
    output = str(tmp_path / "toy.jsonl")
    # The main backend's controls come first: without them the other backend stops after its own.
    with pytest.raises(SystemExit, match="controls on tensorflow, the main backend, are not complete"):
        protocol.main(toy, ["--backends", "torch", "--output", output])
    protocol.main(toy, ["--backends", "tensorflow", "--output", output])
    if trains_the_method:
        summaries = protocol.main(toy, ["--backends", "torch", "--output", output])
        (torch,) = [s for s in summaries if s["backend"] == "torch"]
        (control,) = torch["controls"]
        assert control["low"] < 0 < control["high"] and torch["control_rule"] == "not_below"
        assert [c["seeds"] for c in torch["comparisons"]] == [3]
        markdown = open(str(tmp_path / "toy.md")).read()
        assert "| torch | synth − base |" in markdown and "wholly below zero (protocol rule 6)" in markdown
    else:
        with pytest.raises(SystemExit, match="synth - base"):
            protocol.main(toy, ["--backends", "torch", "--output", output])
        torch_configs = {json.loads(line)["config"] for line in open(output)
                         if json.loads(line)["backend"] == "torch"}
        assert "method" not in torch_configs
    # The same tie judged on the main backend, by its own rule, fails.
    tie = dict(protocol.paired([0.2, -0.1, 0.05]), method="synth", reference="base")
    main_summary = {"backend": "tensorflow", "probes": [], "controls": [tie], "control_rule": "above"}
    assert protocol.control_failures(toy.FAMILY, main_summary)


def test_failed_controls_name_the_probe_and_each_control_interval():
    summary = {
        "probes": [{"train_accuracy": 0.6, "test_accuracy": 0.55, "chance": 0.5}],
        "controls": [dict(protocol.paired([0.01, -0.02, 0.0]), method="alia", reference="erm")],
    }
    failed = protocol.failed_controls(summary)
    assert failed[0].startswith("shortcut probe train 0.600") and failed[1].startswith("alia - erm")
    summary = {"probes": [{"train_accuracy": 0.95, "test_accuracy": 0.5, "chance": 0.5}],
               "controls": [dict(protocol.paired([0.1, 0.2, 0.15]), method="alia", reference="erm")]}
    assert protocol.failed_controls(summary) == []


def test_the_compute_counts_trained_trials_and_leaves_copies_to_their_source(tmp_path, monkeypatch):
    import summary

    trained = [dict(_record(0, "base", 0.1, 0.5, 0.4), seconds=1800.0),
               dict(_record(1, "base", 0.1, 0.5, 0.4), seconds=900.0, date="2026-12-07")]
    copied = dict(_record(2, "base", 0.1, 0.5, 0.4), seconds=5000.0, copied_from="source.jsonl")
    cost = protocol.compute(trained + [copied])
    assert cost == {"trained": 2, "copied": 1, "seconds": 2700.0, "devices": ["cpu"],
                    "first": "2026-12-05", "last": "2026-12-07"}
    assert protocol.compute_text(cost) == (
        "2 trials trained, 0.8 h summed over trials on cpu, 2026-12-05 to 2026-12-07; 1 copied from an earlier store")
    store = protocol.Store(str(tmp_path / "toy.jsonl"))
    for record in trained + [copied]:
        store.add(record)
    text = protocol.report(_family(), [protocol.summarise(_family(), store, "jax", {"n": 1})])
    assert "- jax: 2 trials trained, 0.8 h summed over trials" in text
    # The summary's table of time per family reads the same figures back from the stored report.
    family = summary.family_of("decoy_ablations", None)
    stored = {"summaries": [{"backend": "jax", "compute": cost}]}
    (tmp_path / f"{family.name}.json").write_text(json.dumps(stored))
    (row,) = summary.costs_of("decoy_ablations", None, results=str(tmp_path))
    assert row == {"family": family.name, "backend": "jax", "trained": 2, "hours": 0.75, "copied": 1,
                   "dates": "2026-12-05 to 2026-12-07"}


def test_both_readmes_carry_the_tables_generated_from_the_stored_results():
    import summary

    for path, block, markers in ((summary.BENCHMARKS_README, summary.table(), (summary.START, summary.END)),
                                 (summary.README, summary.headline(),
                                  (summary.HEADLINE_START, summary.HEADLINE_END))):
        with open(path) as file:
            text = file.read()
        assert summary.replace_between_markers(text, block, *markers) == text, (
            f"{path} is out of date: run `python benchmarks/summary.py --write-readmes`"
        )


def test_the_headline_keeps_a_failed_control_out_of_the_verdicts(tmp_path):
    import json

    import summary

    family = summary.family_of("edits_classification", None)
    stats = dict(protocol.paired([-0.05, -0.07, -0.06]), method="alia", reference="erm", verdict="reversed")
    guided = dict(protocol.paired([0.05, 0.07, 0.06]), method="guided", reference="alia", verdict="reproduced")
    stored = {"summaries": [{
        "backend": "jax", "rows": [{"config": c, "seeds": 3, "mean": 0.5} for c in ("erm", "alia", "guided")],
        "probes": [], "controls": [stats], "comparisons": [stats, guided]}]}
    (tmp_path / f"{family.name}.json").write_text(json.dumps(stored))
    rows = summary.headline(results=str(tmp_path))
    assert "| reversed |" in rows  # the control's own row keeps its verdict
    assert f"| {family.name} |" in rows  # each row names its family
    assert "not judged: its control fails" in rows and "| reproduced |" not in rows
    # Only the control ran: its row is shown, and the family's other figures wait on the construction.
    stored["summaries"][0]["comparisons"] = [stats]
    (tmp_path / f"{family.name}.json").write_text(json.dumps(stored))
    rows = summary.headline(results=str(tmp_path))
    unjudged = [figure for key, figure in family.paper.items() if key != ("alia", "erm")]
    assert "| reversed |" in rows and unjudged
    assert f"{family.name}: {'; '.join(unjudged)} (its control fails)" in rows


def test_the_headline_shows_a_variants_copied_baseline_row_once(tmp_path, monkeypatch):
    import json

    import summary

    monkeypatch.setattr(summary, "FAMILIES", (("keypoint_localization", "default"),
                                              ("keypoint_localization", "low_weights")))
    control = dict(protocol.paired([0.04, 0.05, 0.03]), method="batch_mix", reference="skp", verdict="reproduced")
    guided = dict(protocol.paired([0.01, 0.02, 0.03]), method="batch_mix_guided", reference="batch_mix",
                  verdict="reproduced")
    rows = [{"config": c, "seeds": 3, "mean": 0.5} for c in ("skp", "batch_mix", "batch_mix_guided")]
    for name, comparisons in (("keypoints", [control, guided]), ("keypoints_low_weights", [control])):
        stored = {"summaries": [{"backend": "tensorflow", "rows": rows, "probes": [], "controls": [control],
                                 "comparisons": comparisons}]}
        (tmp_path / f"{name}.json").write_text(json.dumps(stored))
    text = summary.headline(results=str(tmp_path))
    assert text.count("SKP + batch mixing − SKP |") == 1  # the same figure, comparison and numbers: once
    assert "| keypoints | SKP + batch mixing + guidance − SKP + batch mixing |" in text
    assert "keypoints_low_weights: UCF101-24 AP@0.5 38.0 → 39.7 (+ guidance) (not run yet)" in text
    # A variant's own numbers for the same comparison are a row of their own.
    stored["summaries"][0]["comparisons"] = [dict(control, **protocol.paired([0.01, 0.0, 0.02]))]
    (tmp_path / "keypoints_low_weights.json").write_text(json.dumps(stored))
    assert summary.headline(results=str(tmp_path)).count("SKP + batch mixing − SKP |") == 2


def test_the_summary_replaces_only_what_lies_between_its_markers():
    import summary

    text = f"head\n{summary.START}\nold\n{summary.END}\ntail\n"
    assert summary.replace_between_markers(text, "new\n") == f"head\n{summary.START}\nnew\n{summary.END}\ntail\n"
    with pytest.raises(ValueError, match="Expected one"):
        summary.replace_between_markers("no markers", "new\n")


def test_a_comparison_short_of_its_planned_seeds_gets_no_verdict(tmp_path):
    family = _family(eval_seeds=tuple(range(10)), main_backend="jax")
    assert family.planned_seeds("jax") == tuple(range(10)) and family.planned_seeds("torch") == (0, 1, 2)
    store = protocol.Store(str(tmp_path / "toy.jsonl"))
    for config in family.grids:
        for value in family.grids[config].values:
            store.add(_record(SEARCH, config, value, 0.0, value))
    for seed in range(4):
        store.add(_record(seed, "base", 0.3, 0.5, 0.0))
        store.add(_record(seed, "method", 3.0, 0.7 + 0.01 * seed, 0.0))
    summary = protocol.summarise(family, store, "jax", {"n": 1})
    (first,) = [c for c in summary["comparisons"] if c["reference"] == "base"]
    assert first["verdict"] == "running (4 of 10 seeds)"


def test_a_not_below_control_passes_a_tie_and_fails_a_loss():
    tie = dict(protocol.paired([0.01, -0.02, 0.0]), method="cutmix", reference="cam")
    loss = dict(protocol.paired([-0.05, -0.04, -0.06]), method="cutmix", reference="cam")
    probe = [{"train_accuracy": 0.9, "test_accuracy": 0.1, "chance": 0.1}]
    assert protocol.failed_controls({"probes": probe, "controls": [tie], "control_rule": "not_below"}) == []
    assert protocol.failed_controls({"probes": probe, "controls": [tie], "control_rule": "above"})
    assert protocol.failed_controls({"probes": probe, "controls": [loss], "control_rule": "not_below"})
    with pytest.raises(ValueError, match="control_rule"):
        _family(control_rule="maybe")


def test_a_penalised_configuration_trains_at_its_baselines_chosen_rate(tmp_path, monkeypatch):
    # The toy's base chooses rate 0.2 on the search seed; "method" inherits it,
    # so every one of its trials, search and evaluation, trains at 0.2.
    toy_family5 = _toy_family(tmp_path, monkeypatch, "toy_family5",
                              extra='inherit={"method": "base"}, defaults={"learning_rate": 0.1},')

    output = str(tmp_path / "toy.jsonl")
    (summary,) = protocol.main(toy_family5, ["--backends", "jax", "--output", output])
    records = [json.loads(line) for line in open(output)]
    method = [r for r in records if r["config"] == "method"]
    assert len(method) == 2 + 3  # two weights searched, three seeds at the chosen weight
    assert all(r["inherited"] == {"learning_rate": 0.2} for r in method)
    assert all(r["metrics"]["rate"] == 0.2 for r in method if r["seed"] != SEARCH)  # the worker received it
    assert all(r["inherited"] == {} for r in records if r["config"] != "method")
    assert summary["inherited"] == {"method": {"learning_rate": 0.2}}
    # 0.6 + 0.1 + 0.05 against 0.5 + 0.1: the difference is the penalty's alone, at one rate.
    assert summary["comparisons"][0]["per_seed"] == [0.15, 0.15, 0.15]
    markdown = open(str(tmp_path / "toy.md")).read()
    assert "guidance weight 1, at base's learning rate 0.2" in markdown
    # Resumed: nothing trains again.
    protocol.main(toy_family5, ["--backends", "jax", "--output", output])
    assert len(open(output).readlines()) == len(records)


def test_a_fixed_rate_trains_the_penalised_configuration_at_it_whatever_the_baseline_chose(tmp_path, monkeypatch):
    # base chooses 0.2 on the search seed; "method" trains at its fixed 0.3 instead.
    toy_family6 = _toy_family(tmp_path, monkeypatch, "toy_family6", extra='fixed={"method": {"learning_rate": 0.3}},')

    output = str(tmp_path / "toy.jsonl")
    (summary,) = protocol.main(toy_family6, ["--backends", "jax", "--output", output])
    records = [json.loads(line) for line in open(output)]
    method = [r for r in records if r["config"] == "method"]
    assert len(method) == 2 + 3
    assert all(r["inherited"] == {"learning_rate": 0.3} for r in method)
    assert all(r["metrics"]["rate"] == 0.3 for r in method if r["seed"] != SEARCH)  # the worker received it
    assert all(r["inherited"] == {} for r in records if r["config"] == "base")
    assert summary["chosen"] == {"base": 0.2, "method": 1.0}
    # 0.6 + 0.1 against 0.5 + 0.1: no bonus for the inherited rate 0.2, which method never got.
    assert summary["comparisons"][0]["per_seed"] == pytest.approx([0.1, 0.1, 0.1])
    assert "guidance weight 1, at a fixed learning rate 0.3" in open(str(tmp_path / "toy.md")).read()
    with pytest.raises(ValueError, match="inherit nothing"):
        _family(inherit={"method": "base"}, defaults={"learning_rate": 0.1},
                fixed={"method": {"learning_rate": 0.3}})
    with pytest.raises(ValueError, match="inherit nothing"):
        _family(fixed={"missing": {"learning_rate": 0.3}})


def test_an_inherited_default_keeps_the_trials_stored_before_the_rule(tmp_path):
    # Trials of "method" stored without inherited values trained at the worker's
    # default; when the baseline chooses that default they are the same trials.
    family = _family(eval_seeds=(0,), inherit={"method": "base", "ablation": "base"},
                     defaults={"learning_rate": 0.3})
    store = protocol.Store(str(tmp_path / "toy.jsonl"))
    for config in family.grids:
        for value in family.grids[config].values:
            store.add(_record(SEARCH, config, value, 0.0, value))  # base chooses 0.3, the default
    store.add(_record(0, "base", 0.3, 0.5, 0.0))
    for value in (1.0, 2.0, 3.0):
        store.add(_record(0, "method", value, 0.7, 0.0))
    store.add(_record(0, "ablation", 3.0, 0.6, 0.0))
    summary = protocol.summarise(family, store, "jax", {"n": 1})
    assert summary["inherited"] == {"method": {}, "ablation": {}}
    assert summary["comparisons"][0]["per_seed"] == [0.2]
    # Had base chosen another rate, those trials are kept but not reported: they await a rerun.
    store.add(_record(SEARCH, "base", 0.1, 0.0, 0.9))
    summary = protocol.summarise(family, store, "jax", {"n": 1})
    assert summary["chosen"] == {"base": 0.1}  # the inheriting configurations' search is not run yet
    assert [r["seeds"] for r in summary["rows"]] == [0, 0, 0]
    trials = protocol.search_trials(family, ["method", "ablation"])
    assert protocol.pending(store, "jax", {"n": 1}, trials, protocol.inherited(family, summary["chosen"])) == trials


def test_an_inheriting_configuration_is_not_reported_before_its_baseline_is_chosen(tmp_path):
    # Trials copied from another store at the worker's default rate, on a backend
    # whose search has not run: nothing says that default is the baseline's choice.
    family = _family(eval_seeds=(0,), inherit={"method": "base", "ablation": "base"},
                     defaults={"learning_rate": 0.3})
    store = protocol.Store(str(tmp_path / "toy.jsonl"))
    for value in (1.0, 2.0, 3.0):
        store.add(_record(0, "method", value, 0.7, 0.0))
    summary = protocol.summarise(family, store, "jax", {"n": 1})
    assert summary["chosen"] == {} and summary["fixed"] == []
    assert [r["seeds"] for r in summary["rows"]] == [0, 0, 0]


def test_inheritance_needs_a_known_baseline_and_its_default():
    with pytest.raises(ValueError, match="inherit nothing themselves"):
        _family(inherit={"method": "missing"}, defaults={"learning_rate": 0.1})
    with pytest.raises(ValueError, match="inherit nothing themselves"):
        _family(inherit={"method": "ablation", "ablation": "base"}, defaults={"learning_rate": 0.1})
    with pytest.raises(ValueError, match="worker's default 'learning_rate'"):
        _family(inherit={"method": "base"})


def test_reuse_copies_the_shared_trials_from_another_store_and_trains_the_rest(tmp_path, monkeypatch):
    toy_family7 = _toy_family(tmp_path, monkeypatch, "toy_family7",
                              extra='inherit={"method": "base"}, defaults={"learning_rate": 0.1},')
    first = str(tmp_path / "first.jsonl")
    protocol.main(toy_family7, ["--backends", "jax", "--output", first])
    records = [json.loads(line) for line in open(first)]
    # The source keeps the baseline's trials only: those are copied, the method's trained.
    source = tmp_path / "source.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records if r["config"] == "base"))
    second = str(tmp_path / "second.jsonl")
    (summary,) = protocol.main(toy_family7, ["--backends", "jax", "--output", second, "--reuse", str(source)])
    copied = [json.loads(line) for line in open(second)]
    assert len(copied) == len(records)
    assert all(r.get("copied_from") == "source.jsonl" for r in copied if r["config"] == "base")
    assert all("copied_from" not in r for r in copied if r["config"] != "base")
    assert summary["chosen"] == {"base": 0.2, "method": 1.0}


def test_reuse_copies_only_a_trial_at_the_same_inherited_values(tmp_path):
    source = protocol.Store(str(tmp_path / "source.jsonl"))
    settings = {"size": 3}
    for rate in (0.1, 0.2):
        source.add({"backend": "jax", "settings": settings, "seed": 0, "config": "method", "value": 1.0,
                    "inherited": {"learning_rate": rate}, "metrics": {"score": rate}})
    store = protocol.Store(str(tmp_path / "variant.jsonl"))
    trials = [(0, "method", 1.0), (0, "method", 2.0)]
    left = protocol.reuse(store, source, "jax", settings, trials, {"method": {"learning_rate": 0.2}})
    assert left == [(0, "method", 2.0)]
    (record,) = store.records.values()
    assert record["metrics"] == {"score": 0.2} and record["copied_from"] == "source.jsonl"
    # Without a source nothing is copied; with other settings nothing matches.
    assert protocol.reuse(protocol.Store(str(tmp_path / "x.jsonl")), None, "jax", settings, trials) == trials
    assert protocol.reuse(protocol.Store(str(tmp_path / "y.jsonl")), source, "jax", {"size": 4}, trials,
                          {"method": {"learning_rate": 0.2}}) == trials


def test_reuse_refuses_a_missing_store_and_the_output_itself(tmp_path, capsys, monkeypatch):
    toy_family8 = _toy_family(tmp_path, monkeypatch, "toy_family8")
    output = str(tmp_path / "toy.jsonl")
    with pytest.raises(SystemExit):
        protocol.main(toy_family8, ["--output", output, "--reuse", str(tmp_path / "missing.jsonl")])
    assert "expected an existing store" in capsys.readouterr().err
    open(output, "w").close()
    with pytest.raises(SystemExit):
        protocol.main(toy_family8, ["--output", output, "--reuse", output])
    assert "expected another store than --output" in capsys.readouterr().err
