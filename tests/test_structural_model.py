"""The fast path keeps to the exact one (ARCHITECTURE.md, decision 2).

For every fixture schema (``fixtures/**/*.sql``), the structural model that
``sqlfile.structural_model`` reads in milliseconds agrees with the canonical model of the same
file applied to a shadow database, on everything the structural model claims:

* the same objects: schemas, extensions, types, sequences, tables, views, functions (keys);
  per table the same columns (in order), constraints, indexes, triggers and policies (names);
* on each of them, every field the reader fills from the SQL (see ``_Compare``).

Not claimed, so not compared (sqlfile.py's docstring): definitions and expressions, which
the structural model keeps as source text rather than PostgreSQL's canonical text (view and
function bodies, defaults, CHECK and generated expressions, index, trigger and constraint
definitions, policy expressions, function results), only whether they are there; and what
the reader has no syntax for at all, where its model holds the dataclass default: grants
(GRANT/REVOKE), CLUSTER, trigger ENABLE/DISABLE, view column lists and
dependencies (they need the catalog), an extension's version and comment when the file does
not set them.

One documented exception on the objects: constraints a table receives from its parent (a
partition's copy of the parent's keys and checks, an INHERITS child's checks:
``Constraint.inherited``) are not in the structural model, which holds what the file
declares on each table; the diff never manages them either (plan/diff.py skips them).
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from trimtab.model import CompositeType, Domain, EnumType, Index, Model, Table, View
from trimtab.sources.shadow import desired_model
from trimtab.sources.sqlfile import read_schema, structural_model

FIXTURES = Path(__file__).parent.parent / "fixtures"
FILES = sorted(FIXTURES.rglob("*.sql"))
_SERVER_ROLES = {"current_user", "current_role", "session_user"}


class _Compare:
    """Field-by-field comparison that collects every disagreement as a readable line:
    ``table public.orders: column note: type: structural 'text' != shadow 'character
    varying'``."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def eq(self, where: str, field: str, fast: Any, exact: Any) -> None:
        if fast != exact:
            self.problems.append(f"{where}: {field}: structural {fast!r} != shadow {exact!r}")

    def present(self, where: str, field: str, fast: Any, exact: Any) -> None:
        """Source text against canonical text: only whether there is one."""
        if (fast is None) != (exact is None):
            self.problems.append(
                f"{where}: {field}: structural {'set' if fast is not None else 'none'} "
                f"({fast!r}) != shadow {'set' if exact is not None else 'none'} ({exact!r})")

    def same_keys(self, where: str, what: str, fast: Any, exact: Any) -> list[Any]:
        """Both collections name the same things; the names they share, in order."""
        fast_keys, exact_keys = list(fast), list(exact)
        only_fast = [k for k in fast_keys if k not in exact_keys]
        only_exact = [k for k in exact_keys if k not in fast_keys]
        if only_fast:
            self.problems.append(f"{where}: {what} only in the structural model: {only_fast}")
        if only_exact:
            self.problems.append(f"{where}: {what} only in the shadow model: {only_exact}")
        return [k for k in exact_keys if k in fast_keys]

    # -- the model -----------------------------------------------------------------------
    def model(self, fast: Model, exact: Model) -> None:
        for f in ("schemas", "extensions", "types", "sequences", "tables", "views",
                  "functions"):
            mine, theirs = getattr(fast, f), getattr(exact, f)
            if f == "schemas" and ("schema", "public") not in mine:
                # Every database has it; the structural model holds declared schemas only.
                theirs = {k: v for k, v in theirs.items() if k != ("schema", "public")}
            for key in self.same_keys("model", f, sorted(mine), sorted(theirs)):
                getattr(self, f)(_describe(key), mine[key], theirs[key])

    def schemas(self, where: str, fast: Any, exact: Any) -> None:
        if fast.name != "public" or fast.comment is not None:  # public has one built in
            self.eq(where, "comment", fast.comment, exact.comment)

    def extensions(self, where: str, fast: Any, exact: Any) -> None:
        self.eq(where, "schema", fast.schema, exact.schema)
        # Version and comment come from the extension's control file, unless the file sets
        # them (VERSION, COMMENT ON EXTENSION).
        if fast.version:
            self.eq(where, "version", fast.version, exact.version)
        if fast.comment is not None:
            self.eq(where, "comment", fast.comment, exact.comment)

    def types(self, where: str, fast: Any, exact: Any) -> None:
        self.eq(where, "kind", type(fast).__name__, type(exact).__name__)
        if type(fast) is not type(exact):
            return
        if isinstance(fast, EnumType):
            self.eq(where, "values", fast.values, exact.values)
        elif isinstance(fast, Domain):
            self.eq(where, "base_type", fast.base_type, exact.base_type)
            self.eq(where, "not_null", fast.not_null, exact.not_null)
            self.present(where, "default", fast.default, exact.default)
            self.eq(where, "collation", fast.collation, exact.collation)
            self.eq(where, "check names", [c.name for c in fast.checks],
                    [c.name for c in exact.checks])
        elif isinstance(fast, CompositeType):
            self.eq(where, "attributes", fast.attributes, exact.attributes)
        self.eq(where, "comment", fast.comment, exact.comment)

    def sequences(self, where: str, fast: Any, exact: Any) -> None:
        for f in ("data_type", "start", "increment", "min_value", "max_value", "cache",
                  "cycle", "owned_by", "unlogged", "comment"):
            self.eq(where, f, getattr(fast, f), getattr(exact, f))

    def tables(self, where: str, fast: Table, exact: Table) -> None:
        for f in ("partition_of", "inherits", "unlogged", "rls_enabled", "rls_forced",
                  "replica_identity", "options", "comment"):
            self.eq(where, f, getattr(fast, f), getattr(exact, f))
        self.partitioning(where, fast, exact)
        self.eq(where, "column order", [c.name for c in fast.columns],
                [c.name for c in exact.columns])
        mine = {c.name: c for c in fast.columns}
        theirs = {c.name: c for c in exact.columns}
        for name in self.same_keys(where, "columns", mine, theirs):
            self.column(f"{where}: column {name}", mine[name], theirs[name])
        # See the module docstring: a parent's constraints are not the table's own.
        mine = {c.name: c for c in fast.constraints}
        theirs = {c.name: c for c in exact.constraints if not c.inherited or c.name in mine}
        for name in self.same_keys(where, "constraints", mine, theirs):
            c, d = mine[name], theirs[name]
            at = f"{where}: constraint {name}"
            for f in ("kind", "columns", "ref_table", "ref_columns", "validated", "inherited",
                      "comment"):
                self.eq(at, f, getattr(c, f), getattr(d, f))
        self.indexes(where, fast.indexes, exact.indexes)
        self.triggers(where, fast, exact)
        mine = {p.name: p for p in fast.policies}
        theirs = {p.name: p for p in exact.policies}
        for name in self.same_keys(where, "policies", mine, theirs):
            p, q = mine[name], theirs[name]
            at = f"{where}: policy {name}"
            for f in ("command", "permissive", "comment"):
                self.eq(at, f, getattr(p, f), getattr(q, f))
            named = sorted(set(p.roles) - _SERVER_ROLES)
            if len(named) == len(p.roles):
                self.eq(at, "roles", sorted(p.roles), sorted(q.roles))
            else:  # CURRENT_USER and the like: only the server knows who that is
                self.eq(at, "roles named", named, [r for r in sorted(q.roles) if r in named])
            self.present(at, "using", p.using, q.using)
            self.present(at, "with_check", p.with_check, q.with_check)

    def partitioning(self, where: str, fast: Table, exact: Table) -> None:
        """The key and bound are expressions: compared exactly when the structural model
        can know PostgreSQL's text (plain column keys, DEFAULT, WITH (modulus, remainder)),
        else by their method and kind."""
        self.present(where, "partition_key", fast.partition_key, exact.partition_key)
        if fast.partition_key and exact.partition_key:
            if re.fullmatch(r"\w+ \([\w, ]+\)", fast.partition_key):
                self.eq(where, "partition_key", fast.partition_key, exact.partition_key)
            else:
                self.eq(where, "partition method", fast.partition_key.split()[0],
                        exact.partition_key.split()[0])
        self.present(where, "partition_bound", fast.partition_bound, exact.partition_bound)
        if fast.partition_bound and exact.partition_bound:
            if fast.partition_bound == "DEFAULT" or " WITH " in fast.partition_bound:
                self.eq(where, "partition_bound", fast.partition_bound, exact.partition_bound)
            else:
                self.eq(where, "partition bound kind", fast.partition_bound.split()[:3],
                        exact.partition_bound.split()[:3])

    def column(self, where: str, fast: Any, exact: Any) -> None:
        for f in ("type", "not_null", "identity", "generated_virtual", "collation", "storage",
                  "compression", "statistics", "comment", "type_ref", "inherited"):
            self.eq(where, f, getattr(fast, f), getattr(exact, f))
        self.present(where, "default", fast.default, exact.default)
        self.present(where, "generated", fast.generated, exact.generated)

    def indexes(self, where: str, fast: tuple[Index, ...], exact: tuple[Index, ...]) -> None:
        mine = {i.name: i for i in fast}
        theirs = {i.name: i for i in exact}
        for name in self.same_keys(where, "indexes", mine, theirs):
            at = f"{where}: index {name}"
            for f in ("unique", "columns", "parent", "comment"):
                self.eq(at, f, getattr(mine[name], f), getattr(theirs[name], f))

    def triggers(self, where: str, fast: Table | View, exact: Table | View) -> None:
        mine = {t.name: t for t in fast.triggers}
        theirs = {t.name: t for t in exact.triggers}
        for name in self.same_keys(where, "triggers", mine, theirs):
            at = f"{where}: trigger {name}"
            self.eq(at, "function", mine[name].function, theirs[name].function)
            self.eq(at, "comment", mine[name].comment, theirs[name].comment)

    def views(self, where: str, fast: View, exact: View) -> None:
        for f in ("materialized", "options", "comment"):
            self.eq(where, f, getattr(fast, f), getattr(exact, f))
        self.indexes(where, fast.indexes, exact.indexes)
        self.triggers(where, fast, exact)

    def functions(self, where: str, fast: Any, exact: Any) -> None:
        self.eq(where, "kind", fast.kind, exact.kind)
        self.eq(where, "comment", fast.comment, exact.comment)


def _describe(key: tuple[str, ...]) -> str:
    if key[0] == "function":
        return f"function {key[1]}.{key[2]}({key[3]})"
    return f"{key[0]} {'.'.join(key[1:])}"


def test_compare_names_file_object_and_field() -> None:
    """The helper itself: every disagreement becomes one line naming object and field."""
    from trimtab.model import Column, make_model

    fast = make_model([Table("public", "t", columns=(Column("a", "text"),))])
    exact = make_model([Table("public", "t", columns=(Column("a", "integer", True),))])
    cmp = _Compare()
    cmp.model(fast, exact)
    assert cmp.problems == [
        "table public.t: column a: type: structural 'text' != shadow 'integer'",
        "table public.t: column a: not_null: structural False != shadow True",
    ]
    # Every field of Column is either compared or deliberately left out.
    left_out = {"name", "grants"}
    compared = {"type", "not_null", "identity", "generated_virtual", "collation", "storage",
                "compression", "statistics", "comment", "type_ref", "inherited", "default",
                "generated"}
    assert {f.name for f in fields(Column)} == left_out | compared


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_structural_model_agrees_with_shadow(path: Path, admin_url: str, pg_server: Any) -> None:
    if path.parent.name == "structural" and pg_server.version < 180000:
        pytest.skip("written for PostgreSQL 18 (VIRTUAL, NOT ENFORCED, WITHOUT OVERLAPS...)")
    statements = read_schema(path)
    fast, issues = structural_model(statements)
    assert not [i for i in issues if i.severity == "error"], issues
    exact = desired_model(statements, admin_url)
    cmp = _Compare()
    cmp.model(fast, exact)
    assert not cmp.problems, (
        f"{path.relative_to(FIXTURES)}: the structural model disagrees with the shadow model:\n  "
        + "\n  ".join(cmp.problems)
    )
