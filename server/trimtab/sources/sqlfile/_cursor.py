"""A cursor over one statement's tokens."""

from __future__ import annotations

from trimtab.sqltext import Tok

# --------------------------------------------------------------------------------------
# A cursor over tokens


class Cursor:
    """Reading helpers over one statement's tokens."""

    def __init__(self, text: str, toks: tuple[Tok, ...]):
        self.text = text
        self.t = toks
        self.n = len(toks)
        self.i = 0

    # -- looking
    def word(self, k: int = 0) -> str | None:
        j = self.i + k
        if j < self.n and self.t[j][0] == "W":
            return self.t[j][1]
        return None

    def op(self, k: int = 0) -> str | None:
        j = self.i + k
        if j < self.n and self.t[j][0] == "O":
            return self.t[j][1]
        return None

    def word_at(self, j: int) -> str | None:
        return self.t[j][1] if j < self.n and self.t[j][0] == "W" else None

    def op_at(self, j: int) -> str | None:
        return self.t[j][1] if j < self.n and self.t[j][0] == "O" else None

    def at_end(self, end: int | None = None) -> bool:
        return self.i >= (self.n if end is None else end)

    # -- consuming
    def accept(self, *words: str) -> bool:
        """Consume the words in sequence if they are all there."""
        for k, w in enumerate(words):
            if self.word(k) != w:
                return False
        self.i += len(words)
        return True

    def accept_any(self, *words: str) -> str | None:
        w = self.word()
        if w is not None and w in words:
            self.i += 1
            return w
        return None

    def accept_op(self, op: str) -> bool:
        if self.op() == op:
            self.i += 1
            return True
        return False

    def ident(self) -> str | None:
        """An identifier (word or quoted); None (nothing consumed) if there is none."""
        if self.i < self.n and self.t[self.i][0] in ("W", "Q"):
            self.i += 1
            return self.t[self.i - 1][1]
        return None

    def qualified(self) -> list[str] | None:
        """A dotted name, as its parts."""
        first = self.ident()
        if first is None:
            return None
        parts = [first]
        while self.op() == "." and self.i + 1 < self.n and self.t[self.i + 1][0] in ("W", "Q"):
            self.i += 1
            parts.append(self.ident() or "")
        return parts

    def qname(self) -> tuple[str, str] | None:
        parts = self.qualified()
        if parts is None:
            return None
        return split_qname(parts)

    def group(self) -> tuple[int, int] | None:
        """At a '(' or '[': consume up to its match; the token range strictly inside."""
        o = self.op()
        if o not in ("(", "["):
            return None
        close = self.matching(self.i)
        a = self.i + 1
        self.i = min(close + 1, self.n)
        return a, close

    def matching(self, i: int) -> int:
        """Index of the token closing the bracket at ``i`` (or n if it is never closed)."""
        depth = 0
        t = self.t
        for j in range(i, self.n):
            if t[j][0] == "O":
                v = t[j][1]
                if v in ("(", "["):
                    depth += 1
                elif v in (")", "]"):
                    depth -= 1
                    if depth == 0:
                        return j
        return self.n

    def skip_to(self, end: int, stop_words: frozenset[str] = frozenset(),
                stop_ops: frozenset[str] = frozenset()) -> int:
        """Advance over tokens at bracket depth 0 until a stop word/op or ``end``."""
        t = self.t
        while self.i < end:
            kind, v = t[self.i][0], t[self.i][1]
            if kind == "W" and v in stop_words:
                break
            if kind == "O":
                if v in stop_ops:
                    break
                if v in ("(", "["):
                    self.i = min(self.matching(self.i) + 1, end)
                    continue
            self.i += 1
        return self.i

    def split(self, a: int, b: int, sep: str = ",") -> list[tuple[int, int]]:
        """Token ranges of [a, b) split at depth-0 separators."""
        out = []
        depth = 0
        start = a
        t = self.t
        for j in range(a, b):
            if t[j][0] != "O":
                continue
            v = t[j][1]
            if v in ("(", "["):
                depth += 1
            elif v in (")", "]"):
                depth -= 1
            elif v == sep and depth == 0:
                out.append((start, j))
                start = j + 1
        out.append((start, b))
        return [(x, y) for x, y in out if y > x]

    # -- source text
    def src(self, a: int, b: int) -> str:
        """Source text of tokens [a, b), blanks and comments between them collapsed to one
        space."""
        b = min(b, self.n)
        if b <= a:
            return ""
        t = self.t
        text = self.text
        parts = [text[t[a][2]:t[a][3]]]
        for j in range(a + 1, b):
            if t[j][2] > t[j - 1][3]:
                parts.append(" ")
            parts.append(text[t[j][2]:t[j][3]])
        out = "".join(parts)
        # the whole statement as written (an index's definition, as a rule): its text, not
        # a copy of it
        return text if len(out) == len(text) and out == text else out

    def raw(self, a: int, b: int) -> str:
        """Exact source text of tokens [a, b)."""
        b = min(b, self.n)
        if b <= a:
            return ""
        return self.text[self.t[a][2]:self.t[b - 1][3]]

    def start(self, j: int) -> int:
        return self.t[j][2] if j < self.n else len(self.text)

    def end(self, j: int) -> int:
        """End offset of token j-1 (the end of a range [.., j))."""
        return self.t[j - 1][3] if j > 0 else 0


def split_qname(parts: list[str]) -> tuple[str, str]:
    if len(parts) == 1:
        return ("public", parts[0])
    return (parts[-2], parts[-1])
