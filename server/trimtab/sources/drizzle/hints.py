"""Hints in Drizzle schema files, the TypeScript form of the SQL comments (sources/hints.py):
``// trimtab: renamed from old_name`` on the line above a table or column (or at the end of
its first line), and ``// trimtab: using <expr>`` beside a column's property, the conversion
of its values when its type changes to one PostgreSQL has no cast to."""

from __future__ import annotations

import re
from collections.abc import Mapping

from trimtab.sources.hints import USING_NOT_FOLLOWED, Hint, UsingHint, expression_problem
from trimtab.sources.sqlfile import Issue, Span

_HINT = re.compile(r"//[ \t]*trimtab[ \t]*:(?P<body>[^\n]*)", re.I)
_BODY = re.compile(r"\s*renamed\s+from\s+(?P<old>\"(?:[^\"]|\"\")+\"|'[^']+'|[\w$.\"]+)\s*$",
                   re.I)
_USING = re.compile(r"\s*using(?![\w$])", re.I)
_KINDS = ("table", "column", "constraint", "index", "type")


def _targets_by_line(spans: Mapping[tuple[str, ...], Span], file: str
                     ) -> dict[int, list[tuple[int, tuple[str, ...]]]]:
    out: dict[int, list[tuple[int, tuple[str, ...]]]] = {}
    for key, span in spans.items():
        if span.file == file and key[0] in _KINDS:
            out.setdefault(span.line, []).append((span.column, key))
    for items in out.values():
        items.sort(key=lambda x: (x[0], _KINDS.index(x[1][0])))
    return out


def _unquote(raw: str) -> tuple[str | None, str]:
    """(schema, name) of a written old name: quotes keep the case, bare names are as
    drizzle writes them (already the database's names)."""
    parts = re.findall(r'"((?:[^"]|"")+)"|\'([^\']+)\'|([^.]+)', raw)
    names = [(a.replace('""', '"') if a else b or c) for a, b, c in parts]
    if len(names) >= 2:
        return names[-2], names[-1]
    return None, names[0] if names else raw


def find_ts_hints(texts: Mapping[str, str], spans: Mapping[tuple[str, ...], Span]
                  ) -> tuple[list[Hint], list[Issue]]:
    hints: list[Hint] = []
    issues: list[Issue] = []
    seen: set[tuple[str, ...]] = set()
    for file, text in texts.items():
        if "trimtab" not in text:
            continue
        lines = text.split("\n")
        starts = _targets_by_line(spans, file)
        offset = 0
        for i, line in enumerate(lines, start=1):
            m = _HINT.search(line)
            if m:
                where = Span(file, i, m.start() + 1, i, m.end(), offset + m.start(),
                             offset + m.end())
                if _USING.match(m.group("body")):
                    offset += len(line) + 1
                    continue  # a using hint (find_ts_using_hints)
                body = _BODY.match(m.group("body"))
                alone = not line[:m.start()].strip()
                target_line = i
                if alone:  # the next line that is not blank or a comment
                    target_line = next((j for j in range(i + 1, len(lines) + 1)
                                        if lines[j - 1].strip()
                                        and not lines[j - 1].lstrip().startswith("//")), 0)
                found = starts.get(target_line)
                if body is None:
                    issues.append(Issue("cannot read this rename hint: write "
                                        "`// trimtab: renamed from old_name`", where,
                                        "warning"))
                elif not found:
                    issues.append(Issue("rename hint is not above (or after) a table, "
                                        "column, constraint or index", where, "warning"))
                else:
                    key = found[0][1]
                    schema, old = _unquote(body.group("old"))
                    if key in seen:
                        issues.append(Issue(f"a second rename hint for {'.'.join(key[1:])}"
                                            ": the first one counts", where, "warning"))
                    else:
                        seen.add(key)
                        hints.append(Hint(key, old, schema if key[0] == "table" else None,
                                          where))
            offset += len(line) + 1
    return hints, issues


def _target_line(lines: list[str], i: int, start: int) -> int:
    """The line a hint at column ``start`` of line ``i`` (1-based) annotates: its own when
    it trails code, else the next one that is not blank or a comment (0: none)."""
    if lines[i - 1][:start].strip():
        return i
    return next((j for j in range(i + 1, len(lines) + 1)
                 if lines[j - 1].strip() and not lines[j - 1].lstrip().startswith("//")), 0)


def find_ts_using_hints(texts: Mapping[str, str], spans: Mapping[tuple[str, ...], Span]
                        ) -> tuple[list[UsingHint], list[Issue]]:
    """The ``// trimtab: using <expr>`` hints beside columns (trailing the property's line,
    or alone on the line above it). One that is not a single expression is an error (it
    would change how rows convert, or run more than a conversion); one beside no column,
    or a second for a column, a warning."""
    hints: list[UsingHint] = []
    issues: list[Issue] = []
    seen: set[tuple[str, ...]] = set()
    for file, text in texts.items():
        if "trimtab" not in text:
            continue
        lines = text.split("\n")
        starts = _targets_by_line(spans, file)
        offset = 0
        for i, line in enumerate(lines, start=1):
            m = _HINT.search(line)
            u = _USING.match(m.group("body")) if m else None
            if m is not None and u is not None:
                where = Span(file, i, m.start() + 1, i, m.end(), offset + m.start(),
                             offset + m.end())
                expr = m.group("body")[u.end():].strip()
                columns = [k for _, k in starts.get(_target_line(lines, i, m.start()), [])
                           if k[0] == "column"]
                if problem := expression_problem(expr):
                    issues.append(Issue(problem, where, "error"))
                elif not columns:
                    issues.append(Issue(USING_NOT_FOLLOWED, where, "warning"))
                elif columns[0] in seen:
                    issues.append(Issue(f"a second using hint for {'.'.join(columns[0][1:])}"
                                        ": only the first one is used", where, "warning"))
                else:
                    seen.add(columns[0])
                    hints.append(UsingHint(columns[0], expr, where))
            offset += len(line) + 1
    return hints, issues


def ts_hint_edit(text: str, span: Span, old: str) -> str:
    """``text`` with ``// trimtab: renamed from old`` on its own line above the object
    that starts at ``span`` (an existing hint right above it is replaced)."""
    lines = text.split("\n")
    i = span.line - 1
    indent = re.match(r"[ \t]*", lines[i]).group(0) if i < len(lines) else ""  # type: ignore[union-attr]
    written = old if re.fullmatch(r"[a-z_][a-z0-9_$]*", old) else '"' + old.replace(
        '"', '""') + '"'
    hint = f"{indent}// trimtab: renamed from {written}"
    if i > 0 and _HINT.search(lines[i - 1]) and not lines[i - 1][:_HINT.search(
            lines[i - 1]).start()].strip():  # type: ignore[union-attr]
        lines[i - 1] = hint
    else:
        lines.insert(i, hint)
    return "\n".join(lines)


def ts_comment_text(text: str) -> str:
    """A hazard's advice (written for a .sql schema) for a .ts one: its `-- trimtab: ...`
    hints become `// trimtab: ...`, and "the new CREATE TABLE" the new table's pgTable."""
    return (text.replace("`-- trimtab:", "`// trimtab:")
            .replace("the new CREATE TABLE", "the new table's pgTable"))
