"""Rename (F2) in SQL schema files: the declaration, every reference across the project's
schema files, and the rename hint, so that push and generate rename instead of dropping.

Pure: texts in, new texts out. References are found with the same resolver as go to
definition (``symbols``): a token names the object when the resolver says so, never
because it merely has the same spelling. What cannot be renamed safely is refused with
a ``RenameRefused`` that says why (the server turns it into a ResponseError).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from trimtab.lsp.symbols import Key, Resolver
from trimtab.model import EnumType, Model, qname, quote_ident, quote_literal
from trimtab.sources.hints import hint_edit
from trimtab.sources.sqlfile import (
    Statement,
    Tok,
    fold,
    lex,
    split_statements,
    string_value,
)

RENAMABLE = ("table", "column", "type", "enum_value", "index", "constraint")
_VIEW_KINDS = ("CREATE VIEW", "CREATE MATERIALIZED VIEW")
_BODY_KINDS = ("CREATE FUNCTION", "CREATE PROCEDURE", "DO")


class RenameRefused(Exception):
    """A rename that would not be safe, with the reason shown to the user."""


@dataclass(frozen=True)
class Target:
    key: Key  # the object, as the structural model keys it
    name: str  # its current name (an enum value's label)
    file: str
    start: int  # offsets of the token under the cursor in its file
    end: int


def _describe(key: Key) -> str:
    if key[0] == "enum_value":
        return f"enum value {quote_literal(key[3])} of {qname(key[1], key[2])}"
    if key[0] in ("column", "constraint"):
        return f"{key[0]} {quote_ident(key[3])} of {qname(key[1], key[2])}"
    return f"{'type' if key[0] == 'type' else key[0]} {qname(key[1], key[2])}"


def _enum_label_at(st: Statement, toks: tuple[Tok, ...], rel: int) -> tuple[int, str] | None:
    """The label of CREATE TYPE ... AS ENUM (...) under ``rel``: (token index, value)."""
    for j, tok in enumerate(toks):
        if tok[2] <= rel <= tok[3] and tok[0] in ("S", "E"):
            value = string_value(tok)
            if value is not None and any(tk[:2] == ("W", "enum") for tk in toks[:j]):
                return j, value
    return None


def target_at(statements: list[Statement], file: str, offset: int,
              live: Model | None) -> Target:
    """What F2 at ``offset`` of ``file`` renames; RenameRefused when nothing renamable is
    there, or the name is the database's and not the file's."""
    idx = Resolver(statements)
    st = idx.statement_at(file, offset)
    if st is None:
        raise RenameRefused("no SQL object under the cursor")
    rel = offset - st.span.start_offset
    toks = lex(st.text).toks
    if st.kind == "CREATE TYPE" and st.object_key is not None:
        found = _enum_label_at(st, toks, rel)
        if found is not None:
            k, value = found
            return Target(("enum_value", *st.object_key[1:3], value), value, file,
                          st.span.start_offset + toks[k][2], st.span.start_offset + toks[k][3])
    at = idx.token_at(toks, rel)
    if at is None:
        raise RenameRefused("no SQL object under the cursor")
    j = at
    name = toks[j][1]
    abs_a, abs_b = st.span.start_offset + toks[j][2], st.span.start_offset + toks[j][3]
    key = idx.target(st, toks, j)
    if key is None:  # maybe the declaration itself
        key = next((k for k, span in idx.spans.items() if k[-1] == name and k[0] in RENAMABLE
                    and declaration(idx, k) == (file, abs_a, abs_b)), None)
    if key is None:
        if live is not None and _live_has_name(live, name):
            raise RenameRefused(
                f"{quote_ident(name)} is in the database but not declared in the schema "
                "files: declare it there before renaming it")
        raise RenameRefused(f"{quote_ident(name)} is not an object the schema files declare")
    if key[0] not in RENAMABLE:
        raise RenameRefused(f"renaming a {key[0]} is not supported (only tables, columns, "
                            "enum types and values, indexes and named constraints)")
    return Target(key, name, file, abs_a, abs_b)


def _live_has_name(live: Model, name: str) -> bool:
    if any(k[-1] == name for k in (*live.tables, *live.views, *live.types, *live.sequences)):
        return True
    return any(name in (*(c.name for c in tb.columns), *(ix.name for ix in tb.indexes))
               for tb in live.tables.values())


def declaration(idx: Resolver, key: Key, name: str | None = None,
                ) -> tuple[str, int, int] | None:
    """(file, start, end) of the name token of the object's declaration (``name``: the
    word to find, by default the key's last part)."""
    sel = idx.name_span(key)
    if sel is None:
        return None
    st = idx.statement_at(sel.file, sel.start_offset)
    if st is None:
        return None
    base = st.span.start_offset
    name = key[-1] if name is None else name
    for tok in lex(st.text).toks:
        a, b = base + tok[2], base + tok[3]
        if a >= sel.start_offset and b <= sel.end_offset and tok[0] in ("W", "Q") and \
                tok[1] == name and not (key[0] == "constraint" and tok[1] == "constraint"):
            return sel.file, a, b
    return None


def _word_in(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w$]){re.escape(name)}(?![\w$])", text, re.I) is not None


def _view_aliases(toks: tuple[Tok, ...], table: str) -> set[str]:
    """The names by which a view's body reads ``table``: itself and its aliases."""
    out = {table}
    for k, tok in enumerate(toks):
        if tok[0] in ("W", "Q") and tok[1] == table and k > 0 and toks[k - 1][1] in (
                "from", "join", ".", ","):
            n = k + 1
            if n < len(toks) and toks[n][:2] == ("W", "as"):
                n += 1
            if n < len(toks) and toks[n][0] in ("W", "Q") and toks[n][1] not in (
                    "where", "join", "on", "left", "right", "inner", "full", "cross", "group",
                    "order", "limit", "union", "natural", "using", "having", "window"):
                out.add(toks[n][1])
    return out


def _output_name_kept(toks: tuple[Tok, ...], j: int) -> bool:
    """Whether token j ends an item of a view's outermost select list with no alias: its
    column keeps the old output name only if the new text says ``AS old``."""
    depth = 0
    select_depth = None
    for k in range(j):
        v = toks[k]
        if v[:2] == ("O", "("):
            depth += 1
        elif v[:2] == ("O", ")"):
            depth -= 1
        elif v[:2] == ("W", "select") and select_depth is None:
            select_depth = depth
    if select_depth is None or depth != select_depth:
        return False
    nxt = toks[j + 1] if j + 1 < len(toks) else None
    return nxt is None or nxt[:2] in (("O", ","), ("W", "from"))


Edit = tuple[int, int, str]  # (start, end, new text) in a file's text


def references(statements: list[Statement], target: Target, new_name: str,
               model: Model) -> dict[str, list[Edit]]:
    """Per file, the edits that rename the target; RenameRefused when a use cannot be
    renamed safely."""
    idx = Resolver(statements)
    key, old = target.key, target.name
    new_sql = quote_literal(new_name) if key[0] == "enum_value" else quote_ident(new_name)
    edits: dict[str, dict[int, Edit]] = {}

    def add(file: str, a: int, b: int, text: str = new_sql) -> None:
        edits.setdefault(file, {})[a] = (a, b, text)

    decl = declaration(idx, key) if key[0] != "enum_value" else None
    if decl is not None:
        add(*decl)
    enum_cols: set[tuple[str, str]] = set()
    if key[0] == "enum_value":
        enum_cols = {(tb.schema, tb.name) for tb in model.tables.values()
                     for c in tb.columns if c.type_ref == (key[1], key[2])}
    for file, sts in idx.files().items():
        for st in sts:
            base = st.span.start_offset
            toks = lex(st.text).toks
            if st.kind in _BODY_KINDS:
                for tok in toks:
                    body = string_value(tok) if tok[0] in ("D", "S", "E") else None
                    if body is not None and _word_in(body, old):
                        raise RenameRefused(
                            f"{_describe(key)}: the name {old!r} is used inside the body of "
                            f"{st.kind.lower()} at {file}:{st.span.line}; a rename cannot "
                            "see into it: change the body by hand first")
            if key[0] == "enum_value":
                for a, b in _enum_value_uses(st, toks, key, old, enum_cols):
                    add(file, base + a, base + b)
                continue
            aliases = _view_aliases(toks, key[2]) if key[0] == "column" and \
                st.kind in _VIEW_KINDS else set()
            for j, tok in enumerate(toks):
                if tok[0] not in ("W", "Q") or tok[1] != old:
                    continue
                a, b = base + tok[2], base + tok[3]
                found = idx.target(st, toks, j)
                if found == key:
                    add(file, a, b)
                elif aliases and j >= 2 and toks[j - 1][:2] == ("O", ".") and \
                        toks[j - 2][0] in ("W", "Q") and toks[j - 2][1] in aliases:
                    keep = _output_name_kept(toks, j)
                    add(file, a, b, f"{new_sql} AS {quote_ident(old)}" if keep else new_sql)
                elif aliases and key[3] == old and not (j and toks[j - 1][1] in (".", "as")) \
                        and not (j + 1 < len(toks) and toks[j + 1][:2] == ("O", "(")):
                    raise RenameRefused(
                        f"{_describe(key)}: view at {file}:{st.span.line} uses "
                        f"{quote_ident(old)} unqualified; write it as "
                        f"{quote_ident(key[2])}.{quote_ident(old)} first")
    return {f: sorted(e.values()) for f, e in edits.items()}


def _enum_value_uses(st: Statement, toks: tuple[Tok, ...], key: Key, old: str,
                     tables: set[tuple[str, str]]) -> list[tuple[int, int]]:
    """The enum's own label, 'old'::type casts, and string literals equal to the label in
    statements about a table with a column of this enum type (defaults, checks, index
    predicates, policies)."""
    own = st.kind == "CREATE TYPE" and st.object_key == ("type", key[1], key[2])
    about = st.object_key is not None and st.object_key[0] in ("table", "policy", "trigger") \
        and (st.object_key[1], st.object_key[2]) in tables
    if not about and st.kind in ("CREATE INDEX", "ALTER TABLE"):
        about = any(tk[0] in ("W", "Q") and any(tk[1] == t for _, t in tables) for tk in toks)
    out = []
    for j, tok in enumerate(toks):
        if tok[0] not in ("S", "E") or string_value(tok) != old:
            continue
        cast = j + 2 < len(toks) and toks[j + 1][:2] == ("O", "::") and toks[j + 2][1] == key[2]
        if own or about or cast:
            out.append((tok[2], tok[3]))
    return out


def new_key(key: Key, new_name: str) -> Key:
    return (*key[:-1], new_name)


def in_live(live: Model, key: Key) -> bool:
    """Whether the object exists in the live database (then it needs a rename hint)."""
    family, s = key[0], key[1]
    if family == "table":
        return ("table", s, key[2]) in live.tables
    if family == "type":
        return ("type", s, key[2]) in live.types
    if family == "enum_value":
        ty = live.types.get(("type", s, key[2]))
        return isinstance(ty, EnumType) and key[3] in ty.values
    if family == "index":
        return any(ix.name == key[2] for tb in live.tables.values() if tb.schema == s
                   for ix in tb.indexes)
    tb = live.tables.get(("table", s, key[2]))
    if tb is None:
        return False
    if family == "column":
        return tb.column(key[3]) is not None
    return any(c.name == key[3] for c in tb.constraints)


def read_new_name(raw: str, family: str) -> str:
    """The new name as PostgreSQL reads it: "quoted" kept, bare folded; an enum value is
    taken as typed (with or without its quotes)."""
    raw = raw.strip()
    if family == "enum_value":
        if len(raw) >= 2 and raw[0] == raw[-1] == "'":
            raw = raw[1:-1].replace("''", "'")
        if not raw:
            raise RenameRefused("an enum value cannot be empty")
        return raw
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        name = raw[1:-1].replace('""', '"')
    else:
        if not re.fullmatch(r"[^\W\d][\w$]*", raw):
            raise RenameRefused(f"{raw!r} is not an identifier: quote it (\"{raw}\") to keep "
                                "it as written")
        name = fold(raw)
    if not name:
        raise RenameRefused("a name cannot be empty")
    return name


def rename(texts: Mapping[str, str], file: str, offset: int, raw_new: str,
           live: Model | None) -> tuple[Target, dict[str, str]]:
    """The new text of every schema file the rename changes. ``live`` None: the database
    is not known, and the hint is written (it is harmless; dropping data is not)."""
    from trimtab.sources.sqlfile import structural_model

    statements = [st for f, text in texts.items() for st in split_statements(text, f)]
    target = target_at(statements, file, offset, live)
    new = read_new_name(raw_new, target.key[0])
    if new == target.name:
        raise RenameRefused("the new name is the current one")
    model, _ = structural_model(statements)
    renamed_key = new_key(target.key, new)
    idx = Resolver(statements)
    if renamed_key in idx.spans or (target.key[0] == "table" and (
            ("view", *renamed_key[1:]) in idx.spans)):
        raise RenameRefused(f"{_describe(renamed_key)} already exists")
    edits = references(statements, target, new, model)
    out: dict[str, str] = {}
    for f, es in edits.items():
        text = texts[f]
        parts, pos = [], 0
        for a, b, s in es:
            parts += [text[pos:a], s]
            pos = b
        out[f] = "".join(parts) + text[pos:]
    if live is None or in_live(live, target.key):
        decl = declaration(idx, target.key) if target.key[0] != "enum_value" else (
            target.file, target.start, target.end)
        hint_file = decl[0] if decl else target.file
        text = out.get(hint_file, texts[hint_file])
        try:
            out[hint_file] = hint_edit(text, hint_file, split_statements(text, hint_file),
                                       renamed_key, target.name)
        except (KeyError, ValueError) as e:
            raise RenameRefused(f"{_describe(target.key)} takes no rename hint here ({e}): "
                                "push would drop and re-create it") from None
    return target, out


# Shared with navigate: references read a statement the way rename does.
enum_label_at = _enum_label_at
enum_value_uses = _enum_value_uses
view_aliases = _view_aliases
