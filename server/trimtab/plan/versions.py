"""The syntax a PostgreSQL major version lacks, found in a rendered plan.

A migration is often generated next to one server (the embedded 18, a shadow) and run on
another. This pass reads each step's SQL (and, where the SQL is ambiguous, the model
object it renders) and marks the statements the given major version cannot run, so that
generate and push say so instead of leaving it to the server's syntax error.

Named NOT NULL constraints (18+) are not listed: the renderer always writes the unnamed
``NOT NULL`` / ``SET NOT NULL`` form, which every version runs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Protocol

from trimtab.model import Column
from trimtab.plan.changes import (
    AddColumn,
    AlterColumn,
    Category,
    Change,
    CreateTable,
    GrantPrivilege,
    Hazard,
    Plan,
    Step,
)
from trimtab.sqltext import lex_uncached

OLDEST, NEWEST = 13, 18
CODE = "needs-newer-postgres"


@dataclass(frozen=True)
class Lack:
    """One statement of one step that ``version`` cannot run."""

    step: Step
    feature: str  # "NULLS NOT DISTINCT"
    since: int  # the first major version that has it
    version: int  # the major version the plan is meant for
    fix: str | None = None

    @property
    def message(self) -> str:
        return (f"PostgreSQL {self.version} lacks {self.feature} (PostgreSQL "
                f"{self.since}+): {self.step.change.describe()} fails there")


def major(server_version: int) -> int:
    """13 from 130012 (server_version_num) or from 13."""
    return server_version // 10000 if server_version >= 10000 else server_version


def _columns(ch: Change) -> list[Column]:
    if isinstance(ch, CreateTable):
        return [c for c in ch.after.columns if not c.inherited]
    if isinstance(ch, (AddColumn, AlterColumn)):
        return [ch.after]
    return []


def _virtual(ch: Change, sql: str) -> bool:
    # From the model: an expression may itself contain the word VIRTUAL.
    return any(c.generated is not None and c.generated_virtual for c in _columns(ch))


def _maintain(ch: Change, sql: str) -> bool:
    return isinstance(ch, GrantPrivilege) and ch.after.privilege.upper() == "MAINTAIN"


def _sql(pattern: str) -> Callable[[Change, str], bool]:
    rx = re.compile(pattern, re.IGNORECASE)
    return lambda ch, sql: bool(rx.search(sql))


# (feature, first major version with it, test on (change, statement), the fix to offer)
_FEATURES: tuple[tuple[str, int, Callable[[Change, str], bool], str | None], ...] = (
    ("SET COMPRESSION", 14, _sql(r"\bALTER COLUMN .* SET COMPRESSION\b"),
     "leave the column's compression to the server's default_toast_compression"),
    ("NULLS NOT DISTINCT", 15, _sql(r"\bNULLS NOT DISTINCT\b"),
     "use a plain UNIQUE constraint, or a partial unique index on the non-null rows "
     "plus one on the null ones"),
    ("unlogged sequences", 15,
     _sql(r"^(CREATE UNLOGGED SEQUENCE\b|ALTER SEQUENCE .* SET UNLOGGED$)"), None),
    ("the security_invoker view option", 15, _sql(r"^[^\n]*\bsecurity_invoker\s*="), None),
    ("ON DELETE SET NULL/DEFAULT (columns)", 15,
     _sql(r"\bON DELETE SET (NULL|DEFAULT) \("), None),
    ("ALTER COLUMN ... SET EXPRESSION", 17, _sql(r"\bALTER COLUMN .* SET EXPRESSION AS\b"),
     "drop the generated column and add it again"),
    ("the MAINTAIN privilege", 17, _maintain, None),
    ("VIRTUAL generated columns", 18, _virtual, "use GENERATED ALWAYS AS (...) STORED"),
    ("WITHOUT OVERLAPS", 18, _sql(r"\bWITHOUT OVERLAPS\b"), None),
    ("PERIOD foreign keys", 18, _sql(r"\bFOREIGN KEY \([^)]*\bPERIOD\b"), None),
    ("NOT ENFORCED constraints", 18, _sql(r"\bNOT ENFORCED\b"), None),
)


def lacks(plan: Plan, version: int) -> list[Lack]:
    """What in ``plan`` PostgreSQL ``version`` (a major, or server_version_num) lacks,
    one entry per step and feature."""
    v = major(version)
    found: list[Lack] = []
    for step in plan.steps:
        for feature, since, test, fix in _FEATURES:
            if v < since and any(test(step.change, sql) for sql in step.sql):
                found.append(Lack(step, feature, since, v, fix))
    return found


def mark(plan: Plan, version: int) -> tuple[Plan, list[Lack]]:
    """``plan`` with a ``needs-newer-postgres`` hazard on each step ``version`` cannot
    run, and the lacks found."""
    found = lacks(plan, version)
    if not found:
        return plan, found
    by_step: dict[int, list[Hazard]] = {}
    for lack in found:
        by_step.setdefault(id(lack.step), []).append(Hazard(
            CODE, Category.MAY_FAIL, lack.message, fix=lack.fix))
    steps = tuple(replace(s, hazards=(*s.hazards, *by_step[id(s)])) if id(s) in by_step
                  else s for s in plan.steps)
    return replace(plan, steps=steps), found


# -- the schema file as written ---------------------------------------------------------------
# Before a statement reaches a server (push's shadow or the target itself), its text says
# whether that server's version can run it: refused there with the version's name instead
# of a syntax error from the middle of a run. Comments, strings and dollar-quoted bodies are
# blanked first, so that a word in a comment or a function body never counts.

_QUOTING = frozenset("SEDQ")  # sqltext's string, escape string, dollar, quoted name

# (feature, first major version with it, pattern in the masked statement)
_WRITTEN: tuple[tuple[str, int, re.Pattern[str], tuple[str, ...]], ...] = tuple(
    (feature, since, re.compile(pattern, re.IGNORECASE | re.DOTALL), needs)
    # needs: what a statement with a match holds (see written): each word ("a|b": one of
    # them), in any case
    for feature, since, pattern, needs in (
        ("SET COMPRESSION", 14, r"\bCOMPRESSION\s+(pglz|lz4|default)\b", ("compression",)),
        ("SQL-standard function bodies", 14,
         r"^\s*CREATE\s+(OR\s+REPLACE\s+)?(FUNCTION|PROCEDURE)\b.*?\b(?P<at>BEGIN\s+ATOMIC|RETURN)\b",
         ("function|procedure", "atomic|return")),
        ("NULLS NOT DISTINCT", 15, r"\bNULLS\s+NOT\s+DISTINCT\b", ("nulls", "distinct")),
        ("unlogged sequences", 15, r"\bUNLOGGED\s+SEQUENCE\b", ("unlogged", "sequence")),
        ("the security_invoker view option", 15, r"^\s*(CREATE|ALTER)\b[^(]*\bVIEW\b.*"
                                                 r"\b(?P<at>security_invoker)\b",
         ("view", "security_invoker")),
        ("ON DELETE SET NULL/DEFAULT (columns)", 15,
         r"\bON\s+DELETE\s+SET\s+(NULL|DEFAULT)\s*\(", ("delete", "set", "null|default")),
        ("ALTER COLUMN ... SET EXPRESSION", 17, r"\bSET\s+EXPRESSION\s+AS\b", ("expression",)),
        ("the MAINTAIN privilege", 17, r"^\s*(GRANT|REVOKE)\b[^;]*?\b(?P<at>MAINTAIN)\b",
         ("maintain",)),
        ("VIRTUAL generated columns", 18, r"\)\s*VIRTUAL\b", ("virtual",)),
        ("WITHOUT OVERLAPS", 18, r"\bWITHOUT\s+OVERLAPS\b", ("overlaps",)),
        ("PERIOD foreign keys", 18,
         r"\b(FOREIGN\s+KEY|REFERENCES)\b[^;]*?\(\s*[^)]*\b(?P<at>PERIOD)\b", ("period",)),
        ("NOT ENFORCED constraints", 18, r"\bNOT\s+ENFORCED\b", ("enforced",)),
    ))


@dataclass(frozen=True)
class Written:
    """Syntax that ``version`` lacks, where a schema file writes it."""

    file: str
    line: int
    feature: str
    since: int
    version: int

    @property
    def message(self) -> str:
        return (f"{self.file}:{self.line}: PostgreSQL {self.version} lacks {self.feature} "
                f"(PostgreSQL {self.since}+)")


def _masked(text: str) -> str:
    # Same length, blanks kept: offsets still give lines. What is not a token (comments) and
    # the tokens that quote (strings, dollar-quoted bodies, quoted identifiers) are blanked.
    out = [c if c.isspace() else " " for c in text]
    for kind, _, a, b in lex_uncached(text).toks:
        if kind not in _QUOTING:
            out[a:b] = text[a:b]
    return "".join(out)


# Read-only members (properties), so that frozen dataclasses match.
class _Span(Protocol):
    @property
    def file(self) -> str: ...
    @property
    def line(self) -> int: ...


class _Statement(Protocol):  # sqlfile.Statement; plan/ imports the model only
    @property
    def text(self) -> str: ...
    @property
    def span(self) -> _Span: ...


@functools.cache
def _word(word: str) -> re.Pattern[str]:
    """One of ``word``'s "a|b" alternatives as a word of its own, in any case, as the
    patterns take it."""
    return re.compile(rf"\b(?:{word})\b", re.IGNORECASE)


def written(statements: Iterable[_Statement], version: int) -> list[Written]:
    """The syntax in ``statements`` that PostgreSQL ``version`` (a major, or
    server_version_num) lacks, one entry per statement and feature, at its line."""
    v = major(version)
    wanted = [w for w in _WRITTEN if v < w[1]]
    found: list[Written] = []
    if not wanted:
        return found
    # Masking lexes the statement, some 100 microseconds each: 4 s a plan at 10,000 tables,
    # the exact path's every pause in typing. It only blanks characters, so a statement
    # without the words a feature's match needs cannot match once masked: most are skipped.
    # First on a test that runs in C, then on the words whole. Only an ASCII text is
    # tested: the patterns match some other letters in any case (a dotless i for an i)
    # that lower() keeps or makes two.
    needs = [(w, [(word.split("|"), _word(word)) for word in w[3]]) for w in wanted]
    first = [x for _, words in needs for x in words[0][0]]
    for st in statements:
        if st.text.isascii():
            folded = st.text.lower()
            if not any(map(folded.__contains__, first)):
                continue
            maybe = [w for w, words in needs
                     if all(any(map(folded.__contains__, one_of)) for one_of, _ in words)
                     and all(rx.search(st.text) for _, rx in words)]
            if not maybe:
                continue
        else:
            maybe = wanted
        text = _masked(st.text)
        for feature, since, rx, _ in maybe:
            m = rx.search(text)
            if m:
                at = m.start("at") if "at" in rx.groupindex else m.start()
                found.append(Written(st.span.file, st.span.line + text.count("\n", 0, at),
                                     feature, since, v))
    return found
