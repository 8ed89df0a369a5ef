"""The project's SQL files that are not its schema: what kind each is, and what the editor
shows on them beyond the migration lint (which ``server.migration_findings`` gives).

A ``.sql`` file of the project is, in this order:

* a **schema file**: one the configuration names (``schema``, a file or a folder);
* a **migration**: any file under the migrations folder;
* a **query file**: any other ``.sql`` file under the project's folder, except under a
  folder whose name starts with a dot (``.trimtab/``, ``.git/``) and ``node_modules/``.

Both checks here read the database or the shadow, so they run only in a trusted
workspace, off the event loop, after a pause in typing, and only the newest text's
result is published:

* a migration's **data loss**: the rows of each table it drops and the values of each
  column, counted read-only on the configured database (the migration is never run);
* a query file's **type check**: each query PREPAREd in the sandboxed shadow built from
  the schema files, never on the configured database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from trimtab import engine
from trimtab.errors import Cancelled, DatabaseError, SchemaError, TrimtabError
from trimtab.lsp.analysis import Finding
from trimtab.lsp.workspace import Project, redact_message
from trimtab.sources.sqlfile import Span

log = logging.getLogger("trimtab.lsp")

DEBOUNCE = 0.4
Run = Callable[..., Awaitable[Any]]  # server._in_thread: fn(*args) off the event loop

# path -> (the text it was computed for, findings): the last result of each check.
_losses: dict[str, tuple[str, list[Finding]]] = {}
_queries: dict[str, tuple[str, list[Finding]]] = {}
_bodies: dict[str, tuple[str, list[Finding]]] = {}  # schema files: plpgsql_check
_no_checker: set[str] = set()  # projects whose server lacks plpgsql_check (asked once)
_tasks: dict[str, asyncio.Task[None]] = {}


def is_query_file(project: Project, path: str) -> bool:
    """A .sql file under the project that is neither a schema file nor a migration."""
    if project.cfg is None or not path.endswith(".sql"):
        return False
    p = Path(path).absolute()
    root = project.root.absolute()
    if not p.is_relative_to(root) or project.owns_schema(path):
        return False
    if p.is_relative_to(project.cfg.migrations_dir.absolute()):
        return False
    return not any(part.startswith(".") or part == "node_modules"
                   for part in p.relative_to(root).parts[:-1])


def loss_findings(path: str, text: str) -> list[Finding]:
    """The last counted losses of this migration, when they were counted on this text."""
    hit = _losses.get(path)
    return list(hit[1]) if hit is not None and hit[0] == text else []


def query_findings(path: str, text: str) -> list[Finding]:
    hit = _queries.get(path)
    return list(hit[1]) if hit is not None and hit[0] == text else []


def bodies_checked(path: str) -> bool:
    return path in _bodies


def body_findings(path: str, text: str) -> list[Finding]:
    """plpgsql_check's last findings in this schema file, when checked on this text."""
    hit = _bodies.get(path)
    return list(hit[1]) if hit is not None and hit[0] == text else []


def forget(path: str) -> None:
    _losses.pop(path, None)
    _queries.pop(path, None)
    _bodies.pop(path, None)


def _schedule(key: str, work: Callable[[], Awaitable[None]]) -> None:
    old = _tasks.get(key)
    if old is not None and not old.done():
        old.cancel()

    async def later() -> None:
        await asyncio.sleep(DEBOUNCE)
        await work()
    _tasks[key] = asyncio.ensure_future(later())


def schedule_losses(project: Project, path: str, text: str, run: Run,
                    publish: Callable[[], None]) -> None:
    """Count what the migration drops (trusted, database reachable), then ``publish``."""
    if not project.trusted or project.cfg is None or project.live is None \
            or project.live_error is not None:
        return
    hit = _losses.get(path)
    if hit is not None and hit[0] == text:
        return
    cfg, live, timeout = project.cfg, project.live, project.settings.measure_timeout

    async def work() -> None:
        try:
            found = await run(lambda: engine.migration_losses(cfg, text, live, path=path,
                                                              timeout=timeout))
        except asyncio.CancelledError:
            raise
        except (DatabaseError, TrimtabError, OSError) as e:
            log.info("migration losses not counted: %s", redact_message(str(e)))
            return
        except Exception:  # never the server's end: the file keeps its lint
            log.exception("migration losses not counted")
            return
        _losses[path] = (text, [Finding(x.span, "warning",
                                        "drops-table" if x.column_name is None
                                        else "drops-column", x.message,
                                        {"count": x.count, "estimate": x.estimate})
                                for x in found])
        publish()
    _schedule("losses:" + path, work)


def schedule_query_check(project: Project, path: str, text: str, texts: dict[str, str],
                         run: Run, publish: Callable[[], None]) -> None:
    """Type-check the query file in the shadow (trusted only), then ``publish``."""
    if not project.trusted or project.cfg is None:
        return
    cfg = project.cfg

    async def work() -> None:
        try:
            errors = await run(lambda: engine.check_queries(cfg, text, path=path,
                                                            overrides=texts))
            found = [_finding(e, path) for e in errors]
        except asyncio.CancelledError:
            raise
        except Cancelled:
            return
        except SchemaError as e:  # the schema, not the queries: said once, at the top
            found = [Finding(Span(path, 1, 1, 1, 10_000, 0, 0), "info", "schema-broken",
                             redact_message("queries not checked: " + e.message))]
        except (DatabaseError, TrimtabError) as e:
            log.info("queries not checked: %s", redact_message(str(e)))
            return
        except Exception:
            log.exception("queries not checked")
            return
        _queries[path] = (text, found)
        publish()
    _schedule("queries:" + path, work)


def schedule_body_check(project: Project, texts: dict[str, str], files: list[str], run: Run,
                        publish: Callable[[list[str]], None]) -> None:
    """Check the schema's PL/pgSQL bodies with plpgsql_check in a scratch shadow (trusted
    only; nothing when the server lacks the extension), then ``publish`` the schema files
    whose findings changed. ``texts``: the open buffers; ``files``: every schema file."""
    root = str(project.root)
    if not project.trusted or project.cfg is None or project.cfg.drizzle or root in _no_checker:
        return
    cfg = project.cfg

    async def work() -> None:
        try:
            problems = await run(lambda: engine.check_function_bodies(cfg, overrides=texts))
            if problems is None:
                _no_checker.add(root)
                return
        except asyncio.CancelledError:
            raise
        except Cancelled:
            return
        except (DatabaseError, TrimtabError) as e:  # the schema's own errors are shown already
            log.info("function bodies not checked: %s", redact_message(str(e)))
            return
        except Exception:
            log.exception("function bodies not checked")
            return
        by_file: dict[str, list[Finding]] = {f: [] for f in files}
        for p in problems:
            by_file.setdefault(p.span.file, []).append(Finding(
                p.span, p.severity, "plpgsql-check",
                redact_message(f"{p.message}\n(plpgsql_check, in {p.function})")))
        changed = []
        for f, found in by_file.items():
            text = texts.get(f)
            if text is None:
                try:
                    text = Path(f).read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
            before = _bodies.get(f)
            _bodies[f] = (text, found)
            if before is None and found or before is not None and before[1] != found:
                changed.append(f)
        if changed:
            publish(changed)
    _schedule("bodies:" + root, work)


def _finding(e: SchemaError, path: str) -> Finding:
    line, col = e.line or 1, e.column or 1
    message = e.message + (f"\n{e.hint}" if e.hint else "")
    return Finding(Span(e.file or path, line, col, line, 10_000, 0, 0), "error", "postgres",
                   redact_message(message))
