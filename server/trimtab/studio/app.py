"""The studio's HTTP side: a Starlette app behind a guard.

The guard, on every request:
- the Host header must be this server's loopback address and port (a page on another
  site that rebinds its DNS name to 127.0.0.1 is refused);
- the session token must come with it: the cookie (HttpOnly, SameSite=Strict) set when
  a link was opened, or ``Authorization: Bearer <token>``; else 401. The token never
  leaves the process: a link carries a one-time code instead (a browser's command line
  is visible to every user of the machine), good once and for CODE_SECONDS, which the
  first request trades for the cookie and a redirect to the bare address;
- a request that changes anything (any method but GET/HEAD) must also carry the page's
  anti-forgery token in ``X-Trimtab-Token``, and a foreign ``Origin`` or
  ``Sec-Fetch-Site`` is refused: another site can neither read that token nor send the
  header without a preflight that this server never grants.
Responses carry a strict Content-Security-Policy (nothing but this server's own assets).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import itertools
import json
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import psycopg
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trimtab import __version__
from trimtab.config import Config, scrub
from trimtab.errors import TrimtabError
from trimtab.studio import queries
from trimtab.studio.db import Pool
from trimtab.studio.insight import MAX_WAIT, Insight
from trimtab.studio.queries import Catalog, StudioError

STATIC = Path(__file__).parent / "static"
CSRF_HEADER = "x-trimtab-token"
MAX_BODY = 4 * 1024 * 1024
CODE_SECONDS = 120  # a link opens the studio once, within this time
_SAFE_METHODS = ("GET", "HEAD")
# undefined_column, undefined_table, undefined_object: the model the studio holds is old
_SCHEMA_CHANGED = ("42703", "42P01", "42704")
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'")


@dataclass
class Studio:
    """One running studio: its database, its token, and whether it may write."""

    cfg: Config
    url: str  # the database URL: never sent to the page
    label: str  # the database for people, password redacted
    port: int
    read_only: str | None = None  # why the studio does not write; None: it does
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    embedded: bool = False
    _codes: dict[str, float] = field(default_factory=dict, repr=False)  # code -> deadline
    _codes_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.pool = Pool(self.url, read_only=self.read_only is not None)
        self.catalog = Catalog(self.cfg.managed_schemas)
        self.insight = Insight(self.cfg)

    @property
    def csrf(self) -> str:
        """The anti-forgery token the page sends back in X-Trimtab-Token."""
        return hmac.new(self.token.encode(), b"trimtab studio csrf", hashlib.sha256).hexdigest()

    @property
    def cookie(self) -> str:
        # Cookies are shared by every port of a host: one name per studio.
        return f"trimtab_studio_{self.port}"

    @property
    def hosts(self) -> tuple[str, ...]:
        return (f"127.0.0.1:{self.port}", f"localhost:{self.port}")

    def new_link(self) -> str:
        """A URL that opens the studio once, within CODE_SECONDS: its code, not the
        session token, is what a browser's command line shows."""
        code = secrets.token_urlsafe(32)
        with self._codes_lock:
            now = time.monotonic()
            self._codes = {c: t for c, t in self._codes.items() if t > now}
            self._codes[code] = now + CODE_SECONDS
        return f"http://127.0.0.1:{self.port}/?code={code}"

    def redeem(self, code: str | None) -> bool:
        """Whether ``code`` is a live link's code; it is spent either way."""
        if not code:
            return False
        with self._codes_lock:
            found = next((c for c in self._codes if _same(code, c)), None)
            deadline = self._codes.pop(found) if found is not None else None
        return deadline is not None and deadline > time.monotonic()

    def close(self) -> None:
        self.insight.close()
        self.pool.close()


# -- the guard ----------------------------------------------------------------------------


def _cookie_token(headers: Headers, name: str) -> str | None:
    raw = headers.get("cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


def _same(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


class Guard:
    """Pure ASGI middleware: host, token and anti-forgery checks, security headers."""

    def __init__(self, app: ASGIApp, studio: Studio) -> None:
        self.app = app
        self.studio = studio

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._check(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                headers += [(b"content-security-policy", _CSP.encode()),
                            (b"x-content-type-options", b"nosniff"),
                            (b"x-frame-options", b"DENY"),
                            (b"referrer-policy", b"no-referrer"),
                            (b"cross-origin-resource-policy", b"same-origin"),
                            (b"cache-control", b"no-store")]
            await send(message)

        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    def _check(self, scope: Scope) -> Response | None:
        s = self.studio
        headers = Headers(scope=scope)
        if headers.get("host") not in s.hosts:
            return PlainTextResponse("this studio only answers at " + " or ".join(
                f"http://{h}" for h in s.hosts), status_code=403)
        token = _cookie_token(headers, s.cookie)
        auth = headers.get("authorization", "")
        bearer = auth[7:] if auth.lower().startswith("bearer ") else None
        signed_in = _same(token, s.token) or _same(bearer, s.token)
        if scope["path"] == "/" and scope["method"] in _SAFE_METHODS:
            from urllib.parse import parse_qs

            code = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("code")
            if code is not None:
                if not (s.redeem(code[0]) or signed_in):
                    return _unauthorized(scope["path"], link=True)
                # the code leaves the address bar (and the history) at once
                response = RedirectResponse("/", status_code=303)
                response.set_cookie(s.cookie, s.token, httponly=True, samesite="strict",
                                    path="/")
                return response
        if not signed_in:
            return _unauthorized(scope["path"])
        if scope["method"] not in _SAFE_METHODS:
            origin = headers.get("origin")
            if origin is not None and origin not in [f"http://{h}" for h in s.hosts]:
                return JSONResponse({"error": "cross-site request refused"}, 403)
            site = headers.get("sec-fetch-site")
            if site is not None and site not in ("same-origin", "none"):
                return JSONResponse({"error": "cross-site request refused"}, 403)
            if not _same(headers.get(CSRF_HEADER), s.csrf):
                return JSONResponse({"error": "missing or wrong X-Trimtab-Token header "
                                              "(reload the page)"}, 403)
        return None


def _unauthorized(path: str, link: bool = False) -> Response:
    if path.startswith("/api/"):
        return JSONResponse({"error": "no valid session: open a link that "
                                      "`trimtab studio` printed"}, 401)
    why = ("This link was used already or is more than "
           f"{CODE_SECONDS // 60} minutes old: each link opens the studio once."
           if link else "This studio opens from the link that <code>trimtab studio</code> "
           "printed.")
    return HTMLResponse(
        "<!doctype html><meta charset=utf-8><title>trimtab studio</title>"
        f"<p>{why}</p><p>For a new link, press Enter in the terminal where <code>trimtab "
        "studio</code> runs, or run <em>trimtab: Open Studio</em> again in the editor.</p>",
        401)


# -- endpoints ----------------------------------------------------------------------------

Handler = Callable[[Request], Awaitable[Response]]


def _json_param(request: Request, name: str) -> Any:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise StudioError(400, f"{name} is not valid JSON") from None


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise StudioError(400, f"{name} must be a whole number") from None


async def _body(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise StudioError(415, "send JSON (Content-Type: application/json)")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise StudioError(413, "request too large")
    try:
        body = json.loads(raw)
    except ValueError:
        raise StudioError(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise StudioError(400, "the body is a JSON object")
    return body


def _handle(fn: Handler, url: str = "") -> Handler:
    """Errors as JSON; libpq's messages may quote the connection string (``url``), so
    they are scrubbed of its password."""
    async def endpoint(request: Request) -> Response:
        try:
            return await fn(request)
        except StudioError as e:
            return JSONResponse(e.as_dict(), e.status)
        except TrimtabError as e:
            return JSONResponse({"error": scrub(str(e), url)}, 503)
        except psycopg.OperationalError as e:
            message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            return JSONResponse({"error": f"database unavailable: {scrub(message, url)}"},
                                503)
        except psycopg.Error as e:
            return JSONResponse({"error": scrub(e.diag.message_primary or str(e), url),
                                 "code": e.diag.sqlstate}, 500)
    return endpoint


def create_app(studio: Studio) -> ASGIApp:
    """The studio's ASGI app for ``studio`` (guarded)."""
    index_html = (STATIC / "index.html").read_text(encoding="utf-8")

    def db(work: Callable[..., Any], *args: Any, **kw: Any) -> Awaitable[Any]:
        def run() -> Any:
            with studio.pool.connection() as conn:
                try:
                    return work(conn, *args, **kw)
                except StudioError as e:
                    if e.code in _SCHEMA_CHANGED:  # read the model again next time
                        studio.catalog.forget()
                        e.hint = e.hint or ("the table changed since the studio read it: "
                                            "press Reload")
                    raise
        return run_in_threadpool(run)

    async def index(request: Request) -> Response:
        page = index_html.replace("{{csrf}}", html.escape(studio.csrf)).replace(
            "{{version}}", html.escape(__version__))
        return HTMLResponse(page)

    async def info(request: Request) -> Response:
        cfg = studio.cfg
        return JSONResponse({
            "version": __version__,
            "database": studio.label,
            "embedded": studio.embedded,
            "read_only": studio.read_only,
            "project": str(cfg.root),
            "schema_file": str(cfg.schema_path),
            "migrations": str(cfg.migrations_dir),
            "schemas": list(cfg.managed_schemas) if cfg.managed_schemas else None,
        })

    async def tables(request: Request) -> Response:
        refresh = request.query_params.get("refresh") == "1"
        groups = await db(lambda conn: queries.table_list(conn, studio.catalog,
                                                          refresh=refresh))
        return JSONResponse({"schemas": groups})

    def rel(conn: psycopg.Connection, request: Request | dict[str, Any]) -> queries.Rel:
        src = request.query_params if isinstance(request, Request) else request
        return studio.catalog.relation(conn, src.get("schema"), src.get("table"))

    async def table(request: Request) -> Response:
        meta = await db(lambda conn: rel(conn, request).to_json())
        return JSONResponse(meta)

    async def rows(request: Request) -> Response:
        q = request.query_params
        filters = _json_param(request, "filters")
        offset = _int_param(request, "offset")
        limit = _int_param(request, "limit") or queries.PAGE_SIZE
        result = await db(lambda conn: queries.page(
            conn, rel(conn, request), sort=q.get("sort"), direction=q.get("dir"),
            filters=filters, after=q.get("after") or None, before=q.get("before") or None,
            last=q.get("last") == "1", offset=offset, limit=limit))
        return JSONResponse(result)

    async def count(request: Request) -> Response:
        filters = _json_param(request, "filters")
        result = await db(lambda conn: queries.count(conn, rel(conn, request), filters))
        return JSONResponse(result)

    async def row(request: Request) -> Response:
        key = _json_param(request, "key")
        result = await db(lambda conn: queries.row(conn, rel(conn, request), key,
                                                   studio.catalog))
        return JSONResponse(result)

    async def update(request: Request) -> Response:
        body = await _body(request)
        result = await db(lambda conn: queries.update(
            conn, rel(conn, body), body.get("key"), body.get("values"), studio.read_only,
            body.get("original")))
        return JSONResponse({"row": result})

    async def insert(request: Request) -> Response:
        body = await _body(request)
        result = await db(lambda conn: queries.insert(
            conn, rel(conn, body), body.get("values"), studio.read_only))
        return JSONResponse({"row": result})

    async def delete(request: Request) -> Response:
        body = await _body(request)
        n = await db(lambda conn: queries.delete(conn, rel(conn, body), body.get("keys"),
                                                 studio.read_only))
        return JSONResponse({"deleted": n})

    async def delete_impact(request: Request) -> Response:
        keys = _json_param(request, "keys")
        result = await db(lambda conn: queries.delete_impact(conn, rel(conn, request), keys,
                                                             studio.catalog))
        return JSONResponse(result)

    async def export(request: Request) -> Response:
        """The view (filters, sort) as CSV, streamed from COPY. Errors in the request
        (a bad filter, a value of the wrong type) are found before the first byte, by
        reading the first chunk; a failure later breaks the download off (the browser
        shows it failed) rather than ending a truncated file as if it were whole."""
        q = request.query_params
        filters = _json_param(request, "filters")

        def chunks() -> Iterator[bytes]:
            with studio.pool.connection() as conn:
                r = rel(conn, request)
                query = queries.export_query(conn, r, sort=q.get("sort"),
                                             direction=q.get("dir"), filters=filters)
                try:
                    with conn.transaction():
                        conn.execute("SELECT set_config('statement_timeout', %s, true)",
                                     (queries.EXPORT_TIMEOUT,))
                        with conn.cursor().copy(query) as copy:
                            for data in copy:
                                yield bytes(data)
                except psycopg.Error as e:
                    if isinstance(e, psycopg.errors.QueryCanceled):
                        raise StudioError(504, "the export ran longer than "
                                               f"{queries.EXPORT_TIMEOUT}") from None
                    raise queries.query_error(conn, e, r, filters) from None

        stream = chunks()
        first = await run_in_threadpool(next, stream, b"")
        name = f"{q.get('schema')}.{q.get('table')}.csv".replace('"', "")
        return StreamingResponse(
            itertools.chain([first], stream), media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{name}"'})

    async def console(request: Request) -> Response:
        body = await _body(request)
        offset, limit = body.get("offset", 0), body.get("limit", queries.PAGE_SIZE)
        if not isinstance(offset, int) or not isinstance(limit, int):
            raise StudioError(400, "offset and limit are whole numbers")
        result = await db(lambda conn: queries.console(conn, body.get("sql"), offset=offset,
                                                       limit=limit))
        return JSONResponse(result)

    async def trimtab(request: Request) -> Response:
        refresh = request.query_params.get("refresh") == "1"
        try:
            wait = float(request.query_params.get("wait") or 0)
        except ValueError:
            raise StudioError(400, "wait is a number of seconds") from None
        if not 0 <= wait <= MAX_WAIT:  # also refuses nan
            raise StudioError(400, f"wait is between 0 and {MAX_WAIT:g} seconds")
        return JSONResponse(await run_in_threadpool(studio.insight.get, refresh, wait))

    async def not_found(request: Request) -> Response:
        return JSONResponse({"error": "not found"}, 404)

    def handle(fn: Handler) -> Handler:
        return _handle(fn, studio.url)

    routes = [
        Route("/", handle(index), methods=["GET"]),
        Route("/api/info", handle(info), methods=["GET"]),
        Route("/api/tables", handle(tables), methods=["GET"]),
        Route("/api/table", handle(table), methods=["GET"]),
        Route("/api/rows", handle(rows), methods=["GET"]),
        Route("/api/count", handle(count), methods=["GET"]),
        Route("/api/row", handle(row), methods=["GET"]),
        Route("/api/update", handle(update), methods=["POST"]),
        Route("/api/insert", handle(insert), methods=["POST"]),
        Route("/api/delete", handle(delete), methods=["POST"]),
        Route("/api/delete-impact", handle(delete_impact), methods=["GET"]),
        Route("/api/export", handle(export), methods=["GET"]),
        Route("/api/console", handle(console), methods=["POST"]),
        Route("/api/trimtab", handle(trimtab), methods=["GET"]),
        Route("/api/{rest:path}", handle(not_found)),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Guard(Starlette(routes=routes), studio)
