"""Language server memory under sustained typing: does the server's memory stay bounded?

``python -m bench.soak [--tables 1000] [--edits 10000] [--statement-kb 20] [--budget-mb 300]``
pushes bench.generate's N-table schema plus one large ``CREATE TABLE`` (about
``--statement-kb`` KB, the kind of statement that made the server grow by megabytes a
keystroke) into a fresh database, starts the real `trimtab lsp` process over stdio, opens
the schema file and waits for the first exact analysis. Then it types into the large
statement one character at a time, as incremental ``didChange`` edits (a column name grows
to 30 characters, then is deleted in one edit and typed again, from a seeded random
stream, so that almost every text is new), waiting for each version's diagnostics (the
fast path). Every ``--pause-every`` edits it pauses as a user does: it waits for the exact
path, and asks for a hover on the large table. It records the server's resident memory
(VmRSS) every 100 edits, and its peak (VmHWM).

The run fails (exit status 1) when the peak exceeds ``--budget-mb`` or an answer does not
come within ``--timeout`` seconds. Results: docs/benchmarks.md, "Language server memory".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
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
from bench.generate import generate_sql
from bench.lsp import open_session

NAME_LENGTH = 30  # characters typed into a column name before it is deleted again
BIG_TABLE = "soak_wide"


def big_table(kb: int) -> str:
    """A ``CREATE TABLE`` of about ``kb`` KB: a wide table of commented columns."""
    lines = [f"CREATE TABLE {BIG_TABLE} (", "    id bigint GENERATED ALWAYS AS IDENTITY "
             "PRIMARY KEY,"]
    size, i = 0, 0
    while size < kb * 1024:
        line = (f"    attribute_{i:04d} character varying(200) NOT NULL DEFAULT 'value "
                f"{i}', -- column {i}")
        lines.append(line)
        size += len(line) + 1
        i += 1
    lines.append("    updated_at timestamp with time zone NOT NULL DEFAULT now()")
    return "\n".join(lines) + "\n);\n"


def rss(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, in bytes."""
    now = peak = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            now = int(line.split()[1]) * 1024
        elif line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
    return now, peak


async def _soak(exe: Path, root: Path, schema: str, edits: int, pause_every: int,
                timeout: float, seed: int, progress: bool) -> dict[str, Any]:
    client = LanguageClient("trimtab-bench-soak", "1")
    published: set[int] = set()
    exact_done: set[int] = set()
    changed = asyncio.Event()

    @client.feature(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: t.PublishDiagnosticsParams) -> None:
        if params.version is not None:
            published.add(params.version)
        changed.set()

    @client.feature("trimtab/status")
    def on_status(params: Any) -> None:
        for doc in getattr(params, "documents", None) or ():
            v = getattr(doc, "version", None)
            if isinstance(v, int):
                exact_done.add(v)
        changed.set()

    pid = await open_session(client, exe, root)
    if pid is None:
        raise RuntimeError("the server's process id is unknown")
    uri = from_fs_path(str(root / "schema.sql")) or ""

    async def wait(seen: set[int], version: int) -> None:
        deadline = time.perf_counter() + timeout
        while version not in seen:
            changed.clear()
            if time.perf_counter() > deadline:
                raise TimeoutError(f"no answer for version {version} in {timeout} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), 1)

    started = time.perf_counter()
    client.text_document_did_open(t.DidOpenTextDocumentParams(text_document=t.TextDocumentItem(
        uri=uri, language_id="sql", version=1, text=schema)))
    await wait(published, 1)
    await wait(exact_done, 1)
    opened = time.perf_counter() - started

    lines = schema.split("\n")
    head = lines.index(f"CREATE TABLE {BIG_TABLE} (")
    line = head + 2  # a new column line, typed after the identity column
    prefix = "    typed_"
    # The new line, then one character at a time.
    insert = t.TextDocumentContentChangePartial(
        range=t.Range(start=t.Position(line=line, character=0),
                      end=t.Position(line=line, character=0)),
        text=f"{prefix} integer,\n")
    version = 2
    client.text_document_did_change(t.DidChangeTextDocumentParams(
        text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[insert]))
    await wait(published, version)
    rng = random.Random(seed)
    typed = 0
    samples: list[tuple[int, int]] = [(0, rss(pid)[0])]
    fast: list[float] = []
    hovers: list[float] = []
    for i in range(1, edits + 1):
        version += 1
        col = len(prefix) + typed
        if typed < NAME_LENGTH:
            change = t.TextDocumentContentChangePartial(
                range=t.Range(start=t.Position(line=line, character=col),
                              end=t.Position(line=line, character=col)),
                text=rng.choice("abcdefghijklmnopqrstuvwxyz_0123456789"))
            typed += 1
        else:  # select the name typed so far and delete it
            change = t.TextDocumentContentChangePartial(
                range=t.Range(start=t.Position(line=line, character=len(prefix)),
                              end=t.Position(line=line, character=col)),
                text="")
            typed = 0
        sent = time.perf_counter()
        client.text_document_did_change(t.DidChangeTextDocumentParams(
            text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[change]))
        await wait(published, version)
        fast.append(time.perf_counter() - sent)
        if i % pause_every == 0 or i == edits:
            await wait(exact_done, version)
            asked = time.perf_counter()
            await asyncio.wait_for(client.text_document_hover_async(t.HoverParams(
                text_document=t.TextDocumentIdentifier(uri=uri),
                position=t.Position(line=head, character=len("CREATE TABLE ") + 2))), timeout)
            hovers.append(time.perf_counter() - asked)
        if i % 100 == 0 or i == edits:
            samples.append((i, rss(pid)[0]))
            if progress:
                print(f"  {i} edits: {samples[-1][1] / 2**20:.0f} MiB", file=sys.stderr,
                      flush=True)
    peak = rss(pid)[1]
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return {"opened": opened, "samples": samples, "peak": peak, "fast": fast,
            "hovers": hovers}


def run(tables: int, edits: int, kb: int, pause_every: int, timeout: float, seed: int,
        dsn: str | None, progress: bool = False) -> dict[str, Any]:
    schema = generate_sql(tables) + "\n" + big_table(kb)
    exe = trimtab_path()
    with open_server(dsn, find_psql(None)) as server, \
            tempfile.TemporaryDirectory(prefix="trimtab-bench-soak-") as work:
        return _run_on(server, exe, Path(work), schema, edits, pause_every, timeout, seed,
                       progress)


def _run_on(server: Server, exe: Path, root: Path, schema: str, edits: int,
            pause_every: int, timeout: float, seed: int, progress: bool) -> dict[str, Any]:
    db = server.fresh_db("soak")
    (root / "schema.sql").write_text(schema)
    (root / "trimtab.toml").write_text(
        f'schema = "schema.sql"\ndatabase_url = "{server.url(db)}"\n')
    try:
        subprocess.run([str(exe), "push", "--force"], cwd=root, check=True, capture_output=True)
        return asyncio.run(_soak(exe, root, schema, edits, pause_every, timeout, seed,
                                 progress))
    finally:
        subprocess.run([str(exe), "db", "clean"], cwd=root, capture_output=True)
        server.drop_db(db)


def growth_per_1000(samples: list[tuple[int, int]]) -> float:
    """Bytes per 1,000 edits over the second half of the run (least squares): the steady
    state, after the caches have filled."""
    tail = [s for s in samples if s[0] >= samples[-1][0] / 2]
    if len(tail) < 2:
        return 0.0
    xs = [float(x) for x, _ in tail]
    ys = [float(y) for _, y in tail]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    if not den:
        return 0.0
    return 1000 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--edits", type=int, default=10_000)
    parser.add_argument("--statement-kb", type=int, default=20,
                        help="size of the statement typed into (default 20)")
    parser.add_argument("--pause-every", type=int, default=500,
                        help="edits between pauses (exact path, hover); default 500")
    parser.add_argument("--budget-mb", type=float, default=300,
                        help="peak resident memory allowed, MiB (default 300)")
    parser.add_argument("--timeout", type=float, default=120,
                        help="seconds to wait for any one answer (default 120)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 10 tables, 300 edits")
    parser.add_argument("--dsn", help="maintenance URL of an existing server")
    args = parser.parse_args(argv)
    if args.quick:
        args.tables, args.edits, args.pause_every = 10, 300, 100
    r = run(args.tables, args.edits, args.statement_kb, args.pause_every, args.timeout,
            args.seed, args.dsn, progress=True)
    samples: list[tuple[int, int]] = r["samples"]
    fast: list[float] = r["fast"]
    mib = 2**20
    print(f"tables={args.tables} edits={args.edits} statement={args.statement_kb} KB "
          f"pause-every={args.pause_every}")
    print(f"open (first exact analysis): {r['opened']:.1f} s")
    marks = [s for s in samples if s[0] in (0, 1000, args.edits // 2, args.edits)]
    print("resident memory: " + ", ".join(f"{n} edits {v / mib:.0f} MiB" for n, v in marks))
    print(f"peak resident memory: {r['peak'] / mib:.0f} MiB (budget {args.budget_mb:.0f} MiB)")
    print(f"growth, second half: {growth_per_1000(samples) / mib:.1f} MiB per 1,000 edits")
    ordered = sorted(fast)
    print(f"didChange -> diagnostics: p50 {statistics.median(fast) * 1000:.0f} ms, "
          f"p95 {ordered[int(0.95 * (len(ordered) - 1))] * 1000:.0f} ms")
    if r["hovers"]:
        print(f"hover after a pause: max {max(r['hovers']) * 1000:.0f} ms")
    if r["peak"] > args.budget_mb * mib:
        print("FAIL: over budget", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
