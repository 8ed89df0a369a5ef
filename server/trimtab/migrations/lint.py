"""Lock hazards in a migration file, under the rule names of Squawk (the peer linter for
PostgreSQL migrations), so that the editor and Squawk speak of the same problem by one name.

Pure: from the file's text and the size of each table the database holds. A rule about a long
lock fires only on a table of ``LARGE_TABLE`` rows or more (on a small one the lock is short);
``require-lock-timeout`` fires on any table with rows (one in use), since a lock queued
behind a long transaction blocks the table's readers and writers whatever its size.
Squawk's own ignore comments are honoured: ``-- squawk-ignore <rule>[, ...]`` on the lines
above a statement, ``-- squawk-ignore-file [<rule>, ...]`` anywhere (text after `` -- `` is
the reason).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trimtab.migrations.folder import NO_TRANSACTION, has_directive
from trimtab.sources.sqlfile import Statement, split_statements

LARGE_TABLE = 10_000  # rows from which a lock that scans or rewrites the table is worth a word

Sizes = Mapping[tuple[str, str], tuple[int, int]]  # (schema, table) -> (rows, bytes)


@dataclass(frozen=True)
class MigrationLint:
    """One finding: Squawk's rule name, where (1-based, end inclusive), what, and for an
    editor's quick fix, where the fix goes (``{"concurrently": {"line", "column"}}``, 0-based).
    """

    rule: str
    line: int
    column: int
    end_line: int
    end_column: int
    message: str
    fix: Mapping[str, Any] | None = field(default=None, hash=False)


_NAME = r'(?:"(?:[^"]|"")+"|[\w$]+)'
_QNAME = rf"({_NAME}(?:\s*\.\s*{_NAME})?)"
_ALTER_TABLE = re.compile(rf"ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{_QNAME}", re.I)
_CREATE_INDEX = re.compile(rf"CREATE\s+(?:UNIQUE\s+)?INDEX\s+(CONCURRENTLY\s+)?"
                           rf"(?:IF\s+NOT\s+EXISTS\s+)?(?:{_NAME}\s+)?ON\s+(?:ONLY\s+)?{_QNAME}",
                           re.I)
_LOCKING = re.compile(rf"(?:DROP\s+INDEX\s+(?!CONCURRENTLY)|CREATE\s+(?:OR\s+REPLACE\s+)?"
                      rf"(?:CONSTRAINT\s+)?TRIGGER\s+{_NAME}\s+.*?\bON\s+{_QNAME}"
                      rf"|DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?{_QNAME})", re.I | re.S)
_ADD_CONSTRAINT = re.compile(rf"\bADD\s+(?:CONSTRAINT\s+({_NAME})\s+)?(FOREIGN\s+KEY|CHECK)\b",
                             re.I)
_SET_NOT_NULL = re.compile(rf"\bALTER\s+(?:COLUMN\s+)?({_NAME})\s+SET\s+NOT\s+NULL\b", re.I)
_ADD_COLUMN = re.compile(rf"\bADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?({_NAME})\s",
                         re.I)
_DEFAULT = re.compile(r"\bDEFAULT\s+(.+?)(?=\s+(?:NOT\s+NULL|NULL|CHECK|REFERENCES|UNIQUE|"
                      r"PRIMARY|CONSTRAINT|GENERATED|COLLATE)\b|,\s*ADD\b|;|$)", re.I | re.S)
# Calls a default may make without a rewrite: PostgreSQL 11+ evaluates a stable default once
# for all existing rows. Anything else called is taken as volatile (random(), nextval(), ...).
_STABLE_CALLS = frozenset({"now", "current_timestamp", "current_date", "localtimestamp",
                           "transaction_timestamp", "statement_timestamp", "current_setting",
                           "current_user", "session_user", "to_jsonb", "jsonb_build_object",
                           "json_build_object", "array", "row"})
_CALL = re.compile(r"([\w$.]+)\s*\(")
_SET_LOCK_TIMEOUT = re.compile(r"SET\s+(?:LOCAL\s+|SESSION\s+)?lock_timeout\b", re.I)
_IGNORE = re.compile(r"--\s*squawk-ignore(-file)?\b([^\n]*)")


def _ident(raw: str) -> str:
    return raw[1:-1].replace('""', '"') if raw.startswith('"') else raw.lower()


def _table(raw: str) -> tuple[str, str]:
    names = [_ident(p.strip()) for p in re.findall(_NAME, raw)]
    return (names[0], names[1]) if len(names) == 2 else ("public", names[0])


def _rules(raw: str) -> set[str]:
    """The rule names of an ignore comment (its reason, after `` -- ``, left out); empty
    for all rules."""
    return {r.strip() for r in raw.split("--", 1)[0].split(",") if r.strip()}


def lint_migration(text: str, sizes: Sizes, *, path: str = "<migration>",
                   large: int = LARGE_TABLE) -> list[MigrationLint]:
    """The findings of Squawk's rules that trimtab checks itself on a migration's text."""
    lines = text.split("\n")
    file_ignores: set[str] | None = None  # None: none; empty: every rule
    for ig in _IGNORE.finditer(text):
        if ig.group(1):
            rules = _rules(ig.group(2))
            file_ignores = set() if not rules or file_ignores == set() else \
                (file_ignores or set()) | rules
    transactional = not has_directive(text)
    out: list[MigrationLint] = []
    timeout_set = False

    def ignored(st: Statement, rule: str) -> bool:
        if file_ignores is not None and (not file_ignores or rule in file_ignores):
            return True
        i = st.span.line - 2  # the comment lines just above the statement
        while i >= 0 and lines[i].lstrip().startswith("--"):
            m = _IGNORE.search(lines[i])
            if m and not m.group(1) and (not (rules := _rules(m.group(2))) or rule in rules):
                return True
            i -= 1
        return False

    def add(st: Statement, rule: str, message: str, fix: Mapping[str, Any] | None = None,
            ) -> None:
        if not ignored(st, rule):
            out.append(MigrationLint(rule, st.span.line, st.span.column, st.span.line,
                                     len(lines[st.span.line - 1]), message, fix))

    def rows(key: tuple[str, str]) -> int:
        return sizes.get(key, (-1, 0))[0]

    for st in split_statements(text, path):
        body = st.text
        if _SET_LOCK_TIMEOUT.match(body):
            timeout_set = True
            continue
        locked: tuple[str, str] | None = None
        if (m := _CREATE_INDEX.match(body)) is not None:
            key = _table(m.group(2))
            if m.group(1) is None:
                locked = key
                if rows(key) >= large:
                    add(st, "require-concurrent-index-creation",
                        f"builds an index on {key[0]}.{key[1]} (~{rows(key):,} rows), "
                        f"blocking writes until it is built\nfix: CREATE INDEX CONCURRENTLY, "
                        f"in a migration that starts with `{NO_TRANSACTION}`",
                        {"concurrently": {"line": st.span.line - 1,
                                          "column": st.span.column - 1}})
            elif transactional:
                add(st, "ban-concurrent-index-creation-in-transaction",
                    "CREATE INDEX CONCURRENTLY cannot run inside a transaction, and this "
                    f"migration runs in one\nfix: start the file with `{NO_TRANSACTION}`")
        elif (alt := _ALTER_TABLE.match(body)) is not None:
            locked = key = _table(alt.group(1))
            big = rows(key) >= large
            where = f"{key[0]}.{key[1]} (~{rows(key):,} rows)"
            for c in _ADD_CONSTRAINT.finditer(body):
                rest = body[c.end():]
                end = re.search(r",\s*(?:ADD|DROP|ALTER|VALIDATE)\b", rest)
                if big and not re.search(r"\bNOT\s+VALID\b", rest[:end.start() if end else None],
                                         re.I):
                    kind = " ".join(c.group(2).upper().split())
                    add(st, "constraint-missing-not-valid",
                        f"adds a {kind} that checks every row of {where} while writes wait"
                        f"\nfix: add it NOT VALID, then VALIDATE CONSTRAINT in a later "
                        f"transaction")
            for c in _SET_NOT_NULL.finditer(body):
                if big:
                    add(st, "adding-not-nullable-field",
                        f"SET NOT NULL on {_ident(c.group(1))} scans {where} under ACCESS "
                        f"EXCLUSIVE: reads and writes wait\nfix: add CHECK ({c.group(1)} IS "
                        f"NOT NULL) NOT VALID, VALIDATE it in a later transaction, then SET "
                        f"NOT NULL (no scan)")
            for c in _ADD_COLUMN.finditer(body):
                if c.group(1).upper() in ("CONSTRAINT", "CHECK", "FOREIGN", "UNIQUE",
                                          "PRIMARY", "EXCLUDE"):
                    continue
                tail = body[c.end():]
                nxt = re.search(r",\s*(?:ADD|DROP|ALTER)\b", tail)
                d = _DEFAULT.search(tail[:nxt.start() if nxt else None])
                calls = {n.lower().rsplit(".", 1)[-1] for n in _CALL.findall(d.group(1))} \
                    if d else set()
                if rows(key) > 0 and calls - _STABLE_CALLS:
                    add(st, "adding-field-with-default",
                        f"the volatile default of {_ident(c.group(1))} rewrites {where} under "
                        f"ACCESS EXCLUSIVE\nfix: add the column without the default, SET "
                        f"DEFAULT for new rows, then backfill in batches")
        elif (lk := _LOCKING.match(body)) is not None:
            locked = _table(lk.group(1)) if lk.group(1) else None
        if transactional and not timeout_set and locked is not None and rows(locked) > 0:
            add(st, "require-lock-timeout",
                f"locks {locked[0]}.{locked[1]} with no lock_timeout set: if the lock has to "
                f"wait, every query on the table waits behind it\nfix: start the migration "
                f"with SET lock_timeout = '5s'")
            timeout_set = True  # said once per file
    return out
