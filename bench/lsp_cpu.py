"""The language server's own work per keystroke and per request, in one process.

``python -m bench.lsp_cpu [--tables 1000] [--edits 40] [--requests 20]`` runs, on
bench.generate's ``schema.sql``, what the server does for each of bench.lsp's edits (a
column added to one table, then removed, sent as a range): the document applies the change,
the fast path analyses the file against a base model (the file's own, standing in for the
live database's) and the findings become diagnostics; then hover on a table name after a
``REFERENCES`` and completion after ``REFERENCES `` on a new column line, as
bench.peers_lsp asks for them. It reports the CPU time of this process (``process_time``)
per keystroke and request, p50 and p95: on a machine shared with other work, wall clock
measures the others too. No database and no server process: what the numbers leave out
(the protocol, the event loop, the exact path running meanwhile) is bench.lsp's to measure.

To compare two versions of the code, run it with the other version first on the path:
``PYTHONPATH=/path/to/other/server:. python -m bench.lsp_cpu``.
"""

from __future__ import annotations

import argparse
import functools
import gc
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from lsprotocol import types as t
from pygls.workspace.position_codec import PositionCodec

from bench.generate import generate_sql
from trimtab.lsp import analysis, completion, navigate, positions
from trimtab.lsp.server import to_diagnostic
from trimtab.lsp.workspace import Project
from trimtab.sources.sqlfile import split_statements, structural_model

_TABLE_HEAD = re.compile(r"^CREATE TABLE [^\n(]+\(\n", re.MULTILINE)
_REF_LINE = "    ref_col integer REFERENCES "


def _percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def _cpu_ms(fn: Callable[[], object]) -> float:
    started = time.process_time()
    fn()
    return (time.process_time() - started) * 1000


def _insert(line: int, text: str) -> t.TextDocumentContentChangePartial:
    return t.TextDocumentContentChangePartial(
        range=t.Range(start=t.Position(line=line, character=0),
                      end=t.Position(line=line, character=0)), text=text)


Keystroke = Callable[[t.TextDocumentContentChangePartial], None]


@contextmanager
def _server(schema: str) -> Iterator[tuple[positions.LspTextDocument, str, Keystroke]]:
    """The open document, its path, and a keystroke as the server handles a ``didChange``:
    the change applied, the fast path, the findings made diagnostics."""
    with tempfile.TemporaryDirectory(prefix="trimtab-bench-cpu-") as work:
        root = Path(work)
        path = str(root / "schema.sql")
        (root / "schema.sql").write_text(schema)
        (root / "trimtab.toml").write_text('schema = "schema.sql"\n')
        project = Project(root)
        project.load()
        project.live_skeleton = analysis.skeleton(
            structural_model(split_statements(schema, path))[0])
        doc = positions.LspTextDocument(
            "file://" + path, schema, version=1, sync_kind=t.TextDocumentSyncKind.Incremental,
            position_codec=PositionCodec(t.PositionEncodingKind.Utf16))
        codec = doc.position_codec

        def keystroke(change: t.TextDocumentContentChangePartial) -> None:
            doc.apply_change(change)
            found = project.analyze_fast({path: doc.source})
            lines = doc.lines
            for items in found.values():
                for x in items:
                    to_diagnostic(x, lines, codec)

        keystroke(_insert(0, ""))
        gc.collect()
        gc.freeze()  # as the server does after each exact analysis
        yield doc, path, keystroke


def run(tables: int, edits: int, requests: int) -> dict[str, list[float]]:
    """CPU milliseconds of each keystroke, hover and completion (see the module's text)."""
    schema = generate_sql(tables)
    with _server(schema) as (doc, path, keystroke):
        codec = doc.position_codec
        heads = [m.group(0) for m in _TABLE_HEAD.finditer(schema)]
        out: dict[str, list[float]] = {"keystroke": [], "hover": [], "completion": []}
        line = 0
        for i in range(edits):  # as bench.lsp: a column appears in one table, then goes
            if i % 2 == 0:
                head = heads[(i * 7919) % len(heads)]
                at = doc.source.index(head) + len(head)
                line = doc.source.count("\n", 0, at)
                change = _insert(line, f"    bench_edit_{i} integer,\n")
            else:
                change = t.TextDocumentContentChangePartial(
                    range=t.Range(start=t.Position(line=line, character=0),
                                  end=t.Position(line=line + 1, character=0)), text="")
            out["keystroke"].append(_cpu_ms(functools.partial(keystroke, change)))

        text = doc.source
        ref = next(re.finditer(r"REFERENCES (\w+)", text[len(text) // 2:]))
        off = len(text) // 2 + ref.start(1) + 2
        hover_at = t.Position(line=text.count("\n", 0, off),
                              character=off - (text.rfind("\n", 0, off) + 1))

        def hover() -> None:  # the SQL branch of the server's hover, without the database
            offset = positions.to_offset(doc.lines, hover_at, codec)
            statements = navigate.statements_of({path: doc.source})
            key = navigate.object_at(statements, path, offset)
            named = navigate.target_at(statements, path, offset)
            if named is not None:
                navigate.hover_markdown(statements, named, None, {}, header=named != key)

        head = heads[len(heads) // 2]
        at = doc.source.index(head) + len(head)
        ref_line = doc.source.count("\n", 0, at)
        keystroke(_insert(ref_line, _REF_LINE + "\n"))
        complete_at = t.Position(line=ref_line, character=len(_REF_LINE))

        def complete() -> None:  # the server's completion handler, without the database
            offset = positions.to_offset(doc.lines, complete_at, codec)
            statements = split_statements(doc.source, path)
            before, whole = completion.statement_before(doc.source, statements, offset)
            model = structural_model(statements)[0]
            completion.complete(before, whole, completion.Models(model, None))

        for _ in range(requests):
            out["hover"].append(_cpu_ms(hover))
        for _ in range(requests):
            out["completion"].append(_cpu_ms(complete))
        return out


# Where --typing types: the table whose head is at this share of the file's tables.
PLACES = {"near the start": 0.1, "in the middle": 0.5, "at the end": 1.0}


def typing(tables: int, place: float, keys: int = 7) -> list[float]:
    """CPU milliseconds of each of ``keys`` characters typed one by one into a new column's
    name, in the table at ``place`` of the file (the share of its tables before it): what
    typing costs in one place, where each build after the first resumes from the same
    point. The column line itself is the first keystroke, not counted."""
    schema = generate_sql(tables)
    heads = list(_TABLE_HEAD.finditer(schema))
    head = heads[min(len(heads) - 1, int(place * len(heads)))]
    line = schema.count("\n", 0, head.end())
    out = []
    with _server(schema) as (_, _, keystroke):
        keystroke(_insert(line, "    typed_ integer,\n"))
        for k in range(keys):
            at = t.Position(line=line, character=len("    typed_") + k)
            out.append(_cpu_ms(functools.partial(keystroke, t.TextDocumentContentChangePartial(
                range=t.Range(start=at, end=at), text="abcdefghij"[k % 10]))))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--edits", type=int, default=40)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="smoke test: 10 tables, 4 edits")
    parser.add_argument("--typing", action="store_true",
                        help="instead: seven characters typed at one place, near the start, "
                             "in the middle and at the end of the file (p50 of the last five)")
    args = parser.parse_args(argv)
    if args.quick:
        args.tables, args.edits, args.requests = 10, 4, 3
    if args.typing:
        print(f"tables={args.tables}, typing at one place (CPU of this process)")
        for name, place in PLACES.items():
            last = typing(args.tables, place)[2:]
            print(f"{name}: p50 {_percentile(last, 50):.1f} ms of the last {len(last)} keys")
        return 0
    result = run(args.tables, args.edits, args.requests)
    print(f"tables={args.tables} edits={args.edits} requests={args.requests} (CPU of this "
          "process)")
    for name, values in result.items():
        print(f"{name}: p50 {_percentile(values, 50):.1f} ms, "
              f"p95 {_percentile(values, 95):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
