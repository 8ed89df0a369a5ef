"""trimtab's language server side by side with the Postgres Language Server.

``python -m bench.peers_lsp [--tables 1000] [--edits 10] [--requests 10] [--repeats 3]``
pushes bench.generate's schema into a fresh database (plus one table only the database
has, to tell completion from the live catalog from completion from the file), then, for
each server in turn and ``--repeats`` times, starts it over stdio on a project folder
holding that ``schema.sql`` and its configuration (``trimtab.toml``;
``postgres-language-server.jsonc``), opens the file and measures:

- the first diagnostics after ``didOpen``;
- keystroke -> diagnostics: single-statement edits sent as incremental changes (as
  bench.lsp sends them), each waited out: the first ``publishDiagnostics`` after it;
- completion after ``REFERENCES `` on a new column line, and hover on a table name (the
  target of a ``REFERENCES``), each request answered in turn;
- the peak resident memory (VmHWM) of the server's processes (pgls: the ``lsp-proxy``
  and the daemon it starts).

Then it probes the features of the feature table: each is "yes" when the server advertises
it in its ``initialize`` answer (where the protocol has a capability for it) and a probe
request or edit gets a real answer. The Postgres Language Server (npm
``@postgres-language-server/cli``, pinned) is installed on first use into the benchmark's
cache folder. Reports ratios first (trimtab / pgls, medians over the repeats), then the
raw numbers and the feature table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from lsprotocol import types as t
from psycopg import sql as pgsql
from psycopg.conninfo import conninfo_to_dict
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

from bench.common import Server, cache_root, find_psql, log, open_server, trimtab_path
from bench.generate import generate_sql
from bench.lsp import _TABLE_HEAD, percentile
from bench.peers import INSTALL_TIMEOUT, _lock

PGLS = "0.25.5"
PGLS_PACKAGE = "@postgres-language-server/cli"
# The table only the database has (created after the push): completion that offers it
# reads the live catalog.
LIVE_ONLY = "bench_live_only_table"
ADDED = "    bench_edit_{i} integer,\n"
REF_LINE = "    bench_ref_id integer REFERENCES "
_REFERENCES = re.compile(r"REFERENCES (t\d+_\w+)")


# --- the Postgres Language Server -------------------------------------------------------


def _pgls_exe(root: Path) -> Path | None:
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}.get(
        platform.machine().lower())
    system = {"linux": "linux-gnu", "darwin": "apple-darwin"}.get(sys.platform)
    if arch is None or system is None:
        return None
    exe = (root / "node_modules" / "@postgres-language-server" / f"cli-{arch}-{system}"
           / "postgres-language-server")
    return exe if exe.exists() else None


def pgls_missing() -> str | None:
    if shutil.which("npm") is None:
        return "npm is not installed (the Postgres Language Server comes from npm)"
    return None


def ensure_pgls() -> Path:
    """The pinned Postgres Language Server's binary, installed from npm on first use. The
    binary itself, as the VS Code extension runs it (the npm package's ``bin`` is a node
    wrapper that only picks the platform's binary)."""
    d = cache_root() / f"pgls-{PGLS}"
    if (exe := _pgls_exe(d)) is not None:
        return exe
    with _lock(d.parent / f".{d.name}.lock"):
        if (exe := _pgls_exe(d)) is not None:
            return exe
        log(f"installing {PGLS_PACKAGE}@{PGLS} into {d}")
        d.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(d),
                            f"{PGLS_PACKAGE}@{PGLS}"], capture_output=True, text=True,
                           timeout=INSTALL_TIMEOUT, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError(f"npm install failed ({r.returncode}): {r.stderr.strip()[-500:]}")
    exe = _pgls_exe(d)
    if exe is None:
        raise RuntimeError(f"{PGLS_PACKAGE}@{PGLS} has no binary for this platform")
    return exe


def pgls_config(url: str) -> dict[str, object]:
    """``postgres-language-server.jsonc`` for the database at ``url`` (its fields, so a
    Unix-socket host is passed as the socket's folder)."""
    info = conninfo_to_dict(url)
    db: dict[str, object] = {
        "host": info.get("host") or "localhost",
        "port": int(str(info.get("port") or 5432)),
        "username": info.get("user") or "postgres",
        "database": info.get("dbname") or "postgres",
        "connTimeoutSecs": 10,
    }
    if info.get("password"):
        db["password"] = info["password"]
    return {"db": db}


# --- one session ------------------------------------------------------------------------


@dataclass
class Session:
    """What one server did in one run."""

    first_diagnostics: float = 0.0
    first_exact: float | None = None
    keystroke: list[float] = field(default_factory=list)
    exact: list[float] = field(default_factory=list)  # trimtab: until its exact path refined
    completion: list[float] = field(default_factory=list)
    hover: list[float] = field(default_factory=list)
    peak_rss: int | None = None
    capabilities: dict[str, Any] = field(default_factory=dict)
    features: dict[str, str] = field(default_factory=dict)  # feature -> "yes"/"no"/note
    probe_messages: dict[str, list[str]] = field(default_factory=dict)  # what probes saw


def _caps_json(caps: t.ServerCapabilities) -> dict[str, Any]:
    from pygls.protocol import default_converter

    out = default_converter().unstructure(caps)
    return out if isinstance(out, dict) else {}


def _hwm(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _pgls_pids(exe: Path, since: float) -> list[int]:
    """The processes of ``exe`` started since ``since`` (the proxy and its daemon)."""
    import psutil  # type: ignore[import-untyped]

    pids = []
    for p in psutil.process_iter(["pid", "exe", "create_time"]):
        with contextlib.suppress(psutil.Error):
            if p.info["exe"] == str(exe) and p.info["create_time"] >= since - 1:
                pids.append(p.info["pid"])
    return pids


def _text(result: Any) -> str:
    """The text of a hover's contents (any of the protocol's shapes)."""
    if result is None:
        return ""
    c = getattr(result, "contents", result)
    if isinstance(c, list):
        return "\n".join(_text(x) for x in c)
    return str(getattr(c, "value", c))


async def _session(kind: str, cmd: list[str], root: Path, schema: str, edits: int,
                   requests: int, probe: bool, env: dict[str, str]) -> Session:
    s = Session()
    client = LanguageClient("trimtab-bench", "1")
    uri = from_fs_path(str(root / "schema.sql")) or ""
    publishes: list[tuple[float, int | None, list[t.Diagnostic]]] = []
    exact_done: dict[int, float] = {}
    changed = asyncio.Event()

    @client.feature(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: t.PublishDiagnosticsParams) -> None:
        if params.uri == uri:
            publishes.append((time.perf_counter(), params.version, list(params.diagnostics)))
            changed.set()

    @client.feature("trimtab/status")
    def on_status(params: Any) -> None:
        for doc in getattr(params, "documents", None) or ():
            v = getattr(doc, "version", None)
            if isinstance(v, int) and v not in exact_done:
                exact_done[v] = time.perf_counter()
        changed.set()

    @client.feature(t.WINDOW_SHOW_MESSAGE_REQUEST)
    def ask(params: t.ShowMessageRequestParams) -> None:
        return None

    @client.feature(t.CLIENT_REGISTER_CAPABILITY)
    def register(params: t.RegistrationParams) -> None:
        return None

    @client.feature(t.CLIENT_UNREGISTER_CAPABILITY)
    def unregister(params: t.UnregistrationParams) -> None:
        return None

    @client.feature(t.WINDOW_LOG_MESSAGE)
    def log_message(params: t.LogMessageParams) -> None:
        return None

    @client.feature(t.WORKSPACE_CONFIGURATION)
    def configuration(params: t.ConfigurationParams) -> list[None]:
        return [None for _ in params.items]

    async def until(check: Callable[[], bool], timeout: float = 600) -> None:
        deadline = time.perf_counter() + timeout
        while not check():
            changed.clear()
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{kind}: no answer in {timeout:.0f} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), 1)

    async def diagnostics_after(n_before: int, version: int, sent: float) -> float:
        """Time from ``sent`` to the first publish for ``version`` (or, from a server
        that does not say the version, the first publish after ``sent``)."""
        def arrived() -> bool:
            return any(v in (version, None) for _, v, _ in publishes[n_before:])
        await until(arrived)
        return next(at for at, v, _ in publishes[n_before:] if v in (version, None)) - sent

    async def settle(version: int, n_before: int) -> list[t.Diagnostic]:
        """The diagnostics once the server is done with ``version``: trimtab's exact
        path, or pgls's publishes after a quiet second."""
        if kind == "trimtab":
            await until(lambda: version in exact_done, 300)
        else:
            await until(lambda: len(publishes) > n_before, 120)
            while True:
                n = len(publishes)
                await asyncio.sleep(1.5)
                if len(publishes) == n:
                    break
        return publishes[-1][2] if publishes else []

    since = time.time()
    await client.start_io(cmd[0], *cmd[1:], env=env, cwd=str(root))
    pid = getattr(getattr(client, "_server", None), "pid", None)
    caps = t.ClientCapabilities(
        text_document=t.TextDocumentClientCapabilities(
            synchronization=t.TextDocumentSyncClientCapabilities(did_save=True),
            publish_diagnostics=t.PublishDiagnosticsClientCapabilities(version_support=True),
            completion=t.CompletionClientCapabilities(completion_item=t.ClientCompletionItemOptions(
                snippet_support=True)),
            hover=t.HoverClientCapabilities(content_format=[t.MarkupKind.Markdown]),
            rename=t.RenameClientCapabilities(prepare_support=True),
            code_action=t.CodeActionClientCapabilities(
                code_action_literal_support=t.ClientCodeActionLiteralOptions(
                    code_action_kind=t.ClientCodeActionKindOptions(value_set=list(
                        t.CodeActionKind))))),
        workspace=t.WorkspaceClientCapabilities(configuration=True, workspace_folders=True))
    init = await client.initialize_async(t.InitializeParams(
        capabilities=caps, root_uri=from_fs_path(str(root)),
        workspace_folders=[t.WorkspaceFolder(uri=from_fs_path(str(root)) or "", name="b")]))
    s.capabilities = _caps_json(init.capabilities)
    client.initialized(t.InitializedParams())

    doc = schema
    version = 1

    def send(new_doc: str, start: int, end: int, text: str) -> float:
        """Replace ``doc``'s lines [start, end) by ``text`` (an incremental change)."""
        nonlocal doc, version
        version += 1
        doc = new_doc
        sent = time.perf_counter()
        client.text_document_did_change(t.DidChangeTextDocumentParams(
            text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[t.TextDocumentContentChangePartial(
                range=t.Range(t.Position(start, 0), t.Position(end, 0)), text=text)]))
        return sent

    def insert_line(at_line: int, text: str) -> float:
        lines = doc.splitlines(keepends=True)
        return send("".join(lines[:at_line] + [text] + lines[at_line:]), at_line, at_line, text)

    def delete_line(at_line: int) -> float:
        lines = doc.splitlines(keepends=True)
        return send("".join(lines[:at_line] + lines[at_line + 1:]), at_line, at_line + 1, "")

    started = time.perf_counter()
    client.text_document_did_open(t.DidOpenTextDocumentParams(text_document=t.TextDocumentItem(
        uri=uri, language_id="sql", version=1, text=schema)))
    await until(lambda: bool(publishes))
    s.first_diagnostics = publishes[0][0] - started
    await settle(1, 0)
    if kind == "trimtab":
        s.first_exact = exact_done[1] - started

    heads = [m for m in _TABLE_HEAD.finditer(schema)]
    head_lines = [schema.count("\n", 0, m.end()) for m in heads]
    for i in range(edits):  # a column appears in one table, then goes again
        n = len(publishes)
        if i % 2 == 0:
            line = head_lines[(i * 7919) % len(head_lines)]
            sent = insert_line(line, ADDED.format(i=i))
        else:
            sent = delete_line(line)
        s.keystroke.append(await diagnostics_after(n, version, sent))
        await settle(version, n)  # each edit waited out, as a person pauses
        if kind == "trimtab":
            s.exact.append(exact_done[version] - sent)

    # completion after `REFERENCES ` on a new column line of a table in the middle
    line = head_lines[len(head_lines) // 2]
    n = len(publishes)
    insert_line(line, REF_LINE + "\n")
    await settle(version, n)
    at = t.Position(line, len(REF_LINE))
    labels: list[str] = []
    for _ in range(requests):
        sent = time.perf_counter()
        result = await client.text_document_completion_async(t.CompletionParams(
            text_document=t.TextDocumentIdentifier(uri=uri), position=at))
        s.completion.append(time.perf_counter() - sent)
        items = result.items if isinstance(result, t.CompletionList) else (result or [])
        labels = [it.label for it in items]
    n = len(publishes)
    delete_line(line)
    await settle(version, n)
    some_table = re.search(r"CREATE TABLE (t\d+_\w+)", schema)
    assert some_table is not None
    s.features["completion of tables after REFERENCES"] = _yes(
        some_table.group(1) in labels, f"{len(labels)} items")
    s.features["completion from the live catalog"] = _yes(LIVE_ONLY in labels)

    # hover on a table name: the target of a REFERENCES in the middle of the file
    ref = next(m for m in _REFERENCES.finditer(doc, len(doc) // 2))
    ref_line = doc.count("\n", 0, ref.start(1))
    ref_pos = t.Position(ref_line, ref.start(1) - (doc.rfind("\n", 0, ref.start(1)) + 1) + 2)
    hover_text = ""
    for _ in range(requests):
        sent = time.perf_counter()
        h = await client.text_document_hover_async(t.HoverParams(
            text_document=t.TextDocumentIdentifier(uri=uri), position=ref_pos))
        s.hover.append(time.perf_counter() - sent)
        hover_text = _text(h)
    target = ref.group(1)
    target_def = re.search(rf"CREATE TABLE {target} \((.*?)\n\);", doc, re.S)
    own_cols = set()
    enclosing = doc.rfind("CREATE TABLE ", 0, ref.start())
    enclosing_def = doc[enclosing:doc.find("\n);", enclosing)]
    own_cols = {ln.split()[0] for ln in enclosing_def.splitlines()[1:] if ln.strip()}
    target_cols = [ln.split()[0] for ln in (target_def.group(1) if target_def else "").splitlines()
                   if ln.strip() and ln.split()[0] not in own_cols
                   and not ln.strip().startswith(("CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK"))]
    s.features["hover of the symbol under the cursor"] = _yes(
        target in hover_text and any(c in hover_text for c in target_cols),
        "" if hover_text else "no hover")
    s.peak_rss = _peak(kind, pid, cmd, since)

    if probe:
        await _probe(client, s, uri, doc, ref_pos, insert_line, delete_line, settle,
                     lambda: len(publishes), lambda: version)
    s.peak_rss = max(s.peak_rss or 0, _peak(kind, pid, cmd, since) or 0) or None
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.shutdown_async(None), 30)
    client.exit(None)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.stop(), 30)
    proc = getattr(client, "_server", None)
    if proc is not None and proc.returncode is None:  # pgls's lsp-proxy outlives `exit`
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
    return s


def _peak(kind: str, pid: int | None, cmd: list[str], since: float) -> int | None:
    if kind == "trimtab":
        return _hwm(pid) if pid else None
    return sum(_hwm(p) for p in _pgls_pids(Path(cmd[0]), since)) or None


def _yes(ok: bool, note: object = "") -> str:
    if isinstance(note, BaseException):  # the probe request failed: say how
        note = f"{type(note).__name__}: {note}".rstrip(": ")[:60]
    return ("yes" if ok else "no") + (f" ({note})" if note else "")


async def _request(client: LanguageClient, method: str, params: Any) -> tuple[bool, Any]:
    """(answered without error, result) of a request, given 120 s."""
    params_type = t.METHOD_TO_TYPES[method][2]
    typed: Any = client.protocol._converter.structure(params, params_type)  # type: ignore[arg-type]
    try:
        return True, await asyncio.wait_for(client.protocol.send_request_async(method, typed),
                                            120)
    except Exception as exc:  # an unsupported method answers with an error
        return False, exc


async def _probe(client: LanguageClient, s: Session, uri: str, doc: str, ref_pos: t.Position,
                 insert_line: Callable[[int, str], float], delete_line: Callable[[int], float],
                 settle: Any, count: Callable[[], int], version: Callable[[], int]) -> None:
    caps = s.capabilities

    def cap(name: str) -> bool:
        v = caps.get(name)
        return bool(v) and v is not False

    def said(diags: list[t.Diagnostic], pattern: str) -> bool:
        s.probe_messages.setdefault(pattern, [d.message for d in diags])
        return any(re.search(pattern, d.message, re.I) for d in diags)

    # Diagnostics in DDL: a table referencing a missing table and a missing type.
    end = doc.count("\n")
    n = count()
    for what, column in (("table", "x_id integer REFERENCES bench_no_such_table (id)"),
                         ("type", "y bench_no_such_type")):
        insert_line(end, f"CREATE TABLE bench_probe (id integer PRIMARY KEY, {column});\n")
        diags = await settle(version(), n)
        s.features[f"diagnostics: missing {what} in DDL"] = _yes(
            said(diags, f"bench_no_such_{what}"))
        n = count()
        delete_line(end)
        await settle(version(), n)
        n = count()

    # Data loss with its count: the column holding the seeded rows is removed.
    lines = doc.splitlines(keepends=True)
    seeded = next(i for i, ln in enumerate(lines) if ln.startswith(f"CREATE TABLE {SEEDED} ("))
    # a NOT NULL column with a default: each seeded row holds a value there
    col_line = next(i for i in range(seeded + 1, len(lines))
                    if "NOT NULL DEFAULT" in lines[i] and "[]" not in lines[i])
    n = count()
    delete_line(col_line)
    diags = await settle(version(), n)
    s.features["diagnostics: data loss with a row count"] = _yes(
        said(diags, rf"\b{SEEDED_ROWS}\b.*(rows?|values)"))
    n = count()
    insert_line(col_line, lines[col_line])
    await settle(version(), n)

    # A rename candidate: the same column under a new name.
    old = lines[col_line]
    name = old.split()[0]
    n = count()
    delete_line(col_line)
    await settle(version(), n)
    n = count()
    insert_line(col_line, old.replace(name, name + "_renamed", 1))
    diags = await settle(version(), n)
    s.features["diagnostics: rename candidate"] = _yes(said(diags, "renam"))
    n = count()
    delete_line(col_line)
    await settle(version(), n)
    n = count()
    insert_line(col_line, old)
    await settle(version(), n)

    pos_params = {"textDocument": {"uri": uri},
                  "position": {"line": ref_pos.line, "character": ref_pos.character}}
    ok, r = await _request(client, "textDocument/references",
                           {**pos_params, "context": {"includeDeclaration": True}})
    s.features["references"] = _yes(cap("referencesProvider") and ok and bool(r),
                                    f"{len(r)} locations" if ok and r else r)
    ok, r = await _request(client, "textDocument/rename", {**pos_params, "newName": "bench_x"})
    edits = 0
    if ok and r is not None:
        for ch in (getattr(r, "changes", None) or {}).values():
            edits += len(ch)
        for dc in getattr(r, "document_changes", None) or ():
            edits += len(getattr(dc, "edits", ()) or ())
    s.features["rename"] = _yes(cap("renameProvider") and edits > 0,
                                f"{edits} edits" if edits else r)
    ok, r = await _request(client, "textDocument/formatting",
                           {"textDocument": {"uri": uri},
                            "options": {"tabSize": 4, "insertSpaces": True}})
    s.features["formatting"] = _yes(cap("documentFormattingProvider") and ok
                                    and isinstance(r, (list, tuple)),
                                    f"{len(r)} edits" if ok and isinstance(r, (list, tuple))
                                    else r if not ok else f"answers {str(r)[:40]}")
    ok, r = await _request(client, "textDocument/semanticTokens/full", {"textDocument":
                                                                          {"uri": uri}})
    data = getattr(r, "data", None) if ok else None
    s.features["semantic tokens"] = _yes(cap("semanticTokensProvider") and bool(data),
                                         "" if ok else r)
    m = re.search(r"DEFAULT (\w+)\(", doc)
    if m:
        ln = doc.count("\n", 0, m.end())
        ch = m.end() - (doc.rfind("\n", 0, m.end()) + 1)
        ok, r = await _request(client, "textDocument/signatureHelp", {
            "textDocument": {"uri": uri}, "position": {"line": ln, "character": ch}})
        s.features["signature help"] = _yes(cap("signatureHelpProvider") and ok
                                            and bool(getattr(r, "signatures", None)),
                                            "" if ok else r)
    ok, r = await _request(client, "textDocument/foldingRange", {"textDocument": {"uri": uri}})
    s.features["folding ranges"] = _yes(cap("foldingRangeProvider") and ok and bool(r),
                                         "" if ok else r)
    ok, r = await _request(client, "workspace/symbol", {"query": "t0001"})
    s.features["workspace symbols"] = _yes(cap("workspaceSymbolProvider") and ok and bool(r),
                                           "" if ok else r)
    ok, r = await _request(client, "textDocument/codeAction", {
        "textDocument": {"uri": uri},
        "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
        "context": {"diagnostics": []}})
    titles = [str(getattr(a, "title", "")) for a in (r or [])] if ok else []
    commands = (caps.get("executeCommandProvider") or {}).get("commands") or []
    both = " ".join(titles + commands).lower()
    s.features["code actions: push / generate"] = _yes(
        cap("codeActionProvider") and "push" in both and "generate" in both)


# --- the runs ---------------------------------------------------------------------------

SEEDED_ROWS = 37  # rows in one table, so a removed column's data loss has a count
SEEDED = ""  # the seeded table's name, set by measure()


def _seed(url: str, schema: str) -> str:
    """SEEDED_ROWS rows in the first table (its columns past the key all have a default
    or allow NULL: it references no other), and the table only the database has; the
    seeded table's name."""
    name = re.findall(r"CREATE TABLE (t\d+_\w+) \(\n    id bigint GENERATED", schema)[0]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(pgsql.SQL("INSERT INTO {} SELECT FROM generate_series(1, %s)").format(
            pgsql.Identifier(name)), (SEEDED_ROWS,))
        conn.execute(pgsql.SQL("CREATE TABLE {} (id integer PRIMARY KEY, note text)").format(
            pgsql.Identifier(LIVE_ONLY)))
    return name


def measure(server: Server, tables: int, edits: int, requests: int, repeats: int,
            kinds: list[str]) -> dict[str, list[Session]]:
    global SEEDED
    schema = generate_sql(tables)
    exe = trimtab_path()
    pgls = ensure_pgls() if "pgls" in kinds else None
    out: dict[str, list[Session]] = {k: [] for k in kinds}
    db = server.fresh_db("peers_lsp")
    url = server.url(db)
    with tempfile.TemporaryDirectory(prefix="trimtab-bench-peers-lsp-") as work:
        root = Path(work)
        (root / "schema.sql").write_text(schema)
        (root / "trimtab.toml").write_text(f'schema = "schema.sql"\ndatabase_url = "{url}"\n')
        (root / "postgres-language-server.jsonc").write_text(json.dumps(pgls_config(url),
                                                                        indent=2))
        try:
            subprocess.run([str(exe), "push", "--force"], cwd=root, check=True,
                           capture_output=True)
            SEEDED = _seed(url, schema)
            for r in range(repeats):
                for kind in kinds:
                    log(f"{kind}: run {r + 1} of {repeats}")
                    env = dict(os.environ)
                    if kind == "trimtab":
                        cmd = [str(exe), "lsp", "--stdio"]
                    else:
                        assert pgls is not None
                        cmd = [str(pgls), "lsp-proxy", "--log-path", str(root / "pgls-logs"),
                               "--config-path", str(root)]
                    try:
                        out[kind].append(asyncio.run(_session(
                            kind, cmd, root, schema, edits, requests, r == 0, env)))
                    finally:
                        if kind == "pgls" and pgls is not None:
                            # lsp-proxy started a daemon: stop it, so each run starts afresh
                            subprocess.run([str(pgls), "stop"], cwd=root, capture_output=True,
                                           timeout=60)
        finally:
            subprocess.run([str(exe), "db", "clean"], cwd=root, capture_output=True)
            server.drop_db(db)
    return out


# --- the report -------------------------------------------------------------------------


def _med(values: list[float]) -> float:
    return statistics.median(values)


def summary(runs: list[Session]) -> dict[str, float | None]:
    """Medians over the runs of each run's figures."""
    def over(f: Callable[[Session], float | None]) -> float | None:
        vals = [v for v in (f(s) for s in runs) if v is not None]
        return _med(vals) if vals else None
    return {
        "first diagnostics": over(lambda s: s.first_diagnostics),
        "keystroke p50": over(lambda s: _med(s.keystroke) if s.keystroke else None),
        "keystroke p95": over(lambda s: percentile(s.keystroke, 95) if s.keystroke else None),
        "completion p50": over(lambda s: _med(s.completion)),
        "completion p95": over(lambda s: percentile(s.completion, 95)),
        "hover p50": over(lambda s: _med(s.hover)),
        "hover p95": over(lambda s: percentile(s.hover, 95)),
        "peak memory MiB": over(lambda s: s.peak_rss / 2**20 if s.peak_rss else None),
        "first exact (trimtab)": over(lambda s: s.first_exact),
        "keystroke -> exact p95 (trimtab)": over(
            lambda s: percentile(s.exact, 95) if s.exact else None),
    }


def render(results: dict[str, list[Session]], *, tables: int, edits: int, requests: int,
           repeats: int) -> str:
    sums = {k: summary(v) for k, v in results.items() if v}
    lines = [f"tables={tables} edits={edits} requests={requests} "
             f"repeats={repeats} (medians over the repeats)", ""]
    ms = {"peak memory MiB"}
    if "trimtab" in sums and "pgls" in sums:
        lines += ["| measure | trimtab / pgls |", "|---|---:|"]
        for key, a in sums["trimtab"].items():
            b = sums["pgls"].get(key)
            if a is not None and b:
                lines.append(f"| {key} | {a / b:.2f} |")
        lines.append("")
    kinds = list(sums)
    lines += ["| measure | " + " | ".join(kinds) + " |", "|---|" + "---:|" * len(kinds)]
    for key in next(iter(sums.values())):
        cells = []
        for k in kinds:
            v = sums[k][key]
            cells.append("" if v is None else f"{v:.0f}" if key in ms else f"{v * 1000:.0f} ms")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    lines.append("")
    features: list[str] = []
    for k in kinds:
        for f in results[k][0].features:
            if f not in features:
                features.append(f)
    lines += ["| feature | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    for f in features:
        lines.append(f"| {f} | " + " | ".join(results[k][0].features.get(f, "not probed")
                                             for k in kinds) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers_lsp", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--edits", type=int, default=10)
    parser.add_argument("--requests", type=int, default=10,
                        help="completion and hover requests per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--servers", default="trimtab,pgls")
    parser.add_argument("--dsn", help="maintenance URL of an existing server")
    parser.add_argument("--json", type=Path, help="also write the raw runs here")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 10 tables, 2 edits, 3 requests, 1 repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.tables, args.edits, args.requests, args.repeats = 10, 2, 3, 1
    kinds = [k for k in args.servers.split(",") if k]
    if "pgls" in kinds and (why := pgls_missing()):
        raise SystemExit(why)
    with open_server(args.dsn, find_psql(None)) as server:
        results = measure(server, args.tables, args.edits, args.requests, args.repeats, kinds)
    if args.json:
        args.json.write_text(json.dumps({k: [vars(s) for s in v] for k, v in results.items()},
                                        indent=1, default=str))
    print(render(results, tables=args.tables, edits=args.edits, requests=args.requests,
                 repeats=args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
