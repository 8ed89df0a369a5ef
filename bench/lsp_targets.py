"""Issue 22's latency targets for the language server, every one in one run.

``python -m bench.lsp_targets [--tables 1000]`` starts one PostgreSQL server and measures,
one after the other on it and on the same generated schema:

- ``schema.sql``: keystroke -> fast diagnostics and -> exact path refined (bench.lsp);
- completion and hover in ``schema.sql`` (bench.peers_lsp's trimtab session, its probes
  and its requests after ``REFERENCES`` and on a table name);
- ``schema.ts``: keystroke -> fast diagnostics (bench.lsp ``--form ts``), and completion
  inside ``.references(() => ...)`` and hover on a table, timed here.

It prints one table of targets, each with its measured p95 and PASS or FAIL, and the
machine's load average at the start and at the end (the figures are wall clock: on a
shared machine they measure the others too).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types as t
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

from bench.common import Server, find_psql, open_server, trimtab_path
from bench.drizzle_schema import generate_ts
from bench.lsp import measure as keystrokes
from bench.lsp import open_session, percentile

# (target name, measured key, limit in seconds)
TARGETS = [
    ("schema.sql: keystroke -> fast diagnostics p95", "sql fast", 0.050),
    ("schema.sql: keystroke -> exact path refined p95", "sql exact", 0.500),
    ("schema.sql: completion p95", "sql completion", 0.050),
    ("schema.sql: hover p95", "sql hover", 0.050),
    ("schema.ts: keystroke -> fast diagnostics p95", "ts fast", 0.100),
    ("schema.ts: completion p95", "ts completion", 0.100),
    ("schema.ts: hover p95", "ts hover", 0.100),
]


@dataclass
class Outcome:
    name: str
    p95: float | None
    limit: float

    @property
    def passed(self) -> bool:
        return self.p95 is not None and self.p95 < self.limit


async def _ts_requests(exe: Path, root: Path, schema: str, requests: int) -> dict[str, list[float]]:
    """Completion inside ``.references(() => ...)`` and hover on a ``pgTable`` name of the
    opened ``schema.ts``, ``requests`` of each, once the first exact analysis is done."""
    client = LanguageClient("trimtab-bench-targets", "1")
    ready = asyncio.Event()

    @client.feature(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: t.PublishDiagnosticsParams) -> None:
        return None

    @client.feature("trimtab/status")
    def on_status(params: Any) -> None:
        if any(getattr(d, "version", None) == 1 for d in getattr(params, "documents", None) or ()):
            ready.set()

    await open_session(client, exe, root)
    uri = from_fs_path(str(root / "schema.ts")) or ""
    client.text_document_did_open(t.DidOpenTextDocumentParams(text_document=t.TextDocumentItem(
        uri=uri, language_id="typescript", version=1, text=schema)))
    await asyncio.wait_for(ready.wait(), 600)

    def position(marker: str, after: bool) -> t.Position:
        at = schema.index(marker) + (len(marker) if after else 1)
        line = schema.count("\n", 0, at)
        return t.Position(line, at - (schema.rfind("\n", 0, at) + 1))

    ref_at = position(".references(() => ", after=True)
    table_at = position('pgTable("', after=True)
    doc = t.TextDocumentIdentifier(uri=uri)
    out: dict[str, list[float]] = {"completion": [], "hover": []}
    for _ in range(requests):
        started = time.perf_counter()
        items = await client.text_document_completion_async(
            t.CompletionParams(text_document=doc, position=ref_at))
        out["completion"].append(time.perf_counter() - started)
        found = items.items if isinstance(items, t.CompletionList) else items
        if not found:
            raise RuntimeError("no completion inside .references(() => ...) of schema.ts")
        started = time.perf_counter()
        hovered = await client.text_document_hover_async(
            t.HoverParams(text_document=doc, position=table_at))
        out["hover"].append(time.perf_counter() - started)
        if hovered is None:
            raise RuntimeError("no hover on a pgTable of schema.ts")
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return out


def _ts_session(server: Server, tables: int, edits: int, requests: int) -> dict[str, list[float]]:
    schema = generate_ts(tables)
    fast = keystrokes(server, schema, edits, "ts")["fast"]
    assert isinstance(fast, list)
    exe = trimtab_path()
    with tempfile.TemporaryDirectory(prefix="trimtab-bench-targets-") as work:
        root = Path(work)
        db = server.fresh_db("lsp_targets")
        url = server.url(db)
        (root / "schema.ts").write_text(schema)
        (root / "trimtab.toml").write_text(f'schema = "schema.ts"\ndatabase_url = "{url}"\n')
        try:
            subprocess.run([str(exe), "push", "--force"], cwd=root, check=True,
                           capture_output=True)
            asked = asyncio.run(_ts_requests(exe, root, schema, requests))
        finally:
            subprocess.run([str(exe), "db", "clean"], cwd=root, capture_output=True)
            server.drop_db(db)
    return {"ts fast": fast, "ts completion": asked["completion"], "ts hover": asked["hover"]}


def measure(server: Server, tables: int, edits: int, requests: int) -> dict[str, list[float]]:
    """Every target's samples (seconds), keyed as TARGETS."""
    from bench.generate import generate_sql
    from bench.peers_lsp import measure as side_by_side

    sql = keystrokes(server, generate_sql(tables), edits, "sql")
    (session,) = side_by_side(server, tables, 2, requests, 1, ["trimtab"])["trimtab"]
    fast, exact = sql["fast"], sql["exact"]
    assert isinstance(fast, list) and isinstance(exact, list)
    return {"sql fast": fast, "sql exact": exact, "sql completion": session.completion,
            "sql hover": session.hover, **_ts_session(server, tables, edits, requests)}


def outcomes(samples: dict[str, list[float]]) -> list[Outcome]:
    return [Outcome(name, percentile(samples[key], 95) if samples.get(key) else None, limit)
            for name, key, limit in TARGETS]


def render(found: list[Outcome], *, tables: int, edits: int, requests: int,
           load: tuple[str, str]) -> str:
    lines = [f"tables={tables} edits={edits} requests={requests}, one run; load average "
             f"{load[0]} at the start, {load[1]} at the end", "",
             "| target | limit | p95 | result |", "|---|---:|---:|---|"]
    for o in found:
        p95 = "–" if o.p95 is None else f"{o.p95 * 1000:.0f} ms"
        lines.append(f"| {o.name} | {o.limit * 1000:.0f} ms | {p95} | "
                     f"{'PASS' if o.passed else 'FAIL'} |")
    passed = sum(o.passed for o in found)
    lines += ["", f"{passed} of {len(found)} targets met"]
    return "\n".join(lines)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lsp_targets", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--dsn", help="maintenance URL of an existing server")
    parser.add_argument("--quick", action="store_true", help="smoke test: 10 tables")
    args = parser.parse_args(argv)
    if args.quick:
        args.tables, args.edits, args.requests = 10, 2, 2
    before = _load()
    with open_server(args.dsn, find_psql(None)) as server:
        samples = measure(server, args.tables, args.edits, args.requests)
    found = outcomes(samples)
    print(render(found, tables=args.tables, edits=args.edits, requests=args.requests,
                 load=(before, _load())))
    return 0 if all(o.passed for o in found) else 1


if __name__ == "__main__":
    sys.exit(main())
