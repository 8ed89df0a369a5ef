"""Words for people, shared by every layer's messages (standard library only)."""

from __future__ import annotations

# English plurals trimtab's messages need that are not the word and an "s".
_IRREGULAR = {"index": "indexes", "entry": "entries", "dependency": "dependencies"}


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 change``, ``2 changes``, ``0 changes``; ``many`` for a plural the table lacks."""
    if n == 1:
        return f"{n} {word}"
    return f"{n} {many or _IRREGULAR.get(word) or word + 's'}"
