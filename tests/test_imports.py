"""The packages import each other in one direction only, under their `tamiz.*` names.

    core <- pipeline <- tokenizer <- shards <- train <- flows

A package may import itself and any package to its left, never one to its right (docs/architecture.md).
Every import counts, module-level or inside a function, and so does the code that tests and tools
hand to a child interpreter as a string: an arrow back is an arrow back wherever it is written.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["core", "pipeline", "tokenizer", "shards", "train", "flows"]
RANK = {name: i for i, name in enumerate(LAYERS)}


def _modules(package: str):
    for path in sorted((ROOT / package).rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted name) of every absolute import in the tree."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


def test_no_import_points_back_up_the_layers():
    back = []
    for package in LAYERS:
        for path, tree in _modules(package):
            for line, name in _imported(tree):
                parts = name.split(".")
                if parts[0] != "tamiz" or len(parts) < 2:
                    continue
                target = parts[1]
                assert target in RANK, f"{path.relative_to(ROOT)}:{line}: imports unknown tamiz package {name}"
                if RANK[target] > RANK[package]:
                    back.append(f"{path.relative_to(ROOT)}:{line}: {package} imports {name}")
    assert back == []


def test_code_uses_the_tamiz_names_only():
    """`import pipeline` would load a second copy of a module next to `tamiz.pipeline` (two Document
    classes, two caches) and collide with other packages named `pipeline` or `train`."""
    # a statement that starts a line, follows `;`, or starts a string (or a line inside one)
    bare = re.compile(r"(?:^\s*|;\s*|[\"']|\\n)(?:from|import) (?:" + "|".join(LAYERS) + r")(?=[.\s]|$)")
    bare_m = re.compile(r"[\"']-m[\"'],\s*[\"'](?:" + "|".join(LAYERS) + r")\.")
    hits = []
    for folder in LAYERS + ["tests", "benchmarks", "scripts"]:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if line.lstrip().startswith("#") or path.name == "test_imports.py":
                    continue
                code = line.split(" #")[0]
                if bare.search(code) or bare_m.search(code):
                    hits.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert hits == []


def test_packaging_maps_every_package_folder():
    """pyproject's package list names every folder with an __init__.py, under tamiz.*, so a wheel
    (not only an editable install) holds all of them."""
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert setup["package-dir"] == {f"tamiz.{p}": p for p in LAYERS}
    folders = sorted("tamiz." + ".".join(init.parent.relative_to(ROOT).parts)
                     for p in LAYERS for init in (ROOT / p).rglob("__init__.py"))
    assert sorted(setup["packages"]) == folders
