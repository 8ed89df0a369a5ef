"""The layering rules of docs/ARCHITECTURE that code can check, checked on the source.

* No module uses another module's private names (``from m import _x``, ``m._x``): what a
  module lends others is public, so renaming a private helper never breaks a neighbour.
  A module whose file name starts with ``_`` is private to its package: only modules of
  that package (and the package itself) import it.
* ``plan/`` is pure: it imports the model, the typed errors, the SQL lexer
  (``trimtab.sqltext``), ``plan/*`` and the standard library only; the lexer imports the
  standard library and ``trimtab.memo`` only.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).parent.parent / "server"
PACKAGE = ROOT / "trimtab"


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path


MODULES = dict(_modules())


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _package_of(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = _package_of(module).split(".")
    if node.level > 1:
        base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _may_import_module(importer: str, target: str) -> bool:
    """A module named ``_x`` is imported only from inside its package."""
    parent, _, leaf = target.rpartition(".")
    if not _private(leaf):
        return True
    return importer == parent or importer.startswith(parent + ".")


def violations() -> list[str]:
    out: list[str] = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        where = path.relative_to(ROOT.parent)
        aliases: dict[str, str] = {}  # local name -> trimtab module it stands for
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in MODULES:
                        if not _may_import_module(module, a.name):
                            out.append(f"{where}:{node.lineno}: imports private module {a.name}")
                        if a.asname:
                            aliases[a.asname] = a.name
            elif isinstance(node, ast.ImportFrom):
                source = _resolve(module, node)
                if source not in MODULES:
                    continue
                if not _may_import_module(module, source):
                    out.append(f"{where}:{node.lineno}: imports from private module {source}")
                for a in node.names:
                    full = f"{source}.{a.name}"
                    if full in MODULES:  # a submodule
                        if not _may_import_module(module, full):
                            out.append(f"{where}:{node.lineno}: imports private module {full}")
                        aliases[a.asname or a.name] = full
                    elif _private(a.name) and source != module:
                        out.append(f"{where}:{node.lineno}: imports {a.name} from {source}")
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and _private(node.attr)
                and f"{aliases[node.value.id]}.{node.attr}" not in MODULES
            ):
                out.append(f"{where}:{node.lineno}: uses {node.value.id}.{node.attr}")
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Attribute)
                and isinstance(node.value.value, ast.Name)
                and node.value.value.id in aliases
                and not _may_import_module(
                    module, f"{aliases[node.value.value.id]}.{node.value.attr}"
                )
            ):
                out.append(f"{where}:{node.lineno}: uses private module "
                           f"{node.value.value.id}.{node.value.attr}")
    return out


def test_no_module_uses_another_modules_private_names() -> None:
    assert violations() == []


def test_plan_imports_only_the_model_errors_lexer_plan_and_the_standard_library() -> None:
    # errors: every layer's floor; sqltext: the one SQL lexer
    allowed = ("trimtab.model", "trimtab.errors", "trimtab.sqltext", "trimtab.plan")
    bad = []
    for module, path in MODULES.items():
        if not (module == "trimtab.plan" or module.startswith("trimtab.plan.")):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [_resolve(module, node)]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top == "__future__" or top in sys.stdlib_module_names:
                    continue
                if any(name == a or name.startswith(a + ".") for a in allowed):
                    continue
                bad.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}: imports {name}")
    assert bad == []


def test_the_checks_see_a_violation(tmp_path: Path) -> None:
    """The walker is not blind: a private import written the usual ways is found."""
    tree = ast.parse("from trimtab.sources.sqlfile import _x\n")
    node = tree.body[0]
    assert isinstance(node, ast.ImportFrom)
    assert _resolve("trimtab.engine", node) == "trimtab.sources.sqlfile"
    assert _private("_x") and not _private("__all__")
    assert not _may_import_module("trimtab.engine", "trimtab.sources.drizzle._source")
    assert _may_import_module("trimtab.sources.drizzle._ddl", "trimtab.sources.drizzle._source")


def test_the_lexer_imports_only_the_standard_library_and_memo() -> None:
    path = PACKAGE / "sqltext.py"
    bad = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.partition(".")[0]
            if top == "__future__" or top in sys.stdlib_module_names or name == "trimtab.memo":
                continue
            bad.append(f"sqltext.py:{node.lineno}: imports {name}")
    assert bad == []
