"""The DDL text of a lowered schema, and where each piece of it comes from in the .ts files.

The statements come in drizzle-kit's order and layout (schemas, enums, sequences, tables
with their primary key, unique and check constraints, then foreign keys, then indexes).
Unlike drizzle-kit, every name is schema-qualified, so the result does not depend on the
``search_path`` of the connection that applies it.

Spans: while writing, every piece of SQL is recorded with the .ts range it comes from.
The model keys and their SQL ranges then come from ``sqlfile.object_spans`` (so keys,
including the names PostgreSQL makes up such as ``users_pkey`` and ``users_id_seq``, are
exactly those of the SQL source), and each key takes the .ts range of the innermost piece
that contains its SQL range.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from trimtab.sources.drizzle._lower import DTable, Lowered, qualified, quote
from trimtab.sources.sqlfile import Span, Statement, object_spans, split_statements

SEPARATOR = ";\n\n"


@dataclass
class _Writer:
    parts: list[str] = field(default_factory=list)
    size: int = 0
    pieces: list[tuple[int, int, Span]] = field(default_factory=list)  # sql range -> .ts
    starts: list[tuple[int, Span]] = field(default_factory=list)  # statement start -> .ts

    def write(self, text: str, origin: Span | None = None) -> None:
        if origin is not None:
            self.pieces.append((self.size, self.size + len(text), origin))
        self.parts.append(text)
        self.size += len(text)

    def statement(self, origin: Span) -> None:
        if self.size:
            self.write(SEPARATOR)
        self.starts.append((self.size, origin))


def _table(w: _Writer, t: DTable) -> None:
    w.statement(t.span)
    start = w.size
    w.write(f"CREATE TABLE {qualified(t.schema, t.name)} (\n")
    items = 0
    for c in t.columns:
        if items:
            w.write(",\n")
        items += 1
        col_start = w.size
        w.write(f"\t{quote(c.name)} {c.type}")
        if c.primary_key is not None:
            w.write(" PRIMARY KEY", c.primary_key)
        if c.default is not None:
            w.write(f" DEFAULT {c.default}")
        if c.generated is not None:
            w.write(f" GENERATED ALWAYS AS ({c.generated}) STORED")
        if c.not_null and c.identity is None:
            w.write(" NOT NULL")
        if c.identity is not None:
            w.write(c.identity)
        w.pieces.append((col_start, w.size, c.span))
    for con in t.constraints:
        if items:
            w.write(",\n")
        items += 1
        w.write(f"\tCONSTRAINT {quote(con.name)} {con.body}", con.span)
    w.write("\n)")
    w.pieces.append((start, w.size, t.span))
    if t.rls:
        w.statement(t.span)
        w.write(f"ALTER TABLE {qualified(t.schema, t.name)} ENABLE ROW LEVEL SECURITY", t.span)


@dataclass(frozen=True)
class Rendered:
    sql: str
    statements: tuple[Statement, ...]
    origins: tuple[Span, ...]  # per statement: the .ts range it comes from
    pieces: tuple[tuple[int, int, Span], ...]


def render(low: Lowered, file: str) -> Rendered:
    w = _Writer()
    for s in low.schemas:
        w.statement(s.span)
        w.write(f"CREATE SCHEMA {quote(s.name)}", s.span)
    for e in low.enums:
        w.statement(e.span)
        values = ", ".join("'" + v.replace("'", "''") + "'" for v in e.values)
        w.write(f"CREATE TYPE {qualified(e.schema, e.name)} AS ENUM({values})", e.span)
    for q in low.sequences:
        w.statement(q.span)
        w.write(f"CREATE SEQUENCE {qualified(q.schema, q.name)}{q.options}", q.span)
    for t in low.tables:
        _table(w, t)
    for t in low.tables:
        for fk in t.foreign_keys:
            w.statement(fk.span)
            w.write(f"ALTER TABLE {qualified(t.schema, t.name)} ADD CONSTRAINT "
                    f"{quote(fk.name)} {fk.body}", fk.span)
    for t in low.tables:
        for idx in t.indexes:
            w.statement(idx.span)
            w.write(idx.sql, idx.span)
    for v in low.views:
        w.statement(v.span)
        w.write(v.sql, v.span)
    for t in low.tables:  # after every table: a policy's expression may read any of them
        for pol in t.policies:
            w.statement(pol.span)
            w.write(pol.sql, pol.span)
    sql = "".join(w.parts)
    statements = tuple(split_statements(sql, file)) if sql else ()
    # split_statements finds exactly the statements written (none contains a ';' outside
    # quotes at depth 0), so the k-th statement has the k-th origin.
    origins = tuple(o for _, o in w.starts)
    if len(origins) != len(statements):  # defensive: map by offset instead
        starts = [s for s, _ in w.starts]
        origins = tuple(w.starts[max(bisect.bisect_right(starts, st.span.start_offset) - 1,
                                     0)][1] for st in statements)
    return Rendered(sql, statements, origins, tuple(w.pieces))


def spans(rendered: Rendered) -> dict[tuple[str, ...], Span]:
    """Model key -> .ts span, for every key ``object_spans`` finds in the DDL."""
    pieces = sorted(rendered.pieces, key=lambda p: (p[0], -p[1]))
    starts = [p[0] for p in pieces]
    out: dict[tuple[str, ...], Span] = {}
    sql_spans = object_spans(list(rendered.statements))
    for key in sql_spans:
        s = sql_spans[key]
        a, b = s.start_offset, s.end_offset
        k = bisect.bisect_right(starts, a) - 1
        best: Span | None = None
        while k >= 0:
            pa, pb, origin = pieces[k]
            if pb >= b:
                best = origin
                break
            k -= 1
        if best is not None:
            out[key] = best
    return out
