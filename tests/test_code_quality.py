"""The repository's own rules, enforced by the suite so CI fails when they
break: the layer contract (import-linter, configured in pyproject.toml), no
import cycle anywhere in portside/, no transaction opened in api/ (use cases
in control/ own them), `ruff check` and `mypy` clean.

A failure here names the module and the rule; ARCHITECTURE.md says why the
layers point the way they do."""

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*command: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_layer_contracts_hold():
    out = _run(str(BIN / "lint-imports"), "--no-cache")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]


def test_the_layer_contract_catches_an_upward_import(tmp_path):
    """The contract is not vacuous: a scheduler module importing api/ breaks it."""
    shutil.copytree(ROOT / "portside", tmp_path / "portside", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    placement = tmp_path / "portside" / "scheduler" / "placement.py"
    placement.write_text(placement.read_text() + "\nfrom ..api import tasks as _upward  # noqa\n")
    out = _run(str(BIN / "lint-imports"), "--no-cache", cwd=tmp_path,
               env=dict(os.environ, PYTHONPATH=str(tmp_path)))
    assert out.returncode != 0 and "portside.scheduler.placement" in out.stdout, out.stdout[-2000:]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_between_modules_or_packages():
    # Imports made only for type annotations (under `if TYPE_CHECKING:`) are not
    # cycles at run time: agent/metadata_endpoint.py names the Agent it serves so.
    graph = grimp.build_graph("portside", exclude_type_checking_imports=True)
    modules = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert _cycles(modules) == []

    def package(module: str) -> str:
        # The service and daemon reconcilers sit above control/ while the rest of
        # scheduler/ (the placement pipeline) sits below it: the layer contract places them so.
        if module.startswith(("portside.scheduler.service_reconciler", "portside.scheduler.daemon_reconciler")):
            return module
        return ".".join(module.split(".")[:2])

    packages: dict[str, set[str]] = {}
    for module, imported in modules.items():
        packages.setdefault(package(module), set()).update(
            package(i) for i in imported if package(i) != package(module))
    assert _cycles(packages) == []


def test_cycle_finder_finds_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# What opens a unit of work on the store (store/interface.py's UnitOfWork):
# a handler that calls one has taken a use case's job (ARCHITECTURE.md).
_UNIT_OF_WORK_CALLS = {"transaction", "fenced"}
_UNIT_OF_WORK_NAMES = {"UnitOfWork", "Store"}


def _units_of_work_opened(package: Path) -> list[str]:
    """`path:line what` for each call that opens a transaction (`x.transaction()`,
    `x.fenced(token)`) and each import of the store's unit of work, in `package`."""
    found = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            where = f"{path.relative_to(package.parent)}:{getattr(node, 'lineno', 0)}"
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in _UNIT_OF_WORK_CALLS):
                found.append(f"{where} calls .{node.func.attr}()")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").endswith("store.interface"):
                found += [f"{where} imports {a.name}" for a in node.names if a.name in _UNIT_OF_WORK_NAMES]
    return found


def test_no_handler_opens_a_transaction():
    """api/ maps a request to a use case and shapes the answer; the use case
    (portside/control/) opens the transaction.  Move the block into control/."""
    assert _units_of_work_opened(ROOT / "portside" / "api") == []


def test_the_transaction_finder_finds_one(tmp_path):
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "handler.py").write_text(
        "from ..store.interface import UnitOfWork\n\n"
        "def handler(ctx):\n    with ctx.store.transaction():\n        pass\n"
        "    with ctx.store.fenced(1):\n        pass\n")
    assert _units_of_work_opened(tmp_path / "api") == [
        "api/handler.py:1 imports UnitOfWork", "api/handler.py:4 calls .transaction()",
        "api/handler.py:6 calls .fenced()"]


def test_ruff_is_clean():
    """portside/, tests/ and bench/ alike (rules and exceptions: [tool.ruff] in pyproject.toml)."""
    out = _run(str(BIN / "ruff"), "check", "--no-cache", "portside", "tests", "bench")
    assert out.returncode == 0, out.stdout[-4000:]


def test_mypy_is_clean():
    out = _run(str(BIN / "mypy"))  # files and strictness: [tool.mypy] in pyproject.toml
    assert out.returncode == 0, out.stdout[-4000:]
