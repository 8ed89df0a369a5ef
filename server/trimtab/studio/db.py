"""The studio's connections: a few kept open between requests, each set up the same way.

A read-only studio opens every session with ``default_transaction_read_only = on``, so
even a bug in the studio cannot write. No server-side prepared statements (poolers).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.pq import TransactionStatus

from trimtab.sources import shadow

APPLICATION_NAME = "trimtab studio"
STATEMENT_TIMEOUT = "30s"  # no request keeps a backend busy for longer


class Pool:
    """At most ``size`` connections; a request waits for a free one."""

    def __init__(self, url: str, *, read_only: bool, size: int = 4) -> None:
        self.url = url
        self.read_only = read_only
        self._idle: list[psycopg.Connection] = []
        self._free = threading.Semaphore(size)
        self._lock = threading.Lock()
        self._closed = False

    def _open(self) -> psycopg.Connection:
        conn = shadow.connect(self.url, autocommit=True)
        conn.execute("SELECT set_config('application_name', %s, false), "
                     "set_config('statement_timeout', %s, false), "
                     "set_config('DateStyle', 'ISO, YMD', false), "
                     "set_config('IntervalStyle', 'postgres', false), "
                     "set_config('default_transaction_read_only', %s, false)",
                     (APPLICATION_NAME, STATEMENT_TIMEOUT, "on" if self.read_only else "off"))
        return conn

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A connection in autocommit mode: one statement is one transaction, and
        ``conn.transaction()`` groups several."""
        self._free.acquire()
        conn: psycopg.Connection | None = None
        try:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None or conn.closed:
                conn = self._open()
            yield conn
        except BaseException:
            if conn is not None and (conn.broken or
                                     conn.info.transaction_status != TransactionStatus.IDLE):
                conn.close()
            raise
        finally:
            if conn is not None and not conn.closed:
                if conn.info.transaction_status == TransactionStatus.IDLE and not self._closed:
                    with self._lock:
                        self._idle.append(conn)
                else:
                    conn.close()
            self._free.release()

    def close(self) -> None:
        self._closed = True
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
