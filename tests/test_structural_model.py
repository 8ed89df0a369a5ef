"""The fast path keeps to the exact one (ARCHITECTURE.md, decision 2).

For every fixture schema (``fixtures/**/*.sql``: the diff cases, the quickstart, and the
harder ``fixtures/structural/`` schemas), the structural model that ``sqlfile`` reads in
milliseconds agrees with the canonical model of the same file applied to a shadow database
(``shadow.desired_model``), on everything the structural model claims:

* the same objects: schemas, extensions, types, sequences, tables, views, functions (keys);
  per table or view the same columns (in order), constraints, indexes, triggers, policies;
* on each of them every field the reader fills from the SQL, compared field by field by
  ``_Compare``, which names the file, the object and the field of each disagreement.

Not claimed, so not compared (sqlfile's docstring):

* definitions and expressions, which the structural model keeps as source text rather than
  PostgreSQL's canonical text: view and function bodies and results, defaults, CHECK and
  generated expressions, index, trigger and constraint definitions, policy expressions.
  Only whether there is one is compared. Partition keys and bounds are compared exactly
  where the source text is PostgreSQL's too (plain column keys, DEFAULT, WITH (modulus,
  remainder)), else by method and kind;
* what the reader has no syntax for, where its model holds the dataclass default: grants
  (GRANT/REVOKE), CLUSTER ON, trigger ENABLE/DISABLE, view column lists and dependencies
  (they need the catalog);
* what only the server knows: an extension's version and comment and the built-in
  ``public`` schema's comment unless the file sets them, who CURRENT_USER is in a policy.

Documented exceptions on the objects: the ``public`` schema every database has is not in the
structural model unless the file declares it; and constraints a table receives from its
parent (a partition's copies of the parent's keys and checks, an INHERITS child's checks:
``Constraint.inherited``) are not in it either, as it holds what the file declares on each
table (the diff never manages them: plan/diff.py skips them). An inherited constraint the
file does declare (a check merged with the parent's, pg_dump's ``ALTER INDEX ... ATTACH
PARTITION`` of a key) is compared, ``inherited`` included.
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.golden import ROLES
from trimtab.model import (
    Column,
    CompositeType,
    Constraint,
    Domain,
    EnumType,
    Extension,
    Function,
    Index,
    Model,
    Policy,
    Schema,
    Sequence,
    Table,
    Trigger,
    View,
    make_model,
)
from trimtab.sources.shadow import desired_model
from trimtab.sources.sqlfile import read_schema, structural_model

FIXTURES = Path(__file__).parent.parent / "fixtures"
# Schemas only: a golden case's plan.sql is the migration between two of them.
FILES = sorted(f for f in FIXTURES.rglob("*.sql") if f.name != "plan.sql")
_SERVER_ROLES = {"current_user", "current_role", "session_user"}
_SINGULAR = {"columns": "column", "constraints": "constraint", "indexes": "index",
             "triggers": "trigger", "policies": "policy"}

# What the structural model claims, per kind of object: fields compared exactly ("="), by
# presence only ("?": source text against canonical text), by code of their own ("*"),
# and not compared ("-": the object's name or key, compared as such, or not claimed; see
# the module docstring). Every field of the model is in exactly one of them (a test says
# so), so that a field added to the model needs a decision here.
_CLAIMS: dict[type, dict[str, str]] = {
    Schema: {"*": "comment", "-": "name grants"},
    Extension: {"=": "schema", "*": "version comment", "-": "name"},
    EnumType: {"=": "values comment", "-": "schema name grants"},
    Domain: {"=": "base_type not_null collation comment", "?": "default", "*": "checks",
             "-": "schema name grants"},
    CompositeType: {"=": "attributes comment", "-": "schema name grants"},
    Sequence: {"=": "data_type start increment min_value max_value cache cycle owned_by "
                    "unlogged comment",
               "-": "schema name grants"},
    Table: {"=": "partition_of inherits unlogged rls_enabled rls_forced replica_identity "
                 "options comment",
            "*": "columns constraints indexes triggers policies partition_key partition_bound",
            "-": "schema name grants"},
    Column: {"=": "type not_null identity generated_virtual collation storage compression "
                  "statistics comment type_ref inherited",
             "?": "default generated", "-": "name grants"},
    Constraint: {"=": "kind columns ref_table ref_columns validated inherited comment",
                 "-": "name definition index_parent"},
    Index: {"=": "unique columns parent comment", "-": "name definition clustered valid"},
    Trigger: {"=": "function comment", "-": "name definition enabled"},
    Policy: {"=": "command permissive comment", "?": "using with_check", "*": "roles",
             "-": "name"},
    View: {"=": "materialized options comment", "*": "indexes triggers",
           "-": "schema name definition columns depends_on column_deps grants"},
    Function: {"=": "kind comment",
               "-": "schema name identity_args definition result arg_names_types depends_on "
                    "grants"},
}


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

    def claims(self, where: str, fast: Any, exact: Any) -> None:
        """The "=" and "?" fields of ``_CLAIMS``."""
        claims = _CLAIMS[type(exact)]
        for f in claims.get("=", "").split():
            self.eq(where, f, getattr(fast, f), getattr(exact, f))
        for f in claims.get("?", "").split():
            self.present(where, f, getattr(fast, f), getattr(exact, f))

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

    def named(self, where: str, what: str, fast: Any, exact: Any) -> None:
        """Parts of an object (constraints, indexes...): the same names, then their claims."""
        mine = {x.name: x for x in fast}
        theirs = {x.name: x for x in exact}
        for name in self.same_keys(where, what, mine, theirs):
            self.part(f"{where}: {_SINGULAR[what]} {name}", mine[name], theirs[name])

    def part(self, where: str, fast: Any, exact: Any) -> None:
        self.claims(where, fast, exact)
        if isinstance(exact, Policy):
            named = sorted(set(fast.roles) - _SERVER_ROLES)
            if len(named) == len(fast.roles):
                self.eq(where, "roles", sorted(fast.roles), sorted(exact.roles))
            else:  # CURRENT_USER and the like: only the server knows who that is
                self.eq(where, "roles named", named,
                        [r for r in sorted(exact.roles) if r in named])

    # -- the model -----------------------------------------------------------------------
    def model(self, fast: Model, exact: Model) -> None:
        for f in ("schemas", "extensions", "types", "sequences", "tables", "views",
                  "functions"):
            mine, theirs = getattr(fast, f), getattr(exact, f)
            if f == "schemas" and ("schema", "public") not in mine:
                # Every database has it; the structural model holds declared schemas only.
                theirs = {k: v for k, v in theirs.items() if k != ("schema", "public")}
            for key in self.same_keys("model", f, sorted(mine), sorted(theirs)):
                where = _describe(key)
                if type(mine[key]) is not type(theirs[key]):
                    self.eq(where, "kind", type(mine[key]).__name__, type(theirs[key]).__name__)
                    continue
                self.claims(where, mine[key], theirs[key])
                special = getattr(self, type(theirs[key]).__name__.lower(), None)
                if special is not None:
                    special(where, mine[key], theirs[key])

    def schema(self, where: str, fast: Schema, exact: Schema) -> None:
        if fast.name != "public" or fast.comment is not None:  # public has one built in
            self.eq(where, "comment", fast.comment, exact.comment)

    def extension(self, where: str, fast: Extension, exact: Extension) -> None:
        # Version and comment come from the extension's control file, unless the file sets
        # them (VERSION, COMMENT ON EXTENSION).
        if fast.version:
            self.eq(where, "version", fast.version, exact.version)
        if fast.comment is not None:
            self.eq(where, "comment", fast.comment, exact.comment)

    def domain(self, where: str, fast: Domain, exact: Domain) -> None:
        # names only: the definitions are source text
        self.eq(where, "check names", [c.name for c in fast.checks],
                [c.name for c in exact.checks])

    def table(self, where: str, fast: Table, exact: Table) -> None:
        self.partitioning(where, fast, exact)
        self.eq(where, "column order", [c.name for c in fast.columns],
                [c.name for c in exact.columns])
        self.named(where, "columns", fast.columns, exact.columns)
        # See the module docstring: a parent's constraints are not the table's own.
        mine = {c.name for c in fast.constraints}
        self.named(where, "constraints", fast.constraints,
                   [c for c in exact.constraints if not c.inherited or c.name in mine])
        self.named(where, "indexes", fast.indexes, exact.indexes)
        self.named(where, "triggers", fast.triggers, exact.triggers)
        self.named(where, "policies", fast.policies, exact.policies)

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

    def view(self, where: str, fast: View, exact: View) -> None:
        self.named(where, "indexes", fast.indexes, exact.indexes)
        self.named(where, "triggers", fast.triggers, exact.triggers)


def _describe(key: tuple[str, ...]) -> str:
    if key[0] == "function":
        return f"function {key[1]}.{key[2]}({key[3]})"
    return f"{key[0]} {'.'.join(key[1:])}"


def test_every_field_of_the_model_is_compared_or_left_out_on_purpose() -> None:
    for cls, claims in _CLAIMS.items():
        listed = [f for names in claims.values() for f in names.split()]
        assert sorted(listed) == sorted(f.name for f in fields(cls)), cls.__name__


def test_compare_names_the_object_and_the_field() -> None:
    fast = make_model([Table("public", "t", columns=(Column("a", "text"),),
                             indexes=(Index("i", "CREATE INDEX i ON t (a)"),))])
    exact = make_model([Table("public", "t", columns=(Column("a", "integer", True),),
                              indexes=(Index("i", "...", unique=True),
                                       Index("j", "..."))),
                        Schema("public"), Schema("app")])
    cmp = _Compare()
    cmp.model(fast, exact)
    assert cmp.problems == [
        "model: schemas only in the shadow model: [('schema', 'app')]",
        "table public.t: column a: type: structural 'text' != shadow 'integer'",
        "table public.t: column a: not_null: structural False != shadow True",
        "table public.t: indexes only in the shadow model: ['j']",
        "table public.t: index i: unique: structural False != shadow True",
    ]


def _golden_roles(admin_url: str) -> None:
    """The roles the golden cases grant to and give objects to (see tests/golden.py)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for role in ROLES:
            # Two workers may create it at once: the loser's duplicate_object is fine.
            conn.execute(f"DO $$ BEGIN CREATE ROLE {role}; EXCEPTION WHEN duplicate_object "
                         "THEN NULL; END $$".encode())


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_structural_model_agrees_with_shadow(path: Path, admin_url: str, pg_server: Any) -> None:
    if path.parent.name == "structural" and pg_server.version < 180000:
        pytest.skip("written for PostgreSQL 18 (VIRTUAL, NOT ENFORCED, WITHOUT OVERLAPS...)")
    if path.parent.parent.name == "golden":
        if " OWNER TO " in path.read_text():
            pytest.skip("declared owners are the engine's to apply, never the shadow's")
        _golden_roles(admin_url)
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
