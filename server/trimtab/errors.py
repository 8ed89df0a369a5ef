"""Typed errors. The engine raises them; the CLI and the language server decide how to show them."""

from __future__ import annotations

from typing import Any


class TrimtabError(Exception):
    """An error that tells the user where, what, and what to do about it."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        obj: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.obj = obj
        self.hint = hint

    def __str__(self) -> str:
        location = ""
        if self.file:
            parts = [self.file]
            if self.line is not None:  # a column means nothing without its line
                parts.append(str(self.line))
                if self.column is not None:
                    parts.append(str(self.column))
            location = ":".join(parts) + ": "
        text = self.message.rstrip()
        if self.obj:
            text = f"{text.rstrip('.')} (object {self.obj})"
        multiline = "\n" in text
        if not multiline and not text.endswith((".", "?", "!")):
            text += "."
        if self.hint:
            text += ("\n" if multiline else " ") + self.hint.strip()
        return location + text

    def as_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready data, for --json output and the language server."""
        return {
            "type": type(self).__name__,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "object": self.obj,
            "hint": self.hint,
        }

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only fields would be lost by Exception's default pickling (worker processes).
        return (type(self), (self.message,), self.__dict__)


class ConfigError(TrimtabError):
    """A configuration file, flag or environment variable is wrong."""


class DatabaseError(TrimtabError):
    """A database cannot be reached or started."""


class ShadowUnavailable(DatabaseError):
    """The server refuses to create the scratch database (no CREATEDB)."""


class SchemaError(TrimtabError):
    """A schema file is invalid or PostgreSQL rejected one of its statements."""


class FileWriteError(TrimtabError):
    """A file could not be written (disk full, no permission); nothing was changed."""


class PlanError(TrimtabError):
    """No valid plan can be made between the two schemas."""


class UnmanagedDependency(PlanError):
    """The plan drops something that an object in a schema trimtab does not manage depends
    on (a foreign key onto a dropped table): PostgreSQL would refuse it, and trimtab must
    not touch that schema. ``dependents`` lists each one."""

    def __init__(self, message: str, *, dependents: list[dict[str, Any]] | None = None,
                 **kw: Any) -> None:
        super().__init__(message, **kw)
        self.dependents = dependents or []

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "dependents": self.dependents}


class ConsentRequired(TrimtabError):
    """The plan loses data and nobody agreed to that."""


class RenameRequired(ConsentRequired):
    """An object went away and a compatible one appeared: a rename, or a drop and a
    create? Only the user knows, and the answer belongs in the schema file."""

    def __init__(self, message: str, *, candidates: list[Any] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.candidates = candidates or []

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "candidates": self.candidates}


class ConsentOutdated(ConsentRequired):
    """Between the count a consent was given for and the apply, other sessions wrote: the
    plan would now lose more than was agreed to. Nothing was applied. ``changed`` lists
    each change with the count consented to and the count now."""

    def __init__(self, message: str, *, changed: list[dict[str, Any]] | None = None,
                 **kw: Any) -> None:
        super().__init__(message, **kw)
        self.changed = changed or []

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "changed": self.changed}


class WouldFail(TrimtabError):
    """The database holds rows the plan cannot apply to: refused, even with --force."""

    def __init__(self, message: str, *, hazards: list[dict[str, Any]] | None = None,
                 **kw: Any) -> None:
        super().__init__(message, **kw)
        self.hazards = hazards or []

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "hazards": self.hazards}


class Cancelled(Exception):
    """Work its caller cancelled (a language server that exits, an analysis overtaken by a
    newer one). Not a TrimtabError: nobody is waiting to be shown it."""
