"""The import contract: layers run one way, no module cycles, pure modules stay pure.

Read from the source with ``ast`` (imports inside functions count too: a lazy import is still
a dependency), so the first upward import fails CI with its file and line. The layers, bottom
to top:

- ground: errors, services, config, crypto, store/, web/ (the toolkit), jobs/ (the queue) —
  they know no concept;
- the concepts, each above the ones it uses: audit (the log everyone writes) < accounts <
  hashing < intake < cases (casework), selfprotect (hash-only protection cases) < alerts (a child
  in danger now: the duty desk's referral, notifications and escalation; it refers through
  casework and intake hands it each new report through a function the root wires in) < hotline <
  oversight (reading the log), mail, helpline (the child helpline's contacts and cases: it files
  reports through intake, refers to the police through casework, gives the self-protection
  link; it sits above the hotline with oversight and mail and imports neither), platforms
  (partner platforms report through the CyberTipline Reporting API's shape: their submissions
  until finished, then a report through intake; beside oversight, mail and helpline) < coordination
  (the coordinator's national figures: aggregates read from every concept's tables below it)
  < mnr (the Model National Response tracker: the 21 capabilities, their evidence and actions,
  fed with aggregates of the concepts' tables; it may bind the national figures);
- the roof: app (the composition root), cli, schema/ (registry, migrations, reseal, grants).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
ROOT = SRC / "tarcza"

GROUND = ("errors", "services", "config", "crypto", "store", "web", "jobs", "__init__")
CONCEPTS = (
    "audit",
    "accounts",
    "hashing",
    "intake",
    "cases",
    "selfprotect",
    "alerts",
    "hotline",
    "oversight",
    "mail",
    "helpline",
    "platforms",
    "coordination",
    "mnr",
)
ROOF = ("app", "cli", "schema", "__main__")
RANK = {
    **dict.fromkeys(GROUND, 0),
    **{name: 1 + i for i, name in enumerate(CONCEPTS)},
    **dict.fromkeys(ROOF, 100),
}
# oversight and mail both sit just above hotline and never import each other; so do cases and
# selfprotect (the child's own protection cases) above intake.
RANK["mail"] = RANK["oversight"]
RANK["helpline"] = RANK["oversight"]
RANK["platforms"] = RANK["oversight"]
RANK["selfprotect"] = RANK["cases"]

PURE_NAMES = (
    "rules.py",
    "permissions.py",
    "urls.py",
    "chain.py",
    "pdq.py",
    "index.py",
    "schedule.py",
    "addresses.py",
)
# What a pure module may not import: web, database, network, templating, processes.
IMPURE_PACKAGES = frozenset(
    {
        "fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "psycopg", "httpx", "dns",
        "redis", "huey", "jinja2", "smtplib", "socket", "ssl", "http", "urllib.request",
        "requests", "aiosmtpd", "subprocess", "multiprocessing",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported module (or name), dotted
    line: int
    type_only: bool  # under ``if TYPE_CHECKING:``


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(), str(path))
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    type_only_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                type_only_lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, node.lineno, node.lineno in type_only_lines)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield Import(
                    name, f"{base}.{alias.name}", node.lineno, node.lineno in type_only_lines
                )


def all_imports() -> list[Import]:
    return [imp for path in sorted(ROOT.rglob("*.py")) for imp in imports_of(path)]


def folder(dotted: str) -> str:
    """The top-level part of tarcza a module belongs to (``hotline``, ``app``, ``errors`` …)."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def tarcza_module(target: str, known: set[str]) -> str | None:
    """The tarcza module ``target`` names (``from m import name`` gives m.name), or None."""
    if not target.startswith("tarcza"):
        return None
    while target and target not in known:
        target = target.rpartition(".")[0]
    return target or None


KNOWN = {module_name(p) for p in ROOT.rglob("*.py")}
IMPORTS = all_imports()


def test_every_folder_has_a_layer() -> None:
    unranked = sorted({folder(m) for m in KNOWN} - set(RANK))
    assert not unranked, f"give these a layer in the import contract: {unranked}"


def test_imports_run_one_way() -> None:
    upward = []
    for imp in IMPORTS:
        target = tarcza_module(imp.target, KNOWN)
        if target is None:
            continue
        src, dst = folder(imp.module), folder(target)
        if src != dst and RANK[dst] > RANK[src]:
            upward.append(f"{imp.module}:{imp.line} imports {target} ({src} -> {dst}, upward)")
        elif src != dst and RANK[dst] == RANK[src] and RANK[src] not in (0, 100):
            upward.append(f"{imp.module}:{imp.line} imports {target} (sideways, {src} -> {dst})")
    assert not upward, "\n".join(upward)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_module_cycles() -> None:
    edges: dict[str, set[str]] = {}
    for imp in IMPORTS:
        target = tarcza_module(imp.target, KNOWN)
        # a package's __init__ is imported on the way to any of its modules: not a real edge
        if target is None or imp.type_only or target == imp.module or target in ("tarcza",):
            continue
        edges.setdefault(imp.module, set()).add(target)
    assert not _cycles(edges), _cycles(edges)


def test_no_folder_cycles() -> None:
    edges: dict[str, set[str]] = {}
    for imp in IMPORTS:
        target = tarcza_module(imp.target, KNOWN)
        if target is None or imp.type_only:
            continue
        src, dst = folder(imp.module), folder(target)
        if src != dst and dst != "__init__":
            edges.setdefault(src, set()).add(dst)
    assert not _cycles(edges), _cycles(edges)


PURE = sorted(p for p in ROOT.rglob("*.py") if p.name in PURE_NAMES)


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_modules_import_no_web_database_or_network(path: Path) -> None:
    pure = {module_name(p) for p in PURE}
    bad = []
    for imp in imports_of(path):
        target = tarcza_module(imp.target, KNOWN)
        if target is not None:
            if target not in pure and target not in ("tarcza.errors",):
                bad.append(f"line {imp.line}: {target} is not a pure module")
            continue
        top = imp.target.split(".")[0]
        if top in IMPURE_PACKAGES or imp.target in IMPURE_PACKAGES:
            bad.append(f"line {imp.line}: {imp.target}")
    assert not bad, f"{path.relative_to(ROOT)} must stay pure:\n" + "\n".join(bad)


def test_the_contract_catches_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: an intake module importing the hotline is reported."""
    fake = tmp_path / "tarcza" / "intake" / "bad.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("from tarcza.hotline.service import HotlineService\n")
    found = list(imports_of_at(fake, tmp_path))
    target = tarcza_module(found[0].target, KNOWN)
    assert target == "tarcza.hotline.service"
    assert RANK[folder(target)] > RANK[folder(found[0].module)]


def imports_of_at(path: Path, src: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text())
    name = ".".join(path.relative_to(src).with_suffix("").parts)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                yield Import(name, f"{node.module}.{alias.name}", node.lineno, False)
