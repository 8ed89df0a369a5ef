"""The schema a migrations folder produces: its files replayed on a scratch database.

Snapshots record what ``generate`` wrote, but people edit migrations and write custom ones;
only a replay says what the folder really does, so ``generate`` diffs against it (it never
repeats a change a hand-written migration already made) and drift compares against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext

import psycopg

from trimtab.errors import SchemaError
from trimtab.migrations import batch
from trimtab.migrations.folder import Folder, Migration
from trimtab.model import Model
from trimtab.sources import shadow, shadowcache
from trimtab.sources.introspect import introspect


def replay(folder: Folder, admin_url: str, schemas: Sequence[str] | None = None,
           only: Sequence[str] | None = None, cache_key: str | None = None) -> Model:
    """Apply the folder's migrations (or those named in ``only``) in order to a fresh
    scratch database on ``admin_url``'s server, and read the result. With ``cache_key``,
    a database kept from the last replay applies only the migrations added since."""
    migrations = [m for m in folder.migrations if only is None or m.name in only]
    if cache_key is not None:
        return shadowcache.replayed_model(migrations, admin_url, schemas, cache_key, _apply)
    with shadow.scratch_database(admin_url) as url, shadow.connect(url) as conn:
        for m in migrations:
            _apply(conn, m)
        return introspect(conn, schemas)


def _apply(conn: psycopg.Connection, m: Migration) -> None:
    # Autocommit connection: a transaction per migration, or none for those that ask.
    with conn.transaction() if m.transactional else nullcontext():
        try:
            batch.execute(conn, m.statements)
        except batch.StatementFailed as f:
            e, st = f.error, f.statement
            line, column = st.line, None
            if e.diag.statement_position:  # 1-based, in characters of the statement
                before = st.text[: int(e.diag.statement_position) - 1]
                line += before.count("\n")
                if "\n" in before:  # the statement's first column is not known
                    column = len(before) - before.rfind("\n")
            first = next((x.strip() for x in st.text.splitlines() if x.strip()), "")
            raise SchemaError(
                f"migration {m.name} fails on a scratch database at statement {f.index + 1} "
                f"of {len(m.statements)} (line {st.line}): {e.diag.message_primary or e}\n"
                f"  statement: {first[:97] + '...' if len(first) > 100 else first}",
                file=str(m.path), line=line, column=column, hint=e.diag.message_hint,
            ) from None
