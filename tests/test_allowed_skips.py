"""CI's skip allowlist: each entry names a real test with a reason, and anything else fails."""

import ast
import json
import os

from conftest import ALLOWED_SKIPS, unexpected_skips

ROOT = os.path.join(os.path.dirname(__file__), "..")


def test_only_listed_tests_may_skip_and_an_id_without_parameters_covers_them_all():
    allowed = ["tests/test_a.py::test_x", "tests/test_b.py::test_y[one]"]
    skipped = ["tests/test_a.py::test_x[p1]", "tests/test_b.py::test_y[one]", "tests/test_b.py::test_y[two]",
               "tests/test_c.py::test_z"]
    assert unexpected_skips(skipped, allowed) == ["tests/test_b.py::test_y[two]", "tests/test_c.py::test_z"]


def test_every_allowlist_entry_names_an_existing_test_and_gives_a_reason():
    with open(ALLOWED_SKIPS) as file:
        listed = json.load(file)
    assert set(listed) - {"_what"} == {"tensorflow", "torch", "jax"}
    for backend in ("tensorflow", "torch", "jax"):
        assert len(listed[backend]) <= 10, f"the {backend} allowlist is meant to stay short"
        for entry in listed[backend]:
            path, name = entry["test"].split("[")[0].split("::")
            with open(os.path.join(ROOT, path)) as file:
                tree = ast.parse(file.read())
            names = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
            assert name in names, f"{entry['test']} is not a test of {path}"
            assert len(entry["reason"]) > 10
