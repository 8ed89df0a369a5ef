"""`trimtab lsp`: the language server (pygls 2). Handlers are thin: they find the project,
hand the work to ``workspace`` (and through it the engine) off the event loop, and turn
findings into LSP messages."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import contextvars
import functools
import gc
import itertools
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lsprotocol import types as t
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path
from pygls.workspace.position_codec import PositionCodec

from trimtab import __version__, allocator, collector, engine, sqlformat
from trimtab.errors import Cancelled, ConsentRequired, TrimtabError
from trimtab.lsp import analysis, completion, navigate, positions, rename, symbols, tokens
from trimtab.lsp import files as sql_files
from trimtab.lsp.analysis import Finding
from trimtab.lsp.workspace import (
    UNTRUSTED,
    UNTRUSTED_HINT,
    Exact,
    Project,
    Settings,
    redact_message,
)
from trimtab.migrations.folder import NO_TRANSACTION
from trimtab.model import Model, quote_ident, quote_literal
from trimtab.plan import Plan
from trimtab.plan.render import needs_using
from trimtab.sources import shadow
from trimtab.sources.sqlfile import (
    Span,
    Statement,
    canonical_type,
    object_spans,
    split_statements,
    structural_model,
)
from trimtab.words import plural

if TYPE_CHECKING:
    import trimtab.lsp.ts_completion as ts_completion
    from trimtab.lsp.pretty import layout
else:
    # Hover's layout of SQL (sqlglot) and completion in a schema.ts (tree-sitter, the
    # Drizzle reader) were a fifth of the server's start-up: loaded on first use, as a SQL
    # project's first diagnostics need neither.
    from trimtab.lazy import Lazy

    ts_completion, _pretty = Lazy("trimtab.lsp.ts_completion"), Lazy("trimtab.lsp.pretty")

    def layout(sql: str) -> str:
        return _pretty.layout(sql)

log = logging.getLogger("trimtab.lsp")

SAVE_AFTER = 2.0  # seconds without a newer exact analysis before its model is written
_SEVERITY = {"error": t.DiagnosticSeverity.Error, "warning": t.DiagnosticSeverity.Warning,
             "info": t.DiagnosticSeverity.Information,
             "information": t.DiagnosticSeverity.Information, "hint": t.DiagnosticSeverity.Hint}
COMMANDS = ("trimtab.push", "trimtab.generate", "trimtab.migrate", "trimtab.markApplied",
            "trimtab.refresh",
            "trimtab.showPlan", "trimtab.writeRenameHint")
# The client says the user trusted (or no longer trusts) the workspace: {"trusted": bool}.
TRUST_NOTIFICATION = "trimtab/workspaceTrust"


class TrimtabServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("trimtab", __version__)
        self.projects: dict[Path, Project] = {}
        self.client_settings: dict[str, Any] = {}
        self.exact_tasks: dict[Path, asyncio.Task[None]] = {}
        self.exact_threads: dict[Path, asyncio.Future[Exact]] = {}
        self.fast_tasks: dict[Path, asyncio.Future[None]] = {}
        self.refresh_task: asyncio.Task[None] | None = None
        # What exact analyses put off until typing pauses (Exact.later), per project.
        self.unsaved: dict[Path, list[Callable[[], None]]] = {}
        self.save_tasks: dict[Path, asyncio.Task[None]] = {}
        self.published: dict[str, int | None] = {}
        self.settings_reported: set[str] = set()
        # Workspace trust (initializationOptions ``trusted``, then TRUST_NOTIFICATION); never
        # from workspace/configuration, which a repository's settings file can answer.
        self.trusted = True

    # -- projects ---------------------------------------------------------------------------

    def project_for(self, path: str) -> Project | None:
        p = Path(os.path.abspath(path))
        best = None
        for root, project in self.projects.items():
            if p.is_relative_to(root) and (best is None or len(root.parts) > len(best.root.parts)):
                best = project
        return best

    def add_project(self, root: Path) -> Project:
        project = Project(root, trusted=self.trusted)
        self.projects[root] = project
        self.configure(project, self.client_settings)
        return project

    def configure(self, project: Project, data: dict[str, Any]) -> None:
        project.settings = Settings.from_client(data)
        project.load()
        problems = [p for p in project.settings.problems if p not in self.settings_reported]
        if problems:
            self.settings_reported.update(problems)
            self.window_show_message(t.ShowMessageParams(
                type=t.MessageType.Warning,
                message="trimtab: ignoring settings: " + "; ".join(problems)))

    def texts_for(self, project: Project) -> dict[str, str]:
        """The open buffers of the project's schema files."""
        out = {}
        for f in project.schema_files():
            doc = self.workspace.text_documents.get(from_fs_path(f) or "")
            if doc is not None:
                out[f] = doc.source
        return out

    # -- publishing -------------------------------------------------------------------------

    def publish(self, path: str, findings: list[Finding]) -> None:
        uri = from_fs_path(path) or path
        doc = self.workspace.text_documents.get(uri)
        version = doc.version if doc is not None else None
        if doc is not None:
            lines = doc.lines
        else:  # the client shows a closed file's diagnostics on the text on disk
            try:
                lines = Path(path).read_text(encoding="utf-8").splitlines(keepends=True)
            except (OSError, UnicodeDecodeError):
                lines = []
        if sql_files.bodies_checked(path):  # a schema file: plpgsql_check's findings too
            findings = findings + sql_files.body_findings(
                path, doc.source if doc is not None else "".join(lines))
        codec = self.workspace.position_codec
        project = self.project_for(path)
        overrides = project.settings.severity if project is not None else {}
        diagnostics = [to_diagnostic(f, lines, codec, overrides.get(f.code or ""))
                       for f in findings if overrides.get(f.code or "") != "off"]
        self.text_document_publish_diagnostics(t.PublishDiagnosticsParams(
            uri=uri, diagnostics=diagnostics, version=version))
        self.published[uri] = version

    def publish_fast(self, project: Project) -> None:
        if project.cfg is None:
            return
        if project.cfg.drizzle:
            # Reading TypeScript takes up to a second on a large schema: off the event loop,
            # and only the newest text's findings are published.
            old = self.fast_tasks.get(project.root)
            if old is not None and not old.done():
                old.cancel()
            self.fast_tasks[project.root] = asyncio.ensure_future(self._fast_off_loop(project))
            return
        started = time.perf_counter()
        try:
            findings = project.analyze_fast(self.texts_for(project))
        except Exception:  # the fast path must never take the server down
            log.exception("fast analysis failed")
            return
        analyzed = time.perf_counter()
        for f, items in findings.items():
            items = items + [x for x in project.status_findings if x.span.file == f]
            self.publish(f, items)
        log.info("fast path: analysis %.0f ms, publish %.0f ms",
                 (analyzed - started) * 1000, (time.perf_counter() - analyzed) * 1000)

    async def _fast_off_loop(self, project: Project) -> None:
        texts = self.texts_for(project)
        # The collection a keystroke sets off (some 8 ms at 1,000 tables) waits until the
        # diagnostics are out.
        with collector.paused():
            try:
                findings = await _in_thread(project.analyze_fast, texts)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("fast analysis failed")
                return
            if texts != self.texts_for(project):
                return  # typed meanwhile: a newer run publishes
            for f, items in findings.items():
                self.publish(f, items + [x for x in project.status_findings
                                         if x.span.file == f])
            project.retired = None  # published: now the last read may go

    def schedule_exact(self, project: Project, delay: float | None = None) -> None:
        """Run the exact path after ``delay`` seconds of quiet (the project's
        ``exactDelay``); a newer edit cancels it, waiting or running: the older result is
        never published, and no analysis runs for the versions of a burst in between."""
        if delay is None:
            delay = project.settings.exact_delay
        old = self.exact_tasks.get(project.root)
        if old is not None and not old.done():
            old.cancel()
        if not project.trusted:
            return  # the exact path applies the schema file to a database
        self.exact_tasks[project.root] = asyncio.ensure_future(self._exact(project, delay))

    async def _exact(self, project: Project, delay: float) -> None:
        await asyncio.sleep(delay)
        # A superseded run's thread goes on until its cancelled statement returns: wait
        # for it, so that typing never piles up analyses (each of which holds a worker
        # that a read of the database or a hover waits for), and the shadow's lock is free.
        running = self.exact_threads.get(project.root)
        if running is not None and not running.done():
            await asyncio.wait([running])
        if project.cfg is None or not project.trusted:
            return
        texts = self.texts_for(project)
        was_down = project.live_error is not None
        project.exact_runs += 1
        try:
            if project.live is None and project.live_error is None:
                await _in_thread(project.live_once)  # (the first refresh's, as a rule)
            result = await self._exact_thread(project, texts)
        except asyncio.CancelledError:
            project.exact_superseded += 1
            raise
        except Cancelled:
            # Its shadow work was cancelled (the server stops, or a newer run overtook it):
            # what it was asked is no longer wanted, nothing went wrong.
            log.info("exact analysis cancelled")
            return
        except Exception:
            log.exception("exact analysis failed")
            return
        if texts != self.texts_for(project):
            self.save_when_idle(project, result.later)
            return  # the user typed meanwhile: a newer run is on its way
        project.exact = result
        # The models just built live long: keep the collector from walking them again on
        # every keystroke (a full collection over them costs more than the fast path).
        gc.collect()
        gc.freeze()
        # what the analysis freed, back to the system before the next one
        allocator.give_back()
        for f, items in result.findings.items():
            self.publish(f, items)
        self.report_unreachable(project, was_down)
        self.notify_status(project)
        self.save_when_idle(project, result.later)
        if not any(x.severity == "error" for items in result.findings.values() for x in items):
            self.check_bodies(project, texts)

    async def _exact_thread(self, project: Project, texts: dict[str, str]) -> Exact:
        """``project.analyze_exact(texts)`` in a worker thread, as ``_in_thread`` runs it,
        with the thread's future kept (see ``_exact``)."""
        with shadow.cancellable() as cancel:
            work = functools.partial(contextvars.copy_context().run, project.analyze_exact,
                                     texts)
            thread = asyncio.get_running_loop().run_in_executor(None, work)
            self.exact_threads[project.root] = thread
            # A superseded run's end (Cancelled, as a rule) is no one's to report.
            thread.add_done_callback(lambda f: f.cancelled() or f.exception())
            try:
                return await asyncio.shield(thread)
            except asyncio.CancelledError:
                cancel()
                raise

    def save_when_idle(self, project: Project, saves: list[Callable[[], None]]) -> None:
        """Run what the exact path put off (writing the shadow's model for the next
        process) after SAVE_AFTER seconds without a newer analysis: not on the way to the
        diagnostics, and not beside the fast path of every keystroke. A newer analysis's
        saves make an older one's for the same file a no-op."""
        pending = self.unsaved.setdefault(project.root, [])
        pending += saves
        old = self.save_tasks.get(project.root)
        if old is not None and not old.done():
            old.cancel()
        if not pending:
            return

        async def later() -> None:
            await asyncio.sleep(SAVE_AFTER)
            await asyncio.to_thread(_run_saves, self.unsaved.pop(project.root, []))
        self.save_tasks[project.root] = asyncio.ensure_future(later())

    def check_bodies(self, project: Project, texts: dict[str, str]) -> None:
        """plpgsql_check on the schema that just built (files.py); its findings join the
        exact path's, in the files they concern, while the texts stay as they were."""
        def publish(changed: list[str]) -> None:
            exact = project.exact
            if exact is None or texts != self.texts_for(project):
                return  # typed meanwhile: the next exact run checks again
            for f in changed:
                self.publish(f, list(exact.findings.get(f, [])))
        sql_files.schedule_body_check(project, texts, project.schema_files(), _in_thread,
                                      publish)

    def notify_status(self, project: Project) -> None:
        """``trimtab/status``: one line of state per project, for a status bar. Sent after
        every exact analysis (``seconds``: how long it took)."""
        exact = project.exact
        plan = exact.live_plan if exact else None
        drift = any(f.code == "drift" for f in project.status_findings)
        errors = sum(1 for items in (exact.findings.values() if exact else ())
                     for f in items if f.severity == "error")
        if not project.trusted:
            state = "untrusted"
        elif project.live_error:
            state = "unreachable"
        elif errors:
            state = "error"
        elif drift:
            state = "drift"
        elif plan:
            state = "pending"
        else:
            state = "in-sync"
        self.protocol.notify("trimtab/status", {
            "root": str(project.root), "state": state,
            "pending": len(plan.steps) if plan else 0,
            "dataLoss": len(plan.data_loss) if plan else 0,
            "notInMigration": len(exact.snapshot_plan.steps)
            if exact and exact.snapshot_plan else 0,
            "errors": errors, "drift": drift,
            "message": project.live_error if project.trusted else UNTRUSTED,
            "seconds": round(exact.seconds, 3) if exact else None,
            "runs": project.exact_runs, "superseded": project.exact_superseded,
            "documents": [{"uri": from_fs_path(f) or f, "version": v}
                          for f, v in self._versions(project).items()],
        })

    def _versions(self, project: Project) -> dict[str, int | None]:
        out = {}
        for f in project.schema_files():
            doc = self.workspace.text_documents.get(from_fs_path(f) or "")
            out[f] = doc.version if doc is not None else None
        return out

    def report_unreachable(self, project: Project, was_down: bool = False) -> None:
        """Say once that the database cannot be reached (and once that it is back)."""
        if project.live_error is not None and not project.unreachable_reported:
            project.unreachable_reported = True
            self.window_show_message(t.ShowMessageParams(
                type=t.MessageType.Warning,
                message=f"trimtab: the database cannot be reached; showing changes against "
                        f"the last migration snapshot. {project.live_error}"))
        elif was_down and project.live_error is None:
            self.window_show_message(t.ShowMessageParams(
                type=t.MessageType.Info, message="trimtab: the database is reachable again"))

    async def refresh(self, project: Project) -> None:
        """Re-read the database, the migrations and their status; analyze again."""
        was_down = project.live_error is not None
        project.load()
        await _in_thread(project.refresh_snapshot)
        # Untrusted: no-ops (no connection); the status checks the migrations folder only.
        await _in_thread(project.refresh_live)
        files = project.schema_files()
        if files:
            await _in_thread(project.refresh_status, _start(files[0]))
        self.report_unreachable(project, was_down)
        self.publish_fast(project)
        # Every migration file with something to say, or that had something to say before.
        paths = set(project.migration_findings)
        for uri in [*self.published, *self.workspace.text_documents]:
            path = to_fs_path(uri)
            if path and project.owns_migration(path):
                paths.add(path)
        for path in sorted(paths):
            self.publish(path, migration_findings(self, project, path))
            _count_losses(self, project, path)
        for uri in list(self.workspace.text_documents):  # the schema may have changed
            path = to_fs_path(uri)
            if path and sql_files.is_query_file(project, path):
                _check_queries(self, project, path)
        if project.trusted:
            self.schedule_exact(project, 0)
        else:
            self.notify_status(project)  # there is no exact path to report

    async def set_trusted(self, trusted: bool) -> None:
        """Trust granted: the exact path starts. Taken back: stop it and forget what the
        database told."""
        if trusted == self.trusted:
            return
        self.trusted = trusted
        for project in list(self.projects.values()):
            project.trusted = trusted
            if not trusted:
                task = self.exact_tasks.pop(project.root, None)
                if task is not None:
                    task.cancel()
                project.forget_live()
            await self.refresh(project)

    async def refresh_loop(self) -> None:
        while True:
            interval = min((p.settings.refresh_interval for p in self.projects.values()
                            if p.settings.refresh_interval > 0), default=0)
            await asyncio.sleep(interval or 30)
            if not interval:
                continue
            for project in [p for p in self.projects.values() if p.trusted]:
                before, was_down = project.live, project.live_error is not None
                await _in_thread(project.refresh_live)
                self.report_unreachable(project, was_down)
                if project.live != before or was_down != (project.live_error is not None):
                    self.publish_fast(project)
                    self.schedule_exact(project, 0)


server = TrimtabServer()
T = TypeVar("T")


async def _in_thread(fn: Callable[..., T], /, *args: Any) -> T:
    """``fn(*args)`` off the event loop. When the awaiting task is cancelled (an analysis
    overtaken by a newer one, the server stopping), what the shadow runs for it is
    cancelled too: a thread stuck in a statement that never ends would otherwise hold the
    server's exit until the watchdog fires."""
    with shadow.cancellable() as cancel:
        try:
            return await asyncio.to_thread(fn, *args)
        except asyncio.CancelledError:
            cancel()
            raise


@server.feature(t.SHUTDOWN)
def _shutdown(ls: TrimtabServer, params: Any) -> None:
    shadow.cancel_running()
    for root in list(ls.unsaved):  # for the next process: it starts from the file
        _run_saves(ls.unsaved.pop(root))


def _run_saves(saves: list[Callable[[], None]]) -> None:
    for save in saves:
        try:
            save()
        except Exception:  # a cache: the next process reads the catalogs instead
            log.exception("saving the shadow's model failed")


@server.feature(t.EXIT)
def _exit(ls: TrimtabServer, params: Any) -> None:
    shadow.cancel_running()




def to_diagnostic(f: Finding, lines: Sequence[str], codec: PositionCodec,
                  severity: str | None = None) -> t.Diagnostic:
    return t.Diagnostic(range=positions.span_range(lines, f.span, codec), message=f.message,
                        severity=_SEVERITY.get(severity or f.severity,
                                               t.DiagnosticSeverity.Information),
                        code=f.code, source=analysis.SOURCE,
                        data=dict(f.data) if f.data else None)


def _start(f: str) -> Span:
    return Span(f, 1, 1, 1, 1, 0, 0)


# -- lifecycle --------------------------------------------------------------------------------


@server.feature(t.INITIALIZE)
def initialize(ls: TrimtabServer, params: t.InitializeParams) -> None:
    # pygls has just built the workspace; nothing is open yet (see positions.LspWorkspace).
    ls.protocol._workspace = positions.lsp_workspace(ls.workspace, params)
    ls.client_settings = _section(params.initialization_options)
    ls.trusted = _trusted(params.initialization_options)
    roots = [to_fs_path(w.uri) for w in params.workspace_folders or []]
    if not roots and params.root_uri:
        roots = [to_fs_path(params.root_uri)]
    for root in roots:
        if root:
            ls.add_project(Path(root))


def _trusted(options: Any) -> bool:
    """``trusted`` in initializationOptions (top level or the ``trimtab`` section). A client
    that says nothing is trusted, as before workspace trust existed; a value that is not a
    boolean is not trust."""
    if not isinstance(options, dict):
        return True
    inner = options.get("trimtab")
    value = options.get("trusted", inner.get("trusted") if isinstance(inner, dict) else None)
    if value is None:
        return True
    if not isinstance(value, bool):
        log.warning("initializationOptions.trusted must be a boolean, not %r: untrusted", value)
    return value is True


@server.feature(TRUST_NOTIFICATION)
async def workspace_trust(ls: TrimtabServer, params: Any) -> None:
    value = params.get("trusted") if isinstance(params, dict) else getattr(
        params, "trusted", None)
    if isinstance(value, bool):
        await ls.set_trusted(value)


def _section(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        return {}
    inner = data.get("trimtab")
    return dict(inner) if isinstance(inner, dict) else dict(data)


@server.feature(t.INITIALIZED)
async def initialized(ls: TrimtabServer, params: t.InitializedParams) -> None:
    await _read_client_configuration(ls)
    with contextlib.suppress(Exception):  # a client without dynamic registration still works
        await ls.client_register_capability_async(t.RegistrationParams(registrations=[
            t.Registration(
                id=str(uuid.uuid4()), method=t.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                register_options=t.DidChangeWatchedFilesRegistrationOptions(watchers=[
                    t.FileSystemWatcher(glob_pattern="**/*.sql"),
                    t.FileSystemWatcher(glob_pattern="**/*.ts"),
                    t.FileSystemWatcher(glob_pattern="**/meta/_journal.json"),
                    t.FileSystemWatcher(glob_pattern="**/trimtab.toml"),
                    t.FileSystemWatcher(glob_pattern="**/pyproject.toml"),
                    t.FileSystemWatcher(glob_pattern="**/.env*"),
                ]))]))
    for project in list(ls.projects.values()):
        await ls.refresh(project)
    ls.refresh_task = asyncio.ensure_future(ls.refresh_loop())


async def _read_client_configuration(ls: TrimtabServer) -> None:
    """The ``trimtab`` section for each project's folder (settings may differ per folder
    of a multi-root workspace), over what initializationOptions said."""
    caps = ls.client_capabilities.workspace
    if caps is None or not caps.configuration or not ls.projects:
        return
    projects = list(ls.projects.values())
    try:
        result = await asyncio.wait_for(ls.workspace_configuration_async(t.ConfigurationParams(
            items=[t.ConfigurationItem(section="trimtab", scope_uri=from_fs_path(str(p.root)))
                   for p in projects])), 5)
    except Exception:
        return
    for project, section in zip(projects, result or [], strict=False):
        if isinstance(section, dict):
            # What the client sends now is the whole truth: a setting it stopped sending
            # goes back to its default rather than keeping an old initializationOptions value.
            ls.configure(project, section)


@server.feature(t.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def did_change_configuration(ls: TrimtabServer,
                                   params: t.DidChangeConfigurationParams) -> None:
    settings = _section(params.settings)
    hints_before = {p.root: p.settings.inlay_row_counts for p in ls.projects.values()}
    if settings:
        ls.client_settings = settings
        for project in ls.projects.values():
            ls.configure(project, settings)
    else:
        await _read_client_configuration(ls)
    for project in list(ls.projects.values()):
        await ls.refresh(project)
    # The editor asks for an open file's hints only when it opens or changes it: without
    # this, row counts turned on (or off) show nothing new until the next edit.
    ws = ls.client_capabilities.workspace
    if any(hints_before.get(p.root) != p.settings.inlay_row_counts
           for p in ls.projects.values()) and \
            ws is not None and ws.inlay_hint is not None and ws.inlay_hint.refresh_support:
        ls.workspace_inlay_hint_refresh(None)


@server.feature(t.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
async def did_change_folders(ls: TrimtabServer,
                             params: t.DidChangeWorkspaceFoldersParams) -> None:
    for w in params.event.removed:
        path = to_fs_path(w.uri)
        if path:
            ls.projects.pop(Path(path), None)
    added = [ls.add_project(Path(p)) for w in params.event.added if (p := to_fs_path(w.uri))]
    if added:
        await _read_client_configuration(ls)
    for project in added:
        await ls.refresh(project)


@server.feature(t.WORKSPACE_DID_CHANGE_WATCHED_FILES)
async def did_change_watched_files(ls: TrimtabServer,
                                   params: t.DidChangeWatchedFilesParams) -> None:
    touched = set()
    for change in params.changes:
        path = to_fs_path(change.uri)
        project = ls.project_for(path) if path else None
        if project is not None and path is not None and _concerns(project, path):
            touched.add(project.root)
    for root in touched:
        await ls.refresh(ls.projects[root])


def _concerns(project: Project, path: str) -> bool:
    """A file whose change changes what the project shows (a TypeScript project changes
    many .ts files that are not its schema)."""
    name = Path(path).name
    return (project.owns_schema(path) or project.owns_migration(path)
            or name in ("trimtab.toml", "pyproject.toml", "drizzle.config.ts", "_journal.json")
            or name.startswith(".env")
            or (project.cfg is not None and not project.cfg.drizzle and name.endswith(".sql")))


# -- documents ---------------------------------------------------------------------------------


def _document_changed(ls: TrimtabServer, uri: str) -> None:
    path = to_fs_path(uri)
    project = ls.project_for(path) if path else None
    if project is None or project.cfg is None or path is None:
        return
    if project.owns_schema(path):
        ls.publish_fast(project)
        ls.schedule_exact(project)
    elif project.owns_migration(path):
        ls.publish(path, migration_findings(ls, project, path))
        _count_losses(ls, project, path)
    elif sql_files.is_query_file(project, path):
        _check_queries(ls, project, path)


def _file_text(ls: TrimtabServer, path: str) -> str | None:
    """The open buffer, else the file on disk; None when it cannot be read."""
    doc = ls.workspace.text_documents.get(from_fs_path(path) or "")
    try:
        return doc.source if doc else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _count_losses(ls: TrimtabServer, project: Project, path: str) -> None:
    """What the migration drops of the live data, counted in the background (files.py)."""
    text = _file_text(ls, path)
    if text is not None:
        sql_files.schedule_losses(
            project, path, text, _in_thread,
            lambda: ls.publish(path, migration_findings(ls, project, path)))


def _check_queries(ls: TrimtabServer, project: Project, path: str) -> None:
    """A query file type-checked against the schema in the shadow (files.py)."""
    text = _file_text(ls, path)
    if text is None:
        return
    if not project.trusted:  # the check runs the file in the shadow: say why it does not
        ls.publish(path, [Finding(_start(path), "hint", "not-checked",
                                  f"queries not checked: {UNTRUSTED}")])
        return

    def publish() -> None:
        now = _file_text(ls, path)
        if now == text:  # else a newer check is on its way
            ls.publish(path, sql_files.query_findings(path, now))
    sql_files.schedule_query_check(project, path, text, ls.texts_for(project), _in_thread,
                                   publish)


@server.feature(t.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: TrimtabServer, params: t.DidOpenTextDocumentParams) -> None:
    _document_changed(ls, params.text_document.uri)


@server.feature(t.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: TrimtabServer, params: t.DidChangeTextDocumentParams) -> None:
    _document_changed(ls, params.text_document.uri)


@server.feature(t.TEXT_DOCUMENT_DID_SAVE)
async def did_save(ls: TrimtabServer, params: t.DidSaveTextDocumentParams) -> None:
    path = to_fs_path(params.text_document.uri)
    project = ls.project_for(path) if path else None
    if project is not None:
        await ls.refresh(project)


@server.feature(t.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: TrimtabServer, params: t.DidCloseTextDocumentParams) -> None:
    path = to_fs_path(params.text_document.uri)
    project = ls.project_for(path) if path else None
    if project is not None and path and project.owns_schema(path):
        ls.publish_fast(project)  # the file on disk is the schema again


def migration_findings(ls: TrimtabServer, project: Project, path: str) -> list[Finding]:
    """An edited applied migration (from the status), and the lock hazards of the file's
    statements on the database's tables (engine.lint_migration: Squawk's rule names)."""
    out = list(project.migration_findings.get(path, []))
    doc = ls.workspace.text_documents.get(from_fs_path(path) or "")
    try:
        text = doc.source if doc else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return out  # deleted meanwhile, or not text: the status says what it can
    for f in engine.lint_migration(text, project.sizes, path=path):
        out.append(Finding(Span(path, f.line, f.column, f.end_line, f.end_column, 0, 0),
                           "warning", f.rule, f.message, f.fix))
    out += sql_files.loss_findings(path, text)
    if NO_TRANSACTION in text.split("\n\n", 1)[0]:
        return out
    for st in split_statements(text, path):
        out += _type_change_findings(project, text, st)
    return out


_NAME = r'(?:"(?:[^"]|"")+"|[\w$]+)'
_ALTER_TABLE = re.compile(rf"ALTER\s+TABLE\s+(?:ONLY\s+)?(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?"
                          rf"({_NAME}(?:\s*\.\s*{_NAME})?)", re.I)
_ALTER_TYPE = re.compile(rf"ALTER\s+(?:COLUMN\s+)?({_NAME})\s+(?:SET\s+DATA\s+)?TYPE\s+"
                         r"(.+?)\s*(?=\bUSING\b|\bCOLLATE\b|,|;|$)", re.I | re.S)
_STRING_TYPES = ("text", "character varying", "character", "name", "citext")


def _ident(raw: str) -> str:
    return raw[1:-1].replace('""', '"') if raw.startswith('"') else raw.lower()


def _type_change_findings(project: Project, text: str, st: Any) -> list[Finding]:
    """``ALTER COLUMN ... TYPE`` without USING where PostgreSQL has no automatic cast from
    the column's type in the database (drizzle-kit writes these): the migration would fail.
    """
    head = _ALTER_TABLE.match(st.text)
    if head is None or project.live is None:
        return []
    names = [_ident(p.strip()) for p in re.findall(_NAME, head.group(1))]
    schema, table_name = (names[0], names[1]) if len(names) == 2 else ("public", names[0])
    table = project.live.table(schema, table_name)
    out: list[Finding] = []
    for m in _ALTER_TYPE.finditer(st.text, head.end()):
        column = table.column(_ident(m.group(1))) if table is not None else None
        if column is None or re.match(r"\s*USING\b", st.text[m.end(2):], re.I):
            continue
        new = canonical_type(m.group(2))
        if column.type == new or not needs_using(column.type, new) or \
                new.split("(", 1)[0] in _STRING_TYPES:
            continue
        at = st.span.start_offset + m.end(2)
        line, col = positions.offset_position(text, at)
        first, first_col = positions.offset_position(text, st.span.start_offset + m.start())
        using = f" USING {quote_ident(column.name)}::{new}"
        out.append(Finding(
            Span(st.span.file, first + 1, first_col + 1, line + 1, col, 0, 0), "error",
            "type-needs-using",
            f"PostgreSQL cannot convert {schema}.{table_name}.{column.name} from "
            f"{column.type} to {new} without a USING clause: this migration would fail\n"
            f"fix: add `{using.strip()}` (or an expression that converts the values)",
            {"using": {"line": line, "column": col, "text": using}}))
    return out


# -- hover, symbols, definition ----------------------------------------------------------------


def _statements(ls: TrimtabServer, uri: str) -> tuple[str, list[Any]] | None:
    """The SQL statements of an open .sql document (TypeScript has its own outline and
    navigation in the editor)."""
    path = to_fs_path(uri)
    doc = ls.workspace.text_documents.get(uri)
    if path is None or doc is None or not path.endswith(".sql"):
        return None
    return path, split_statements(doc.source, path)


def _ts_object_at(project: Project, path: str, offset: int) -> tuple[str, ...] | None:
    """The innermost object of the last read of a Drizzle schema that ``offset`` is in."""
    spans = project.drizzle.spans if project.drizzle is not None else {}
    inside = [(s.end_offset - s.start_offset, key) for key, s in spans.items()
              if s.file == path and s.start_offset <= offset < max(s.end_offset,
                                                                     s.start_offset + 1)]
    return min(inside)[1] if inside else None


@server.feature(t.TEXT_DOCUMENT_HOVER)
async def hover(ls: TrimtabServer, params: t.HoverParams) -> t.Hover | None:
    path = to_fs_path(params.text_document.uri)
    project = ls.project_for(path) if path else None
    if path is None or project is None or not project.owns_schema(path):
        return None
    doc = ls.workspace.get_text_document(params.text_document.uri)
    offset = positions.to_offset(doc.lines, params.position, doc.position_codec)
    named = None  # the object the name under the cursor designates (SQL files)
    statements: list[Statement] = []
    if path.endswith(".sql"):
        # every schema file's statements, split once per text (navigate.statements_of)
        texts = _nav_texts(ls, project)
        texts[path] = doc.source
        statements = navigate.statements_of(texts)
        key = navigate.object_at(statements, path, offset)
        named = navigate.target_at(statements, path, offset)
    else:
        key = _ts_object_at(project, path, offset)
    if key is None and named is None:
        return None
    if named is not None:
        about = navigate.hover_markdown(statements, named,
                                        project.live if project.trusted else None,
                                        project.sizes if project.trusted else {},
                                        header=named != key)
        if key is None:
            return t.Hover(contents=t.MarkupContent(kind=t.MarkupKind.Markdown, value=about))
    else:
        about = ""
    assert key is not None  # (returned above when both are None)
    facts = None
    if key[0] in ("table", "column") and project.trusted and project.live_error is None \
            and project.cfg:
        with contextlib.suppress(Exception):
            facts = await _in_thread(engine.table_facts, project.cfg, key[1], key[2])
    text = hover_text(project, key, facts)
    if about and named == key:  # on the declaration: its facts under its own title
        title, _, rest = text.partition("\n\n")
        text = "\n\n".join(x for x in (title, about, rest) if x)
    elif about:  # a reference: what it names first, then the enclosing object as before
        text = f"{about}\n\n---\n\n{text}"
    if not text:
        return None
    return t.Hover(contents=t.MarkupContent(kind=t.MarkupKind.Markdown, value=text))


def _related(plan: Plan | None, key: tuple[str, ...]) -> list[Any]:
    if plan is None:
        return []
    out = []
    for s in plan.steps:
        tg = s.change.target
        parent = s.change.parent
        if tg == key or (key[0] == "table" and (tg[1:3] == key[1:3] and tg[0] in (
                "column", "constraint", "trigger", "policy")) or (
                getattr(parent, "key", None) == key)):
            out.append(s)
    return out


def hover_text(project: Project, key: tuple[str, ...],
               facts: tuple[int | None, bool] | None = None) -> str:
    name = ".".join(key[1:])
    kind = key[0]
    parts = [f"**{kind} {name}**"]
    if key[0] in ("table", "column"):
        size = project.sizes.get((key[1], key[2]))
        if size is not None:
            rows, size_bytes = size
            if facts is not None and facts[0] is not None:
                rows = facts[0]
                rows_text = f"{'~' if facts[1] else ''}{rows:,} row{'s' if rows != 1 else ''}"
            else:
                rows_text = "not analyzed yet" if rows < 0 else f"~{rows:,} rows"
            parts.append(f"live: {rows_text}, {navigate.byte_size(size_bytes)}")
        elif project.live is not None and key[0] == "table":
            parts.append("live: not in the database yet")
    exact = project.exact
    steps = _related(exact.live_plan if exact else None, key)
    if not project.trusted:
        parts.append(f"_{UNTRUSTED}_")
    elif project.live_error:
        parts.append(f"_database unreachable: {project.live_error}_")
    elif exact is None or exact.live_plan is None:
        parts.append("_pending SQL against the database: still computing_")
    elif steps:
        parts.append("pending SQL against the database:\n```sql\n" + "".join(
            f"{layout(s)};\n" for st in steps for s in st.sql) + "```")
        for st in steps:
            for h in st.hazards:
                parts.append(f"- {h.severity}: {h.text} `[{h.code}]`")
    else:
        parts.append("in sync with the database")
    snap = _related(exact.snapshot_plan if exact else None, key)
    if snap:
        parts.append("not yet in a migration:\n```sql\n" + "".join(
            f"{layout(s)};\n" for st in snap for s in st.sql) + "```")
    return "\n\n".join(parts)


_SYMBOL_KINDS = {
    "schema": t.SymbolKind.Namespace, "table": t.SymbolKind.Class,
    "column": t.SymbolKind.Field, "enum": t.SymbolKind.Enum, "index": t.SymbolKind.Key,
    "view": t.SymbolKind.Interface, "materialized_view": t.SymbolKind.Interface,
    "sequence": t.SymbolKind.Number, "function": t.SymbolKind.Function,
    "type": t.SymbolKind.Struct, "constraint": t.SymbolKind.Property,
    "trigger": t.SymbolKind.Event, "policy": t.SymbolKind.Property,
}


def _range(doc: Any, span: Span) -> t.Range:
    return positions.span_range(doc.lines, span, doc.position_codec)


@server.feature(t.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def document_symbol(ls: TrimtabServer,
                    params: t.DocumentSymbolParams) -> list[t.DocumentSymbol]:
    found = _statements(ls, params.text_document.uri)
    if found is None:
        return []
    doc = ls.workspace.get_text_document(params.text_document.uri)

    def convert(s: symbols.Symbol) -> t.DocumentSymbol:
        return t.DocumentSymbol(name=s.name, detail=s.detail or None,
                                kind=_SYMBOL_KINDS.get(s.kind, t.SymbolKind.Object),
                                range=_range(doc, s.span),
                                selection_range=_range(doc, s.selection),
                                children=[convert(c) for c in s.children] or None)

    return [convert(s) for s in symbols.document_symbols(found[1])]


@server.feature(t.TEXT_DOCUMENT_DEFINITION)
def definition(ls: TrimtabServer, params: t.DefinitionParams) -> t.Location | None:
    found = _statements(ls, params.text_document.uri)
    if found is None:
        return None
    path, statements = found
    doc = ls.workspace.get_text_document(params.text_document.uri)
    span = symbols.definition(statements, path,
                              positions.to_offset(doc.lines, params.position, doc.position_codec))
    if span is None:
        return None
    return t.Location(uri=from_fs_path(span.file) or span.file, range=_range(doc, span))


# -- code actions ---------------------------------------------------------------------------------


@server.feature(t.TEXT_DOCUMENT_CODE_ACTION, t.CodeActionOptions(
    code_action_kinds=[t.CodeActionKind.QuickFix, t.CodeActionKind.Source]))
def code_action(ls: TrimtabServer, params: t.CodeActionParams) -> list[t.CodeAction]:
    uri = params.text_document.uri
    path = to_fs_path(uri)
    project = ls.project_for(path) if path else None
    if project is None or path is None:
        return []
    out: list[t.CodeAction] = []
    for d in params.context.diagnostics:
        data = d.data if isinstance(d.data, dict) else {}
        if "rename" in data:
            out += _rename_fix(ls, uri, path, data["rename"], d)
        hz = data.get("hazard") or {}
        if hz.get("code") == "adds-required-column" and path.endswith(".sql"):
            out += _default_fix(ls, project, uri, path, data.get("target", []), d)
        elif hz.get("code") == "adds-required-column" and path.endswith((".ts", ".mts")):
            out += _ts_default_fix(ls, project, uri, path, data.get("target", []), d)
        if "concurrently" in data:
            out.append(_concurrently_fix(ls, uri, data["concurrently"], d))
        if "using" in data:
            out.append(_using_fix(ls, uri, data["using"], d))
        if "markApplied" in data and project.trusted:
            out.append(t.CodeAction(
                title="trimtab: Record " + ", ".join(data["markApplied"]) + " as applied "
                      "(the database already has it)", kind=t.CodeActionKind.QuickFix,
                diagnostics=[d], is_preferred=True,
                command=_cmd("Mark applied", "trimtab.markApplied", uri)))
    if not project.trusted:
        return out  # push, generate and migrate are refused: do not offer them
    if project.owns_schema(path):
        out += [
            t.CodeAction(title="trimtab: Push the schema to the database",
                         kind=t.CodeActionKind.Source,
                         command=_cmd("Push", "trimtab.push", uri)),
            t.CodeAction(title="trimtab: Generate a migration",
                         kind=t.CodeActionKind.Source,
                         command=_cmd("Generate migration", "trimtab.generate", uri)),
            t.CodeAction(title="trimtab: Show the pending plan", kind=t.CodeActionKind.Source,
                         command=_cmd("Show plan", "trimtab.showPlan", uri)),
        ]
    if project.owns_schema(path) or project.owns_migration(path):
        out.append(t.CodeAction(title="trimtab: Apply pending migrations",
                                kind=t.CodeActionKind.Source,
                                command=_cmd("Migrate", "trimtab.migrate", uri)))
    return out


def _cmd(title: str, command: str, uri: str) -> t.Command:
    return t.Command(title=title, command=command, arguments=[uri])


def _rename_fix(ls: TrimtabServer, uri: str, path: str, r: dict[str, Any],
                d: t.Diagnostic) -> list[t.CodeAction]:
    from trimtab.sources.drizzle.hints import ts_hint_edit
    from trimtab.sources.hints import hint_edit

    doc = ls.workspace.get_text_document(uri)
    project = ls.project_for(path)
    if not path.endswith(".sql"):
        spans = project.drizzle.spans if project and project.drizzle else {}
        span = spans.get(tuple(r["target"]))
        if span is None or span.file != path or r["kind"] == "enum_value":
            return []
        new_text = ts_hint_edit(doc.source, span, r["old"])
    else:
        try:
            new_text = hint_edit(doc.source, path, split_statements(doc.source, path),
                                 tuple(r["target"]), r["old"])
        except (KeyError, ValueError):
            return []
    old = quote_literal(r["old"]) if r["kind"] == "enum_value" else quote_ident(r["old"])
    return [t.CodeAction(
        title=f"Mark {r['new']} as renamed from {old} (keeps the data)",
        kind=t.CodeActionKind.QuickFix, diagnostics=[d], is_preferred=True,
        edit=_whole_document_edit(uri, doc, new_text))]


def _default_fix(ls: TrimtabServer, project: Project, uri: str, path: str,
                 target: list[str], d: t.Diagnostic) -> list[t.CodeAction]:
    """The choices for a new NOT NULL column on a table with rows, none of which invents
    data: a DEFAULT whose value the user types (a snippet placeholder), or the column
    nullable now and backfilled before NOT NULL comes back."""
    if len(target) != 4:
        return []
    doc = ls.workspace.get_text_document(uri)
    statements = split_statements(doc.source, path)
    span = object_spans(statements).get(tuple(target))
    if span is None:
        return []
    m = re.search(r"\bNOT\s+NULL\b", doc.source[span.start_offset:span.end_offset], re.I)
    if m is None:
        return []

    def at(offset: int) -> t.Position:
        line, col = positions.offset_position(doc.source, span.start_offset + offset)
        return positions.to_client(doc.lines, line, col, doc.position_codec)

    start, end = at(m.start()), at(m.end())
    # `code text NOT NULL,` -> `code text,`: the blanks before it go too
    before = doc.source[:span.start_offset + m.start()]
    cut_from = at(m.start() - (len(before) - len(before.rstrip(" \t"))))
    out = []
    ws = ls.client_capabilities.workspace
    if ws and ws.workspace_edit and ws.workspace_edit.snippet_edit_support:
        out.append(t.CodeAction(
            title="Add DEFAULT … (edit the value)", kind=t.CodeActionKind.QuickFix,
            diagnostics=[d], edit=t.WorkspaceEdit(document_changes=[t.TextDocumentEdit(
                text_document=t.OptionalVersionedTextDocumentIdentifier(
                    uri=uri, version=doc.version),
                edits=[t.SnippetTextEdit(range=t.Range(start=start, end=start),
                                         snippet=t.StringValue("DEFAULT ${1:<value>} "))])])))
    out.append(t.CodeAction(
        title="Make it nullable, backfill later (then add NOT NULL back)",
        kind=t.CodeActionKind.QuickFix, diagnostics=[d], edit=t.WorkspaceEdit(changes={uri: [
            t.TextEdit(range=t.Range(start=cut_from, end=end), new_text="")]})))
    return out


def _ts_default_fix(ls: TrimtabServer, project: Project, uri: str, path: str,
                    target: list[str], d: t.Diagnostic) -> list[t.CodeAction]:
    """As _default_fix, in schema.ts: `.default(<value>)` for the user to fill in at the end
    of the new column's builder chain, or the chain without its `.notNull()`."""
    if len(target) != 4 or project.drizzle is None:
        return []
    span = project.drizzle.spans.get(tuple(target))
    doc = ls.workspace.get_text_document(uri)
    if span is None or os.path.normpath(span.file) != os.path.normpath(path) or \
            span.end_offset > len(doc.source):
        return []
    text = doc.source[span.start_offset:span.end_offset]
    # Only a `key: builder(...)...` of this file: a spread or a helper's body is not
    # the place to add to.
    if not re.match(r"""\s*(?:[\w$]+|"[^"]*"|'[^']*')\s*:\s*[\w$.]+\s*\(""", text):
        return []

    def at(offset: int) -> t.Position:
        line, col = positions.offset_position(doc.source, offset)
        return positions.to_client(doc.lines, line, col, doc.position_codec)

    out = []
    ws = ls.client_capabilities.workspace
    if ws and ws.workspace_edit and ws.workspace_edit.snippet_edit_support:
        end = at(span.end_offset)
        out.append(t.CodeAction(
            title="Add .default(…) (edit the value)", kind=t.CodeActionKind.QuickFix,
            diagnostics=[d], edit=t.WorkspaceEdit(document_changes=[t.TextDocumentEdit(
                text_document=t.OptionalVersionedTextDocumentIdentifier(
                    uri=uri, version=doc.version),
                edits=[t.SnippetTextEdit(range=t.Range(start=end, end=end),
                                         snippet=t.StringValue(".default(${1:<value>})"))])])))
    m = re.search(r"\s*\.notNull\(\s*\)", text)
    if m is not None:
        out.append(t.CodeAction(
            title="Make it nullable, backfill later (then add .notNull() back)",
            kind=t.CodeActionKind.QuickFix, diagnostics=[d],
            edit=t.WorkspaceEdit(changes={uri: [t.TextEdit(
                range=t.Range(start=at(span.start_offset + m.start()),
                              end=at(span.start_offset + m.end())), new_text="")]})))
    return out


def _concurrently_fix(ls: TrimtabServer, uri: str, where: dict[str, int],
                      d: t.Diagnostic) -> t.CodeAction:
    doc = ls.workspace.get_text_document(uri)
    line = doc.lines[where["line"]] if where["line"] < len(doc.lines) else ""
    m = re.search(r"INDEX\s", line[where["column"]:], re.I)
    start = t.Position(line=0, character=0)
    edits = [t.TextEdit(range=t.Range(start=start, end=start), new_text=NO_TRANSACTION + "\n")]
    if m:
        pos = positions.to_client(doc.lines, where["line"], where["column"] + m.end(),
                                  doc.position_codec)
        edits.append(t.TextEdit(range=t.Range(start=pos, end=pos), new_text="CONCURRENTLY "))
    return t.CodeAction(title="Build the index CONCURRENTLY, outside a transaction",
                        kind=t.CodeActionKind.QuickFix, diagnostics=[d],
                        edit=t.WorkspaceEdit(changes={uri: edits}))


def _using_fix(ls: TrimtabServer, uri: str, where: dict[str, Any],
               d: t.Diagnostic) -> t.CodeAction:
    doc = ls.workspace.get_text_document(uri)
    pos = positions.to_client(doc.lines, where["line"], where["column"], doc.position_codec)
    return t.CodeAction(title=f"Add{where['text']}", kind=t.CodeActionKind.QuickFix,
                        diagnostics=[d], is_preferred=True,
                        edit=t.WorkspaceEdit(changes={uri: [t.TextEdit(
                            range=t.Range(start=pos, end=pos), new_text=where["text"])]}))


def _whole_document_edit(uri: str, doc: Any, new_text: str) -> t.WorkspaceEdit:
    end = t.Position(line=len(doc.lines), character=0)
    return t.WorkspaceEdit(changes={uri: [t.TextEdit(
        range=t.Range(start=t.Position(line=0, character=0), end=end), new_text=new_text)]})


# -- completion and rename (SQL schema files) --------------------------------------------------


def _schema_texts(ls: TrimtabServer, project: Project) -> dict[str, str]:
    """Every schema file of the project: the open buffer, else the file on disk."""
    out = {}
    for f in project.schema_files():
        doc = ls.workspace.text_documents.get(from_fs_path(f) or "")
        if doc is not None:
            out[f] = doc.source
        else:
            with contextlib.suppress(OSError, UnicodeDecodeError):
                out[f] = Path(f).read_text(encoding="utf-8")
    return out


def _sql_schema_doc(ls: TrimtabServer, uri: str) -> tuple[Project, str, Any] | None:
    path = to_fs_path(uri)
    project = ls.project_for(path) if path else None
    if path is None or project is None or not path.endswith(".sql") or \
            not project.owns_schema(path):
        return None
    return project, path, ls.workspace.get_text_document(uri)


@dataclass(frozen=True)
class _SchemaAt:
    """A position in a SQL schema file, with the project's schema texts (the open buffer
    as it is) that completion and rename read."""

    project: Project
    path: str
    doc: Any
    offset: int
    texts: dict[str, str]

    def statements(self) -> list[Statement]:
        return [st for f, text in self.texts.items() for st in split_statements(text, f)]


def _schema_at(ls: TrimtabServer, uri: str, position: t.Position) -> _SchemaAt | None:
    found = _sql_schema_doc(ls, uri)
    if found is None:
        return None
    project, path, doc = found
    texts = _schema_texts(ls, project)
    texts[path] = doc.source
    return _SchemaAt(project, path, doc,
                     positions.to_offset(doc.lines, position, doc.position_codec), texts)


# project root -> ((file, text) of each schema file, their structural model): completion
# asks at every character typed, and again at the same text (a request per trigger).
_file_models: dict[Path, tuple[tuple[tuple[str, str], ...], Model]] = {}


def _file_model(root: Path, texts: dict[str, str], statements: list[Statement]) -> Model:
    """The structural model of the schema files as ``texts`` hold them (``statements``: their
    statements), built once per text."""
    key = tuple(texts.items())
    hit = _file_models.get(root)
    if hit is not None and len(hit[0]) == len(key) and all(
            f == g and (a is b or a == b) for (f, a), (g, b) in zip(hit[0], key, strict=True)):
        return hit[1]
    model = structural_model(statements)[0]
    _file_models[root] = (key, model)
    return model


# (project root) -> (the live model they were read with, extension types)
_extension_types: dict[Path, tuple[int, tuple[str, ...]]] = {}


async def _live_for_completion(project: Project) -> tuple[Any, tuple[str, ...]]:
    if not project.trusted or project.cfg is None:
        return None, ()
    if project.live is None and project.live_error is None:
        await _in_thread(project.refresh_live)  # first use: nothing read yet
    live = project.live
    if live is None:
        return None, ()
    cached = _extension_types.get(project.root)
    if cached is None or cached[0] != id(live):
        types: tuple[str, ...] = ()
        with contextlib.suppress(Exception):  # completion without them beats none at all
            types = await _in_thread(completion.extension_types,
                                     engine.resolve_target(project.cfg).url)
        cached = _extension_types[project.root] = (id(live), types)
    return live, cached[1]


_ITEM_KINDS = {"table": t.CompletionItemKind.Class, "column": t.CompletionItemKind.Field,
               "type": t.CompletionItemKind.TypeParameter,
               "value": t.CompletionItemKind.EnumMember,
               "keyword": t.CompletionItemKind.Keyword, "snippet": t.CompletionItemKind.Snippet}


@server.feature(t.TEXT_DOCUMENT_COMPLETION, t.CompletionOptions(trigger_characters=[" ", ".", "("]))
async def complete(ls: TrimtabServer, params: t.CompletionParams) -> t.CompletionList | None:
    if not params.text_document.uri.endswith(".sql"):
        return await _complete_ts(ls, params)
    at = _schema_at(ls, params.text_document.uri, params.position)
    if at is None:
        return None
    project, path, doc, offset, statements = (at.project, at.path, at.doc, at.offset,
                                              at.statements())
    before, whole = completion.statement_before(
        doc.source, [st for st in statements if st.span.file == path], offset)
    live, ext = await _live_for_completion(project)
    file_model = _file_model(project.root, at.texts, statements)
    items = completion.complete(before, whole, completion.Models(file_model, live, ext))
    return t.CompletionList(is_incomplete=False, items=[t.CompletionItem(
        label=i.label, kind=_ITEM_KINDS.get(i.kind), detail=i.detail or None,
        insert_text=i.insert, sort_text=f"{n:04d}",
        insert_text_format=t.InsertTextFormat.Snippet if i.snippet else None)
        for n, i in enumerate(items)])


def _refused(e: Exception) -> JsonRpcException:
    """A refused rename as the client shows it: RequestFailed with the reason."""
    return JsonRpcException(f"trimtab: cannot rename: {e}", code=t.LSPErrorCodes.RequestFailed)


async def _rename_live(project: Project) -> Any:
    """The live model, read now: whether the object is in the database decides the hint."""
    if project.trusted and project.cfg is not None:
        with contextlib.suppress(Exception):
            await _in_thread(project.refresh_live)
        if project.live_error is None:
            return project.live
    return None


@server.feature(t.TEXT_DOCUMENT_PREPARE_RENAME)
async def prepare_rename(ls: TrimtabServer, params: t.PrepareRenameParams
                   ) -> t.PrepareRenamePlaceholder | None:
    at = _schema_at(ls, params.text_document.uri, params.position)
    if at is None:
        return None
    project, path, doc, offset, statements = (at.project, at.path, at.doc, at.offset,
                                              at.statements())
    try:
        target = rename.target_at(statements, path, offset, await _rename_live(project))
    except rename.RenameRefused as e:
        raise _refused(e) from None
    a = positions.offset_position(doc.source, target.start)
    b = positions.offset_position(doc.source, target.end)
    rng = t.Range(start=positions.to_client(doc.lines, *a, doc.position_codec),
                  end=positions.to_client(doc.lines, *b, doc.position_codec))
    return t.PrepareRenamePlaceholder(range=rng, placeholder=target.name)


@server.feature(t.TEXT_DOCUMENT_RENAME, t.RenameOptions(prepare_provider=True))
async def rename_symbol(ls: TrimtabServer, params: t.RenameParams) -> t.WorkspaceEdit | None:
    at = _schema_at(ls, params.text_document.uri, params.position)
    if at is None:
        return None
    project, path, doc, offset, texts = at.project, at.path, at.doc, at.offset, at.texts
    live = await _rename_live(project)
    try:
        _, new_texts = rename.rename(texts, path, offset, params.new_name, live)
    except rename.RenameRefused as e:
        raise _refused(e) from None
    changes: dict[str, list[t.TextEdit]] = {}
    for f, new_text in new_texts.items():
        uri = from_fs_path(f) or ""
        changes[uri] = _line_edits(texts[f], new_text, doc.position_codec)
    return t.WorkspaceEdit(changes=changes)


def _line_edits(old: str, new: str, codec: PositionCodec) -> list[t.TextEdit]:
    """The changed lines as edits (whole lines, so positions need no code unit counting
    except at a last line without a line break)."""
    import difflib

    a, b = positions.split_lines(old), positions.split_lines(new)
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        if i2 == len(a) and a and not a[-1].endswith(("\n", "\r")):
            end = t.Position(line=i2 - 1, character=codec.client_num_units(a[-1]))
        else:
            end = t.Position(line=i2, character=0)
        out.append(t.TextEdit(range=t.Range(start=t.Position(line=i1, character=0), end=end),
                              new_text="".join(b[j1:j2])))
    return out


# -- completion in a Drizzle schema.ts (trimtab.lsp.ts_completion) ----------------------------

# (project root) -> the catalog of the last read of its schema.ts without errors: a line
# being written can cost the reader the table it sits in.
_ts_catalogs: dict[Path, ts_completion.Catalog] = {}
# How long completion waits for a read of the text as it is when an earlier read's
# catalog can answer: the names it holds do not move with the text, and a text the reader
# cannot splice (an unfinished line) takes it up to a second on 1,000 tables.
_TS_READ_WAIT = 0.05


async def _ts_catalog(project: Project, texts: dict[str, str]) -> ts_completion.Catalog | None:
    cfg = project.cfg
    assert cfg is not None
    root = project.root

    def read() -> tuple[ts_completion.Catalog, bool]:
        ds, read_texts = engine.read_drizzle_schema(cfg, texts)
        now = ts_completion.catalog(ds, read_texts)
        if not ds.errors:
            _ts_catalogs[root] = now
        return now, bool(ds.errors)

    before = _ts_catalogs.get(root)
    task = asyncio.ensure_future(asyncio.to_thread(read))
    try:
        if before is None:
            now, broken = await task
        else:
            now, broken = await asyncio.wait_for(asyncio.shield(task), _TS_READ_WAIT)
    except TimeoutError:
        # (it goes on in its thread: the fast path's read of this text finds its result)
        task.add_done_callback(lambda f: f.cancelled() or f.exception())
        return before
    except TrimtabError:
        return before  # a schema file that cannot be read: its diagnostic says so
    return ts_completion.merge(now, before) if broken else now


async def _complete_ts(ls: TrimtabServer, params: t.CompletionParams
                       ) -> t.CompletionList | None:
    path = to_fs_path(params.text_document.uri)
    project = ls.project_for(path) if path else None
    if path is None or project is None or project.cfg is None or not project.cfg.drizzle \
            or not project.owns_schema(path):
        return None
    doc = ls.workspace.get_text_document(params.text_document.uri)
    texts = _schema_texts(ls, project)
    texts[path] = doc.source
    cat = await _ts_catalog(project, texts)
    if cat is None:
        return None
    live, _ = await _live_for_completion(project)
    items = ts_completion.complete(
        doc.source, positions.to_offset(doc.lines, params.position, doc.position_codec),
        cat, live, project.cfg.casing,
        tuple(e.name for e in live.extensions.values()) if live is not None else (),
        tsx=path.endswith(".tsx"), path=path)

    def edit(offset: int, text: str) -> t.TextEdit:
        at = positions.to_client(doc.lines, *positions.offset_position(doc.source, offset),
                                 doc.position_codec)
        return t.TextEdit(range=t.Range(start=at, end=at), new_text=text)

    return t.CompletionList(is_incomplete=False, items=[t.CompletionItem(
        label=i.label, kind=_ITEM_KINDS.get(i.kind), detail=i.detail or None,
        insert_text=i.insert, sort_text=f"{n:04d}",
        insert_text_format=t.InsertTextFormat.Snippet if i.snippet else None,
        additional_text_edits=[edit(*e) for e in i.edits] if isinstance(
            i, ts_completion.TsItem) and i.edits else None)
        for n, i in enumerate(items)])


# -- references, workspace symbols, folding, signature help (SQL schema files) ---------------


def _nav_texts(ls: TrimtabServer, project: Project) -> dict[str, str]:
    """Every schema file of the project: the open buffer, else the file on disk (read
    again only when it changed)."""
    out = {}
    for f in project.schema_files():
        doc = ls.workspace.text_documents.get(from_fs_path(f) or "")
        text = doc.source if doc is not None else navigate.disk_text(f)
        if text is not None:
            out[f] = text
    return out


def _nav_at(ls: TrimtabServer, uri: str) -> tuple[Project, str, Any, list[Statement]] | None:
    """A SQL schema document and the statements of all the project's schema files."""
    found = _sql_schema_doc(ls, uri)
    if found is None:
        return None
    project, path, doc = found
    texts = _nav_texts(ls, project)
    texts[path] = doc.source
    return project, path, doc, navigate.statements_of(texts)


# file -> (text, its lines): ranges in files other than the one asked about
_nav_lines: dict[str, tuple[str, tuple[str, ...]]] = {}


def _nav_location(ls: TrimtabServer, file: str, start: int, end: int) -> t.Location | None:
    doc = ls.workspace.text_documents.get(from_fs_path(file) or "")
    text = doc.source if doc is not None else navigate.disk_text(file)
    if text is None:
        return None
    cached = _nav_lines.get(file)
    if cached is None or cached[0] is not text:
        cached = _nav_lines[file] = (text, positions.split_lines(text))
    lines, codec = cached[1], ls.workspace.position_codec
    a, b = positions.offset_position(text, start), positions.offset_position(text, end)
    return t.Location(uri=from_fs_path(file) or file, range=t.Range(
        start=positions.to_client(lines, *a, codec), end=positions.to_client(lines, *b, codec)))


@server.feature(t.TEXT_DOCUMENT_REFERENCES)
def find_references(ls: TrimtabServer, params: t.ReferenceParams) -> list[t.Location] | None:
    found = _nav_at(ls, params.text_document.uri)
    if found is None:
        return None
    _, path, doc, statements = found
    offset = positions.to_offset(doc.lines, params.position, doc.position_codec)
    key = navigate.target_at(statements, path, offset)
    if key is None:
        return None
    refs = navigate.references(statements, key, params.context.include_declaration)
    return [loc for r in refs if (loc := _nav_location(ls, r.file, r.start, r.end))]


def _drizzle_name(key: tuple[str, ...]) -> tuple[str, str | None]:
    """(name, the table it is under) of an object of a schema.ts read."""
    if key[0] == "schema":
        return key[1], None
    if key[0] in ("column", "constraint", "trigger", "policy"):
        return key[3], key[2]
    return key[2], None  # a table, view, type, sequence, function or index


@server.feature(t.WORKSPACE_SYMBOL)
async def workspace_symbol(ls: TrimtabServer, params: t.WorkspaceSymbolParams
                           ) -> list[t.SymbolInformation]:
    out: list[t.SymbolInformation] = []
    query = params.query.strip().lower()
    for project in list(ls.projects.values()):
        if project.cfg is None:
            continue
        if project.cfg.drizzle:
            # schema.ts: the objects its last read placed (read now if it was not yet)
            ds = project.drizzle
            if ds is None:
                with contextlib.suppress(Exception):
                    ds, _ = await _in_thread(engine.read_drizzle_schema, project.cfg,
                                             ls.texts_for(project))
            for key, span in (ds.spans if ds is not None else {}).items():
                name, parent = _drizzle_name(key)
                if not navigate.matches(query, name):
                    continue
                loc = _nav_location(ls, span.file, span.start_offset, span.end_offset)
                if loc is not None:
                    out.append(t.SymbolInformation(
                        name=name, kind=_SYMBOL_KINDS.get(key[0], t.SymbolKind.Object),
                        location=loc, container_name=parent))
            continue
        texts = _nav_texts(ls, project)
        for s, parent in navigate.workspace_symbols(navigate.statements_of(texts), query):
            loc = _nav_location(ls, s.selection.file, s.selection.start_offset,
                                s.selection.end_offset)
            if loc is not None:
                out.append(t.SymbolInformation(
                    name=s.name, kind=_SYMBOL_KINDS.get(s.kind, t.SymbolKind.Object),
                    location=loc, container_name=parent))
    return out


@server.feature(t.TEXT_DOCUMENT_FOLDING_RANGE)
def folding_range(ls: TrimtabServer, params: t.FoldingRangeParams) -> list[t.FoldingRange]:
    path = to_fs_path(params.text_document.uri)
    doc = ls.workspace.text_documents.get(params.text_document.uri)
    if path is None or doc is None or not path.endswith(".sql"):
        return []
    statements = navigate.statements_of({path: doc.source})
    return [t.FoldingRange(start_line=a, end_line=b, kind=t.FoldingRangeKind.Comment
                           if kind == "comment" else None)
            for a, b, kind in navigate.folding_ranges(doc.source, statements)]


# (project root) -> (the live model the answers were read with, (schema, name) -> them)
_catalog_signatures: dict[Path, tuple[int, dict[tuple[str | None, str],
                                                 list[navigate.Signature]]]] = {}


async def _live_signatures(project: Project, schema: str | None, name: str
                           ) -> list[navigate.Signature]:
    """The overloads the live database's catalog has (built-ins, extensions), cached until
    the live model is read again. Nothing when untrusted or unreachable."""
    if not project.trusted or project.cfg is None or project.live_error is not None:
        return []
    cached = _catalog_signatures.get(project.root)
    if cached is None or cached[0] != id(project.live):
        cached = _catalog_signatures[project.root] = (id(project.live), {})
    if (schema, name) not in cached[1]:
        sigs: list[navigate.Signature] = []
        with contextlib.suppress(Exception):  # no answer beats a failed request
            url = engine.resolve_target(project.cfg).url
            sigs = await _in_thread(navigate.catalog_signatures, url, schema, name)
        cached[1][(schema, name)] = sigs
    return cached[1][(schema, name)]


@server.feature(t.TEXT_DOCUMENT_SIGNATURE_HELP,
                t.SignatureHelpOptions(trigger_characters=["(", ","],
                                       retrigger_characters=[","]))
async def signature_help(ls: TrimtabServer, params: t.SignatureHelpParams
                         ) -> t.SignatureHelp | None:
    found = _nav_at(ls, params.text_document.uri)
    if found is None:
        return None
    project, path, doc, statements = found
    offset = positions.to_offset(doc.lines, params.position, doc.position_codec)
    before, _ = completion.statement_before(
        doc.source, [st for st in statements if st.span.file == path], offset)
    call = navigate.call_at(before)
    if call is None:
        return None
    (schema, name), qualified, arg = call
    sigs = navigate.schema_signatures(statements, schema, name, qualified)
    if not sigs:
        sigs = await _live_signatures(project, schema if qualified else None, name)
    if not sigs:
        return None
    active = next((k for k, s in enumerate(sigs) if arg < len(s.parameters)), 0)
    return t.SignatureHelp(
        signatures=[t.SignatureInformation(
            label=s.label, documentation=s.documentation or None,
            parameters=[t.ParameterInformation(label=(
                doc.position_codec.client_num_units(s.label[:a]),
                doc.position_codec.client_num_units(s.label[:b])))
                for a, b in s.offsets])
            for s in sigs],
        active_signature=active, active_parameter=arg)
# -- formatting (trimtab.sqlformat: only blanks between tokens change) -----------------------
#
# Schema files only: a migration's text is checksummed once applied, so it is never
# re-laid out. A file that cannot be formatted safely gets no edits.


@server.feature(t.TEXT_DOCUMENT_FORMATTING)
async def format_document(ls: TrimtabServer, params: t.DocumentFormattingParams
                          ) -> list[t.TextEdit] | None:
    found = _sql_schema_doc(ls, params.text_document.uri)
    if found is None:
        return None
    doc = found[2]
    old = doc.source
    edits = await asyncio.to_thread(sqlformat.format_edits, old)
    return _offset_edits(old, edits, doc.position_codec)


@server.feature(t.TEXT_DOCUMENT_RANGE_FORMATTING)
async def format_range(ls: TrimtabServer, params: t.DocumentRangeFormattingParams
                       ) -> list[t.TextEdit] | None:
    """The statements the range touches, each whole, with the comments that follow it."""
    found = _sql_schema_doc(ls, params.text_document.uri)
    if found is None:
        return None
    doc = found[2]
    old = doc.source
    a = positions.to_offset(doc.lines, params.range.start, doc.position_codec)
    b = positions.to_offset(doc.lines, params.range.end, doc.position_codec)
    edits = await asyncio.to_thread(sqlformat.format_edits, old, a, max(a + 1, b))
    return _offset_edits(old, edits, doc.position_codec)


def _offset_edits(text: str, edits: list[sqlformat.Edit], codec: PositionCodec,
                  ) -> list[t.TextEdit]:
    """The formatter's edits (character offsets, in order, not overlapping) as the client's
    text edits: one per statement that changes. Not a line diff of the two texts, which
    takes minutes on a file of thousands of similar lines."""
    lines = positions.split_lines(text)
    starts = list(itertools.accumulate((len(line) for line in lines), initial=0))

    def at(offset: int) -> t.Position:
        line = bisect.bisect_right(starts, offset) - 1
        return positions.to_client(lines, line, offset - starts[line], codec)

    return [t.TextEdit(range=t.Range(start=at(e.start), end=at(e.end)), new_text=e.new)
            for e in edits]


# -- semantic tokens and inlay hints (trimtab.lsp.tokens) ------------------------------------

_LEGEND = t.SemanticTokensLegend(token_types=list(tokens.TYPES),
                                 token_modifiers=list(tokens.MODIFIERS))


def _tokens_of(ls: TrimtabServer, uri: str, span: t.Range | None) -> list[int] | None:
    found = _nav_at(ls, uri)
    if found is None:
        return None
    _, path, doc, statements = found
    codec = doc.position_codec
    lines = doc.lines
    a, b = 0, None
    if span is not None:
        a = positions.to_offset(lines, span.start, codec)
        b = positions.to_offset(lines, span.end, codec)
    return tokens.semantic_tokens(doc.source, lines, statements, path, codec.client_num_units,
                                  a, b)


@server.feature(t.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL, _LEGEND)
def semantic_tokens_full(ls: TrimtabServer, params: t.SemanticTokensParams
                         ) -> t.SemanticTokens | None:
    data = _tokens_of(ls, params.text_document.uri, None)
    return None if data is None else t.SemanticTokens(data=data)


@server.feature(t.TEXT_DOCUMENT_SEMANTIC_TOKENS_RANGE, _LEGEND)
def semantic_tokens_range(ls: TrimtabServer, params: t.SemanticTokensRangeParams
                          ) -> t.SemanticTokens | None:
    data = _tokens_of(ls, params.text_document.uri, params.range)
    return None if data is None else t.SemanticTokens(data=data)


@server.feature(t.TEXT_DOCUMENT_INLAY_HINT)
def inlay_hint(ls: TrimtabServer, params: t.InlayHintParams) -> list[t.InlayHint] | None:
    """Live row counts after table names (``inlayHints.rowCounts``): the sizes the last
    refresh read from the catalog, only in a trusted workspace; the file runs nowhere."""
    found = _sql_schema_doc(ls, params.text_document.uri)
    if found is None:
        return None
    project, _, _ = found
    if not project.settings.inlay_row_counts or not project.trusted or not project.sizes:
        return []
    found_nav = _nav_at(ls, params.text_document.uri)
    if found_nav is None:
        return None
    _, path, doc, statements = found_nav
    lines, codec = doc.lines, doc.position_codec
    a = positions.to_offset(lines, params.range.start, codec)
    b = positions.to_offset(lines, params.range.end, codec)
    out = []
    for h in tokens.row_counts(statements, path, project.sizes, a, b):
        line, col = positions.offset_position(doc.source, h.offset)
        out.append(t.InlayHint(position=positions.to_client(lines, line, col, codec),
                               label=h.label, padding_left=True,
                               tooltip="rows in the live database (the planner's estimate)"))
    return out


# -- commands ----------------------------------------------------------------------------------


def _project_of(ls: TrimtabServer, uri: str | None) -> Project:
    if uri:
        path = to_fs_path(uri)
        project = ls.project_for(path) if path else None
        if project is not None:
            return project
    if len(ls.projects) == 1:
        return next(iter(ls.projects.values()))
    raise TrimtabError("no trimtab project for this file",
                       hint="open a folder that holds trimtab.toml")


async def _run(ls: TrimtabServer, title: str, fn: Callable[[], Any]) -> Any:
    """Run engine work in a thread with $/progress around it (when the client can show it)."""
    token = str(uuid.uuid4())
    caps = ls.client_capabilities.window
    progress = bool(caps and caps.work_done_progress)
    if progress:
        try:
            await ls.work_done_progress.create_async(token)
            ls.work_done_progress.begin(token, t.WorkDoneProgressBegin(title=title))
        except Exception:
            progress = False
    try:
        return await _in_thread(fn)
    finally:
        if progress:
            ls.work_done_progress.end(token, t.WorkDoneProgressEnd(message="done"))


def _ask_from_thread(ls: TrimtabServer, loop: asyncio.AbstractEventLoop, message: str,
                     yes: str) -> bool:
    """Ask the user from a worker thread; no answer in 10 minutes is no."""
    future = asyncio.run_coroutine_threadsafe(ls.window_show_message_request_async(
        t.ShowMessageRequestParams(type=t.MessageType.Warning, message=message,
                                   actions=[t.MessageActionItem(title=yes),
                                            t.MessageActionItem(title="Cancel")])), loop)
    try:
        answer = future.result(timeout=600)
    except Exception:
        return False
    return answer is not None and answer.title == yes


def _hazard_lines(plan: Plan) -> str:
    # Editors show a message on one line: "; " reads there, a Markdown list does not.
    return "; ".join(h.text for s in plan.steps for h in s.hazards if h.needs_consent)


def _consent_text(headline: str, plan: Plan) -> str:
    """A consent question: one line that a toast can show, then, after a blank line, the
    whole plan (every change, its hazards, its SQL) for a client that shows details (the
    VS Code extension puts it in a modal)."""
    out = []
    for step in plan.steps:
        out.append(f"-- {step.change.describe()}\n")
        out += [f"-- {h.severity}: {h.text}\n" for h in step.hazards]
        out += [f"{layout(s)};\n" for s in step.sql]
    return redact_message(f"{headline}\n\n{''.join(out)}")


# The engine's advice speaks to the command line; in the editor the same choice is
# the consent question of the command just run.
_EDITOR_WORDING = (
    (re.compile(r"Re-run with --force to ([^,.]+)"), r"Run it again and confirm to \1"),
    (re.compile(r"--force does not apply here: "), ""),
    (re.compile(r"Or pass --force to drop and create them\."),
     "Or run it again and choose to drop and create them."),
    (re.compile(r", or pass --force to write it anyway"), ""),
    (re.compile(r"push with --force and run `trimtab migrate --mark-applied` after"),
     "push and confirm, then run Mark applied"),
    (re.compile(r"\s*\(?--force\b[^.;)]*\)?"), ""),  # whatever else: no CLI flag in the editor
)


def _for_editor(text: str) -> str:
    for pattern, repl in _EDITOR_WORDING:
        text = pattern.sub(repl, text)
    return text


def _message(ls: TrimtabServer, text: str, kind: t.MessageType = t.MessageType.Info) -> None:
    ls.window_show_message(t.ShowMessageParams(type=kind,
                                               message=_for_editor(redact_message(text))))


async def _command(ls: TrimtabServer, title: str, uri: str | None,
                   fn: Callable[[Project, asyncio.AbstractEventLoop], dict[str, Any]],
                   ) -> dict[str, Any]:
    try:
        project = _project_of(ls, uri)
        if not project.trusted:
            raise TrimtabError(UNTRUSTED, hint=UNTRUSTED_HINT)
        if project.cfg is None:
            raise TrimtabError(project.config_error or "the project's configuration is invalid")
        loop = asyncio.get_running_loop()
        result = await _run(ls, title, lambda: fn(project, loop))
    except ConsentRequired as e:
        _message(ls, f"trimtab: {e}", t.MessageType.Warning)
        return {"ok": False, "error": e.as_dict()}
    except TrimtabError as e:
        _message(ls, f"trimtab: {e}", t.MessageType.Error)
        return {"ok": False, "error": e.as_dict()}
    _message(ls, f"trimtab: {result['message']}")
    await ls.refresh(project)
    return {"ok": True, **result}


def _arg(args: tuple[Any, ...], i: int) -> str | None:
    """Optional command arguments: pygls passes what the client sent, no more."""
    value = args[i] if len(args) > i else None
    return value if isinstance(value, str) and value else None


@server.command("trimtab.push")
async def push_command(ls: TrimtabServer, *args: Any) -> dict[str, Any]:
    uri = _arg(args, 0)
    def work(project: Project, loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
        assert project.cfg is not None

        def consent(plan: Plan) -> bool:
            return _ask_from_thread(ls, loop, _consent_text(
                "trimtab: this push loses data: " + _hazard_lines(plan), plan), "Apply")
        cfg = project.cfg
        applied_migrations = _has_history(cfg)
        if applied_migrations and not _ask_from_thread(
                ls, loop, "trimtab: this database has applied migrations; a push makes it "
                          "diverge from that history (drift). Push anyway?", "Push"):
            raise ConsentRequired("push cancelled: nothing was applied")
        def overtake(names: tuple[str, ...]) -> bool:
            return _ask_from_thread(ls, loop, f"trimtab: {engine.overtake_text(names)}. Push "
                                    "anyway (then record it with Mark applied)?", "Push")
        result = engine.push(cfg, consent=consent, overtake=overtake)
        n = len(result.plan.steps)
        if not result.applied:
            return {"message": "the database already matches the schema", "applied": 0}
        k = len(result.plan.statements)
        return {"message": f"applied {n} change{'s' if n != 1 else ''} "
                           f"({k} statement{'s' if k != 1 else ''})", "applied": n}
    return await _command(ls, "trimtab: push", uri, work)


def _has_history(cfg: Any) -> bool:
    try:
        st = engine.status(cfg)
    except TrimtabError:
        return False
    return bool(st.applied)


@server.command("trimtab.generate")
async def generate_command(ls: TrimtabServer, *args: Any) -> dict[str, Any]:
    uri, name = _arg(args, 0), _arg(args, 1)
    def work(project: Project, loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
        assert project.cfg is not None

        def consent(plan: Plan) -> bool:
            return _ask_from_thread(ls, loop, _consent_text(
                "trimtab: this migration loses data: " + "; ".join(
                    h.text for h in plan.hazards if h.category == "data-loss"), plan),
                "Write it")
        result = engine.generate(project.cfg, name=name or None, consent=consent)
        if result.migration is None:
            return {"message": "nothing to generate: the migrations already produce the "
                               "schema", "file": None}
        path = str(result.migration.path)
        return {"message": f"wrote {Path(path).name} ({len(result.plan.steps)} changes)",
                "file": path}
    out = await _command(ls, "trimtab: generate migration", uri, work)
    if out.get("file"):
        with contextlib.suppress(Exception):
            await ls.window_show_document_async(t.ShowDocumentParams(
                uri=from_fs_path(out["file"]) or out["file"], take_focus=False))
    return out


@server.command("trimtab.migrate")
async def migrate_command(ls: TrimtabServer, *args: Any) -> dict[str, Any]:
    uri = _arg(args, 0)
    def work(project: Project, loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
        assert project.cfg is not None
        result, _ = engine.migrate(project.cfg)
        done = [r.name for r in result.runs if r.status == "applied"]
        if not done:
            return {"message": "up to date: no pending migration", "applied": []}
        return {"message": f"applied {len(done)} migration{'s' if len(done) != 1 else ''}: "
                           + ", ".join(done), "applied": done}
    return await _command(ls, "trimtab: migrate", uri, work)


@server.command("trimtab.markApplied")
async def mark_applied_command(ls: TrimtabServer, *args: Any) -> dict[str, Any]:
    """``migrate --mark-applied``: record the pending migrations the database already has
    (checked against their replay), never running their SQL."""
    uri = _arg(args, 0)
    def work(project: Project, loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
        assert project.cfg is not None
        result, _ = engine.migrate(project.cfg, mark_applied=engine.MARK_VERIFIED)
        marked = [r.name for r in result.runs if r.status == "marked"]
        return {"message": "recorded as applied: " + ", ".join(marked), "marked": marked}
    return await _command(ls, "trimtab: mark applied", uri, work)


@server.command("trimtab.refresh")
async def refresh_command(ls: TrimtabServer, *args: Any) -> dict[str, Any]:
    uri = _arg(args, 0)
    projects = [_project_of(ls, uri)] if uri else list(ls.projects.values())
    for project in projects:
        await ls.refresh(project)
    return {"ok": True}


@server.command("trimtab.showPlan")
async def show_plan_command(ls: TrimtabServer, *args: Any) -> dict[str, Any]:
    """The pending plan as a SQL document (the client shows it beside the schema)."""
    project = _project_of(ls, _arg(args, 0))
    texts = ls.texts_for(project)
    if not project.trusted:
        return {"ok": False, "text": f"-- trimtab: {UNTRUSTED}\n-- {UNTRUSTED_HINT}\n"}
    if project.cfg is None:
        return {"ok": False, "text": f"-- {project.config_error}\n"}
    if project.exact is None or dict(project.exact.key) != texts:
        project.exact = await _in_thread(project.analyze_exact, texts)
        ls.save_when_idle(project, project.exact.later)
    return {"ok": True, "text": plan_document(project), "uri": "trimtab-plan:/plan.sql"}


def plan_document(project: Project) -> str:
    exact = project.exact
    out = ["-- trimtab: pending plan\n"]
    if project.live_error:
        out.append(f"-- database unreachable: {project.live_error}\n")
    elif exact is not None and exact.live_plan is not None:
        plan = exact.live_plan
        out.append(f"-- against the database: {plural(len(plan.steps), 'change')}\n")
        for step in plan.steps:
            out.append(f"\n-- {step.change.describe()}\n")
            for h in step.hazards:
                out.append(f"-- {h.severity}: {h.text} [{h.code}]\n")
            out += [f"{layout(s)};\n" for s in step.sql]
    errors = [f for items in (exact.findings.values() if exact else []) for f in items
              if f.severity == "error"]
    for f in errors:
        out.append(f"-- error: {f.message.splitlines()[0]}\n")
    if exact is not None and exact.snapshot_plan is not None and exact.snapshot_plan:
        out.append("\n-- not yet in a migration: "
                   f"{plural(len(exact.snapshot_plan.steps), 'change')}\n")
        out += [f"-- {s.change.describe()}\n" for s in exact.snapshot_plan.steps]
    return "".join(out)


@server.command("trimtab.writeRenameHint")
async def write_hint_command(ls: TrimtabServer, uri: str, rename: dict[str, Any]
                             ) -> dict[str, Any]:
    """Write a rename hint into the schema file (for clients without code action edits)."""
    from trimtab.plan.renames import Rename

    project = _project_of(ls, uri)
    assert project.cfg is not None
    r = Rename(rename["kind"], rename["schema"], rename["old"], rename["new"],
               rename.get("parent"))
    written = await _in_thread(engine.write_hints, project.cfg, [r])
    await ls.refresh(project)
    return {"ok": True, "files": [str(p) for p in written]}


def main(argv: list[str] | None = None) -> int:
    """Run over stdio (``--stdio``, which VS Code appends, is the only transport)."""
    log_file = os.environ.get("TRIMTAB_LSP_LOG")  # stderr goes to the client's output panel
    logging.basicConfig(level=logging.INFO if log_file else logging.WARNING,
                        filename=log_file or None)
    # pygls logs whole messages at INFO, settings (and their URLs) included: not ours to show.
    logging.getLogger("pygls").setLevel(logging.WARNING)
    # "Cancel notification for unknown message id": a request that finished before the
    # client cancelled it; normal, and VS Code shows stderr lines as errors.
    logging.getLogger("pygls.protocol").setLevel(logging.ERROR)
    allocator.steady()  # a long-lived process: big blocks mapped on their own
    server.start_io()
    return 0


