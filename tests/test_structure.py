"""The package's shape: every module imports alone, no import cycles, one resolution per run."""

from __future__ import annotations

import ast
import collections
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "clustersim"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of the package this module imports, at module level or inside functions (not the
    annotation-only imports under ``if TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    typing_only = set()  # imports under `if TYPE_CHECKING:` are for annotations, not dependencies
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                found.add(target)
    return found


def _graph() -> nx.DiGraph:
    mods = _modules()
    g = nx.DiGraph()
    for name, path in mods.items():
        g.add_node(name)
        for target in _imports(name, path, set(mods)):
            if not target.startswith(name + "."):  # a package importing its own submodules is not a cycle
                g.add_edge(name, target)
    return g


#: Cycles still to remove (each listed one must exist: the list only shrinks). None are left.
KNOWN_CYCLES: list[frozenset[str]] = []


def test_no_import_cycles():
    """No two modules of the package import each other, directly or through others (imports inside
    functions count: a deferred import is still a dependency)."""
    cycles = {frozenset(c) for c in nx.simple_cycles(_graph()) if len(c) > 1}
    assert cycles <= set(KNOWN_CYCLES), sorted(map(sorted, cycles - set(KNOWN_CYCLES)))
    assert set(KNOWN_CYCLES) <= cycles, "a known cycle is gone: remove it from KNOWN_CYCLES"


@pytest.mark.parametrize("module", sorted(m for m in _modules() if not m.endswith("__main__")))
def test_each_module_imports_alone(module):
    result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True,
                            cwd=PACKAGE.parent)
    assert result.returncode == 0, result.stderr[-2000:]


def test_one_simulate_resolves_its_scenario_once(monkeypatch):
    """Catalog look-ups happen during resolution only: one of each per simulate."""
    from clustersim import load_scenario, simulate
    from clustersim.scenario import catalog
    from clustersim.scenario import model as scenario_model

    counts: collections.Counter[str] = collections.Counter()

    def counting(module, name):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            counts[name] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    for name in ("resolve_gpu", "resolve_model"):
        counting(scenario_model, name)
    for name in ("price", "reliability_preset", "default_price", "kernel_model"):
        counting(catalog, name)
    s = load_scenario("scenarios/quickstart.yaml")
    counts.clear()
    simulate(s, replicas=2, workers=1)
    assert counts["resolve_gpu"] == 1 and counts["resolve_model"] == 1
    assert all(n <= 1 for n in counts.values()), dict(counts)
