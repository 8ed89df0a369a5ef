"""TypeScript source files: parsing with tree-sitter, positions, literals, imports.

tree-sitter reports byte offsets into the UTF-8 text; trimtab's ``Span`` speaks in code
points (1-based line/column, character offsets), so every module keeps what it needs to
convert, with a fast path for ASCII files (byte offset == character offset).
"""

from __future__ import annotations

import bisect
import functools
import glob as globmod
import json
import posixpath
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import accumulate
from operator import add
from pathlib import Path

import tree_sitter_typescript as _tst
from tree_sitter import Language, Node, Parser, Tree

from trimtab.memo import ByteLRU, MiB
from trimtab.sources.sqlfile import Span

TS = Language(_tst.language_typescript())
TSX = Language(_tst.language_tsx())

_NEWLINE = re.compile(r"\r\n?|\n")
# How an import specifier may name a file: as written, then with these endings.
_ENDINGS = ("", ".ts", ".tsx", ".mts", ".cts", "/index.ts", "/index.tsx")
_TS_FILES = (".ts", ".tsx", ".mts", ".cts")


@functools.lru_cache(maxsize=8)
def _parser(tsx: bool) -> Parser:
    return Parser(TSX if tsx else TS)


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
            self._line_starts = _line_starts(self.text)
        starts = self._line_starts
        la = bisect.bisect_right(starts, a) - 1
        last = max(a, b - 1)
        lb = bisect.bisect_right(starts, last) - 1
        return Span(self.name, la + 1, a - starts[la] + 1, lb + 1, last - starts[lb] + 1, a, b)

    def node_span(self, node: Node) -> Span:
        return self.span(node.start_byte, node.end_byte)

    def src(self, node: Node) -> str:
        return self.data[node.start_byte:node.end_byte].decode("utf-8", "replace")


def _line_starts(text: str) -> tuple[int, ...]:
    """The offset of each line; without a carriage return, counted at C speed (the
    editor's fast path works them out for the whole file on every keystroke)."""
    if "\r" in text:
        return (0, *(m.end() for m in _NEWLINE.finditer(text)))
    lines = text.split("\n")
    lines.pop()
    return (0, *map(add, accumulate(map(len, lines)), range(1, len(lines) + 1)))


def parse_module(name: str, text: str, given: bool,
                 edit: tuple[bytes, bytes, tuple[int, int, int]] | None = None) -> Module:
    """``edit``: (the last text's bytes, this text's, changed_range of the two), when the
    caller knows them already (the splice does)."""
    data = edit[1] if edit is not None else text.encode("utf-8", "surrogatepass")
    return Module(name, text, data, _parse(name, data, edit).root_node, given)


# The last tree of each file: an editor changes a few bytes at a time, and tree-sitter
# re-parses only around an edit it is told about. A tree takes about 40 bytes a byte of
# source (measured on bench.drizzle_schema's 1,000 tables: 41 MB for 1 MB).
_TREE_BYTES_PER_BYTE = 41
_TREES: ByteLRU[str, tuple[bytes, Tree]] = ByteLRU(
    "drizzle.trees", 96 * MiB,
    lambda name, v: sys.getsizeof(name) + (1 + _TREE_BYTES_PER_BYTE) * len(v[0]))
_TREES_LOCK = threading.Lock()


@contextmanager
def tree_forgotten(name: str) -> Iterator[None]:
    """Inside, ``name`` has no parse tree kept (a parse starts cold); afterwards the kept
    one is back."""
    with _TREES_LOCK:
        tree = _TREES.pop(name, None)
    try:
        yield
    finally:
        if tree is not None:
            with _TREES_LOCK:
                _TREES[name] = tree


def _parse(name: str, data: bytes,
           edit: tuple[bytes, bytes, tuple[int, int, int]] | None = None) -> Tree:
    parser = _parser(name.endswith((".tsx", ".jsx")))
    with _TREES_LOCK:
        last = _TREES.get(name)
        if last is not None and last[0] == data:
            return last[1]
        if last is None:
            tree = parser.parse(data)
        else:
            old_data, old_tree = last
            if edit is not None and edit[0] == old_data:
                start, old_end, new_end = edit[2]
            else:
                start, old_end, new_end = changed_range(old_data, data)
            edited = old_tree.copy()  # readers of the old tree may still hold its nodes
            edited.edit(start_byte=start, old_end_byte=old_end, new_end_byte=new_end,
                        start_point=_point(old_data, start),
                        old_end_point=_point(old_data, old_end),
                        new_end_point=_point(data, new_end))
            tree = parser.parse(data, edited)
            if tree.root_node.has_error:
                # tree-sitter recovers from errors differently around an edit than in a
                # fresh parse: the syntax errors shown are those of a cold read
                tree = parser.parse(data)
        _TREES[name] = (data, tree)
        return tree


def changed_range(old: bytes, new: bytes) -> tuple[int, int, int]:
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
    """All the modules: the given ones, and those loaded to resolve imports.

    With a ``read`` (files on disk), imports resolve as TypeScript resolves them: relative
    files, ``tsconfig.json`` ``paths``/``baseUrl`` (with ``extends``), and packages of the
    same repository (``node_modules`` links, ``package.json`` ``workspaces``,
    ``pnpm-workspace.yaml``). Without one, only relative imports among the given texts."""

    modules: dict[str, Module]
    # Reads a file that was not given (for imports); None when only given texts count.
    read: Callable[[str], str | None] | None = None
    _by_norm: dict[str, Module] = field(default_factory=dict)
    _fs: _Disk | None = None

    def __post_init__(self) -> None:
        self._by_norm = {_norm(n): m for n, m in self.modules.items()}
        if self.read is not None:
            self._fs = _Disk(self.read)

    def resolve(self, importer: Module, spec: str) -> Module | None:
        """The module an import names, or None (an npm package, or not found)."""
        folder = posixpath.dirname(importer.name.replace("\\", "/"))
        if spec.startswith("."):
            return self._first([posixpath.join(folder, spec)])
        if self._fs is None:
            return None
        return self._first(self._fs.candidates(folder, spec))

    def external(self, importer: Module, spec: str) -> bool:
        """Whether ``spec`` is an npm package installed from a registry (a real folder in
        ``node_modules``, not a link into this repository): not schema source."""
        if self._fs is None or spec.startswith((".", "/")):
            return False
        folder = posixpath.dirname(importer.name.replace("\\", "/"))
        return self._fs.installed(folder, spec)

    def _first(self, bases: list[str]) -> Module | None:
        for base in bases:
            stems = [base]
            if base.endswith((".js", ".jsx", ".mjs", ".cjs")):
                stems.append(base.rsplit(".", 1)[0])
            for stem in stems:
                for ending in _ENDINGS:
                    mod = self._load(_norm(stem + ending), bool(ending))
                    if mod is not None:
                        return mod
        return None

    def _load(self, key: str, may_read: bool) -> Module | None:
        mod = self._by_norm.get(key)
        if mod is not None or self.read is None:
            return mod
        # A name as written is read only when it is TypeScript (not a folder, not the
        # compiled .js); a declaration file has no values to read.
        if not may_read and not key.endswith(_TS_FILES) or key.endswith(".d.ts"):
            return None
        text = self.read(key)
        if text is None:
            return None
        mod = parse_module(key, text, given=False)
        self.modules[key] = mod
        self._by_norm[key] = mod
        return mod


def parse_jsonc(text: str) -> object:
    """JSON with comments and trailing commas (tsconfig.json); None when unreadable."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            out.append(c)
            i += 1
    cleaned = re.sub(r",(\s*[}\]])", r"\1", "".join(out))
    try:
        return json.loads(cleaned)
    except ValueError:
        return None


@dataclass(frozen=True)
class _Paths:
    """The module resolution options of one tsconfig.json (after ``extends``)."""

    base_url: str | None  # absolute
    paths: tuple[tuple[str, tuple[str, ...]], ...]  # pattern -> absolute substitutions


class _Disk:
    """Where non-relative imports lead on disk (the parts of TypeScript's and Node's
    resolution a schema meets)."""

    def __init__(self, read: Callable[[str], str | None]) -> None:
        self.read = read
        self._tsconfig: dict[str, _Paths | None] = {}
        self._workspaces: dict[str, dict[str, str]] = {}

    def _json(self, path: str) -> object:
        text = self.read(path)
        return None if text is None else parse_jsonc(text)

    # -- tsconfig.json --------------------------------------------------------------

    def paths_for(self, folder: str) -> _Paths | None:
        """The tsconfig.json nearest above ``folder`` (TypeScript's project of a file)."""
        if folder in self._tsconfig:
            return self._tsconfig[folder]
        here = posixpath.join(folder, "tsconfig.json")
        if Path(here).is_file():
            found = self._load_tsconfig(here, frozenset())
        else:
            parent = posixpath.dirname(folder)
            found = None if parent == folder else self.paths_for(parent)
        self._tsconfig[folder] = found
        return found

    def _load_tsconfig(self, path: str, seen: frozenset[str]) -> _Paths | None:
        doc = self._json(path) if path not in seen else None
        if not isinstance(doc, dict):
            return None
        base = _Paths(None, ())
        extends = doc.get("extends")
        for parent in ([extends] if isinstance(extends, str) else
                       extends if isinstance(extends, list) else []):
            if not isinstance(parent, str):
                continue
            target = self._extended(posixpath.dirname(path), parent)
            got = self._load_tsconfig(target, seen | {path}) if target else None
            if got is not None:  # later entries override earlier ones, as in tsc
                base = _Paths(got.base_url or base.base_url, got.paths or base.paths)
        options = doc.get("compilerOptions")
        if not isinstance(options, dict):
            return base
        here = posixpath.dirname(path)
        base_url = base.base_url
        if isinstance(options.get("baseUrl"), str):
            base_url = _norm(posixpath.join(here, options["baseUrl"]))
        paths = base.paths
        if isinstance(options.get("paths"), dict):
            # substitutions are relative to baseUrl, or to this file without one
            root = base_url or here
            paths = tuple(
                (k, tuple(_norm(posixpath.join(root, s)) for s in v if isinstance(s, str)))
                for k, v in options["paths"].items() if isinstance(v, list))
        return _Paths(base_url, paths)

    def _extended(self, folder: str, spec: str) -> str | None:
        if spec.startswith((".", "/")):
            full = _norm(posixpath.join(folder, spec))
            for p in (full, full + ".json", posixpath.join(full, "tsconfig.json")):
                if Path(p).is_file():
                    return p
            return None
        pkg = self._node_module(folder, spec)
        if pkg is None:
            return None
        d, sub = pkg
        for p in ([posixpath.join(d, sub), posixpath.join(d, sub) + ".json"] if sub
                  else [posixpath.join(d, "tsconfig.json")]):
            if Path(p).is_file():
                return p
        return None

    # -- packages -------------------------------------------------------------------

    @staticmethod
    def _split(spec: str) -> tuple[str, str]:
        parts = spec.split("/")
        n = 2 if spec.startswith("@") else 1
        return "/".join(parts[:n]), "/".join(parts[n:])

    def _node_module(self, folder: str, spec: str) -> tuple[str, str] | None:
        """(the package's folder in the nearest node_modules, subpath), as Node looks."""
        name, sub = self._split(spec)
        d = folder
        while True:
            candidate = posixpath.join(d, "node_modules", name)
            if Path(candidate).is_dir():
                return candidate, sub
            parent = posixpath.dirname(d)
            if parent == d:
                return None
            d = parent

    def installed(self, folder: str, spec: str) -> bool:
        found = self._node_module(folder, spec)
        return found is not None and not Path(found[0]).is_symlink() and \
            "node_modules" in Path(found[0]).resolve().parts

    def _workspace(self, folder: str, name: str) -> str | None:
        """The folder of the workspace package ``name`` of the repository above ``folder``
        (npm/yarn ``workspaces``, pnpm-workspace.yaml): for clones not installed yet."""
        d = folder
        while True:
            if d not in self._workspaces:
                self._workspaces[d] = self._workspace_packages(d)
            if name in self._workspaces[d]:
                return self._workspaces[d][name]
            parent = posixpath.dirname(d)
            if parent == d:
                return None
            d = parent

    def _workspace_packages(self, root: str) -> dict[str, str]:
        patterns: list[str] = []
        doc = self._json(posixpath.join(root, "package.json"))
        if isinstance(doc, dict):
            ws = doc.get("workspaces")
            if isinstance(ws, dict):
                ws = ws.get("packages")
            if isinstance(ws, list):
                patterns += [p for p in ws if isinstance(p, str)]
        pnpm = self.read(posixpath.join(root, "pnpm-workspace.yaml"))
        if pnpm is not None:
            patterns += re.findall(r"^\s*-\s*['\"]?([^'\"\s#]+)", pnpm, re.M)
        found: dict[str, str] = {}
        for pattern in patterns:
            if pattern.startswith("!"):
                continue
            for d in sorted(globmod.glob(posixpath.join(root, pattern))):
                pkg = self._json(posixpath.join(d, "package.json"))
                if isinstance(pkg, dict) and isinstance(pkg.get("name"), str):
                    found.setdefault(pkg["name"], _norm(d))
        return found

    def _entries(self, d: str, sub: str) -> list[str]:
        """The files a package's subpath may be (``exports``, ``types``, ``main``...)."""
        pkg = self._json(posixpath.join(d, "package.json"))
        pkg = pkg if isinstance(pkg, dict) else {}
        key = "./" + sub if sub else "."
        exports = pkg.get("exports")
        if isinstance(exports, str | list) or isinstance(exports, dict) and not any(
                k.startswith(".") for k in exports):
            exports = {".": exports}
        out: list[str] = []
        if isinstance(exports, dict):
            target, star = exports.get(key), None
            if target is None:
                for k, v in exports.items():
                    head, sep, tail = k.partition("*")
                    if sep and key.startswith(head) and key.endswith(tail) and \
                            len(key) >= len(head) + len(tail):
                        target, star = v, key[len(head):len(key) - len(tail)]
                        break
            for t in _targets(target):
                t = t.replace("*", star) if star is not None else t
                out.append(_norm(posixpath.join(d, t)))
            return _source_first(out)
        if sub:
            return [posixpath.join(d, sub)]
        for field_ in ("types", "typings", "module", "main"):
            if isinstance(pkg.get(field_), str):
                out.append(_norm(posixpath.join(d, pkg[field_])))
        return _source_first(out) + [posixpath.join(d, "index")]

    def candidates(self, folder: str, spec: str) -> list[str]:
        """The files (without an ending) a non-relative import may be, in TypeScript's
        order: ``paths``, ``baseUrl``, then packages."""
        out: list[str] = []
        opts = self.paths_for(folder)
        if opts is not None:
            best: tuple[int, tuple[str, ...], str] | None = None
            for pattern, subs in opts.paths:
                head, sep, tail = pattern.partition("*")
                if not sep:
                    if spec == pattern:
                        best = (len(pattern) + 1, subs, "")
                        break
                elif spec.startswith(head) and spec.endswith(tail) and \
                        len(spec) >= len(head) + len(tail) and \
                        (best is None or len(head) > best[0]):
                    best = (len(head), subs, spec[len(head):len(spec) - len(tail)])
            if best is not None:
                out += [s.replace("*", best[2]) for s in best[1]]
            if opts.base_url is not None:
                out.append(_norm(posixpath.join(opts.base_url, spec)))
        name, sub = self._split(spec)
        pkg = self._node_module(folder, spec)
        d = pkg[0] if pkg is not None else self._workspace(folder, name)
        if d is not None:
            out += self._entries(d, sub)
        return out


def _targets(value: object) -> list[str]:
    """The paths of an ``exports`` entry, conditions in their written order."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [t for v in value for t in _targets(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _targets(v)]
    return []


def _source_first(paths: list[str]) -> list[str]:
    """TypeScript source rather than compiled output: a ``.d.ts`` declares no values, and a
    ``.js`` next to its ``.ts`` is what the ``.ts`` compiles to."""
    out = []
    for p in paths:
        if p.endswith(".d.ts"):
            out.append(p[:-5])
        elif p.endswith((".js", ".mjs", ".cjs")):
            out.append(p.rsplit(".", 1)[0])
        out.append(p)
    return list(dict.fromkeys(out))


def read_disk(name: str) -> str | None:
    p = Path(name)
    try:
        return p.read_text(encoding="utf-8") if p.is_file() else None
    except (OSError, UnicodeDecodeError):
        return None
