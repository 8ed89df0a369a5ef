"""Language server latency: from a ``didChange`` to the published diagnostics.

``python -m bench.lsp [--tables 1000] [--edits 50] [--form sql|ts]`` pushes a generated
schema into a fresh database (``--form ts``: bench.drizzle_schema's Drizzle ``schema.ts``,
edits typed into one ``pgTable``; default: bench.generate's ``schema.sql``), starts the
real `trimtab lsp` process over stdio, opens the schema file
and waits for the first exact analysis (database model cached). Then it makes
single-statement edits (a column added to one table, then removed), one at a time, each
sent as the changed range (as VS Code sends it; ``--sync full``: the whole document), and
records for each: the time until diagnostics for that document version are published (the
fast path), and the time until the exact path (shadow database, measured plan) has refined
them (the server's ``trimtab/status`` notification for that version). Reports p50 / p95,
and the server process's peak memory.

``python -m bench`` runs the same measurement on each size of its side-by-side suite.

``--in-process`` measures the same keystrokes without a database or a server process: the
server's own steps (the edit applied to its document, the fast path, the diagnostics made
for the client) in this process, timed in CPU seconds, against the schema's own model as
the database after a push. On a machine shared with other work, wall-clock times mostly
measure the others; CPU time of one process much less so.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lsprotocol import types as t
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

from bench.common import Server, find_psql, open_server, trimtab_path
from bench.drizzle_schema import generate_ts
from bench.generate import generate_sql

# The first line of each CREATE TABLE, in either SQL layout the benchmarks write (ours and
# drizzle-kit's): an edit adds a column right after it.
_TABLE_HEAD = re.compile(r"^CREATE TABLE [^\n(]+\(\n", re.MULTILINE)
# The first line of each table of bench.drizzle_schema's schema.ts.
_PGTABLE_HEAD = re.compile(r'^export const \w+ = pgTable\("[^"]+", \{\n', re.MULTILINE)
FORMS = {  # form -> (schema file, languageId, table head, the column an edit adds)
    "sql": ("schema.sql", "sql", _TABLE_HEAD, "    bench_edit_{i} integer,\n"),
    "ts": ("schema.ts", "typescript", _PGTABLE_HEAD,
           '  benchEdit{i}: integer("bench_edit_{i}"),\n'),
}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


async def open_session(client: LanguageClient, exe: Path, root: Path) -> int | None:
    """Start ``trimtab lsp`` for ``client`` (its own handlers registered already) on the
    project ``root``, answering the questions a bench never answers; the server's pid."""
    @client.feature(t.WINDOW_SHOW_MESSAGE_REQUEST)
    def ask(params: t.ShowMessageRequestParams) -> None:
        return None

    @client.feature(t.CLIENT_REGISTER_CAPABILITY)
    def register(params: t.RegistrationParams) -> None:
        return None

    await client.start_io(str(exe), "lsp", "--stdio")
    pid = getattr(getattr(client, "_server", None), "pid", None)
    await client.initialize_async(t.InitializeParams(
        capabilities=t.ClientCapabilities(), root_uri=from_fs_path(str(root)),
        workspace_folders=[t.WorkspaceFolder(uri=from_fs_path(str(root)) or "", name="b")]))
    client.initialized(t.InitializedParams())
    return pid


async def _measure(exe: Path, root: Path, schema: str, edits: int, form: str = "sql",
                   sync: str = "incremental") -> dict[str, object]:
    file, language, table_head, added = FORMS[form]
    client = LanguageClient("trimtab-bench", "1")
    published: dict[int, float] = {}
    exact_done: dict[int, float] = {}
    changed = asyncio.Event()

    @client.feature(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: t.PublishDiagnosticsParams) -> None:
        if params.version is not None and params.version not in published:
            published[params.version] = time.perf_counter()
        changed.set()

    @client.feature("trimtab/status")
    def on_status(params: Any) -> None:  # (typed `object`, pygls would pass the client)
        for doc in getattr(params, "documents", None) or ():
            v = getattr(doc, "version", None)
            if isinstance(v, int) and v not in exact_done:
                exact_done[v] = time.perf_counter()
        changed.set()

    server_pid = await open_session(client, exe, root)
    uri = from_fs_path(str(root / file)) or ""

    # The first exact analysis builds the whole shadow: at 10,000 tables on a machine
    # shared with other work that took over ten minutes.
    async def wait(check: dict[int, float], version: int, timeout: float = 2400) -> float:
        deadline = time.perf_counter() + timeout
        while version not in check:
            changed.clear()
            if time.perf_counter() > deadline:
                raise TimeoutError(f"no answer for version {version}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), 1)
        return check[version]

    started = time.perf_counter()
    client.text_document_did_open(t.DidOpenTextDocumentParams(text_document=t.TextDocumentItem(
        uri=uri, language_id=language, version=1, text=schema)))
    await wait(published, 1)
    first_fast = published[1] - started
    await wait(exact_done, 1)
    first_exact = exact_done[1] - started

    heads = [m.group(0) for m in table_head.finditer(schema)]
    if not heads:
        raise ValueError("no table in the schema")
    fast: list[float] = []
    exact: list[float] = []
    line = 0
    for i in range(edits):
        version = i + 2
        # one statement changes: a column appears, then goes again
        if i % 2 == 0:
            head = heads[(i * 7919) % len(heads)]
            at = schema.index(head) + len(head)  # the start of the line after the head
            line = schema.count("\n", 0, at)
            text = schema[:at] + added.format(i=i) + schema[at:]
            change: Any = t.TextDocumentContentChangePartial(
                range=t.Range(t.Position(line, 0), t.Position(line, 0)), text=added.format(i=i))
        else:
            text = schema
            change = t.TextDocumentContentChangePartial(
                range=t.Range(t.Position(line, 0), t.Position(line + 1, 0)), text="")
        if sync == "full":
            change = t.TextDocumentContentChangeWholeDocument(text=text)
        sent = time.perf_counter()
        client.text_document_did_change(t.DidChangeTextDocumentParams(
            text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[change]))
        fast.append(await wait(published, version) - sent)
        exact.append(await wait(exact_done, version) - sent)
    peak = _peak_rss(server_pid)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return {"first_fast": first_fast, "first_exact": first_exact, "fast": fast, "exact": exact,
            "peak_rss": peak}


def _peak_rss(pid: int | None) -> int | None:
    """The process's peak resident memory so far (VmHWM), in bytes."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def measure(server: Server, schema: str, edits: int, form: str = "sql",
            sync: str = "incremental") -> dict[str, object]:
    """Push ``schema`` (of ``form``, see FORMS) into a fresh database of ``server``, then
    time ``edits`` edits in the language server (see the module's description)."""
    file = FORMS[form][0]
    exe = trimtab_path()
    with tempfile.TemporaryDirectory(prefix="trimtab-bench-lsp-") as work:
        root = Path(work)
        db = server.fresh_db("lsp")
        url = server.url(db)
        (root / file).write_text(schema)
        (root / "trimtab.toml").write_text(f'schema = "{file}"\ndatabase_url = "{url}"\n')
        try:
            subprocess.run([str(exe), "push", "--force"], cwd=root, check=True,
                           capture_output=True)
            result = asyncio.run(_measure(exe, root, schema, edits, form, sync))
        finally:
            # The language server keeps shadow databases for the project: drop them too.
            subprocess.run([str(exe), "db", "clean"], cwd=root, capture_output=True)
            server.drop_db(db)
    return result


def run(tables: int, edits: int, dsn: str | None, form: str = "sql",
        sync: str = "incremental", schema_file: Path | None = None) -> dict[str, object]:
    """The measurement on a generated schema of ``tables`` tables: bench.generate's SQL,
    or (``form="ts"``) bench.drizzle_schema's Drizzle TypeScript; or on the text of
    ``schema_file`` (of ``form``)."""
    if schema_file is not None:
        schema = schema_file.read_text(encoding="utf-8")
    else:
        schema = generate_ts(tables) if form == "ts" else generate_sql(tables)
    with open_server(dsn, find_psql(None)) as server:
        return measure(server, schema, edits, form, sync)


def in_process(tables: int, edits: int, form: str = "ts") -> dict[str, list[float]]:
    """CPU seconds per keystroke of the server's fast path, in this process (see the
    module's description): ``keystroke`` (the edit applied, the analysis, the diagnostics
    made) and ``collector`` (the cyclic collections each keystroke set off, inside it or
    just after it)."""
    import gc

    from trimtab.lsp import analysis, positions
    from trimtab.lsp import server as lsp_server
    from trimtab.lsp.workspace import Project
    from trimtab.sources.sqlfile import split_statements, structural_model

    file, language, table_head, added = FORMS[form]
    schema = generate_ts(tables) if form == "ts" else generate_sql(tables)
    with tempfile.TemporaryDirectory(prefix="trimtab-bench-lsp-") as work:
        root = Path(work)
        path = str(root / file)
        (root / file).write_text(schema)
        (root / "trimtab.toml").write_text(f'schema = "{file}"\n')
        project = Project(root)
        project.load()
        uri = from_fs_path(path) or ""
        ws = positions.LspWorkspace(from_fs_path(str(root)), t.TextDocumentSyncKind.Incremental,
                                    [], t.PositionEncodingKind.Utf16)
        ws.put_text_document(t.TextDocumentItem(uri=uri, language_id=language, version=1,
                                                text=schema))
        doc = ws.get_text_document(uri)
        # the database as a push made it: the schema's own model
        if form == "ts":
            from trimtab import engine

            assert project.cfg is not None
            statements = list(engine.read_drizzle_schema(project.cfg, {path: schema})[0]
                              .statements)
        else:
            statements = split_statements(schema, path)
        project.live_skeleton = analysis.skeleton(structural_model(statements)[0])
        project.analyze_fast({path: schema})
        gc.collect()
        gc.freeze()  # as the server after its exact path
        collected: list[float] = []

        def timed(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                collected.append(-time.process_time())
            else:
                collected[-1] += time.process_time()

        heads = [m.group(0) for m in table_head.finditer(schema)]
        keystroke: list[float] = []
        collector: list[float] = []
        try:
            from trimtab.collector import paused as after
        except ImportError:  # older code, measured for comparison
            after = getattr(lsp_server, "collector_after", contextlib.nullcontext)
        gc.callbacks.append(timed)
        try:
            line = 0
            for i in range(edits):
                if i % 2 == 0:  # as _measure: a column appears, then goes again
                    head = heads[(i * 7919) % len(heads)]
                    line = schema.count("\n", 0, schema.index(head) + len(head))
                    change = t.TextDocumentContentChangePartial(
                        range=t.Range(t.Position(line, 0), t.Position(line, 0)),
                        text=added.format(i=i))
                else:
                    change = t.TextDocumentContentChangePartial(
                        range=t.Range(t.Position(line, 0), t.Position(line + 1, 0)), text="")
                collected.clear()
                started = time.process_time()
                ws.update_text_document(t.VersionedTextDocumentIdentifier(
                    uri=uri, version=i + 2), change)
                with after():
                    found = project.analyze_fast({path: doc.source})
                    lines = doc.lines
                    for f in found.get(path, []):
                        lsp_server.to_diagnostic(f, lines, ws.position_codec)
                    keystroke.append(time.process_time() - started)
                    project.retired = None  # as the server once it has published
                junk = [[] for _ in range(1000)]  # what a collection waited for runs now
                del junk
                collector.append(sum(collected))
        finally:
            gc.callbacks.remove(timed)
            gc.unfreeze()
    return {"keystroke": keystroke, "collector": collector}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lsp", description=__doc__)
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--edits", type=int, default=50)
    parser.add_argument("--form", choices=sorted(FORMS), default="sql",
                        help="the schema's language: SQL (schema.sql) or Drizzle (schema.ts)")
    parser.add_argument("--sync", choices=["incremental", "full"], default="incremental",
                        help="how each edit is sent: the changed range, as VS Code sends it "
                             "to a server that asks for incremental sync (trimtab does), or "
                             "the whole document")
    parser.add_argument("--quick", action="store_true", help="smoke test: 10 tables, 4 edits")
    parser.add_argument("--schema-file", type=Path, metavar="PATH",
                        help="measure on this schema (of --form) instead of a generated one; "
                             "e.g. the drizzle-kit SQL `python -m bench` measures on, kept in "
                             "its cache folder's sql/ (--tables is then not used)")
    parser.add_argument("--dsn", help="maintenance URL of an existing server")
    parser.add_argument("--in-process", action="store_true",
                        help="CPU time of the server's keystroke steps in this process (no "
                             "database, no server process)")
    args = parser.parse_args(argv)
    if args.schema_file is not None and args.in_process:
        parser.error("--schema-file measures the server process, not --in-process")
    if args.quick:
        args.tables, args.edits = 10, 4
    if args.in_process:
        cpu = in_process(args.tables, args.edits, args.form)
        keys, gcs = cpu["keystroke"], cpu["collector"]
        print(f"form={args.form} tables={args.tables} edits={args.edits} in process (CPU)")
        print(f"keystroke -> diagnostics made: p50 {statistics.median(keys) * 1000:.0f} ms, "
              f"p95 {percentile(keys, 95) * 1000:.0f} ms, max {max(keys) * 1000:.0f} ms")
        print(f"cyclic collector per keystroke (inside it or just after): p50 "
              f"{statistics.median(gcs) * 1000:.0f} ms, max {max(gcs) * 1000:.0f} ms")
        return 0
    r = run(args.tables, args.edits, args.dsn, args.form, args.sync, args.schema_file)
    fast, exact = r["fast"], r["exact"]
    assert isinstance(fast, list) and isinstance(exact, list)
    size = f"schema={args.schema_file}" if args.schema_file else f"tables={args.tables}"
    print(f"form={args.form} {size} edits={args.edits} sync={args.sync}")
    print(f"open: diagnostics {r['first_fast']:.3f} s, exact {r['first_exact']:.3f} s")
    print(f"didChange -> diagnostics: p50 {statistics.median(fast) * 1000:.0f} ms, "
          f"p95 {percentile(fast, 95) * 1000:.0f} ms, max {max(fast) * 1000:.0f} ms")
    print(f"didChange -> exact refined: p50 {statistics.median(exact) * 1000:.0f} ms, "
          f"p95 {percentile(exact, 95) * 1000:.0f} ms")
    peak = r.get("peak_rss")
    if isinstance(peak, int):
        print(f"server peak memory: {peak / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
