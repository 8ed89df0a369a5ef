"""What a migration file loses of the live data: the rows of each table it drops and the
non-null values of each column it drops, counted on the configured database.

Read-only: the counts run in a READ ONLY transaction under a statement timeout; the
migration itself is never run (only its text is read). Only objects the database has are
counted: a migration already applied (its column is gone) says nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg

from trimtab.model import Model, qname, quote_ident
from trimtab.sources.sqlfile import Span, split_statements, sub_span

_NAME = r'(?:"(?:[^"]|"")+"|[\w$]+)'
_QNAME = rf"{_NAME}(?:\s*\.\s*{_NAME})?"
_DROP_TABLE = re.compile(rf"DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?((?:{_QNAME})(?:\s*,\s*{_QNAME})*)",
                         re.I)
_ALTER_TABLE = re.compile(rf"ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(ONLY\s+)?({_QNAME})", re.I)
_DROP_COLUMN = re.compile(rf"\bDROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?({_NAME})", re.I)
_NOT_COLUMNS = frozenset({"CONSTRAINT", "DEFAULT", "NOT", "EXPRESSION", "IDENTITY"})


@dataclass(frozen=True)
class Loss:
    """One drop of live data: where in the file, what is lost."""

    span: Span
    schema: str
    table: str
    column_name: str | None  # None: the whole table
    count: int | None  # None: not counted in the time allowed
    estimate: bool

    @property
    def message(self) -> str:
        n = "an unknown number of" if self.count is None else \
            f"{'~' if self.estimate else ''}{self.count:,}"
        where = qname(self.schema, self.table)
        if self.column_name is None:
            return (f"drops {where} and its {n} row{'' if self.count == 1 else 's'} "
                    f"(counted on the database)")
        return (f"drops {where}.{quote_ident(self.column_name)} and its {n} non-null "
                f"value{'' if self.count == 1 else 's'} (counted on the database)")


def _ident(raw: str) -> str:
    return raw[1:-1].replace('""', '"') if raw.startswith('"') else raw.lower()


def _split(raw: str) -> tuple[str, str]:
    parts = [_ident(p) for p in re.findall(_NAME, raw)]
    return (parts[0], parts[1]) if len(parts) == 2 else ("public", parts[0])


def drops(text: str, live: Model, path: str = "<migration>"
          ) -> list[tuple[Span, str, str, str | None, bool]]:
    """(where, schema, table, column or None, ONLY) of each table or column the file drops
    that ``live`` has."""
    out: list[tuple[Span, str, str, str | None, bool]] = []
    for st in split_statements(text, path):
        body = st.text
        if (m := _DROP_TABLE.match(body)) is not None:
            for raw in re.finditer(_QNAME, m.group(1)):
                schema, table = _split(raw.group(0))
                if live.table(schema, table) is not None:
                    out.append((sub_span(st, m.start(1) + raw.start(), m.start(1) + raw.end()),
                                schema, table, None, False))
        elif (m := _ALTER_TABLE.match(body)) is not None:
            schema, table = _split(m.group(2))
            t = live.table(schema, table)
            if t is None:
                continue
            for c in _DROP_COLUMN.finditer(body, m.end()):
                name = c.group(1)
                if name.upper() in _NOT_COLUMNS or t.column(_ident(name)) is None:
                    continue
                out.append((sub_span(st, c.start(), c.end()), schema, table, _ident(name),
                            bool(m.group(1))))
    return out


def count(conn: psycopg.Connection, schema: str, table: str, column: str | None,
          only: bool, timeout_ms: int) -> tuple[int | None, bool]:
    """(count, estimated) read-only; the statistics' estimate when the count takes longer
    than ``timeout_ms``."""
    what = f"count({quote_ident(column)})" if column else "count(*)"
    sql = f"SELECT {what} FROM {'ONLY ' if only else ''}{qname(schema, table)}"
    try:
        with conn.transaction():
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute("SELECT set_config('statement_timeout', %s, true)", (f"{timeout_ms}ms",))
            row = conn.execute(sql.encode(), prepare=False).fetchone()
            return (int(row[0]) if row else 0), False
    except psycopg.errors.QueryCanceled:
        if column:  # the table's estimate says nothing of a column's NULLs
            return None, False
    except psycopg.Error:
        return None, False
    row = conn.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
                       (qname(schema, table),)).fetchone()
    return (int(row[0]), True) if row and row[0] >= 0 else (None, True)
