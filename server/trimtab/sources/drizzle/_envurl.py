"""``dbCredentials.url`` of a drizzle.config.ts as an expression over ``process.env``.

The config is never run, so the URL is kept as the small expression it is written in
(``process.env.DIRECT_DATABASE_URL ?? process.env.DATABASE_URL``, a template string of
``process.env`` parts...) and evaluated later against the environment and the .env files
(config.py), with Node's rules. ``env.NAME`` of an imported env module (t3-env, envalid)
is ``process.env.NAME``, as those modules hand it out. Anything else is not guessed: it is
an issue on its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tree_sitter import Node

from trimtab.sources.drizzle._eval import template_parts
from trimtab.sources.drizzle._source import Module, cook, string_value
from trimtab.sources.sqlfile import Issue


@dataclass(frozen=True)
class EnvVar:
    """``process.env.NAME``: a string when set (even ""), undefined when not."""

    name: str


@dataclass(frozen=True)
class Literal:
    """A string written in the file, or None for ``null`` / ``undefined``."""

    value: str | None


@dataclass(frozen=True)
class Either:
    """``left ?? right`` (only undefined/null fall through) or ``left || right`` (any falsy
    value, "" included)."""

    op: str
    left: UrlExpr
    right: UrlExpr


@dataclass(frozen=True)
class Template:
    """A template string: text and expressions, in order."""

    parts: tuple[str | UrlExpr, ...]


@dataclass(frozen=True)
class Fields:
    """``dbCredentials: { host, port, user, password, database, ssl }``: a connection given
    by its parts (libpq keywords, each an expression)."""

    parts: tuple[tuple[str, UrlExpr], ...]


UrlExpr = EnvVar | Literal | Either | Template | Fields

# Wrappers that change nothing at run time: `x!`, `x as string`, `(x)`, `x satisfies T`.
_WRAPPERS = ("parenthesized_expression", "as_expression", "satisfies_expression",
             "non_null_expression", "type_assertion")
_TYPES = ("type_annotation", "predefined_type", "type_identifier", "generic_type",
          "union_type", "literal_type", "type_arguments")


def url_expression(mod: Module, node: Node) -> UrlExpr | Issue:
    """The expression ``node`` as an UrlExpr, or an error issue on the part that cannot be
    read statically."""
    return _read(mod, node, frozenset())


def _const(mod: Module, name: str) -> Node | None:
    """The initialiser of a top-level ``const name = ...`` of the module."""
    for stmt in mod.root.named_children:
        decl = stmt.named_children[0] if stmt.type == "export_statement" and \
            stmt.named_children else stmt
        if decl.type != "lexical_declaration" or not mod.src(decl).startswith("const"):
            continue
        for d in decl.named_children:
            n = d.child_by_field_name("name")
            if d.type == "variable_declarator" and n is not None and mod.src(n) == name:
                return d.child_by_field_name("value")
    return None


def _env_name(mod: Module, node: Node) -> str | None:
    """NAME of ``process.env.NAME`` / ``process.env["NAME"]``."""
    obj = node.child_by_field_name("object")
    if obj is None or mod.src(obj).replace(" ", "") != "process.env":
        return None
    if node.type == "member_expression":
        prop = node.child_by_field_name("property")
        return mod.src(prop) if prop is not None else None
    index = node.child_by_field_name("index")
    return string_value(mod, index) if index is not None and index.type == "string" else None


_ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]*")


def _imported(mod: Module, name: str) -> bool:
    """Whether ``name`` is bound by an import of the module (``import { env } from ...``,
    ``import env from ...``, ``import * as env from ...``)."""
    for stmt in mod.root.named_children:
        if stmt.type != "import_statement":
            continue
        for ident in _identifiers(stmt):
            if mod.src(ident) == name:
                return True
    return False


def _identifiers(node: Node) -> list[Node]:
    found: list[Node] = []
    for c in node.named_children:
        if c.type == "identifier":
            found.append(c)
        elif c.type != "string":
            found += _identifiers(c)
    return found


def _validated_env_name(mod: Module, node: Node) -> str | None:
    """NAME of ``env.NAME`` where ``env`` is imported (t3-env's ``createEnv``, envalid,
    a zod-checked env module): those modules hand out ``process.env.NAME`` under its own
    name, checked; that is the convention their users rely on."""
    if node.type != "member_expression":
        return None
    obj, prop = node.child_by_field_name("object"), node.child_by_field_name("property")
    if obj is None or prop is None or obj.type != "identifier":
        return None
    if not _ENV_NAME.fullmatch(mod.src(prop)) or not _imported(mod, mod.src(obj)):
        return None
    return mod.src(prop)


def _read(mod: Module, node: Node, seen: frozenset[str]) -> UrlExpr | Issue:
    t = node.type
    if t in _WRAPPERS:
        inner = next((c for c in node.named_children if c.type not in _TYPES
                      and c.type != "comment"), None)
        if inner is not None:
            return _read(mod, inner, seen)
    elif t == "string":
        return Literal(string_value(mod, node))
    elif t == "number":
        return Literal(mod.src(node))
    elif t == "call_expression":
        # Number(x), parseInt(x, 10), String(x): the text of x is what libpq reads anyway
        fn, args = node.child_by_field_name("function"), node.child_by_field_name("arguments")
        first = [a for a in args.named_children if a.type != "comment"] if args else []
        if fn is not None and mod.src(fn) in ("Number", "parseInt", "String") and first \
                and (len(first) == 1 or mod.src(fn) == "parseInt"):
            return _read(mod, first[0], seen)
    elif t in ("null", "undefined"):
        return Literal(None)
    elif t in ("member_expression", "subscript_expression"):
        name = _env_name(mod, node) or _validated_env_name(mod, node)
        if name is not None:
            return EnvVar(name)
    elif t in ("identifier", "shorthand_property_identifier") and mod.src(node) not in seen:
        value = _const(mod, mod.src(node))
        if value is not None:
            return _read(mod, value, seen | {mod.src(node)})
    elif t == "binary_expression":
        op_node = node.child_by_field_name("operator")
        op = mod.src(op_node) if op_node is not None else ""
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        if op in ("??", "||") and left is not None and right is not None:
            a, b = _read(mod, left, seen), _read(mod, right, seen)
            for x in (a, b):
                if isinstance(x, Issue):
                    return x
            return Either(op, a, b)  # type: ignore[arg-type]
    elif t == "template_string":
        parts: list[str | UrlExpr] = []
        for raw, sub in template_parts(mod, node):
            parts.append(cook(raw))
            if sub is not None:
                x = _read(mod, sub, seen)
                if isinstance(x, Issue):
                    return x
                parts.append(x)
        return Template(tuple(parts))
    return Issue(f"trimtab cannot read `{mod.src(node)}` statically (it reads "
                 "process.env.NAME, env.NAME of an imported env module, strings, `??`, `||` and "
                 "template strings of them)",
                 mod.node_span(node), "error")
