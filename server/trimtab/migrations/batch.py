"""A migration's statements in few round trips, failing as if they ran one by one.

Inside a transaction, consecutive plain statements (``folder.is_plain_sql``: nothing can
leak from one into the next) are sent together, up to ``BATCH_STATEMENTS`` or
``BATCH_BYTES``, as one simple query between ``SAVEPOINT`` and ``RELEASE``. A round trip per
statement is most of what a long migration costs beyond PostgreSQL's own work. When a group
fails, it is rolled back to its savepoint and run again one statement at a time, so the
error names the statement that failed, exactly as PostgreSQL reports it for that statement
alone. (A syntax error rejects the whole query before its ``SAVEPOINT`` runs: then each
statement is sent alone to the aborted transaction, where it is parsed but cannot run, to
find the one PostgreSQL cannot parse.) Statements that may end, start or nest a
transaction (COMMIT, SAVEPOINT, ...) or need a protocol of their own (COPY) always run
alone, so a caller's check after each of them still holds. Outside a transaction
(autocommit) every statement runs alone: several statements in one query would share one
implicit transaction.

PostgreSQL 13 and later apply ``statement_timeout`` to each statement of such a query
separately, so a group is never cut short where its statements alone would not be.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import NoReturn

import psycopg
from psycopg import errors, generators, pq
from psycopg.pq import TransactionStatus

from trimtab.migrations.folder import MigrationStatement, is_plain_sql
from trimtab.sources.sqlfile import META_COMMAND, split_statements

BATCH_STATEMENTS = 100
BATCH_BYTES = 1 << 20
_SAVEPOINT = "trimtab_batch"

# Anywhere a statement may start (a breakpoint chunk can hold several). A false match only
# costs a round trip.
_ALONE = re.compile(r"(?:^|;)\s*(?:commit|rollback|end|abort|begin|start|savepoint|release|"
                    r"prepare|copy)\b", re.IGNORECASE)


class StatementFailed(Exception):
    """``statements[index]`` failed with ``error``; the transaction is aborted, as after
    that statement alone."""

    def __init__(self, index: int, statement: MigrationStatement, error: psycopg.Error,
                 part: MigrationStatement | None = None, offset: int = 0):
        super().__init__(str(error))
        self.index = index
        self.statement = statement
        self.error = error
        # The statement of the chunk that failed, run alone (None: the chunk, as one query).
        self.part = part
        # Characters sent before the failed text in its query: PostgreSQL's error position
        # counts from the query's start.
        self.offset = offset


def pieces(st: MigrationStatement) -> tuple[tuple[int, MigrationStatement], ...]:
    """The statements of a breakpoint chunk that holds several (``--> statement-breakpoint``
    chunks may), each with its offset in the chunk's text and its own line in the file;
    the chunk alone when it holds one, or when it must be sent as written (transaction
    control, COPY: see _ALONE)."""
    if ";" not in st.text:
        return ((0, st),)
    found = split_statements(st.text)
    if len(found) < 2 or any(p.kind == META_COMMAND or _ALONE.match(p.text) for p in found):
        return ((0, st),)
    return tuple((p.span.start_offset, MigrationStatement(p.text, st.line + p.span.line - 1))
                 for p in found)


def run(conn: psycopg.Connection, st: MigrationStatement, index: int = 0) -> None:
    """Run one migration statement (a breakpoint chunk). In an open transaction a chunk of
    several statements runs one statement at a time: the transaction holds them all, as
    one query of them would be, and a failure is that statement's own (its text, its line),
    without running anything twice. Outside a transaction the chunk is one query, as
    written: one implicit transaction holds it there, which separate statements would
    not. Raises StatementFailed; a psycopg error that broke the connection as it is."""
    parts = pieces(st) if conn.info.transaction_status == TransactionStatus.INTRANS \
        else ((0, st),)
    for _, part in parts:
        try:
            conn.execute(part.text.encode(), prepare=False)
        except psycopg.Error as e:
            if conn.broken:
                raise
            raise StatementFailed(index, st, e, part if len(parts) > 1 else None) from None


def groups(statements: Sequence[MigrationStatement], first: int = 0,
           together: bool = True) -> Iterator[range]:
    """Index ranges covering ``statements[first:]`` in order: runs of plain statements
    within the limits, every other statement alone (all alone unless ``together``)."""
    i, end = first, len(statements)
    while i < end:
        stop, size = i, 0
        while (together and stop < end and stop - i < BATCH_STATEMENTS
               and _joinable(statements[stop].text)):
            size += len(statements[stop].text)
            if size > BATCH_BYTES and stop > i:
                break
            stop += 1
        stop = max(stop, i + 1)
        yield range(i, stop)
        i = stop


def _joinable(text: str) -> bool:
    return is_plain_sql(text) and _ALONE.search(text) is None


def execute(conn: psycopg.Connection, statements: Sequence[MigrationStatement],
            first: int = 0, after: Callable[[int], None] | None = None) -> None:
    """Run ``statements[first:]`` on ``conn``; ``after(done)`` follows each group, with the
    number of statements done so far. Raises StatementFailed for the first statement
    PostgreSQL rejects; a psycopg error that broke the connection is raised as it is."""
    together = conn.info.transaction_status == TransactionStatus.INTRANS
    for group in groups(statements, first, together):
        if len(group) == 1:
            _one(conn, statements, group.start)
        else:
            _group(conn, statements, group)
        if after:
            after(group.stop)


def _one(conn: psycopg.Connection, statements: Sequence[MigrationStatement], i: int) -> None:
    run(conn, statements[i], i)


def _group(conn: psycopg.Connection, statements: Sequence[MigrationStatement],
           group: range) -> None:
    head = f"SAVEPOINT {_SAVEPOINT};\n"
    body = ";\n".join(statements[i].text for i in group)
    query = f"{head}{body};\nRELEASE SAVEPOINT {_SAVEPOINT}"
    done, error = _counted(conn, query.encode())
    if error is None:
        return
    if conn.broken:
        raise error
    if done == 0:  # not even the SAVEPOINT ran: the query did not parse
        _unparsable(conn, statements, group, error)
    # PostgreSQL answered each statement before the one that failed: that one is known
    # without running anything again (a statement may act outside the transaction:
    # nextval, a function of an extension).
    left, offset = done - 1, len(head)
    for i in group:
        parts = pieces(statements[i])
        if left < len(parts) or i == group[-1]:
            at, part = parts[min(left, len(parts) - 1)]
            raise StatementFailed(i, statements[i], error, part if len(parts) > 1 else None,
                                  offset + at)
        left -= len(parts)
        offset += len(statements[i].text) + 2  # ";\n"


def _counted(conn: psycopg.Connection, query: bytes) -> tuple[int, psycopg.Error | None]:
    """Send a query of several statements: (how many completed, the error of the next one,
    or None). PostgreSQL answers each statement of such a query in turn; psycopg raises
    the error without saying how many went before it, so the answers are read here."""
    with conn.lock:
        conn.pgconn.send_query(query)
        results = conn.wait(generators.execute(conn.pgconn))
    done = 0
    for result in results:
        if result.status == pq.ExecStatus.FATAL_ERROR:
            return done, errors.error_from_result(result, encoding=conn.info.encoding)
        done += 1
    return done, None


def _unparsable(conn: psycopg.Connection, statements: Sequence[MigrationStatement],
                group: range, error: psycopg.Error) -> NoReturn:
    """The group's query never ran, not even its SAVEPOINT: PostgreSQL parses a whole
    query string before running any of it, so a syntax error anywhere rejects all of it
    (and aborts the transaction). Send the statements alone: in the aborted transaction
    each is still parsed first, so the one that does not parse fails with its own error
    and position, and the others only meet "current transaction is aborted" (nothing
    runs)."""
    for i in group:
        try:
            conn.execute(statements[i].text.encode(), prepare=False)
        except errors.InFailedSqlTransaction:
            continue
        except psycopg.Error as e:
            if conn.broken:
                raise
            raise StatementFailed(i, statements[i], e) from None
    # Every statement parses alone (should not happen: plain statements join as they
    # read); the group's error is still PostgreSQL's, placed on its first statement.
    raise StatementFailed(group.start, statements[group.start], error)
