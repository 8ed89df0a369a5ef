"""Caches bounded by bytes, not by entries.

The editor's fast path caches per statement text, so that a keystroke re-reads only the
statement it changed. Every keystroke makes a new text, and what is kept for it grows with
its length (the read columns and constraints of a 20 KB ``CREATE TABLE`` take about ten
times its text): a cache bounded by its number of entries held gigabytes after a few
thousand keystrokes into one large statement. These caches count an estimate of what each
entry keeps (each cache says how, from the sizes at hand, without walking the value) and
drop the least recently used entries past their budget. ``retained()`` sums them all, for
tests and benchmarks.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, MutableMapping
from typing import Any, Generic, NamedTuple, TypeVar, cast

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
F = TypeVar("F", bound=Callable[..., Any])

MiB = 2**20
MISSING = object()


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    entries: int
    bytes: int
    budget: int


class ByteLRU(MutableMapping[K, V], Generic[K, V]):
    """A mapping that keeps at most ``budget`` bytes (as ``size(key, value)`` estimates
    them), dropping the least recently used entries first. An entry larger than the whole
    budget is not kept. ``floor`` raises the budget for a working set known to be larger
    (least-recently-used order drops everything when a cycle of uses does not fit). Safe
    to share between threads (the language server reads on its event loop and in worker
    threads)."""

    def __init__(self, name: str, budget: int, size: Callable[[K, V], int]) -> None:
        self.name = name
        self.budget = budget
        self.floor = 0
        self._size = size
        self._data: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0
        _ALL.add(self)

    # A cache is one object, not a value: compared and hashed by identity (Mapping would
    # compare contents and leave it unhashable).
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    @property
    def bytes(self) -> int:
        return self._bytes

    def lookup(self, key: K) -> V | object:
        """The value (now the most recently used), or ``MISSING``; counts hits and misses."""
        with self._lock:
            hit = self._data.get(key)
            if hit is None:
                self.misses += 1
                return MISSING
            self._data.move_to_end(key)
            self.hits += 1
            return hit[0]

    def __getitem__(self, key: K) -> V:
        with self._lock:
            value, _ = self._data[key]
            self._data.move_to_end(key)
            return value

    def __setitem__(self, key: K, value: V) -> None:
        n = self._size(key, value)
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            limit = max(self.budget, self.floor)
            if n > limit:
                return
            self._data[key] = (value, n)
            self._bytes += n
            while self._bytes > limit:
                _, (_, dropped) = self._data.popitem(last=False)
                self._bytes -= dropped

    def __delitem__(self, key: K) -> None:
        with self._lock:
            _, n = self._data.pop(key)
            self._bytes -= n

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0

    def info(self) -> CacheInfo:
        return CacheInfo(self.hits, self.misses, len(self._data), self._bytes,
                         max(self.budget, self.floor))


# Every cache, for retained(); weakly, so that a project's caches go with it.
_ALL: weakref.WeakSet[ByteLRU[Any, Any]] = weakref.WeakSet()


def retained() -> dict[str, int]:
    """Bytes each cache holds by its own estimate (caches of the same name summed)."""
    out: dict[str, int] = {}
    for c in list(_ALL):
        out[c.name] = out.get(c.name, 0) + c.bytes
    return out


def memoize(budget: int, size: Callable[[tuple[Any, ...], Any], int]) -> Callable[[F], F]:
    """``functools.lru_cache`` for pure functions of hashable positional arguments, bounded
    by bytes: ``size(args, result)`` estimates what one entry keeps. The wrapper has
    ``cache`` (its ByteLRU), ``cache_clear()`` and ``cache_info()``."""

    def wrap(fn: F) -> F:
        cache: ByteLRU[tuple[Any, ...], Any] = ByteLRU(
            f"{fn.__module__}.{fn.__qualname__}", budget, size)

        @functools.wraps(fn)
        def cached(*args: Any) -> Any:
            value = cache.lookup(args)
            if value is MISSING:
                value = fn(*args)
                cache[args] = value
            return value

        _CACHE_OF[cached] = cache
        cached.cache = cache  # type: ignore[attr-defined]
        cached.cache_clear = cache.clear  # type: ignore[attr-defined]
        cached.cache_info = cache.info  # type: ignore[attr-defined]
        return cast(F, cached)

    return wrap


_CACHE_OF: dict[Callable[..., Any], ByteLRU[Any, Any]] = {}


def cache_of(fn: Callable[..., Any]) -> ByteLRU[Any, Any]:
    """The cache of a ``memoize``d function."""
    return _CACHE_OF[fn]
