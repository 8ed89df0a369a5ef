"""The schema a migrations folder produces: its files replayed on a scratch database.

Snapshots record what ``generate`` wrote, but people edit migrations and write custom ones;
only a replay says what the folder really does, so ``generate`` diffs against it (it never
repeats a change a hand-written migration already made) and drift compares against it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from contextlib import nullcontext

import psycopg

from trimtab.errors import SchemaError
from trimtab.memo import MiB, memoize
from trimtab.migrations import batch
from trimtab.migrations.folder import Folder, Migration, MigrationStatement
from trimtab.model import Model
from trimtab.sources import shadow, shadowcache, vet
from trimtab.sources.introspect import introspect


def replay(folder: Folder, admin_url: str, schemas: Sequence[str] | None = None,
           only: Sequence[str] | None = None, cache_key: str | None = None,
           timeout: float = shadow.DEFAULT_TIMEOUT,
           installed: Sequence[shadow.Extension] = (),
           stubs: Sequence[shadow.Stub] = (), like: Model | None = None) -> Model:
    """Apply the folder's migrations (or those named in ``only``) in order to a fresh
    scratch database on ``admin_url``'s server, in the sandbox (migrations come from a
    repository too), and read the result. With ``cache_key``, a database kept from the
    last replay applies only the migrations added since. Cluster-level statements are
    left out (see ``left_out``). The target's ``installed`` extensions are created first:
    migrations may use them without creating them, as the schema may; and the ``stubs``
    of what they refer to outside the managed schemas (left out of the model). ``like``:
    a model the result is expected to share much with (see ``introspect``)."""
    migrations = [m for m in folder.migrations if only is None or m.name in only]
    extensions, migrations = _extensions_first(admin_url, migrations, installed)
    apply = functools.partial(_apply, timeout=timeout)
    if cache_key is not None:
        return shadowcache.replayed_model(migrations, admin_url, schemas, cache_key, apply,
                                          timeout, extensions, stubs, like)
    with shadow.scratch_connection(admin_url, timeout, extensions) as conn:
        shadow.apply_statements(conn, shadow.stub_statements(stubs), timeout)
        for m in migrations:
            apply(conn, m)
        return shadow.without_stubs(introspect(conn, schemas, like=like), stubs)


def _extensions_first(admin_url: str, migrations: list[Migration],
                      installed: Sequence[shadow.Extension] = ()
                      ) -> tuple[list[shadow.Extension], list[Migration]]:
    """The extensions the admin creates before the replay (see shadow.extensions_first),
    and the migrations rewritten to expect them."""
    statements = [st for m in migrations for st in m.statements]
    if not installed and not any(vet.head(st.text, 2) == ["create", "extension"]
                                 for st in statements):
        return [], migrations
    with shadow.connect(admin_url) as admin:
        first, rewritten, outside = shadow.extensions_first(admin, statements, installed)
    owner = [m for m in migrations for _ in m.statements]
    if outside:
        i, name = outside[0]
        raise SchemaError(
            f"migration {owner[i].name} creates the extension {name}, which reaches outside "
            "the database: trimtab does not create it in the sandboxed replay",
            file=str(owner[i].path), line=statements[i].line,
            hint="set shadow_database_url to a server where it may run")
    out, pos = [], 0
    for m in migrations:
        n = len(m.statements)
        out.append(dataclasses.replace(m, statements=tuple(rewritten[pos:pos + n])))
        pos += n
    return first, out


# Kept by text: every generate says what the folder's replay leaves out, and reads every
# statement of every migration for it (a sixth of a second at 1,000 tables), where at most
# the new migration's statements are new texts.
@memoize(16 * MiB, lambda args, out: len(args[0]) + 100)
def _left_out(text: str) -> bool:
    return bool(vet.left_out_of_replay([MigrationStatement(text, 1)]))


def _left_out_of(statements: Sequence[MigrationStatement]) -> list[int]:
    """vet.left_out_of_replay(statements), kept by each statement's text."""
    return [i for i, st in enumerate(statements) if _left_out(st.text)]


def left_out(folder: Folder) -> list[str]:
    """What a replay leaves out, as notes ("file:line: CREATE ROLE app ..."): statements
    that act on the whole server, which the sandbox may not run and the schema model does
    not hold."""
    notes = []
    for m in folder.migrations:
        for i in _left_out_of(m.statements):
            st = m.statements[i]
            if vet.head(st.text, 1)[0] in ("set", "reset", "select"):
                continue  # the sandbox's own timeouts: nothing the schema holds
            notes.append(f"{m.path}:{st.line}: {' '.join(st.text.split()[:4])} ... acts "
                         "outside the database: not replayed in the sandboxed shadow")
    return notes


def _apply(conn: psycopg.Connection, m: Migration, timeout: float) -> None:
    statements = m.statements
    if skip := set(_left_out_of(statements)):
        statements = tuple(st for i, st in enumerate(statements) if i not in skip)
    # Autocommit connection: a transaction per migration, or none for those that ask.
    with conn.transaction() if m.transactional else nullcontext():
        try:
            with shadow.watchdog(conn, shadow.watchdog_seconds(timeout, len(statements))):
                batch.execute(conn, statements)
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
