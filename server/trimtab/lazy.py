"""Modules loaded on first use, for the command line.

``trimtab --help`` (and a mistyped command) needs the argument parser alone; the engine,
psycopg and the migrations code take most of a command's start-up
(tests/test_startup.py, docs/benchmarks.md).
"""

from __future__ import annotations

import importlib
from typing import Any


class Lazy:
    """Stands for the module ``name`` and imports it on first use (a plain import: every
    other importer shares the real module, and the import lock makes threads safe)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name}>"
