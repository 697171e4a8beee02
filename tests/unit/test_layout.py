"""The package's shape: no import cycle between its modules, and no module reading another
module's private names.

Every import counts, wherever it stands: at module level, inside a function, under
`if TYPE_CHECKING:`. A function-local import is still a dependency (it runs, just later),
and exempting them once hid four circles of up to 18 files. Module size is a guide (about
400 lines), not a rule: a class is never split into files that reach into its privates.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from support.paths import ROOT

PACKAGE = ROOT / "pyexperimenter"
GUIDE_LINES = 400
HARD_LINES = 600  # past this a module is two concerns; under it, judgement


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def parsed() -> dict[str, tuple[Path, ast.Module]]:
    return {name: (path, ast.parse(path.read_text(), str(path))) for name, path in modules().items()}


def _base(name: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module an ImportFrom names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    anchor = package.split(".")
    anchor = anchor[: len(anchor) - (node.level - 1)]
    return ".".join(anchor + ([node.module] if node.module else []))


def imported_modules(name: str, path: Path, tree: ast.Module, known: set[str]) -> set[str]:
    """The package's modules that `name` imports anywhere in its text."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _base(name, path, node)
            # `from . import x` imports the module x; `from .m import f` imports m.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c` loads a.b.c; keep the part we know
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports. Importing `a.b.c` first loads the packages
    `a` and `a.b` unless they are loading already (the importer's own parents), so those
    count too: that is how `config -> store.schema -> store/__init__ -> config` hid."""
    trees = parsed()
    known = set(trees)
    graph: dict[str, set[str]] = {}
    for name, (path, tree) in trees.items():
        direct = imported_modules(name, path, tree, known)
        ours = {name.rsplit(".", k)[0] for k in range(name.count(".") + 1)}
        parents = {t.rsplit(".", k)[0] for t in direct for k in range(1, t.count(".") + 1)}
        graph[name] = direct | {p for p in parents if p in known and p not in ours}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path a -> ... -> a, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path = [start]
        stack = [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def defined_private_names(tree: ast.Module) -> set[str]:
    """Private names a module defines: functions, classes, methods, module and class
    attributes, and attributes it sets on `self`."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            found.add(node.attr)
        elif isinstance(node, ast.arg):
            found.add(node.arg)
    return {n for n in found if _private(n)}


def private_reads(name: str, path: Path, tree: ast.Module) -> Iterator[tuple[int, str, str]]:
    """(line, private name, how) for each private name `name` takes from elsewhere:
    `from m import _x`, or `obj._x` on anything but `self`/`cls`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = _base(name, path, node)
            if base.startswith("pyexperimenter"):
                for alias in node.names:
                    if _private(alias.name):
                        yield node.lineno, alias.name, f"from {base} import {alias.name}"
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            yield node.lineno, node.attr, ast.unparse(node)


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert "pyexperimenter.errors" in graph["pyexperimenter.experiment"]  # relative imports are seen
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_module_reads_another_modules_private_names() -> None:
    trees = parsed()
    own = {name: defined_private_names(tree) for name, (_, tree) in trees.items()}
    anywhere = set().union(*own.values())
    found = []
    for name, (path, tree) in trees.items():
        for line, private, how in private_reads(name, path, tree):
            # Names the package does not define (os._exit, sys._getframe) are not ours to judge;
            # a module may use its own private names on any object of its own classes.
            if private in anywhere and private not in own[name]:
                found.append(f"{path.relative_to(ROOT)}:{line}: {how}")
    assert not found, "private names read across modules:\n" + "\n".join(found)


def test_the_cli_loads_no_heavy_module() -> None:
    """`pyexp --help` and tab completion stay fast: the commands import pandas, pymysql, the
    worker package (and what it pulls in) only when they run."""
    import subprocess
    import sys

    heavy = ("pandas", "numpy", "pymysql", "submitit", "sshtunnel", "pyexperimenter.worker", "pyexperimenter.store")
    code = f"import sys, pyexperimenter.cli; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_status_loads_neither_pandas_nor_the_runners() -> None:
    """`pyexp status` (pyexperimenter.views.status_data and the Experimenter it opens) starts without
    pandas, the worker or the launcher: they cost 0.06-0.1 s of its start-up."""
    import subprocess
    import sys

    heavy = ("pandas", "numpy", "submitit", "pyexperimenter.worker", "pyexperimenter.launch")
    code = f"import sys, pyexperimenter.views.status_data, pyexperimenter.views.terminal; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_modules_stay_about_400_lines() -> None:
    sizes = {name: len(path.read_text().splitlines()) for name, path in modules().items()}
    too_long = {name: n for name, n in sizes.items() if n > HARD_LINES}
    assert not too_long, f"modules far over the {GUIDE_LINES}-line guide: {too_long}"


def test_the_checks_find_what_they_look_for() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    tree = ast.parse("def f():\n    from .m import x\nif TYPE_CHECKING:\n    from .n import y\n")
    known = {"pyexperimenter.p", "pyexperimenter.m", "pyexperimenter.n"}
    assert imported_modules("pyexperimenter.p", PACKAGE / "p.py", tree, known) == {
        "pyexperimenter.m", "pyexperimenter.n"}
    reader = ast.parse("from .m import _hidden\nstore._run(1)\nself._own()\nos._exit(0)\n")
    reads = {private for _, private, _ in private_reads("pyexperimenter.p", PACKAGE / "p.py", reader)}
    assert reads == {"_hidden", "_run", "_exit"}
    assert defined_private_names(ast.parse("def _a(): pass\nclass B:\n    def _c(self): self._d = 1\n")) == {
        "_a", "_c", "_d"}
