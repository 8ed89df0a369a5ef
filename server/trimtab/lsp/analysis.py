"""What the editor shows, as data: findings placed on the schema file's text.

Pure. Two paths produce the same kind of findings:

* the **fast path**, on every keystroke: the file's structural model (sources/sqlfile/,
  re-read per changed statement) against a *skeleton* of the live database's model. The
  skeleton keeps only what the structural model is held to be right about (names, column
  types, NOT NULL, identities, enum values, constraint and index columns), so comparing
  them never reports a difference that is only a matter of how a definition is written.
  Only objects whose skeletons differ are diffed, so an edit costs what it changes.
* the **exact path**, in the background: the engine's plan against the live database
  (shadow database, measured hazards), replacing the fast findings when it is done.

Each change is placed on the object that causes it; a removed object on its table, or on
the line where it was last seen.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from trimtab.model import (
    Column,
    CompositeType,
    Constraint,
    Domain,
    EnumType,
    Extension,
    Function,
    Identity,
    Index,
    Model,
    Policy,
    Schema,
    Table,
    Trigger,
    View,
)
from trimtab.plan import plan_models
from trimtab.plan.changes import Change, Hazard
from trimtab.plan.renames import Rename
from trimtab.sources.sqlfile import Issue, Span

SOURCE = "trimtab"


@dataclass(frozen=True)
class Finding:
    span: Span
    severity: str  # "error" | "warning" | "info" | "hint"
    code: str
    message: str
    data: Mapping[str, Any] | None = field(default=None, hash=False)


# -- the fast path ------------------------------------------------------------------------------


def _table_skeleton(t: Table, seen: dict[Any, Any] | None = None) -> Table:
    """``seen``: the column skeletons and definition texts of the tables made before, each
    kept once (the same "id bigint NOT NULL" in thousands of tables; at 10,000 tables the
    database's skeleton took 30 MiB, a third more than its model)."""
    def one(x: Any) -> Any:
        return x if seen is None else seen.setdefault(x, x)

    return Table(
        t.schema, t.name,
        columns=tuple(one(Column(c.name, c.type, c.not_null,
                                 identity=Identity(c.identity.always) if c.identity else None,
                                 generated="generated" if c.generated else None,
                                 type_ref=c.type_ref, inherited=c.inherited))
                      for c in t.columns),
        # Sorted by name: the catalog and the file list them in different orders, and the
        # diff matches them by name anyway.
        constraints=tuple(sorted((Constraint(c.name, c.kind, one(f"{c.kind} {c.columns} "
                                                                 f"{c.ref_table}"),
                                             c.columns, c.ref_table,
                                             c.ref_columns, inherited=c.inherited)
                                  for c in t.constraints), key=lambda c: c.name)),
        indexes=tuple(sorted((Index(i.name, one(f"{i.unique} {i.columns}"), i.unique,
                                    i.columns, parent=i.parent) for i in t.indexes),
                             key=lambda i: i.name)),
        triggers=tuple(sorted((Trigger(tr.name, tr.name) for tr in t.triggers),
                              key=lambda tr: tr.name)),
        policies=tuple(sorted((Policy(p.name, "ALL") for p in t.policies),
                              key=lambda p: p.name)),
        partition_key=t.partition_key and "partitioned", partition_of=t.partition_of,
        inherits=t.inherits)


def _type_skeleton(t: EnumType | Domain | CompositeType) -> EnumType | Domain | CompositeType:
    if isinstance(t, EnumType):
        return EnumType(t.schema, t.name, t.values)
    if isinstance(t, Domain):
        return Domain(t.schema, t.name, t.base_type)
    return CompositeType(t.schema, t.name, t.attributes)


_SKELETONS: dict[str, Callable[[Any], Any]] = {
    "schemas": lambda s: Schema(s.name),
    "extensions": lambda e: Extension(e.name, "", ""),
    "types": _type_skeleton,
    "sequences": lambda s: replace(s, comment=None, grants=()),
    "tables": _table_skeleton,
    "views": lambda v: View(v.schema, v.name, "", v.materialized),
    "functions": lambda f: Function(f.schema, f.name, f.identity_args, f.kind, ""),
}


# What a skeleton leaves out: public exists in every database and is never written in a
# schema file; a serial's sequence follows its column.
_KEEP: dict[str, Callable[[Any], bool]] = {
    "schemas": lambda s: s.name != "public",
    "sequences": lambda s: s.owned_by is None,
}


class Skeletons:
    """Skeletons of a model's objects, remembered across keystrokes: an object that did
    not change (the structural reader hands back the same parts) keeps its skeleton, and
    two skeletons compared once are not compared again."""

    def __init__(self) -> None:
        # per part of the model: key -> (object, its skeleton)
        self._made: dict[str, dict[tuple[str, ...], tuple[Any, Any]]] = {}
        self._equal: dict[tuple[str, ...], tuple[Any, Any, bool]] = {}

    def model(self, m: Model, like: Model | None = None) -> Model:
        """The skeleton of ``m``; a skeleton made anew that equals ``like``'s of the same
        key is ``like``'s object (the file's skeletons and the database's are mostly the
        same tables: held once, and compared by identity)."""
        parts: dict[str, Any] = {}
        made_all = {}
        seen: dict[Any, Any] = {}  # (see _table_skeleton)
        for name, fn in _SKELETONS.items():
            if name == "tables":
                fn = functools.partial(_table_skeleton, seen=seen)
            objects = getattr(m, name)
            same = getattr(like, name) if like is not None else {}
            known = self._made.get(name, {})
            made: dict[tuple[str, ...], tuple[Any, Any]] = {}
            out = {}
            keep = _KEEP.get(name)
            get = known.get
            for k, obj in objects.items():
                if keep is not None and not keep(obj):
                    continue
                hit = get(k)
                if hit is None or hit[0] is not obj:
                    if hit is not None and hit[0] == obj:
                        skel = hit[1]
                    else:
                        skel = fn(obj)
                        twin = same.get(k)
                        if twin is not None and twin == skel:
                            skel = twin
                    hit = (obj, skel)
                made[k] = hit
                out[k] = hit[1]
            parts[name] = out
            made_all[name] = made
        self._made = made_all
        return Model(**parts, server_version=m.server_version)

    def equal(self, key: tuple[str, ...], x: Any, y: Any) -> bool:
        hit = self._equal.get(key)
        if hit is not None and hit[0] is x and hit[1] is y:
            return hit[2]
        same = x == y
        self._equal[key] = (x, y, same)
        return same


def skeleton(m: Model, like: Model | None = None) -> Model:
    """The parts of a model both the structural reader and the catalog agree on (sharing
    the objects of ``like``, an earlier skeleton, that it equals)."""
    return Skeletons().model(m, like)


def _reduced(a: Model, b: Model, cache: Skeletons | None = None) -> tuple[Model, Model]:
    """Both models cut down to the objects that differ (by key), so that diffing them
    costs what changed, not the schema's size."""
    cache = cache or Skeletons()
    ka: dict[str, Any] = {}
    kb: dict[str, Any] = {}
    for f in fields(Model):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if not isinstance(x, Mapping):
            continue
        keys = [k for k in x.keys() | y.keys()
                if k not in x or k not in y or (
                    x[k] is not y[k] and not cache.equal(k, x[k], y[k]))]
        ka[f.name] = {k: x[k] for k in keys if k in x}
        kb[f.name] = {k: y[k] for k in keys if k in y}
    return (Model(**ka, server_version=a.server_version),
            Model(**kb, server_version=b.server_version))


def fast_changes(base: Model, desired: Model, cache: Skeletons | None = None,
                 ) -> list[tuple[Change, tuple[Hazard, ...]]]:
    """Changes (classified) from ``base`` to ``desired``, both skeletons: planned by the
    engine's own planner, on models cut down to what differs."""
    a, b = _reduced(base, desired, cache)
    return [(s.change, s.hazards) for s in plan_models(a, b, render_sql=False).steps]


def fast_candidates(base: Model, desired: Model, cache: Skeletons | None = None,
                    ) -> list[Rename]:
    """Rename candidates between two skeletons, so the first diagnostics of a rename
    already read as one (the exact path refines them, with the file's hints)."""
    from trimtab.plan.renames import candidates

    a, b = _reduced(base, desired, cache)
    return candidates(a, b)


# -- placing findings ---------------------------------------------------------------------------


def _owner_keys(change: Change) -> list[tuple[str, ...]]:
    """Where a change may be shown, most specific first."""
    t = change.target
    out = [t]
    if t[0] in ("column", "constraint", "trigger", "policy") and len(t) >= 4:
        out.append(("table", t[1], t[2]))
    elif t[0] == "enum_value":
        out.append(("type", t[1], t[2]))
    elif t[0] in ("index", "cluster"):
        out = [("index", t[1], t[2])]
        parent = change.parent
        if isinstance(parent, (Table, View)):
            out.append(parent.key)
    return out


def place(change: Change, spans: Mapping[tuple[str, ...], Span],
          remembered: Mapping[tuple[str, ...], Span]) -> Span | None:
    for key in _owner_keys(change):
        if key in spans:
            return spans[key]
    for key in _owner_keys(change):
        if key in remembered:
            return remembered[key]
    return None


def _first_line(span: Span) -> Span:
    """A declaration's first line only: a squiggle over a whole CREATE TABLE hides the
    file."""
    if span.line == span.end_line:
        return span
    return Span(span.file, span.line, span.column, span.line, 10_000, span.start_offset,
                span.start_offset)


def hazard_findings(items: Iterable[tuple[Change, tuple[Hazard, ...]]],
                    spans: Mapping[tuple[str, ...], Span],
                    remembered: Mapping[tuple[str, ...], Span],
                    fallback: Span, sql: Mapping[Change, tuple[str, ...]] | None = None,
                    ) -> list[Finding]:
    out = []
    for change, hazards in items:
        span = place(change, spans, remembered) or fallback
        for h in hazards:
            message = h.text
            if h.lock and h.category == "locks":
                message += f" (lock: {h.lock})"
            if h.fix and (h.blocking or h.severity == "warning"):
                # a .ts schema takes `//` hints (the plan writes its advice for SQL)
                fix = h.fix
                if span.file.endswith((".ts", ".mts")):
                    from trimtab.sources.drizzle.hints import ts_comment_text
                    fix = ts_comment_text(fix)
                message += f"\nfix: {fix}"
            out.append(Finding(_first_line(span), h.severity, h.code, message,
                               {"target": list(change.target), "hazard": h.to_json()}))
    return out


def candidate_findings(candidates: Iterable[Rename], spans: Mapping[tuple[str, ...], Span],
                       fallback: Span) -> list[Finding]:
    out = []
    for r in candidates:
        key = r.target if r.kind != "enum_value" else ("type", r.schema, r.parent or "")
        span = spans.get(r.target) or spans.get(key) or fallback
        noun = "enum value" if r.kind == "enum_value" else r.kind
        where = f"{r.schema}.{r.parent}." if r.parent else f"{r.schema}."
        out.append(Finding(
            _first_line(span), "warning", "rename-candidate",
            f"{noun} {where}{r.old} is gone and {r.new} is new: was it renamed? Without a "
            f"hint it is dropped and created (its data is lost)",
            {"rename": {"kind": r.kind, "schema": r.schema, "parent": r.parent,
                        "old": r.old, "new": r.new, "target": list(r.target)}}))
    return out


# What a drop + add of the same pair says, once the pair reads as a rename.
_EXPLAINED = frozenset({"drops-column", "drops-table", "drops-enum-value",
                        "adds-required-column", "adds-volatile-default", "rewrites-table"})


def _pair_keys(r: Mapping[str, Any]) -> set[tuple[str, ...]]:
    """The keys a rename candidate's drop and add are placed on."""
    new = tuple(r["target"])
    old = (*new[:-1], r["old"])
    out = {new, old}
    if r["kind"] == "table":  # a dropped table's hazards may sit on its columns too
        out |= {("table", r["schema"], r["old"]), ("table", r["schema"], r["new"])}
    return out


def _under(target: tuple[str, ...], keys: set[tuple[str, ...]]) -> bool:
    return target in keys or any(
        k[0] == "table" and target[0] in ("column", "constraint") and target[1:3] == k[1:3]
        for k in keys)


def headline_renames(findings: list[Finding]) -> list[Finding]:
    """A rename candidate first, with the drop / add / data-loss findings of its pair
    folded into it: they are what happens *without* the hint, not separate problems.
    Their text is kept in the candidate's message, so nothing is hidden."""
    candidates = [f for f in findings if f.code == "rename-candidate" and f.data]
    if not candidates:
        return findings
    folded: dict[int, list[Finding]] = {id(c): [] for c in candidates}
    rest = []
    for f in findings:
        target = tuple((f.data or {}).get("target") or ())
        owner = next((c for c in candidates if f.code in _EXPLAINED and target
                      and _under(target, _pair_keys((c.data or {})["rename"]))), None)
        if owner is None:
            rest.append(f)
        else:
            folded[id(owner)].append(f)
    heads = []
    for c in candidates:
        lines = [x.message.split("\nfix:", 1)[0] for x in folded[id(c)]]
        message = c.message + "".join(f"\n- without a hint: {x}" for x in lines)
        data = dict(c.data or {})
        if folded[id(c)]:
            data["explains"] = [x.code for x in folded[id(c)]]
        heads.append(replace(c, message=message, data=data))
    return heads + [f for f in rest if f.code != "rename-candidate" or not f.data]


def issue_findings(issues: Iterable[Issue], code: str | None = None) -> list[Finding]:
    """What a reader flagged: ``syntax`` / ``schema`` for SQL, ``code`` (``drizzle``) for a
    reader of another language."""
    return [Finding(i.span, i.severity,
                    code or ("syntax" if i.severity == "error" else "schema"), i.message)
            for i in issues]


def measured(hazards: tuple[Hazard, ...], known: Mapping[tuple[str, tuple[str, ...]], Hazard],
             target: tuple[str, ...]) -> tuple[Hazard, ...]:
    """Fast-path hazards with the numbers the last exact run measured for the same
    change, so counts do not flicker away while typing."""
    out = []
    for h in hazards:
        m = known.get((h.code, target))
        out.append(replace(h, count=m.count, estimate=m.estimate, at_least=m.at_least,
                           detail=m.detail) if m is not None else h)
    return tuple(out)
