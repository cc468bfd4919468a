"""The benchmark code runs on the active backend (tiny settings; no timing asserted)."""

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))

import common  # noqa: E402
import edits_classification  # noqa: E402
import epoch_overhead  # noqa: E402
import epoch_stall  # noqa: E402
import ffr_stability  # noqa: E402
import recipe_throughput  # noqa: E402
import spurious_digits  # noqa: E402
import step_overhead  # noqa: E402
import torch_profile  # noqa: E402
import wsol_digits  # noqa: E402


def test_step_overhead_worker_times_every_mode():
    result = step_overhead.timing_worker("small_cnn", steps=1, warmup=0)
    assert set(result["median_ms"]) == set(step_overhead.MODES)
    assert all(t > 0 for t in result["median_ms"].values())
    assert result["device"] == "cpu" or result["device"]


def test_step_overhead_times_whole_penalty_cycles():
    # k = 8 over 20 steps held 2 penalised steps (10%), not 2.5: the timed
    # window is now a whole number of cycles.
    assert [step_overhead.whole_cycles(n, 8) for n in (1, 8, 20)] == [8, 8, 24]
    assert step_overhead.whole_cycles(20, 1) == 20
    result = step_overhead.timing_worker("small_cnn", steps=3, warmup=0, penalty_every=2)
    assert (result["steps"], result["cycles"]) == (4, 2)


def test_resnet18_has_the_resnet18_layout():
    model = step_overhead.build_model("resnet18")
    assert model.output_shape == (None, step_overhead.NUM_CLASSES)
    assert len([layer for layer in model.layers if "add" in layer.name]) == 8  # 2-2-2-2 basic blocks.
    convs = [layer for layer in model.layers if isinstance(layer, __import__("keras").layers.Conv2D)]
    assert [c.filters for c in convs if c.kernel_size == (3, 3)][-1] == 512


def test_step_overhead_precision_and_modes_reach_the_worker(capsys):
    import keras

    step_overhead.main(["--worker", "--models", "small_cnn", "--steps", "1", "--warmup", "0",
                        "--precision", "mixed_float16", "--modes", "finite_difference"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["compute_dtype"] == "float16"  # Every model, the plain one included, is built under the policy.
    # The finite-difference path runs in half precision (at the smallest step it accepts there).
    assert set(result["median_ms"]) == {"plain", "finite_difference"}
    assert keras.config.dtype_policy().name == "float32"  # Restored for the rest of the process.
    with pytest.raises(SystemExit):
        step_overhead.main(["--precision", "float64"])
    assert "invalid choice: 'float64'" in capsys.readouterr().err


def test_resnet50_224_has_the_resnet50_layout_and_is_left_to_the_gpu_suite():
    import keras

    model = step_overhead.build_model("resnet50_224")
    assert model.input_shape == (None, 224, 224, 3) and model.output_shape == (None, step_overhead.NUM_CLASSES)
    assert len([layer for layer in model.layers if isinstance(layer, keras.layers.Add)]) == 3 + 4 + 6 + 3
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 1 + 3 * 16 + 4  # stem, three per bottleneck block, four projections
    assert not any(conv.use_bias for conv in convs)
    assert max(conv.filters for conv in convs) == 2048
    # torchvision's resnet50 without its 1000-class head holds 23,508,032 trainable parameters.
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 23_508_032 + (2048 + 1) * step_overhead.NUM_CLASSES
    assert "resnet50_224" not in step_overhead.DEFAULT_MODELS


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


def test_results_keep_their_stamp_when_only_reported_again(tmp_path, monkeypatch):
    path = os.path.join(tmp_path, "r.json")
    runs = {"jax": [{"seed": 0, "value": 0.5}]}
    monkeypatch.setattr(common, "environment", lambda: {"date": "2026-11-20"})
    common.write_results(path, runs, rows=[1])
    monkeypatch.setattr(common, "environment", lambda: {"date": "2026-11-24"})
    common.write_results(path, runs, rows=[2])  # Nothing new ran: the runs' date stays.
    assert json.load(open(path)) == {"environment": {"date": "2026-11-20"}, "rows": [2], "runs": runs}
    runs["jax"].append({"seed": 1, "value": 0.7})
    common.write_results(path, runs)
    assert json.load(open(path))["environment"] == {"date": "2026-11-24"}


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
        bias=0.95, synthetic_epochs=1, real_epochs=1, guidance_weight=1.0,
        batchnorm_momentum=0.9,
    )
    result = spurious_digits.worker(0, ["ffr"], args)
    ffr = result["results"]["ffr"]
    assert 0.0 <= ffr["worst_group_accuracy"] <= ffr["accuracy"] <= 1.0
    assert 0.0 <= ffr["after_synthetic_worst_group_accuracy"] <= 1.0


def test_spurious_digits_bad_arguments_exit_with_a_message(capsys):
    with pytest.raises(SystemExit):
        spurious_digits.main(["--bias", "1.0"])
    assert "--bias in [0.5, 1)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        spurious_digits.main(["--batchnorm-momentum", "1.0"])
    assert "--batchnorm-momentum in [0, 1)" in capsys.readouterr().err


@pytest.mark.parametrize("variant", ["objects", "background"])
def test_wsol_family_trains_a_trial_and_its_variants_differ_only_in_the_background(variant):
    import protocol

    family = wsol_digits.family(variant)
    assert family.name == {"objects": "wsol", "background": "wsol_background"}[variant]
    settings = dict(family.settings, epochs=1, num_train=64, num_val=20, num_test=20, image_size=32)
    record, probe = wsol_digits.worker_trials([(0, "cutmix_unmasked", 0.01), (0, protocol.PROBE, None)], settings)
    assert {"max_box_acc_v2", "val_max_box_acc_v2", "top1_accuracy"} <= set(record["metrics"])
    assert 0.0 <= record["metrics"]["max_box_acc_v2"] <= 1.0
    data = wsol_digits.data_of(0, settings)
    assert ("background_classes" in data["train"]) == (variant == "background")
    with pytest.raises(ValueError, match="variant"):
        wsol_digits.family("trees")


def test_clip_family_trains_a_trial_through_the_example():
    import clip_localization

    settings = dict(clip_localization.FAMILY.settings, epochs=1, num_train=32, num_val=10, num_test=10)
    (record,) = clip_localization.worker_trials([(0, "temporal_mix_guided", 10.0)], settings)
    assert {"frame_accuracy", "val_frame_accuracy", "tube_accuracy", "top1_accuracy"} <= set(record["metrics"])
    assert clip_localization.family("background").settings["background_bias"] == 0.9


def test_clip_paste_variants_share_their_scenes_settings_and_train_the_paste_configs():
    import clip_localization

    for scenes, paste in (("objects", "paste"), ("background", "background_paste")):
        temporal, pasted = clip_localization.family(scenes), clip_localization.family(paste)
        # The same scenes, epochs and rate grid: the two families differ in the mix alone.
        assert pasted.settings == temporal.settings and pasted.grids["plain"] == temporal.grids["plain"]
        assert set(pasted.grids) == {"plain", "paste_mix", "paste_mix_guided", "paste_mix_random_mask",
                                     "paste_mix_unmasked"}
        assert pasted.controls == (("paste_mix", "plain"),) and pasted.name == f"clips_{paste}"
        assert pasted.inherit == dict.fromkeys(clip_localization.penalised("paste_mix"), "paste_mix")
    # The centred variant moves the penalised grids alone, until the default's choice (1000) lies inside.
    default, centred = (clip_localization.family(v) for v in ("background_paste", "background_paste_centred"))
    assert (centred.settings, centred.inherit, centred.comparisons) == (
        default.settings, default.inherit, default.comparisons)
    for config, grid in centred.grids.items():
        moved = config in clip_localization.penalised("paste_mix")
        assert grid.values == (clip_localization.PASTE_CENTRED_WEIGHTS if moved else default.grids[config].values)
    assert min(clip_localization.PASTE_CENTRED_WEIGHTS) < max(clip_localization.WEIGHTS) < max(
        clip_localization.PASTE_CENTRED_WEIGHTS)
    settings = dict(clip_localization.family("paste").settings, epochs=1, num_train=32, num_val=10, num_test=10)
    (record,) = clip_localization.worker_trials([(0, "paste_mix_guided", 10.0)], settings)
    assert {"frame_accuracy", "val_frame_accuracy"} <= set(record["metrics"])
    with pytest.raises(ValueError, match="variant"):
        clip_localization.family("cutmix")


def test_clip_object_variant_judges_guidance_against_plain_on_the_tinted_scenes():
    import clip_localization
    import protocol

    background, objects = clip_localization.family("background"), clip_localization.family("background_object")
    # The same scenes, epochs and rate grid as `background`, whose plain trials it shares.
    assert objects.settings == background.settings and objects.grids["plain"] == background.grids["plain"]
    assert objects.name == "clips_background_object" and objects.controls == ()
    guided, random_mask, unmasked = clip_localization.penalised("object")
    assert set(objects.grids) == {"plain", guided, random_mask, unmasked}
    assert objects.comparisons == ((guided, "plain"), (guided, random_mask), (guided, unmasked))
    assert objects.inherit == dict.fromkeys((guided, random_mask, unmasked), "plain")
    assert objects.full_grid == (guided,) and objects.labels[guided] == "guidance (digit as target)"
    # The wide variant differs in its penalised grids alone, which go on from the registered top.
    wide = clip_localization.family("background_object_wide")
    assert wide.name == "clips_background_object_wide" and wide.settings == objects.settings
    assert {c: g for c, g in wide.grids.items() if c != "plain"} == {
        c: protocol.Grid("guidance_weight", clip_localization.WIDE_WEIGHTS) for c in (guided, random_mask, unmasked)}
    assert wide.grids["plain"] == objects.grids["plain"] and wide.comparisons == objects.comparisons
    assert clip_localization.WIDE_WEIGHTS[0] == objects.grids[guided].values[-1]
    # The digit-rate variant fixes its penalised configurations' rate instead of inheriting plain's.
    digit = clip_localization.family("background_object_digit_rate")
    assert digit.settings == objects.settings and digit.grids["plain"] == objects.grids["plain"]
    assert digit.inherit == {} and digit.fixed == dict.fromkeys(
        (guided, random_mask, unmasked), {"learning_rate": clip_localization.DIGIT_RATE})
    assert clip_localization.DIGIT_RATE in clip_localization.RATES["objects"]
    assert all(digit.grids[c].values == clip_localization.DIGIT_RATE_WEIGHTS for c in (guided, random_mask, unmasked))
    settings = dict(objects.settings, epochs=1, num_train=32, num_val=10, num_test=10)
    (record,) = clip_localization.worker_trials([(0, "object_random_mask", 10.0)], settings)
    assert {"frame_accuracy", "val_frame_accuracy"} <= set(record["metrics"])


def test_tint_sensitivity_retints_only_the_background_and_bounds_the_penalty_from_the_logit_change():
    import clip_localization

    example = common.load_example("action_localization")
    tinted = example.load_data(32, num_test=8, seed=3, background_bias=0.9)["train"]
    plain = example.load_data(32, num_test=8, seed=3, background_bias=None)["train"]
    # The counterfactual is built as the scenes are: their own tints give the tinted clips back.
    np.testing.assert_allclose(clip_localization.retinted(plain, tinted["background_classes"]), tinted["images"],
                               atol=1e-6)
    other = clip_localization.retinted(plain, (tinted["background_classes"] + 1) % 10)
    digit = np.broadcast_to(tinted["provenance"], other.shape) == 1.0
    np.testing.assert_array_equal(other[digit], tinted["images"][digit])  # the digit is untouched
    assert np.all(np.abs(other - tinted["images"]).reshape(32, -1).max(1) > 0.05)  # every tint moved
    result = clip_localization.tint_sensitivity(num_train=32, epochs=1, batch_size=16)
    assert result["elements"] == 4 * 32 * 32 * 3 and result["change_norm_sq"] > 0
    # A mean of per-clip ratios, so by Titu's lemma at least mean(change)^2 / mean(|d|^2).
    assert result["least_penalty_sum"] >= result["logit_change"] ** 2 / result["change_norm_sq"] - 1e-9
    assert result["penalty_sum"] > 0 and result["cross_entropy"] > 0
    # The family's reduction averages the penalty over a clip's 4 x 32 x 32 x 3 elements.
    np.testing.assert_allclose(result["penalty_mean"] * result["elements"], result["penalty_sum"], rtol=1e-4)


def test_absent_label_mass_counts_label_weight_on_sources_the_splice_hides():
    import clip_localization

    T = 2
    always = np.ones((64, T), bool)
    assert clip_localization.absent_label_mass(always, batches=20) == {"label_mass": 0.0, "clip_share": 0.0}
    never = np.zeros((64, T), bool)
    assert clip_localization.absent_label_mass(never, batches=20) == {"label_mass": 1.0, "clip_share": 1.0}
    # The digit on the first of two frames: a one-frame splice (lam in
    # [0.25, 0.75), half the draws) hides one source's digit, half the label.
    first = np.zeros((64, T), bool)
    first[:, 0] = True
    measured = clip_localization.absent_label_mass(first, batches=200)
    assert abs(measured["clip_share"] - 0.5) < 0.05 and abs(measured["label_mass"] - 0.25) < 0.025
    with pytest.raises(ValueError, match="frames"):
        clip_localization.absent_label_mass(np.ones((8, T), bool))


def test_clip_variants_keep_the_settings_their_stored_trials_ran_under():
    # A change to a family's settings starts its trials afresh: the
    # background variant must go on resuming its stored trials, while the
    # objects variant trains 40 epochs with its rate grid's choice inside.
    import clip_localization
    import protocol

    results = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "results", "protocol")
    stored = protocol.Store(os.path.join(results, "clips_background.jsonl"))
    background = clip_localization.family("background")
    assert stored.of("tensorflow", background.settings)
    objects = clip_localization.family("objects")
    assert objects.settings["epochs"] == 40 and background.settings["epochs"] == 20
    assert objects.grids["plain"].values == (1e-4, 3e-4, 1e-3, 3e-3)
    assert {k: v for k, v in objects.settings.items() if k not in ("epochs", "background_bias")} == {
        k: v for k, v in background.settings.items() if k not in ("epochs", "background_bias")}


def test_family_modules_take_their_variant_from_the_command_line(tmp_path, capsys):
    import protocol

    with pytest.raises(SystemExit):
        protocol.main(wsol_digits, ["--variant", "trees", "--report-only"])
    assert "invalid choice: 'trees'" in capsys.readouterr().err
    output = str(tmp_path / "w.jsonl")
    assert protocol.main(wsol_digits, ["--variant", "background", "--report-only", "--output", output]) == []


def test_benchmark_and_example_modules_have_distinct_names():
    # Both folders go on sys.path (tests, examples/distributed.py): a shared
    # name would import one in place of the other.
    root = os.path.join(os.path.dirname(__file__), "..")
    names = {
        folder: {f[:-3] for f in os.listdir(os.path.join(root, folder)) if f.endswith(".py")}
        for folder in ("benchmarks", "examples")
    }
    assert not names["benchmarks"] & names["examples"]


def test_decoy_family_trains_its_trials_and_its_probe_reads_only_the_shortcut():
    import decoy_ablations
    import protocol

    settings = {"epochs": 1, "num_train": 300, "num_val": 100, "pool_seed": 5}
    trials = [(1, "plain", 1e-2), (1, "unmasked", 10.0), (1, protocol.PROBE, None)]
    plain, unmasked, probe = decoy_ablations.worker_trials(trials, settings)
    for record in (plain, unmasked):
        assert set(record["metrics"]) == {"accuracy", "val_accuracy", "decoy_share", "val_decoy_share"}
        json.dumps(record)  # a record travels as one JSON line
    assert (unmasked["config"], unmasked["value"]) == ("unmasked", 10.0)
    # The corners alone give the label away in train, and nothing in the
    # counterfactual test pool, where each digit appears once per shade.
    assert probe["metrics"]["train_accuracy"] == 1.0
    assert probe["metrics"]["test_accuracy"] == pytest.approx(0.1)


def test_ffr_family_ablations_change_only_the_synthetic_provenance():
    import ffr_guidance
    import protocol

    settings = dict(ffr_guidance.FAMILY.settings, num_train=200, num_val=40, num_test=40,
                    synthetic_per_group=8)
    data = ffr_guidance.data_of(0, settings)
    assert ffr_guidance.splits_for("ffr_guided", data, 0) is data
    unmasked = ffr_guidance.splits_for("ffr_unmasked", data, 0)["synthetic"]["provenance"]
    assert not unmasked.any()
    boxes = ffr_guidance.splits_for("ffr_random_mask", data, 0)["synthetic"]["provenance"]
    digit_area = data["synthetic"]["provenance"].reshape(len(boxes), -1).sum(1)
    box_area = boxes.reshape(len(boxes), -1).sum(1)
    assert np.all(np.abs(box_area - digit_area) <= np.sqrt(digit_area) + 1)
    (probe,) = ffr_guidance.worker_trials([(0, protocol.PROBE, None)], settings)
    # The background predicts the label on train (bias 0.95), not on the balanced test pool.
    assert probe["metrics"]["train_accuracy"] > 0.85 and abs(probe["metrics"]["test_accuracy"] - 0.5) < 0.15


def test_ffr_family_trains_an_ablation_through_the_example():
    import ffr_guidance

    settings = dict(ffr_guidance.FAMILY.settings, num_train=128, num_val=40, num_test=40,
                    synthetic_per_group=16, synthetic_epochs=1, real_epochs=1)
    (record,) = ffr_guidance.worker_trials([(0, "ffr_random_mask", 0.1)], settings)
    metrics = record["metrics"]
    assert set(metrics) == {"worst_group_accuracy", "val_worst_group_accuracy", "accuracy", "selected_epoch"}
    assert metrics["worst_group_accuracy"] <= metrics["accuracy"] and metrics["selected_epoch"] in (0, 1)


def test_replica_memory_grows_with_the_batch_and_with_guidance():
    import keras
    import replica_memory

    backend = keras.backend.backend()
    if backend == "tensorflow":
        pytest.skip("measured on JAX (XLA's accounting) and torch (saved tensors)")
    modes = ("plain", "forward_over_reverse", "double_backprop")
    if backend == "jax":
        modes = modes[:2]  # compiling each mode twice is slow; both guided paths are alike
        rows = replica_memory.jax_worker([2, 4], devices=1, modes=modes)["rows"]
        key = "temp_mb"
        assert keras.distribution.distribution() is None  # restored afterwards
    else:
        rows = replica_memory.torch_worker([2, 4], modes=modes)["rows"]
        key = "saved_mb"
    mb = {(r["mode"], r["batch_per_replica"]): r[key] for r in rows}
    for mode in modes:
        assert mb[(mode, 4)] > mb[(mode, 2)] > 0
    for mode in modes[1:]:
        assert mb[(mode, 4)] > mb[("plain", 4)]


def test_replica_memory_summary_gives_ratios_and_rejects_bad_batches(capsys):
    import replica_memory

    rows = [
        {"backend": "torch", "devices": 1, "batch_per_replica": 8, "mode": mode, "saved_mb": mb}
        for mode, mb in (("plain", 2.0), ("double_backprop", 4.0), ("forward_over_reverse", 6.0))
    ]
    table = replica_memory.summary({"rows": rows})
    assert "| 1 | 8 | 2.0 | 4.0 | 6.0 | 2.00 | 3.00 |" in table
    with pytest.raises(SystemExit):
        replica_memory.main(["--batches", "0"])
    assert "--batches must be >= 1" in capsys.readouterr().err


@pytest.mark.parametrize("config", sorted(edits_classification.FAMILY.grids))
def test_edits_family_trains_every_configuration_at_its_grid_value(config):
    settings = dict(edits_classification.FAMILY.settings, num_train=128, num_val=40, num_test=40, epochs=1)
    value = edits_classification.FAMILY.grids[config].values[1]
    (record,) = edits_classification.worker_trials([(0, config, value)], settings)
    metrics = record["metrics"]
    assert 0.0 <= metrics["worst_group_accuracy"] <= metrics["accuracy"] <= 1.0
    assert metrics["selected_epoch"] == 0 and (record["config"], record["value"]) == (config, value)


def test_edits_family_probe_reads_the_background_and_reports_otsus_provenance():
    import protocol

    settings = dict(edits_classification.FAMILY.settings, num_train=400, num_val=40, num_test=200)
    (probe,) = edits_classification.worker_trials([(0, protocol.PROBE, None)], settings)
    metrics = probe["metrics"]
    assert metrics["train_accuracy"] > 0.85 and abs(metrics["test_accuracy"] - 0.5) < 0.15
    # Otsu keeps the digit's core, which the editor kept, and not all of its re-rendered edge.
    quality = metrics["provenance_quality"]
    assert 0.8 < quality["core_recall"] <= 1.0 and quality["digit_recall"] < quality["core_recall"]
    assert quality["kept_share"] > quality["digit_share"]


def test_edits_edge_probe_finds_the_soft_alpha_editors_leak_and_not_the_familys():
    settings = dict(edits_classification.FAMILY.settings, bias=0.99, num_train=600, num_val=40, num_test=40)
    family = edits_classification.edge_probe(edits_classification.data_of(0, "alia", settings))
    soft = edits_classification.edge_probe(
        edits_classification.data_of(0, "alia", dict(settings, mask_threshold=None, seam_width=1))
    )
    assert soft > 0.7  # the old editor keeps each source's background in the digit's edge
    assert abs(family - 0.5) < 0.1  # the family's editor re-renders the edge


def test_edits_classification_random_boxes_keep_each_images_area():
    import numpy as np

    provenance = np.zeros((3, 16, 16, 1), "float32")
    provenance[0, :4, :4] = 1.0  # 16 pixels
    provenance[1, :, :8] = 1.0  # 128 pixels
    boxes = common.random_boxes_like(provenance, seed=0)
    areas = boxes.reshape(3, -1).sum(1)
    assert areas[0] == 16 and abs(areas[1] - 128) <= 12 and areas[2] == 1
    assert set(np.unique(boxes)) <= {0.0, 1.0}
    np.testing.assert_array_equal(boxes, common.random_boxes_like(provenance, seed=0))


def test_seed_figure_is_a_png_and_leaves_no_temporary(tmp_path):
    from PIL import Image

    path = common.save_seed_figure(
        str(tmp_path / "f.png"), "title", "wga", [("a", [0.1, 0.2]), ("b", [0.5])]
    )
    assert Image.open(path).format == "PNG"
    assert os.listdir(tmp_path) == ["f.png"]


def test_ffr_stability_diagnostics_read_the_curves():
    curve = [{"val": v, "test": t} for v, t in ((0.1, 0.2), (0.5, 0.6), (0.4, 0.8), (0.3, 0.4))]
    run = {"curve": curve, "result": {"worst_group_accuracy": 0.6, "selected_epoch": 1}}
    found = ffr_stability.diagnostics(run, synthetic_epochs=2)
    assert found["after_synthetic"] == pytest.approx(0.6)  # epoch 1 ends the synthetic phase
    assert found["selection_gap"] == pytest.approx(0.2)  # best test 0.8, selected 0.6
    assert found["epoch_jitter"] == pytest.approx(0.2)  # std of (0.8, 0.4)
    assert found["drift"] == pytest.approx(-0.2)  # 0.4 at the end, 0.6 after synthetic
    (row,) = ffr_stability.summarise([dict(run, config="ffr", momentum=0.9)] * 2, "torch", 2)
    assert row["seeds"] == 2 and row["worst_group_accuracy_std"] == 0.0


def test_ffr_stability_worker_records_a_curve_per_epoch():
    args = argparse.Namespace(synthetic_epochs=1, real_epochs=1, bias=0.95)
    result = ffr_stability.worker(0, "ffr_guided", 0.9, 0.3, args)
    assert len(result["curve"]) == 2
    assert all(0.0 <= point["test"] <= 1.0 for point in result["curve"])
    assert result["momentum"] == 0.9 and result["config"] == "ffr_guided"
    assert result["weight"] == 0.3 and "val_worst_group_accuracy" in result["result"]


def _ffr_run(seed, config, momentum, weight, val, test):
    return {
        "seed": seed, "config": config, "momentum": momentum, "weight": weight,
        "settings": {"synthetic_epochs": 2, "real_epochs": 2, "bias": 0.95},
        "result": {"worst_group_accuracy": test, "val_worst_group_accuracy": val,
                   "selected_epoch": 3},
        "curve": [{"val": val, "test": test}] * 4,
    }


def test_ffr_stability_upgrades_runs_from_before_the_weight_search():
    old = _ffr_run(0, "ffr", 0.9, 0.0, 0.5, 0.5)
    del old["weight"]
    old["settings"] = dict(old["settings"], guidance_weight=0.1)
    assert ffr_stability.upgraded(old)["weight"] == 0.0
    assert "guidance_weight" not in ffr_stability.upgraded(old)["settings"]
    guided = dict(old, config="ffr_guided")
    assert ffr_stability.upgraded(guided)["weight"] == 0.1
    current = _ffr_run(0, "ffr_guided", 0.9, 0.3, 0.5, 0.5)
    assert ffr_stability.upgraded(current) is current


def test_ffr_stability_chooses_the_weight_on_validation_not_test(tmp_path, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("a resumed run with every result in the file must not train")

    monkeypatch.setattr(common, "run_worker", no_training)
    # Test would pick 1.0, validation picks 0.3; 0.1 ties 0.3 on validation only at m=0.99,
    # where the smaller weight wins.
    runs = [
        _ffr_run(0, "ffr_guided", 0.9, 0.1, 0.60, 0.70),
        _ffr_run(0, "ffr_guided", 0.9, 0.3, 0.80, 0.60),
        _ffr_run(0, "ffr_guided", 0.9, 1.0, 0.50, 0.90),
        _ffr_run(0, "ffr_guided", 0.99, 0.1, 0.70, 0.10),
        _ffr_run(0, "ffr_guided", 0.99, 0.3, 0.70, 0.90),
        _ffr_run(0, "ffr_guided", 0.99, 1.0, 0.20, 0.90),
        _ffr_run(0, "ffr", 0.9, 0.0, 0.50, 0.40),
        _ffr_run(0, "ffr", 0.99, 0.0, 0.50, 0.30),
    ]
    output = str(tmp_path / "ffr.json")
    common.write_json(output, {"runs": {"torch": runs}})
    rows = ffr_stability.main([
        "--configs", "ffr", "ffr_guided", "--seeds", "0", "--weights", "0.1", "0.3", "1.0",
        "--synthetic-epochs", "2", "--real-epochs", "2", "--resume", "--output", output,
    ])
    guided = {row["momentum"]: row for row in rows if row["config"] == "ffr_guided"}
    assert guided[0.9]["weight"] == 0.3 and guided[0.9]["worst_group_accuracy"] == pytest.approx(0.6)
    assert guided[0.99]["weight"] == 0.1 and guided[0.99]["worst_group_accuracy"] == pytest.approx(0.1)
    report = open(output[:-5] + ".md").read()
    assert "chosen" in report and "+0.200" in report  # 0.6 - 0.4 at m=0.9
    with pytest.raises(SystemExit, match="no complete weight search"):
        ffr_stability.main([
            "--configs", "ffr_guided", "--seeds", "0", "--weights", "0.1", "0.3", "1.0",
            "--backends", "jax", "--selection-backend", "jax", "--synthetic-epochs", "2",
            "--real-epochs", "2", "--resume", "--output", output,
        ])


def test_recipe_throughput_worker_times_plain_and_guided_steps(monkeypatch, capsys):
    module = recipe_throughput
    monkeypatch.setitem(module.MODELS, "tiny", ("small_resnet", "cam", 32, 4, 3))
    monkeypatch.setitem(module.RECIPES, "tiny recipe", ("tiny", 100, 2, 1))
    module.worker(argparse.Namespace(model="tiny", steps=2))
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for mode in ("plain", "guided"):
        times = result["seconds_per_step"][mode]["all"]
        assert len(times) == 2 and result["seconds_per_step"][mode]["median"] == pytest.approx(float(np.median(times)))
    # 100 images x 2 epochs at 3600 s per step of 4 images: 50 hours; one epoch guided at 3x: 100.
    assert module.estimate("tiny recipe", 3600.0) == pytest.approx(50.0)
    assert module.estimate("tiny recipe", 3600.0, 3 * 3600.0) == pytest.approx(100.0)
    table = module.report({"jax": {"tiny": result}})
    assert "| jax | tiny recipe |" in table and "full run, guided configuration (h)" in table


def test_cheaper_guidance_worker_trains_each_setting_and_the_report_pairs_them_with_exact():
    import cheaper_guidance

    args = argparse.Namespace(decoy_weight=10.0, ffr_weight=0.03, decoy_epochs=1, ffr_epochs=1)
    records = cheaper_guidance.worker("decoy", 0, ["reference", "lazy_k2"], args)
    assert [r["setting"] for r in records] == ["reference", "lazy_k2"]
    for record in records:
        assert 0.0 <= record["accuracy"] <= 1.0 and 0.0 <= record["decoy_share"] <= 1.0
        assert record["settings"] == {"decoy_weight": 10.0, "ffr_weight": 0.03, "decoy_epochs": 1, "ffr_epochs": 1}
    json.dumps(records)  # Records travel as one JSON line.

    runs = [
        {"task": "decoy", "seed": seed, "setting": setting, "accuracy": accuracy, "decoy_share": 0.0, "seconds": 1.0}
        for seed, setting, accuracy in [(0, "exact", 0.9), (0, "lazy_k4", 0.8), (1, "exact", 0.7), (1, "lazy_k4", 0.7)]
    ]
    rows = cheaper_guidance.summary(runs, "torch", "decoy", ["exact", "lazy_k4"])
    assert rows[1]["vs_exact_per_seed"] == [-0.1, 0.0] and rows[1]["vs_exact"] == "-0.050 ± 0.050"
    # FFR pairs the fixed last synthetic epoch too, apart from the selected one.
    ffr_runs = [
        {"task": "ffr", "seed": 0, "setting": setting, "worst_group_accuracy": selected,
         "accuracy": 0.9, "after_synthetic_worst_group_accuracy": fixed, "seconds": 1.0}
        for setting, selected, fixed in [("exact", 0.8, 0.5), ("lazy_k4", 0.7, 0.75)]
    ]
    row = cheaper_guidance.summary(ffr_runs, "jax", "ffr", ["exact", "lazy_k4"])[1]
    assert row["vs_exact_per_seed"] == [-0.1]
    assert row["after_synthetic_worst_group_accuracy_vs_exact_per_seed"] == [0.25]
    assert "guided_phase_worst_group_accuracy_vs_exact" not in row  # Recorded before the curves.
    curve = [{"val": 0.0, "test": test} for test in (0.1, 0.2, 0.3, 0.5, 0.7, 0.9)]
    assert cheaper_guidance.guided_phase_mean(curve, 4) == pytest.approx(0.4)  # Epochs 2 and 3.
    for run, best in zip(ffr_runs, (0.9, 0.6)):
        run["curve"] = [{"val": 0.5, "test": test} for test in (0.2, best, 0.4)]
    row = cheaper_guidance.summary(ffr_runs, "jax", "ffr", ["exact", "lazy_k4"])[1]
    assert row["best_epoch_worst_group_accuracy_vs_exact_per_seed"] == [-0.3]
    # Validation 0.9 at one epoch between two at 0.1 loses to a plateau of 0.6s.
    curve = [{"val": val, "test": test} for val, test in
             [(0.1, 0.0), (0.9, 0.1), (0.1, 0.2), (0.6, 0.3), (0.6, 0.4), (0.6, 0.5)]]
    assert cheaper_guidance.smoothed_selection(curve) == 0.4
    table = {("torch", "small_cnn", 4): {"double_backprop_ratio": 1.5, "finite_difference_ratio": 1.4}}
    assert cheaper_guidance.cost_of(table, "torch", "small_cnn", "lazy_k4") == 1.5
    assert cheaper_guidance.cost_of(table, "torch", "small_cnn", "finite_difference_lazy_k4") == 1.4
    assert cheaper_guidance.cost_of(table, "torch", "small_cnn", "lazy_k8") is None  # Not timed.


def test_cheaper_benchmarks_bad_arguments_exit_with_a_message(capsys):
    import cheaper_guidance
    import every_k_steps

    with pytest.raises(SystemExit):
        cheaper_guidance.main(["--decoy-epochs", "0"])
    assert "--decoy-epochs and --ffr-epochs >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        every_k_steps.main(["--steps", "0"])
    assert "--steps >= 1" in capsys.readouterr().err


def test_every_familys_pools_hold_at_least_500_examples_in_their_smallest_group():
    import clip_localization
    import decoy_ablations
    import ffr_guidance
    import keypoint_localization
    import protocol

    import keras_provguide as kpg

    groups = {"ffr": 4, "ffr_centred": 4, "edits": 4, "edits_centred": 4,
              "wsol": 10, "wsol_background": 10, "clips": 10, "clips_background": 10,
              "clips_paste": 10, "clips_background_paste": 10, "clips_background_object": 10,
              "clips_background_object_wide": 10, "clips_background_object_digit_rate": 10,
              "clips_background_paste_centred": 10,
              "keypoints": keypoint_localization.SETTINGS["num_classes"],
              "keypoints_low_weights": keypoint_localization.SETTINGS["num_classes"]}
    families = [module.family(v) for module in (ffr_guidance, edits_classification, wsol_digits, clip_localization,
                                                keypoint_localization) for v in module.VARIANTS]
    for family in families:
        for split in ("num_val", "num_test"):
            assert family.settings[split] // groups[family.name] >= protocol.MIN_GROUP_SIZE, (family.name, split)
        assert family.settings["pool_seed"] == protocol.POOL_SEED
    settings = decoy_ablations.FAMILY.settings
    data = kpg.datasets.decoy_digits(num_train=settings["num_train"], num_val=settings["num_val"],
                                     pool_seed=settings["pool_seed"])
    for split in ("val", "test"):
        assert np.bincount(data[split]["labels"]).min() >= protocol.MIN_GROUP_SIZE


def test_every_penalised_configuration_trains_at_its_baselines_rate_and_the_defaults_are_the_workers():
    import inspect

    import clip_localization
    import decoy_ablations
    import ffr_guidance
    import keypoint_localization

    examples = {"decoy": "decoy_digits", "ffr": "from_fake_to_real", "ffr_centred": "from_fake_to_real",
                "wsol": "wsol_cutmix_guidance",
                "wsol_background": "wsol_cutmix_guidance", "clips": "action_localization",
                "clips_background": "action_localization", "clips_paste": "action_localization",
                "clips_background_paste": "action_localization", "clips_background_object": "action_localization",
                "clips_background_object_wide": "action_localization",
                "clips_background_object_digit_rate": "action_localization",
                "clips_background_paste_centred": "action_localization",
                "keypoints": "keypoint_action_localization", "keypoints_low_weights": "keypoint_action_localization"}
    families = [decoy_ablations.FAMILY,
                *(module.family(v) for module in (ffr_guidance, edits_classification, wsol_digits, clip_localization,
                                                  keypoint_localization) for v in module.VARIANTS)]
    for family in families:
        penalised = {c for c, grid in family.grids.items() if grid.name == "guidance_weight"}
        assert set(family.inherit) | set(family.fixed) == penalised, family.name
        for name, value in family.defaults.items():
            if family.name.startswith("edits"):
                run = edits_classification.train_one
            else:
                run = common.load_example(examples[family.name]).run
            # What a trial trains at when the rate is not passed: the rule leaves it out then.
            assert inspect.signature(run).parameters[name].default == value, (family.name, name)


def test_an_edits_penalised_trial_trains_at_the_rate_it_inherits(monkeypatch):
    seen = []
    monkeypatch.setattr(edits_classification, "train_one",
                        lambda *args, learning_rate, **kwargs: seen.append((args[3], learning_rate)) or {
                            k: 0.5 for k in ("worst_group_accuracy", "val_worst_group_accuracy", "accuracy",
                                             "average_accuracy", "selected_epoch")})
    monkeypatch.setattr(edits_classification, "data_of", lambda seed, config, settings: {})
    trials = [(0, "guided", 0.03, {"learning_rate": 0.01}), (0, "guided", 0.03, {}), (0, "alia", 0.003, {})]
    list(edits_classification.worker_trials(trials, edits_classification.FAMILY.settings))
    assert seen == [(0.03, 0.01), (0.03, edits_classification.DEFAULT_RATE), (0.0, 0.003)]


def test_keypoint_family_pools_are_class_balanced_and_fixed_across_seeds_and_its_probe_reads_the_shortcut():
    import keypoint_localization

    settings = dict(keypoint_localization.SETTINGS, num_train=40, num_val=8, num_test=8)
    first, second = (keypoint_localization.data_of(seed, settings) for seed in (0, 1))
    for split in ("val", "test"):
        np.testing.assert_array_equal(first[split]["keypoints"], second[split]["keypoints"])
        assert np.bincount(first[split]["labels"]).tolist() == [2, 2, 2, 2]
    assert not np.array_equal(first["train"]["keypoints"], second["train"]["keypoints"])
    probe = keypoint_localization.object_probe(
        *(keypoint_localization.data_of(0, dict(settings, num_train=400, num_test=400))[s] for s in ("train", "test"))
    )
    assert probe["train_accuracy"] > 0.85 and probe["test_accuracy"] < 0.4
    trials = [(0, "batch_mix_guided", 1.0)]
    records = list(keypoint_localization.worker_trials(trials, dict(settings, epochs=1, mix_from=0)))
    assert set(records[0]["metrics"]) >= {"frame_ap", "video_ap", "clip_accuracy", "val_frame_ap"}


@pytest.mark.parametrize("recipe, classes", [("wsol_cub", 3), ("waterbirds_edits", 2)])
def test_epoch_overhead_times_whole_epochs_through_the_recipes_pipeline(tmp_path, monkeypatch, recipe, classes):
    import functools

    import keras_provguide as kpg

    # The recipe's pipeline and task, with a one-stage backbone: VGG16 and
    # ResNet-50 need 32x32 and more, and take long to compile.
    tiny = functools.partial(kpg.models.small_resnet, widths=(8,))
    monkeypatch.setattr(kpg.models, "tiny_features", tiny, raising=False)
    monkeypatch.setitem(epoch_overhead.FAMILIES, "tiny", (recipe, "tiny_features", classes))
    root = str(tmp_path)
    epoch_overhead.write_images(recipe, root, count=8, image_size=16, classes=classes)
    inputs, _ = next(iter(epoch_overhead.training_data(recipe, root, 16, 4, classes, guided=True)))
    assert inputs["provenance"].shape == (4, 16, 16, 1)
    images, _ = next(iter(epoch_overhead.training_data(recipe, root, 16, 4, classes, guided=False)))
    assert images.shape == (4, 16, 16, 3)  # The plain network gets the images alone.

    result = epoch_overhead.worker("tiny", root, 16, 4, epochs=1, penalty_every=[2], steps=1, warmup=0)
    assert result["steps_per_epoch"] == {"plain": 2, "guided_k2": 2}  # 8 files an epoch, 4 a batch.
    assert set(result["epoch_seconds"]) == set(result["step_seconds"]) == {"plain", "guided_k2"}
    assert all(len(s) == 1 and s[0] > 0 for s in result["epoch_seconds"].values())
    assert all(len(s) == 2 and min(s) > 0 for s in result["step_seconds"].values())  # One whole 2-step cycle.
    plain, guided = epoch_overhead.summarise("jax", "tiny", "float32", result, [2])
    epochs = {mode: seconds[0] for mode, seconds in result["epoch_seconds"].items()}
    assert guided["epoch_ratio"] == pytest.approx(epochs["guided_k2"] / epochs["plain"])
    steps = {mode: np.mean(seconds) for mode, seconds in result["step_seconds"].items()}
    assert guided["step_ratio"] == pytest.approx(steps["guided_k2"] / steps["plain"])
    assert plain["epoch_ratio"] is None and plain["step_ratio"] is None


def test_epoch_overhead_ratios_are_medians_and_means_of_whole_cycles():
    result = {
        "device": "cpu", "steps_per_epoch": {"plain": 8, "guided_k1": 8, "guided_k4": 8},
        "epoch_seconds": {"plain": [2.0, 1.0, 3.0], "guided_k1": [5.0, 4.0, 3.0], "guided_k4": [2.0, 2.5, 3.5]},
        "step_seconds": {"plain": [0.1, 0.1, 0.1, 0.5], "guided_k1": [0.2, 0.3, 0.3, 0.9],
                         "guided_k4": [0.5, 0.1, 0.1, 0.1]},
    }
    plain, k1, k4 = epoch_overhead.summarise("torch", "m", "mixed_float16", result, [1, 4])
    assert (plain["epoch_s"], plain["step_ms"], plain["epoch_ratio"], plain["step_ratio"]) == (2.0, 100.0, None, None)
    # k = 1: medians, 4 s / 2 s per epoch and 0.3 s / 0.1 s per step.
    assert (k1["epoch_ratio"], k1["step_ratio"]) == (pytest.approx(2.0), pytest.approx(3.0))
    # k = 4: the epoch's median, 2.5 s / 2 s; the steps' means over the cycle, 0.2 s / 0.2 s.
    assert (k4["epoch_ratio"], k4["step_ms"], k4["step_ratio"]) == (
        pytest.approx(1.25), pytest.approx(200.0), pytest.approx(1.0))
    assert k4["mode"] == "guided, k=4" and k4["precision"] == "mixed_float16"


def test_epoch_overhead_resumes_after_the_last_finished_worker(tmp_path, monkeypatch):
    result = {"device": "cpu", "steps_per_epoch": {"plain": 8, "guided_k1": 8},
              "epoch_seconds": {"plain": [2.0], "guided_k1": [3.0]},
              "step_seconds": {"plain": [0.1], "guided_k1": [0.2]}}
    calls = []

    def worker(script, backend, args):
        calls.append(backend)
        if backend == "jax" and len(calls) == 2:
            raise RuntimeError("stopped")  # The run stops in its second worker.
        return result

    monkeypatch.setattr(epoch_overhead.common, "run_worker", worker)
    monkeypatch.setattr(epoch_overhead, "write_images", lambda *args: None)
    output = str(tmp_path / "epochs.json")
    argv = ["--backends", "torch", "jax", "--models", "vgg16_gap_cam", "--penalty-every", "1", "--output", output]
    with pytest.raises(RuntimeError, match="stopped"):
        epoch_overhead.main(argv)
    assert not os.path.exists(output)  # Nothing half-written: only the partial file.
    # Other settings start afresh, beside the stopped run.
    epoch_overhead.main(argv + ["--epochs", "2"])
    assert calls[2:] == ["torch", "jax"]
    rows = epoch_overhead.main(argv)
    assert calls[4:] == ["jax"]  # The stopped run's finished torch worker is not run again.
    assert [row["backend"] for row in rows] == ["torch", "torch", "jax", "jax"]
    assert rows[1]["epoch_ratio"] == pytest.approx(1.5)
    assert json.load(open(output))["rows"] == json.loads(json.dumps(rows))
    assert not list(tmp_path.glob("*.partial-*"))  # Both finished: no partial file is left.


def test_epoch_overhead_bad_arguments_exit_with_a_message(capsys):
    for argv, expected in (
        (["--image-size", "16"], "--image-size >= 32"),
        (["--images", "8", "--batch-size", "32"], "--images >= --batch-size"),
        (["--penalty-every", "4", "4"], "distinct --penalty-every"),
        (["--output", "out.md"], "--output ending in .json"),
    ):
        with pytest.raises(SystemExit):
            epoch_overhead.main(argv)
        assert expected in capsys.readouterr().err
    assert epoch_overhead.main(["--precision", "mixed_bfloat16", "--check-args"]) is None
    assert "arguments accepted" in capsys.readouterr().out


def test_gpu_suite_dry_run_prints_each_benchmark_with_an_output_under_results_gpu(tmp_path):
    root = os.path.join(os.path.dirname(__file__), "..")
    completed = subprocess.run(
        ["bash", "benchmarks/gpu_suite.sh", "--dry-run"], cwd=root, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, CHECK_PYTHON=sys.executable, VENV=str(tmp_path / "venv")),
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert any("pip install torch==" in line and "download.pytorch.org/whl/cu" in line for line in lines)
    assert any("jax\\[cuda12\\]" in line for line in lines)
    commands = [line for line in lines if line.startswith("+ ") and "benchmarks/" in line and ".py " in line]
    step = [c for c in commands if "step_overhead.py" in c]
    epoch = [c for c in commands if "epoch_overhead.py" in c]
    assert len(step) == 4 and len(epoch) == 2  # (float32, mixed_float16) x (k = 1, 4); one per precision.
    assert all("resnet50_224" in c for c in step) and all("--image-size 224" in c for c in epoch)
    outputs = [c.split(" --output ")[1].split()[0] for c in commands]
    assert all(o.startswith("benchmarks/results/gpu/") and o.endswith(".json") for o in outputs)
    assert len(set(outputs)) == len(outputs)  # One file per run.
    assert completed.stdout.count("arguments accepted") == len(commands)
    assert not os.path.exists(tmp_path / "venv")  # A dry run installs nothing.


def test_torch_profile_sorts_operators_by_kind_and_its_plain_pytorch_step_is_guided():
    assert torch_profile.kind_of("aten::mkldnn_convolution") == "convolution"
    assert torch_profile.kind_of("aten::convolution_backward") == "convolution"
    assert torch_profile.kind_of("aten::copy_") == "copy"
    assert torch_profile.kind_of("aten::sum") == "reduction"
    assert torch_profile.kind_of("aten::mul") == "element-wise"
    guided, plain = torch_profile.torch_step(guided=True), torch_profile.torch_step(guided=False)
    first_guided, first_plain = guided(), plain()
    # Same weights and batch: the guided loss adds a positive penalty.
    assert np.isfinite(first_guided) and first_guided > first_plain
    assert guided() != first_guided  # The step trains.
    kinds = torch_profile.profile_step(guided, steps=1)
    assert kinds["convolution"] > 0 and kinds["element-wise"] > 0 and kinds["not in operators"] >= 0


def test_epoch_stall_times_each_epoch_and_reports_what_exceeds_the_steps():
    result = epoch_stall.worker("autotune off", batches=2, pause=0.05, epochs=2)
    assert len(result["epoch_seconds"]) == 2 and min(result["epoch_seconds"]) >= 0.1
    row = epoch_stall.summarise("torch", "autotune on", {"epoch_seconds": [8.1, 10.23, 8.0], "device": "cpu"},
                                batches=8, pause=1.0)
    assert row["steps_s"] == 8.0 and row["median_epoch_s"] == 8.1 and row["max_epoch_s"] == 10.23
    assert row["median_stall_s"] == pytest.approx(0.1) and row["max_stall_s"] == pytest.approx(2.23)


def test_epoch_stall_bad_arguments_exit_with_a_message(capsys):
    with pytest.raises(SystemExit):
        epoch_stall.main(["--batches", "0"])
    assert "expected --batches >= 1, received 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        epoch_stall.main(["--pause", "-1"])
    assert "expected --pause >= 0, received -1.0" in capsys.readouterr().err


def test_keypoint_low_weights_variant_changes_only_the_penalised_grids_and_meets_the_default_at_its_lowest():
    import keypoint_localization
    import protocol

    default, low = (keypoint_localization.family(v) for v in ("default", "low_weights"))
    assert (default.name, low.name) == ("keypoints", "keypoints_low_weights")
    assert low.settings == default.settings and low.comparisons == default.comparisons
    assert low.inherit == default.inherit and low.fixed == default.fixed == {}
    for config, grid in low.grids.items():
        expected = (protocol.Grid("guidance_weight", keypoint_localization.LOW_WEIGHTS)
                    if config in keypoint_localization.PENALISED else default.grids[config])
        assert grid == expected, config
    assert keypoint_localization.LOW_WEIGHTS[-1] == keypoint_localization.WEIGHTS[0]
    with pytest.raises(ValueError, match=r"Expected a variant in \('default', 'low_weights'\), received 'high'"):
        keypoint_localization.family("high")


def _one_three_place(value):
    """`value`'s place in the series ..., 0.1, 0.3, 1, 3, 10, ...: 0 for 1, 1 for 3, 2 for 10."""
    import math

    decade = math.floor(math.log10(value) + 1e-9)
    mantissa = value / 10.0 ** decade
    assert math.isclose(mantissa, 1.0) or math.isclose(mantissa, 3.0), value
    return 2 * decade + (0 if math.isclose(mantissa, 1.0) else 1)


@pytest.mark.parametrize("module_name", ["ffr_guidance", "edits_classification"])
def test_a_centred_variant_holds_the_main_backends_default_choices_inside_each_grid(module_name):
    import importlib
    import json
    import os

    import protocol

    module = importlib.import_module(module_name)
    default, centred = module.family("default"), module.family("centred")
    assert centred.name == f"{default.name}_centred"
    for field in ("settings", "comparisons", "controls", "inherit", "fixed", "eval_seeds", "full_grid", "labels"):
        assert getattr(centred, field) == getattr(default, field), field
    with open(os.path.join(protocol.RESULTS, f"{default.name}.json")) as file:
        summaries = json.load(file)["summaries"]
    assert summaries and all(summary["chosen"] for summary in summaries)
    # The variant was registered from the main backend's choices; the other
    # backends' default seeds may choose elsewhere (edits' torch guidance: 0.1).
    (main,) = [summary for summary in summaries if summary["backend"] == default.main_backend]
    for config, value in main["chosen"].items():
        old, new = default.grids[config].values, centred.grids[config].values
        assert len(new) == len(old) and min(new) < value < max(new), (config, value, new)
        # The same steps: both grids are runs of consecutive values of the 1-3-10 series.
        for grid in (old, new):
            places = [_one_three_place(v) for v in grid]
            assert places == list(range(places[0], places[0] + len(grid))), grid
    with pytest.raises(ValueError, match=r"Expected a variant in \('default', 'centred'\), received 'wide'"):
        module.family("wide")
