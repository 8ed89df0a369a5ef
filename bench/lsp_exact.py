"""The language server's exact path, one analysis at a time, in one process.

``python -m bench.lsp_exact [--tables 1000] [--edits 10] [--timeline 1]`` pushes
bench.generate's schema into a fresh database, then runs what the server runs after a
pause in typing (``Project.analyze_exact``) for bench.lsp's edits (a column added to one
table, then removed), and reports for each analysis its wall time and this process's CPU
time, p50 and p95. No debounce, no protocol: bench.lsp measures those. On a machine shared
with other work the CPU time is the comparable figure; wall time also waits for PostgreSQL
and for the other processes.

``--timeline N`` prints, for the first N analyses, where the wall time went: each
connection opened, each statement sent (``psycopg``), and the main steps of the engine, as
spans (start and length in ms, nested by indentation).

To compare two versions of the code, run it with the other one first on the path:
``PYTHONPATH=/path/to/other/server:. python -m bench.lsp_exact``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import re
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.common import find_psql, open_server, trimtab_path
from bench.generate import generate_sql

_TABLE_HEAD = re.compile(r"^CREATE TABLE [^\n(]+\(\n", re.MULTILINE)
_spans: list[tuple[int, str, float, float]] = []
_depth = threading.local()


def _percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def _timed(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def inner(*args: Any, **kwargs: Any) -> Any:
        depth = getattr(_depth, "n", 0)
        _depth.n = depth + 1
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _depth.n = depth
            _spans.append((depth, label, started, time.perf_counter()))
    return inner


def _instrument() -> None:
    """Spans around connections, statements and the engine's steps (their names may
    change with the code: a step that is gone is skipped)."""
    import psycopg

    from trimtab import engine
    from trimtab.lsp import workspace
    from trimtab.sources import fingerprint, shadow, shadowcache

    psycopg.connect = _timed("connect", psycopg.connect)  # type: ignore[assignment]
    execute = psycopg.Connection.execute

    def sent(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        text = query.decode() if isinstance(query, bytes) else str(query)
        return _timed("sql " + " ".join(text.split())[:50], execute)(self, query, *args,
                                                                    **kwargs)
    psycopg.Connection.execute = sent  # type: ignore[method-assign]
    steps = [(engine, "read_source"), (engine, "desired_and_notes"), (engine, "_stubs"),
             (engine, "_live_again"), (engine, "_with_owners"), (engine, "plan_changes"),
             (engine, "measure"), (shadowcache, "_swap"), (shadowcache, "introspect"),
             (shadowcache, "_saved_model"), (shadowcache, "_save_model"),
             (shadowcache, "_state"), (fingerprint, "catalog_fingerprint"),
             (shadow.Sandbox, "connect"), (workspace.Project, "_remember")]
    for owner, name in steps:
        fn = getattr(owner, name, None)
        if fn is not None:
            label = f"{owner.__name__}.{name}" if isinstance(owner, type) else name
            setattr(owner, name, _timed(label, fn))


@contextlib.contextmanager
def _pushed(tables: int) -> Iterator[Path]:
    """A project folder whose schema a fresh database already has."""
    schema = generate_sql(tables)
    exe = trimtab_path()
    with open_server(None, find_psql(None)) as server, \
            tempfile.TemporaryDirectory(prefix="trimtab-bench-exact-") as work:
        root = Path(work)
        db = server.fresh_db("exact")
        (root / "schema.sql").write_text(schema)
        (root / "trimtab.toml").write_text(
            f'schema = "schema.sql"\ndatabase_url = "{server.url(db)}"\n')
        try:
            subprocess.run([str(exe), "push", "--force"], cwd=root, check=True,
                           capture_output=True)
            yield root
        finally:
            subprocess.run([str(exe), "db", "clean"], cwd=root, capture_output=True)
            server.drop_db(db)


def run(tables: int, edits: int, timeline: int = 0) -> dict[str, list[float]]:
    """Wall and CPU seconds of each analysis (see the module's text)."""
    from trimtab.lsp.workspace import Project

    with _pushed(tables) as root:
        path = str(root / "schema.sql")
        schema = Path(path).read_text()
        project = Project(root)
        project.load()
        project.refresh_live()
        project.analyze_exact({path: schema})  # the shadow built, the models cached
        if timeline:
            _instrument()
        heads = [m.group(0) for m in _TABLE_HEAD.finditer(schema)]
        out: dict[str, list[float]] = {"wall": [], "cpu": []}
        for i in range(edits):  # as bench.lsp: a column appears in one table, then goes
            if i % 2 == 0:
                head = heads[(i * 7919) % len(heads)]
                at = schema.index(head) + len(head)
                text = schema[:at] + f"    bench_edit_{i} integer,\n" + schema[at:]
            else:
                text = schema
            _spans.clear()
            cpu, wall = time.process_time(), time.perf_counter()
            result = project.analyze_exact({path: text})
            out["wall"].append(time.perf_counter() - wall)
            out["cpu"].append(time.process_time() - cpu)
            if i < timeline:
                print(f"analysis {i + 1}: wall {out['wall'][-1] * 1000:.0f} ms, "
                      f"CPU {out['cpu'][-1] * 1000:.0f} ms")
                for depth, label, start, end in sorted(_spans, key=lambda s: (s[2], s[0])):
                    if end - start >= 0.0005:
                        print(f"{(start - wall) * 1000:8.1f} {(end - start) * 1000:7.1f}  "
                              f"{'  ' * depth}{label}")
            for later in getattr(result, "later", ()):  # as the server, once published
                later()
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--edits", type=int, default=10)
    parser.add_argument("--timeline", type=int, default=0, metavar="N",
                        help="print where the first N analyses spent their time")
    parser.add_argument("--quick", action="store_true", help="smoke test: 10 tables, 2 edits")
    args = parser.parse_args(argv)
    if args.quick:
        args.tables, args.edits = 10, 2
    result = run(args.tables, args.edits, args.timeline)
    print(f"tables={args.tables} edits={args.edits} (Project.analyze_exact, one process)")
    for name, values in result.items():
        print(f"{name}: p50 {statistics.median(values) * 1000:.0f} ms, "
              f"p95 {_percentile(values, 95) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
