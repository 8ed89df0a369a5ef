"""``trimtab studio``: a local web app to browse and edit the database trimtab manages,
next to trimtab's own view of it (pending changes, hazards, migrations, drift).

It listens on 127.0.0.1 only and answers only requests that carry its session (a
one-time link's code, traded for a cookie);
see ``app`` for the guard, ``queries`` for the SQL and ``insight`` for trimtab's view.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import webbrowser
from collections.abc import Callable

import uvicorn

from trimtab import engine
from trimtab.config import Config
from trimtab.errors import ConfigError
from trimtab.studio.app import Studio, create_app

__all__ = ["Server", "Studio", "create_app", "read_only_reason"]

HOST = "127.0.0.1"


def read_only_reason(target: engine.Target, *, read_only: bool = False,
                     allow_writes: bool = False) -> str | None:
    """Why this studio must not write (None: it may): asked for, or a database on
    another machine without --allow-writes."""
    if read_only:
        return "started with --read-only"
    if target.embedded or allow_writes or engine.is_local(target.url):
        return None
    return ("the database is not on this machine: the studio does not write to it "
            "unless started with --allow-writes")


def _listen(port: int) -> socket.socket:
    # IPPROTO_TCP named explicitly: asyncio turns Nagle's algorithm off (TCP_NODELAY) only
    # on sockets that say so, and with it on, a response written in two parts (headers,
    # body) waits 40 ms for the client's delayed acknowledgement.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot listen on {HOST}:{port}: {e.strerror or e}",
                          hint="pass another --port, or leave it out for a free one") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class _Uvicorn(uvicorn.Server):
    """uvicorn's server, saying when its start-up is over (an event to wait for, where
    uvicorn has only a flag to poll): ``started`` then tells how it went."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.ready.set()

    def serve_on(self, sock: socket.socket) -> None:
        try:
            self.run(sockets=[sock])
        finally:  # also when it failed before its start-up
            self.ready.set()


class Server:
    """A studio served by uvicorn on 127.0.0.1 (a free port unless ``port``)."""

    def __init__(self, cfg: Config, *, port: int = 0, read_only: bool = False,
                 allow_writes: bool = False) -> None:
        target = engine.resolve_target(cfg)
        reason = read_only_reason(target, read_only=read_only, allow_writes=allow_writes)
        self.target = target
        self.socket = _listen(port)
        self.studio = Studio(cfg, target.url, target.label, self.socket.getsockname()[1],
                             read_only=reason, embedded=target.embedded)
        try:  # fail now, with a clear message, if the database cannot be reached
            with self.studio.pool.connection() as conn:
                self.studio.catalog.model(conn)
        except BaseException:
            self.close()
            raise
        self.app = create_app(self.studio)
        config = uvicorn.Config(self.app, log_level="warning", access_log=False,
                                lifespan="off", server_header=False, ws="none")
        self._server = _Uvicorn(config)
        self._thread: threading.Thread | None = None

    def new_link(self) -> str:
        """A URL that opens the studio once, within a few minutes (see ``app``)."""
        return self.studio.new_link()

    @property
    def read_only(self) -> str | None:
        return self.studio.read_only

    def serve(self, on_ready: Callable[[], None] | None = None) -> None:
        """Serve until interrupted (Ctrl+C, SIGTERM); ``on_ready`` runs once it accepts
        requests."""
        if on_ready is not None:
            threading.Thread(target=self._when_ready, args=(on_ready,), daemon=True).start()
        try:
            # uvicorn stops gracefully, then raises the signal again for the caller.
            with contextlib.suppress(KeyboardInterrupt):
                self._server.serve_on(self.socket)
        finally:
            self.close()

    def _when_ready(self, then: Callable[[], None]) -> None:
        self._server.ready.wait()
        if self._server.started:
            then()

    def start(self) -> Server:
        """Serve from a background thread (tests, benchmarks); ``stop`` ends it."""
        self._thread = threading.Thread(target=self._server.serve_on, args=(self.socket,),
                                        daemon=True, name="trimtab-studio")
        self._thread.start()
        if not self._server.ready.wait(timeout=10) or not self._server.started:
            raise RuntimeError("the studio did not start")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.close()

    def close(self) -> None:
        self.studio.close()
        self.socket.close()

    def open_browser(self) -> None:
        # a link of its own: what the browser's command line shows is spent on arrival
        webbrowser.open(self.new_link())
