"""The package's layers, as DESIGN.md orders them: no module imports one above its own.

An AST walk over every module, lazy imports inside functions included, so that a higher layer
reached for "just this once" fails here, naming the importer and the imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "wrnsearch"

# Each unit (a top-level module or subpackage of wrnsearch) and its layer: a module may import
# its own unit and units of lower layers only. Units on one layer are peers that import none of
# each other.
LAYERS: dict[str, int] = {
    "errors": 0, "units": 0, "files": 0, "compat": 0, "record": 0,
    "spec": 1,
    "cost": 2, "model": 2, "measure": 2, "data": 2,
    "train": 3,
    "space": 4,
    "study": 5,
    "pareto": 6,
    "search": 7,
    "report": 8, "deploy": 8,
    "cluster": 9,
    "bench": 10,
    "cli": 11,
}
# the package root re-exports the leaves' public names; ``python -m wrnsearch`` runs the CLI
ROOT_MAY_IMPORT = {"__init__": 3, "__main__": 11}
# Arithmetic on specs, spaces, fronts and scheduling decisions imports no torch, Ray or plotly,
# so that the same decisions serve a real search and a replay.
PURE = ["spec.py", "cost.py", "units.py", "record.py", "space", "pareto", "search/decisions.py",
        "search/options.py", "study/outcome.py"]
HEAVY = {"torch", "torchvision", "ray", "plotly"}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _unit(path: Path, package: Path = PACKAGE) -> str:
    return path.relative_to(package).with_suffix("").parts[0]


def _imports(path: Path, package: Path = PACKAGE) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, nested ones included."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package_parts = ["wrnsearch", *path.relative_to(package).parent.parts]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                base = package_parts[: len(package_parts) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            if name == "wrnsearch":  # from wrnsearch import cluster: the names are units
                found += [(node.lineno, f"wrnsearch.{alias.name}") for alias in node.names]
    return found


def _layer_of_import(name: str) -> tuple[str, int] | None:
    parts = name.split(".")
    if parts[0] != "wrnsearch" or len(parts) < 2:
        return None
    unit = parts[1]
    if unit not in LAYERS:
        return None  # a name re-exported by the package root (__version__, parse_name ...)
    return unit, LAYERS[unit]


def test_every_unit_has_a_layer():
    units = {_unit(p) for p in _modules()} - set(ROOT_MAY_IMPORT)
    assert units == set(LAYERS), f"place these in LAYERS: {sorted(units ^ set(LAYERS))}"


def _violations(path: Path, package: Path = PACKAGE) -> list[str]:
    unit = _unit(path, package)
    own = ROOT_MAY_IMPORT.get(unit, LAYERS.get(unit))
    wrong = []
    for line, name in _imports(path, package):
        target = _layer_of_import(name)
        if target is None or target[0] == unit:
            continue
        target_unit, layer = target
        if layer > own or (layer == own and unit not in ROOT_MAY_IMPORT):
            wrong.append(f"{path.relative_to(package)}:{line} imports {name} (layer {layer} {target_unit}, "
                         f"above or beside its own layer {own} {unit})")
    return wrong


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_higher_layer(path):
    wrong = _violations(path)
    assert not wrong, "\n".join(wrong)


def test_the_layer_walk_catches_upward_imports(tmp_path):
    """The checker itself: a lazy import of the CLI inside a leaf's function, a relative import
    of a higher package, and an import of a peer are each found; the real file passes."""
    package = tmp_path / "wrnsearch"
    (package / "study").mkdir(parents=True)
    spec = package / "spec.py"
    spec.write_text((PACKAGE / "spec.py").read_text())
    assert _violations(spec, package) == []
    spec.write_text(spec.read_text() + "\n\ndef _sneaky():\n    from wrnsearch.cli import main\n    return main\n")
    relative = package / "study" / "x.py"
    relative.write_text("from ..search import run_search\nfrom . import outcome\n")
    peer = package / "cost.py"
    peer.write_text("from wrnsearch import model\n")
    assert [v.split(" imports ")[1].split()[0] for v in _violations(spec, package)] == ["wrnsearch.cli"]
    assert [v.split(" imports ")[1].split()[0] for v in _violations(relative, package)] == ["wrnsearch.search"]
    assert [v.split(" imports ")[1].split()[0] for v in _violations(peer, package)] == ["wrnsearch.model"]


@pytest.mark.parametrize("entry", PURE)
def test_arithmetic_imports_no_torch_ray_or_plotly(entry):
    paths = sorted((PACKAGE / entry).rglob("*.py")) if (PACKAGE / entry).is_dir() else [PACKAGE / entry]
    assert paths
    for path in paths:
        heavy = [f"{path.relative_to(PACKAGE)}:{line} imports {name}" for line, name in _imports(path)
                 if name.split(".")[0] in HEAVY]
        assert not heavy, heavy
        # nor through a module of ours that does
        ours = [name for _, name in _imports(path) if name.startswith("wrnsearch.")]
        for name in ours:
            target = _layer_of_import(name)
            assert target is None or target[0] not in ("model", "measure", "data", "train", "report"), (path, name)


def test_only_search_and_its_benchmark_know_ray_and_optuna_together():
    both = []
    for path in _modules():
        roots = {name.split(".")[0] for _, name in _imports(path)}
        if {"ray", "optuna"} <= roots:
            both.append(_unit(path))
    assert set(both) <= {"search", "bench"}, both
    assert "search" in both


def test_modules_and_functions_stay_small():
    """One concern each: no module over 500 lines, no function over 80."""
    big = []
    for path in _modules():
        source = path.read_text()
        if len(source.splitlines()) > 500:
            big.append(f"{path.relative_to(PACKAGE)}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > 80:
                    big.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}: {length} lines")
    assert not big, big


def test_outcome_strings_are_spelled_by_their_owners_only():
    """The trial record (record.py) and its outcome (study/outcome.py) own these strings."""
    strings = {"complete", "truncated", "pruned", "diverged", "out_of_memory", "failed", "infeasible",
               "interrupted", "reused", "done", "running", "waiting", "reused_from", "infeasible_reason",
               "fail_reason", "prune_reason", "retry_of"}
    owners = {"record.py", "study/outcome.py"}
    spelled = []
    for path in _modules():
        rel = str(path.relative_to(PACKAGE))
        if rel in owners:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in strings:
                spelled.append(f"{rel}:{node.lineno} {node.value!r}")
    assert not spelled, spelled
