"""The one summary table of every family under the protocol, generated from the stored results.

Reads each family's `results/protocol/<name>.json` (written by its
benchmark) and writes `results/summary.md`; with `--write-readmes` it also
replaces the table between the summary markers of `benchmarks/README.md`,
and the headline table (one row per paper figure, on the backend with the
most seeds) between the headline markers of the top-level `README.md`, so
they never disagree.

    python benchmarks/summary.py --write-readmes
"""

import argparse
import importlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common  # noqa: E402
import protocol  # noqa: E402

# Every family: its benchmark module and construction, in the order of the papers' tables.
FAMILIES = (
    ("decoy_ablations", None), ("ffr_guidance", "default"), ("ffr_guidance", "centred"),
    ("edits_classification", "default"), ("edits_classification", "centred"),
    ("wsol_digits", "objects"), ("wsol_digits", "background"),
    ("clip_localization", "objects"), ("clip_localization", "background"),
    ("clip_localization", "paste"), ("clip_localization", "background_paste"),
    ("clip_localization", "background_object"), ("clip_localization", "background_object_wide"),
    ("clip_localization", "background_object_digit_rate"), ("clip_localization", "background_paste_centred"),
    ("keypoint_localization", "default"), ("keypoint_localization", "low_weights"),
)
START, END = "<!-- summary:start -->", "<!-- summary:end -->"
HEADLINE_START, HEADLINE_END = "<!-- headline:start -->", "<!-- headline:end -->"
BENCHMARKS_README = os.path.join(HERE, "README.md")
README = os.path.join(HERE, os.pardir, "README.md")


def family_of(module_name, variant):
    module = importlib.import_module(module_name)
    return module.family(variant) if variant else module.FAMILY


def stored_summaries(family, results=protocol.RESULTS):
    """The per-backend summaries `family`'s last report stored; None if it has no report yet."""
    try:
        with open(os.path.join(results, family.name + ".json")) as file:
            return json.load(file)["summaries"]
    except FileNotFoundError:
        return None


def rows_of(module_name, variant=None, results=protocol.RESULTS):
    """One row per (comparison, backend) of a family with stored results; None if it has none."""
    family = family_of(module_name, variant)
    summaries = stored_summaries(family, results)
    if summaries is None:
        return None
    main = next((s for s in summaries if s["backend"] == family.main_backend), None)
    rows = []
    for summary in summaries:
        means = {row["config"]: row for row in summary["rows"] if row["seeds"]}
        failed = protocol.control_failures(family, summary, main)
        for c in summary["comparisons"]:
            pair = (c["method"], c["reference"])
            method, reference = means.get(pair[0]), means.get(pair[1])
            rows.append({
                "family": family.name,
                "paper": family.paper.get(pair, ""),
                "comparison": f"{family.labels[pair[0]]} − {family.labels[pair[1]]}",
                "backend": summary["backend"],
                "ours": f"{method['mean']:.3f} vs {reference['mean']:.3f}" if method and reference else "–",
                "difference": f"{c['mean']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}]",
                "seeds": c["seeds"],
                "signs": f"{c['above']}/{c['level']}/{c['below']}",
                "controls": "fail: " + "; ".join(failed) if failed else "pass",
                "is_control": pair in family.controls,
                "verdict": c["verdict"],
            })
    return rows


def costs_of(module_name, variant=None, results=protocol.RESULTS):
    """One row per backend of a family with stored results: the trials it trained and their time."""
    family = family_of(module_name, variant)
    rows = []
    for summary in stored_summaries(family, results) or []:
        cost = summary.get("compute")
        if cost:
            rows.append({"family": family.name, "backend": summary["backend"], "trained": cost["trained"],
                         "hours": cost["seconds"] / 3600, "copied": cost["copied"],
                         "dates": protocol.dates_text(cost)})
    return rows


def table(results=protocol.RESULTS):
    """The Markdown summary: every family's comparisons, then the families still to run."""
    rows, pending = [], []
    for module_name, variant in FAMILIES:
        found = rows_of(module_name, variant, results)
        if found is None:
            command = f"`{module_name}.py" + (f" --variant {variant}`" if variant else "`")
            pending.append(f"- {family_of(module_name, variant).name}: {command}, not yet run under the protocol.")
        rows += found or []
    text = (
        f"Every family under `benchmarks/protocol.py`: fixed validation and test pools (pool seed "
        f"{protocol.POOL_SEED}), a search seed that is never reported, {protocol.GRID_SIZE} trials for "
        "every configuration (baselines over their learning rate, the method and each ablation over "
        "its own weight grid at its baseline's chosen rate), evaluation seeds fixed before each run. "
        "\"Reproduced\" needs the 95% interval of the paired difference to lie above zero; a comparison "
        "short of its planned seeds has no verdict yet. The positive controls judge a construction on its "
        f"main backend's seeds; another backend's {protocol.OTHER_BACKEND_SEEDS} seeds fail a control only "
        "where its interval lies wholly below zero. Seeds: above / level / below zero.\n\n"
    )
    text += common.markdown_table(rows, [
        ("family", "family", "{}"), ("paper", "paper's figure", "{}"),
        ("comparison", "comparison (test headline metric)", "{}"), ("backend", "backend", "{}"),
        ("ours", "ours: method vs reference", "{}"), ("difference", "paired difference [95% interval]", "{}"),
        ("seeds", "seeds", "{}"), ("signs", "+/=/−", "{}"), ("controls", "positive controls", "{}"),
        ("verdict", "verdict", "{}"),
    ])
    costs = [row for module_name, variant in FAMILIES for row in costs_of(module_name, variant, results)]
    if costs:
        text += ("\n\nThe time each family took: its trials' own training time, summed (process start-up "
                 "not counted; a copied trial counts in the store it was trained in):\n\n")
        text += common.markdown_table(costs, [
            ("family", "family", "{}"), ("backend", "backend", "{}"), ("trained", "trials trained", "{}"),
            ("hours", "hours", "{:.1f}"), ("copied", "trials copied", "{}"), ("dates", "dates", "{}"),
        ])
    if pending:
        text += "\n\nNot yet judged under the protocol (earlier runs: the history sections):\n\n" + "\n".join(pending)
    return text + "\n"


def headline(results=protocol.RESULTS):
    """The front page's table: each comparison with a paper figure, on the backend with the most seeds.

    A row that repeats one already shown (a variant's baselines, copied from
    its family's store) is shown once.
    """
    rows, waiting, shown = [], [], set()
    for module_name, variant in FAMILIES:
        found = rows_of(module_name, variant, results) or []
        papers = [row for row in found if row["paper"]]
        most = max((row["seeds"] for row in papers), default=0)
        backend = next((row["backend"] for row in papers if row["seeds"] == most), None)
        for row in papers:
            ours = f"{row['difference']} ({row['seeds']} seeds, {backend})"
            if row["backend"] == backend and (row["paper"], row["comparison"], ours) not in shown:
                shown.add((row["paper"], row["comparison"], ours))
                judged = row["is_control"] or row["controls"] == "pass"
                rows.append(dict(row, ours=ours,
                                 verdict=row["verdict"] if judged else "not judged: its control fails"))
        family = family_of(module_name, variant)
        unrun = [figure for figure in family.paper.values() if figure not in {row["paper"] for row in papers}]
        if not found:
            waiting.append(f"{family.name} (not run)")
        elif found[0]["controls"] != "pass":
            if not papers:
                waiting.append(f"{family.name} (its control fails)")
            elif unrun:
                waiting.append(f"{family.name}: {'; '.join(unrun)} (its control fails)")
        elif unrun:
            waiting.append(f"{family.name}: {'; '.join(unrun)} (not run yet)")
    text = common.markdown_table(rows, [
        ("paper", "paper's figure", "{}"), ("family", "our family", "{}"), ("comparison", "our comparison", "{}"),
        ("ours", "paired difference [95% interval]", "{}"), ("verdict", "verdict", "{}"),
    ])
    if waiting:
        text += "\n\nNo paper figure judged yet: " + ", ".join(waiting) + "."
    return text + "\n"


def replace_between_markers(text, block, start=START, end=END):
    """`text` with what lies between the markers `start` and `end` replaced by `block`."""
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(f"Expected one {start} before one {end}.")
    head, rest = text.split(start)
    _, tail = rest.split(end)
    return f"{head}{start}\n{block}{end}{tail}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-readmes", action="store_true",
                        help="also replace the tables between the markers of both READMEs")
    args = parser.parse_args(argv)
    block = table()
    common.write_text(os.path.join(protocol.RESULTS, os.pardir, "summary.md"), block)
    if args.write_readmes:
        for path, text, markers in ((BENCHMARKS_README, block, (START, END)),
                                    (README, headline(), (HEADLINE_START, HEADLINE_END))):
            with open(path) as file:
                common.write_text(path, replace_between_markers(file.read(), text, *markers))
    print(block)
    return block


if __name__ == "__main__":
    main()
