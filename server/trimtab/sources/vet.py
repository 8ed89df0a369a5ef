"""Which statements of a schema file or a migration may reach the sandboxed shadow.

A schema file is code from a repository: it reaches dry runs, status, the editor and the
studio before anyone reviews it. The shadow is built by a role that cannot leave its
database (sources/shadow.py); this pass refuses, before anything is sent, what has no
business in a schema definition, with the file, line and reason, so that a hostile or
mistaken file fails clearly instead of meeting a permission error halfway through.

- Cluster-level statements (roles, databases, tablespaces, ALTER SYSTEM, subscriptions)
  would act outside the database; a schema file never needs them.
- Statements that run code or move data at apply time (DO, CALL, SELECT, DML, COPY, LOAD,
  maintenance commands, SET ROLE / SESSION AUTHORIZATION, LISTEN/NOTIFY...) describe no
  schema object.
- Session settings that pg_dump writes (``SET statement_timeout = 0``...) are accepted and
  not sent: the sandbox's own timeouts hold in the shadow. A statement that names one of
  those settings anywhere else (a function's SET clause, set_config in a body) is refused,
  since it could lift the timeouts.

Migrations may hold data changes (they run in the sandbox, where that is harmless); only
the cluster-level statements are kept from their replay, and they are reported, never
dropped silently (they change nothing the schema model holds).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from trimtab.errors import SchemaError
from trimtab.model import Model
from trimtab.sources.sqlfile import head_tokens, lex

# Settings the sandbox owns while it builds a shadow.
GUARDED_SETTINGS = ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout",
                    "idle_session_timeout", "transaction_timeout",
                    "client_connection_check_interval")
_GUARDED = re.compile(r"(?<![\w$])(?:" + "|".join(GUARDED_SETTINGS) + r")(?![\w$])", re.I)

_WORD = re.compile(r"[A-Za-z_]+")


def head(text: str, n: int = 4) -> list[str]:
    """The first ``n`` words of a statement, lower case, past comments (nested ones too,
    as PostgreSQL reads them: the SQL lexer's tokens). A word is ASCII letters and ``_``:
    the first token that is not wholly one ends the head, after its leading letters."""
    words: list[str] = []
    for _, _, a, b in head_tokens(text, n):
        w = _WORD.match(text, a)
        if not w:
            break
        words.append(w.group().lower())
        if w.end() != b:
            break
    return words


_CLUSTER_OBJECTS = {"role", "user", "group", "database", "tablespace", "subscription"}
_CLUSTER_REASON = ("acts outside the database: roles, databases, tablespaces and "
                   "subscriptions are not part of a schema")
_RUNS_CODE = {
    "do": "runs code when applied",
    "call": "runs a procedure when applied",
    "select": "runs a query when applied",
    "with": "runs a query when applied",
    "values": "runs a query when applied",
    "table": "runs a query when applied",
    "insert": "changes data", "update": "changes data", "delete": "changes data",
    "merge": "changes data", "truncate": "changes data",
    "copy": "reads or writes data outside the schema",
    "load": "loads a shared library into the server",
    "vacuum": "is maintenance, not a schema definition",
    "analyze": "is maintenance, not a schema definition",
    "analyse": "is maintenance, not a schema definition",
    "cluster": "is maintenance, not a schema definition",
    "reindex": "is maintenance, not a schema definition",
    "checkpoint": "is maintenance, not a schema definition",
    "refresh": "runs a query when applied",
    "listen": "is a session command", "notify": "is a session command",
    "unlisten": "is a session command", "lock": "is a session command",
    "prepare": "runs code when applied", "execute": "runs code when applied",
    "deallocate": "is a session command", "discard": "is a session command",
    "import": "reads a foreign server",
    "reassign": "acts on every database of a role",
}
_TRANSACTION = {"begin", "commit", "rollback", "end", "abort", "start", "savepoint",
                "release"}
# pg_dump's way to clear the search path: a SELECT that only sets a setting.
_SET_CONFIG = re.compile(r"\s*select\s+(?:pg_catalog\s*\.\s*)?set_config\s*\(\s*'([a-z_.]+)'"
                         r"\s*,\s*'(?:[^']|'')*'\s*,\s*(?:true|false)\s*\)\s*;?\s*$", re.I)


@dataclass(frozen=True)
class Verdict:
    send: bool  # reaches the shadow
    reason: str | None = None  # why it is refused (None: accepted)


def judge(text: str, *, migration: bool = False, words: list[str] | None = None) -> Verdict:
    """Whether one statement may reach the shadow. ``migration``: a migration's statement
    in a replay, where data changes may run (the sandbox's privileges stop the rest) and
    only cluster-level statements and the sandbox's own settings are left out. ``words``:
    ``head(text)``, when the caller has it."""
    w = head(text) if words is None else words
    if not w:
        return Verdict(True)
    first = w[0]
    second = w[1] if len(w) > 1 else ""
    if first in ("create", "alter", "drop", "comment") and _cluster_level(w) or \
            first in ("grant", "revoke") and _membership(text):
        return Verdict(False, None if migration else _CLUSTER_REASON)
    if first in ("set", "reset"):
        v = _session(w)
        return Verdict(v.send) if migration and not v.send else v
    if first == "select" and (m := _SET_CONFIG.match(text)):
        setting = m.group(1).lower()
        if setting in GUARDED_SETTINGS:
            return Verdict(False, None)
        if setting in ("role", "session_authorization") and not migration:
            return Verdict(False, "changes the role the statements run as")
        return Verdict(True)
    if migration:
        return Verdict(True)
    if first == "alter" and second == "system":
        return Verdict(False, "changes the server's configuration")
    if first in _TRANSACTION:
        # The shadow runs the file in a transaction of its own.
        return Verdict(False, None)
    if first in _RUNS_CODE:
        return Verdict(False, _RUNS_CODE[first])
    if first == "security" and second == "label":
        return Verdict(False, "needs a label provider loaded into the server")
    if _may_name_a_guarded_setting(text) and _GUARDED.search(text):
        return Verdict(False, "changes a timeout the sandbox keeps while it builds the shadow")
    return Verdict(True)


def _may_name_a_guarded_setting(text: str) -> bool:
    """False when ``text`` cannot hold a match of _GUARDED: the pattern's search of every
    statement of a 10,000-table schema took a second, where this test runs in C. Every
    guarded setting's name holds "timeout" or "interval". Only an ASCII text is tested:
    the pattern matches some other letters in any case (a dotless i for an i, the Kelvin
    sign for a k) that lower() keeps or makes two."""
    if not text.isascii():
        return True
    folded = text.lower()
    return "timeout" in folded or "interval" in folded


def _cluster_level(w: list[str]) -> bool:
    rest = w[1:]
    if w[0] == "comment":  # COMMENT ON ROLE / DATABASE / TABLESPACE
        return len(rest) > 1 and rest[0] == "on" and rest[1] in _CLUSTER_OBJECTS
    if rest[:1] == ["user"] and rest[1:2] == ["mapping"]:
        return False  # USER MAPPING: a foreign server's login, inside the database
    if rest[:1] == ["default"] and rest[1:2] == ["privileges"]:
        return False
    return bool(rest) and rest[0] in _CLUSTER_OBJECTS


def _membership(text: str) -> bool:
    """GRANT role TO role (no ON clause): a change of role membership, server-wide. The
    clause is the keyword ON, not a word in a comment or a string, nor a quoted "on"."""
    return not any(kind == "W" and value == "on" for kind, value, _, _ in lex(text).toks)


def _session(w: list[str]) -> Verdict:
    rest = [x for x in w[1:] if x not in ("session", "local")] if w[0] == "set" else w[1:]
    if w[0] == "set" and w[1:3] == ["session", "authorization"]:
        return Verdict(False, "changes the role the statements run as")
    name = rest[0] if rest else ""
    if name in ("role", "session_authorization") or w[1:3] == ["session", "authorization"]:
        return Verdict(False, "changes the role the statements run as")
    if name == "all":
        return Verdict(False, "resets the sandbox's settings")
    if name in GUARDED_SETTINGS or name == "transaction":
        return Verdict(False, None)  # pg_dump writes these; the sandbox's values hold
    return Verdict(True)


_NAME = r'(?:"(?:[^"]|"")*"|[^\W\d][\w$]*)'
_OWNER_TO = re.compile(rf"\s*alter\s+[a-z ]+?\s+{_NAME}(?:\s*\.\s*{_NAME})?(?:\s*\([^()]*\))?"
                       rf"\s+owner\s+to\s+{_NAME}\s*", re.I)
_SCHEMA_AUTHORIZATION = re.compile(
    rf"(\s*create\s+schema\s+(?:if\s+not\s+exists\s+)?{_NAME})\s+authorization\s+{_NAME}\s*",
    re.I)


def _unmanaged_superuser_object(w: list[str]) -> bool:
    """Event triggers and publications FOR ALL TABLES need a superuser, and the schema
    model holds neither (they are reported as not managed): the shadow leaves them out."""
    if w[:1] == ["comment"]:
        w = w[1:]  # COMMENT ON EVENT TRIGGER / PUBLICATION
    objects = w[1:3]
    return w[:1] in (["create"], ["alter"], ["drop"], ["on"]) and (
        objects == ["event", "trigger"] or objects[:1] == ["publication"])


def _in_shadow(text: str, words: list[str] | None = None) -> str | None:
    """The statement as the sandbox runs it: owners are not part of the schema model, and
    the sandbox cannot give its objects away (pg_dump writes ALTER ... OWNER TO for every
    object), so those are left out and CREATE SCHEMA's AUTHORIZATION dropped; so are the
    objects only a superuser may make that the model does not hold. ``words``:
    ``head(text, 5)``, when the caller has it."""
    if _OWNER_TO.fullmatch(text) or _unmanaged_superuser_object(
            head(text, 5) if words is None else words):
        return None
    if m := _SCHEMA_AUTHORIZATION.fullmatch(text):
        return m.group(1)
    return text


# The language server vets the whole schema after every pause in typing, where one
# statement changed: lexing the heads of 5,000 statements cost 120 ms. The answer depends on
# the text alone, so it is kept by text (bounded: a few MB of texts at most).
@functools.lru_cache(maxsize=16384)
def _as_schema_statement(text: str) -> tuple[Verdict, str | None]:
    """``judge(text)`` and, when it is sent, ``_in_shadow(text)``."""
    words = head(text, 5)  # (lexed once for both)
    v = judge(text, words=words[:4])
    return v, _in_shadow(text, words) if v.send else None


# The answers for the statements of the last schema vetted, by text. A schema of more
# statements than the cache above holds (40,000 at 10,000 tables) missed it every time,
# and vetting it anew took 4 s of each exact analysis. Swapped whole (safe across threads);
# the texts are the statements' own, and most answers are the one shared _AS_IS.
_last: dict[str, tuple[Verdict, str | None]] = {}
_AS_IS: tuple[Verdict, str | None] = (Verdict(True), None)  # sent as it is written


def for_schema(statements: Sequence[object], *, shadow: bool = True) -> list[object]:
    """The schema statements to send to the shadow (``sqlfile.Statement``s, as the sandbox
    runs them; not ``shadow``: as they are, for a push that runs the file itself); the
    first one that has no place in a schema definition raises SchemaError at its file and
    line."""
    global _last
    out = []
    known = _last
    answers: dict[str, tuple[Verdict, str | None]] = {}
    for st in statements:
        text: str = st.text  # type: ignore[attr-defined]
        answer = known.get(text)
        if answer is None:
            v, shadow_text = _as_schema_statement(text)
            answer = _AS_IS if v.send and v.reason is None and shadow_text is text else (
                v, shadow_text)
        answers[text] = answer
        v, shadow_text = (_AS_IS[0], text) if answer is _AS_IS else answer
        if v.reason is not None:
            span = st.span  # type: ignore[attr-defined]
            words = " ".join(head(text, 3)).upper()
            raise SchemaError(
                f"{words} {v.reason}: trimtab does not run it outside an explicit push",
                file=span.file, line=span.line, column=span.column,
                obj=" ".join(text.split()[:4]),
                hint="a schema file declares objects (tables, types, functions, views...); "
                     "move this statement to a migration or a seed file")
        if v.send and not shadow:
            out.append(st)
        elif v.send and shadow_text is not None:
            out.append(st if shadow_text == text else
                       dataclasses.replace(st, text=shadow_text))  # type: ignore[type-var]
    if len(answers) > 1000:  # (a small one, a migration's or a test's, leaves the big)
        _last = answers
    return out


def left_out_of_replay(statements: Sequence[object]) -> list[int]:
    """Indexes of a migration's statements that its replay in the sandbox leaves out
    (cluster-level ones, and the settings the sandbox keeps)."""
    return [i for i, st in enumerate(statements)
            if not judge(st.text, migration=True).send]  # type: ignore[attr-defined]


# -- owners the schema file declares ----------------------------------------------------------
# The shadow never runs them (see _in_shadow); push plans them against the target's owners.

_OWNER_PARTS = re.compile(
    rf"\s*alter\s+(?P<kind>[a-z ]+?)\s+(?:if\s+exists\s+)?(?P<a>{_NAME})"
    rf"(?:\s*\.\s*(?P<b>{_NAME}))?(?:\s*\((?P<args>[^()]*)\))?\s+owner\s+to\s+(?P<role>{_NAME})\s*",
    re.I)
_AUTHORIZATION_PARTS = re.compile(
    rf"\s*create\s+schema\s+(?:if\s+not\s+exists\s+)?(?P<a>{_NAME})\s+authorization\s+"
    rf"(?P<role>{_NAME})\s*", re.I)
# Role names that stand for a role of the session, not a role so named.
SESSION_ROLES = frozenset({"current_user", "current_role", "session_user"})


@dataclass(frozen=True)
class DeclaredOwner:
    """One ``ALTER <kind> <name> OWNER TO <role>`` (or CREATE SCHEMA ... AUTHORIZATION)
    of a schema file."""

    kind: str  # "TABLE", "MATERIALIZED VIEW", "FUNCTION", "SCHEMA"...
    schema: str | None  # None: unqualified (schemas themselves: None, the name in ``name``)
    name: str
    args: str | None  # a function's argument types as written
    role: str  # unquoted; lower case CURRENT_USER & co. stand for the session's role
    file: str
    line: int
    column: int

    @property
    def label(self) -> str:
        name = f"{self.schema}.{self.name}" if self.schema else self.name
        return f"{self.kind.lower()} {name}" + (f"({self.args})" if self.args is not None else "")


def _ident(raw: str) -> str:
    return raw[1:-1].replace('""', '"') if raw.startswith('"') else raw.lower()


def declared_owners(statements: Sequence[object]) -> list[DeclaredOwner]:
    """The owners the statements declare, in file order."""
    out = []
    for st in statements:
        text: str = st.text  # type: ignore[attr-defined]
        if "owner" not in text.lower() and "authorization" not in text.lower():
            continue
        span = st.span  # type: ignore[attr-defined]
        if m := _OWNER_PARTS.fullmatch(text):
            kind = " ".join(m.group("kind").upper().split())
            a, b = _ident(m.group("a")), m.group("b")
            schema, name = (a, _ident(b)) if b is not None else (None, a)
            args = m.group("args")
        elif m := _AUTHORIZATION_PARTS.fullmatch(text):
            kind, schema, name, args = "SCHEMA", None, _ident(m.group("a")), None
        else:
            continue
        raw_role = m.group("role")
        role = raw_role.lower() if raw_role.lower() in SESSION_ROLES else _ident(raw_role)
        out.append(DeclaredOwner(kind, schema, name, " ".join(args.split()) if args is not None
                                 else None, role, span.file, span.line, span.column))
    return out


def _split_args(args: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in args:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return [p for p in [*parts, cur.strip()] if p]


def _same_args(declared: str, identity: str) -> bool:
    """Whether argument types as written (``int4, varchar(20)``, names allowed) are those of
    pg_get_function_identity_arguments' ``a integer, b character varying``."""
    from trimtab.sources.sqlfile import canonical_type

    def spellings(arg: str) -> set[str]:
        words = arg.split()
        tails = [" ".join(words[i:]) for i in range(min(len(words), 3))]
        return {re.sub(r"\([\d, ]*\)", "", canonical_type(t)) for t in tails if t}

    mine, theirs = _split_args(declared), _split_args(identity)
    return len(mine) == len(theirs) and all(
        any(t == d or t.endswith(" " + d) for d in spellings(m))
        for m, t in zip(mine, theirs, strict=True))


def owner_key(decl: DeclaredOwner, model: Model) -> tuple[str, ...] | None:
    """The key in ``model`` of the object ``decl`` names; None when the model holds no
    such object (a kind it does not manage, or a name it does not have)."""
    if decl.kind == "SCHEMA":
        key = ("schema", decl.name)
        return key if key in model.schemas else None
    buckets = {
        "TABLE": (model.tables, model.views, model.sequences),
        "VIEW": (model.views,), "MATERIALIZED VIEW": (model.views,),
        "SEQUENCE": (model.sequences,), "TYPE": (model.types,), "DOMAIN": (model.types,),
        "COLLATION": (model.collations,),
        "FUNCTION": (model.functions,), "PROCEDURE": (model.functions,),
        "ROUTINE": (model.functions,),
    }.get(decl.kind, ())
    found = [k for bucket in buckets for k in bucket
             if k[2] == decl.name and (k[1] == decl.schema if decl.schema else True)]
    if decl.schema is None and len({k[1] for k in found}) > 1:
        # Unqualified: the object in public, as a search path of "$user", public finds it.
        found = [k for k in found if k[1] == "public"]
    if found and found[0][0] == "function" and len(found) > 1 and decl.args is not None:
        found = [k for k in found if _same_args(decl.args, k[3])]
    return found[0] if len(found) == 1 else None
