"""TypeScript source files: parsing with tree-sitter, positions, literals, imports.

tree-sitter reports byte offsets into the UTF-8 text; trimtab's ``Span`` speaks in code
points (1-based line/column, character offsets), so every module keeps what it needs to
convert, with a fast path for ASCII files (byte offset == character offset).
"""

from __future__ import annotations

import bisect
import functools
import posixpath
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import accumulate
from pathlib import Path

import tree_sitter_typescript as _tst
from tree_sitter import Language, Node, Parser, Tree

from trimtab.memo import ByteLRU, MiB
from trimtab.sources.sqlfile import Span

_TS = Language(_tst.language_typescript())
_TSX = Language(_tst.language_tsx())

_NEWLINE = re.compile(r"\r\n?|\n")
# How an import specifier may name a file: as written, then with these endings.
_ENDINGS = ("", ".ts", ".tsx", ".mts", ".cts", "/index.ts", "/index.tsx")


@functools.lru_cache(maxsize=8)
def _parser(tsx: bool) -> Parser:
    return Parser(_TSX if tsx else _TS)


@dataclass(eq=False)
class Module:
    """One parsed file. ``given`` is False for a file only read to resolve an import:
    drizzle-kit collects the exports of the configured schema files only."""

    name: str
    text: str
    data: bytes
    root: Node
    given: bool
    _byte_starts: list[int] | None = field(default=None, repr=False)
    _line_starts: tuple[int, ...] | None = field(default=None, repr=False)

    def char(self, byte: int) -> int:
        """The character offset of a byte offset."""
        if len(self.data) == len(self.text):
            return byte
        if self._byte_starts is None:
            self._byte_starts = [0, *accumulate(len(c.encode()) for c in self.text)]
        return bisect.bisect_left(self._byte_starts, byte)

    def span(self, start_byte: int, end_byte: int) -> Span:
        a, b = self.char(start_byte), self.char(end_byte)
        if self._line_starts is None:
            self._line_starts = (0, *(m.end() for m in _NEWLINE.finditer(self.text)))
        starts = self._line_starts
        la = bisect.bisect_right(starts, a) - 1
        last = max(a, b - 1)
        lb = bisect.bisect_right(starts, last) - 1
        return Span(self.name, la + 1, a - starts[la] + 1, lb + 1, last - starts[lb] + 1, a, b)

    def node_span(self, node: Node) -> Span:
        return self.span(node.start_byte, node.end_byte)

    def src(self, node: Node) -> str:
        return self.data[node.start_byte:node.end_byte].decode("utf-8", "replace")


def parse_module(name: str, text: str, given: bool) -> Module:
    data = text.encode("utf-8", "surrogatepass")
    return Module(name, text, data, _parse(name, data).root_node, given)


# The last tree of each file: an editor changes a few bytes at a time, and tree-sitter
# re-parses only around an edit it is told about. A tree takes about 40 bytes a byte of
# source (measured on bench.drizzle_schema's 1,000 tables: 41 MB for 1 MB).
_TREE_BYTES_PER_BYTE = 41
_TREES: ByteLRU[str, tuple[bytes, Tree]] = ByteLRU(
    "drizzle.trees", 96 * MiB,
    lambda name, v: sys.getsizeof(name) + (1 + _TREE_BYTES_PER_BYTE) * len(v[0]))
_TREES_LOCK = threading.Lock()


def _parse(name: str, data: bytes) -> Tree:
    parser = _parser(name.endswith((".tsx", ".jsx")))
    with _TREES_LOCK:
        last = _TREES.get(name)
        if last is not None and last[0] == data:
            return last[1]
        if last is None:
            tree = parser.parse(data)
        else:
            old_data, old_tree = last
            start, old_end, new_end = _changed(old_data, data)
            edited = old_tree.copy()  # readers of the old tree may still hold its nodes
            edited.edit(start_byte=start, old_end_byte=old_end, new_end_byte=new_end,
                        start_point=_point(old_data, start),
                        old_end_point=_point(old_data, old_end),
                        new_end_point=_point(data, new_end))
            tree = parser.parse(data, edited)
        _TREES[name] = (data, tree)
        return tree


def _changed(old: bytes, new: bytes) -> tuple[int, int, int]:
    """(start, old end, new end) of the one range that differs: common prefix and suffix
    found by halving, so the comparisons run in C."""
    n = min(len(old), len(new))
    lo, hi = 0, n
    while lo < hi:  # the longest common prefix
        mid = (lo + hi + 1) // 2
        if old[:mid] == new[:mid]:
            lo = mid
        else:
            hi = mid - 1
    start = lo
    lo, hi = 0, n - start
    while lo < hi:  # the longest common suffix that does not overlap the prefix
        mid = (lo + hi + 1) // 2
        if old[len(old) - mid:] == new[len(new) - mid:]:
            lo = mid
        else:
            hi = mid - 1
    return start, len(old) - lo, len(new) - lo


def _point(data: bytes, offset: int) -> tuple[int, int]:
    row = data.count(b"\n", 0, offset)
    return row, offset - (data.rfind(b"\n", 0, offset) + 1)


# --------------------------------------------------------------------------------------
# Literals

_ESCAPE = re.compile(
    r"\\(?:u\{([0-9A-Fa-f]+)\}|u([0-9A-Fa-f]{4})|x([0-9A-Fa-f]{2})|([0-7]{1,3})|"
    r"(\r\n|[\n\r\u2028\u2029])|(.))",
    re.S,
)
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


def cook(raw: str) -> str:
    """A JavaScript string body with its escapes applied (what the program sees)."""
    if "\\" not in raw:
        return raw

    def one(m: re.Match[str]) -> str:
        cp, u4, x2, octal, newline, ch = m.groups()
        if cp or u4 or x2:
            return chr(int(cp or u4 or x2, 16))
        if octal is not None:
            return "\0" if octal == "0" else chr(int(octal, 8))
        if newline is not None:
            return ""  # a line continuation
        return _SIMPLE.get(ch, ch)

    return _ESCAPE.sub(one, raw)


def string_value(mod: Module, node: Node) -> str:
    """The value of a ``string`` node."""
    return cook(mod.src(node)[1:-1])


_NUMBER = re.compile(r"[0-9_]*\.?[0-9_]*(?:[eE][+-]?[0-9_]+)?")


def number_value(text: str) -> float | int | None:
    """A numeric literal: a float for a JavaScript number, an int for a BigInt (``10n``).
    None when it is not a literal this reader knows."""
    t = text.replace("_", "")
    big = t.endswith("n")
    if big:
        t = t[:-1]
    try:
        if t[:2].lower() in ("0x", "0o", "0b"):
            v = int(t, 0)
        elif big:
            v = int(t)
        elif len(t) > 1 and t[0] == "0" and t.isdigit():  # legacy octal literal
            v = int(t, 8)
        else:
            return float(t) if _NUMBER.fullmatch(t) else None
    except ValueError:
        return None
    return v if big else float(v)


def js_number(value: float) -> str:
    """``String(value)`` in JavaScript: the shortest digits that round-trip (Python's repr
    finds the same ones), laid out by ECMAScript's Number::toString rules."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    k = len(digits)
    n = int(exponent) + k  # where the decimal point goes, counted from the first digit
    sign = "-" if value < 0 else ""
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    return (sign + digits[0] + ("." + digits[1:] if k > 1 else "")
            + f"e{'+' if e >= 0 else '-'}{abs(e)}")


# --------------------------------------------------------------------------------------
# Files and imports

def _norm(name: str) -> str:
    return posixpath.normpath(name.replace("\\", "/"))


@dataclass
class Program:
    """All the modules: the given ones, and those loaded to resolve relative imports."""

    modules: dict[str, Module]
    # Reads a file that was not given (for imports); None when only given texts count.
    read: Callable[[str], str | None] | None = None
    _by_norm: dict[str, Module] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_norm = {_norm(n): m for n, m in self.modules.items()}

    def resolve(self, importer: Module, spec: str) -> Module | None:
        """The module a relative import names, or None (a package, or not found)."""
        if not spec.startswith("."):
            return None
        base = posixpath.join(posixpath.dirname(importer.name.replace("\\", "/")), spec)
        stems = [base]
        if base.endswith((".js", ".jsx", ".mjs", ".cjs")):
            stems.append(base.rsplit(".", 1)[0])
        for stem in stems:
            for ending in _ENDINGS:
                key = _norm(stem + ending)
                mod = self._by_norm.get(key)
                if mod is not None:
                    return mod
                if self.read is not None and ending:
                    text = self.read(key)
                    if text is not None:
                        mod = parse_module(key, text, given=False)
                        self.modules[key] = mod
                        self._by_norm[key] = mod
                        return mod
        return None


def read_disk(name: str) -> str | None:
    p = Path(name)
    try:
        return p.read_text(encoding="utf-8") if p.is_file() else None
    except (OSError, UnicodeDecodeError):
        return None
