"""The shape of the house: arrows point one way, rooms stay small, nothing is declared unused.

Imports are read with `ast` from every file under src/condsim, wherever they stand: at module level,
inside functions (the lazy imports that keep `condsim --help` fast are dependencies all the same) and
inside ``if TYPE_CHECKING:`` blocks. TYPE_CHECKING imports count: a package that names another's types
in its signatures knows about that package and cannot be read, moved or tested without it, so such an
import is an arrow like any other; only run-time import order is spared, not the design.

The units are condsim's top-level packages and modules (``methods``, ``collection``, ``demo``, ...).
``condsim/__init__.py`` (the facade that lazily re-exports the main API) and ``__main__`` sit above
every unit; ``errors`` and the private helpers (``_files``, ``_lazy``, ``_progress``, ``_text``,
``_types``) sit below them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "src" / "condsim"
MAX_LINES = 600
#: file types under src/ that are source code a reader has to read (data files are exempt)
SOURCE_SUFFIXES = (".py", ".js", ".css", ".html")

#: STYLE's arrows as layers: a unit may import units of a strictly lower layer (or a shared leaf)
LAYERS: dict[str, int] = {
    "methods": 0,
    "encoders": 1,
    "conditions": 1,
    "data": 1,
    "collection": 2,
    "eval": 2,
    "training": 2,
    "sheets": 2,  # contact sheets: images (encoders.images) laid out in a grid
    "demo": 3,  # a scripted tour over collection, data and sheets
    "cli": 4,
    "service": 4,
}
#: leaves everyone may import; they import nothing of ours but `errors` and each other
SHARED = {"errors", "_files", "_lazy", "_progress", "_text", "_types"}
#: `methods` is pure math: of ours it imports only these
METHODS_MAY_IMPORT = {"errors"}
#: above every unit: the package facade (it re-exports lazily) and the `python -m condsim` entry point
ROOT, MAIN = "<condsim>", "__main__"
#: declared dependencies that src/ never imports by name because another dependency loads them, each
#: with its reason (an entry here is a decision, not a way to silence the check)
LOADED_BY_ANOTHER = {
    "python-multipart": "fastapi imports it to parse the multipart upload of POST /api/similar",
}
#: arrows within one layer that the house allows, each with its reason
SAME_LAYER_ALLOWED = {("cli", "service"): "`condsim serve` starts the HTTP service"}
#: only these may import a unit the library must never import (the training code, the command line)
APPLICATION_ONLY = {"training": {"cli"}, "cli": {MAIN}}


@dataclass(frozen=True)
class Import:
    """One `import` statement of ours: who imports what, and where."""

    importer: str  # unit of the importing file
    imported: str  # unit of the imported module
    module: str  # the full imported module name
    file: str  # path relative to the repository
    line: int
    type_checking: bool

    def __str__(self) -> str:
        guard = " (TYPE_CHECKING)" if self.type_checking else ""
        return f"{self.file}:{self.line} imports {self.module}{guard}"


def _module_name(path: Path) -> tuple[str, bool]:
    """(dotted module name, is a package __init__) of a file under src/."""
    parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_package else parts), is_package


def _unit(module: str) -> str:
    """The top-level unit of a condsim module: condsim.methods.clay -> methods, condsim -> ROOT."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def _name(expression: ast.expr) -> str:
    """The last name of `x` or `a.b.x` (what a guard or a call is called), else ""."""
    if isinstance(expression, ast.Name):
        return expression.id
    return expression.attr if isinstance(expression, ast.Attribute) else ""


def _type_checking_lines(tree: ast.Module) -> set[int]:
    """Line numbers inside ``if TYPE_CHECKING:`` bodies (either spelling: bare or typing.TYPE_CHECKING)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _name(node.test) == "TYPE_CHECKING":
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _imported_modules(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """Absolute module names an import statement brings in (relative imports resolved)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        base = package[: len(package) - node.level + 1]
        target = ".".join([*base, node.module] if node.module else base)
    else:
        target = node.module or ""
    if target == "condsim":  # `from condsim import demo` names a module, `import __version__` the facade
        return [
            f"condsim.{alias.name}"
            if (SOURCE / alias.name).is_dir() or (SOURCE / f"{alias.name}.py").is_file()
            else "condsim"
            for alias in node.names
        ]
    return [target]


def _all_imports() -> tuple[list[Import], set[str]]:
    """Every import of a condsim module by a condsim file, and every top-level name imported at all."""
    ours: list[Import] = []
    top_level: set[str] = set()
    for path in sorted(SOURCE.rglob("*.py")):
        module, is_package = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        guarded = _type_checking_lines(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                top_level.update(_dynamic_import(node))
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target in _imported_modules(node, module, is_package):
                top_level.add(target.split(".")[0])
                if target == "condsim" or target.startswith("condsim."):
                    ours.append(
                        Import(
                            importer=_unit(module),
                            imported=_unit(target),
                            module=target,
                            file=str(path.relative_to(REPO)),
                            line=node.lineno,
                            type_checking=node.lineno in guarded,
                        )
                    )
    return ours, top_level


def _dynamic_import(call: ast.Call) -> set[str]:
    """The top-level name of ``importlib.import_module("x")`` / ``find_spec("x")`` / ``__import__("x")``."""
    if _name(call.func) in {"import_module", "find_spec", "__import__"} and call.args:
        first = call.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return {first.value.split(".")[0]}
    return set()


IMPORTS, TOP_LEVEL_IMPORTS = _all_imports()


def _between_units() -> dict[tuple[str, str], list[Import]]:
    edges: dict[tuple[str, str], list[Import]] = defaultdict(list)
    for item in IMPORTS:
        if item.importer != item.imported:
            edges[item.importer, item.imported].append(item)
    return edges


def _cycles(edges: dict[tuple[str, str], list[Import]]) -> list[list[str]]:
    """Strongly connected components with more than one unit (Tarjan), each as a sorted list."""
    graph: dict[str, set[str]] = defaultdict(set)
    for source, target in edges:
        graph[source].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_the_import_scan_sees_the_package() -> None:
    units = {item.importer for item in IMPORTS}
    assert {"methods", "encoders", "collection", "cli"} <= units
    assert any(item.type_checking for item in IMPORTS)  # the facade's TYPE_CHECKING block is read


def test_no_import_cycle_between_packages() -> None:
    edges = _between_units()
    cycles = _cycles(edges)
    report = []
    for component in cycles:
        members = set(component)
        report.append(" <-> ".join(component))
        for (source, target), found in sorted(edges.items()):
            if source in members and target in members:
                report.append(
                    f"    {source} -> {target}: {found[0]}" + (f" (+{len(found) - 1})" if found[1:] else "")
                )
    assert not cycles, "import cycles between condsim packages:\n" + "\n".join(report)


def _forbidden(item: Import) -> str | None:
    """Why the arrow importer -> imported breaks the house rules, or None when it is allowed."""
    source, target = item.importer, item.imported
    if source == target:
        return None
    if source == "methods" and target not in METHODS_MAY_IMPORT:
        return "methods imports nothing of ours except condsim.errors"
    if target in APPLICATION_ONLY and source not in APPLICATION_ONLY[target]:
        return f"the library never imports condsim.{target}"
    if target in {ROOT, MAIN}:
        return (
            None if source in {"cli", "service"} else "only the command line and the service use the facade"
        )
    if source in {ROOT, MAIN}:
        return None
    if source in SHARED:
        return None if target in SHARED else f"shared helper {source} imports {target}"
    if target in SHARED:
        return None
    if source not in LAYERS or target not in LAYERS:
        unknown = source if source not in LAYERS else target
        return f"{unknown} has no place in the layers yet (add it to LAYERS in this test, with a reason)"
    if LAYERS[source] <= LAYERS[target] and (source, target) not in SAME_LAYER_ALLOWED:
        return (
            f"{source} (layer {LAYERS[source]}) may only import lower layers, not {target} ({LAYERS[target]})"
        )
    return None


def test_arrows_point_one_way() -> None:
    """cli/service -> collection, eval, training -> encoders, conditions, data -> methods (STYLE)."""
    broken = [f"{item}: {why}" for item in IMPORTS if (why := _forbidden(item)) is not None]
    assert not broken, "imports against the arrows:\n" + "\n".join(broken)


@pytest.mark.parametrize(
    ("importer", "imported", "allowed"),
    [
        ("cli", "training", True),
        ("cli", "service", True),
        ("service", "cli", False),
        ("service", "training", False),
        ("collection", "cli", False),
        ("methods", "errors", True),
        ("methods", "_files", False),
        ("data", "encoders", False),  # siblings do not import each other
        ("collection", "methods", True),
        ("encoders", "collection", False),
        ("eval", "_progress", True),
        (ROOT, "collection", True),
        ("collection", ROOT, False),
    ],
)
def test_the_arrow_rule_itself(importer: str, imported: str, allowed: bool) -> None:
    item = Import(importer, imported, f"condsim.{imported}", "x.py", 1, type_checking=False)
    assert (_forbidden(item) is None) is allowed


def test_no_source_file_over_600_lines() -> None:
    too_long = {
        str(path.relative_to(REPO)): count
        for path in sorted((REPO / "src").rglob("*"))
        if path.suffix in SOURCE_SUFFIXES and path.is_file()
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not too_long, f"files over {MAX_LINES} lines (split them by job): {too_long}"


def _declared_distributions(*, optional: bool = False) -> list[str]:
    """Distribution names of [project].dependencies, plus every optional extra's when `optional`."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    if optional:
        requirements += [
            item for extra in project.get("optional-dependencies", {}).values() for item in extra
        ]
    names = []
    for requirement in requirements:
        name = requirement.split(";")[0].split("[")[0]
        for operator in ("==", ">=", "<=", "~=", "!=", ">", "<", " "):
            name = name.split(operator)[0]
        names.append(name.strip())
    return names


def _normalise(distribution: str) -> str:
    return distribution.lower().replace("_", "-").replace(".", "-")


def test_every_declared_dependency_is_imported() -> None:
    """Each distribution in [project].dependencies provides a module that src/ imports somewhere.

    Distribution names map to import names through the installed metadata (scikit-learn -> sklearn,
    pillow -> PIL, open_clip_torch -> open_clip); ``importlib.import_module("x")`` and
    ``importlib.util.find_spec("x")`` with a literal name count as imports; `LOADED_BY_ANOTHER` lists
    the few that a dependency loads for us.
    """
    assert set(LOADED_BY_ANOTHER) <= {_normalise(name) for name in _declared_distributions()}
    provides: dict[str, set[str]] = defaultdict(set)
    for module, distributions in packages_distributions().items():
        for distribution in distributions:
            provides[_normalise(distribution)].add(module)
    unused, not_installed = [], []
    for distribution in _declared_distributions():
        modules = provides.get(_normalise(distribution))
        if not modules:
            not_installed.append(distribution)
        elif not modules & TOP_LEVEL_IMPORTS and _normalise(distribution) not in LOADED_BY_ANOTHER:
            unused.append(f"{distribution} (provides {', '.join(sorted(modules))})")
    assert not not_installed, f"declared but not installed, so unmappable: {not_installed}"
    assert not unused, f"declared in pyproject.toml but never imported under src/: {unused}"


def test_every_imported_distribution_is_declared() -> None:
    """The other direction: a third-party module that src/ imports comes from a declared distribution
    (a dependency, or an optional extra for code that imports it lazily and says which extra to install),
    not from whatever another dependency happens to pull in."""
    declared = {_normalise(name) for name in _declared_distributions(optional=True)}
    owners = packages_distributions()
    undeclared = {
        module: sorted(owners.get(module, ["<not installed>"]))
        for module in sorted(TOP_LEVEL_IMPORTS - set(sys.stdlib_module_names) - {"condsim", "__future__"})
        if not {_normalise(owner) for owner in owners.get(module, [])} & declared
    }
    assert not undeclared, f"imported under src/ but not declared in pyproject.toml: {undeclared}"


def test_import_condsim_is_lazy_and_gives_the_main_api() -> None:
    code = (
        "import sys, condsim\n"
        "heavy = sorted(m for m in ('numpy', 'torch', 'PIL', 'condsim.collection') if m in sys.modules)\n"
        "print(heavy)\n"
        "names = ('Collection', 'index_folder', 'load_encoder', 'ClaySpace', 'CrlSpace')\n"
        "print([getattr(condsim, name).__name__ for name in names])\n"
        "print(set(names) <= set(dir(condsim)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    heavy, names, listed = result.stdout.splitlines()
    assert heavy == "[]", f"`import condsim` imported {heavy} eagerly"
    assert names == "['Collection', 'index_folder', 'load_encoder', 'ClaySpace', 'CrlSpace']"
    assert listed == "True"


def test_unknown_attribute_of_the_facade_is_an_attribute_error() -> None:
    import condsim

    with pytest.raises(AttributeError, match="no attribute 'Colection'"):
        condsim.Colection  # type: ignore[attr-defined]  # noqa: B018
