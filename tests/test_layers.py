"""The package's layers, as docs/architecture.md orders them: no module imports one above its own,
and none reaches past another package's front (its ``__init__``) into its modules.

An AST walk over every module, lazy imports inside functions included, so that a higher layer
reached for "just this once" fails here, naming the importer and the imported.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "wrnsearch"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def _read_layers(text: str) -> dict[str, int]:
    """Each unit (a top-level module or subpackage of wrnsearch) and its layer, from the rows
    ``| N | `unit`, `package/` | ... |`` of the table under docs/architecture.md's "## Layers"."""
    section = text.split("## Layers", 1)[-1].split("\n## ", 1)[0]
    layers: dict[str, int] = {}
    for number, units in re.findall(r"^\|\s*(\d+)\s*\|([^|]*)\|", section, flags=re.M):
        for unit in re.findall(r"`([a-z_]+)/?`", units):
            layers[unit] = int(number)
    return layers


# Each unit and its layer: a module may import its own unit and units of lower layers only. Units on
# one layer are peers that import none of each other.
LAYERS: dict[str, int] = _read_layers(ARCHITECTURE.read_text())
# the package root re-exports the leaves' public names; ``python -m wrnsearch`` runs the CLI
ROOT_MAY_IMPORT = {"__init__": 3, "__main__": max(LAYERS.values())}
# Arithmetic on specs, spaces, fronts and scheduling decisions imports no torch, Ray or plotly,
# so that the same decisions serve a real search and a replay.
PURE = ["spec.py", "cost.py", "units.py", "record.py", "space", "pareto", "search/_stop_decisions.py",
        "search/_scheduler_decisions.py", "search/_options.py", "search/_trial_context.py", "study/_outcome.py",
        "study/_urls.py"]
HEAVY = {"torch", "torchvision", "ray", "plotly"}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def test_the_layer_table_is_read_from_the_architecture_doc():
    assert LAYERS["errors"] == 0 and LAYERS["cli"] == max(LAYERS.values())
    assert LAYERS["space"] < LAYERS["samplers"] < LAYERS["study"] < LAYERS["pareto"] < LAYERS["tracking"]
    assert LAYERS["tracking"] < LAYERS["search"] < LAYERS["report"] == LAYERS["deploy"] < LAYERS["cluster"]
    table = ("## Layers\n\n| layer | units | owns |\n| ---: | --- | --- |\n| 0 | `errors`, `lazy` | x |\n"
             "| 7 | `pareto/` | y |\n\n## Steps\n\n| 1 | `run_search` | z |\n")
    assert _read_layers(table) == {"errors": 0, "lazy": 0, "pareto": 7}


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
        elif len(name.split(".")) > 2 and (package / target_unit).is_dir():
            wrong.append(f"{path.relative_to(package)}:{line} imports {name}, past the front of {target_unit}/: "
                         f"import it from wrnsearch.{target_unit} (add it to its __init__ if it is not there)")
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
    (package / "search").mkdir()
    reach = package / "search" / "y.py"
    reach.write_text("from wrnsearch.study import open_study\nfrom wrnsearch.study._writer import tell_record\n"
                     "from wrnsearch.search._driver import run_search\n\n\ndef f():\n"
                     "    from wrnsearch.study.outcome import outcome_of\n")
    assert [v.split(" imports ")[1].split()[0] for v in _violations(spec, package)] == ["wrnsearch.cli"]
    assert [v.split(" imports ")[1].split()[0] for v in _violations(relative, package)] == ["wrnsearch.search"]
    assert [v.split(" imports ")[1].split()[0] for v in _violations(peer, package)] == ["wrnsearch.model"]
    # past another package's front, private module or not; its own package's modules are fine
    assert [v.split(" imports ")[1].split()[0].rstrip(",") for v in _violations(reach, package)] == [
        "wrnsearch.study._writer", "wrnsearch.study.outcome"]


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
    """One concern each: no module over MAX_MODULE_LINES lines, no function over MAX_FUNCTION_LINES."""
    big = []
    for path in _modules():
        source = path.read_text()
        if len(source.splitlines()) > MAX_MODULE_LINES:
            big.append(f"{path.relative_to(PACKAGE)}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    big.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}: {length} lines")
    assert not big, big


def test_outcome_strings_are_spelled_by_their_owners_only():
    """The trial record (record.py) and its outcome (study/_outcome.py) own these strings."""
    strings = {"complete", "truncated", "pruned", "diverged", "out_of_memory", "failed", "infeasible",
               "interrupted", "reused", "done", "running", "waiting", "reused_from", "infeasible_reason",
               "fail_reason", "prune_reason", "retry_of"}
    owners = {"record.py", "study/_outcome.py"}
    spelled = []
    for path in _modules():
        rel = str(path.relative_to(PACKAGE))
        if rel in owners:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in strings:
                spelled.append(f"{rel}:{node.lineno} {node.value!r}")
    assert not spelled, spelled


def _module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package).with_suffix("").parts
    return ".".join(["wrnsearch", *(parts[:-1] if parts[-1] == "__init__" else parts)])


def _imported_modules(path: Path, package: Path = PACKAGE) -> set[str]:
    """What a module imports, with ``from wrnsearch.cli import _run_commands`` as the submodule too."""
    names = {name for _, name in _imports(path, package)}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").startswith("wrnsearch"):
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _import_cycles(package: Path = PACKAGE) -> list[list[str]]:
    """Groups of modules that import each other, directly or round a loop (imports inside
    functions included: a loop hidden in a function is a loop all the same)."""
    paths = sorted(package.rglob("*.py"))
    known = {_module_name(p, package) for p in paths}
    graph = {_module_name(p, package): {n for n in _imported_modules(p, package) if n in known} for p in paths}
    order, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        order[node] = low[node] = len(order)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in order:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], order[nxt])
        if low[node] == order[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in order:
            visit(node)
    return cycles


def test_no_module_imports_round_a_loop(tmp_path):
    assert _import_cycles() == []
    # the checker itself, on a loop hidden inside a function
    study = tmp_path / "wrnsearch" / "study"
    study.mkdir(parents=True)
    (study / "__init__.py").write_text("")
    (study / "_storage.py").write_text("def f():\n    from wrnsearch.study._shared_fs import network_fs\n")
    (study / "_shared_fs.py").write_text("from wrnsearch.study._storage import f\n")
    assert _import_cycles(tmp_path / "wrnsearch") == [["wrnsearch.study._shared_fs", "wrnsearch.study._storage"]]
    # and a front whose module imports it back (the commands registering on the CLI's group)
    cli = tmp_path / "wrnsearch" / "cli"
    cli.mkdir()
    (cli / "__init__.py").write_text("main = 1\nfrom wrnsearch.cli import _run\n")
    (cli / "_run.py").write_text("from wrnsearch.cli import main\n")
    assert _import_cycles(tmp_path / "wrnsearch")[0] == ["wrnsearch.cli", "wrnsearch.cli._run"]
