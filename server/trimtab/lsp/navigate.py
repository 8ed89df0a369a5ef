"""Navigation in SQL schema files: references, workspace symbols, folding ranges,
signature help and the hover of the symbol under the cursor.

Pure, like ``symbols`` and ``rename``: texts and statements in, offsets and text out. What
a name designates is always ``symbols.Resolver``'s answer (the resolver go to definition
and rename use), never a second reading of the SQL. Statements are split once per text
(``statements_of``): hover, references and folding on an unchanged document reuse them.
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from trimtab.lsp import rename
from trimtab.lsp.completion import view_tables
from trimtab.lsp.symbols import Key, Resolver, Symbol, document_symbols
from trimtab.model import (
    CompositeType,
    Domain,
    EnumType,
    Model,
    Table,
    View,
    qname,
    quote_ident,
    quote_literal,
)
from trimtab.sources import sqlfile
from trimtab.sources.sqlfile import Statement, Tok, lex, split_qname, split_statements
from trimtab.sqltext import skip_block_comment

__all__ = ["Ref", "Signature", "call_at", "disk_text", "folding_ranges", "hover_markdown",
           "object_at", "references", "statements_of", "target_at", "workspace_symbols"]

# --------------------------------------------------------------------------------------
# Statements, split once per text

# file -> (its text, its statements); a text equal to the last one is not split again
_split: dict[str, tuple[str, list[Statement]]] = {}
# (file, mtime, size) -> text of a schema file that is not open in the editor
_disk: dict[str, tuple[tuple[int, int], str]] = {}


def statements_of(texts: Mapping[str, str]) -> list[Statement]:
    """The statements of every text, files in the order given. The same list objects come
    back for unchanged texts, so ``symbols``' index of them is reused too."""
    out: list[Statement] = []
    for f, text in texts.items():
        cached = _split.get(f)
        if cached is None or not (cached[0] is text or cached[0] == text):
            cached = _split[f] = (text, split_statements(text, f))
        out += cached[1]
    if len(_split) > 256:  # files of closed projects
        for f in [f for f in _split if f not in texts][:128]:
            del _split[f]
    return out


def disk_text(path: str) -> str | None:
    """A file's text from disk, read again only when it changed."""
    try:
        st = os.stat(path)
        stamp = (st.st_mtime_ns, st.st_size)
        cached = _disk.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError):
        return None
    _disk[path] = (stamp, text)
    return text


# --------------------------------------------------------------------------------------
# The object a name designates, and its references


@dataclass(frozen=True, order=True)
class Ref:
    file: str
    start: int  # character offsets in the file's text
    end: int


def _name_of(key: Key) -> str:
    return key[2] if key[0] == "function" else key[-1]


def _declaration(idx: Resolver, key: Key) -> Ref | None:
    """The token of the object's declaration that writes its name."""
    found = rename.declaration(idx, key, _name_of(key))
    return Ref(*found) if found is not None else None


def target_at(statements: list[Statement], file: str, offset: int) -> Key | None:
    """The object the name at ``offset`` of ``file`` designates (a use or the declaration
    itself): an enum's label gives ("enum_value", schema, type, label). None elsewhere."""
    try:
        return _target_at(statements, file, offset)
    except Exception:
        if sqlfile.strict():
            raise
        return None


def _target_at(statements: list[Statement], file: str, offset: int) -> Key | None:
    idx = Resolver(statements)
    st = idx.statement_at(file, offset)
    if st is None:
        return None
    toks = lex(st.text).toks
    rel = offset - st.span.start_offset
    if st.kind == "CREATE TYPE" and st.object_key is not None:
        label = rename.enum_label_at(st, toks, rel)
        if label is not None:
            return ("enum_value", *st.object_key[1:3], label[1])
    j = idx.token_at(toks, rel)
    if j is None:
        return None
    key = idx.target(st, toks, j)
    if key is not None:
        return key
    name = toks[j][1]
    here = Ref(file, st.span.start_offset + toks[j][2], st.span.start_offset + toks[j][3])
    for k, span in idx.spans.items():
        if span.file == file and span.start_offset <= here.start < span.end_offset and \
                _name_of(k) == name and _declaration(idx, k) == here:
            return k
    return None


def references(statements: list[Statement], key: Key,
               include_declaration: bool = True) -> list[Ref]:
    """Every token of every statement that names ``key`` (the resolver's answer for it),
    in file order: foreign keys, index column lists, views (``t.col`` through the table's
    aliases), policies, triggers, comments, casts."""
    idx = Resolver(statements)
    name = _name_of(key)
    found: set[Ref] = set()
    decl = _declaration(idx, key) if key[0] != "enum_value" else None
    needle = name.lower()
    enum_tables: set[tuple[str, str]] = set()
    if key[0] == "enum_value":
        needle = name.replace("'", "''").lower()
        enum_tables = {(tb.schema, tb.name) for tb in idx.idx.model.tables.values()
                       for c in tb.columns if c.type_ref == (key[1], key[2])}
    for file, sts in idx.files().items():
        for st in sts:
            if needle not in st.text.lower():
                continue  # most statements: no token to look at
            base = st.span.start_offset
            toks = lex(st.text).toks
            if key[0] == "enum_value":
                for a, b in rename.enum_value_uses(st, toks, key, name, enum_tables):
                    found.add(Ref(file, base + a, base + b))
                continue
            view = key[0] == "column" and st.kind in ("CREATE VIEW",
                                                       "CREATE MATERIALIZED VIEW")
            aliases = rename.view_aliases(toks, key[2]) if view else set()
            bare = view and _sole_reader(idx.idx.model, toks, key)
            select = next((k for k, tk in enumerate(toks) if tk[:2] == ("W", "select")),
                          len(toks))
            for j, tok in enumerate(toks):
                if tok[0] not in ("W", "Q") or tok[1] != name:
                    continue
                if idx.target(st, toks, j) == key or (
                        aliases and j >= 2 and toks[j - 1][:2] == ("O", ".")
                        and toks[j - 2][0] in ("W", "Q") and toks[j - 2][1] in aliases) or (
                        bare and j > select and toks[j - 1][:2] not in (("O", "."), ("W", "as"))
                        and not (j + 1 < len(toks) and toks[j + 1][:2] in (("O", "."),
                                                                          ("O", "(")))):
                    found.add(Ref(file, base + tok[2], base + tok[3]))
    if decl is not None:
        found.add(decl)
        if not include_declaration:
            found.discard(decl)
    return sorted(found)


def _sole_reader(model: Model, toks: tuple[Tok, ...], key: Key) -> bool:
    """Whether an unqualified ``key[3]`` in this view's body can only be the column of
    ``key``'s table: the view reads that table, and no other relation it reads is known
    to have a column of that name (an unknown relation might: then it is not counted)."""
    tables = set(view_tables(list(toks)).values())
    if (key[1], key[2]) not in tables:
        return False
    for schema, name in tables - {(key[1], key[2])}:
        rel = model.relation(schema, name)
        if rel is None:
            return False
        names = [c.name for c in rel.columns] if isinstance(rel, Table) else [
            c for c, _ in rel.columns]
        if key[3] in names:
            return False
    return True


# (statements) -> per file, the objects' spans sorted by start: (starts, [(start, end, key)])
_by_start: list[tuple[tuple[Statement, ...],
                      dict[str, tuple[list[int], list[tuple[int, int, Key]]]]] | None] = [None]


def object_at(statements: list[Statement], file: str, offset: int) -> Key | None:
    """``symbols.object_at`` (the most specific object whose span holds ``offset``) without
    walking every object of the project per request: only the spans that start inside
    the statement under the cursor are looked at."""
    try:
        idx = Resolver(statements)
        st = idx.statement_at(file, offset)
        if st is None:
            return None
        key = tuple(statements)
        last = _by_start[0]
        if last is None or last[0] != key:
            files: dict[str, list[tuple[int, int, Key]]] = {}
            for k, span in idx.spans.items():
                if k[0] == "sequence" and k not in idx.idx.declared:
                    continue  # a serial column's sequence has the column's span
                files.setdefault(span.file, []).append((span.start_offset, span.end_offset, k))
            last = _by_start[0] = (key, {f: ([x[0] for x in v], v) for f, v in (
                (f, sorted(v, key=lambda x: x[0])) for f, v in files.items())})
        found = last[1].get(file)
        if found is None:
            return None
        starts, items = found
        best: Key | None = None
        best_rank = (0, 0)
        for i in range(bisect.bisect_left(starts, st.span.start_offset),
                       bisect.bisect_right(starts, offset)):
            a, b, obj = items[i]
            if a <= offset < b:
                rank = (b - a, -len(obj))
                if best is None or rank < best_rank:
                    best, best_rank = obj, rank
        return best
    except Exception:
        if sqlfile.strict():
            raise
        return None


# --------------------------------------------------------------------------------------
# Workspace symbols

_outline: list[tuple[tuple[Statement, ...], list[tuple[Symbol, str | None]]] | None] = [None]


def _flat(statements: list[Statement]) -> list[tuple[Symbol, str | None]]:
    key = tuple(statements)
    last = _outline[0]
    if last is not None and last[0] == key:
        return last[1]
    out: list[tuple[Symbol, str | None]] = []
    for s in document_symbols(statements):
        out.append((s, None))
        out += [(c, s.name) for c in s.children]
    _outline[0] = (key, out)
    return out


def matches(query: str, name: str) -> bool:
    """Whether the query's characters appear in the name in order (as editors filter)."""
    k = 0
    for ch in name.lower():
        if k < len(query) and ch == query[k]:
            k += 1
    return k == len(query)


def workspace_symbols(statements: list[Statement], query: str, limit: int = 1000
                      ) -> list[tuple[Symbol, str | None]]:
    """(symbol, the table it is under) of every schema file whose name matches ``query``
    (case-insensitive, its characters in order); exact and prefix matches first."""
    q = query.strip().lower()
    hits = [(s, parent) for s, parent in _flat(statements) if matches(q, s.name)]
    if q:
        hits.sort(key=lambda h: (h[0].name.lower() != q,
                                 not h[0].name.lower().startswith(q)))
    return hits[:limit]


# --------------------------------------------------------------------------------------
# Folding ranges

_COMMENT = re.compile(r"--[^\r\n]*|/\*")


def folding_ranges(text: str, statements: list[Statement]) -> list[tuple[int, int, str | None]]:
    """(first line, last line, "comment" or None), 0-based: every statement on more than
    one line, and every comment block (a /* */ on several lines, or consecutive -- lines),
    found only where PostgreSQL sees comments (between tokens, never in a string)."""
    starts = [0, *(m.end() for m in re.finditer(r"\r\n?|\n", text))]

    def line(offset: int) -> int:
        return bisect.bisect_right(starts, offset) - 1

    out: list[tuple[int, int, str | None]] = []
    comments: list[tuple[int, int]] = []  # (first line, last line) of each comment

    def scan(a: int, b: int) -> None:
        pos = a
        while pos < b:
            m = _COMMENT.search(text, pos, b)
            if m is None:
                return
            end = m.end() if m.group() != "/*" else min(skip_block_comment(text, m.end()), b)
            comments.append((line(m.start()), line(max(end - 1, m.start()))))
            pos = max(end, m.start() + 1)

    prev = 0
    for st in statements:
        a, b = st.span.start_offset, st.span.end_offset
        scan(prev, a)
        prev = b
        if st.span.end_line > st.span.line:
            out.append((st.span.line - 1, st.span.end_line - 1, None))
        if "--" in st.text or "/*" in st.text:
            toks: tuple[Tok, ...] = lex(st.text).toks
            for x, y in zip(toks, toks[1:], strict=False):
                if y[2] > x[3]:
                    scan(a + x[3], a + y[2])
    scan(prev, len(text))
    # consecutive -- lines make one block; a /* */ on several lines is one by itself
    block: tuple[int, int] | None = None
    for first, last in sorted(comments):
        if block is not None and first <= block[1] + 1:
            block = (block[0], max(block[1], last))
            continue
        if block is not None and block[1] > block[0]:
            out.append((block[0], block[1], "comment"))
        block = (first, last)
    if block is not None and block[1] > block[0]:
        out.append((block[0], block[1], "comment"))
    return sorted(out)


# --------------------------------------------------------------------------------------
# Signature help


@dataclass(frozen=True)
class Signature:
    label: str  # "name(a integer, b text) → integer"
    parameters: tuple[str, ...]  # each as it appears in the label
    documentation: str = ""
    offsets: tuple[tuple[int, int], ...] = ()  # each parameter's place in the label


def call_at(before: str) -> tuple[tuple[str, str], bool, int] | None:
    """The function call the cursor is in, from the statement's text up to the cursor:
    ((schema, name), whether the name was qualified, the 0-based argument the cursor is
    on). None outside parentheses that follow a name."""
    toks = lex(before).toks
    opens: list[int] = []
    for k, tk in enumerate(toks):
        if tk[:2] == ("O", "("):
            opens.append(k)
        elif tk[:2] == ("O", ")") and opens:
            opens.pop()
    if not opens:
        return None
    o = opens[-1]
    if o < 1 or toks[o - 1][0] not in ("W", "Q"):
        return None
    a = o - 1
    while a >= 2 and toks[a - 1][:2] == ("O", ".") and toks[a - 2][0] in ("W", "Q"):
        a -= 2
    if a >= 1 and toks[a - 1][0] == "W" and toks[a - 1][1] in (
            "table", "exists", "references", "on", "only", "index", "view", "type", "key",
            "unique", "into", "function", "procedure", "inherits", "of", "like"):
        return None  # a declaration or a column list, not a call
    parts = [toks[x][1] for x in range(a, o, 2)]
    depth = 0
    arg = 0
    for tk in toks[o + 1:]:
        if tk[:2] in (("O", "("), ("O", "[")):
            depth += 1
        elif tk[:2] in (("O", ")"), ("O", "]")):
            depth -= 1
        elif tk[:2] == ("O", ",") and depth == 0:
            arg += 1
    return split_qname(parts), len(parts) > 1, arg


def split_arguments(args: str) -> tuple[str, ...]:
    """``a integer, b numeric(10, 2) DEFAULT 0`` -> each argument (commas in parentheses
    and strings kept)."""
    out: list[str] = []
    depth = 0
    start = 0
    for tk in lex(args).toks:
        if tk[:2] in (("O", "("), ("O", "[")):
            depth += 1
        elif tk[:2] in (("O", ")"), ("O", "]")):
            depth -= 1
        elif tk[:2] == ("O", ",") and depth == 0:
            out.append(args[start:tk[2]].strip())
            start = tk[3]
    last = args[start:].strip()
    if last or out:
        out.append(last)
    return tuple(out)


def signature(name: str, args: str, result: str | None, doc: str = "") -> Signature:
    params = split_arguments(args)
    offsets = []
    at = len(name) + 1
    for p in params:  # by place, not by text: two arguments may read the same ("int")
        offsets.append((at, at + len(p)))
        at += len(p) + 2
    label = f"{name}({', '.join(params)})" + (f" → {result}" if result else "")
    return Signature(label, params, doc, tuple(offsets))


def schema_signatures(statements: list[Statement], schema: str, name: str,
                      qualified: bool) -> list[Signature]:
    """The overloads the schema files declare (unqualified: in any schema, as
    ``search_path`` is not evaluated)."""
    model = Resolver(statements).idx.model
    out = []
    for fn in model.functions.values():
        if fn.name == name and (fn.schema == schema or not qualified):
            args = fn.arg_names_types or fn.identity_args
            what = "procedure" if fn.kind == "p" else "function"
            out.append(signature(_display(fn.schema, fn.name), args, fn.result,
                                 f"{what} declared in the schema files"))
    return out


# One catalog query, with the name as a parameter: never the user's SQL.
CATALOG_SIGNATURES = """
SELECT n.nspname, p.proname, pg_get_function_arguments(p.oid),
       pg_get_function_result(p.oid), p.prokind, obj_description(p.oid, 'pg_proc')
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.proname = %(name)s AND p.prokind IN ('f', 'p', 'a', 'w')
  AND CASE WHEN %(schema)s::text IS NULL THEN pg_function_is_visible(p.oid)
           ELSE n.nspname = %(schema)s END
ORDER BY p.pronargs, p.oid
LIMIT 30"""


def catalog_signatures(url: str, schema: str | None, name: str) -> list[Signature]:
    """The overloads the live database knows (built-ins, extensions' functions), read
    from pg_proc. Blocking: call it from a worker thread."""
    from trimtab.sources import shadow

    with shadow.connect(url) as conn:
        rows = conn.execute(CATALOG_SIGNATURES, {"name": name, "schema": schema}).fetchall()
    return [signature(_display(s, n), args or "", result, doc or "")
            for s, n, args, result, _, doc in rows]


# --------------------------------------------------------------------------------------
# Hover: what the name under the cursor designates


def _display(schema: str, name: str) -> str:
    """A function's name as a call writes it: a keyword such as ``left`` needs no quotes
    there, only a name PostgreSQL would fold or not read as one word."""
    def one(n: str) -> str:
        return n if re.fullmatch(r"[a-z_][a-z0-9_$]*", n) else quote_ident(n)

    return one(name) if schema in ("public", "pg_catalog") else f"{one(schema)}.{one(name)}"


def _rows(size: tuple[int, int] | None) -> str | None:
    if size is None:
        return None
    rows, nbytes = size
    rows_text = "not analyzed yet" if rows < 0 else f"~{rows:,} row{'s' if rows != 1 else ''}"
    return f"live: {rows_text}, {byte_size(nbytes)}"


def byte_size(n: int) -> str:
    """A size as people read it: 980 B, 12.4 kB, 3.1 MB."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _column_flags(table: Table, column: str) -> list[str]:
    """The constraints that concern one column, as PostgreSQL writes them."""
    col = table.column(column)
    flags: list[str] = []
    if col is None:
        return flags
    if col.not_null:
        flags.append("NOT NULL")
    if col.default is not None:
        flags.append(f"DEFAULT {col.default}")
    if col.identity is not None:
        flags.append("GENERATED AS IDENTITY")
    if col.generated is not None:
        flags.append(f"GENERATED ALWAYS AS ({col.generated})")
    for con in table.constraints:
        if column in con.columns or (con.kind == "c" and re.search(
                rf"(?<![\w$]){re.escape(column)}(?![\w$])", con.definition)):
            flags.append(f"{con.definition} (`{con.name}`)" if con.name else con.definition)
    return flags


def _relation(models: tuple[Model | None, ...], schema: str, name: str
              ) -> tuple[Table | View | None, str]:
    for model, where in zip(models, ("schema file", "database"), strict=False):
        if model is not None:
            rel = model.relation(schema, name)
            if rel is not None:
                return rel, where
    return None, ""


def hover_markdown(statements: list[Statement], key: Key, live: Model | None,
                   sizes: Mapping[tuple[str, str], tuple[int, int]],
                   header: bool = True) -> str:
    """What the object ``key`` is: a table's columns and live size, an enum's values, a
    column's type and constraints, a function's signature. From the schema files' model,
    else the live database's. ``header`` False: the caller already names the object."""
    model = Resolver(statements).idx.model
    models = (model, live)
    family = key[0]
    parts: list[str] = []
    title = ""
    if family in ("table", "view"):
        rel, where = _relation(models, key[1], key[2])
        title = f"**{'view' if isinstance(rel, View) else 'table'} {qname(key[1], key[2])}**"
        if isinstance(rel, Table):
            lines = []
            for c in rel.columns:
                flags = _column_flags(rel, c.name)
                lines.append(f"| {quote_ident(c.name)} | {c.type} | "
                             f"{'; '.join(f.replace('|', '/') for f in flags)} |")
            if lines:
                parts.append("| column | type | constraints |\n|---|---|---|\n"
                             + "\n".join(lines))
        elif isinstance(rel, View):
            parts.append("columns: " + ", ".join(
                f"{quote_ident(c)}" + (f" {ty}" if ty else "") for c, ty in rel.columns))
        if where == "database":
            parts.append("_declared in the database, not in the schema files_")
        rows = _rows(sizes.get((key[1], key[2]))) if header else None  # else the caller's
        if rows:
            parts.append(rows)
        elif header and live is not None and family == "table":
            parts.append("live: not in the database yet")
    elif family == "column":
        rel, _ = _relation(models, key[1], key[2])
        title = f"**column {qname(key[1], key[2])}.{quote_ident(key[3])}**"
        if isinstance(rel, Table) and (col := rel.column(key[3])) is not None:
            parts.append(f"`{col.type}`")
            flags = _column_flags(rel, key[3])
            if flags:
                parts.append("\n".join(f"- `{f}`" for f in flags))
            ty = _type(models, col.type_ref)
            if isinstance(ty, EnumType):
                parts.append(_enum_values(ty))
    elif family == "type":
        ty = _type(models, (key[1], key[2]))
        if isinstance(ty, EnumType):
            title = f"**enum {qname(key[1], key[2])}**"
            parts.append(_enum_values(ty))
        elif isinstance(ty, Domain):
            title = f"**domain {qname(key[1], key[2])}**"
            parts.append(f"`{ty.base_type}`" + "".join(
                f"\n- `{c.definition}`" for c in ty.checks))
        elif isinstance(ty, CompositeType):
            title = f"**type {qname(key[1], key[2])}**"
            parts.append("(" + ", ".join(f"{quote_ident(n)} {t}" for n, t in ty.attributes)
                         + ")")
        else:
            title = f"**type {qname(key[1], key[2])}**"
    elif family == "enum_value":
        title = f"**value {quote_literal(key[3])} of enum {qname(key[1], key[2])}**"
        ty = _type(models, (key[1], key[2]))
        if isinstance(ty, EnumType):
            parts.append(_enum_values(ty))
    elif family == "function":
        fn = model.functions.get(key)
        title = f"**{'procedure' if fn and fn.kind == 'p' else 'function'} " \
                f"{qname(key[1], key[2])}**"
        if fn is not None:
            parts.append(f"```sql\n{signature(_display(fn.schema, fn.name), fn.arg_names_types or fn.identity_args, fn.result).label}\n```")  # noqa: E501
    elif family in ("index", "constraint"):
        title = f"**{family} {quote_ident(key[-1])}**"
        rel, _ = _relation(models, key[1], key[2]) if family == "constraint" else (None, "")
        if family == "constraint" and isinstance(rel, Table):
            con = next((c for c in rel.constraints if c.name == key[3]), None)
            if con is not None:
                parts.append(f"on {qname(key[1], key[2])}: `{con.definition}`")
        elif family == "index":
            for tb in (*model.tables.values(), *model.views.values()):
                assert isinstance(tb, (Table, View))
                ix = next((i for i in tb.indexes if i.name == key[2] and
                           tb.schema == key[1]), None)
                if ix is not None:
                    parts.append(f"```sql\n{ix.definition}\n```")
                    break
    else:
        title = f"**{family} {'.'.join(key[1:])}**"
    if header and title:
        parts.insert(0, title)
    return "\n\n".join(parts)


def _type(models: tuple[Model | None, ...], ref: tuple[str, str] | None) -> object:
    if ref is None:
        return None
    for model in models:
        if model is not None and ("type", *ref) in model.types:
            return model.types[("type", *ref)]
    return None


def _enum_values(ty: EnumType) -> str:
    return "values: " + ", ".join(f"`{quote_literal(v)}`" for v in ty.values)
