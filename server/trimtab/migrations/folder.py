"""The migrations folder, laid out as drizzle-kit lays it out, plus trimtab's integrity file.

::

    migrations/
      0000_init.sql                 statements separated by "--> statement-breakpoint"
      0001_add_posts_slug.sql
      meta/_journal.json            {"version": "7", "dialect": "postgresql", "entries": [
                                       {"idx", "version": "7", "when", "tag", "breakpoints"}]}
      meta/0000_snapshot.json       trimtab's snapshot (sources/snapshot.py), id/prevId chained
      meta/trimtab.sum              chained hashes (see ``sum_text``)
      down/0001_add_posts_slug.down.sql   its reverse (``read_down``), not a migration

The journal lists the migrations and their order; a ``.sql`` file it does not list is not a
migration (``check`` reports it). A folder written by drizzle-kit (no ``trimtab.sum``) reads
the same way: its ``.sql`` files and journal are compatible, its snapshots are drizzle-kit's
and are not read.

Down files live in ``down/``, not beside the migrations: drizzle-kit's migrator reads the
journal's entries only, but a deploy script that runs ``migrations/*.sql`` must never meet
a reverse. They are not in the journal nor in the sum (a down file is written to be edited
when the generated reverse is not what production needs). A generated down file starts with
``-- trimtab:down``; ``-- trimtab:reverts A B C`` says it undoes the set of online phase files
A, B, C generated together (it sits next to the last, C); ``-- trimtab:renames [...]`` gives
the renames it makes, so that its data loss can be measured from the snapshots.

A migration file may start with the directive line ``-- trimtab:no-transaction``: the runner
then runs its statements one by one outside a transaction (``CREATE INDEX CONCURRENTLY``).

drizzle-orm's migrator (what ``drizzle-kit migrate`` runs) reads the same folder: for each
journal entry in order, ``<tag>.sql`` split on ``--> statement-breakpoint``, its ``when`` and
the SHA-256 of the file's text; it applies every entry whose ``when`` is above the newest
``created_at`` in its table, all in one transaction. So ``when`` must increase along the
journal (``write_migration`` keeps it so, ``check`` reports it in a Drizzle project), and a
no-transaction migration runs inside that transaction there.

Everything here is pure file work: no database. A new migration's files (``.sql``,
snapshot, journal, sum) are written as one change through ``trimtab.files``: each atomically,
with the umask's mode (a rewritten file keeps its own), and a failed write undoes the others.
"""

from __future__ import annotations

import base64
import bisect
import codecs
import dataclasses
import hashlib
import json
import os
import re
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from trimtab.errors import SchemaError
from trimtab.files import Content, write_file, write_files
from trimtab.memo import MISSING, ByteLRU, MiB, memoize
from trimtab.sources.snapshot import ZERO_ID, file_head, is_drizzle_snapshot, load_snapshot
from trimtab.sources.sqlfile import (
    Span,
    Statement,
    decode_source,
    split_statements,
    statement_head,
)
from trimtab.words import plural

__all__ = [
    "BREAKPOINT",
    "NO_TRANSACTION",
    "SUM_FILE",
    "DOWN_DIR",
    "Down",
    "down_path",
    "down_text",
    "drizzle_appended",
    "drizzle_notes",
    "Folder",
    "Migration",
    "MigrationStatement",
    "Problem",
    "check",
    "checksum",
    "listing_problems",
    "drizzle_config",
    "drizzle_reason",
    "next_tag",
    "read_down",
    "read_folder",
    "shared_folder",
    "slug",
    "snapshot_file",
    "next_migration",
    "split_migration",
    "migration_file",
    "sql_statements",
    "sum_text",
    "update_sum",
    "write_migration",
]

BREAKPOINT = "--> statement-breakpoint"
NO_TRANSACTION = "-- trimtab:no-transaction"
JOURNAL = "meta/_journal.json"
SUM_FILE = "meta/trimtab.sum"
# trimtab's own files in a folder drizzle-kit also generates into: drizzle-kit reads every
# file of meta/ as its snapshot but those whose name starts with "_".
TRIMTAB_META = "meta/_trimtab"
JOURNAL_VERSION = "7"  # drizzle-kit's journal and entry version
# The command that rewrites trimtab.sum after an intended edit; named in check()'s hints.
SUM_FIX_COMMAND = "trimtab check --update-sum"
CUSTOM_HEADER = "-- Custom migration: write its SQL below, each statement ending with ';'.\n"
SLUG_MAX = 60
DOWN_DIR = "down"
DOWN_SUFFIX = ".down.sql"
DOWN_MARK = "-- trimtab:down"
REVERTS = "-- trimtab:reverts"
RENAMES = "-- trimtab:renames"
# The config files drizzle-kit looks for by default (and what people name theirs).
DRIZZLE_CONFIGS = tuple(f"drizzle.config.{ext}" for ext in
                        ("ts", "js", "json", "mts", "mjs", "cts", "cjs"))
# A folder holding one of these is a project's root: the search for a drizzle config stops.
_PROJECT_MARKERS = ("trimtab.toml", "pyproject.toml", "package.json", ".git")

_TAG_NUMBER = re.compile(r"^(\d+)_")
_NEWLINE = re.compile(r"\r\n?|\n")


@dataclass(frozen=True, slots=True)  # 53,000 of them in a 10,000-table first migration
class MigrationStatement:
    text: str  # from its first token to its end, without the final ';'
    line: int  # 1-based line in the file where the statement starts


@dataclass(frozen=True)
class Migration:
    idx: int
    tag: str  # file stem: "0003_add_posts_slug"
    path: Path
    when: int  # journal "when" (epoch ms)
    checksum: str  # SHA-256 hex, as drizzle's tracking table stores it (see ``checksum``)
    statements: tuple[MigrationStatement, ...]
    transactional: bool  # False when the file starts with NO_TRANSACTION
    snapshot: Path | None  # meta/NNNN_snapshot.json when present

    @property
    def name(self) -> str:
        return self.tag


@dataclass(frozen=True)
class Folder:
    path: Path
    migrations: tuple[Migration, ...]  # in journal order
    written_by: str  # "trimtab" (trimtab.sum present, or no migrations) or "drizzle-kit"

    def last_snapshot(self) -> Path | None:
        """The newest trimtab snapshot: the snapshot of the latest migration that has one,
        skipping drizzle-kit's snapshots (a drizzle-kit folder continued by trimtab) and
        migrations without one (custom migrations). A snapshot that does not parse is
        returned as it is, for ``load_snapshot`` to report."""
        for m in reversed(self.migrations):
            if m.snapshot is None or not m.snapshot.is_file():
                continue
            try:
                if file_head(m.snapshot) is not None:  # not the whole file: 28 MB at 10,000
                    return m.snapshot
                data = json.loads(m.snapshot.read_text(encoding="utf-8"))
            except (ValueError, OSError):
                return m.snapshot
            if not is_drizzle_snapshot(data):
                return m.snapshot
        return None

    def drizzle_reason(self) -> str | None:
        """Why this folder belongs to a Drizzle project (``drizzle_reason``)."""
        first = self.migrations[0].snapshot if self.migrations else None
        return drizzle_reason(self.path, drizzle_kit=self.written_by == "drizzle-kit",
                              first_snapshot=first)


@dataclass(frozen=True)
class Problem:
    message: str
    file: str | None = None
    line: int | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line is not None else "") + ": "
        return where + self.message + (f"\n  fix: {self.hint}" if self.hint else "")


# --------------------------------------------------------------------------------------
# Files


def checksum(data: bytes, part: int = 1 << 20) -> str:
    """SHA-256 hex of a migration file, computed as drizzle computes the ``hash`` of
    ``drizzle.__drizzle_migrations``: Node reads the file as a UTF-8 string (invalid bytes
    become U+FFFD, a BOM is kept) and hashes that string's UTF-8 encoding."""
    if data.isascii():  # decoded and encoded again, the same bytes
        return hashlib.sha256(data).hexdigest()
    # In parts of ``part`` bytes: the whole file decoded and encoded again was two more
    # copies of a 12 MB first migration at 10,000 tables.
    h = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    view = memoryview(data)
    for i in range(0, len(data), part):
        h.update(decoder.decode(view[i:i + part]).encode("utf-8"))
    h.update(decoder.decode(b"", final=True).encode("utf-8"))
    return h.hexdigest()


_BLANK_OR_SEMI = " \t\r\n\f\v;"


# Text outside quotes holds no comment, dollar quote or backslash (an E'' escape); every
# quote closes. No backslash inside quotes either: E'\'' would fool the match.
# Unrolled (no nested quantifier over the same text) so that a failed match stays linear.
_PLAIN = re.compile(r"""[^'"$\\/-]*(?:(?:/(?!\*)|-(?!-)|'[^'\\]*'|"[^"]*")[^'"$\\/-]*)*""")


def is_plain_sql(text: str) -> bool:
    """True when no statement boundary, comment or open quote can hide in the text: it
    splits and joins with other text as it reads."""
    return _PLAIN.fullmatch(text) is not None


# A folder is read several times per command: its texts split once, kept by their digest,
# not by the text (an lru_cache keyed by the text held a 10 MiB first migration at 10,000
# tables for the whole run, next to its statements).
# Bounded by what the statements hold (a ByteLRU is safe between threads: generate replays
# ahead in a thread while it writes).
_SPLITS: ByteLRU[bytes, tuple[tuple[MigrationStatement, ...], bool]] = ByteLRU(
    "migration splits", 64 * MiB,
    lambda key, value: sum(len(st.text) + 100 for st in value[0]))


def split_migration(text: str) -> tuple[tuple[MigrationStatement, ...], bool]:
    """(statements, transactional) of a migration file's text (``_split_migration``),
    remembered for the texts most recently split."""
    h = hashlib.sha256()
    for i in range(0, len(text), 1 << 20):  # not a second copy of a 10 MiB text at once
        h.update(text[i:i + (1 << 20)].encode("utf-8", "surrogatepass"))
    key = h.digest()
    found = _SPLITS.lookup(key)
    if found is not MISSING:
        return found  # type: ignore[return-value]
    out = _SPLITS[key] = _split_migration(text)
    return out


def split_migration_file(data: bytes, file: str) -> tuple[tuple[MigrationStatement, ...], bool]:
    """``split_migration(decode_source(data, file, strip_bom=False))``. A file of ASCII
    without NUL decodes to the same bytes and passes ``decode_source``'s checks: one split
    already is found by the bytes' digest, not decoding the file again (a 12 MB text at
    10,000 tables, read at generate's peak when the folder is read again)."""
    if data.isascii() and b"\x00" not in data:
        found = _SPLITS.lookup(hashlib.sha256(data).digest())
        if found is not MISSING:
            return found  # type: ignore[return-value]
    return split_migration(decode_source(data, file, strip_bom=False))


def _split_migration(text: str) -> tuple[tuple[MigrationStatement, ...], bool]:
    """(statements, transactional) of a migration file's text.

    With ``--> statement-breakpoint`` in the file, each chunk between breakpoints is one
    statement, as drizzle runs them (a chunk may hold several statements: they run as one
    query); otherwise statements are split on ``;`` by ``sqlfile.split_statements``. Chunks
    holding only blanks and comments are dropped. A statement's text runs from its first
    token (leading comments excluded) to its end, without the final ``;``."""
    if text.startswith("\ufeff"):
        text = text[1:]
    transactional = not has_directive(text)
    out: list[MigrationStatement] = []
    if BREAKPOINT in text:
        starts = [0, *(m.end() for m in _NEWLINE.finditer(text))]
        offset = 0
        for chunk in text.split(BREAKPOINT):
            if is_plain_sql(chunk):
                # No comment to skip (what generate and drizzle-kit write): the chunk from
                # its first token to its last, as split_statements would give it.
                body = chunk.lstrip(_BLANK_OR_SEMI)
                lead = len(chunk) - len(body)
                body = body.rstrip(_BLANK_OR_SEMI)
                if body:
                    out.append(MigrationStatement(
                        body, bisect.bisect_right(starts, offset + lead)))
                offset += len(chunk) + len(BREAKPOINT)
                continue
            parts = split_statements(chunk)
            if parts:
                first, last = parts[0].span, parts[-1].span
                line = bisect.bisect_right(starts, offset + first.start_offset)
                out.append(
                    MigrationStatement(chunk[first.start_offset : last.end_offset], line)
                )
            offset += len(chunk) + len(BREAKPOINT)
    else:
        out = [MigrationStatement(st.text, st.span.line) for st in split_statements(text)]
    return tuple(out), transactional


def sql_statements(text: str, file: str) -> tuple[Statement, ...]:
    """The statements of one migration statement (a breakpoint chunk may hold several), as
    ``split_statements(text, file)`` gives them. A plain chunk without ``;`` (what generate
    and drizzle-kit write) is one statement: only its head is read, and it is not kept
    (reading its head costs what looking it up would; keeping the 53,000 of a 10,000-table
    first migration took some 30 MB)."""
    if text and text == text.strip() and ";" not in text and is_plain_sql(text):
        last = len(text) - 1
        nl = text.rfind("\n", 0, last)
        span = Span(file, 1, 1, text.count("\n", 0, last) + 1, last - nl, 0, len(text))
        return (Statement(text, span, *statement_head(text)),)
    return split_chunk(text, file)


# Kept by text, as the schema's statements are: every generate and push scans the
# migrations' statements for names outside the managed schemas, and after an edit of the
# schema (or in the language server) the migrations are the same texts. Bounded by bytes:
# what a chunk keeps is about its text plus its statements.
@memoize(32 * MiB, lambda args, out: 2 * len(args[0]) + 400 * len(out))
def split_chunk(text: str, file: str) -> tuple[Statement, ...]:
    """``split_statements(text, file)`` of a chunk that is not plain (``sql_statements``)."""
    return tuple(split_statements(text, file))


def has_directive(text: str) -> bool:
    """NO_TRANSACTION on a line of the file's leading comment block."""
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if _is_directive(line):
            return True
        if not line.startswith("--"):
            return False
    return False


def _is_directive(line: str) -> bool:
    return line == NO_TRANSACTION or (
        line.startswith(NO_TRANSACTION) and line[len(NO_TRANSACTION)].isspace()
    )


@dataclass(frozen=True)
class _Entry:
    idx: int
    tag: str
    when: int
    line: int | None  # of the entry in the journal


def _journal_path(folder: Path) -> Path:
    return folder / JOURNAL


def _load_journal(folder: Path) -> tuple[dict[str, Any], list[_Entry]] | None:
    """The journal's data and entries, None when there is no journal. A journal that is not
    valid JSON or not shaped as drizzle-kit writes it raises SchemaError."""
    path = _journal_path(folder)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise SchemaError(f"cannot read {path}: {e.strerror or e}", file=str(path)) from None
    text = decode_source(raw, str(path), strip_bom=False)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SchemaError(
            f"{JOURNAL} is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})",
            file=str(path),
            line=e.lineno,
            column=e.colno,
            hint=_rebase_hint(folder) if "<<<<<<<" in text else "fix the JSON (restore "
            "the file from version control if in doubt)",
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise SchemaError(
            f'{path} is not a migrations journal: expected an object with an "entries" list',
            file=str(path),
        )
    tag_lines = _tag_lines(text)
    entries: list[_Entry] = []
    for n, item in enumerate(data["entries"]):
        if not isinstance(item, dict):
            raise SchemaError(f"{path}: entry {n} is not an object", file=str(path))
        tag, idx, when = item.get("tag"), item.get("idx"), item.get("when")
        line = tag_lines.get(tag) if isinstance(tag, str) else None
        if not isinstance(tag, str) or not tag or "/" in tag or "\\" in tag or tag[0] == ".":
            raise SchemaError(
                f'{path}: entry {n} has no valid "tag" (the file name without .sql): {tag!r}',
                file=str(path), line=line,
            )
        for key, value in (("idx", idx), ("when", when)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise SchemaError(
                    f'{path}: entry {n} ({tag}) has no integer "{key}": {value!r}',
                    file=str(path), line=line,
                )
        entries.append(_Entry(idx, tag, when, line))  # type: ignore[arg-type]
    return data, entries


REBASE_COMMAND = "trimtab migrate rebase"


def _rebase_hint(folder: Path) -> str:
    """What to run after a merge in which both branches added migrations, with the names
    this branch's migrations get."""
    from trimtab.migrations.rebase import plan_rebase  # it reads the folder through here

    try:
        plan = plan_rebase(folder)
    except (SchemaError, OSError):
        plan = None
    if plan is None:
        return ("a merge conflict left in it? keep every entry of both sides, in order, then "
                "run `trimtab check`")
    moves = ", ".join(f"{m.old_tag} -> {m.new_tag}" for m in plan.moves)
    return (f"two branches each added migrations: run `{REBASE_COMMAND}` to number this "
            f"branch's after the merged ones ({moves}) and rewrite the journal, the snapshots "
            "and the sum, once it has checked that they still produce the schema")


def _tag_lines(text: str) -> dict[str, int]:
    """The journal line of each entry's "tag", to point problems at it."""
    out: dict[str, int] = {}
    for m in re.finditer(r'"tag"\s*:\s*"((?:[^"\\]|\\.)*)"', text):
        try:
            tag = json.loads(f'"{m.group(1)}"')
        except ValueError:
            continue
        out.setdefault(tag, text.count("\n", 0, m.start()) + 1)
    return out


def _shared(folder: Path) -> bool:
    """Whether trimtab keeps its files in ``meta/_trimtab/`` (drizzle-kit's snapshots then
    fill meta/)."""
    return (folder / TRIMTAB_META).is_dir()


def sum_path(folder: Path) -> Path:
    """Where the folder's trimtab.sum is (or goes)."""
    folder = Path(folder)
    return folder / TRIMTAB_META / "trimtab.sum" if _shared(folder) else folder / SUM_FILE


def _sum_name(folder: Path) -> str:
    """The sum's path within the folder, for messages."""
    return sum_path(folder).relative_to(folder).as_posix()


def _has_sum(folder: Path) -> bool:
    return sum_path(folder).exists()


def drizzle_appended(path: Path) -> list[str]:
    """The migrations (file names) that ``drizzle-kit generate`` appended after trimtab's in a
    folder both tools write: the end of the journal that trimtab.sum does not list yet, each
    with drizzle-kit's snapshot and none of trimtab's. They are drizzle-kit's, not an edit:
    trimtab's next ``generate`` takes them into its sum."""
    path = Path(path)
    if not _shared(path) or not _has_sum(path):
        return []
    try:
        loaded = _load_journal(path)
        lines = sum_path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except (SchemaError, OSError):
        return []
    if loaded is None:
        return []
    listed = [line.partition(" ")[0] for line in lines[1:]]
    entries = loaded[1]
    if [f"{e.tag}.sql" for e in entries[:len(listed)]] != listed:
        return []  # the sum and the journal disagree before the end: check() says how
    out = []
    for e in entries[len(listed):]:
        theirs = drizzle_snapshot_path(path, e.tag, e.idx)
        if _snapshot_path(path, e.tag, e.idx).exists() or not theirs.is_file() or not (
                path / f"{e.tag}.sql").is_file():
            return []
        try:
            data = json.loads(theirs.read_bytes())
        except (OSError, ValueError):
            return []
        if not is_drizzle_snapshot(data):
            return []
        out.append(f"{e.tag}.sql")
    return out


def drizzle_notes(path: Path) -> list[str]:
    """One line per migration drizzle-kit appended (see ``drizzle_appended``)."""
    return [f"{name} was generated by drizzle-kit after trimtab's last migration: it is "
            f"drizzle-kit's, not in {_sum_name(Path(path))} yet (trimtab's next generate takes "
            "it in)" for name in drizzle_appended(path)]


def _snapshot_name(tag: str, idx: int) -> str:
    m = _TAG_NUMBER.match(tag)
    return f"{m.group(1) if m else f'{idx:04d}'}_snapshot.json"


def _snapshot_path(folder: Path, tag: str, idx: int) -> Path:
    """trimtab's snapshot of a migration."""
    meta = folder / TRIMTAB_META if _shared(folder) else folder / "meta"
    return meta / _snapshot_name(tag, idx)


def snapshot_file(folder: Path, tag: str) -> Path:
    """Where trimtab's snapshot of migration ``tag`` is (or goes)."""
    return _snapshot_path(Path(folder), tag, migration_number(tag) or 0)


def shared_folder(folder: Path) -> bool:
    """Whether drizzle-kit generates into the folder too (trimtab's files in meta/_trimtab)."""
    return _shared(Path(folder))


def drizzle_snapshot_path(folder: Path, tag: str, idx: int) -> Path:
    """drizzle-kit's snapshot of a migration (trimtab's own in an old folder)."""
    return Path(folder) / "meta" / _snapshot_name(tag, idx)


def _read_migration(folder: Path, entry: _Entry) -> Migration:
    path = folder / f"{entry.tag}.sql"
    data = path.read_bytes()
    # Refused rather than mangled (not UTF-8) or cut short (a NUL ends the query).
    statements, transactional = split_migration_file(data, str(path))
    snapshot = _snapshot_path(folder, entry.tag, entry.idx)
    return Migration(
        idx=entry.idx,
        tag=entry.tag,
        path=path,
        when=entry.when,
        checksum=checksum(data),
        statements=statements,
        transactional=transactional,
        snapshot=snapshot if snapshot.is_file() else None,
    )


def _sql_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.suffix == ".sql" and p.is_file()),
                  key=lambda p: p.name)


def read_folder(path: Path) -> Folder:
    """The migrations in journal order. A missing folder (or one with neither journal nor
    ``.sql`` files) is an empty folder. A journal that does not parse, a journal entry whose
    ``.sql`` file is missing, or ``.sql`` files without a journal raise SchemaError."""
    path = Path(path)
    loaded = _load_journal(path)
    if loaded is None:
        files = _sql_files(path)
        if files:
            raise SchemaError(
                f"{path} has {plural(len(files), '.sql file')} but no {JOURNAL}",
                file=str(_journal_path(path)),
                hint="restore meta/_journal.json from version control; it lists the migrations "
                "and their order",
            )
        return Folder(path, (), "trimtab")
    _, entries = loaded
    migrations = []
    for entry in entries:
        try:
            migrations.append(_read_migration(path, entry))
        except FileNotFoundError:
            raise SchemaError(
                f"migration {entry.tag} is in {JOURNAL} but its file {entry.tag}.sql is missing",
                file=str(path / f"{entry.tag}.sql"),
                hint=f"restore {entry.tag}.sql from version control, or remove its entry from "
                f"{_journal_path(path)} if no database has applied it",
            ) from None
        except OSError as e:
            raise SchemaError(
                f"cannot read {path / (entry.tag + '.sql')}: {e.strerror or e}",
                file=str(path / f"{entry.tag}.sql"),
            ) from None
    written_by = "trimtab" if _has_sum(path) or not migrations else "drizzle-kit"
    return Folder(path, tuple(migrations), written_by)


# --------------------------------------------------------------------------------------
# Drizzle projects


def drizzle_config(folder: Path) -> Path | None:
    """The drizzle config of the project ``folder`` is in: searched in the folder and its
    parents, up to the first that looks like a project's root (trimtab.toml,
    pyproject.toml, package.json, .git)."""
    folder = Path(os.path.abspath(folder))
    for d in (folder, *folder.parents):
        found = next((d / n for n in DRIZZLE_CONFIGS if (d / n).is_file()), None)
        if found is not None:
            return found
        if any((d / m).exists() for m in _PROJECT_MARKERS):
            return None
    return None


def drizzle_reason(path: Path, *, drizzle_kit: bool | None = None,
                   first_snapshot: Path | None = None) -> str | None:
    """Why the migrations folder at ``path`` belongs to a Drizzle project, or None: drizzle-kit
    wrote it (no trimtab.sum; ``drizzle_kit`` when the caller knows), drizzle-kit wrote its
    first migration (``first_snapshot``, found when not given, is drizzle-kit's), or a drizzle
    config sits in its project. Then drizzle-orm's migrator may run it too, and
    ``trimtab migrate`` records what it applies in drizzle's table as well."""
    path = Path(path)
    if drizzle_kit is None:
        drizzle_kit = not _has_sum(path) and bool(_sql_files(path))
    if drizzle_kit:
        return f"drizzle-kit wrote {path} (it has no {SUM_FILE})"
    if first_snapshot is None and _shared(path):
        return f"drizzle-kit generates into {path} too (it has {TRIMTAB_META})"
    if first_snapshot is None:
        found = sorted((path / "meta").glob("*_snapshot.json"))
        first_snapshot = found[0] if found else None
    # One trimtab wrote is known by its head: parsing it whole (the first migration's, 28 MB
    # at 10,000 tables) took four times that on the way, at every migrate.
    if first_snapshot is not None and file_head(first_snapshot) is None:
        try:
            data = json.loads(first_snapshot.read_bytes())
        except (ValueError, OSError):
            data = None
        if is_drizzle_snapshot(data):
            return f"drizzle-kit wrote the first migration of {path}"
    config = drizzle_config(path)
    if config is not None:
        return f"its project has {config}"
    return None


# --------------------------------------------------------------------------------------
# Writing


def slug(name: str) -> str:
    """``name`` as a file-name word: ASCII lower-case letters, digits and ``_``, at most
    SLUG_MAX characters ("Add posts.slug!" -> "add_posts_slug"); "migration" when nothing
    is left."""
    ascii_ = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    out = re.sub(r"[^a-z0-9]+", "_", ascii_.lower()).strip("_")
    return out[:SLUG_MAX].rstrip("_") or "migration"


def _next_number(folder: Folder) -> int:
    numbers = [-1]
    for m in folder.migrations:
        numbers.append(m.idx)
        t = _TAG_NUMBER.match(m.tag)
        if t:
            numbers.append(int(t.group(1)))
    return max(numbers) + 1


def next_tag(folder: Folder, name: str) -> str:
    """The tag of the next migration: its number (one past the highest idx or tag number,
    four digits at least) and ``slug(name)``: ``0003_add_posts_slug``."""
    return f"{_next_number(folder):04d}_{slug(name)}"


def _terminated(statement: str) -> str:
    body = statement.strip()
    if body.endswith(";"):
        return body
    # A ';' after a line comment would be commented out: put it on its own line.
    return body + ("\n;" if "--" in body.splitlines()[-1] else ";")


def migration_text(statements: Sequence[str], *, transactional: bool = True) -> str:
    """A migration file's content, as drizzle-kit writes it: each statement followed by
    ';', "\\n--> statement-breakpoint\\n" between statements, and a final newline;
    NO_TRANSACTION first when not transactional; a comment line to fill in for no
    statement (a custom migration)."""
    head = "" if transactional else NO_TRANSACTION + "\n"
    bodies = [_terminated(s) for s in statements if s.strip()]
    if not bodies:
        return head + CUSTOM_HEADER
    return head + f"\n{BREAKPOINT}\n".join(bodies) + "\n"


@dataclass(frozen=True)
class Down:
    """A migration's down file, read."""

    path: Path
    statements: tuple[MigrationStatement, ...]
    transactional: bool
    generated: bool  # written by generate (DOWN_MARK), not by hand
    reverts: tuple[str, ...]  # the migrations it undoes, in journal order (one, or a set)
    renames: tuple[tuple[str, str, str, str, str | None], ...]  # (kind, schema, old, new, parent)


def down_path(folder: Path, tag: str) -> Path:
    return Path(folder) / DOWN_DIR / f"{tag}{DOWN_SUFFIX}"


def down_text(tag: str, statements: Sequence[str], hazards: Sequence[str],
              reverts: Sequence[str] = (),
              renames: Sequence[tuple[str, str, str, str, str | None]] = ()) -> str:
    """A generated down file: the header (what it undoes, its hazards, the renames it makes),
    then the statements as in a migration file. ``reverts``: the tags of a set of phase
    files it undoes together (default: ``tag`` alone)."""
    body = migration_text(statements) if statements else "-- nothing to undo\n"
    # The body's hash: an edited down file counts as hand-written (its loss not measured).
    head = [f"{DOWN_MARK} {tag} {_body_hash(body)}: undoes it (trimtab migrate down); "
            "planned from the two schemas, edit it if production needs another way back"]
    if len(reverts) > 1:
        head.append(f"{REVERTS} {' '.join(reverts)}")
    if renames:
        head.append(f"{RENAMES} {json.dumps([list(r) for r in renames])}")
    head += [f"-- hazard: {h}" for h in hazards]
    return "\n".join(head) + "\n" + body


def _body_hash(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def read_down(folder: Path, m: Migration) -> Down | None:
    """The down file of ``m`` (None: there is none). A header that does not parse raises
    SchemaError naming the file and line."""
    path = down_path(folder, m.tag)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise SchemaError(f"cannot read {path}: {e.strerror or e}", file=str(path)) from None
    text = decode_source(data, str(path), strip_bom=False)
    statements, transactional = split_migration(text)
    generated = False
    reverts: tuple[str, ...] = (m.tag,)
    renames: tuple[tuple[str, str, str, str, str | None], ...] = ()
    lines = text.splitlines(keepends=True)
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("--"):
            break
        if line.startswith(DOWN_MARK + " "):
            words = line[len(DOWN_MARK):].split(":", 1)[0].split()
            body = "".join(line for line in lines if not line.startswith(
                (DOWN_MARK, REVERTS, RENAMES, "-- hazard: ")))
            generated = len(words) == 2 and words[1] == _body_hash(body)
        elif line.startswith(REVERTS + " "):
            reverts = tuple(line[len(REVERTS):].split())
        elif line.startswith(RENAMES + " "):
            try:
                renames = tuple((str(k), str(s), str(o), str(w), None if p is None else str(p))
                                for k, s, o, w, p in json.loads(line[len(RENAMES):]))
            except (ValueError, TypeError):
                raise SchemaError(f"{path}:{n}: the renames line does not parse",
                                  file=str(path), line=n,
                                  hint="restore the line generate wrote, or remove it") from None
    return Down(path, statements, transactional, generated, reverts, renames)


def next_migration(folder: Folder, name: str, statements: Sequence[str], *,
                   transactional: bool = True, data: bytes | None = None) -> Migration:
    """The migration ``write_migration`` writes next into ``folder`` (its tag, text,
    checksum and statements), not written: what a replay of it needs. Its ``when`` is 0.
    ``data``: its file's content, made already (``migration_file``) from ``statements``
    when they are given: each statement read from it that is one of them is that text, not
    a copy (the plan that made a 10 MiB first migration holds them already)."""
    if data is None:
        return _next_of(folder, name, migration_file(statements, transactional=transactional))
    return _next_of(folder, name, data, statements)


def migration_file(statements: Sequence[str], *, transactional: bool = True) -> bytes:
    """A migration file's bytes (``migration_text``, UTF-8)."""
    return migration_text(statements, transactional=transactional).encode()


def _next_of(folder: Folder, name: str, data: bytes, texts: Sequence[str] = ()) -> Migration:
    """The next migration of ``folder`` with the file content ``data``, as read_folder
    will read it once written (the text refused as reading it would). ``texts``: the
    statements ``data`` was made of (``next_migration``)."""
    tag = next_tag(folder, name)
    path = folder.path / f"{tag}.sql"
    read, transactional = split_migration_file(data, str(path))
    if texts:
        read = _sharing(read, transactional, data, texts)
    return Migration(idx=_next_number(folder), tag=tag, path=path, when=0,
                     checksum=checksum(data), statements=read, transactional=transactional,
                     snapshot=None)


def _sharing(read: tuple[MigrationStatement, ...], transactional: bool, data: bytes,
             texts: Sequence[str]) -> tuple[MigrationStatement, ...]:
    """``read`` (the split of ``data``, made of ``texts``) with each statement's text that
    equals its text in ``texts`` replaced by that one, also where the split is kept (read
    again once written): one copy of the texts, not two."""
    made = [t for t in texts if t.strip()]  # as migration_text drops blank ones
    if len(made) != len(read):
        return read
    shared = tuple(MigrationStatement(t, ms.line) if t == ms.text and t is not ms.text
                   else ms for ms, t in zip(read, made, strict=True))
    _SPLITS[hashlib.sha256(data).digest()] = (shared, transactional)
    return shared


def write_migration(
    folder_path: Path,
    name: str,
    statements: Sequence[str],
    snapshot_text: str | Callable[[IO[bytes]], object] | None,
    *,
    transactional: bool = True,
    when: int | None = None,
    drizzle_snapshot: str | None = None,
    down: Callable[[str], str] | None = None,
    data: bytes | None = None,
) -> Migration:
    """Write the next migration: ``NNNN_<slug>.sql``, its snapshot (when given), its journal
    entry (creating the folder and journal if needed), then ``meta/trimtab.sum`` for the
    whole folder. ``snapshot_text``: its text, or what writes it into the open file
    (``snapshot.write_snapshot``). ``down``: the text of its down file, given its tag
    (``down_text``). ``data``: the file's content when the caller made it already
    (``migration_file`` of ``statements``: a 10 MiB first migration is then made once).

    With ``drizzle_snapshot`` (drizzle-kit's snapshot text, for a Drizzle project), that
    goes to ``meta/NNNN_snapshot.json`` where drizzle-kit reads it, and trimtab's files to
    ``meta/_trimtab/``; a folder that has them in ``meta/`` (written by an earlier trimtab)
    gets them moved there in the same change, so that drizzle-kit can generate into it.

    The sum is rewritten from the files as they are: run ``check`` first so that an edited
    migration is not blessed by it. ``when`` defaults to now in epoch ms,
    kept above the previous entry's (drizzle's migrator needs it increasing)."""
    folder_path = Path(folder_path)
    folder = read_folder(folder_path)
    loaded = _load_journal(folder_path)
    journal: dict[str, Any] = (
        loaded[0] if loaded else {"version": JOURNAL_VERSION, "dialect": "postgresql",
                                  "entries": []}
    )
    # Every file is made in memory first and written as one change: a failed write (disk
    # full, read-only folder) leaves no stray .sql to block the next run.
    sql_data = data if data is not None else migration_file(statements,
                                                            transactional=transactional)
    planned = _next_of(folder, name, sql_data)
    idx, tag, sql_path = planned.idx, planned.tag, planned.path
    if sql_path.exists():
        raise SchemaError(
            f"{sql_path} already exists but is not in {JOURNAL}",
            file=str(sql_path),
            hint="add it to the journal or delete it, then generate again",
        )
    if when is None:
        when = int(time.time() * 1000)
        if folder.migrations:
            when = max(when, max(m.when for m in folder.migrations) + 1)
    moved = _moves(folder_path) if drizzle_snapshot is not None else []
    shared = _shared(folder_path) or drizzle_snapshot is not None
    meta = folder_path / (TRIMTAB_META if shared else "meta")
    snapshot_path = meta / _snapshot_name(tag, idx)
    new = dataclasses.replace(planned, when=when)
    journal["entries"].append(
        {"idx": idx, "version": JOURNAL_VERSION, "when": when, "tag": tag, "breakpoints": True}
    )
    files: list[tuple[Path, Content]] = [(sql_path, sql_data)]
    if down is not None:
        files.append((down_path(folder_path, tag), down(tag).encode()))
    files += [(new_path, old.read_bytes()) for old, new_path in moved]
    if snapshot_text is not None:
        files.append((snapshot_path, snapshot_text.encode() if isinstance(snapshot_text, str)
                      else snapshot_text))
    if drizzle_snapshot is not None:
        files.append((drizzle_snapshot_path(folder_path, tag, idx), drizzle_snapshot.encode()))
    files.append((_journal_path(folder_path), (json.dumps(journal, indent=2) + "\n").encode()))
    written = Folder(folder_path, (*folder.migrations, new), "trimtab")
    files.append((meta / "trimtab.sum" if shared else folder_path / SUM_FILE,
                  sum_text(written).encode()))
    write_files(files)
    for old, _ in moved:  # their copies are in place: drizzle-kit must not meet them
        old.unlink(missing_ok=True)
    # As read_folder reads it now, without reading the folder again (its 10 MiB first
    # migration at 10,000 tables, and this one).
    snapshot = _snapshot_path(folder_path, tag, idx)
    return dataclasses.replace(new, snapshot=snapshot if snapshot.is_file() else None)


def _moves(folder: Path) -> list[tuple[Path, Path]]:
    """(old, new) paths of trimtab's files still in meta/ (a folder written before
    trimtab kept them in meta/_trimtab/): its sum and its own snapshots. drizzle-kit's
    snapshots stay."""
    if _shared(folder):
        return []
    meta, target = folder / "meta", folder / TRIMTAB_META
    out = [(meta / "trimtab.sum", target / "trimtab.sum")] if (meta / "trimtab.sum"
                                                               ).is_file() else []
    for p in sorted(meta.glob("*_snapshot.json")):
        try:
            data = json.loads(p.read_bytes())
        except (ValueError, OSError):
            continue
        if isinstance(data, dict) and "model" in data and not is_drizzle_snapshot(data):
            out.append((p, target / p.name))
    return out


def update_sum(path: Path) -> str:
    """Rewrite ``meta/trimtab.sum`` from the folder as it is (after an intended edit of a
    migration no database has applied yet); returns the new content."""
    text = sum_text(read_folder(Path(path)))
    write_file(sum_path(Path(path)), text.encode())
    return text


# --------------------------------------------------------------------------------------
# trimtab.sum


def _h(text: str) -> str:
    return "h1:" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def _sum_lines(migrations: Sequence[Migration]) -> list[str]:
    lines = []
    chained = ""
    for m in migrations:
        chained = _h(chained + m.checksum)
        lines.append(f"{m.path.name} {chained}")
    return lines


def sum_text(folder: Folder) -> str:
    """``meta/trimtab.sum``: the line ``h1:<total>``, then ``<file name> h1:<chained>`` per
    migration in journal order.

    Hashes are ``h1:`` + standard base64 of a SHA-256 digest (as atlas.sum and go.sum write
    them). ``chained`` of a migration is the hash of the UTF-8 text ``previous chained hash
    (with its "h1:"; "" for the first) + the migration's checksum (hex)``, so every line
    depends on all the files before it; ``total`` is the hash of the migration lines joined
    with "\\n" (file names included). Two branches that each add a migration both change the
    total and append a different last line: git always reports a conflict in this file."""
    lines = _sum_lines(folder.migrations)
    return "\n".join([_h("\n".join(lines)), *lines]) + "\n"


# --------------------------------------------------------------------------------------
# check


def migration_number(name: str) -> int | None:
    m = _TAG_NUMBER.match(name)
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class _Listing:
    problems: tuple[Problem, ...]
    present: tuple[_Entry, ...]  # entries whose file exists, first of each tag
    seen_tags: frozenset[str]


def listing_problems(path: Path) -> list[Problem]:
    """The problems of ``check`` that leave the order of the migrations ambiguous, so that
    ``migrate`` refuses to run anything: ``.sql`` files the journal does not list, two
    migrations with one number (two branches that each added one, merged), journal entries
    listed twice or sharing an idx, entries without their file. Without a journal, [] (a
    folder with ``.sql`` files and no journal does not read at all)."""
    path = Path(path)
    try:
        loaded = _load_journal(path)
    except SchemaError as error:
        return [Problem(error.message, error.file, error.line, error.hint)]
    if loaded is None:
        return []
    return list(_listing(path, _sql_files(path), loaded[1], str(_journal_path(path))).problems)


def _listing(path: Path, files: list[Path], entries: list[_Entry], journal_file: str
             ) -> _Listing:
    problems: list[Problem] = []
    # Journal entries vs files.
    by_name = {p.name: p for p in files}
    listed = {f"{e.tag}.sql" for e in entries}
    present: list[_Entry] = []
    seen_tags: set[str] = set()
    for e in entries:
        if e.tag in seen_tags:
            problems.append(Problem(
                f"migration {e.tag} is listed twice in the journal",
                file=journal_file, line=e.line,
                hint="remove the second entry",
            ))
            continue
        seen_tags.add(e.tag)
        if f"{e.tag}.sql" in by_name:
            present.append(e)
        else:
            problems.append(Problem(
                f"journal entry {e.idx} names {e.tag}.sql, which does not exist",
                file=journal_file, line=e.line,
                hint=f"restore {path / (e.tag + '.sql')} from version control, or remove the "
                "entry from the journal if no database has applied it",
            ))

    # Duplicate numbers: two files NNNN_*.sql (two branches that each added migration NNNN).
    numbered: dict[int, list[Path]] = {}
    for p in files:
        n = migration_number(p.name)
        if n is not None:
            numbered.setdefault(n, []).append(p)
    order = {f"{e.tag}.sql": i for i, e in enumerate(entries)}
    top = max([*numbered, *(e.idx for e in entries), -1])
    in_duplicates: set[str] = set()
    for n, group in sorted(numbered.items()):
        if len(group) < 2:
            continue
        in_duplicates.update(p.name for p in group)
        # Keep the one listed first in the journal; move the others past the last number.
        group = sorted(group, key=lambda p: (order.get(p.name, len(order)), p.name))
        keep, moves = group[0], group[1:]
        steps = []
        for p in moves:
            top += 1
            new = f"{top:04d}{p.name[len(p.name.split('_', 1)[0]):]}"
            what = f"rename {p.name} to {new}"
            if p.name in order:
                what += f" and set its journal entry to idx {top}, tag {new[:-4]!r}, moved last"
            else:
                what += f" and add it to the journal (idx {top}, tag {new[:-4]!r})"
            steps.append(what)
        names = ", ".join(p.name for p in group)
        newer = ", ".join(p.name for p in moves)
        problems.append(Problem(
            f"{len(group)} migrations numbered {n:04d}: {names} (two branches that each "
            "added a migration?)",
            file=str(moves[0]),
            hint=f"run `{REBASE_COMMAND}`, or renumber by hand: keep {keep.name}, "
            f"{'; '.join(steps)}; then run `{SUM_FIX_COMMAND}`. Or, when no database has "
            f"applied it yet, delete {newer} "
            "(and its journal entry) and run `trimtab generate` again on top of the merged "
            "folder, which also writes its snapshot.",
        ))

    for p in files:
        if p.name not in listed and p.name not in in_duplicates:
            problems.append(Problem(
                f"{p.name} is not in the journal: no migration runs it",
                file=str(p),
                hint="generate migrations with `trimtab generate` (or `--custom` for a "
                "hand-written one); to keep this file, add an entry for it to "
                f"{journal_file}, or delete it",
            ))

    # Two entries with one idx (whatever their files are numbered).
    seen_idx: dict[int, _Entry] = {}
    for e in entries:
        if e.idx in seen_idx and f"{e.tag}.sql" not in in_duplicates:  # else reported above
            problems.append(Problem(
                f"journal entries {seen_idx[e.idx].tag} and {e.tag} both have idx {e.idx}",
                file=journal_file, line=e.line,
                hint=f"run `{REBASE_COMMAND}`, or renumber {e.tag} after the last "
                f"migration (idx {top + 1}, its file and tag renamed to match) and move its "
                "entry last",
            ))
        seen_idx.setdefault(e.idx, e)
    return _Listing(tuple(problems), tuple(present), frozenset(seen_tags))


def check(path: Path) -> list[Problem]:
    """Folder integrity without a database; each Problem names the file and gives the fix.

    Always: the journal parses; journal entries vs ``.sql`` files (entries without a file,
    files without an entry); idx sequence (gaps, duplicates, idx vs the tag's number);
    duplicate migration numbers (two branches that each added one); in a Drizzle project
    (``drizzle_reason``), ``when`` increasing along the journal. With ``trimtab.sum``
    (a trimtab folder): the sum against the files, the snapshot chain (each snapshot's prevId
    is the previous snapshot's id; the first's is all zeros), snapshots that do not parse or
    belong to no migration, and a NO_TRANSACTION directive below the first statement.
    drizzle-kit's snapshots are skipped."""
    path = Path(path)
    if not path.exists():
        return []
    journal_file = str(_journal_path(path))
    problems: list[Problem] = []
    try:
        loaded = _load_journal(path)
    except SchemaError as error:
        return [Problem(error.message, error.file, error.line, error.hint)]
    files = _sql_files(path)
    if loaded is None:
        if files:
            problems.append(Problem(
                f"{plural(len(files), '.sql file')} but no journal",
                file=journal_file,
                hint="restore meta/_journal.json from version control; it lists the migrations "
                "and their order",
            ))
        return problems
    _, entries = loaded

    listing = _listing(path, files, entries, journal_file)
    problems += listing.problems
    present, seen_tags = listing.present, listing.seen_tags

    # idx sequence: 0, 1, 2... in journal order.
    seen_idx: dict[int, _Entry] = {}
    prev: _Entry | None = None
    for e in entries:
        if e.idx in seen_idx:  # reported by _listing
            continue
        seen_idx[e.idx] = e
        expected = prev.idx + 1 if prev else 0
        if e.idx != expected:
            after = f"after {prev.tag} (idx {prev.idx})" if prev else "for the first entry"
            problems.append(Problem(
                f"journal entry {e.tag} has idx {e.idx}, expected {expected} {after}",
                file=journal_file, line=e.line,
                hint=f'set its "idx" to {expected} (entries are numbered 0, 1, 2... in order)',
            ))
        prev = e
        n = migration_number(e.tag)
        if n is not None and n != e.idx:
            problems.append(Problem(
                f"journal entry {e.tag} has idx {e.idx} but its file is numbered {n:04d}",
                file=journal_file, line=e.line,
                hint="make the idx and the file number agree",
            ))

    problems += _check_when(path, entries, journal_file)

    if not _has_sum(path):
        return problems  # a drizzle-kit folder: its snapshots are not trimtab's

    migrations: list[Migration] = []
    unreadable = False
    for e in present:
        try:
            migrations.append(_read_migration(path, e))
        except OSError as err:
            problems.append(Problem(f"cannot read {e.tag}.sql: {err.strerror or err}",
                                    file=str(path / f"{e.tag}.sql")))
        except SchemaError as err:  # not UTF-8, or a NUL: it cannot run as written
            unreadable = True
            problems.append(Problem(err.message, err.file, err.line, err.hint))
    # With a file missing (or unreadable), the sum cannot match: fix that first.
    if len(present) == len(seen_tags) and not unreadable:
        problems += _check_sum(path, migrations)
    problems += _check_snapshots(path, entries)
    problems += _check_directives(migrations)
    return problems


def _check_when(path: Path, entries: list[_Entry], journal_file: str) -> list[Problem]:
    """In a Drizzle project, ``when`` must increase along the journal: drizzle's migrator
    applies an entry only when its ``when`` is above the newest ``created_at`` it recorded.
    (trimtab matches by name and hash: elsewhere the order of ``when`` does not matter.)"""
    if drizzle_reason(path) is None:
        return []
    problems: list[Problem] = []
    top: _Entry | None = None
    for e in entries:
        if top is not None and e.when <= top.when:
            problems.append(Problem(
                f'journal entry {e.tag} has "when" {e.when}, not after {top.tag}\'s '
                f"({top.when}): drizzle-kit migrate and drizzle-orm's migrator never apply it "
                f"to a database that has {top.tag}",
                file=journal_file, line=e.line,
                hint=f'set its "when" to {top.when + 1} or more (epoch milliseconds; the '
                "entries after it likewise); trimtab matches migrations by name and hash, so "
                "the change is safe for it"))
        else:
            top = e
    return problems


def _check_sum(path: Path, migrations: list[Migration]) -> list[Problem]:
    sum_file = str(sum_path(path))
    fix = f"`{SUM_FIX_COMMAND}`"
    try:
        text = sum_path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        return [Problem(f"cannot read it: {e.strerror or e}", file=sum_file)]
    lines = text.splitlines()
    marker = next((n for n, ln in enumerate(lines, 1)
                   if ln.startswith(("<<<<<<<", "=======", ">>>>>>>"))), None)
    if marker is not None:
        return [Problem(
            "git conflict markers: two branches both added migrations",
            file=sum_file,
            line=marker,
            hint="keep the migrations of the branch merged first; renumber the other "
            "branch's after them (or delete them and run `trimtab generate` again), then "
            f"run {fix}",
        )]
    if not lines or not lines[0].startswith("h1:") or " " in lines[0]:
        return [Problem("malformed: the first line must be h1:<total>", file=sum_file,
                        line=1, hint=f"rewrite it with {fix}")]
    recorded: list[tuple[str, str]] = []
    for n, line in enumerate(lines[1:], 2):
        name, _, h = line.partition(" ")
        if not h.startswith("h1:"):
            return [Problem(f"malformed line: {line!r}", file=sum_file, line=n,
                            hint=f"rewrite it with {fix}")]
        recorded.append((name, h))
    # drizzle-kit's migrations after trimtab's last are not in the sum yet, rightly
    appended = set(drizzle_appended(path))
    if appended and len(recorded) + len(appended) == len(migrations) and all(
            m.path.name in appended for m in migrations[len(recorded):]):
        migrations = migrations[:len(recorded)]
    expected = [tuple(line.split(" ", 1)) for line in _sum_lines(migrations)]
    for i, ((name, h), (ename, eh)) in enumerate(zip(recorded, expected, strict=False)):
        if name != ename:
            return [Problem(
                f"the sum lists {name} in position {i + 1}, the journal has {ename}: "
                "migrations were added, removed or renumbered without trimtab (or two "
                "branches were merged)",
                file=sum_file, line=i + 2,
                hint="if two branches each added migrations, renumber the later branch's "
                f"after the others (see `trimtab check`'s other problems); then run {fix}",
            )]
        if h != eh:
            m = migrations[i]
            # Unchanged, but generated after another migration than the one now before it?
            parent = next((j for j in range(-1, i)
                           if _h((expected[j][1] if j >= 0 else "") + m.checksum) == h), None)
            if parent is not None:
                base = expected[parent][0] if parent >= 0 else "an empty folder"
                return [Problem(
                    f"{m.path.name} was generated on top of {base}, but now follows "
                    f"{expected[i - 1][0]}: two branches each added migrations after {base}",
                    file=str(m.path),
                    hint=f"renumber {m.path.name} and the migrations after it so they follow "
                    "the other branch's (or delete them and run `trimtab generate` again); "
                    f"then run {fix}",
                )]
            return [Problem(
                f"{m.path.name} changed after it was generated: its hash differs from "
                f"{_sum_name(path)}",
                file=str(m.path),
                hint=f"revert the edit (git checkout -- {m.path}); if the edit is intended and "
                f"no database has applied {m.name} yet, run {fix}; for a database that has, "
                "write a new migration instead",
            )]
    if len(recorded) > len(expected):
        name = recorded[len(expected)][0]
        return [Problem(
            f"the sum lists {name}, which is not in the journal (deleted?)",
            file=sum_file, line=len(expected) + 2,
            hint=f"restore the migration from version control, or run {fix} if it was "
            "removed on purpose and no database has applied it",
        )]
    if len(expected) > len(recorded):
        m = migrations[len(recorded)]
        return [Problem(
            f"{m.path.name} is not in {_sum_name(path)}: written by hand or merged from "
            "another branch",
            file=str(m.path),
            hint="from another branch: renumber it after this branch's migrations (see the "
            "other problems); written by hand: use `trimtab generate --custom` next time, and "
            f"to keep this one, run {fix}",
        )]
    if lines[0] != _h("\n".join(_sum_lines(migrations))):
        return [Problem("the total (first line) does not match the lines below it",
                        file=sum_file, line=1, hint=f"rewrite it with {fix}")]
    return []


def _check_snapshots(path: Path, entries: list[_Entry]) -> list[Problem]:
    """The snapshot chain, in journal order (a migration whose .sql file is missing keeps its
    place in the chain: its snapshot is still there)."""
    problems: list[Problem] = []
    expected_prev: str | None = ZERO_ID  # None: unknown (the previous one does not parse)
    prev_name: str | None = None
    drizzle_ids: set[str] = set()  # a drizzle-kit folder continued by trimtab
    seen_ids: dict[str, str] = {}
    owned: set[str] = set()
    checked: set[str] = set()
    for e in entries:
        snapshot = _snapshot_path(path, e.tag, e.idx)
        owned.add(snapshot.name)
        if not snapshot.is_file() or snapshot.name in checked:
            continue  # two migrations with one number share it: reported with the files
        checked.add(snapshot.name)
        file = str(snapshot)
        rel = f"meta/{snapshot.name}"
        try:
            text = decode_source(snapshot.read_bytes(), file, strip_bom=False)
        except OSError as e:
            problems.append(Problem(f"cannot read it: {e.strerror or e}", file=file))
            continue
        except SchemaError as e:
            problems.append(Problem(e.message, file=file, line=e.line, hint=e.hint))
            expected_prev, prev_name = None, rel
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        if is_drizzle_snapshot(data):
            if isinstance(data.get("id"), str):
                drizzle_ids.add(data["id"])
                expected_prev, prev_name = data["id"], rel
            continue
        try:
            _, sid, prev = load_snapshot(text, file)
        except SchemaError as e:
            problems.append(Problem(
                e.message, file=file, line=e.line,
                hint=e.hint or "restore it from version control, or regenerate the migration",
            ))
            expected_prev, prev_name = None, rel
            continue
        ok = expected_prev is None or prev == expected_prev or (
            prev == ZERO_ID and expected_prev in drizzle_ids
        )
        if not ok:
            after = f"the previous snapshot {prev_name} ({expected_prev})" if prev_name else (
                f"{ZERO_ID} (it is the first snapshot)"
            )
            problems.append(Problem(
                f"prevId {prev} should be {after}: the snapshot chain is broken (two branches "
                "that each generated a migration on the same parent?)",
                file=file, line=_key_line(text, "prevId"),
                hint=f"renumber the later branch's migration after {prev_name or 'the others'} "
                "and generate it again (delete it, then `trimtab generate`), so that its "
                "snapshot follows the merged folder",
            ))
        if sid in seen_ids:
            problems.append(Problem(
                f"id {sid} is also the id of {seen_ids[sid]}",
                file=file, line=_key_line(text, "id"),
                hint="a copied snapshot? regenerate this migration",
            ))
        seen_ids.setdefault(sid, rel)
        expected_prev, prev_name = sid, rel
    meta = path / TRIMTAB_META if _shared(path) else path / "meta"
    listed_numbers = {migration_number(e.tag) for e in entries} | {e.idx for e in entries}
    for p in sorted(meta.glob("*_snapshot.json")):
        if p.name not in owned and migration_number(p.name) not in listed_numbers:
            problems.append(Problem(
                "snapshot of no migration in the journal",
                file=str(p),
                hint="delete it, or restore the migration it belongs to",
            ))
    return problems


def _key_line(text: str, key: str) -> int | None:
    m = re.search(rf'"{key}"\s*:', text)
    return text.count("\n", 0, m.start()) + 1 if m else None


def _check_directives(migrations: list[Migration]) -> list[Problem]:
    problems = []
    for m in migrations:
        if not m.statements:
            continue
        text = m.path.read_bytes().decode("utf-8", errors="replace")
        first = m.statements[0].line
        for n, raw in enumerate(text.splitlines(), 1):
            if n > first and _is_directive(raw.strip()):
                problems.append(Problem(
                    f"{NO_TRANSACTION} below the first statement has no effect",
                    file=str(m.path), line=n,
                    hint="move it to the top of the file, above every statement",
                ))
                break
    return problems
