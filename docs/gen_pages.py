"""Generates the site's pages that are not written by hand (run by mkdocs-gen-files).

Every fact is written once, elsewhere; this file only moves it onto the site:

- `index.md`, `architecture.md`, `contributing.md`: the repository's
  `README.md`, `ARCHITECTURE.md` and `CONTRIBUTING.md`, links rewritten;
- `guides/<name>.md`: the runnable guides `docs/guides/<name>.py`, their
  top-level strings as Markdown and their code as code blocks (keras.io's
  convention);
- `reference/<module>.md`: one page per public module, one entry per name in
  its `__all__`, rendered from the docstrings by mkdocstrings;
- `results.md`: the summary table and each family's report, from
  `benchmarks/results/`;
- `benchmarks/<name>.md`: what each benchmark measured and how to read it,
  with the figures they show.

`pages()` returns them as `{path: str or bytes}`, so the tests can check
them without building the site.
"""

import ast
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUIDES = os.path.join(ROOT, "docs", "guides")
RESULTS = os.path.join(ROOT, "benchmarks", "results", "protocol")

#: The reference pages: (page name, module, title).
REFERENCE = (
    ("index", "keras_provguide", "kpg: GuidedModel and the penalty"),
    ("layers", "keras_provguide.layers", "kpg.layers"),
    ("data", "keras_provguide.data", "kpg.data"),
    ("datasets", "keras_provguide.datasets", "kpg.datasets"),
    ("models", "keras_provguide.models", "kpg.models"),
    ("callbacks", "keras_provguide.callbacks", "kpg.callbacks"),
    ("losses", "keras_provguide.losses", "kpg.losses"),
    ("metrics", "keras_provguide.metrics", "kpg.metrics"),
    ("fine_tuning", "keras_provguide.fine_tuning", "kpg.fine_tuning"),
    ("localization", "keras_provguide.localization", "kpg.localization"),
    ("visualization", "keras_provguide.visualization", "kpg.visualization"),
)

# Repository paths that are pages on the site.
LINKS = (
    (r"docs/guides/(\w+)\.py", r"guides/\1.md"),
    (r"ARCHITECTURE\.md", "architecture.md"),
    (r"CONTRIBUTING\.md", "contributing.md"),
    (r"benchmarks/README\.md", "results.md"),
    (r"docs/reference/(\w+)\.md", r"reference/\1.md"),
)


def site_links(markdown, depth=0):
    """`markdown` with links to repository files that have a page pointing at that page."""
    up = "../" * depth
    for pattern, target in LINKS:
        markdown = re.sub(r"\]\((?:\.\./)*" + pattern + r"(#[\w-]*)?\)",
                          lambda m, t=target, p=pattern: "](" + up + re.sub(p, t, m.group(0)[2:-1].lstrip("./"))
                          + ")", markdown)
    return markdown


def guide_markdown(source):
    """A guide's Markdown: each top-level string statement as text, the code between as code blocks."""
    lines = source.splitlines()
    texts = [node for node in ast.parse(source).body
             if isinstance(node, ast.Expr) and isinstance(getattr(node.value, "value", None), str)]
    parts, line = [], 0
    for node in texts:
        code = "\n".join(lines[line: node.lineno - 1]).strip("\n")
        if code.strip():
            parts.append(f"```python\n{code}\n```")
        parts.append(node.value.value.strip("\n"))
        line = node.end_lineno
    code = "\n".join(lines[line:]).strip("\n")
    if code.strip():
        parts.append(f"```python\n{code}\n```")
    return "\n\n".join(parts) + "\n"


def public_names(module_name):
    """The names in `module_name`'s `__all__`, subpackages left out, read from its source (no import)."""
    with open(os.path.join(ROOT, *module_name.split("."), "__init__.py")) as file:
        tree = ast.parse(file.read())
    (names,) = [ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                and any(getattr(target, "id", None) == "__all__" for target in node.targets)]
    # `from keras_provguide import layers` imports a subpackage; `from keras_provguide.x import y`, a name.
    subpackages = {alias.asname or alias.name for node in tree.body if isinstance(node, ast.ImportFrom)
                   and (node.module == module_name or (node.level and not node.module)) for alias in node.names}
    return [name for name in names if name not in subpackages]


def reference_page(module_name, title):
    entries = "\n\n".join(f"::: {module_name}.{name}" for name in public_names(module_name))
    return f"# {title}\n\n{entries}\n"


def results_page():
    with open(os.path.join(ROOT, "benchmarks", "results", "summary.md")) as file:
        summary = file.read()
    text = ("# Results\n\nEvery figure on this page is generated from the stored results in "
            "`benchmarks/results/` by `benchmarks/summary.py` and the family benchmarks; "
            "each benchmark's page (below in the navigation) says how it was run, how long it took and "
            "how to read it.\n\n"
            "## Summary\n\n" + summary)
    files = {}
    for name in sorted(os.listdir(RESULTS)):
        stem, extension = os.path.splitext(name)
        if extension != ".md" or not os.path.exists(os.path.join(RESULTS, stem + ".json")):
            continue
        with open(os.path.join(RESULTS, name)) as file:
            text += f"\n## {stem}\n\n" + re.sub(r"^#+ ", "### ", file.read(), flags=re.M) + "\n"
        figure = os.path.join(RESULTS, stem + ".png")
        if os.path.exists(figure):
            with open(figure, "rb") as file:
                files[f"results/{stem}.png"] = file.read()
            text += f"\n![{stem}](results/{stem}.png)\n"
    files["results.md"] = text
    return files


def pages():
    """Every generated page, `{path under the site: str or bytes}`."""
    out = {}
    for source, target in (("README.md", "index.md"), ("ARCHITECTURE.md", "architecture.md"),
                           ("CONTRIBUTING.md", "contributing.md")):
        with open(os.path.join(ROOT, source)) as file:
            out[target] = site_links(file.read())
    for name in sorted(os.listdir(GUIDES)):
        if name.endswith(".py"):
            with open(os.path.join(GUIDES, name)) as file:
                out[f"guides/{name[:-3]}.md"] = site_links(guide_markdown(file.read()), depth=1)
    for page, module_name, title in REFERENCE:
        out[f"reference/{page}.md"] = reference_page(module_name, title)
    out.update(results_page())
    out.update(benchmark_pages())
    return out


BENCHMARKS = os.path.join(ROOT, "benchmarks")


def benchmark_names():
    """The benchmarks with a page of their own, `benchmarks/<name>.md`, in file order."""
    return sorted(name[:-3] for name in os.listdir(BENCHMARKS) if name.endswith(".md") and name != "README.md")


def benchmark_pages():
    """Each `benchmarks/<name>.md`, and every figure under `benchmarks/results/` they may show."""
    out = {}
    for name in benchmark_names():
        with open(os.path.join(BENCHMARKS, name + ".md")) as file:
            out[f"benchmarks/{name}.md"] = file.read()
    for folder, _, files in os.walk(os.path.join(BENCHMARKS, "results")):
        for file_name in files:
            if file_name.endswith(".png"):
                path = os.path.join(folder, file_name)
                with open(path, "rb") as file:
                    out["benchmarks/" + os.path.relpath(path, BENCHMARKS).replace(os.sep, "/")] = file.read()
    return out


def _write():
    import mkdocs_gen_files

    for path, content in pages().items():
        with mkdocs_gen_files.open(path, "wb" if isinstance(content, bytes) else "w") as file:
            file.write(content)


if __name__ in ("__main__", "<run_path>"):
    _write()
