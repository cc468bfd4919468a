"""Every guide in `docs/guides/` runs top to bottom on the active backend, and the site's pages are complete."""

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDES = sorted((ROOT / "docs" / "guides").glob("*.py"))
sys.path.insert(0, str(ROOT / "docs"))

import gen_pages  # noqa: E402


def shortened(source):
    """The guide with fewer epochs: a synthetic phase of 1, and at most 2 in all."""
    source = re.sub(r"synthetic_epochs=\d+", "synthetic_epochs=1", source)
    return re.sub(r"(?<![\w])epochs=(\d+)", lambda m: f"epochs={min(int(m.group(1)), 2)}", source)


@pytest.mark.parametrize("guide", GUIDES, ids=[guide.stem for guide in GUIDES])
def test_guide_runs_top_to_bottom(guide, tmp_path):
    script = tmp_path / guide.name
    script.write_text(shortened(guide.read_text()))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    completed = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                               text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert completed.stdout.strip(), "a guide shows what it computes"


def test_shortening_keeps_the_synthetic_phase_inside_the_run():
    source = "FakeThenReal(a, b, synthetic_epochs=6)\nmodel.fit(data, epochs=9)\nfit(x, epochs=1)"
    assert shortened(source) == "FakeThenReal(a, b, synthetic_epochs=1)\nmodel.fit(data, epochs=2)\nfit(x, epochs=1)"


def test_guide_markdown_alternates_text_and_code():
    source = '"""\n# Title\n\nIntro.\n"""\n\nimport keras\n\n"""\n## Next\n"""\n\nx = 1\n'
    assert gen_pages.guide_markdown(source) == (
        "# Title\n\nIntro.\n\n```python\nimport keras\n```\n\n## Next\n\n```python\nx = 1\n```\n"
    )


def test_every_guide_is_in_the_site_navigation_and_links_resolve():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = gen_pages.pages()
    for guide in GUIDES:
        assert f"guides/{guide.stem}.md" in nav, guide.name
        assert f"guides/{guide.stem}.md" in pages
    for name in gen_pages.benchmark_names():
        assert f"benchmarks/{name}.md" in nav, f"benchmarks/{name}.md is not in mkdocs.yml's nav"
    for path, text in pages.items():
        if isinstance(text, bytes):
            continue
        for target in re.findall(r"\]\(([^)#]+\.md)(?:#[^)]*)?\)", text):
            resolved = os.path.normpath(os.path.join(os.path.dirname(path), target))
            assert resolved in pages or (ROOT / "docs" / resolved).exists(), f"{path} links to {target}"


def test_every_public_name_has_an_example_and_a_reference_entry():
    pages = gen_pages.pages()
    reference = "\n".join(text for path, text in pages.items() if path.startswith("reference/"))
    missing_example, missing_entry = [], []
    for _, module_name, _ in gen_pages.REFERENCE:
        module = __import__(module_name, fromlist=["__all__"])
        for name in gen_pages.public_names(module_name):
            doc = inspect.getdoc(getattr(module, name)) or ""
            if "Example" not in doc or "```python" not in doc:
                missing_example.append(f"{module_name}.{name}")
            if f"::: {module_name}.{name}\n" not in reference + "\n":
                missing_entry.append(f"{module_name}.{name}")
    assert not missing_entry, f"not in the API reference: {missing_entry}"
    assert not missing_example, f"no docstring example: {missing_example}"


def test_readme_is_a_front_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    for guide in GUIDES:
        assert f"docs/guides/{guide.name}" in readme, f"the README's feature table links {guide.name}"


def _documented_arguments(doc):
    """The argument names of a Google-style `Args:` section (`a, b: ...` entries name both)."""
    lines = doc.splitlines()
    if "Args:" not in lines:
        return []
    start = lines.index("Args:") + 1
    names = []
    for line in lines[start:]:
        if line and not line.startswith(" "):
            break
        entry = re.match(r"^    (\*{0,2}\w+(?:, \*{0,2}\w+)*):(\s|$)", line)
        if entry:
            names += [name.strip().lstrip("*") for name in entry.group(1).split(",")]
    return names


def test_documented_arguments_are_in_the_signature():
    wrong = []
    for _, module_name, _ in gen_pages.REFERENCE:
        module = __import__(module_name, fromlist=["__all__"])
        for name in gen_pages.public_names(module_name):
            value = getattr(module, name)
            parameters = inspect.signature(value).parameters
            for argument in _documented_arguments(inspect.getdoc(value) or ""):
                if argument not in parameters:
                    wrong.append(f"{module_name}.{name}: {argument}")
    assert not wrong, f"documented but not in the signature: {wrong}"
