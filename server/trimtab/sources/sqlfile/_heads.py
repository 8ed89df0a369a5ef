"""Statement heads: the kind of a statement, the object it declares, the table it touches."""

from __future__ import annotations

import re
import sys

from trimtab.memo import MiB, memoize
from trimtab.sources.sqlfile import _base
from trimtab.sources.sqlfile._base import Statement
from trimtab.sources.sqlfile._cursor import Cursor, split_qname
from trimtab.sources.sqlfile._types import identity_args
from trimtab.sqltext import (
    TOKEN,
    Tok,
    fold,
    ident_value,
    lex_uncached,
    skip_block_comment,
    word_set,
)

# --------------------------------------------------------------------------------------
# Statement heads: kind and declared object

CREATE_MODIFIERS = word_set(
    "or replace unique unlogged logged temp temporary global local recursive constraint "
    "trusted procedural default"
)
# Object types of more than one word: always so many more words ...
_MULTI_OBJECT = {"materialized": 1, "event": 1, "text": 2, "access": 1, "large": 1}
# ... or a second word when it is one of these.
_MULTI_SECOND = {
    "foreign": {"table", "data"}, "operator": {"class", "family"}, "user": {"mapping"},
    "default": {"privileges"},
}


_NAME = r'(?:"(?:[^"]|"")*"|[^\W\d][\w$]*)'
_FAST_HEAD = re.compile(
    rf"""(?P<verb>create|alter|drop)\s+
    (?:(?P<mod>or\s+replace|unique|unlogged|temp|temporary)\s+)?
    (?P<obj>table|index|view|materialized\s+view|type|domain|sequence|schema|extension)\s+
    (?P<ine>if\s+(?:not\s+)?exists\s+)?
    (?:(?P<conc>concurrently)\s+(?P<ine2>if\s+not\s+exists\s+)?)?
    (?P<n1>{_NAME})(?:\s*\.\s*(?P<n2>{_NAME}))?
    (?:\s+on\s+(?:only\s+)?(?P<t1>{_NAME})(?:\s*\.\s*(?P<t2>{_NAME}))?)?
    (?=\s*(?:[(;]|$)|\s+(?![.]))""",
    re.I | re.X,
)


_FAST_FUNCTION = re.compile(
    rf"""create\s+(?:or\s+replace\s+)?(?P<obj>function|procedure)\s+
    (?P<n1>{_NAME})(?:\s*\.\s*(?P<n2>{_NAME}))?\s*\((?P<args>[^()'"$/\-]*)\)""",
    re.I | re.X,
)


def name_value(raw: str) -> str:
    if raw.startswith('"'):
        return ident_value(raw[1:-1].replace('""', '"'))
    return ident_value(fold(raw))


def _fast_head(text: str) -> tuple[str, tuple[str, ...] | None] | None:
    """The head of the most common statements with one regex; None when unsure."""
    m = _FAST_HEAD.match(text)
    if m is None:
        f = _FAST_FUNCTION.match(text)
        if f is None:
            return None
        kind = "CREATE " + f.group("obj").upper()
        schema = "public" if f.group("n2") is None else name_value(f.group("n1"))
        name = name_value(f.group("n2") or f.group("n1"))
        args = identity_args(f.group("args"), kind == "CREATE PROCEDURE")
        return kind, ("function", schema, name, args)
    verb = m.group("verb").lower()
    obj = " ".join(m.group("obj").lower().split())
    mod = (m.group("mod") or "").lower()
    kind = f"{verb} {obj}".upper()
    if verb != "create":
        return kind, None
    if obj == "index":
        if m.group("t1") is None or m.group("n2") is not None or mod not in ("", "unique"):
            return None
        schema = "public" if m.group("t2") is None else name_value(m.group("t1"))
        return kind, ("index", schema, name_value(m.group("n1")))
    if m.group("t1") is not None or m.group("conc") is not None:
        return None
    if obj in ("schema", "extension"):
        if m.group("n2") is not None or fold(m.group("n1")) == "authorization":
            return None
        return kind, (obj, name_value(m.group("n1")))
    family = {"materialized view": "view", "domain": "type"}.get(obj, obj)
    if m.group("n2") is None:
        return kind, (family, "public", name_value(m.group("n1")))
    return kind, (family, name_value(m.group("n1")), name_value(m.group("n2")))


# (2 MiB: the split and the reader of a statement ask one after the other; more only kept
# heads of texts no statement has any more, some 3.4 MiB at 10,000 tables)
@memoize(2 * MiB, lambda args, head: sys.getsizeof(args[0]) + 512)
def statement_head(text: str) -> tuple[str, tuple[str, ...] | None]:
    fast = _fast_head(text)
    kind, key = fast if fast is not None else _slow_head(text)
    # Interned: every statement of a file holds its kind and key, and at 10,000 tables
    # thousands of "CREATE TABLE", "public" and "table" were each a copy of their own.
    return sys.intern(kind), (None if key is None else tuple(
        sys.intern(x) if type(x) is str and len(x) <= _SHORT else x for x in key))


_SHORT = 64  # names and short texts are interned; longer ones are rarely repeated


def _slow_head(text: str) -> tuple[str, tuple[str, ...] | None]:
    try:
        # Most heads fit in a dozen tokens; read more only when the reader got that far.
        for limit in (12, 40):
            toks = head_tokens(text, limit)
            r = Cursor(text, toks)
            kind, key = _read_head(r)
            if r.i < limit - 1 or len(toks) < limit:
                break
        return kind, key
    except Exception:  # never fail on input; see STRICT
        if _base.STRICT:
            raise
        return "", None


def head_tokens(text: str, limit: int = 24) -> tuple[Tok, ...]:
    """The first tokens of ``text`` (cheap: a head never needs the whole statement)."""
    out: list[Tok] = []
    pos = 0
    n = len(text)
    while pos < n and len(out) < limit:
        m = TOKEN.match(text, pos)
        if m is None:
            break
        kind: str = m.lastgroup  # type: ignore[assignment]  # _TOKEN: all named
        a = m.start(kind)
        if kind == "C":
            pos = m.end()
            continue
        if kind == "BC":
            pos = skip_block_comment(text, m.end())
            continue
        if kind == "W":
            out.append(("W", ident_value(fold(m.group(kind))), a, m.end()))
        elif kind == "Q":
            raw = m.group(kind)
            inner = raw[raw.index('"') + 1:]
            if m.group("Qc") is not None:
                inner = inner[:-1].replace('""', '"')
            out.append(("Q", ident_value(inner), a, m.end()))
        else:
            out.append(("D" if kind == "DU" else kind, m.group(kind), a, m.end()))
        pos = m.end()
    return tuple(out)


def _read_head(r: Cursor) -> tuple[str, tuple[str, ...] | None]:
    text = r.text
    verb = r.word()
    if verb is None:
        return "", None
    r.i = 1
    if verb == "comment":
        return "COMMENT", None
    if verb == "security" and r.word() == "label":
        return "SECURITY LABEL", None
    if verb not in ("create", "alter", "drop"):
        return verb.upper(), None
    if verb == "create":
        while True:
            w = r.word()
            if w is None or w not in CREATE_MODIFIERS:
                break
            r.i += 1
    obj = r.word()
    if obj is None:
        return verb.upper(), None
    words = [obj]
    r.i += 1
    if obj in _MULTI_SECOND:
        if r.word() in _MULTI_SECOND[obj]:
            words.append(r.word() or "")
            r.i += 1
            if words == ["foreign", "data"] and r.word() == "wrapper":
                words.append("wrapper")
                r.i += 1
    elif obj in _MULTI_OBJECT:
        for _ in range(_MULTI_OBJECT[obj]):
            w = r.word()
            if w is None:
                break
            words.append(w)
            r.i += 1
    kind = f"{verb} {' '.join(words)}".upper()
    if verb != "create":
        return kind, None
    return kind, _declared_key(r, kind, text)


def _declared_key(r: Cursor, kind: str, text: str) -> tuple[str, ...] | None:
    if kind == "CREATE SCHEMA":
        r.accept("if", "not", "exists")
        if r.word() == "authorization":
            r.i += 1
        name = r.ident()
        return ("schema", name) if name is not None else None
    if kind == "CREATE EXTENSION":
        r.accept("if", "not", "exists")
        name = r.ident()
        return ("extension", name) if name is not None else None
    family = {
        "CREATE TABLE": "table",
        "CREATE TYPE": "type",
        "CREATE DOMAIN": "type",
        "CREATE VIEW": "view",
        "CREATE MATERIALIZED VIEW": "view",
        "CREATE SEQUENCE": "sequence",
    }.get(kind)
    if family is not None:
        r.accept("if", "not", "exists")
        qn = r.qname()
        return (family, *qn) if qn else None
    if kind in ("CREATE FUNCTION", "CREATE PROCEDURE"):
        # Arguments may be long: read the whole statement (tokens not kept: see lex).
        full = Cursor(text, lex_uncached(text).toks)
        full.i = r.i
        qn = full.qname()
        if qn is None:
            return None
        g = full.group()
        args = identity_args(full.raw(*g), kind == "CREATE PROCEDURE") if g else ""
        return ("function", *qn, args)
    if kind == "CREATE INDEX":
        r.accept("concurrently")
        r.accept("if", "not", "exists")
        name = None
        if r.word() != "on":
            name = r.ident()
        if not r.accept("on"):
            return None
        r.accept("only")
        qn = r.qname()
        if qn is None or name is None:
            return None
        return ("index", qn[0], name)
    if kind in ("CREATE TRIGGER", "CREATE POLICY"):
        name = r.ident()
        if name is None:
            return None
        if kind == "CREATE TRIGGER":
            # BEFORE|AFTER|INSTEAD OF events ON table
            full = Cursor(text, lex_uncached(text).toks)
            full.i = r.i
            full.skip_to(full.n, frozenset({"on"}))
            r = full
        if not r.accept("on"):
            return None
        qn = r.qname()
        if qn is None:
            return None
        return (kind.split()[1].lower(), *qn, name)
    return None

UNKNOWN_TABLE = ("?", "?")  # table_touched: cannot tell
# Statements that never change an existing table (views and functions that depend on one
# are found in the catalog, not here).
_TABLE_FREE = frozenset({
    "CREATE SCHEMA", "CREATE EXTENSION", "CREATE TYPE", "CREATE DOMAIN", "CREATE SEQUENCE",
    "CREATE FUNCTION", "CREATE PROCEDURE", "CREATE VIEW", "CREATE MATERIALIZED VIEW",
    "CREATE COLLATION", "ALTER TYPE", "ALTER DOMAIN", "ALTER FUNCTION", "ALTER SCHEMA",
})


def table_touched(st: Statement) -> tuple[str, str] | None:
    """The existing table a statement changes besides what it declares (ALTER TABLE t,
    CREATE INDEX ... ON t, COMMENT ON COLUMN t.c, CREATE TRIGGER ... ON t, CREATE POLICY
    ... ON t), None when it changes none, UNKNOWN_TABLE when this reader cannot tell."""
    kind = st.kind
    if kind == "CREATE TABLE" or kind in _TABLE_FREE:
        return None
    if kind not in ("ALTER TABLE", "CREATE INDEX", "CREATE UNIQUE INDEX", "COMMENT",
                    "CREATE TRIGGER", "CREATE CONSTRAINT TRIGGER", "CREATE POLICY"):
        return UNKNOWN_TABLE
    try:
        r = Cursor(st.text, head_tokens(st.text, 60))
        words: list[str | None] = []
        while r.i < r.n and len(words) < 60:
            w = r.word()
            if kind == "ALTER TABLE" and w == "table":
                r.i += 1
                r.accept("if", "exists")
                r.accept("only")
                break
            if kind == "COMMENT" and w == "on":
                r.i += 1
                what = r.word()
                r.i += 1
                if what == "table":
                    break
                if what == "column":
                    parts = r.qualified() or []
                    return split_qname(parts[:-1]) if len(parts) >= 2 else UNKNOWN_TABLE
                if what in ("constraint", "trigger", "policy", "rule"):
                    r.i += 1  # its name
                    if not r.accept("on"):
                        return UNKNOWN_TABLE
                    r.accept("domain")
                    break
                return None if what in ("type", "schema", "function", "procedure", "view",
                                        "materialized", "sequence", "extension", "domain",
                                        "database", "role") else UNKNOWN_TABLE
            if kind != "ALTER TABLE" and kind != "COMMENT" and w == "on":
                r.i += 1
                r.accept("only")
                break
            words.append(w)
            r.i += 1
        named = r.qualified()
        return split_qname(named) if named else UNKNOWN_TABLE
    except Exception:  # never fail on input
        return UNKNOWN_TABLE
