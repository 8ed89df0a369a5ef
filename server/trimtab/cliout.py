"""How much the command line says, and how: -q/-v, plurals, live displays only on a terminal.

The engine never prints; these helpers are the CLI's alone (and ``plural`` is shared with the
engine's messages through ``trimtab.words``)."""

from __future__ import annotations

import os
from typing import Any

from rich.console import Console

from trimtab.words import plural

__all__ = ["QUIET", "NORMAL", "VERBOSE", "Gated", "level", "live", "plural", "set_level"]

QUIET, NORMAL, VERBOSE = -1, 0, 1
_level = NORMAL


def set_level(value: int) -> None:
    global _level
    _level = value


def level() -> int:
    return _level


class Gated:
    """A console that prints only at ``at`` verbosity or more: ``Gated(out, NORMAL)`` is
    silent under -q, ``Gated(err, VERBOSE)`` speaks only under -v."""

    def __init__(self, console: Console, at: int) -> None:
        self.console = console
        self.at = at

    def print(self, *objects: Any, **kwargs: Any) -> None:
        if _level >= self.at:
            self.console.print(*objects, **kwargs)


def live(console: Console) -> bool:
    """Whether a live display (a progress bar: cursor movement, lines redrawn) may go to
    ``console``. Only a real, capable terminal: FORCE_COLOR or TTY_COMPATIBLE, which CI
    runners set for colours, make rich treat a log file as a terminal, and a redrawn bar
    in a log is noise ("0/None", cursor codes). Never under -q."""
    if _level < NORMAL:
        return False
    isatty = getattr(console.file, "isatty", None)
    try:
        tty = bool(isatty and isatty())
    except ValueError:  # closed
        return False
    return tty and os.environ.get("TERM", "") not in ("dumb", "unknown")
