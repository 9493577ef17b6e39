"""Import direction of the lamm package (docs/architecture.md, "Layers"), checked on the code alone.

Every ``import`` in every module of ``lamm/`` counts, lazy ones inside functions included: a lazy
import hides a cycle from Python, not from this test. Only ``if TYPE_CHECKING:`` blocks are skipped
(they never run). The layers are written here, not read from the docs, so the test reads nothing
but the code.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lamm"

# Bottom first. A module may import its own area, any area of a lower layer, and a peer area of
# its own layer only where the layer says so.
LAYERS: list[tuple[tuple[str, ...], bool]] = [
    (("lamm", "lamm.formats", "lamm.protocol", "lamm.progress", "lamm.redact", "lamm.versions"), True),
    (("lamm.metrics",), False),  # torch-free scoring primitives
    (("lamm.tasks",), False),  # the dataset registry: formats, protocol, metrics only
    (("lamm.llm_client",), False),
    (("lamm.data", "lamm.model"), False),  # peers: never import each other
    (("lamm.bench", "lamm.train"), False),  # peers: the benchmark never imports training, nor back
    (("lamm.cli", "lamm.quickstart"), True),
]

# Scoring runs without the ML stack: these modules, and every lamm module they import (at any
# depth, lazily or not), never import one of HEAVY.
SCORING = ("lamm.metrics", "lamm.tasks", "lamm.bench.score", "lamm.bench.score_cli")
HEAVY = ("torch", "torchvision", "transformers", "peft", "deepspeed", "accelerate")

# Edges that other branches are removing; the lead deletes each entry once that branch is merged.
# Key: (importing module, imported module or package). Any other upward edge fails.
PENDING: dict[tuple[str, str], str] = {}  # edges other branches are removing: none left


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    line: int
    lazy: bool

    def __str__(self) -> str:
        where = f"{self.src.replace('.', '/')}.py:{self.line}"
        return f"{self.src} -> {self.dst}  ({where}{', lazy' if self.lazy else ''})"


def module_files() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = module_files()


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def imports_of(module: str, path: Path | None = None) -> list[Edge]:
    """Every import in ``module`` (read from ``path``, by default its file in lamm/), resolved to
    absolute names; ``from a import b`` names ``a.b`` when that is a module of the package."""
    path = path or MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    edges: list[Edge] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub, lazy)
                continue
            if isinstance(child, ast.Import):
                edges.extend(Edge(module, a.name, child.lineno, lazy) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                for a in child.names:
                    sub = f"{target}.{a.name}"
                    edges.append(Edge(module, sub if sub in MODULES else target, child.lineno, lazy))
            visit(child, lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(path.read_text("utf-8"), str(path)), False)
    return edges


ALL_EDGES = [e for m in MODULES for e in imports_of(m)]


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def area_of(module: str) -> tuple[str, int, bool] | None:
    """(area, layer index, peers may import each other) of a lamm module; ``lamm`` itself is only
    ``lamm/__init__.py``."""
    best = None
    for index, (areas, peers) in enumerate(LAYERS):
        for area in areas:
            if (module == area if area == "lamm" else within(module, area)) and (
                best is None or len(area) > len(best[0])
            ):
                best = (area, index, peers)
    return best


def _pending(edge: Edge) -> bool:
    return any(edge.src == src and within(edge.dst, dst) for src, dst in PENDING)


def test_every_module_has_a_layer():
    missing = [m for m in MODULES if area_of(m) is None]
    assert not missing, (
        "modules of lamm/ in no layer (add them to LAYERS and docs/architecture.md):\n" + "\n".join(missing)
    )


def test_imports_point_down():
    bad = []
    for e in ALL_EDGES:
        if not within(e.dst, "lamm") or _pending(e):
            continue
        src, dst = area_of(e.src), area_of(e.dst)
        if src is None or dst is None:
            bad.append(f"{e}  [unknown module]")
        elif src[0] != dst[0] and not (dst[1] < src[1] or (dst[1] == src[1] and src[2])):
            bad.append(f"{e}  [{src[0]} (layer {src[1]}) may not import {dst[0]} (layer {dst[1]})]")
    assert not bad, "imports against the layering (docs/architecture.md):\n" + "\n".join(bad)


def test_pending_entries_name_existing_modules():
    """Once a branch has removed the module, its entries go: the list only shrinks."""
    gone = [f"{src} -> {dst} ({branch})" for (src, dst), branch in PENDING.items() if src not in MODULES]
    assert not gone, "PENDING entries whose module is gone; delete them:\n" + "\n".join(gone)


def heavy_imports(start: str) -> list[str]:
    """Chains ``start -> ... -> torch`` through lamm modules (parents packages included: importing
    ``lamm.a.b`` runs ``lamm/a/__init__.py``)."""
    by_src: dict[str, list[Edge]] = {}
    for e in ALL_EDGES:
        by_src.setdefault(e.src, []).append(e)
    found, seen, stack = [], {start}, [(start, [start])]
    while stack:
        module, chain = stack.pop()
        for e in by_src.get(module, []):
            if e.dst.split(".")[0] in HEAVY:
                found.append(" -> ".join(chain + [f"{e.dst} ({MODULES[module].name}:{e.line})"]))
            elif within(e.dst, "lamm"):
                parts = e.dst.split(".")
                for i in range(1, len(parts) + 1):
                    name = ".".join(parts[:i])
                    if name in MODULES and name not in seen:
                        seen.add(name)
                        stack.append((name, chain + [name]))
    return found


def test_scoring_never_imports_torch():
    starts = [m for m in MODULES if any(within(m, s) for s in SCORING)]
    assert "lamm.bench.score" in starts and "lamm.metrics.parse" in starts
    bad = sorted({chain for m in starts for chain in heavy_imports(m)})
    assert not bad, "scoring modules reach the ML stack:\n" + "\n".join(bad)


def test_checker_sees_lazy_relative_and_type_checking_imports(tmp_path):
    """The parser itself, on a module written here: lazy and relative imports count, TYPE_CHECKING ones do not."""
    src = tmp_path / "runner.py"
    src.write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import prompts\n"
        "from ..score import score_dataset\n"
        "if TYPE_CHECKING:\n"
        "    import torch\n"
        "def run():\n"
        "    import lamm.train.cli\n"
        "    return prompts, score_dataset\n"
    )
    edges = {(e.dst, e.line, e.lazy) for e in imports_of("lamm.bench.eval.runner", src)}
    assert edges == {
        ("typing", 1, False),
        ("lamm.bench.eval.prompts", 2, False),
        ("lamm.bench.score", 3, False),
        ("lamm.train.cli", 7, True),
    }
    assert area_of("lamm.bench.eval.runner")[0] == "lamm.bench" and area_of("lamm")[0] == "lamm"
    assert area_of("lamm.llm_client")[1] < area_of("lamm.data")[1] == area_of("lamm.model")[1]
